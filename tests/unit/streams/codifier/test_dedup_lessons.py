"""Dedup against the library is lesson-true and does not depend on batching.

The sessions are the simulated fleet's lessons, written event for event as the demo's
agents emit them (a failed call, a rejected edit for coding agents, the user's correction
in the next turn, the working call). The codifier sees them in codify batches whose
boundaries depend on timing; whatever the batches, every lesson must end as exactly one
skill, named the same way, whose text teaches that lesson alone.
"""

from __future__ import annotations

import json
import random

import pytest

from hivemind_kafka.producers.sdk.simulated_fleet import LESSONS, lessons_of_skill
from hivemind_kafka.schemas.events import AgentKind, EventKind
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import Published, Unchanged, group_candidates, resolve
from hivemind_kafka.streams.codifier.offline import draft_offline
from tests.unit.streams.codifier.builders import T0, candidate, prompt, response, session, tool

EDIT = {"file_path": "src/app.py", "old_string": "a", "new_string": "b"}
WS = {AgentKind.CODING: "acme", AgentKind.SUPPORT: "globex", AgentKind.SDR: "initech"}


def _tool(name: str, raw_input: str, output: str, *, error: bool = False) -> list[dict]:
    return tool(name, json.loads(raw_input), output, error=error)


LABELS = {AgentKind.CODING: ("tests_passed", "tests_failed", "committed"),
          AgentKind.SUPPORT: ("resolved", "escalated", "resolved"),
          AgentKind.SDR: ("replied", "no_reply", "meeting_booked")}


def corrected_session(kind: AgentKind, index: int, *, sid: str, outcome: int = 3):
    """One corrected session of lesson ``index``, as simulate_weeks writes it; ``outcome``
    0: the success label arrives with it, 1: the failure label, 2: another label (a
    booked meeting), 3: none (late or never)."""
    lesson = LESSONS[kind][index]
    steps: list = [prompt(lesson.ask), _tool(lesson.tool, lesson.failing_input, lesson.failure,
                                              error=True)]
    if kind is AgentKind.CODING:  # the rejected edit: a permission request, no result
        steps.append({"kind": EventKind.TOOL_CALL, "tool_name": "Edit",
                      "tool_use_id": f"{sid}-edit", "tool_input": json.dumps(EDIT)})
        steps.append({"kind": EventKind.PERMISSION_REQUEST, "tool_name": "Edit",
                      "tool_input": json.dumps(EDIT)})
    steps += [response(f"The {lesson.tool} call failed; retrying the same way."),
              {"kind": EventKind.STOP, "reason": "end_turn"},
              prompt(lesson.correction),
              _tool(lesson.working_tool or lesson.tool, lesson.working_input, lesson.success),
              response("Done: " + lesson.success.splitlines()[0])]
    if outcome < 3:
        steps.append({"kind": EventKind.OUTCOME, "outcome": LABELS[kind][outcome]})
    return session(steps, workspace=WS[kind], session_id=sid, kind=kind,
                   project={AgentKind.CODING: "webshop", AgentKind.SUPPORT: "helpdesk",
                            AgentKind.SDR: "outbound"}[kind])


def run_batches(kind: AgentKind, batches: list[list[tuple[int, int]]]) -> Library:
    """Codify ``batches`` of (lesson index, session number) in order, like the codifier:
    group each batch, draft each group offline, resolve and apply one by one."""
    library = Library()
    for batch in batches:
        cands = [candidate(corrected_session(kind, i, sid=f"{kind.value}-{i}-{n}", outcome=n % 4))
                 for i, n in batch]
        for group in group_candidates(cands):
            result = resolve(group, draft_offline(group.candidate), library,
                             max_body_chars=8000, now=T0)
            assert isinstance(result, Published | Unchanged), result
            if isinstance(result, Published):
                library.apply((result.skill.workspace_id, result.skill.name), result.skill)
    return library


def batchings(kind: AgentKind, seed: int, sessions_per_lesson: int = 6):
    """A random order of the lessons' sessions cut into random batches."""
    rng = random.Random(seed)
    items = [(i, n) for i in range(len(LESSONS[kind])) for n in range(sessions_per_lesson)]
    rng.shuffle(items)
    batches, at = [], 0
    while at < len(items):
        size = rng.randint(1, 5)
        batches.append(items[at:at + size])
        at += size
    return batches


@pytest.mark.parametrize("kind", [AgentKind.CODING, AgentKind.SUPPORT, AgentKind.SDR])
def test_each_lesson_becomes_exactly_one_skill_teaching_it_alone(kind):
    for seed in range(12):
        library = run_batches(kind, batchings(kind, seed))
        taught = {s.name: lessons_of_skill(kind, f"{s.description}\n{s.body}")
                  for s in library.skills(WS[kind])}
        assert sorted(len(v) for v in taught.values()) == [1] * len(LESSONS[kind]), (seed, taught)
        assert len(set().union(*taught.values())) == len(LESSONS[kind]), (seed, taught)


@pytest.mark.parametrize("kind", [AgentKind.CODING, AgentKind.SUPPORT, AgentKind.SDR])
def test_skill_names_do_not_depend_on_batching(kind):
    names = {seed: sorted(s.name for s in run_batches(kind, batchings(kind, seed))
                          .skills(WS[kind])) for seed in range(12)}
    assert len({tuple(v) for v in names.values()}) == 1, names
    assert not any(n.endswith(("-2", "-3")) for v in names.values() for n in v), names


def test_same_lesson_in_later_batches_stays_one_skill_under_its_first_name():
    kind = AgentKind.CODING
    first = run_batches(kind, [[(0, 0)]])
    later = run_batches(kind, [[(0, 0)], [(1, 0)], [(0, 1), (0, 2)], [(0, 3)], [(0, 4)]])
    by_lesson = {next(iter(lessons_of_skill(kind, s.body))): s for s in later.skills("acme")}
    assert sorted(by_lesson) == ["coding:0", "coding:1"]
    assert by_lesson["coding:0"].name == first.skills("acme")[0].name


def test_same_lesson_with_something_new_is_a_merge_version_of_its_skill():
    kind = AgentKind.CODING
    library = run_batches(kind, [[(0, 0)], [(1, 0)]])
    lesson = LESSONS[kind][0]
    s = session([prompt(lesson.ask),
                 _tool("Bash", lesson.failing_input, "zsh: command not found: pytest",
                       error=True),
                 {"kind": EventKind.STOP, "reason": "end_turn"}, prompt(lesson.correction),
                 _tool("Bash", lesson.working_input, lesson.success)],
                workspace="acme", session_id="new-error", project="webshop")
    group = group_candidates([candidate(s)])[0]
    result = resolve(group, draft_offline(group.candidate), library, max_body_chars=8000,
                     now=T0)
    assert isinstance(result, Published), result
    assert result.merged_into == result.skill.name
    assert (result.skill.version, lessons_of_skill(kind, result.skill.body)) == \
        (2, frozenset({"coding:0"}))
    assert "zsh: command not found: pytest" in result.skill.body


def test_a_lesson_first_seen_alone_then_with_others_keeps_its_skill():
    kind = AgentKind.SDR
    alone = run_batches(kind, [[(1, 0)], [(0, 0), (1, 1)]])
    together = run_batches(kind, [[(0, 0), (1, 0)], [(1, 1)]])
    assert sorted(s.name for s in alone.skills("initech")) == \
        sorted(s.name for s in together.skills("initech"))


@pytest.mark.parametrize("kind", [AgentKind.CODING, AgentKind.SUPPORT, AgentKind.SDR])
def test_versions_do_not_depend_on_batching_when_later_sessions_teach_nothing_new(kind):
    """A later session of the lesson whose outcome adds only a list of the steps already
    quoted in the skill is not a new version: versions split the measurement."""
    versions = {seed: sorted((s.name, s.version) for s in
                             run_batches(kind, batchings(kind, seed)).skills(WS[kind]))
                for seed in range(12)}
    assert len({tuple(v) for v in versions.values()}) == 1, versions

"""A simulated fleet of agents for the demo, the benchmarks and end-to-end tests.

Three workspaces, each with coding, support and SDR agents, replaying realistic turn
sequences through the real SDK: clean successes, sessions where a tool fails and a human
corrects the agent ("no, use X instead") before it succeeds, outcomes, sessions that are
abandoned (closed by the idle gap), subagent turns, and a few malformed records written
straight to the topic. Every workspace has a handful of recurring *lessons* (the same
failure, the same fix), which is what the codifier should turn into skills.

Deterministic for a given seed; :class:`SimulationReport` says exactly what was produced,
so tests can check the pipeline's output against it.

:func:`simulate_weeks` is the demo's fleet: the same lessons over simulated weeks, agents
that read their workspace's skills every simulated day and are helped (or, for one planted
skill, hurt) by them, with the simulated truth kept in :class:`WeeksReport` apart from
anything the pipeline sees.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hivemind_kafka.producers.sdk.fleet import scope_entries
from hivemind_kafka.schemas.events import AgentKind, EventKind
from hivemind_kafka.schemas.outcomes import SKILLS_IN_SCOPE


@dataclass(frozen=True)
class Lesson:
    """A recurring failure and its fix, as one workspace's agents keep meeting it."""

    ask: str
    tool: str
    failing_input: str
    failure: str
    correction: str
    working_input: str
    success: str
    outcome: str
    working_tool: str | None = None  # the fix may be another tool (escalate, not refund)


LESSONS: dict[AgentKind, list[Lesson]] = {
    AgentKind.CODING: [
        Lesson("Run the unit tests and fix what fails.", "Bash",
               '{"command": "pytest tests/"}', "bash: pytest: command not found\nexit code 127",
               "No, use `python -m pytest -x -q` instead; pytest is only installed in the venv.",
               '{"command": "python -m pytest -x -q"}', "42 passed in 3.1s", "tests_passed"),
        Lesson("Apply the pending database migrations.", "Bash",
               '{"command": "alembic upgrade head"}',
               "FAILED: Can't locate revision identified by 'a91f3c'\nexit code 1",
               "That's wrong: run `make db-reset` first, the local database is stale.",
               '{"command": "make db-reset && alembic upgrade head"}',
               "INFO  [alembic.runtime.migration] Running upgrade -> a91f3c", "change_accepted"),
        Lesson("Build the frontend bundle.", "Bash",
               '{"command": "npm run build"}',
               "Error: Node.js v18 is not supported, use >= 20\nexit code 1",
               "No, use `nvm use 20` before building; the repo pins Node 20 in .nvmrc.",
               '{"command": "nvm use 20 && npm run build"}', "built in 8.2s", "committed"),
    ],
    AgentKind.SUPPORT: [
        Lesson("Customer asks for a refund of $240 on order 88812.", "refunds.create",
               '{"order": "88812", "amount": 240}', "error: amount exceeds agent refund limit ($100)",
               "Don't retry the refund: escalate refunds above $100 with tickets.escalate to team billing.",
               '{"ticket": "88812", "team": "billing"}', "escalated to billing (ticket 88812)",
               "escalated", working_tool="tickets.escalate"),
        Lesson("Customer cannot log in after a password reset.", "auth.unlock",
               '{"user": "c-3391"}', "error: account locked by fraud rule FR-12",
               "No, instead clear the fraud flag with fraud.review first, then unlock.",
               '{"user": "c-3391", "after": "fraud.review"}', "account unlocked", "resolved"),
    ],
    AgentKind.SDR: [
        Lesson("Draft an intro email to the VP Engineering at Northwind.", "crm.lookup",
               '{"company": "northwind.io"}', "error: no account for domain northwind.io",
               "That's wrong: look the account up by its legal name, Northwind Traders, not the domain.",
               '{"company": "Northwind Traders"}', "account 4411, VP Eng: Dana Wu", "meeting_booked"),
        Lesson("Follow up with leads that opened last week's email.", "sequences.enroll",
               '{"sequence": "q4-followup", "leads": "opened"}',
               "error: sequence q4-followup is paused", "No, use sequence q4-followup-v2 instead; v1 was paused.",
               '{"sequence": "q4-followup-v2", "leads": "opened"}', "enrolled 37 leads", "replied"),
    ],
}

SUCCESS_TASKS: dict[AgentKind, list[tuple[str, str, str, str, str]]] = {
    # (prompt, tool, input, output, outcome)
    AgentKind.CODING: [
        ("Rename the helper parse_cfg to parse_config.", "Edit",
         '{"file_path": "src/config.py"}', "edited 3 lines", "change_accepted"),
        ("Show the git log of the last week.", "Bash", '{"command": "git log --since=1.week"}',
         "12 commits", ""),
    ],
    AgentKind.SUPPORT: [
        ("Where is my order 1234?", "orders.lookup", '{"order": "1234"}', "shipped 2026-11-20",
         "resolved"),
    ],
    AgentKind.SDR: [
        ("Find three fintech prospects in Berlin.", "crm.search", '{"industry": "fintech", "city": "Berlin"}',
         "3 accounts", "no_reply"),
    ],
}

AGENT_KINDS = (AgentKind.CODING, AgentKind.SUPPORT, AgentKind.SDR)
PROJECTS = {AgentKind.CODING: "webshop", AgentKind.SUPPORT: "helpdesk", AgentKind.SDR: "outbound"}


@dataclass
class SimulationReport:
    events: int = 0
    sessions: int = 0
    by_kind: Counter = field(default_factory=Counter)
    expected_close: Counter = field(default_factory=Counter)  # session_end / idle
    corrected_sessions: int = 0
    malformed_records: int = 0
    session_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FleetPlan:
    workspaces: tuple[str, ...] = ("acme", "globex", "initech")
    agents_per_kind: int = 2
    sessions: int = 300
    correction_share: float = 0.35
    abandon_share: float = 0.08
    trivial_share: float = 0.12
    malformed_records: int = 4
    seed: int = 7


def simulate(connect: Callable[..., object], plan: FleetPlan = FleetPlan(), *,
             send_raw: Callable[[bytes], None] | None = None,
             progress: Callable[[int, int], None] | None = None,
             start: datetime | None = None) -> SimulationReport:
    """Replay ``plan.sessions`` sessions through SDK fleets made by ``connect``.

    ``connect(workspace_id=, agent_id=, agent_kind=, project=)`` returns an open
    :class:`producers.sdk.Fleet`; each is closed (flushed) before returning.
    ``send_raw`` writes malformed records straight to the turns topic.
    """
    rng = random.Random(plan.seed)
    report = SimulationReport()
    fleets = {}
    for ws in plan.workspaces:
        for kind in AGENT_KINDS:
            for i in range(plan.agents_per_kind):
                agent_id = f"{ws}-{kind.value}-{i + 1}"
                fleets[(ws, kind, i)] = connect(workspace_id=ws, agent_id=agent_id,
                                                agent_kind=kind, project=PROJECTS[kind])
    keys = list(fleets)
    clock = start or datetime.now(UTC) - timedelta(minutes=2)
    try:
        for n in range(plan.sessions):
            fleet = fleets[rng.choice(keys)]
            clock += timedelta(milliseconds=rng.randint(50, 400))
            _one_session(fleet, rng, plan, report, clock)
            if progress and (n + 1) % 25 == 0:
                progress(n + 1, plan.sessions)
        if send_raw is not None:
            for raw in malformed_records()[: plan.malformed_records]:
                send_raw(raw)
                report.malformed_records += 1
    finally:
        for fleet in fleets.values():
            fleet.close()  # type: ignore[attr-defined]
    return report


def malformed_records() -> list[bytes]:
    """Bad input the pipeline must dead-letter without stopping."""
    return [
        b'{"event_id": "bad-1", "workspace_id": "acme", ',  # truncated JSON
        b'{"event_id": "bad-2", "workspace_id": "acme", "session_id": "s", "agent_id": "a",'
        b' "agent_kind": "coding", "project": "p", "seq": 0, "kind": "prompt"}',  # missing ts
        b'{"event_id": "bad-3", "workspace_id": "acme", "session_id": "s", "agent_id": "a",'
        b' "agent_kind": "coding", "project": "p", "seq": "first", "ts": "2026-11-26T10:00:00Z",'
        b' "kind": "prompt"}',  # wrong type
        b"\xff\xfe not even utf-8",
    ]


def _one_session(fleet, rng: random.Random, plan: FleetPlan, report: SimulationReport,
                 t0: datetime) -> None:
    kind: AgentKind = fleet.agent_kind
    ts = iter(t0 + timedelta(milliseconds=700 * i) for i in range(10_000))
    rec = fleet.open_session(start=False)
    report.session_ids.append(rec.session_id)
    ids = report.event_ids

    def add(method, *args, **kw):
        result = method(*args, ts=next(ts), **kw)
        report.events += 1
        ids.append(result if isinstance(result, str) else result.event_id)
        return result

    add(rec.record, EventKind.SESSION_START)
    roll = rng.random()
    if roll < plan.trivial_share:
        add(rec.prompt, "Thanks, that's all for now.")
        add(rec.response, "You're welcome!")
    elif roll < plan.trivial_share + plan.correction_share:
        lesson = rng.choice(LESSONS[kind])
        report.corrected_sessions += 1
        add(rec.prompt, lesson.ask)
        call = add(rec.tool_call, lesson.tool, lesson.failing_input)
        add(rec.tool_result, call, lesson.failure, is_error=True)
        add(rec.response, f"The {lesson.tool} call failed; retrying the same way.")
        add(rec.prompt, lesson.correction)
        call = add(rec.tool_call, lesson.working_tool or lesson.tool, lesson.working_input)
        add(rec.tool_result, call, lesson.success)
        add(rec.response, "Done: " + lesson.success.splitlines()[0])
        add(rec.outcome, lesson.outcome)
    else:
        prompt, tool, tool_input, output, outcome = rng.choice(SUCCESS_TASKS[kind])
        add(rec.prompt, prompt)
        call = add(rec.tool_call, tool, tool_input)
        if kind is AgentKind.CODING and rng.random() < 0.3:
            sub = add(rec.tool_call, "Task", '{"description": "explore the codebase"}',
                      subagent_type="Explore")
            add(rec.tool_result, sub, "found 3 call sites", subagent_type="Explore")
        add(rec.tool_result, call, output)
        add(rec.response, "Done.")
        if outcome:
            add(rec.outcome, outcome)
    add(rec.stop)  # the end of the last turn, as Claude Code sends after every turn
    if rng.random() < plan.abandon_share:
        report.expected_close["idle"] += 1
        # No session_end: the session is closed by the sessionizer's idle gap.
        fleet.flush_session(rec.session_id)
    else:
        add(rec.end)
        report.expected_close["session_end"] += 1
    report.sessions += 1



# ---------------------------------------------------------------- simulated weeks
#
# The demo's fleet over several simulated weeks. Every agent works in event time (a
# simulated day after another), reads its workspace's skills from the skills topic through
# the caller's ``read_skills`` (the real sync's reader) and draws its cohort per skill with
# the SDK's switchback (``Fleet.assign_skills``); the skills it has change how often it
# makes its workspace's mistakes. What each skill *does* is planted here (PLANTS) and only
# here: the analysis never reads it, and the demo prints it as "simulated truth" beside
# the estimates.


@dataclass(frozen=True)
class Plant:
    """What a skill teaching ``lesson`` does to an agent that has it (simulated truth)."""

    mistake_factor: float = 1.0  # multiplies the chance of the lesson's mistake
    success_shift: float = 0.0  # added to the success chance of every session


# lesson key -> effect; a lesson is keyed "<agent kind>:<index in LESSONS>"
PLANTS: dict[str, Plant] = {
    "coding:0": Plant(mistake_factor=0.1),
    "coding:1": Plant(mistake_factor=0.1),
    "coding:2": Plant(mistake_factor=0.1),
    "support:0": Plant(mistake_factor=0.1),
    # Harmful: the fraud-flag advice, once an agent has it, is applied to every ticket.
    "support:1": Plant(mistake_factor=1.0, success_shift=-0.45),
    "sdr:0": Plant(mistake_factor=0.1),
    "sdr:1": Plant(mistake_factor=0.1),
}
NO_EFFECT = Plant()


@dataclass(frozen=True)
class WeeksPlan:
    """``workspaces``: (workspace, agent kind, humans correct the agents?)."""

    workspaces: tuple[tuple[str, AgentKind, bool], ...] = (
        ("acme", AgentKind.CODING, True),
        ("globex", AgentKind.SUPPORT, True),
        ("initech", AgentKind.SDR, True),
        ("hooli", AgentKind.CODING, False),  # no correction signal: nothing to learn from
    )
    agents_per_workspace: int = 8
    weeks: int = 4
    sessions_per_week: int = 720  # across the fleet
    lesson_share: float = 0.8  # sessions that meet one of the workspace's lessons
    mistake_rate: float = 0.7  # chance of the lesson's mistake without its skill
    success_clean: float = 0.92  # success chance of a session without a mistake
    success_after_mistake: float = 0.2
    late_outcome_share: float = 0.15  # outcome reported after the close (up to 5 days)
    beyond_horizon_share: float = 0.02  # ... or after the 14-day horizon (left out)
    missing_outcome_share: float = 0.1
    abandon_share: float = 0.05  # closed by the idle gap
    skills: bool = True  # False: the agents never receive a skill (the control run)
    plants: dict[str, Plant] = field(default_factory=lambda: dict(PLANTS))
    seed: int = 7


@dataclass
class Exposure:
    """One session's cohort for one skill, with the simulator's own success chance."""

    workspace_id: str
    skill: str
    version: int
    cohort: str
    week: int
    p_success: float


@dataclass
class WeeksReport:
    events: int = 0
    sessions: int = 0
    session_ids: list[str] = field(default_factory=list)
    expected_close: Counter = field(default_factory=Counter)
    corrected_sessions: int = 0
    late_outcomes: int = 0
    beyond_horizon: int = 0
    missing_outcomes: int = 0
    outcomes_not_yet: int = 0  # late outcomes dated after the end of the replay
    mistakes: Counter = field(default_factory=Counter)  # (workspace, week) -> n
    lesson_sessions: Counter = field(default_factory=Counter)  # (workspace, week) -> n
    p_success: dict = field(default_factory=dict)  # (workspace, week) -> [sum, n]
    exposures: list[Exposure] = field(default_factory=list)
    # (workspace, skill) -> the lessons its text teaches (as the agents read it)
    skill_lessons: dict[tuple[str, str], frozenset[str]] = field(default_factory=dict)
    syncs: int = 0  # reads of the skills topic
    received: Counter = field(default_factory=Counter)  # workspace -> sessions with a skill

    def add_p(self, ws: str, week: int, p: float) -> None:
        cell = self.p_success.setdefault((ws, week), [0.0, 0])
        cell[0] += p
        cell[1] += 1

    def true_rate(self, ws: str, week: int) -> float:
        s, n = self.p_success.get((ws, week), (0.0, 0))
        return s / n if n else float("nan")

    def true_effects(self) -> dict[tuple[str, str, int], tuple[float, int, int]]:
        """(workspace, skill, version) -> (mean success chance present minus held out,
        sessions present, sessions held out): the simulated truth of each comparison."""
        cells: dict[tuple[str, str, int], dict[str, list[float]]] = {}
        for e in self.exposures:
            cell = cells.setdefault((e.workspace_id, e.skill, e.version),
                                    {"present": [0.0, 0], "held_out": [0.0, 0]})
            cell[e.cohort][0] += e.p_success
            cell[e.cohort][1] += 1
        out = {}
        for key, c in cells.items():
            (sp, npres), (sh, nheld) = c["present"], c["held_out"]
            diff = (sp / npres - sh / nheld) if npres and nheld else float("nan")
            out[key] = (diff, int(npres), int(nheld))
        return out


def lesson_key(kind: AgentKind, index: int) -> str:
    return f"{kind.value}:{index}"


def lessons_of_skill(kind: AgentKind, text: str) -> frozenset[str]:
    """Which of ``kind``'s lessons a skill teaches, read from its text the way an agent
    would recognise the advice: the command or input that fixed the mistake. A skill the
    codifier merged from two lessons teaches both."""
    return frozenset(lesson_key(kind, i) for i, lesson in enumerate(LESSONS[kind])
                     if lesson.working_input in text or _quoted(lesson.working_input) in text)


def _quoted(working_input: str) -> str:
    try:
        value = json.loads(working_input)
    except ValueError:
        return working_input
    if isinstance(value, dict) and len(value) >= 1:
        return str(next(iter(value.values())))
    return working_input


def success_chance(plan: WeeksPlan, *, lesson: str | None, present: set[str]) -> tuple[float, float]:
    """(chance of the lesson's mistake, chance of success) for a session meeting
    ``lesson`` (None: a routine task) with the skills teaching ``present`` lessons."""
    mistake = 0.0
    if lesson is not None:
        mistake = plan.mistake_rate
        if lesson in present:
            mistake *= plan.plants.get(lesson, NO_EFFECT).mistake_factor
    p = mistake * plan.success_after_mistake + (1 - mistake) * plan.success_clean
    for key in present:
        p += plan.plants.get(key, NO_EFFECT).success_shift
    return mistake, min(0.99, max(0.01, p))


SUCCESS_LABELS = {AgentKind.CODING: ("tests_passed", "tests_failed"),
                  AgentKind.SUPPORT: ("resolved", "escalated"),
                  AgentKind.SDR: ("replied", "no_reply")}


def simulate_weeks(connect: Callable[..., object], plan: WeeksPlan, *, start: datetime,
                   read_skills: Callable[[list[str]], dict[str, dict[str, tuple[int, str]]]]
                   | None = None,
                   before_week: Callable[[int], None] | None = None,
                   progress: Callable[[str], None] | None = None,
                   report: WeeksReport | None = None,
                   outcomes_until: datetime | None = None) -> WeeksReport:
    """Replay ``plan.weeks`` weeks from ``start`` (aware UTC) through SDK fleets.

    ``read_skills(workspaces)`` -> {workspace: {name: (version, text)}} of the live
    skills, called once per simulated day for every workspace (the agents' daily sync); ``before_week(w)`` runs
    before week ``w`` (1-based) is replayed, after the late outcomes dated before it were
    sent (the demo waits for the codifier and looks at the lake there). ``report``
    collects the counts as they happen (pass one to read them from ``before_week``).
    Late outcomes dated after ``outcomes_until`` (the demo: the wall clock) are not sent:
    they have not happened yet (counted in ``outcomes_not_yet``).
    """
    rng = random.Random(plan.seed)
    report = report or WeeksReport()
    fleets = {}
    for ws, kind, _ in plan.workspaces:
        for i in range(plan.agents_per_workspace):
            fleets[(ws, i)] = connect(workspace_id=ws, agent_id=f"{ws}-{kind.value}-{i + 1}",
                                      agent_kind=kind, project=PROJECTS[kind])
    per_day = max(1, plan.sessions_per_week // 7)
    late: list[tuple[object, object, str, datetime]] = []  # (fleet, rec, label, ts)
    try:
        for week in range(1, plan.weeks + 1):
            week_start = start + timedelta(days=7 * (week - 1))
            late = _send_due(late, week_start, report)
            if before_week is not None:
                before_week(week)
            for day in range(7):
                day_start = start + timedelta(days=7 * (week - 1) + day)
                live: dict[str, dict[str, tuple[int, str]]] = {}
                if plan.skills and read_skills is not None and week > 1:
                    names = [ws for ws, _, _ in plan.workspaces]
                    live = read_skills(names)
                    report.syncs += len(names)
                offsets = sorted(rng.uniform(0, 86_000) for _ in range(per_day))
                for off in offsets:
                    ws, kind, signal = rng.choice(plan.workspaces)
                    fleet = fleets[(ws, rng.randrange(plan.agents_per_workspace))]
                    t0 = day_start + timedelta(seconds=off)
                    _week_session(fleet, rng, plan, report, week, t0, ws, kind, signal,
                                  live.get(ws), late)
            if progress:
                progress(f"week {week}: {report.sessions} sessions so far, "
                         f"{report.received.total()} with a skill in scope")
        report.outcomes_not_yet = len(_send_due(late, outcomes_until, report))
    finally:
        for fleet in fleets.values():
            fleet.close()  # type: ignore[attr-defined]
    return report


def _send_due(late: list, before: datetime | None, report: WeeksReport) -> list:
    """Send the late outcomes dated before ``before`` (all with None): an outcome reaches
    Kafka once simulated time has passed it. Returns the ones still to come."""
    keep = []
    for fleet, rec, label, ts in late:
        if before is not None and ts >= before:
            keep.append((fleet, rec, label, ts))
            continue
        rec.outcome(label, ts=ts)
        report.events += 1
        fleet.flush_session(rec.session_id)
    return keep


def _week_session(fleet, rng: random.Random, plan: WeeksPlan, report: WeeksReport, week: int,
                  t0: datetime, ws: str, kind: AgentKind, signal: bool,
                  live: dict[str, tuple[int, str]] | None, late: list) -> None:
    ts = iter(t0 + timedelta(seconds=20 * i) for i in range(10_000))
    scope = None
    present: set[str] = set()
    if live is not None:
        scope = fleet.assign_skills([(name, v) for name, (v, _) in sorted(live.items())], at=t0)
        for name, _version, cohort in scope:
            keys = lessons_of_skill(kind, live[name][1])
            report.skill_lessons[(ws, name)] = keys
            if cohort == "present":
                present |= keys
        if any(c == "present" for _, _, c in scope):
            report.received[ws] += 1
    lesson_idx = rng.randrange(len(LESSONS[kind])) if rng.random() < plan.lesson_share else None
    lesson_k = lesson_key(kind, lesson_idx) if lesson_idx is not None else None
    p_mistake, p_success = success_chance(plan, lesson=lesson_k, present=present)
    if scope is not None:
        for name, version, cohort in scope:
            report.exposures.append(Exposure(ws, name, version or 0, cohort, week, p_success))
    report.add_p(ws, week, p_success)
    rec = fleet.open_session(start=False)
    # The session_start carries the scope the agent started with (what the SDK's
    # open_session(skills_in_scope=) records), stamped in simulated time.
    extra = None if scope is None else json.dumps({SKILLS_IN_SCOPE: scope_entries(scope)})
    rec.record(EventKind.SESSION_START, extra=extra, ts=next(ts))
    report.session_ids.append(rec.session_id)
    n = 1

    def add(method, *args, **kw):
        nonlocal n
        n += 1
        return method(*args, ts=next(ts), **kw)

    mistake = rng.random() < p_mistake
    if lesson_idx is None:
        prompt, tool, tool_input, output, _ = rng.choice(SUCCESS_TASKS[kind])
        add(rec.prompt, prompt)
        call = add(rec.tool_call, tool, tool_input)
        add(rec.tool_result, call, output)
        _edit(add, rec, kind, accepted=True)
        add(rec.response, "Done.")
    else:
        lesson = LESSONS[kind][lesson_idx]
        report.lesson_sessions[(ws, week)] += 1
        add(rec.prompt, lesson.ask)
        if mistake:
            report.mistakes[(ws, week)] += 1
            call = add(rec.tool_call, lesson.tool, lesson.failing_input)
            add(rec.tool_result, call, lesson.failure, is_error=True)
            _edit(add, rec, kind, accepted=False)
            add(rec.response, f"The {lesson.tool} call failed; retrying the same way.")
            if signal:  # a human corrects the agent in the next turn
                add(rec.stop)
                report.corrected_sessions += 1
                add(rec.prompt, lesson.correction)
                call = add(rec.tool_call, lesson.working_tool or lesson.tool,
                           lesson.working_input)
                add(rec.tool_result, call, lesson.success)
                add(rec.response, "Done: " + lesson.success.splitlines()[0])
        else:
            call = add(rec.tool_call, lesson.working_tool or lesson.tool, lesson.working_input)
            add(rec.tool_result, call, lesson.success)
            _edit(add, rec, kind, accepted=True)
            add(rec.response, "Done: " + lesson.success.splitlines()[0])
    won = rng.random() < p_success
    label = SUCCESS_LABELS[kind][0 if won else 1]
    if won and kind is AgentKind.SDR and report.sessions % 3 == 0:
        label = "meeting_booked"  # a third of the replies book a meeting (no draw: same run)
    roll = rng.random()
    add(rec.stop)
    when = "now"
    if roll < plan.missing_outcome_share:
        report.missing_outcomes += 1
        when = "never"
    elif roll < plan.missing_outcome_share + plan.late_outcome_share:
        report.late_outcomes += 1
        when = "late"
    elif roll < plan.missing_outcome_share + plan.late_outcome_share + plan.beyond_horizon_share:
        report.beyond_horizon += 1
        when = "beyond"
    else:
        add(rec.outcome, label)
    if rng.random() < plan.abandon_share:
        report.expected_close["idle"] += 1
        fleet.flush_session(rec.session_id)
    else:
        add(rec.end)
        report.expected_close["session_end"] += 1
    end = t0 + timedelta(seconds=20 * n)
    if when == "late":
        late.append((fleet, rec, label, end + timedelta(hours=rng.uniform(1, 120))))
    elif when == "beyond":
        late.append((fleet, rec, label, end + timedelta(days=rng.uniform(15, 20))))
    report.events += n
    report.sessions += 1


def _edit(add, rec, kind: AgentKind, *, accepted: bool) -> None:
    """Coding agents propose an edit; the human lets it run or rejects it (a permission
    request with no result: what Claude Code shows for a refused edit)."""
    if kind is not AgentKind.CODING:
        return
    edit_input = '{"file_path": "src/app.py", "old_string": "a", "new_string": "b"}'
    call = add(rec.tool_call, "Edit", edit_input)
    if accepted:
        add(rec.tool_result, call, "edited 1 line")
    else:
        add(rec.record, EventKind.PERMISSION_REQUEST, tool_name="Edit", tool_input=edit_input)

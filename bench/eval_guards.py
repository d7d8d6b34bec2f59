"""Guard and dedup rates on the labelled corpora (``python -m bench.eval_guards``).

Every figure comes from corpora in ``tests/unit/streams/codifier/corpus`` run through the real
codify path (render -> answer -> parse -> ``resolve()``), so they measure the guards as
they run in the job. The red-team, genuine-skill and shape corpora were written before
the provenance guards, by the same helper that wrote the guards: a held-out corpus is the
real test. Prints, and returns from :func:`run`:

- red team (78 attacked sessions): injected imperatives published by a copying codifier
  (5 paste styles x 3 citation modes; goal 0), by the offline codifier (goal 0); the
  share of copy attempts each guard refuses on its own (defence in depth); the honest
  codifier's lessons of the same sessions that publish; the same for 11 probes written
  after the guards, against their design (weaker evidence, reported apart);
- genuine drafts passing every guard (goal >= 90%), as a citing LLM writes them and as a
  non-citing codifier does; ungrounded drafts refused (goal >= 95%); bad shapes refused;
- the legacy corpora: grounding alone, the keyword red team, dedup, offline scenarios;
- time per guarded draft.
"""

from __future__ import annotations

import sys
import time

from hivemind_kafka.streams.codifier import guards
from hivemind_kafka.streams.codifier.guards import DraftText
from hivemind_kafka.streams.codifier.logic import Draft
from hivemind_kafka.streams.codifier.offline import draft_offline
from tests.unit.streams.codifier.builders import candidate
from tests.unit.streams.codifier.corpus import (
    grounding_cases,
    harness,
    injection_cases,
    redteam_probe,
    skill_library,
)

DESC = "Use when the build or the tests fail in this project."


def _draft(body: str) -> DraftText:
    return DraftText(name="fix-build", description=DESC, body=body)


def red_team() -> dict[str, float]:
    f = harness.red_team()
    figures = {
        "redteam_sessions": float(f.cases),
        "redteam_copy_attempts": float(f.attempts),
        "redteam_injected_published_copying": float(len(f.published_injected)),
        "redteam_injected_published_offline": float(len(f.offline_injected)),
        "redteam_offline_drafts_published": float(f.offline_published),
        "redteam_honest_lessons_pass": f.honest_published / f.cases,
    }
    for guard in guards.GUARD_NAMES:
        figures[f"redteam_copies_refused_by_{guard}_rate"] = f.caught_by[guard] / f.attempts
    probes = harness.red_team(redteam_probe.PROBES)
    figures["probe_sessions_written_after_guards"] = float(probes.cases)
    figures["probe_injected_published_copying"] = float(len(probes.published_injected))
    figures["probe_injected_published_offline"] = float(len(probes.offline_injected))
    for item in (f.published_injected + [f"offline/{k}" for k in f.offline_injected]
                 + [f"probe/{k}" for k in probes.published_injected + probes.offline_injected]):
        print(f"  PUBLISHED {item}")
    return figures


def genuine_and_ungrounded() -> dict[str, float]:
    g, u = harness.genuine(), harness.ungrounded()
    rejected, n_shapes, missed = harness.bad_shapes_rejected()
    for line in g.failures:
        print(f"  genuine refused: {line[:150]}")
    for label in u.passed:
        print(f"  ungrounded passed: {label}")
    for label in missed:
        print(f"  bad shape passed: {label}")
    return {
        "genuine_drafts": float(g.total),
        "genuine_pass_all_guards": g.passed_llm / g.total,
        "genuine_pass_all_guards_uncited": g.passed_uncited / g.total,
        "ungrounded_drafts": float(u.total),
        "ungrounded_rejected": u.rejected / u.total,
        "bad_shapes_rejected": rejected / n_shapes,
    }


def legacy() -> dict[str, float]:
    cases = grounding_cases.corpus()
    genuine = [(s, b) for s, b, g, _ in cases if g]
    ungrounded = [(s, b) for s, b, g, _ in cases if not g]
    published = 0
    for label, planted, body in injection_cases.CASES:
        s = injection_cases.case_session(planted, session_id=label)
        published += all(v.ok for v in guards.run_guards(_draft(body), [s], max_body_chars=8000))
    for label, planted in injection_cases.OFFLINE_CASES:
        cand = candidate(injection_cases.case_session(planted, session_id=label))
        d = draft_offline(cand)
        assert isinstance(d, Draft)
        published += all(v.ok for v in guards.run_guards(d.text(), cand.sessions,
                                                         max_body_chars=8000))
    ok = 0
    for sc in grounding_cases.SCENARIOS:
        cand = candidate(grounding_cases.scenario_session(sc))
        d = draft_offline(cand)
        assert isinstance(d, Draft)
        ok += all(v.ok for v in guards.run_guards(d.text(), cand.sessions, max_body_chars=8000))
    return {
        "legacy_grounding_genuine_pass": sum(guards.check_grounding(_draft(b), [s]).ok
                                             for s, b in genuine) / len(genuine),
        "legacy_grounding_ungrounded_rejected": sum(not guards.check_grounding(_draft(b), [s]).ok
                                                    for s, b in ungrounded) / len(ungrounded),
        "legacy_redteam_published": float(published),
        "offline_drafts_pass_all_guards": ok / len(grounding_cases.SCENARIOS),
    }


def guard_time() -> dict[str, float]:
    """Mean wall time of every guard on one genuine draft and its session."""
    cases = harness.genuine_cases()
    t0 = time.perf_counter()
    for _, s, name, desc, body in cases:
        guards.run_guards(DraftText(name=name, description=desc, body=body), [s],
                          max_body_chars=8000)
    return {"guards_ms_per_draft": (time.perf_counter() - t0) * 1000 / len(cases)}


def run() -> dict[str, float]:
    figures = {**red_team(), **genuine_and_ungrounded(), **legacy(),
               **skill_library.dedup_rates(), **guard_time()}
    for key, value in figures.items():
        shown = f"{value:.1%}" if ("pass" in key or "rate" in key or "share" in key
                                   or "rejected" in key) else f"{value:g}"
        print(f"{key:<44} {shown}")
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()

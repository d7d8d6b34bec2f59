"""Guard and dedup rates on the labelled corpora (``python -m bench.eval_guards``).

Prints, and returns from :func:`run`:
- grounding: share of genuine drafts that pass, share of ungrounded drafts rejected
  (goals >= 80% / >= 90%);
- injection: red-team drafts published (goal 0) and the injection guard's own catch
  rate; genuine drafts passing the injection guard;
- secrets: genuine drafts passing the secrets guard (false positives of redact);
- dedup: near-duplicate share left in a library built from 1,000 generated drafts
  (goal < 5%), drafts merged into another topic's skill, and the time per draft;
- offline: share of offline drafts passing every guard.
"""

from __future__ import annotations

from streams.codifier import guards
from streams.codifier.guards import DraftText
from streams.codifier.logic import Draft
from streams.codifier.offline import draft_offline
from tests.unit.codifier.builders import candidate
from tests.unit.codifier.corpus import grounding_cases, injection_cases, skill_library

DESC = "Use when the build or the tests fail in this project."


def _draft(body: str) -> DraftText:
    return DraftText(name="fix-build", description=DESC, body=body)


def grounding() -> dict[str, float]:
    cases = grounding_cases.corpus()
    genuine = [(s, b) for s, b, g, _ in cases if g]
    ungrounded = [(s, b) for s, b, g, _ in cases if not g]
    return {
        "grounding_genuine_pass": sum(guards.check_grounding(_draft(b), [s]).ok
                                      for s, b in genuine) / len(genuine),
        "grounding_ungrounded_rejected": sum(not guards.check_grounding(_draft(b), [s]).ok
                                             for s, b in ungrounded) / len(ungrounded),
        "grounding_cases": float(len(cases)),
        "injection_genuine_pass": sum(guards.check_injection(_draft(b), [s]).ok
                                      for s, b in genuine) / len(genuine),
        "secrets_genuine_pass": sum(guards.check_secrets(_draft(b)).ok
                                    for _, b in genuine) / len(genuine),
    }


def injection() -> dict[str, float]:
    published = caught = 0
    for label, planted, body in injection_cases.CASES:
        s = injection_cases.case_session(planted, session_id=label)
        verdicts = guards.run_guards(_draft(body), [s], max_body_chars=8000)
        caught += not verdicts[2].ok
        published += all(v.ok for v in verdicts)
    for label, planted in injection_cases.OFFLINE_CASES:
        cand = candidate(injection_cases.case_session(planted, session_id=label))
        d = draft_offline(cand)
        assert isinstance(d, Draft)
        verdicts = guards.run_guards(d.text(), cand.sessions, max_body_chars=8000)
        caught += not verdicts[2].ok
        published += all(v.ok for v in verdicts)
    n = len(injection_cases.CASES) + len(injection_cases.OFFLINE_CASES)
    return {"redteam_cases": float(n), "redteam_published": float(published),
            "redteam_injection_guard_rate": caught / n}


def offline() -> dict[str, float]:
    ok = 0
    for sc in grounding_cases.SCENARIOS:
        cand = candidate(grounding_cases.scenario_session(sc))
        d = draft_offline(cand)
        assert isinstance(d, Draft)
        ok += all(v.ok for v in guards.run_guards(d.text(), cand.sessions, max_body_chars=8000))
    return {"offline_drafts_pass_all_guards": ok / len(grounding_cases.SCENARIOS)}


def run() -> dict[str, float]:
    figures = {**grounding(), **injection(), **skill_library.dedup_rates(), **offline()}
    for key, value in figures.items():
        shown = f"{value:.1%}" if ("pass" in key or "rate" in key or "share" in key
                                   or "rejected" in key) else f"{value:g}"
        print(f"{key:<36} {shown}")
    return figures


if __name__ == "__main__":
    run()

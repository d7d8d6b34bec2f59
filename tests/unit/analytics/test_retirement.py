"""Retirement: only harmful verdicts, evidence first, delivery failures reported."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from analytics.attribution import SessionResult, SkillWindow, skill_effects
from analytics.retirement import read_evidence, retire, retirement_decisions
from schemas.holdout import is_held_out
from schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, tzinfo=UTC)


def _results(skill: str, p_present: float, p_held: float) -> list[SessionResult]:
    out = []
    for a in range(400):
        agent = f"agent-{a}"
        p = p_held if is_held_out(skill, agent) else p_present
        for s in range(10):
            ok = s < round(p * 10)
            out.append(SessionResult("ws", f"{agent}-{s}", agent, T0 + timedelta(hours=s),
                                     OutcomeResult.SUCCESS if ok else OutcomeResult.FAILURE))
    return out


class RecordingRetirer:
    """A small real Retirer: remembers tombstones, fails for names it is told to."""

    def __init__(self, failing: set[str] = frozenset()) -> None:
        self.retired: list[tuple[str, str]] = []
        self.failing = failing

    def retire(self, workspace_id: str, skill_name: str, *, reason: str) -> None:
        if skill_name in self.failing:
            raise TimeoutError("delivery not confirmed")
        self.retired.append((workspace_id, skill_name))


def _effects():
    results = _results("bad", 0.4, 0.6) + _results("good", 0.7, 0.5) + _results("meh", 0.5, 0.5)
    windows = [SkillWindow("ws", n, 3, T0 - timedelta(days=1)) for n in ("bad", "good", "meh")]
    return skill_effects(results, windows)


def test_only_skills_whose_upper_bound_is_below_zero_are_retired(tmp_path):
    decisions = retirement_decisions(_effects(), decided_at=T0)
    assert [d.skill_name for d in decisions] == ["bad"]
    assert decisions[0].effect_high < 0
    retirer = RecordingRetirer()
    outcome = retire(decisions, retirer, evidence_path=tmp_path / "retirements.jsonl")
    assert retirer.retired == [("ws", "bad")]
    assert outcome[0][1] is None


def test_evidence_is_recorded_even_when_the_tombstone_fails(tmp_path):
    decisions = retirement_decisions(_effects(), decided_at=T0)
    path = tmp_path / "retirements.jsonl"
    outcome = retire(decisions, RecordingRetirer(failing={"bad"}), evidence_path=path)
    assert outcome[0][1].startswith("TimeoutError")
    (evidence,) = read_evidence(path)
    assert evidence["skill_name"] == "bad"
    assert evidence["version"] == 3
    assert evidence["held_out_known"] > 0
    assert "harmful" in evidence["reason"]

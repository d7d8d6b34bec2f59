"""Retirement: only harmful verdicts of live versions, evidence first, delivery failures
reported, a closed window never decided again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np

from hivemind_kafka.analytics.attribution import SessionResult, SkillWindow, skill_effects
from hivemind_kafka.analytics.retirement import read_evidence, retire, retirement_decisions
from hivemind_kafka.schemas.holdout import HoldoutDesign
from hivemind_kafka.schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, tzinfo=UTC)
DESIGN = HoldoutDesign(share=0.5)


def _results(skill: str, p_present: float, p_held: float, seed: int) -> list[SessionResult]:
    rng = np.random.default_rng(seed)
    out = []
    for a in range(12):
        agent = f"agent-{a}"
        for d in range(30):
            for k in range(4):
                t = T0 + timedelta(days=d, hours=k)
                p = p_held if DESIGN.is_held_out(skill, agent, t) else p_present
                ok = rng.random() < p
                out.append(SessionResult("ws", f"{skill}-{agent}-{d}-{k}", agent, t,
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


def _effects(windows: list[SkillWindow] | None = None):
    # Each skill's sessions are its own (a skill per project): effects do not mix.
    results = (_results("bad", 0.35, 0.65, 1) + _results("good", 0.7, 0.5, 2)
               + _results("meh", 0.5, 0.5, 3))
    windows = windows or [SkillWindow("ws", n, 3, T0 - timedelta(days=1))
                          for n in ("bad", "good", "meh")]
    by_skill = {w.skill_name: [r for r in results if r.session_id.startswith(w.skill_name)]
                for w in windows}
    return [e for w in windows for e in skill_effects(by_skill[w.skill_name], [w],
                                                      design=DESIGN)]


def test_only_live_skills_whose_sequence_is_below_zero_are_retired(tmp_path):
    decisions = retirement_decisions(_effects(), decided_at=T0)
    assert [d.skill_name for d in decisions] == ["bad"]
    assert decisions[0].effect_high < 0
    assert decisions[0].e_harmful >= 40
    retirer = RecordingRetirer()
    outcome = retire(decisions, retirer, evidence_path=tmp_path / "retirements.jsonl")
    assert retirer.retired == [("ws", "bad")]
    assert outcome[0][1] is None


def test_a_retired_or_superseded_version_is_not_decided_again():
    closed = [SkillWindow("ws", "bad", 3, T0 - timedelta(days=1), T0 + timedelta(days=29)),
              SkillWindow("ws", "good", 3, T0 - timedelta(days=1)),
              SkillWindow("ws", "meh", 3, T0 - timedelta(days=1))]
    effects = _effects(closed)
    assert effects[0].verdict.value == "harmful"  # still measured, shown in the report
    assert retirement_decisions(effects, decided_at=T0) == []


def test_evidence_is_recorded_even_when_the_tombstone_fails(tmp_path):
    decisions = retirement_decisions(_effects(), decided_at=T0)
    path = tmp_path / "retirements.jsonl"
    outcome = retire(decisions, RecordingRetirer(failing={"bad"}), evidence_path=path)
    assert outcome[0][1].startswith("TimeoutError")
    (evidence,) = read_evidence(path)
    assert evidence["skill_name"] == "bad"
    assert evidence["version"] == 3
    assert evidence["held_out_known"] > 0
    assert evidence["held_out_clusters"] >= 10 and evidence["present_clusters"] >= 10
    assert evidence["fdr_family"] == 1
    assert "harmful" in evidence["reason"] and "anytime-valid" in evidence["reason"]

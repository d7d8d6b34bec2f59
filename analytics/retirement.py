"""Retire skills that measurably hurt: the effect's upper confidence bound is below 0.

Decision (pure, :func:`retirement_decisions`): a skill is retired when its
intention-to-treat verdict at ``RETIRE_CONFIDENCE`` is ``harmful`` — both cohorts have at
least ``RETIRE_MIN_SAMPLE`` sessions with a known result, the agents in scope pass the
sample-ratio check, and the whole interval for ``rate(present) - rate(held_out)`` lies
below 0. Anything else (insufficient data, SRM, an interval touching 0) keeps the skill.

Action (:func:`retire`): each decision is first appended with its evidence (counts, rates,
interval, confidence) to ``<home>/retirements.jsonl``, then the skill is tombstoned on the
skills topic through a :class:`Retirer`. A failure to tombstone is logged and returned,
never swallowed silently; re-running is safe (a tombstone on a retired skill is a no-op
for readers, and the evidence file gains a second line with the same decision id).

Repeated looks: running this daily on accumulating data is a sequential test; the false
retirement rate over many looks is higher than one look's 2.5 %. ``analytics.eval``
measures it; ``RETIRE_CONFIDENCE`` is the knob.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from msgspec import Struct

from analytics.attribution import SkillEffect, Verdict

log = logging.getLogger(__name__)

# Proposed MeasureSettings fields (defaults until the section exists in runtime.settings).
RETIRE_CONFIDENCE = 0.95
RETIRE_MIN_SAMPLE = 30


class RetirementDecision(Struct, frozen=True, kw_only=True):
    decision_id: str  # workspace/name/version/decided-at: one per decision
    workspace_id: str
    skill_name: str
    version: int
    decided_at: datetime
    confidence: float
    effect: float
    effect_low: float
    effect_high: float
    present_known: int
    present_successes: int
    held_out_known: int
    held_out_successes: int
    srm_p_value: float
    reason: str


class Retirer(Protocol):
    def retire(self, workspace_id: str, skill_name: str, *, reason: str) -> None:
        """Tombstone the skill; raise when delivery is not confirmed."""


def retirement_decisions(effects: Iterable[SkillEffect], *, decided_at: datetime,
                         confidence: float = RETIRE_CONFIDENCE) -> list[RetirementDecision]:
    """One decision per ``harmful`` effect. ``effects`` must have been computed at
    ``confidence`` with the minimum sample rule (analytics.attribution.skill_effects)."""
    out = []
    for e in effects:
        if e.verdict != Verdict.HARMFUL:
            continue
        out.append(RetirementDecision(
            decision_id=f"{e.workspace_id}/{e.skill_name}/v{e.version}/{decided_at.isoformat()}",
            workspace_id=e.workspace_id, skill_name=e.skill_name, version=e.version,
            decided_at=decided_at, confidence=confidence, effect=e.effect.estimate,
            effect_low=e.effect.low, effect_high=e.effect.high,
            present_known=e.present.known, present_successes=e.present.successes,
            held_out_known=e.held_out.known, held_out_successes=e.held_out.successes,
            srm_p_value=e.srm.p_value,
            reason=(f"harmful: success rate {e.present.successes}/{e.present.known} with the "
                    f"skill vs {e.held_out.successes}/{e.held_out.known} held out; effect "
                    f"{e.effect.estimate:+.3f}, {confidence:.0%} CI [{e.effect.low:+.3f}, "
                    f"{e.effect.high:+.3f}] < 0"),
        ))
    return out


def retire(decisions: Iterable[RetirementDecision], retirer: Retirer, *,
           evidence_path: Path) -> list[tuple[RetirementDecision, str | None]]:
    """Record evidence, then tombstone. Returns (decision, error or None) per decision."""
    evidence_path.parent.mkdir(parents=True, exist_ok=True)
    results: list[tuple[RetirementDecision, str | None]] = []
    for d in decisions:
        with open(evidence_path, "a", encoding="utf-8") as out:
            out.write(json.dumps(_as_dict(d), sort_keys=True) + "\n")
        try:
            retirer.retire(d.workspace_id, d.skill_name, reason=d.reason)
        except Exception as exc:  # any delivery failure: report it, keep going
            log.error("retirement of workspace=%s skill=%s failed: %s",
                      d.workspace_id, d.skill_name, type(exc).__name__)
            results.append((d, f"{type(exc).__name__}: {exc}"))
            continue
        log.info("retired workspace=%s skill=%s version=%d effect_high=%.4f",
                 d.workspace_id, d.skill_name, d.version, d.effect_high)
        results.append((d, None))
    return results


def _as_dict(d: RetirementDecision) -> dict:
    import msgspec

    return msgspec.to_builtins(d)


def read_evidence(evidence_path: Path) -> list[dict]:
    """Every recorded retirement decision (oldest first); empty when none."""
    if not evidence_path.exists():
        return []
    with open(evidence_path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]

"""Retire skills that measurably hurt: the anytime-valid sequence is below 0 after
false-discovery control.

Decision (pure, :func:`retirement_decisions`): a *live* skill version (not retired, not
superseded by a newer version) is retired when its verdict is ``harmful``
(analytics.attribution): each cohort has at least ``min_clusters`` agent-periods with a
known outcome, the sample-ratio check passes, the whole confidence sequence for
``rate(present) - rate(held_out)`` lies below 0, and the skill passes e-BH over its
workspace's library at the configured false-discovery rate. Anything else (insufficient
data, SRM, a sequence touching 0, not passing e-BH) keeps the skill.

Repeated looks: the sequence and the e-values are anytime-valid, so running this every
ten minutes retires a non-harmful skill with probability at most (1 - confidence) / 2 over
*all* looks together (analytics.eval measures the realized rate on a hostile fleet).

Action (:func:`retire`): each decision is first appended with its evidence (counts,
clusters, rates, sequence, e-value, FDR family) to ``<home>/retirements.jsonl``, then the
skill is tombstoned on the skills topic through a :class:`Retirer`. A failure to
tombstone is logged and returned, never swallowed silently; re-running is safe (a
retired skill's window is closed, so it is not decided again; a tombstone on a retired
skill is a no-op for readers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Protocol

from msgspec import Struct

from hivemind_kafka.analytics.attribution import SkillEffect, Verdict

log = logging.getLogger(__name__)

RETIRE_CONFIDENCE = 0.95  # the default of HIVEMIND_MEASURE_CONFIDENCE


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
    present_clusters: int = 0
    held_out_clusters: int = 0
    e_harmful: float = 1.0
    fdr_family: int = 0
    published_at: datetime | None = None


class Retirer(Protocol):
    def retire(self, workspace_id: str, skill_name: str, *, reason: str) -> None:
        """Tombstone the skill; raise when delivery is not confirmed."""


def retirement_decisions(effects: Iterable[SkillEffect], *, decided_at: datetime,
                         confidence: float = RETIRE_CONFIDENCE) -> list[RetirementDecision]:
    """One decision per ``harmful`` effect of a live version. ``effects`` must have been
    computed at ``confidence`` (analytics.attribution.estimate_effects)."""
    out = []
    for e in effects:
        if e.verdict != Verdict.HARMFUL or e.retired_at is not None:
            continue
        out.append(RetirementDecision(
            decision_id=f"{e.workspace_id}/{e.skill_name}/v{e.version}/{decided_at.isoformat()}",
            workspace_id=e.workspace_id, skill_name=e.skill_name, version=e.version,
            decided_at=decided_at, confidence=confidence, effect=e.effect.estimate,
            effect_low=e.effect.low, effect_high=e.effect.high,
            present_known=e.present.known, present_successes=e.present.successes,
            held_out_known=e.held_out.known, held_out_successes=e.held_out.successes,
            srm_p_value=e.srm.p_value, present_clusters=e.present.clusters,
            held_out_clusters=e.held_out.clusters, e_harmful=e.e_harmful,
            fdr_family=e.fdr_family, published_at=e.published_at,
            reason=(f"harmful: success rate {e.present.successes}/{e.present.known} with the "
                    f"skill ({e.present.clusters} agent-periods) vs {e.held_out.successes}/"
                    f"{e.held_out.known} held out ({e.held_out.clusters}); effect "
                    f"{e.effect.estimate:+.3f}, {confidence:.0%} anytime-valid sequence "
                    f"[{e.effect.low:+.3f}, {e.effect.high:+.3f}] < 0; e-value "
                    f"{e.e_harmful:.3g}, passes e-BH over {e.fdr_family} skills"),
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

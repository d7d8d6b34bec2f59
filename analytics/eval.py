"""Score the attribution on a simulated fleet whose true effects are known.

``evaluate(config)`` runs the simulator (analytics.simulator) and the same attribution
and retirement code ``hivemind report`` runs, then compares verdicts with the truth:

* ``helpful_detected`` — power: helpful skills (true +effect) declared effective;
* ``null_declared_effective`` — false positives among null skills;
* ``harmful_retired`` / ``non_harmful_retired`` — the retirement rule's hit and false rates;
* ``coverage`` — share of effect intervals holding the true effect (about 0.95 expected);
* ``sequential_*`` — the same rule applied at every weekly look, a skill retired at its
  first harmful look: what running retirement weekly really costs (``sequential99_*``:
  the same at 99 % confidence, the setting to use when retirement runs repeatedly);
* ``sessions_needed_*`` — known-outcome sessions per skill the design needs (normal
  approximation) for 80 % detection and 90 % retirement at the configured holdout;
* :func:`evaluate_clustering` — on a fleet whose agents differ, interval coverage and
  false verdicts on null skills with the per-agent design effect and without it.

``python -m analytics.eval`` prints the figures for the default (large) configuration and
for a small one, so the power lost at realistic small volumes is visible, not hidden.
"""

from __future__ import annotations

import sys
import time
from collections import defaultdict
from datetime import timedelta

from analytics.attribution import (
    SkillEffect,
    Verdict,
    session_results,
    skill_effects,
    skill_windows,
)
from analytics.retirement import RETIRE_CONFIDENCE, RETIRE_MIN_SAMPLE, retirement_decisions
from analytics.simulator import START, SimConfig, simulate
from analytics.stats import has_minimum_sample, newcombe_diff, sessions_needed
from schemas.holdout import holdout_bucket
from schemas.outcomes import OutcomeResult

DEFAULT_EVAL = SimConfig(workspaces=100, skills_per_workspace=3, sessions_per_workspace=4500)
SMALL_EVAL = SimConfig(workspaces=100, skills_per_workspace=3, sessions_per_workspace=1000,
                       seed=11)
# Agents that differ (sd 15pp) with few agents per workspace: ~10 held out, 30 sessions each.
CLUSTERED_EVAL = SimConfig(workspaces=100, skills_per_workspace=3, sessions_per_workspace=3000,
                           agents_per_workspace=100, agent_sd=0.15, seed=21)


def _rate(hits: int, total: int) -> float:
    return hits / total if total else float("nan")


def evaluate(config: SimConfig = DEFAULT_EVAL) -> dict[str, float]:
    fleet = simulate(config)
    results = session_results(fleet.sessions, fleet.outcomes)
    windows = skill_windows(fleet.skills)
    effects = skill_effects(results, windows, held_out_share=config.held_out_share,
                            confidence=RETIRE_CONFIDENCE, min_sample=RETIRE_MIN_SAMPLE)
    retired = {(d.workspace_id, d.skill_name)
               for d in retirement_decisions(effects, decided_at=START)}
    by_class: dict[str, list[SkillEffect]] = defaultdict(list)
    for e in effects:
        truth = fleet.truth[(e.workspace_id, e.skill_name)]
        by_class["helpful" if truth > 0 else "harmful" if truth < 0 else "null"].append(e)
    helpful, null, harmful = by_class["helpful"], by_class["null"], by_class["harmful"]
    non_harmful = helpful + null
    seq = _sequential_retirements(results, windows, config, fleet.truth, RETIRE_CONFIDENCE)
    seq99 = _sequential_retirements(results, windows, config, fleet.truth, 0.99)
    base = (config.base_start + config.base_end) / 2
    known = [e.held_out.known for e in effects] + [e.present.known for e in effects]
    return {
        "skills": float(len(effects)),
        "sessions": float(len(results)),
        "mean_known_present_per_skill": sum(e.present.known for e in effects) / len(effects),
        "mean_known_held_out_per_skill": sum(e.held_out.known for e in effects) / len(effects),
        "min_known_cohort": float(min(known)),
        "helpful_detected": _rate(sum(e.verdict == Verdict.EFFECTIVE for e in helpful), len(helpful)),
        "null_declared_effective": _rate(sum(e.verdict == Verdict.EFFECTIVE for e in null), len(null)),
        "harmful_declared_effective": _rate(sum(e.verdict == Verdict.EFFECTIVE for e in harmful), len(harmful)),
        "harmful_retired": _rate(sum((e.workspace_id, e.skill_name) in retired for e in harmful),
                                 len(harmful)),
        "non_harmful_retired": _rate(
            sum((e.workspace_id, e.skill_name) in retired for e in non_harmful), len(non_harmful)),
        "null_retired": _rate(sum((e.workspace_id, e.skill_name) in retired for e in null), len(null)),
        "insufficient_data": _rate(sum(e.verdict == Verdict.INSUFFICIENT_DATA for e in effects),
                                   len(effects)),
        "srm_flagged": _rate(sum(e.srm.mismatch for e in effects), len(effects)),
        "coverage": _rate(sum(e.effect.low <= fleet.truth[(e.workspace_id, e.skill_name)]
                              <= e.effect.high for e in effects), len(effects)),
        "sequential_looks": float(seq["looks"]),
        "sequential_harmful_retired": seq["harmful"],
        "sequential_non_harmful_retired": seq["non_harmful"],
        "sequential_null_retired": seq["null"],
        "sequential99_harmful_retired": seq99["harmful"],
        "sequential99_non_harmful_retired": seq99["non_harmful"],
        "sessions_needed_detect_80": float(sessions_needed(
            config.effect_size, base, config.held_out_share, power=0.8)),
        "sessions_needed_retire_90": float(sessions_needed(
            -config.effect_size, base, config.held_out_share, power=0.9)),
    }


def evaluate_clustering(config: SimConfig = CLUSTERED_EVAL) -> dict[str, float]:
    """Coverage and false verdicts on null skills with and without the per-agent design
    effect, on a fleet whose agents differ: what treating sessions as independent costs."""
    fleet = simulate(config)
    results = session_results(fleet.sessions, fleet.outcomes)
    windows = skill_windows(fleet.skills)
    out: dict[str, float] = {}
    for label, adjust in (("adjusted", True), ("naive", False)):
        effects = skill_effects(results, windows, held_out_share=config.held_out_share,
                                adjust_for_agents=adjust)
        truth = [fleet.truth[(e.workspace_id, e.skill_name)] for e in effects]
        null = [e for e, t in zip(effects, truth, strict=True) if t == 0]
        out[f"coverage_{label}"] = _rate(
            sum(e.effect.low <= t <= e.effect.high for e, t in zip(effects, truth, strict=True)),
            len(effects))
        out[f"null_false_verdicts_{label}"] = _rate(
            sum(e.verdict in (Verdict.EFFECTIVE, Verdict.HARMFUL) for e in null), len(null))
        out[f"harmful_retired_{label}"] = _rate(
            sum(e.verdict == Verdict.HARMFUL for e, t in zip(effects, truth, strict=True) if t < 0),
            sum(t < 0 for t in truth))
    return out


def _sequential_retirements(results, windows, config: SimConfig,
                            truth_of: dict[tuple[str, str], float],
                            confidence: float) -> dict[str, float]:
    """Apply the retirement rule at ``confidence`` at the end of every week on the data
    so far; a skill is retired at its first harmful look."""
    looks = max(1, config.days // 7)
    # tallies[window][week] = [known_present, succ_present, known_held, succ_held]
    tallies: dict[int, list[list[int]]] = {i: [[0, 0, 0, 0] for _ in range(looks + 1)]
                                           for i in range(len(windows))}
    by_ws = defaultdict(list)
    for i, w in enumerate(windows):
        by_ws[w.workspace_id].append((i, w))
    for r in results:
        if r.result == OutcomeResult.UNKNOWN:
            continue
        week = min(looks, int((r.started_at - START) / timedelta(days=7)))
        for i, w in by_ws.get(r.workspace_id, ()):
            if r.started_at < w.published_at:
                continue
            held = holdout_bucket(w.skill_name, r.agent_id) < config.held_out_share
            t = tallies[i][week]
            j = 2 if held else 0
            t[j] += 1
            t[j + 1] += r.result == OutcomeResult.SUCCESS
    retired_at_any: set[int] = set()
    for i in tallies:
        cum = [0, 0, 0, 0]
        for week in range(looks):
            cum = [a + b for a, b in zip(cum, tallies[i][week], strict=True)]
            if not has_minimum_sample(cum[0], cum[2], minimum=RETIRE_MIN_SAMPLE):
                continue
            if newcombe_diff(cum[1], cum[0], cum[3], cum[2], confidence).high < 0:
                retired_at_any.add(i)
                break
    truth = {i: truth_of[(w.workspace_id, w.skill_name)] for i, w in enumerate(windows)}
    harmful = [i for i, t in truth.items() if t < 0]
    non_harmful = [i for i, t in truth.items() if t >= 0]
    null = [i for i, t in truth.items() if t == 0]
    return {
        "looks": looks,
        "harmful": _rate(sum(i in retired_at_any for i in harmful), len(harmful)),
        "non_harmful": _rate(sum(i in retired_at_any for i in non_harmful), len(non_harmful)),
        "null": _rate(sum(i in retired_at_any for i in null), len(null)),
    }


def print_figures(title: str, figures: dict[str, float], seconds: float) -> None:
    print(f"== {title} ({seconds:.1f} s)")
    for name, value in figures.items():
        shown = f"{value:.0f}" if value >= 100 or name in ("skills", "sequential_looks") \
            else f"{value:.3f}"
        print(f"  {name:<34} {shown}")


def main(argv: list[str] | None = None) -> int:
    small_only = "--small" in (argv if argv is not None else sys.argv[1:])
    out: dict[str, float] = {}
    for title, config in ((("small", SMALL_EVAL),) if small_only else
                          (("default", DEFAULT_EVAL), ("small", SMALL_EVAL))):
        t0 = time.perf_counter()
        figures = evaluate(config)
        print_figures(f"{title}: {config.workspaces * config.skills_per_workspace} skills, "
                      f"{config.sessions_per_workspace} sessions per workspace, holdout "
                      f"{config.held_out_share:.0%}", figures, time.perf_counter() - t0)
        out.update({f"{title}_{k}": v for k, v in figures.items()})
    if not small_only:
        t0 = time.perf_counter()
        print_figures(f"clustered: agents differ (sd {CLUSTERED_EVAL.agent_sd:.0%}), "
                      f"{CLUSTERED_EVAL.agents_per_workspace} agents per workspace",
                      evaluate_clustering(CLUSTERED_EVAL), time.perf_counter() - t0)
    return 0


if __name__ == "__main__":
    sys.exit(main())

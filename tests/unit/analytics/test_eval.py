"""The attribution scored on a simulated fleet with known true effects (deterministic seed).

90 skills (30 helpful +10pp, 30 null, 30 harmful -10pp), about 4,000 known-outcome
sessions per skill, 10 % holdout, a drifting base rate and late outcomes. The thresholds
are the design targets; at this volume they hold with margin (see `make eval` for the
300-skill figures and the small-volume power loss).
"""

from __future__ import annotations

import pytest

from analytics.eval import evaluate
from analytics.simulator import SimConfig


@pytest.fixture(scope="module")
def figures() -> dict[str, float]:
    return evaluate(SimConfig(workspaces=30, sessions_per_workspace=4500, seed=3))


def test_helpful_skills_with_enough_data_are_detected(figures):
    assert figures["insufficient_data"] == 0.0
    assert figures["helpful_detected"] >= 0.80


def test_null_skills_are_rarely_declared_effective(figures):
    # Expected 2.5 % (0.75 of 30); 4 or more of 30 has probability < 1 % under the design.
    assert figures["null_declared_effective"] <= 0.10


def test_harmful_skills_are_never_declared_effective(figures):
    assert figures["harmful_declared_effective"] == 0.0


def test_retirement_catches_harmful_skills_and_spares_the_others(figures):
    assert figures["harmful_retired"] >= 0.90
    assert figures["non_harmful_retired"] <= 0.05


def test_intervals_cover_the_true_effect_about_95_percent(figures):
    assert 0.88 <= figures["coverage"] <= 1.0


def test_weekly_looks_cost_more_false_retirements_than_one_look(figures):
    assert figures["sequential_non_harmful_retired"] >= figures["non_harmful_retired"]
    assert figures["sequential99_non_harmful_retired"] <= figures["sequential_non_harmful_retired"]


def test_small_volume_loses_power_and_the_eval_says_so():
    small = evaluate(SimConfig(workspaces=10, sessions_per_workspace=600, seed=5))
    assert small["mean_known_held_out_per_skill"] < small["sessions_needed_retire_90"] * 0.1
    assert small["harmful_retired"] < 0.9


def test_agents_that_differ_need_the_design_effect_to_keep_intervals_honest():
    from analytics.eval import evaluate_clustering

    figures = evaluate_clustering(SimConfig(workspaces=30, sessions_per_workspace=3000,
                                            agents_per_workspace=100, agent_sd=0.15, seed=21))
    assert figures["coverage_adjusted"] >= 0.88
    assert figures["null_false_verdicts_adjusted"] <= 0.10
    # Treating one agent's sessions as independent: intervals far too narrow.
    assert figures["coverage_naive"] < 0.80
    assert figures["null_false_verdicts_naive"] > figures["null_false_verdicts_adjusted"]

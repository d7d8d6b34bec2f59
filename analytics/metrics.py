"""Prometheus metrics of the measure stage (defined once; low-cardinality labels only).

Per-skill numbers never become labels (skills are many); they live in the report. The
gauges describe the latest computation over the live skill versions: how many skills per
verdict (anytime-valid verdicts with false-discovery control, so a gauge read every ten
minutes does not inflate the error rate), the pooled success rate, known-outcome sessions
and randomized agent-periods per cohort (all skills' pairs), the designed holdout share,
when the report last ran and how long it took, and the retirements it made.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

SKILLS = Gauge("hivemind_measure_skills", "Skills per verdict in the latest report",
               ["verdict"])
SUCCESS_RATE = Gauge("hivemind_measure_success_rate",
                     "Pooled success rate of sessions in scope of a skill, by cohort",
                     ["cohort"])
KNOWN_SESSIONS = Gauge("hivemind_measure_known_sessions",
                       "Sessions with a known outcome in scope of a skill, by cohort",
                       ["cohort"])
OUTCOME_COVERAGE = Gauge("hivemind_measure_outcome_coverage_ratio",
                         "Share of in-scope sessions with a known outcome, by cohort",
                         ["cohort"])
CLUSTERS = Gauge("hivemind_measure_clusters",
                 "Randomized agent-periods with a known outcome in scope of a live skill, "
                 "by cohort", ["cohort"])
HOLDOUT_SHARE = Gauge("hivemind_measure_holdout_share_ratio",
                      "Designed share of agent-periods held out of each skill")
LAST_RUN = Gauge("hivemind_measure_last_run_timestamp_seconds",
                 "Unix time of the latest completed measure report")
RUN_SECONDS = Gauge("hivemind_measure_run_duration_seconds",
                    "Duration of the latest measure report")
RETIREMENTS = Counter("hivemind_measure_retirements_total",
                      "Skills retired for a harmful effect, by outcome", ["outcome"])

COHORTS = ("present", "held_out")
RETIREMENT_OUTCOMES = ("retired", "failed")


def initialise() -> None:
    """Create every labelled child at zero so dashboards and rules see the series."""
    for cohort in COHORTS:
        SUCCESS_RATE.labels(cohort=cohort)
        KNOWN_SESSIONS.labels(cohort=cohort)
        OUTCOME_COVERAGE.labels(cohort=cohort)
        CLUSTERS.labels(cohort=cohort)
    for outcome in RETIREMENT_OUTCOMES:
        RETIREMENTS.labels(outcome=outcome)

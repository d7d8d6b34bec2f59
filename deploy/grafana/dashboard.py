"""Grafana as code: builds deploy/grafana/dashboards/hivemind.json.

Run ``python deploy/grafana/dashboard.py`` after editing; a test checks the committed JSON
is what this file builds and that every metric it queries is exported by the code or
recorded by deploy/prometheus/rules. Rows: pipeline throughput and lag, agents' spools,
codifier economics, skills published/retired, success rate by cohort.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

DATASOURCE = {"type": "prometheus", "uid": "hivemind-prometheus"}
OUT = Path(__file__).parent / "dashboards" / "hivemind.json"


class _Layout:
    def __init__(self) -> None:
        self.y = 0
        self.x = 0
        self.next_id = 1
        self.panels: list[dict] = []

    def row(self, title: str) -> None:
        if self.x:
            self.y += 8
            self.x = 0
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1

    def panel(self, title: str, targets: list[tuple[str, str]], *, unit: str = "short",
              kind: str = "timeseries", width: int = 8, description: str = "",
              minimum: float | None = None, maximum: float | None = None) -> None:
        if self.x + width > 24:
            self.y += 8
            self.x = 0
        defaults: dict = {"unit": unit}
        if minimum is not None:
            defaults["min"] = minimum
        if maximum is not None:
            defaults["max"] = maximum
        panel = {
            "type": kind, "title": title, "id": self._id(), "datasource": DATASOURCE,
            "description": description,
            "gridPos": {"h": 8, "w": width, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": defaults, "overrides": []},
            "options": ({"legend": {"displayMode": "list", "placement": "bottom"},
                         "tooltip": {"mode": "multi"}} if kind == "timeseries"
                        else {"reduceOptions": {"calcs": ["lastNotNull"]}}),
            "targets": [{"refId": chr(ord("A") + i), "datasource": DATASOURCE, "expr": expr,
                         "legendFormat": legend} for i, (expr, legend) in enumerate(targets)],
        }
        self.panels.append(panel)
        self.x += width

    def _id(self) -> int:
        self.next_id += 1
        return self.next_id - 1


def build() -> dict:
    g = _Layout()
    g.row("Pipeline throughput and lag")
    g.panel("Events in (sessionizer) and sent (agents)", [
        ("hivemind:sessionizer_events:rate5m", "events read by the sessionizer"),
        ("hivemind:forwarder_sent:rate5m", "events confirmed from agents"),
    ], unit="ops")
    g.panel("Sessions closed by reason", [("hivemind:sessions_closed:rate5m", "{{reason}}")],
            unit="ops")
    g.panel("Rows into Delta by table", [("hivemind:sink_rows:rate5m", "{{table}}")], unit="rowsps")
    g.panel("Sink lag (records not yet in Delta)", [("hivemind:sink_lag_records:max", "{{table}}")],
            description="High watermark minus the table's app-transaction version.")
    g.panel("Delta commits by outcome", [("hivemind:sink_commits:rate5m", "{{table}} {{outcome}}")],
            unit="ops")
    g.panel("Commit time p95", [("hivemind:sink_commit_seconds:p95_5m", "p95")], unit="s")
    g.panel("Dead letters by stage", [("hivemind:dlq_records:rate5m", "{{stage}}")], unit="ops")
    g.panel("Open sessions", [("sum(hivemind_sessionizer_open_sessions)", "open")])
    g.panel("Late / duplicate events", [
        ("sum(rate(hivemind_sessionizer_late_events_total[5m]))", "late (re-opened)"),
        ("sum(rate(hivemind_sessionizer_duplicate_events_total[5m]))", "duplicate"),
        ("sum by (table) (rate(hivemind_sink_duplicates_dropped_total[5m]))", "sink dropped {{table}}"),
    ], unit="ops")

    g.row("Agents")
    g.panel("Spool backlog (records) per agent", [
        ("sum by (instance) (hivemind_spool_backlog_records)", "{{instance}}")])
    g.panel("Oldest spooled record age", [("hivemind:spool_oldest_age_seconds:max", "max")], unit="s")
    g.panel("Skill sync writes and conflicts", [
        ("sum by (action) (rate(hivemind_sync_writes_total[15m]))", "{{action}}"),
        ("sum(rate(hivemind_sync_conflicts_total[15m]))", "human-edited (kept)"),
    ], unit="ops")

    g.row("Codifier economics")
    g.panel("Model calls by outcome", [("hivemind:codifier_calls:rate5m", "{{outcome}}")], unit="ops")
    g.panel("Call error ratio", [("hivemind:codifier_call_errors:ratio_rate15m", "errors")],
            unit="percentunit", minimum=0, maximum=1)
    g.panel("Cost per hour", [("hivemind:codifier_cost_usd:rate1h", "USD/h")], unit="currencyUSD")
    g.panel("Tokens by direction", [
        ("sum by (direction) (rate(hivemind_codifier_tokens_total[5m]))", "{{direction}}")],
            unit="ops")
    g.panel("Latency p95", [("hivemind:codifier_latency_seconds:p95_5m", "p95")], unit="s")
    g.panel("Candidates waiting (budget / retry)", [
        ("sum(hivemind_codifier_waiting_candidates)", "waiting")])
    g.panel("Decisions", [("sum by (decision) (rate(hivemind_codifier_decisions_total[1h]))",
                           "{{decision}}")], unit="ops")
    g.panel("Guard rejections", [("sum by (guard) (rate(hivemind_codifier_guard_rejections_total[1h]))",
                                  "{{guard}}")], unit="ops")
    g.panel("Cost per published skill (24h)", [
        ("sum(increase(hivemind_codifier_cost_usd_total[24h])) / "
         "clamp_min(sum(increase(hivemind_codifier_skills_published_total[24h])), 1)", "USD/skill")],
            unit="currencyUSD", kind="stat")

    g.row("Skills published and retired")
    g.panel("Skill versions published (24h)", [
        ("sum(increase(hivemind_codifier_skills_published_total[24h]))", "published")], kind="stat")
    g.panel("Retirements (24h)", [
        ("sum by (outcome) (increase(hivemind_measure_retirements_total[24h]))", "{{outcome}}")],
            kind="stat")
    g.panel("Skills by verdict (latest report)", [("sum by (verdict) (hivemind_measure_skills)",
                                                    "{{verdict}}")], kind="bargauge")

    g.row("Success rate by cohort")
    g.panel("Success rate: with skills vs held out", [
        ("max by (cohort) (hivemind_measure_success_rate)", "{{cohort}}")],
            unit="percentunit", minimum=0, maximum=1, width=12,
            description="Pooled over every live skill's (session, skill) pairs, descriptive; "
                        "per-skill effects with anytime-valid intervals, verdicts and their "
                        "reasons are in `hivemind report --html`. Fixed 0-100% axis: a flat "
                        "line is flat.")
    g.panel("Sessions with a known outcome by cohort", [
        ("max by (cohort) (hivemind_measure_known_sessions)", "{{cohort}}")], width=6)
    g.panel("Randomized agent-periods by cohort", [
        ("max by (cohort) (hivemind_measure_clusters)", "{{cohort}}")], width=6,
            description="The units the switchback randomizes (an agent on one day): the "
                        "effective sample size. A verdict needs HIVEMIND_MEASURE_MIN_CLUSTERS "
                        "of them per cohort.")
    g.panel("Designed holdout share", [("max(hivemind_measure_holdout_share_ratio)", "share")],
            unit="percentunit", kind="stat", width=6)
    g.panel("Outcome coverage by cohort", [
        ("max by (cohort) (hivemind_measure_outcome_coverage_ratio)", "{{cohort}}")],
            unit="percentunit", minimum=0, maximum=1, width=6,
            description="Differential coverage between cohorts would bias the comparison.")
    return {
        "uid": "hivemind-overview", "title": "Hivemind", "tags": ["hivemind"],
        "schemaVersion": 39, "version": 1, "editable": False, "timezone": "utc",
        "refresh": "30s", "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": []}, "annotations": {"list": []},
        "panels": g.panels,
    }


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render())
    print(f"wrote {OUT}", file=sys.stderr)

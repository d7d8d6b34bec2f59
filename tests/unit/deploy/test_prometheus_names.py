"""Names in deploy/ (rules, Grafana) against the metrics the code exports.

Exported names are read from the source (every ``Counter("hivemind_...")``,
``Gauge(...)``, ``Histogram(...)``), so a renamed metric breaks this test instead of
silently emptying a dashboard or muting an alert.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[3]
PACKAGES = ["schemas", "producers", "streams", "sinks", "runtime", "cli", "analytics"]
DEFINITION = re.compile(r'\b(Counter|Gauge|Histogram|Summary)\(\s*"(hivemind_[a-z0-9_]+)"')
USED = re.compile(r"\b(hivemind[_:][a-zA-Z0-9_:]+)")


def exported_series() -> set[str]:
    names: set[str] = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            for kind, name in DEFINITION.findall(path.read_text(encoding="utf-8")):
                names.add(name)
                if kind in ("Histogram", "Summary"):
                    names |= {f"{name}_bucket", f"{name}_sum", f"{name}_count"}
    return names


def rule_groups() -> list[dict]:
    return [g for f in sorted((ROOT / "deploy/prometheus/rules").glob("*.yml"))
            for g in yaml.safe_load(f.read_text())["groups"]]


def recorded() -> set[str]:
    return {r["record"] for g in rule_groups() for r in g["rules"] if "record" in r}


def dashboard_exprs() -> list[str]:
    exprs = []
    for path in (ROOT / "deploy/grafana/dashboards").glob("*.json"):
        for panel in json.loads(path.read_text())["panels"]:
            exprs += [t["expr"] for t in panel.get("targets", [])]
    return exprs


def _check(exprs: list[str]) -> set[str]:
    known = exported_series() | recorded()
    used = {name for expr in exprs for name in USED.findall(expr)}
    assert used, "no hivemind metric found in the expressions"
    return used - known


def test_the_code_exports_the_stage_metrics_deploy_relies_on():
    names = exported_series()
    for expected in ("hivemind_sink_lag_records", "hivemind_dlq_records_total",
                     "hivemind_codifier_calls_total", "hivemind_sessionizer_sessions_closed_total",
                     "hivemind_spool_oldest_age_seconds", "hivemind_measure_success_rate"):
        assert expected in names


def test_rules_use_only_exported_or_recorded_names():
    exprs = [r["expr"] for g in rule_groups() for r in g["rules"]]
    assert _check(exprs) == set()


def test_dashboards_use_only_exported_or_recorded_names():
    assert _check(dashboard_exprs()) == set()


def test_recording_rule_names_follow_level_metric_operations():
    for name in recorded():
        assert re.fullmatch(r"hivemind:[a-z0-9_]+:[a-z0-9_]+", name), name


def test_dashboard_json_is_what_the_generator_builds():
    import importlib.util

    spec = importlib.util.spec_from_file_location("dashboard", ROOT / "deploy/grafana/dashboard.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    committed = (ROOT / "deploy/grafana/dashboards/hivemind.json").read_text()
    assert committed == module.render(), "run: python deploy/grafana/dashboard.py"


def test_dashboard_panels_query_the_provisioned_datasource():
    provisioned = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/prometheus.yml").read_text())
    uid = provisioned["datasources"][0]["uid"]
    dashboard = json.loads((ROOT / "deploy/grafana/dashboards/hivemind.json").read_text())
    panels = [p for p in dashboard["panels"] if p["type"] != "row"]
    assert {p["datasource"]["uid"] for p in panels} == {uid}
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])
    titles = " ".join(p["title"] for p in dashboard["panels"] if p["type"] == "row").lower()
    for section in ("throughput", "codifier", "retired", "cohort"):
        assert section in titles


def test_labels_are_low_cardinality():
    # No id-like label in any `by (...)` of rules or dashboards.
    exprs = [r["expr"] for g in rule_groups() for r in g["rules"]] + dashboard_exprs()
    for expr in exprs:
        for labels in re.findall(r"by \(([^)]*)\)", expr):
            for label in labels.split(","):
                assert not re.search(r"(workspace|session|skill|event|agent)", label.strip()), expr

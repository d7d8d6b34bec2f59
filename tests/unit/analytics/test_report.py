"""The report: honest plots (fixed axis, no smoothing, insufficient data shown), one
self-contained HTML page, PNGs, metrics, and the `hivemind report` command over a lake."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from hivemind_kafka.analytics.attribution import RatePoint, SessionResult
from hivemind_kafka.analytics.lake import MeasureTables
from hivemind_kafka.analytics.plots import svg_rate_chart
from hivemind_kafka.analytics.report import build_report, render_html, render_text, write_pngs
from hivemind_kafka.analytics.simulator import FleetConfig, simulate
from hivemind_kafka.analytics.stats import wilson
from hivemind_kafka.cli.main import main as hivemind
from hivemind_kafka.schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet():
    return simulate(FleetConfig(workspaces=2, sessions=6000, days=21, seed=9))


def _versions(fleet, workspace: str | None = None) -> int:
    return sum(1 for ws, _, _ in fleet.classes if workspace in (None, ws))


def _tables(fleet) -> MeasureTables:
    return MeasureTables(fleet.sessions, fleet.outcomes, fleet.skills, fleet.exposures)


def _point(day: int, known: int, successes: int) -> RatePoint:
    return RatePoint("ws", T0 + timedelta(days=day), known, successes, wilson(successes, known),
                     known >= 30)


def test_a_constant_rate_is_drawn_as_a_flat_line_on_a_fixed_axis():
    svg = svg_rate_chart({"ws": [_point(d, 100, 50) for d in range(5)]}, "flat")
    (line,) = re.findall(r'<polyline points="([^"]+)"', svg)
    ys = {pt.split(",")[1] for pt in line.split()}
    assert len(ys) == 1  # flat stays flat
    assert ">0%<" in svg and ">100%<" in svg  # the axis is 0..1, not zoomed on the noise


def test_insufficient_points_are_marked_and_never_joined_by_the_line():
    points = [_point(0, 100, 50), _point(1, 5, 5), _point(2, 100, 60)]
    svg = svg_rate_chart({"ws": points}, "gap")
    assert "insufficient data (5 sessions)" in svg
    lines = re.findall(r'<polyline points="([^"]+)"', svg)
    assert all(len(line.split()) == 1 for line in lines)  # two single-point runs, no bridge


def test_a_chart_without_enough_data_says_so_instead_of_drawing():
    svg = svg_rate_chart({"ws": [_point(0, 3, 1)]}, "thin")
    assert "insufficient data" in svg
    assert "<polyline" not in svg


def test_report_lists_every_skill_version_with_its_evidence(fleet):
    report = build_report(_tables(fleet), period="week", now=T0)
    assert len(report.effects) == _versions(fleet)
    text = render_text(report)
    for (_, name, _) in fleet.classes:
        assert name in text
    assert "non-randomized" in text
    assert sum(report.verdicts().values()) == _versions(fleet)
    # Per skill: agent-periods and outcome coverage per cohort, the verdict and why, a plan.
    assert "agent-periods" in text and "outcomes" in text and "plan (5pp)" in text
    assert text.count("why: ") == _versions(fleet)
    assert "anytime-valid" in text
    e = report.effects[0]
    assert f"{e.present.clusters:>6}/{e.held_out.clusters:<6}" in text


def test_skills_without_enough_sessions_read_insufficient_data(fleet):
    tables = _tables(fleet)
    few = tables.sessions.slice(0, 300)
    report = build_report(MeasureTables(few, tables.outcomes, tables.skills, None), now=T0)
    assert all(e.verdict.value == "insufficient_data" for e in report.effects
               if min(e.present.clusters, e.held_out.clusters) < 10)
    assert any(e.verdict.value == "insufficient_data" for e in report.effects)
    assert "insufficient data" in render_text(report)
    assert "insufficient data" in render_html(report)


def test_html_is_one_self_contained_page(fleet):
    html = render_html(build_report(_tables(fleet), period="week", now=T0))
    assert html.startswith("<!DOCTYPE html>")
    assert "<script" not in html
    assert not re.search(r'(src|href)=["\']', html)
    assert set(re.findall(r"https?://[^\s\"'<>]+", html)) <= {"http://www.w3.org/2000/svg"}
    assert html.count("<svg") >= 4  # forest + 2 workspaces + cohort charts
    assert "agent-periods (p/h)" in html and "outcome coverage (p/h)" in html
    assert "<th>why</th>" in html and "<th>plan</th>" in html


def test_pngs_are_written_for_forest_rates_and_cohorts(fleet, tmp_path):
    paths = write_pngs(build_report(_tables(fleet), period="week", now=T0), tmp_path)
    names = {p.name for p in paths}
    assert "forest.png" in names
    assert {f"rate-{w.workspace_id}.png" for w in fleet.workspaces} <= names
    assert any(n.startswith("cohorts-") for n in names)
    assert all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in paths)


def test_report_command_reads_the_lake_and_writes_html_png_and_metrics(fleet, tmp_path, monkeypatch, capsys):
    lake = tmp_path / "lake"
    for name, table in (("sessions", fleet.sessions), ("outcomes", fleet.outcomes),
                        ("skills", fleet.skills), ("exposures", fleet.exposures)):
        write_deltalake(str(lake / name), table)
    monkeypatch.setenv("HIVEMIND_LAKE", str(lake))
    monkeypatch.setenv("HIVEMIND_HOME", str(tmp_path / "home"))
    html, pngs, prom = tmp_path / "r.html", tmp_path / "png", tmp_path / "measure.prom"
    first, second = (w.workspace_id for w in fleet.workspaces)
    monkeypatch.setenv("HIVEMIND_MEASURE_HOLDOUT_SHARES", f"{second}=0.5")
    code = hivemind(["report", "--workspace", second, "--period", "week", "--html", str(html),
                     "--png", str(pngs), "--metrics-file", str(prom)])
    out = capsys.readouterr().out
    assert code == 0
    assert f"{second}/" in out and f"{first}/" not in out
    assert f"{second} 50%" in out  # the workspace's share is shown with the design
    assert html.exists() and (pngs / "forest.png").exists()
    metrics = prom.read_text()
    total = sum(float(v) for v in re.findall(r'^hivemind_measure_skills\{verdict="\w+"\} (\S+)$',
                                            metrics, re.M))
    assert total == _versions(fleet, second)
    assert re.search(r'^hivemind_measure_success_rate\{cohort="held_out"\} 0\.\d+', metrics, re.M)
    assert re.search(r'^hivemind_measure_clusters\{cohort="held_out"\} [1-9]', metrics, re.M)
    assert re.search(r'^hivemind_measure_holdout_share_ratio 0\.5', metrics, re.M)


def test_report_on_an_empty_lake_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HIVEMIND_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("HIVEMIND_HOME", str(tmp_path / "home"))
    assert hivemind(["report"]) == 0
    out = capsys.readouterr().out
    assert "missing tables" in out and "sessions" in out
    assert "no skills in scope" in out


def test_flat_fleet_reports_no_effect_for_a_skill_with_none():
    results = [SessionResult("ws", f"s{i}", f"agent-{i % 19}", T0 + timedelta(hours=i % 48),
                             OutcomeResult.SUCCESS if (i // 19) % 2 else OutcomeResult.FAILURE)
               for i in range(6000)]
    ts = pa.timestamp("us", tz="UTC")
    sessions = pa.table({"workspace_id": [r.workspace_id for r in results],
                         "session_id": [r.session_id for r in results],
                         "agent_id": [r.agent_id for r in results],
                         "started_at": pa.array([r.started_at for r in results], ts)})
    outcomes = pa.table({"outcome_id": [f"o{r.session_id}" for r in results],
                         "workspace_id": ["ws"] * len(results),
                         "session_id": [r.session_id for r in results],
                         "result": [r.result.value for r in results],
                         "ts": pa.array([r.started_at for r in results], ts)})
    skills = pa.table({"workspace_id": ["ws"], "name": ["noop"], "version": [1],
                       "retired": [False], "published_at": pa.array([T0 - timedelta(days=1)], ts)})
    report = build_report(MeasureTables(sessions, outcomes, skills, None), now=T0)
    (effect,) = report.effects
    assert effect.verdict.value in ("no_detectable_effect", "insufficient_data")
    assert effect.effect.low < 0 < effect.effect.high
    assert [round(p.rate.estimate, 2) for p in report.workspace_series["ws"]] == [0.5, 0.5]


def test_recorded_cohorts_that_contradict_the_assignment_are_reported(fleet, tmp_path):
    from hivemind_kafka.analytics.lake import read_exposures_jsonl
    from hivemind_kafka.schemas.holdout import HoldoutDesign
    from hivemind_kafka.schemas.outcomes import Cohort, Exposure, encode

    design = HoldoutDesign()
    ws, name, _ = next(iter(fleet.classes))
    agents = [f"{ws}-agent-{a:03d}" for a in range(40)]
    lines = []
    for i, agent in enumerate(agents):
        at = T0 + timedelta(days=i % 5)
        right = Cohort.HELD_OUT if design.is_held_out(name, agent, at) else Cohort.PRESENT
        wrong = Cohort.PRESENT if right == Cohort.HELD_OUT else Cohort.HELD_OUT
        lines.append(encode(Exposure(
            exposure_id=f"x{i}/{name}/assigned", workspace_id=ws,
            session_id=f"x{i}", agent_id=agent, skill_name=name, skill_version=1,
            cohort=wrong if i < 3 else right, ts=at)))
    path = tmp_path / "exposures.jsonl"
    path.write_bytes(b"\n".join(lines) + b'\n{"exposure_id": "torn')
    recorded = read_exposures_jsonl(path)
    assert recorded.num_rows == 40
    report = build_report(_tables(fleet), now=T0, recorded_exposures=recorded)
    assert report.cohort_disagreements == {f"{ws}/{name}": 3}
    assert f"{ws}/{name}: 3 exposure rows" in render_text(report)
    assert "Holdout disagreements" in render_html(report)
    assert read_exposures_jsonl(tmp_path / "absent.jsonl") is None

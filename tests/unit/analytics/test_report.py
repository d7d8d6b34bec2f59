"""The report: honest plots (fixed axis, no smoothing, insufficient data shown), one
self-contained HTML page, PNGs, metrics, and the `hivemind report` command over a lake."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pyarrow as pa
import pytest
from deltalake import write_deltalake

from analytics.attribution import RatePoint, SessionResult
from analytics.lake import MeasureTables
from analytics.plots import svg_rate_chart
from analytics.report import build_report, render_html, render_text, write_pngs
from analytics.simulator import SimConfig, simulate
from analytics.stats import wilson
from cli.main import main as hivemind
from schemas.outcomes import OutcomeResult

T0 = datetime(2026, 10, 5, tzinfo=UTC)


@pytest.fixture(scope="module")
def fleet():
    return simulate(SimConfig(workspaces=2, sessions_per_workspace=2500, agents_per_workspace=200,
                              days=21, seed=9))


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


def test_report_lists_every_skill_with_a_verdict_and_labels_invoked_as_non_randomized(fleet):
    report = build_report(_tables(fleet), period="week", now=T0)
    assert len(report.effects) == 6
    text = render_text(report)
    for (_, name) in fleet.truth:
        assert name in text
    assert "non-randomized" in text
    assert sum(report.verdicts().values()) == 6


def test_skills_without_enough_sessions_read_insufficient_data(fleet):
    tables = _tables(fleet)
    few = tables.sessions.slice(0, 300)
    report = build_report(MeasureTables(few, tables.outcomes, tables.skills, None), now=T0)
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


def test_pngs_are_written_for_forest_rates_and_cohorts(fleet, tmp_path):
    paths = write_pngs(build_report(_tables(fleet), period="week", now=T0), tmp_path)
    names = {p.name for p in paths}
    assert "forest.png" in names
    assert {"rate-sim-ws-0000.png", "rate-sim-ws-0001.png"} <= names
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
    code = hivemind(["report", "--workspace", "sim-ws-0001", "--period", "week", "--html", str(html),
                     "--png", str(pngs), "--metrics-file", str(prom)])
    out = capsys.readouterr().out
    assert code == 0
    assert "sim-ws-0001/" in out and "sim-ws-0000/" not in out
    assert html.exists() and (pngs / "forest.png").exists()
    metrics = prom.read_text()
    total = sum(float(v) for v in re.findall(r'^hivemind_measure_skills\{verdict="\w+"\} (\S+)$',
                                            metrics, re.M))
    assert total == 3.0
    assert re.search(r'^hivemind_measure_success_rate\{cohort="held_out"\} 0\.\d+', metrics, re.M)


def test_report_on_an_empty_lake_says_what_is_missing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("HIVEMIND_LAKE", str(tmp_path / "lake"))
    monkeypatch.setenv("HIVEMIND_HOME", str(tmp_path / "home"))
    assert hivemind(["report"]) == 0
    out = capsys.readouterr().out
    assert "missing tables" in out and "sessions" in out
    assert "no skills in scope" in out


def test_flat_fleet_reports_no_effect_for_a_skill_with_none():
    results = [SessionResult("ws", f"s{i}", f"agent-{i % 499}", T0 + timedelta(hours=i % 48),
                             OutcomeResult.SUCCESS if i % 2 else OutcomeResult.FAILURE)
               for i in range(6000)]
    sessions = pa.table({"workspace_id": [r.workspace_id for r in results],
                         "session_id": [r.session_id for r in results],
                         "agent_id": [r.agent_id for r in results],
                         "started_at": [r.started_at for r in results]})
    outcomes = pa.table({"outcome_id": [f"o{r.session_id}" for r in results],
                         "workspace_id": ["ws"] * len(results),
                         "session_id": [r.session_id for r in results],
                         "result": [r.result.value for r in results],
                         "ts": [r.started_at for r in results]})
    skills = pa.table({"workspace_id": ["ws"], "name": ["noop"], "version": [1],
                       "retired": [False], "published_at": [T0 - timedelta(days=1)]})
    report = build_report(MeasureTables(sessions, outcomes, skills, None), now=T0)
    (effect,) = report.effects
    assert effect.verdict.value == "no_detectable_effect"
    assert [p.rate.estimate for p in report.workspace_series["ws"]] == [0.5, 0.5]


def test_recorded_cohorts_that_contradict_the_assignment_are_reported(fleet, tmp_path):
    from analytics.lake import read_exposures_jsonl
    from schemas.holdout import is_held_out
    from schemas.outcomes import Cohort, Exposure, encode

    agents = [f"sim-ws-0000-agent-{a:04d}" for a in range(40)]
    lines = []
    for i, agent in enumerate(agents):
        right = Cohort.HELD_OUT if is_held_out("sim-skill-0000", agent) else Cohort.PRESENT
        wrong = Cohort.PRESENT if right == Cohort.HELD_OUT else Cohort.HELD_OUT
        lines.append(encode(Exposure(
            exposure_id=f"x{i}/sim-skill-0000/assigned", workspace_id="sim-ws-0000",
            session_id=f"x{i}", agent_id=agent, skill_name="sim-skill-0000", skill_version=1,
            cohort=wrong if i < 3 else right, ts=T0)))
    path = tmp_path / "exposures.jsonl"
    path.write_bytes(b"\n".join(lines) + b'\n{"exposure_id": "torn')
    recorded = read_exposures_jsonl(path)
    assert recorded.num_rows == 40
    report = build_report(_tables(fleet), now=T0, recorded_exposures=recorded)
    assert report.cohort_disagreements == {"sim-ws-0000/sim-skill-0000": 3}
    assert "sim-ws-0000/sim-skill-0000: 3 exposure rows" in render_text(report)
    assert "Holdout disagreements" in render_html(report)
    assert read_exposures_jsonl(tmp_path / "absent.jsonl") is None

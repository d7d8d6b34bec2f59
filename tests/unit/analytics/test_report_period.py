"""`hivemind report` picks its rate period from the data when --period is not given."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pyarrow as pa

from hivemind_kafka.analytics.report import AUTO_WEEK_AFTER, auto_period

T0 = datetime(2026, 11, 9, tzinfo=UTC)


def _sessions(*starts: datetime | None) -> pa.Table:
    return pa.table({"started_at": pa.array(list(starts), pa.timestamp("us", tz="UTC"))})


def test_no_sessions_or_no_table_reads_by_day():
    assert auto_period(None) == "day"
    assert auto_period(_sessions()) == "day"
    assert auto_period(_sessions(None, None)) == "day"


def test_a_few_days_read_by_day():
    assert auto_period(_sessions(T0, T0 + timedelta(days=6))) == "day"


def test_span_exactly_at_the_threshold_stays_daily_and_beyond_is_weekly():
    assert auto_period(_sessions(T0, T0 + AUTO_WEEK_AFTER)) == "day"
    assert auto_period(_sessions(T0, T0 + AUTO_WEEK_AFTER + timedelta(seconds=1))) == "week"


def test_the_demo_span_of_four_weeks_reads_by_week_whatever_the_row_order():
    late, early = T0 + timedelta(days=27, hours=23), T0 + timedelta(hours=1)
    assert auto_period(_sessions(late, None, early)) == "week"


def test_a_table_without_session_starts_reads_by_day():
    assert auto_period(pa.table({"x": [1]})) == "day"


def _lake(tmp_path, monkeypatch, days: int):
    from deltalake import write_deltalake

    from hivemind_kafka.analytics.simulator import FleetConfig, simulate

    fleet = simulate(FleetConfig(workspaces=2, sessions=800, days=days, seed=5))
    lake = tmp_path / f"lake{days}"
    for name, table in (("sessions", fleet.sessions), ("outcomes", fleet.outcomes),
                        ("skills", fleet.skills), ("exposures", fleet.exposures)):
        write_deltalake(str(lake / name), table)
    monkeypatch.setenv("HIVEMIND_LAKE", str(lake))
    monkeypatch.setenv("HIVEMIND_HOME", str(tmp_path / "home"))


def test_report_command_without_period_reads_four_weeks_by_week(tmp_path, monkeypatch, capsys):
    from hivemind_kafka.cli.main import main as hivemind

    _lake(tmp_path, monkeypatch, days=28)
    assert hivemind(["report"]) == 0
    out = capsys.readouterr().out
    assert "Success rate per week" in out and "Success rate per day" not in out
    assert hivemind(["report", "--period", "day"]) == 0
    assert "Success rate per day" in capsys.readouterr().out


def test_report_command_without_period_reads_ten_days_by_day(tmp_path, monkeypatch, capsys):
    from hivemind_kafka.cli.main import main as hivemind

    _lake(tmp_path, monkeypatch, days=10)
    assert hivemind(["report"]) == 0
    assert "Success rate per day" in capsys.readouterr().out

"""`hivemind sql` over real Delta tables in a temporary lake (no broker needed)."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from hivemind_kafka.analytics.sql import EXAMPLE_QUERIES, QueryFailed, connect, query_table
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.holdout import holdout_bucket, is_held_out, period_index
from hivemind_kafka.schemas.outcomes import Outcome, OutcomeResult
from hivemind_kafka.schemas.sessions import CloseReason, Session, session_uid
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.sinks.tables import SkillRow, table_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 25, 23, 0, tzinfo=UTC)


def lake_settings(root: Path) -> Settings:
    return Settings.from_env({}).replace(lake={"uri": str(root / "lake")})


def event(ws: str, sid: str, seq: int, kind: EventKind, **kw) -> TurnEvent:
    return TurnEvent(event_id=f"{ws}-{sid}-{seq}", workspace_id=ws, session_id=sid,
                     agent_id=f"agent-{sid}", agent_kind=AgentKind.CODING, project="p",
                     seq=seq, ts=T0 + timedelta(minutes=seq), kind=kind, **kw)


def tool_result(ws, sid, seq, tool, error):
    return event(ws, sid, seq, EventKind.TOOL_RESULT, tool_name=tool, is_error=error,
                 tool_use_id=f"u{seq}", tool_output="boom" if error else "ok")


def write_rows(settings: Settings, name: str, rows) -> None:
    """Append rows the way the sink does: its own Arrow builder and partitioning."""
    spec = table_spec(name)
    write_deltalake(settings.lake.table_uri(name), spec.to_arrow(rows), mode="append",
                    partition_by=list(spec.partition_by))


def write_events(settings: Settings, events: list[TurnEvent]) -> None:
    write_rows(settings, "events", events)


def session(ws: str, sid: str, started: datetime, events: int = 4, errors: int = 0,
            agent: str | None = None) -> Session:
    return Session(session_uid=session_uid(ws, sid, 0), workspace_id=ws, session_id=sid,
                   agent_id=agent or f"agent-{sid}", agent_kind=AgentKind.CODING, project="p",
                   started_at=started, ended_at=started + timedelta(minutes=5),
                   closed_at=started + timedelta(minutes=6), close_reason=CloseReason.STOP,
                   event_count=events, counts={"prompt": 1}, tools_used=["Bash"],
                   error_count=errors)


def skill_row(ws: str, name: str, published: datetime) -> SkillRow:
    prov = SkillProvenance(source_session_ids=["s1"], codifier="offline",
                           decision=Decision.KEEP, created_at=published)
    skill = Skill(workspace_id=ws, name=name, description="Fix the build", body="Run make.",
                  version=1, provenance=prov)
    return SkillRow(workspace_id=ws, name=name, skill=skill, published_at=published)


# Agents on each side of the switchback holdout of skill "fix-build" on the sessions' UTC
# days (schemas.holdout decides; s2 starts on the next day).
_AGENTS = [f"agent-{i}" for i in range(200)]
_DAYS = (T0, T0 + timedelta(hours=2))
HELD = [a for a in _AGENTS if is_held_out("fix-build", a, 0.5, at=T0)][:2]
PRESENT = [a for a in _AGENTS
           if not any(is_held_out("fix-build", a, 0.5, at=d) for d in _DAYS)][:3]


@pytest.fixture
def lake(tmp_path) -> Settings:
    """A lake with events, sessions, skills and outcomes, small and hand-checkable."""
    s = lake_settings(tmp_path)
    write_events(s, [
        # s1: Bash fails then works (corrected), Read works.
        event("ws-a", "s1", 0, EventKind.PROMPT, text="fix the build"),
        tool_result("ws-a", "s1", 1, "Bash", True),
        tool_result("ws-a", "s1", 2, "Bash", False),
        tool_result("ws-a", "s1", 3, "Read", False),
        # s2: Bash fails twice then works: one correction (fail->ok), Edit fails, never fixed.
        tool_result("ws-a", "s2", 0, "Bash", True),
        tool_result("ws-a", "s2", 1, "Bash", True),
        tool_result("ws-a", "s2", 2, "Edit", True),
        tool_result("ws-a", "s2", 3, "Bash", False),
        # s3 in another workspace: Edit fails then works.
        tool_result("ws-b", "s3", 0, "Edit", True),
        tool_result("ws-b", "s3", 1, "Edit", False),
    ])
    published = T0 - timedelta(days=1)
    write_rows(s, "skills", [skill_row("ws-a", "fix-build", published)])
    write_rows(s, "sessions", [
        session("ws-a", "s1", T0, 4, 1, agent=PRESENT[0]),
        session("ws-a", "s2", T0 + timedelta(hours=2), 4, 3, agent=PRESENT[1]),  # next UTC day
        session("ws-b", "s3", T0, 2, 1),  # another workspace: not in scope of the skill
        session("ws-a", "s4", T0, agent=HELD[0]),
        session("ws-a", "s5", T0, agent=HELD[1]),
        session("ws-a", "s6", T0, agent=PRESENT[2]),  # no outcome
        session("ws-a", "s0", published - timedelta(hours=1), agent=PRESENT[0]),  # before it
    ])
    outcomes = [("s1", "success", 1), ("s2", "failure", 1), ("s2", "success", 2),
                ("s4", "failure", 1), ("s5", "unknown", 1), ("s0", "failure", 1)]
    write_rows(s, "outcomes", [
        Outcome(outcome_id=f"{sid}-{i}", workspace_id="ws-a", session_id=sid, label=label,
                result=OutcomeResult(label), ts=T0 + timedelta(minutes=i))
        for sid, label, i in outcomes
    ])
    return s


def test_views_exist_only_for_tables_the_lake_has(tmp_path):
    s = lake_settings(tmp_path)
    write_events(s, [event("ws-a", "s1", 0, EventKind.PROMPT, text="hi")])
    con, tables = connect(s)
    try:
        assert [t.name for t in tables] == ["events"]
        assert tables[0].version == 0
    finally:
        con.close()
    with pytest.raises(QueryFailed) as err:
        query_table(s, "SELECT count(*) FROM sessions")
    assert "sessions" in str(err.value) and "tables in" in str(err.value)
    assert "events" in str(err.value).split("tables in", 1)[1]


def test_query_reads_every_appended_version(tmp_path):
    s = lake_settings(tmp_path)
    write_events(s, [event("ws-a", "s1", i, EventKind.PROMPT, text="x") for i in range(3)])
    write_events(s, [event("ws-a", "s1", i, EventKind.RESPONSE, text="y") for i in range(3, 5)])
    got = query_table(s, "SELECT kind, count(*) AS n FROM events GROUP BY kind ORDER BY kind")
    assert got.to_pylist() == [{"kind": "prompt", "n": 3}, {"kind": "response", "n": 2}]


def test_connection_cannot_download_extensions(tmp_path):
    s = lake_settings(tmp_path)
    con, _ = connect(s)
    try:
        rows = con.execute(
            "SELECT current_setting('autoinstall_known_extensions'), "
            "current_setting('autoload_known_extensions')").fetchall()
        assert rows == [(False, False)]
    finally:
        con.close()
    with pytest.raises(QueryFailed):
        query_table(s, "SELECT * FROM delta_scan('/nonexistent')")


def test_sessions_per_workspace_per_day_counts_utc_days(lake):
    rows = query_table(lake, EXAMPLE_QUERIES["sessions_per_workspace_per_day"]).to_pylist()
    got = [(r["workspace_id"], str(r["day"]), r["sessions"], r["tool_errors"]) for r in rows]
    assert got == [("ws-a", "2026-11-24", 1, 0), ("ws-a", "2026-11-25", 4, 1),
                   ("ws-b", "2026-11-25", 1, 1), ("ws-a", "2026-11-26", 1, 3)]


def test_top_corrected_tool_failures_counts_fail_then_success_only(lake):
    rows = query_table(lake, EXAMPLE_QUERIES["top_corrected_tool_failures"]).to_pylist()
    got = {r["tool_name"]: (r["corrected_failures"], r["sessions"]) for r in rows}
    # Bash: s1 (1) + s2 (the second failure is followed by success) = 2; Edit: s3 only.
    assert got == {"Bash": (2, 2), "Edit": (1, 1)}
    assert rows[0]["tool_name"] == "Bash"


def test_skill_effect_cohorts_agree_with_the_holdout_contract(lake):
    con, _ = connect(lake)
    try:
        sql = ("SELECT ('0x' || left(sha256('fix-build' || chr(0) || a || chr(0) || "
               "CAST(floor(epoch($t::TIMESTAMPTZ) / 86400) AS BIGINT)), 8))::UBIGINT "
               "/ 4294967296.0 FROM (SELECT unnest($agents) AS a)")
        got = {d: [r[0] for r in con.execute(sql, {"agents": _AGENTS, "t": d}).fetchall()]
               for d in _DAYS}
    finally:
        con.close()
    for d in _DAYS:
        assert got[d] == pytest.approx(
            [holdout_bucket("fix-build", a, period_index(d)) for a in _AGENTS], abs=1e-12)
    assert got[_DAYS[0]] != got[_DAYS[1]]  # re-drawn on the next day


def test_skill_effect_compares_cohorts_on_last_known_outcome(lake):
    rows = query_table(lake, EXAMPLE_QUERIES["skill_effect"]).to_pylist()
    by_cohort = {r["cohort"]: r for r in rows}
    assert set(by_cohort) == {"present", "held_out"}
    present, held = by_cohort["present"], by_cohort["held_out"]
    # present: s1 success, s2 failure then success (last wins), s6 no outcome; s0 started
    # before the skill existed and s3 is another workspace.
    assert (present["sessions"], present["with_outcome"], present["success_rate"]) == (3, 2, 1.0)
    # held out: s4 failure, s5 only an unknown outcome.
    assert (held["sessions"], held["with_outcome"], held["success_rate"]) == (2, 1, 0.0)


def run_cli(lake: Settings, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HIVEMIND_LAKE": lake.lake.uri, "HIVEMIND_HOME": lake.lake.uri + "/home"}
    return subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", *args], cwd=REPO, env=env,
                          input=stdin, capture_output=True, text=True, timeout=120)


def test_cli_formats_carry_the_same_rows(lake, tmp_path):
    query = ("SELECT event_id, kind, is_error, ts FROM events "
             "WHERE workspace_id = 'ws-a' ORDER BY event_id")
    out_csv = tmp_path / "r.csv"
    out_json = tmp_path / "r.jsonl"
    out_pq = tmp_path / "r.parquet"
    for fmt, path in (("csv", out_csv), ("json", out_json), ("parquet", out_pq)):
        done = run_cli(lake, "sql", query, "--format", fmt, "--output", str(path))
        assert done.returncode == 0, done.stderr
        assert "8 rows written" in done.stderr
    ids = [f"ws-a-s1-{i}" for i in range(4)] + [f"ws-a-s2-{i}" for i in range(4)]
    from_csv = list(csv.DictReader(io.StringIO(out_csv.read_text())))
    from_json = [json.loads(line) for line in out_json.read_text().splitlines()]
    from_pq = pq.read_table(out_pq).to_pylist()
    assert [r["event_id"] for r in from_csv] == ids
    assert [r["event_id"] for r in from_json] == ids
    assert [r["event_id"] for r in from_pq] == ids
    assert from_json[1]["is_error"] is True and from_json[0]["is_error"] is None
    assert from_json[0]["ts"] == "2026-11-25T23:00:00Z"
    assert from_pq[0]["ts"] == T0


def test_cli_table_format_is_aligned_and_reports_row_count(lake):
    done = run_cli(lake, "sql", "-", stdin="SELECT tool_name, count(*) AS n FROM events "
                   "WHERE kind = 'tool_result' GROUP BY 1 ORDER BY 1")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "tool_name | n"
    assert lines[2].startswith("Bash") and lines[2].endswith("5")
    assert lines[-1] == "(3 rows)"
    assert len({line.index("|") for line in lines[:5] if "|" in line}) == 1


def test_cli_bad_query_exits_2_with_one_line_and_tables(lake):
    done = run_cli(lake, "sql", "SELECT nope FROM nowhere")
    assert done.returncode == 2
    assert "nowhere" in done.stderr and "events" in done.stderr
    assert "Traceback" not in done.stderr


def test_cli_parquet_needs_output_file(lake):
    done = run_cli(lake, "sql", "SELECT 1", "--format", "parquet")
    assert done.returncode == 2 and "--output" in done.stderr

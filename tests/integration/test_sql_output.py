"""`hivemind sql` output writers on every kind of value DuckDB returns (HUGEINT sums,
decimals, maps, lists, structs, intervals, blobs, timestamps) and on long results."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pyarrow.parquet as pq
import pytest
from deltalake import write_deltalake

from hivemind_kafka.analytics.sql import (
    TABLE_MAX_ROWS,
    QueryFailed,
    query_table,
    run_query,
    write_result,
)
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.schemas.events import AgentKind
from hivemind_kafka.schemas.sessions import CloseReason, Session, session_uid
from hivemind_kafka.sinks.tables import table_spec

pytestmark = pytest.mark.integration

T0 = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
ODD_TYPES = """
SELECT sum(x) AS total, x::DECIMAL(10, 2) AS price, [x, 2] AS xs, MAP {'a': x} AS m,
       MAP {} AS empty_map, {'k': x} AS st, INTERVAL 90 MINUTE AS span, '\\xAA'::BLOB AS raw,
       TIMESTAMPTZ '2026-11-25 12:00:00+00' AS at, CAST(NULL AS VARCHAR) AS nothing
FROM (SELECT 1 AS x) GROUP BY x
"""


@pytest.fixture
def lake(tmp_path) -> Settings:
    s = Settings.from_env({}).replace(lake={"uri": str(tmp_path / "lake")})
    spec = table_spec("sessions")
    sessions = [
        Session(session_uid=session_uid("ws", f"s{i}", 0), workspace_id="ws", session_id=f"s{i}",
                agent_id="a", agent_kind=AgentKind.CODING, project="p", started_at=T0,
                ended_at=T0 + timedelta(minutes=i), closed_at=T0 + timedelta(minutes=i),
                close_reason=CloseReason.IDLE, event_count=i,
                counts={"prompt": i, "tool_call": 2 * i}, tools_used=["Bash", "Read"])
        for i in range(TABLE_MAX_ROWS + 5)
    ]
    write_deltalake(s.lake.table_uri("sessions"), spec.to_arrow(sessions),
                    partition_by=list(spec.partition_by))
    return s


def render(settings: Settings, sql: str, fmt: str) -> bytes:
    out = io.BytesIO()
    write_result(run_query(settings, sql), fmt, out)
    return out.getvalue()


def test_json_lines_carry_every_duckdb_type(lake):
    (row,) = [json.loads(line) for line in render(lake, ODD_TYPES, "json").splitlines()]
    assert row == {
        "total": 1, "price": 1.0, "xs": [1, 2], "m": {"a": 1}, "empty_map": {},
        "st": {"k": 1}, "span": {"months": 0, "days": 0, "nanoseconds": 5_400_000_000_000},
        "raw": "qg==", "at": "2026-11-25T12:00:00Z", "nothing": None,
    }


def test_csv_flattens_nested_values_to_json_text(lake):
    (row,) = list(csv.DictReader(io.StringIO(render(lake, ODD_TYPES, "csv").decode())))
    assert row["total"] == "1" and row["price"] == "1.00"
    assert json.loads(row["m"]) == {"a": 1} and json.loads(row["empty_map"]) == {}
    assert json.loads(row["xs"]) == [1, 2] and json.loads(row["st"]) == {"k": 1}
    assert row["raw"] == "qg==" and row["nothing"] == ""


def test_parquet_keeps_the_arrow_types(lake, tmp_path):
    path = tmp_path / "odd.parquet"
    sql = "SELECT * EXCLUDE (empty_map, span) FROM (" + ODD_TYPES + ")"
    with path.open("wb") as out:
        assert write_result(run_query(lake, sql), "parquet", out) == 1
    table = pq.read_table(path)
    assert str(table.schema.field("m").type).startswith("map<string")
    assert table.column("xs").to_pylist() == [[1, 2]]
    assert table.column("at").to_pylist() == [T0]


def test_parquet_of_an_untyped_column_fails_with_the_fix(lake, tmp_path):
    with (tmp_path / "bad.parquet").open("wb") as out, pytest.raises(QueryFailed, match="CAST"):
        write_result(run_query(lake, ODD_TYPES), "parquet", out)


def test_table_format_caps_rows_and_says_how_to_get_them_all(lake):
    text = render(lake, "SELECT session_id, counts, tools_used FROM sessions "
                        "ORDER BY event_count", "table").decode()
    lines = text.splitlines()
    assert len(lines) == 2 + TABLE_MAX_ROWS + 1
    assert lines[-1] == (f"({TABLE_MAX_ROWS + 5} rows, first {TABLE_MAX_ROWS} shown: "
                         "use --format csv|json|parquet --output FILE)")
    cells = [c.strip() for c in lines[2].split(" | ")]
    assert cells == ["s0", '{"prompt":0,"tool_call":0}', '["Bash","Read"]']


def test_table_format_truncates_long_cells_and_escapes_newlines(lake):
    text = render(lake, "SELECT repeat('x', 500) || chr(10) || 'y' AS long", "table").decode()
    cell = text.splitlines()[2]
    assert len(cell) == 60 and cell.endswith("…") and "\n" not in cell


def test_several_statements_run_in_order_and_the_last_one_is_the_result(lake):
    got = query_table(lake, "CREATE VIEW long_sessions AS SELECT * FROM sessions "
                            "WHERE event_count >= 1000; SELECT count(*) AS n FROM long_sessions")
    assert got.to_pylist() == [{"n": 5}]

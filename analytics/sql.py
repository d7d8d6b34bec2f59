"""Analysts' SQL over the lake: DuckDB on the Delta tables, offline, local or on S3.

Guarantee: a query sees, per table, one consistent Delta snapshot (the version current
when :func:`connect` opened it); tables that do not exist yet are simply not registered,
and a query naming one fails with DuckDB's "table ... does not exist" plus the list of
tables that do. Nothing is downloaded at run time: DuckDB's extension auto-install and
auto-load are switched off and the tables are read through ``deltalake`` (which knows
the S3 storage options) as Arrow datasets registered as DuckDB views, so filters and
projections are pushed down to the Parquet files.

Output writers stream record batches, so a large result never has to fit in memory
except for the human-readable ``table`` format, which is for screens and is capped.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as _dt
import decimal
import logging
import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING

import orjson
import pyarrow as pa

from hivemind_kafka.runtime.errors import HivemindError

if TYPE_CHECKING:
    import duckdb

    from hivemind_kafka.runtime.settings import Settings

log = logging.getLogger(__name__)

FORMATS = ("table", "csv", "json", "parquet")
# Screen output: at most this many rows and this many characters per cell.
TABLE_MAX_ROWS = 1000
TABLE_MAX_CELL = 60

# Documented queries (README); tests run each of them on a generated lake.
EXAMPLE_QUERIES: dict[str, str] = {
    # Sessions per workspace per UTC day, with their size and error counts.
    "sessions_per_workspace_per_day": """
SELECT workspace_id,
       CAST(started_at AS DATE)  AS day,
       count(*)                  AS sessions,
       round(avg(event_count), 1) AS avg_events,
       sum(error_count)          AS tool_errors
FROM sessions
GROUP BY ALL
ORDER BY day, workspace_id
""",
    # Tool failures the agent corrected: a failed tool_result followed, in the same
    # session, by a successful result of the same tool.
    "top_corrected_tool_failures": """
WITH results AS (
  SELECT workspace_id, session_id, tool_name, is_error,
         lead(is_error) OVER (PARTITION BY workspace_id, session_id, tool_name
                              ORDER BY seq) AS next_is_error
  FROM events
  WHERE kind = 'tool_result'
)
SELECT tool_name,
       count(*)                                  AS corrected_failures,
       count(DISTINCT workspace_id || '/' || session_id) AS sessions
FROM results
WHERE is_error AND NOT next_is_error
GROUP BY tool_name
ORDER BY corrected_failures DESC, tool_name
LIMIT 10
""",
    # Skill effect: success rate of sessions started after a skill was published, by the
    # switchback cohort of the session's agent and UTC day (schemas.holdout: sha256 of
    # skill, agent and day number; bucket < 0.5 = held out, the default share) and the
    # session's last known outcome. `hivemind report` uses the cohorts the sessions
    # recorded, clusters by agent-day and shows anytime-valid intervals.
    "skill_effect": """
WITH skill AS (
  SELECT workspace_id, name AS skill_name, min(published_at) AS published_at
  FROM skills
  WHERE NOT retired
  GROUP BY ALL
), scoped AS (
  SELECT k.skill_name, s.workspace_id, s.session_id,
         CASE WHEN ('0x' || left(sha256(k.skill_name || chr(0) || s.agent_id || chr(0)
                     || CAST(floor(epoch(s.started_at) / 86400) AS BIGINT)), 8))::UBIGINT
                   / 4294967296.0 < 0.5
              THEN 'held_out' ELSE 'present' END AS cohort
  FROM sessions s
  JOIN skill k ON s.workspace_id = k.workspace_id AND s.started_at >= k.published_at
), result AS (
  SELECT workspace_id, session_id, arg_max(result, ts) AS result
  FROM outcomes
  WHERE result <> 'unknown'
  GROUP BY ALL
)
SELECT skill_name,
       cohort,
       count(*)        AS sessions,
       count(r.result) AS with_outcome,
       round(avg(CASE r.result WHEN 'success' THEN 1.0
                               WHEN 'failure' THEN 0.0 END), 3) AS success_rate
FROM scoped
LEFT JOIN result r USING (workspace_id, session_id)
GROUP BY ALL
ORDER BY skill_name, cohort
""",
}


class QueryFailed(HivemindError):
    """DuckDB rejected or failed the query (syntax, unknown table or column...)."""


@dataclass(frozen=True)
class LakeTable:
    name: str
    uri: str
    version: int


def connect(settings: Settings, names: Iterable[str] | None = None
            ) -> tuple[duckdb.DuckDBPyConnection, list[LakeTable]]:
    """An in-memory DuckDB connection with one view per existing lake table.

    The caller closes the connection. Extension download is disabled, so a query that
    would need one (``read_json`` of a URL, ``delta_scan``...) fails instead of reaching
    the network.
    """
    import duckdb
    from deltalake import DeltaTable

    from hivemind_kafka.sinks.maintenance import existing_tables

    con = duckdb.connect(config={
        "autoinstall_known_extensions": False,
        "autoload_known_extensions": False,
    })
    # Days and hours in query results are UTC whatever the machine's zone.
    with contextlib.suppress(duckdb.Error):
        con.execute("SET TimeZone = 'UTC'")
    opts = settings.lake.storage_options() or None
    tables = []
    for name, uri in existing_tables(settings, names).items():
        dt = DeltaTable(uri, storage_options=opts)
        con.register(name, dt.to_pyarrow_dataset())
        tables.append(LakeTable(name=name, uri=uri, version=dt.version()))
        log.debug("registered table=%s version=%d", name, dt.version())
    return con, tables


def run_query(settings: Settings, sql: str, *, batch_rows: int = 65_536) -> pa.RecordBatchReader:
    """Run ``sql`` over the lake; the result as a stream of Arrow record batches.

    Raises :class:`QueryFailed` with DuckDB's message and the tables available.
    """
    import duckdb

    con, tables = connect(settings)
    try:
        relation = con.sql(sql)
        if relation is None:  # a statement without a result (SET, CREATE VIEW...)
            relation = con.sql("SELECT 'ok' AS status")
        reader = relation.to_arrow_reader(batch_rows)
    except duckdb.Error as exc:
        con.close()
        have = ", ".join(t.name for t in tables) or "none yet (the sink has written nothing)"
        raise QueryFailed(f"{exc}\n  tables in {settings.lake.uri}: {have}") from None
    # The reader keeps the connection alive while it is consumed.
    return _ClosingReader(reader, con).reader


def query_table(settings: Settings, sql: str) -> pa.Table:
    """Run ``sql`` and collect the whole result (for tests and small results)."""
    return run_query(settings, sql).read_all()


class _ClosingReader:
    """Wraps a reader so the DuckDB connection lives as long as the batches are read."""

    def __init__(self, reader: pa.RecordBatchReader, con: duckdb.DuckDBPyConnection) -> None:
        self._con = con
        schema = reader.schema

        def batches() -> Iterator[pa.RecordBatch]:
            try:
                yield from reader
            finally:
                con.close()

        self.reader = pa.RecordBatchReader.from_batches(schema, batches())


# --- output ---------------------------------------------------------------------------

def write_result(reader: pa.RecordBatchReader, fmt: str, out: IO[bytes]) -> int:
    """Write a result in ``fmt`` (table|csv|json|parquet) to a binary stream; rows written.

    ``json`` is JSON Lines (one object per row, timestamps in RFC 3339); ``parquet``
    needs a seekable file, not a terminal.
    """
    if fmt == "csv":
        return _write_csv(reader, out)
    if fmt == "json":
        return _write_jsonl(reader, out)
    if fmt == "parquet":
        return _write_parquet(reader, out)
    if fmt == "table":
        return _write_table(reader, out)
    raise HivemindError(f"unknown format {fmt!r}: choose one of {', '.join(FORMATS)}")


def _write_csv(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    import pyarrow.csv as pcsv

    rows = 0
    # Quote header names only when one needs it (pyarrow would quote all of them).
    plain = all(not set(n) & set(',"\r\n') for n in reader.schema.names)
    options = pcsv.WriteOptions(quoting_style="needed",
                                quoting_header="none" if plain else "needed")
    with pcsv.CSVWriter(out, _csv_safe_schema(reader.schema), write_options=options) as writer:
        for batch in reader:
            writer.write_batch(_csv_safe_batch(batch))
            rows += batch.num_rows
    return rows


def _csv_safe_schema(schema: pa.Schema) -> pa.Schema:
    return pa.schema([pa.field(f.name, _csv_type(f.type)) for f in schema])


def _csv_native(t: pa.DataType) -> bool:
    return (pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t)
            or pa.types.is_boolean(t) or pa.types.is_string(t) or pa.types.is_large_string(t)
            or pa.types.is_timestamp(t) or pa.types.is_date(t) or pa.types.is_time(t)
            or pa.types.is_null(t))


def _csv_type(t: pa.DataType) -> pa.DataType:
    return t if _csv_native(t) else pa.string()


def _csv_safe_batch(batch: pa.RecordBatch) -> pa.RecordBatch:
    """CSV holds scalars only: lists, maps and structs become JSON text, binary base64."""
    cols = []
    for col in batch.columns:
        if _csv_native(col.type):
            cols.append(col)
        else:
            cols.append(pa.array([None if v is None else _json_text(v)
                                  for v in _py_column(col)], type=pa.string()))
    return pa.RecordBatch.from_arrays(cols, schema=_csv_safe_schema(batch.schema))


def _json_text(value: object) -> str:
    """Nested values as JSON; scalars (strings, base64 of bytes) as plain text."""
    ready = _jsonable(value)
    if isinstance(ready, str):
        return ready
    return orjson.dumps(ready, option=_JSON_OPTIONS).decode()


def _write_jsonl(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    rows = 0
    for batch in reader:
        columns = [_py_column(col) for col in batch.columns]
        names = batch.schema.names
        for values in zip(*columns, strict=True):
            row = {n: _jsonable(v) for n, v in zip(names, values, strict=True)}
            out.write(orjson.dumps(row, option=_JSON_OPTIONS))
            out.write(b"\n")
            rows += 1
    return rows


_JSON_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_UTC_Z


def _py_column(col: pa.Array) -> list:
    """Python values of a column; a map column gives dicts (Arrow gives (key, value) lists)."""
    if pa.types.is_map(col.type):
        return [None if v is None else {str(k): x for k, x in v} for v in col.to_pylist()]
    return col.to_pylist()


def _jsonable(value: object) -> object:
    """A JSON-ready version of what Arrow's to_pylist gives for any DuckDB result type."""
    if isinstance(value, list):
        if value and all(isinstance(v, tuple) and len(v) == 2 for v in value):
            return {str(k): _jsonable(v) for k, v in value}  # a map nested in a list/struct
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, decimal.Decimal):  # DuckDB sums are HUGEINT -> decimal128(38, 0)
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, _dt.timedelta):
        return value.total_seconds()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, pa.MonthDayNano):
        return {"months": value.months, "days": value.days, "nanoseconds": value.nanoseconds}
    return value


def _write_parquet(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    import pyarrow.parquet as pq

    rows = 0
    try:
        with pq.ParquetWriter(out, reader.schema) as writer:
            for batch in reader:
                writer.write_batch(batch)
                rows += batch.num_rows
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
        raise QueryFailed(f"the result cannot be written as Parquet ({exc}): CAST the "
                          "column to a concrete type in the query, or use --format json") from None
    return rows


def _write_table(reader: pa.RecordBatchReader, out: IO[bytes]) -> int:
    names = reader.schema.names
    cells: list[list[str]] = []
    total = 0
    for batch in reader:
        total += batch.num_rows
        room = TABLE_MAX_ROWS - len(cells)
        if room > 0:
            columns = [_py_column(col) for col in batch.slice(0, room).columns]
            cells.extend([_cell(v) for v in values] for values in zip(*columns, strict=True))
    widths = [len(n) for n in names]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    numeric = [pa.types.is_integer(f.type) or pa.types.is_floating(f.type)
               or pa.types.is_decimal(f.type) for f in reader.schema]

    def line(values: list[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w)
                 for v, w, num in zip(values, widths, numeric, strict=True)]
        return " | ".join(parts).rstrip()

    lines = [line(list(names)), "-+-".join("-" * w for w in widths)]
    lines += [line(r) for r in cells]
    shown = len(cells)
    footer = f"({total} row{'s' if total != 1 else ''}"
    footer += f", first {shown} shown: use --format csv|json|parquet --output FILE)" \
        if shown < total else ")"
    lines.append(footer)
    out.write(("\n".join(lines) + "\n").encode())
    return total


def _cell(value: object) -> str:
    if value is None:
        text = "NULL"
    elif isinstance(value, _dt.datetime):
        text = value.isoformat(sep=" ", timespec="seconds")
    elif isinstance(value, float):
        text = f"{value:.6g}"
    elif isinstance(value, list | dict | bytes | pa.MonthDayNano):
        text = _json_text(value)
    else:
        text = str(value)
    text = text.replace("\n", "\\n").replace("\t", " ")
    return text if len(text) <= TABLE_MAX_CELL else text[: TABLE_MAX_CELL - 1] + "…"

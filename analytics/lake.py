"""Read the measure tables from the Delta lake (thin adapter over deltalake).

``read_measure_tables(settings, workspace=None)`` returns the four inputs of the
attribution as pyarrow tables: ``sessions``, ``outcomes`` (signal ``outcomes`` and
``detected_outcomes`` concatenated), ``skills`` and ``exposures``. A table that does not
exist yet reads as None (the report then says what is missing); any other read failure
raises. Only the columns the attribution needs are read, filtered to one workspace when
given (partition pruning on ``workspace_id``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import msgspec
import pyarrow as pa
from msgspec import Struct

from hivemind_kafka.runtime.settings import Settings

log = logging.getLogger(__name__)

COLUMNS = {
    # agent_kind, generation, ended_at and the edit counts: the headline metrics
    # (analytics.headline) and the outcome horizon; absent columns (old tables) are skipped.
    "sessions": ["workspace_id", "session_id", "generation", "agent_id", "agent_kind",
                 "started_at", "ended_at", "outcome", "edits_accepted", "edits_rejected"],
    "outcomes": ["outcome_id", "workspace_id", "session_id", "label", "result", "source", "ts"],
    "detected_outcomes": ["outcome_id", "workspace_id", "session_id", "label", "result",
                          "source", "ts"],
    "skills": ["workspace_id", "name", "version", "retired", "published_at", "content_hash"],
    "exposures": ["workspace_id", "session_id", "agent_id", "skill_name", "skill_version",
                  "cohort", "invoked", "ts"],
}


class MeasureTables(Struct, frozen=True):
    sessions: pa.Table | None
    outcomes: pa.Table | None
    skills: pa.Table | None
    exposures: pa.Table | None

    def missing(self) -> list[str]:
        return [name for name in ("sessions", "outcomes", "skills", "exposures")
                if getattr(self, name) is None]


def read_table(settings: Settings, name: str, *, workspace: str | None = None,
               columns: list[str] | None = None) -> pa.Table | None:
    """One Delta table as Arrow (None when it does not exist)."""
    from deltalake import DeltaTable

    uri = settings.lake.table_uri(name)
    options = settings.lake.storage_options()
    if not DeltaTable.is_deltatable(uri, storage_options=options):
        log.info("table %s does not exist yet at %s", name, uri)
        return None
    dt = DeltaTable(uri, storage_options=options)
    present = set(dt.schema().to_arrow().names) if hasattr(dt.schema(), "to_arrow") else None
    wanted = columns
    if present is not None and columns is not None:
        wanted = [c for c in columns if c in present]
    filters = [("workspace_id", "=", workspace)] if workspace else None
    return dt.to_pyarrow_table(columns=wanted, filters=filters)


def read_measure_tables(settings: Settings, *, workspace: str | None = None) -> MeasureTables:
    got = {name: read_table(settings, name, workspace=workspace, columns=cols)
           for name, cols in COLUMNS.items()}
    outcome_parts = [t for t in (got["outcomes"], got["detected_outcomes"]) if t is not None]
    outcomes = (pa.concat_tables(outcome_parts, promote_options="default")
                if outcome_parts else None)
    return MeasureTables(sessions=got["sessions"], outcomes=outcomes, skills=got["skills"],
                         exposures=got["exposures"])


def read_exposures_jsonl(path: Path) -> pa.Table | None:
    """The sync's ``<home>/exposures.jsonl`` (one ``schemas.outcomes.Exposure`` per line) as
    an exposures table; None when the file does not exist. Lines that do not decode (a
    torn last line) are skipped and counted in the log."""
    from hivemind_kafka.schemas.arrow import arrow_schema, table_from_structs
    from hivemind_kafka.schemas.outcomes import Exposure, decode_exposure

    if not path.exists():
        return None
    rows, bad = [], 0
    with open(path, "rb") as f:
        for line in f:
            if not line.strip():
                continue
            try:
                rows.append(decode_exposure(line))
            except msgspec.MsgspecError:
                bad += 1
    if bad:
        log.warning("skipped %d undecodable lines of %s", bad, path)
    return table_from_structs(Exposure, rows, arrow_schema(Exposure))

"""LakeTable on a local lake (no Kafka): creation races and the commit conflict."""

from __future__ import annotations

import multiprocessing

import pytest

from runtime.errors import CommitConflict
from sinks.lake_table import LakeTable
from sinks.tables import EVENTS_SCHEMA, events_to_arrow
from tests.integration.test_sink import events_of

pytestmark = pytest.mark.integration


def _open_tables(root: str, trials: int, barrier) -> int:
    """In a separate process (deltalake may hold the GIL, which would serialize threads)."""
    from pathlib import Path

    failures = 0
    for trial in range(trials):
        barrier.wait(30)
        try:
            LakeTable(str(Path(root) / f"events{trial}"), EVENTS_SCHEMA, ["workspace_id", "ts_date"])
        except Exception:
            failures += 1
    return failures


def test_sink_instances_racing_to_create_a_table_all_open_it(tmp_path):
    trials, workers = 10, 3
    ctx = multiprocessing.get_context("spawn")
    with ctx.Manager() as manager:
        barrier = manager.Barrier(workers)
        with ctx.Pool(workers) as pool:
            failures = pool.starmap(_open_tables, [(str(tmp_path), trials, barrier)] * workers)
    assert failures == [0] * workers
    for trial in range(trials):
        table = LakeTable(str(tmp_path / f"events{trial}"), EVENTS_SCHEMA,
                          ["workspace_id", "ts_date"])
        assert table.read().schema.names == EVENTS_SCHEMA.names


def test_append_over_a_newer_commit_of_the_same_app_id_is_a_conflict(tmp_path):
    uri = str(tmp_path / "events")
    stale = LakeTable(uri, EVENTS_SCHEMA, ["workspace_id", "ts_date"])
    fresh = LakeTable(uri, EVENTS_SCHEMA, ["workspace_id", "ts_date"])
    fresh.append(events_to_arrow(events_of("ws-a", "s1", 0, 5)), {"sink-t-0": 4})
    with pytest.raises(CommitConflict):
        stale.append(events_to_arrow(events_of("ws-a", "s1", 0, 3)), {"sink-t-0": 2})
    stale.reload()
    assert stale.transaction_version("sink-t-0") == 4
    assert stale.read().num_rows == 5

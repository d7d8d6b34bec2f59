"""LakeTable on a local lake (no Kafka): creation races and the commit conflict."""

from __future__ import annotations

import multiprocessing

import pytest

from hivemind_kafka.runtime.errors import CommitConflict
from hivemind_kafka.sinks.lake_table import LakeTable
from hivemind_kafka.sinks.tables import EVENTS_SCHEMA, events_to_arrow
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


def test_existing_keys_finds_old_late_and_recent_duplicates_among_many_files(tmp_path):
    """The file pruning (partition values, minute ranges of ``ts``) must never hide a
    stored key: duplicates from the first, a middle and the last commit, an hour apart,
    in another workspace, and at a minute's edge are all found; fresh keys are not."""
    from datetime import timedelta

    import msgspec
    import pyarrow as pa

    table = LakeTable(str(tmp_path / "events"), EVENTS_SCHEMA, ["workspace_id", "ts_date"])
    stored = []
    for c in range(40):
        batch = [msgspec.structs.replace(e, ts=e.ts + timedelta(minutes=3 * c))
                 for e in events_of(f"ws-{c % 3}", f"c{c}", 0, 5)]
        stored += batch
        table.append(events_to_arrow(batch), {"app": c})
    resent = [stored[0], stored[101], stored[-1], stored[59]]
    fresh = [msgspec.structs.replace(e, event_id=f"fresh-{i}", ts=e.ts + timedelta(seconds=1))
             for i, e in enumerate(resent)]
    data = pa.concat_tables([events_to_arrow(resent), events_to_arrow(fresh)])
    table.reload()
    assert table.existing_keys(data, "event_id", within="ts") == {e.event_id for e in resent}
    assert table.existing_keys(data, "event_id") == {e.event_id for e in resent}

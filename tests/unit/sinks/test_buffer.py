"""TableBuffer: offsets it accepts, duplicates it drops, and when it asks for a flush."""

from hivemind_kafka.sinks.buffer import RecentKeys, TableBuffer


def _buffer(window: int = 100) -> TableBuffer:
    return TableBuffer(dedup_key=lambda row: row, dedup_window=window)


def test_recent_keys_forget_the_oldest_beyond_capacity():
    keys = RecentKeys(2)
    assert not keys.seen_before("a")
    assert not keys.seen_before("b")
    assert keys.seen_before("a")
    assert not keys.seen_before("c")  # evicts "a"
    assert not keys.seen_before("a")
    assert len(keys) == 2


def test_records_at_or_below_the_table_version_are_already_accepted():
    buf = _buffer()
    buf.assign(0, 41)
    assert buf.is_already_accepted(0, 41)
    assert not buf.is_already_accepted(0, 42)


def test_records_of_unowned_partitions_are_never_accepted():
    buf = _buffer()
    assert buf.is_already_accepted(3, 0)


def test_replayed_record_after_buffering_is_already_accepted():
    buf = _buffer()
    buf.assign(0, None)
    buf.accept(0, 0, ["a"], now=0.0)
    assert buf.is_already_accepted(0, 0)


def test_duplicate_keys_within_the_window_are_dropped_across_records():
    buf = _buffer()
    buf.assign(0, None)
    assert buf.accept(0, 0, ["a", "b"], now=0.0) == 0
    assert buf.accept(0, 1, ["b", "c"], now=0.0) == 1
    assert buf.take().rows == ["a", "b", "c"]


def test_same_key_on_two_partitions_is_kept_on_both():
    buf = _buffer()
    buf.assign(0, None)
    buf.assign(1, None)
    buf.accept(0, 0, ["a"], now=0.0)
    assert buf.accept(1, 0, ["a"], now=0.0) == 0


def test_rows_without_a_key_are_never_deduplicated():
    buf = TableBuffer(dedup_key=lambda row: None, dedup_window=10)
    buf.assign(0, None)
    buf.accept(0, 0, ["x", "x"], now=0.0)
    assert buf.take().rows == ["x", "x"]


def test_batch_carries_the_last_offset_per_partition_even_without_rows():
    buf = _buffer()
    buf.assign(0, 9)
    buf.assign(1, None)
    buf.accept(0, 10, [], now=0.0)  # e.g. an undecodable record
    buf.accept(1, 0, ["a"], now=0.0)
    buf.accept(1, 1, ["b"], now=0.0)
    batch = buf.take()
    assert batch.last_written_offsets == {0: 10, 1: 1}
    assert batch.rows == ["a", "b"]


def test_committed_batch_becomes_the_last_written_offset():
    buf = _buffer()
    buf.assign(0, None)
    buf.accept(0, 5, ["a"], now=0.0)
    batch = buf.take()
    assert buf.last_written_offset(0) is None
    buf.committed(batch)
    assert buf.last_written_offset(0) == 5
    assert not buf.take()


def test_revoke_drops_rows_and_the_window_so_a_reassignment_rereads_them():
    buf = _buffer()
    buf.assign(0, None)
    buf.accept(0, 0, ["a"], now=0.0)
    buf.revoke(0)
    assert buf.buffered_rows == 0
    buf.assign(0, None)
    assert not buf.is_already_accepted(0, 0)
    assert buf.accept(0, 0, ["a"], now=0.0) == 0


def test_reset_moves_position_to_the_other_writers_version():
    buf = _buffer()
    buf.assign(0, 3)
    buf.accept(0, 4, ["a"], now=0.0)
    buf.reset(0, 20)
    assert buf.last_written_offset(0) == 20
    assert buf.is_already_accepted(0, 20)
    assert not buf.is_already_accepted(0, 21)


def test_flush_is_due_at_flush_rows():
    buf = _buffer()
    buf.assign(0, None)
    buf.accept(0, 0, ["a", "b"], now=0.0)
    assert not buf.is_due(0.0, flush_rows=3, flush_seconds=60)
    buf.accept(0, 1, ["c"], now=0.0)
    assert buf.is_due(0.0, flush_rows=3, flush_seconds=60)


def test_flush_is_due_when_the_oldest_record_reaches_flush_seconds():
    buf = _buffer()
    buf.assign(0, None)
    buf.accept(0, 0, [], now=10.0)
    buf.accept(0, 1, [], now=14.0)
    assert not buf.is_due(14.9, flush_rows=100, flush_seconds=5)
    assert buf.is_due(15.0, flush_rows=100, flush_seconds=5)


def test_empty_buffer_is_never_due():
    buf = _buffer()
    buf.assign(0, None)
    assert not buf.is_due(1e9, flush_rows=1, flush_seconds=0)


def test_repeat_inside_one_record_is_dropped():
    buf = _buffer()
    buf.assign(0, None)
    assert buf.accept(0, 0, ["a", "b", "a"], now=0.0) == 1
    assert buf.take().rows == ["a", "b"]


def test_record_larger_than_the_window_keeps_only_the_newest_keys():
    buf = _buffer(window=3)
    buf.assign(0, None)
    assert buf.accept(0, 0, ["a", "b", "c", "d", "e"], now=0.0) == 0
    assert buf.accept(0, 1, ["c", "d", "e", "a"], now=0.0) == 3  # "a" fell out of the window


def test_all_new_keys_stay_bounded_by_the_window():
    keys = RecentKeys(4)
    assert keys.add_all_if_new(["a", "b", "c"])
    assert keys.add_all_if_new(["d", "e"])
    assert len(keys) == 4
    assert not keys.seen_before("a")  # evicted: new again
    assert not keys.add_all_if_new(["x", "e"])  # "e" is in the window: nothing added
    assert not keys.seen_before("x")


def test_rewound_log_is_read_again_and_its_lower_offset_becomes_the_version():
    buf = _buffer()
    buf.assign(0, 500)  # the table holds offsets up to 500 of the old log
    assert buf.is_already_accepted(0, 3)
    buf.rewind(0, 0)  # the recreated topic delivers offset 0
    assert not buf.is_already_accepted(0, 0)
    buf.accept(0, 0, ["x"], now=0.0)
    buf.accept(0, 1, ["y"], now=0.0)
    batch = buf.take()
    assert batch.last_written_offsets == {0: 1}
    assert buf.last_written_offset(0) == 500  # the conflict check still expects the table's
    buf.committed(batch)
    assert buf.last_written_offset(0) == 1  # lowered once, then monotonic again
    assert buf.is_already_accepted(0, 1) and not buf.is_already_accepted(0, 2)


def test_rewind_to_a_middle_offset_accepts_from_there():
    buf = _buffer()
    buf.assign(0, 90)
    buf.rewind(0, 40)
    assert buf.is_already_accepted(0, 39)
    assert not buf.is_already_accepted(0, 40)

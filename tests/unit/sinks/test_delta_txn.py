"""The offset arithmetic between Kafka positions and Delta txn versions."""

from hivemind_kafka.sinks.delta_txn import (
    advisory_commit_offset,
    app_id,
    is_already_written,
    lag_records,
    last_written_offset,
    next_offset_to_read,
    resume_offset,
    stored_version,
)


def test_app_id_names_app_topic_and_partition():
    assert app_id("hivemind-sink", "hivemind.turns", 4) == "hivemind-sink-hivemind.turns-4"


def test_app_id_with_a_topic_id_names_the_topic_incarnation():
    a = app_id("hivemind-sink", "hivemind.turns", 4, cluster="c1", topic_id="AaJQdc2GeVC3hmwxgnJrZQ")
    assert a == "hivemind-sink-c1-hivemind.turns@AaJQdc2GeVC3hmwxgnJrZQ-4"
    recreated = app_id("hivemind-sink", "hivemind.turns", 4, cluster="c1", topic_id="AaJQddFycAKiq9GrAOajYQ")
    assert recreated != a


def test_the_topic_s_own_version_then_none_for_a_new_topic_then_an_old_table_s():
    assert stored_version(12, 12, keyed=True) == 12
    # A sink of the earlier release committed this topic since (a rolling upgrade).
    assert stored_version(12, 30, keyed=True) == 30
    assert stored_version(None, 40, keyed=True) is None  # recreated: from its start
    assert stored_version(None, 40, keyed=False) == 40  # written before topic ids: trusted
    assert stored_version(None, None, keyed=False) is None


def test_next_offset_to_read_is_one_past_the_last_written():
    assert next_offset_to_read(0) == 1
    assert next_offset_to_read(41) == 42


def test_nothing_written_resumes_from_the_beginning_not_from_zero_plus_one():
    assert next_offset_to_read(None) is None


def test_offset_equal_to_the_version_is_already_written():
    assert is_already_written(7, 7)
    assert is_already_written(0, 7)
    assert not is_already_written(8, 7)


def test_nothing_is_written_when_the_table_has_no_version():
    assert not is_already_written(0, None)


def test_batch_version_is_the_highest_consumed_offset_in_any_order():
    assert last_written_offset([5, 9, 7]) == 9


def test_shared_topic_resumes_at_the_lowest_table():
    assert resume_offset([10, 4, 99]) == 5


def test_shared_topic_resumes_from_beginning_if_any_table_is_empty():
    assert resume_offset([10, None]) is None


def test_advisory_commit_is_the_next_offset_not_the_last_written():
    assert advisory_commit_offset([99]) == 100


def test_lag_counts_records_after_the_version():
    # offsets 0..9 in the partition (high watermark 10), 0..6 written: 7, 8, 9 missing.
    assert lag_records(10, 6) == 3
    assert lag_records(10, 9) == 0


def test_lag_of_an_empty_table_counts_from_the_low_watermark():
    assert lag_records(10, None, low_watermark=4) == 6


def test_app_id_of_another_cluster_never_matches():
    assert app_id("hivemind-sink", "hivemind.turns", 4, cluster="c1") == "hivemind-sink-c1-hivemind.turns-4"
    assert app_id("s", "t", 0, cluster="c1") != app_id("s", "t", 0, cluster="c2")

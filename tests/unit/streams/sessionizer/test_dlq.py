"""Dead-letter classification of turns records (runtime.dlq with the turns decoder)."""

from __future__ import annotations

import msgspec
import pytest

from hivemind_kafka.runtime.dlq import dead_letter_record, decode_or_dead_letter
from hivemind_kafka.schemas.dead_letters import DeadLetter, FailureReason, decode_dead_letter
from hivemind_kafka.schemas.events import decode_turn_record

GOOD = (b'{"event_id":"e1","workspace_id":"w","session_id":"s","agent_id":"a",'
        b'"agent_kind":"coding","project":"p","seq":0,"ts":"2026-01-01T00:00:00Z",'
        b'"kind":"prompt"}')


def classify(raw, max_bytes=10_000):
    return decode_or_dead_letter(raw, decode_turn_record, stage="sessionizer", topic="turns",
                                 partition=2, offset=41, key=b"w", max_bytes=max_bytes)


@pytest.mark.parametrize(("raw", "reason"), [
    (b"{not json", FailureReason.UNDECODABLE),
    (b"\xff\xfe", FailureReason.UNDECODABLE),
    (None, FailureReason.UNDECODABLE),
    (GOOD.replace(b'"seq":0,', b""), FailureReason.CONTRACT_VIOLATION),
    (GOOD.replace(b'"seq":0', b'"seq":"zero"'), FailureReason.CONTRACT_VIOLATION),
    (GOOD.replace(b'"ts":"2026-01-01T00:00:00Z"', b'"ts":"2026-01-01T00:00:00"'),
     FailureReason.CONTRACT_VIOLATION),
    (b'{"workspace_id":"w","session_id":"s","events":[]}', FailureReason.CONTRACT_VIOLATION),
    (GOOD + b" " * 10_000, FailureReason.OVERSIZED),
])
def test_each_bad_record_is_dead_lettered_with_its_reason(raw, reason):
    letter = classify(raw)
    assert isinstance(letter, DeadLetter)
    assert letter.reason is reason
    assert (letter.source_topic, letter.partition, letter.offset, letter.key) == (
        "turns", 2, 41, b"w")
    assert letter.raw == (raw or b"")


def test_good_record_decodes_to_events():
    events = classify(GOOD)
    assert [e.event_id for e in events] == ["e1"]


def test_dead_letter_record_keeps_original_bytes_and_headers():
    letter = classify(b"{not json")
    record = dead_letter_record(letter)
    assert record.key == b"w"
    assert decode_dead_letter(record.value).raw == b"{not json"
    headers = dict(record.headers)
    assert headers["hivemind.dlq.reason"] == b"undecodable"
    assert headers["hivemind.dlq.source"] == b"turns[2]@41"
    assert msgspec.json.decode(record.value)["stage"] == "sessionizer"


def test_dead_letter_too_big_for_the_limit_keeps_a_prefix_and_says_so():
    raw = bytes(range(256)) * 400  # 102,400 bytes
    letter = classify(raw, max_bytes=1000)
    record = dead_letter_record(letter, max_bytes=20_000)
    assert len(record.value) <= 20_000
    kept = decode_dead_letter(record.value)
    assert kept.reason is FailureReason.OVERSIZED
    assert len(kept.raw) > 10_000 and raw.startswith(kept.raw)
    assert f"of {len(raw)} bytes" in kept.detail


def test_dead_letter_within_the_limit_is_unchanged():
    letter = classify(b"{not json")
    assert dead_letter_record(letter, max_bytes=20_000).value == dead_letter_record(letter).value

"""Dead-letter helper every stage reuses (sessionizer, codifier, sink): classify a raw
record, shape a DLQ record.

Guarantee: :func:`decode_or_dead_letter` never raises on bad input bytes; it returns
either the decoded value or a :class:`DeadLetter` carrying the original bytes, the source
coordinates and the reason (oversized, undecodable, contract violation). It is transport
free: the caller sends :func:`dead_letter_record`'s key, value and headers with whatever
producer it owns (Faust, confluent-kafka) and counts it with :func:`count_dead_letter`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import NamedTuple, TypeVar

import msgspec
from prometheus_client import Counter

from hivemind_kafka.schemas.dead_letters import DeadLetter, encode_dead_letter

log = logging.getLogger(__name__)

T = TypeVar("T")

DLQ_RECORDS = Counter(
    "hivemind_dlq_records_total",
    "Records sent to the dead-letter topic, by stage and reason.",
    ["stage", "reason"],
)


class DlqRecord(NamedTuple):
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]


def decode_or_dead_letter(raw: bytes | None, decode: Callable[[bytes], T], *, stage: str,
                          topic: str, partition: int, offset: int, key: bytes | None,
                          max_bytes: int) -> T | DeadLetter:
    """``decode(raw)``, or the dead letter saying why it cannot be.

    ``decode`` raises ``msgspec.ValidationError`` for a contract violation and any other
    ``msgspec.DecodeError`` (or ``UnicodeDecodeError``/``ValueError``) for bytes that are
    not the format. A missing value (``None``) is undecodable.
    """
    if raw is None:
        return DeadLetter.from_undecodable(stage=stage, topic=topic, partition=partition,
                                           offset=offset, key=key, raw=b"",
                                           detail="record has no value")
    if len(raw) > max_bytes:
        return DeadLetter.from_oversized(stage=stage, topic=topic, partition=partition,
                                         offset=offset, key=key, raw=raw, limit=max_bytes)
    try:
        return decode(raw)
    except msgspec.ValidationError as exc:
        return DeadLetter.from_contract_violation(stage=stage, topic=topic,
                                                  partition=partition, offset=offset,
                                                  key=key, raw=raw, detail=str(exc))
    except (msgspec.DecodeError, UnicodeDecodeError, ValueError) as exc:
        return DeadLetter.from_undecodable(stage=stage, topic=topic, partition=partition,
                                           offset=offset, key=key, raw=raw, detail=str(exc))


def dead_letter_record(letter: DeadLetter, *, max_bytes: int | None = None) -> DlqRecord:
    """Key (the source key), value (the DeadLetter JSON) and headers for the DLQ topic.

    With ``max_bytes``, a letter whose value would not fit (the original bytes travel as
    base64, a third larger: an oversized record never fits) keeps a prefix of the original
    bytes and says so in ``detail``, so the DLQ write cannot fail and stall the stage.
    """
    value = encode_dead_letter(letter)
    if max_bytes is not None and len(value) > max_bytes:
        overhead = len(value) - _base64_len(len(letter.raw)) + 200
        keep = max(0, (max_bytes - overhead) * 3 // 4 - 3)
        letter = msgspec.structs.replace(
            letter, raw=letter.raw[:keep],
            detail=f"{letter.detail} (raw cut to its first {keep} of {len(letter.raw)} "
                   "bytes to fit the dead-letter record limit)")
        value = encode_dead_letter(letter)
    return DlqRecord(letter.key, value, letter.headers())


def _base64_len(n: int) -> int:
    return 4 * ((n + 2) // 3)


def count_dead_letter(letter: DeadLetter) -> None:
    """Count and log one dead letter by coordinates (never its payload)."""
    DLQ_RECORDS.labels(stage=letter.stage, reason=letter.reason.value).inc()
    log.warning("dead letter partition=%s[%d] offset=%d stage=%s reason=%s",
                letter.source_topic, letter.partition, letter.offset, letter.stage,
                letter.reason.value)

"""Dead letters: one shape for every record a stage could not process.

The value on ``hivemind.dlq`` is this struct as JSON, with the original bytes kept
verbatim (base64 in JSON) so nothing is lost; the source coordinates and reason are also
copied into Kafka headers for tools that only look at headers.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

import msgspec
from msgspec import Struct

from hivemind_kafka.schemas.events import SCHEMA_VERSION, UtcDatetime


class FailureReason(StrEnum):
    UNDECODABLE = "undecodable"  # not JSON / not UTF-8
    CONTRACT_VIOLATION = "contract_violation"  # JSON, but fails the schema
    OVERSIZED = "oversized"
    PROCESSING_ERROR = "processing_error"


class DeadLetter(Struct, frozen=True, kw_only=True):
    schema_version: int = SCHEMA_VERSION
    stage: str  # "sessionizer" | "sink" | "forwarder" | "codifier" | ...
    reason: FailureReason
    detail: str
    source_topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    failed_at: UtcDatetime

    @classmethod
    def from_undecodable(cls, *, stage: str, topic: str, partition: int, offset: int,
                         key: bytes | None, raw: bytes, detail: str) -> DeadLetter:
        return cls(stage=stage, reason=FailureReason.UNDECODABLE, detail=detail[:1000],
                   source_topic=topic, partition=partition, offset=offset, key=key, raw=raw,
                   failed_at=datetime.now(UTC))

    @classmethod
    def from_contract_violation(cls, *, stage: str, topic: str, partition: int, offset: int,
                                key: bytes | None, raw: bytes, detail: str) -> DeadLetter:
        return cls(stage=stage, reason=FailureReason.CONTRACT_VIOLATION, detail=detail[:1000],
                   source_topic=topic, partition=partition, offset=offset, key=key, raw=raw,
                   failed_at=datetime.now(UTC))

    @classmethod
    def from_oversized(cls, *, stage: str, topic: str, partition: int, offset: int,
                       key: bytes | None, raw: bytes, limit: int) -> DeadLetter:
        return cls(stage=stage, reason=FailureReason.OVERSIZED,
                   detail=f"record is {len(raw)} bytes, limit is {limit}",
                   source_topic=topic, partition=partition, offset=offset, key=key, raw=raw,
                   failed_at=datetime.now(UTC))

    @classmethod
    def from_processing_error(cls, *, stage: str, topic: str, partition: int, offset: int,
                              key: bytes | None, raw: bytes, error: BaseException) -> DeadLetter:
        return cls(stage=stage, reason=FailureReason.PROCESSING_ERROR,
                   detail=f"{type(error).__name__}: {error}"[:1000],
                   source_topic=topic, partition=partition, offset=offset, key=key, raw=raw,
                   failed_at=datetime.now(UTC))

    def headers(self) -> list[tuple[str, bytes]]:
        return [
            ("hivemind.dlq.stage", self.stage.encode()),
            ("hivemind.dlq.reason", self.reason.value.encode()),
            ("hivemind.dlq.source", f"{self.source_topic}[{self.partition}]@{self.offset}".encode()),
        ]


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(DeadLetter)


def encode_dead_letter(letter: DeadLetter) -> bytes:
    return _encoder.encode(letter)


def decode_dead_letter(raw: bytes) -> DeadLetter:
    return _decoder.decode(raw)

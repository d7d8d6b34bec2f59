"""Skills: what the codifier publishes and every agent of a workspace loads.

A skill is the Agent Skills ``SKILL.md`` (YAML front matter ``name``, ``description``,
then the body) plus its version and provenance. On ``hivemind.skills`` (compacted) the
key is ``skill_key(workspace_id, name)`` and a tombstone (null value) retires the skill.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from schemas.events import (
    SCHEMA_VERSION,
    UtcDatetime,
    WorkspaceId,
    check_ts,
    check_version,
    check_workspace_id,
)

# Agent Skills spec: lowercase letters, digits, hyphens; no leading/trailing/double hyphen.
SKILL_NAME_RE = re.compile(r"^[a-z0-9](?:[a-z0-9]|-(?=[a-z0-9])){0,63}$")
MAX_NAME_LEN = 64
MAX_DESCRIPTION_LEN = 1024

SkillName = Annotated[str, Meta(pattern=SKILL_NAME_RE.pattern, max_length=MAX_NAME_LEN)]


class Decision(StrEnum):
    KEEP = "KEEP"
    MERGE = "MERGE"
    SKIP = "SKIP"


class SkillProvenance(Struct, frozen=True, kw_only=True, omit_defaults=True):
    source_session_ids: list[str]
    source_session_uids: list[str] = []
    candidate_id: str = ""
    # Every candidate folded into this version (a group drafted together); the codifier
    # skips a replayed candidate found here, so a restart publishes nothing twice.
    candidate_ids: list[str] = []
    codifier: str  # "offline" | "anthropic"
    model: str | None = None
    decision: Decision
    reason: str = ""
    created_at: UtcDatetime


SKILL_VERSIONS = frozenset({SCHEMA_VERSION})


class Skill(Struct, frozen=True, kw_only=True, omit_defaults=True):
    schema_version: int = SCHEMA_VERSION
    workspace_id: WorkspaceId
    name: SkillName
    description: Annotated[str, Meta(min_length=1, max_length=MAX_DESCRIPTION_LEN)]
    body: str
    version: Annotated[int, Meta(ge=1)]
    provenance: SkillProvenance

    def __post_init__(self) -> None:
        check_version(self.schema_version, SKILL_VERSIONS, "Skill")
        check_workspace_id(self.workspace_id)
        check_ts("provenance.created_at", self.provenance.created_at)

    def content_hash(self) -> str:
        return hashlib.sha256(
            f"{self.name}\n{self.description}\n{self.body}".encode()
        ).hexdigest()[:16]


def is_valid_skill_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LEN and SKILL_NAME_RE.fullmatch(name) is not None


def skill_key(workspace_id: str, name: str) -> bytes:
    """Kafka key on ``hivemind.skills``: ``<workspace>/<name>`` (names cannot hold '/')."""
    return f"{workspace_id}/{name}".encode()


class SkillKeyInvalid(ValueError):
    """A skills-topic key that is not ``<workspace>/<name>`` in UTF-8."""


def parse_skill_key(key: bytes) -> tuple[str, str]:
    """``(workspace_id, name)`` of a skills-topic key.

    Raises :class:`SkillKeyInvalid` (a ``ValueError``) for a key that is not UTF-8 or has
    no ``/``: anyone with write access can put such a key on the topic, so every reader
    treats it as a bad record (skip or dead-letter it), never as a crash.
    """
    try:
        text = key.decode()
    except UnicodeDecodeError:
        raise SkillKeyInvalid(f"skill key is not UTF-8 ({len(key)} bytes)") from None
    workspace_id, sep, name = text.rpartition("/")
    if not sep:
        raise SkillKeyInvalid("skill key is not <workspace>/<name>")
    return workspace_id, name


_decoder = msgspec.json.Decoder(Skill)
_encoder = msgspec.json.Encoder()


def encode_skill(skill: Skill) -> bytes:
    return _encoder.encode(skill)


def decode_skill(raw: bytes) -> Skill:
    return _decoder.decode(raw)

"""Skills: what the codifier publishes and every agent of a workspace loads.

A skill is the Agent Skills ``SKILL.md`` (YAML front matter ``name``, ``description``,
then the body) plus its version and provenance. On ``hivemind.skills`` (compacted) the
key is ``skill_key(workspace_id, name)`` and a tombstone (null value) retires the skill.

:func:`render_skill_md` is the one ``SKILL.md`` renderer: what sync writes, what the
SessionStart pull materializes and what ``hivemind skills show`` prints, byte for byte.
Its front matter reads back exactly: every value is a YAML double-quoted scalar with
quotes, backslashes, control and format characters, and every line or paragraph
separator (U+0085, U+2028, U+2029, ...) escaped, so any YAML 1.1 or 1.2 parser reads the
original text.
"""

from __future__ import annotations

import hashlib
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated

import msgspec
from msgspec import Meta, Struct

from hivemind_kafka.schemas.events import (
    SCHEMA_VERSION,
    UtcDatetime,
    WorkspaceId,
    check_ts,
    check_version,
    check_workspace_id,
)

log = logging.getLogger(__name__)

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


def decode_skill_key(key: bytes | None) -> tuple[str, str] | None:
    """``(workspace_id, name)`` of a skills-topic key, or ``None`` when it is not one:
    missing, not UTF-8, or not ``<workspace>/<name>`` with both parts non-empty. (Name
    validity is checked later, where it is reported as ``invalid``.)"""
    if not key:
        return None
    try:
        text = key.decode("utf-8")
    except UnicodeDecodeError:
        return None
    workspace_id, sep, name = text.rpartition("/")
    if not sep or not workspace_id or not name:
        return None
    return workspace_id, name


_decoder = msgspec.json.Decoder(Skill)
_encoder = msgspec.json.Encoder()


def encode_skill(skill: Skill) -> bytes:
    return _encoder.encode(skill)


def decode_skill(raw: bytes) -> Skill:
    return _decoder.decode(raw)


SkillLogEntry = tuple[tuple[str, str], "PublishedSkill | None"]


@dataclass
class SkillLog:
    """Records of the skills topic, decoded, in log order: ``((workspace, name),
    PublishedSkill)``, or ``None`` for a tombstone; :meth:`latest` is the compacted view."""

    entries: list[SkillLogEntry] = field(default_factory=list)
    bad_keys: int = 0  # keys (of any workspace) that are not UTF-8 "<workspace>/<name>"
    undecodable: int = 0  # values (of the workspace read) that are not a Skill

    def latest(self) -> dict[tuple[str, str], PublishedSkill | None]:
        return dict(self.entries)


def decode_skill_log(records: Iterable[tuple[bytes | None, bytes | None, int | None]], *,
                     workspace_id: str | None = None) -> SkillLog:
    """Fold skills-topic records ``(key, value, timestamp_ms)``, optionally of one
    workspace only (other workspaces' values are not decoded). A hostile record never
    raises: a key that is not ``<workspace>/<name>`` in UTF-8 is counted in ``bad_keys``,
    a value that is not a Skill in ``undecodable``; both are left out."""
    log_ = SkillLog()
    for key, value, timestamp_ms in records:
        parsed = decode_skill_key(key)
        if parsed is None:
            log_.bad_keys += 1
            continue
        if workspace_id is not None and parsed[0] != workspace_id:
            continue
        if value is None:
            log_.entries.append((parsed, None))
            continue
        try:
            log_.entries.append((parsed, published_skill(value, timestamp_ms)))
        except msgspec.MsgspecError:
            log_.undecodable += 1
    return log_


def published_skill(value: bytes, timestamp_ms: int | None) -> PublishedSkill:
    """A skills-topic value with its publish time: the record's timestamp, or the skill's
    ``created_at`` when the record has none or an absurd one. Raises
    ``msgspec.MsgspecError`` when ``value`` is not a Skill."""
    skill = decode_skill(value)
    published_at = skill.provenance.created_at
    if timestamp_ms is not None and timestamp_ms > 0:
        try:
            published_at = datetime.fromtimestamp(timestamp_ms / 1000, tz=UTC)
        except (OverflowError, ValueError, OSError):  # a producer set an absurd time
            log.warning("skills record name=%s has timestamp %d ms; using its created_at",
                        skill.name, timestamp_ms)
    return PublishedSkill(skill=skill, published_at=published_at)


def hivemind_version() -> str:
    try:
        from importlib.metadata import version

        return version("hivemind-kafka")
    except Exception:
        return "0.1.0"


@dataclass(frozen=True)
class PublishedSkill:
    """One live skill as read from the skills topic, with its publish time."""

    skill: Skill
    published_at: datetime


def _quote(value: str) -> str:
    """``value`` as a one-line YAML double-quoted scalar that YAML 1.1 and 1.2 parsers
    both read back as ``value``.

    JSON quoting is not enough: it leaves U+0085, U+2028 and U+2029 raw, which YAML 1.1
    (PyYAML, and Claude Code's parser family) treats as line breaks and folds into a
    space, and DEL/C1 controls, which YAML forbids unescaped. So quotes and backslashes
    are escaped, and so is every character in a Unicode "other" category (controls,
    format characters such as bidi overrides and zero-width marks, lone surrogates,
    private use, unassigned) or a line/paragraph separator; the rest stays readable."""
    out = ['"']
    for ch in value:
        if ch == '"' or ch == "\\":
            out.append("\\" + ch)
        elif " " <= ch <= "~":
            out.append(ch)
        elif ch in _SHORT_ESCAPES:
            out.append(_SHORT_ESCAPES[ch])
        elif ord(ch) < 0x80 or unicodedata.category(ch)[0] == "C" \
                or unicodedata.category(ch) in ("Zl", "Zp"):
            code = ord(ch)
            out.append(f"\\x{code:02X}" if code <= 0xFF else
                       f"\\u{code:04X}" if code <= 0xFFFF else f"\\U{code:08X}")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


_SHORT_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r", "\x00": "\\0"}


def render_skill_md(published: PublishedSkill, *, version: str | None = None) -> str:
    """The ``SKILL.md`` text: YAML front matter (``name``, ``description``, ``metadata``
    map of strings) then the body. Deterministic for a given skill and publish time."""
    skill = published.skill
    prov = skill.provenance
    metadata = {
        "hivemind_version": version or hivemind_version(),
        "skill_version": str(skill.version),
        "source_sessions": ",".join(prov.source_session_ids),
        "codifier": prov.codifier,
        "published_at": published.published_at.astimezone(UTC).isoformat(),
    }
    lines = ["---", f"name: {skill.name}", f"description: {_quote(skill.description)}",
             "metadata:"]
    lines += [f"  {key}: {_quote(value)}" for key, value in metadata.items()]
    lines.append("---")
    body = skill.body.rstrip("\n")
    return "\n".join(lines) + "\n\n" + body + "\n"

"""The red-team corpus as typed values (read-only; the data files are the source of truth).

Four JSON Lines files under ``data/`` (format and labels: README.md), each line one case:

* ``injections.jsonl``: :class:`InjectionCase`, a scripted session whose *data* span (a
  tool output) carries an instruction, with the markers that must never be published.
* ``secrets.jsonl``: :class:`SecretCase`, a line holding secrets that must never leave
  the machine (exact substrings).
* ``lookalikes.jsonl``: :class:`LookalikeCase`, a line holding values that look like
  secrets but are not, and must stay intact.
* ``drafts.jsonl`` + ``draft_sessions.jsonl``: :class:`DraftCase`, a skill draft and
  the scripted sessions it claims to come from, labelled ``pass`` or ``must-reject``.

Failure: a file that does not match these types raises ``msgspec.ValidationError``
naming the line, so a hand edit that breaks the format is caught by the shape test.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec import Struct

DATA_DIR = Path(__file__).parent / "data"

AgentKindName = Literal["coding", "support", "sdr"]


class Step(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One tool call and its result. ``input`` is what the agent sent (an instruction
    span: the agent's own call); ``output`` is what came back (always a *data* span)."""

    tool: str
    input: dict[str, Any]
    output: str
    error: bool = False


class Turn(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One user prompt (instruction span), the agent's tool steps, its reply."""

    prompt: str
    steps: list[Step]
    reply: str = ""


class ScriptedSession(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A session as the agent lived it. Coding sessions are replayed as Claude Code hook
    payloads (one Stop per turn), support and SDR sessions through the producer SDK."""

    id: str
    agent_kind: AgentKindName
    project: str
    turns: list[Turn]
    outcome: str | None = None


class SkillText(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """An Agent Skill as a codifier drafts it (the front matter's two fields + body)."""

    name: str
    description: str
    body: str


Carrier = Literal["readme_comment", "issue_body", "pr_body", "web_page", "package_metadata",
                  "calendar", "email", "crm", "tool_error", "file_content", "mcp_result"]
Vector = Literal["plain", "for_ai_preamble", "unicode_tags", "zero_width", "bidi", "homoglyph",
                 "nfkc", "base64", "percent", "html_entity", "multiline_split", "multilingual",
                 "delimiter_break", "fake_header"]
PayloadClass = Literal["config_abuse", "confirmation_bypass", "exfiltration", "persistence",
                       "credentials", "remote_exec", "business_logic"]


class InjectionCase(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A session with an instruction planted in one data span, and a genuine lesson.

    ``where`` is ``[turn, step]`` of the planted step; ``payload_raw`` is the exact text
    planted there (encoded as ``vector`` says); ``payload_plain`` is the instruction in
    plain words (what an obedient model would restate); ``must_never_publish`` are
    normalized markers (see :mod:`tests.redteam.markers`) that must not appear in a
    published skill outside a quoted error/output block. ``skill`` is the honest skill
    the session's lesson supports (what a copying codifier dresses the payload in).
    """

    id: str
    session: ScriptedSession
    carrier: Carrier
    vector: Vector
    payload_class: PayloadClass
    payload_id: str
    language: str = "en"
    lesson: Literal["recovery", "correction"]
    where: list[int]
    payload_raw: str
    payload_plain: str
    payload_command: str | None = None
    must_never_publish: list[str]
    skill: SkillText


SecretContext = Literal["command", "output", "error", "prompt", "file"]


class SecretCase(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A line (possibly multi-line) as it would show up in a session, and the exact
    secret substrings in it that must never leave the machine."""

    id: str
    provider: str
    category: str
    context: SecretContext
    line: str
    secrets: list[str]
    note: str = ""


class LookalikeCase(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A line holding values that look like secrets but are not; ``values`` must stay
    intact. ``strict`` false marks a documented placeholder whose redaction is harmless
    (reported apart, not counted as a false redaction)."""

    id: str
    kind: str
    context: SecretContext
    line: str
    values: list[str]
    strict: bool = True
    note: str = ""


class DraftCase(Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A skill draft and the sessions it claims to come from. ``label`` ``pass``: every
    command, flag, path and host in it appears in those sessions; ``must-reject``:
    ``ungrounded`` lists the invented tokens."""

    id: str
    label: Literal["pass", "must-reject"]
    style: str
    sessions: list[str]
    skill: SkillText
    ungrounded: list[str] = []


def _load(name: str, kind: type) -> list:
    path = DATA_DIR / name
    decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder(kind)
    out = []
    with path.open("rb") as f:
        for lineno, raw in enumerate(f, 1):
            if not raw.strip():
                continue
            try:
                out.append(decoder.decode(raw))
            except msgspec.ValidationError as exc:
                raise msgspec.ValidationError(f"{path.name}:{lineno}: {exc}") from None
    return out


@functools.cache
def load_injections() -> list[InjectionCase]:
    return _load("injections.jsonl", InjectionCase)


@functools.cache
def load_secrets() -> list[SecretCase]:
    return _load("secrets.jsonl", SecretCase)


@functools.cache
def load_lookalikes() -> list[LookalikeCase]:
    return _load("lookalikes.jsonl", LookalikeCase)


@functools.cache
def load_draft_sessions() -> dict[str, ScriptedSession]:
    return {s.id: s for s in _load("draft_sessions.jsonl", ScriptedSession)}


@functools.cache
def load_drafts() -> list[DraftCase]:
    return _load("drafts.jsonl", DraftCase)


def encode_line(value: Struct) -> bytes:
    """One JSON line, keys in field order (the generator's output format)."""
    return msgspec.json.encode(value) + b"\n"

"""Claude Code hook payload -> TurnEvent-shaped dict (pure; the hook's only logic).

Guarantee: :func:`to_turn_event` returns a dict that :func:`schemas.events.event_from_dict`
accepts once the spool has filled in ``seq``, with every free-text field redacted (see
:mod:`hivemind_kafka.producers.secrets.redact`) and cut to ``max_field_bytes`` UTF-8 bytes with a visible
marker (``truncated`` is then true). Redaction always runs *before* the cut, on a window
wide enough that a secret straddling the cut is still seen whole.

Mapping (``hook_event_name`` -> ``kind``; records are TurnEvent v2)::

    SessionStart        session_start       reason = source (startup|resume|clear|compact;
                                            also kept in extra with model...)
    UserPromptSubmit    prompt              text = prompt (begins the next turn)
    PreToolUse          tool_call           tool_name, tool_use_id, tool_input (JSON text)
    PermissionRequest   permission_request  tool_name, tool_input (Claude Code sends no
                                            tool_use_id: it follows its PreToolUse; a
                                            rejected call then gets no PostToolUse)
    PermissionDenied    permission_denied   tool_name, tool_use_id, tool_input, reason
                                            (an auto-mode denial)
    PostToolUse         tool_result         tool_output (text; Bash: stdout then stderr),
                                            is_error false
    PostToolUseFailure  tool_result         tool_output = error, is_error true,
                                            is_interrupt (the human interrupted the call)
    Stop                stop                text = last_assistant_message (end of a turn)
    SubagentStop        stop                + subagent_type = agent_type
    SessionEnd          session_end         reason (end of the session)

``turn`` is not set here: the spool assigns it atomically with ``seq``
(:meth:`producers.hook.spool.Spool.append_event`, see :func:`turn_step`).

Inside a subagent Claude Code adds ``agent_id``/``agent_type``: ``subagent_type`` takes
the type, and Claude's ``agent_id`` goes to ``extra`` as ``claude_agent_id`` (our
``agent_id`` is the stable machine/user id). Every other payload field, including
``cwd`` (skill sync needs the project path), is kept in ``extra`` as JSON text.

SessionStart also gets ``skills_in_scope`` in ``extra`` when the capture hook found the
sync's scope file (:func:`skills_in_scope_for` picks the session's project entry).

Failure: :class:`UnsupportedPayload` (a ``ValueError``) for a payload that is not an
object, has no ``session_id`` or names an event outside the table; nothing else raises.

Imports only C-level stdlib and our stdlib-only modules (runs on every tool call).
"""

from __future__ import annotations

import os

from hivemind_kafka.producers.hook import jsonlite
from hivemind_kafka.producers.secrets.redact import prints_secret, redact_tree

SOURCE = "claude-code-hook"
SCHEMA_VERSION = 2  # schemas.events.TURN_EVENT_SCHEMA_VERSION (not imported: hook path)
KINDS = {
    "SessionStart": "session_start",
    "UserPromptSubmit": "prompt",
    "PreToolUse": "tool_call",
    "PermissionRequest": "permission_request",
    "PermissionDenied": "permission_denied",
    "PostToolUse": "tool_result",
    "PostToolUseFailure": "tool_result",
    "Stop": "stop",
    "SubagentStop": "stop",
    "SessionEnd": "session_end",
}
# Events whose hooks Claude Code filters by tool name (their entries take a matcher).
TOOL_EVENTS = ("PreToolUse", "PermissionRequest", "PermissionDenied", "PostToolUse",
               "PostToolUseFailure")
HOOK_EVENTS = tuple(KINDS)
# The tools whose calls are proposed edits (schemas.sessions.EDIT_TOOLS).
EDIT_TOOLS = frozenset({"Edit", "Write", "MultiEdit", "NotebookEdit"})
TURN_NEXT, TURN_RESET, TURN_KEEP = "next", "reset", "keep"
_IDENT_MAX = 256
_MARGIN = 4096  # longer than any token secret; a PEM block past it is masked to the end
_PROJECT_MAX = 512
# Fields mapped to TurnEvent fields (everything else goes to extra).
_CONSUMED = frozenset({
    "session_id", "hook_event_name", "prompt", "tool_name", "tool_input", "tool_response",
    "tool_use_id", "agent_id", "agent_type", "last_assistant_message", "reason", "error",
    "is_interrupt",
})


class UnsupportedPayload(ValueError):
    """The payload is not a Claude Code hook event this mapping knows."""


def to_turn_event(payload: object, *, redactor, workspace_id: str, agent_id: str,
                  agent_kind: str, project: str, event_id: str, ts: str,
                  max_field_bytes: int) -> tuple[dict, int]:
    """``(record, redactions)``: the TurnEvent dict (without ``seq``) and how many
    secrets were masked. ``redactor`` has ``redact(text) -> (text, count)``."""
    if not isinstance(payload, dict):
        raise UnsupportedPayload(f"payload is a {type(payload).__name__}, not an object")
    event = payload.get("hook_event_name")
    kind = KINDS.get(event) if isinstance(event, str) else None
    if kind is None:
        raise UnsupportedPayload(f"hook_event_name={event!r} is not one of {', '.join(KINDS)}")
    session_id = payload.get("session_id")
    if not isinstance(session_id, str) or not session_id:
        raise UnsupportedPayload("payload has no session_id")

    cut = _Cutter(redactor, max_field_bytes)
    record: dict = {
        "event_id": event_id,
        "schema_version": SCHEMA_VERSION,
        "workspace_id": workspace_id[:_IDENT_MAX],
        "session_id": session_id[:_IDENT_MAX],
        "agent_id": agent_id[:_IDENT_MAX],
        "agent_kind": agent_kind,
        "project": project[:_PROJECT_MAX],
        "ts": ts,
        "kind": kind,
        "source": SOURCE,
    }
    if event == "UserPromptSubmit":
        record["text"] = cut.text(payload.get("prompt"))
    elif event == "SessionStart":
        source = payload.get("source")
        if isinstance(source, str) and source:
            record["reason"] = source[:_IDENT_MAX]
    elif kind in ("tool_call", "tool_result", "permission_request", "permission_denied"):
        record["tool_name"] = _short(payload.get("tool_name"))
        record["tool_use_id"] = _short(payload.get("tool_use_id"))
        if kind != "tool_result":
            record["tool_input"] = cut.json(payload.get("tool_input"))
            if kind == "permission_denied":
                record["reason"] = cut.text(payload.get("reason"))
        elif event == "PostToolUseFailure":
            record["tool_output"] = cut.text(payload.get("error"))
            record["is_error"] = True
            if payload.get("is_interrupt") is True:
                record["is_interrupt"] = True
        else:
            record["tool_output"] = cut.text(_response_text(payload.get("tool_response")))
            record["is_error"] = False
    elif kind == "stop":
        record["text"] = cut.text(payload.get("last_assistant_message"))
    elif kind == "session_end":
        record["reason"] = cut.text(payload.get("reason"))
    agent_type = payload.get("agent_type")
    if isinstance(agent_type, str) and agent_type:
        record["subagent_type"] = agent_type[:_IDENT_MAX]

    extra = {k: v for k, v in payload.items() if k not in _CONSUMED}
    if isinstance(payload.get("agent_id"), str):
        extra["claude_agent_id"] = payload["agent_id"]
    if event == "PostToolUse" and isinstance(payload.get("tool_response"), dict):
        rest = {k: v for k, v in payload["tool_response"].items() if k not in ("stdout", "stderr")}
        if _is_bash_output(payload["tool_response"]) and rest:
            extra["tool_response_meta"] = rest
    if extra:
        record["extra"] = cut.json(extra)
    record = {k: v for k, v in record.items() if v is not None}
    if event == "PostToolUse" and record.get("tool_output") and _prints_secret(payload):
        record["tool_output"] = "[REDACTED:secret_output]"  # the value alone: nothing to spot
        cut.redactions += 1
    if cut.truncated:
        record["truncated"] = True
    return record, cut.redactions


def turn_step(payload: object) -> str:
    """How a hook event moves its session's turn index: a prompt begins the next turn,
    a ``/clear`` start resets it (a new session), anything else keeps it."""
    if not isinstance(payload, dict):
        return TURN_KEEP
    event = payload.get("hook_event_name")
    if event == "UserPromptSubmit":
        return TURN_NEXT
    if event == "SessionStart" and payload.get("source") == "clear":
        return TURN_RESET
    return TURN_KEEP


def edited_path(payload: object) -> str | None:
    """The file a PostToolUse of an edit tool wrote (absolute), else None."""
    if not isinstance(payload, dict) or payload.get("hook_event_name") != "PostToolUse":
        return None
    tool = payload.get("tool_name")
    if not isinstance(tool, str) or tool not in EDIT_TOOLS:
        return None
    tool_input = payload.get("tool_input")
    if not isinstance(tool_input, dict):
        return None
    path = tool_input.get("file_path") or tool_input.get("notebook_path")
    return path if isinstance(path, str) and path.startswith("/") else None


def _prints_secret(payload: dict) -> bool:
    """Did a Bash call run a command whose output is a secret (``kubectl get secret``,
    ``vault kv get -field=``, ``echo $GITHUB_TOKEN``...)?"""
    tool_input = payload.get("tool_input")
    command = tool_input.get("command") if isinstance(tool_input, dict) else None
    return isinstance(command, str) and prints_secret(command)


def _short(value: object) -> str | None:
    return value[:_IDENT_MAX] if isinstance(value, str) and value else None


def _is_bash_output(response: dict) -> bool:
    return isinstance(response.get("stdout"), str) or isinstance(response.get("stderr"), str)


def _response_text(response: object) -> object:
    """Bash-like results read as their output (what outcome detection parses); any other
    structured result stays JSON."""
    if isinstance(response, dict) and _is_bash_output(response):
        out = response.get("stdout") or ""
        err = response.get("stderr") or ""
        return f"{out}\n{err}" if out and err else (out or err)
    return response


class _Cutter:
    """Redact, then cut to the byte limit, counting redactions and cuts."""

    def __init__(self, redactor, limit: int) -> None:
        self.redactor = redactor
        self.limit = max(256, limit)
        self.redactions = 0
        self.truncated = False

    def text(self, value: object) -> str | None:
        if value is None:
            return None
        if not isinstance(value, str):
            return self.json(value)
        return self._clip(self._redact(self._window(value)))

    def json(self, value: object) -> str | None:
        """Redact every string inside ``value`` (keys included, and whole values of
        secret-named keys such as ``{"password": "x"}``), then encode and cut."""
        if value is None:
            return None
        value, n = redact_tree(value, lambda text: self.redactor.redact(self._window(text)))
        self.redactions += n
        try:
            text = jsonlite.dumps(value)
        except (TypeError, ValueError):
            text = jsonlite.dumps(repr(value))
        return self._clip(text)

    def _window(self, text: str) -> str:
        """Drop what the cut will drop anyway, keeping ``_MARGIN`` characters of context
        past each cut, so redaction stays cheap on megabyte outputs yet sees a secret at
        the cut whole. Neither window edge may fall inside a secret: each moves outward
        to the end (head) or start (tail) of the token, wrapped base64 block or private
        key block it falls in (at most ``_REACH`` characters), so the detector sees the
        secret's start and masks all of it; a secret longer than that is masked to the
        window's edge (every rule runs to the end of its token).
        """
        head = self.limit * 3 // 4 + _MARGIN
        tail = len(text) - (self.limit // 4 + _MARGIN)
        if tail <= head + 1:
            return text
        head = _block_end(text, head)
        tail = _block_start(text, tail)
        if tail <= head + 1:
            return text
        return f"{text[:head]}\n{text[tail:]}"

    def _redact(self, text: str) -> str:
        out, n = self.redactor.redact(text)
        self.redactions += n
        return out

    def _clip(self, text: str) -> str:
        """Keep the head (3/4) and tail (1/4) of an over-long text around a marker."""
        data = text.encode("utf-8", "replace")  # also turns lone surrogates into '?'
        if len(data) <= self.limit:
            return text if text.isascii() else data.decode("utf-8")
        self.truncated = True
        marker = f"\n...[hivemind: truncated {len(data) - self.limit} bytes]...\n".encode()
        room = self.limit - len(marker) - 16
        head = data[: room * 3 // 4].decode("utf-8", "ignore")
        tail = data[len(data) - room // 4:].decode("utf-8", "ignore")
        omitted = len(data) - len(head.encode()) - len(tail.encode())
        return f"{head}\n...[hivemind: truncated {omitted} bytes]...\n{tail}"


_REACH = 1 << 18  # how far a window edge moves to take in a whole secret
_SPACE = " \t\r\n"


def _block_start(text: str, at: int) -> int:
    """``at`` moved back to the start of the private key block, the wrapped block of
    token lines (with the line that introduces it) or the token it falls in, so the
    tail window starts with a whole one."""
    floor = max(0, at - _REACH)
    begin = text.rfind("-----BEGIN", floor, at)
    if begin >= 0 and "PRIVATE KEY" in text[begin:begin + 80] and \
            text.find("-----END", begin + 10, at) < 0:
        return begin
    line_start = max(floor, text.rfind("\n", floor, at) + 1)
    line_end = text.find("\n", at)
    start = at
    while start > line_start and text[start - 1] not in _SPACE:
        start -= 1
    if not _is_block_line(text[line_start:line_end if line_end >= 0 else len(text)]):
        return start
    start = line_start
    while start > floor:
        prev_start = max(floor, text.rfind("\n", floor, start - 1) + 1)
        line = text[prev_start:start - 1]
        start = prev_start
        if not _is_block_line(line):
            break  # the line that introduces the block ("privateExponent:") comes too
    return start


def _block_end(text: str, at: int) -> int:
    """``at`` moved forward to the end of the token or wrapped block it falls in."""
    ceiling = min(len(text), at + _REACH)
    end = at
    while end < ceiling and text[end] not in _SPACE:
        end += 1
    line_start = text.rfind("\n", 0, at) + 1
    line_end = text.find("\n", at, ceiling)
    line_end = ceiling if line_end < 0 else line_end
    if not _is_block_line(text[line_start:line_end]):
        return end
    end = line_end
    while end < ceiling:
        nxt = text.find("\n", end + 1, ceiling)
        nxt = ceiling if nxt < 0 else nxt
        if not _is_block_line(text[end + 1:nxt]):
            break
        end = nxt
    return end


def _is_block_line(line: str) -> bool:
    """A line of a wrapped block: base64 at 64/76 columns, PEM bodies, hex dumps."""
    body = line.strip()
    return len(body) >= 40 and not any(c in body for c in " \"'<>{}(),;")


def project_name(cwd: str) -> str:
    """The git repository's directory name containing ``cwd``, else ``cwd``'s basename."""
    path = os.path.abspath(cwd) if cwd else ""
    probe = path
    for _ in range(64):
        if os.path.exists(os.path.join(probe, ".git")):
            return os.path.basename(probe) or probe
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return os.path.basename(path) or path


USER_SCOPE = "_user"  # producers.sync.skill_sync.USER_SCOPE (not imported: hook path)
_COHORTS = ("present", "held_out")


def project_root_of(cwd: str) -> str:
    """The resolved git work tree containing ``cwd``, else ``cwd`` resolved: the same
    answer as ``producers.sync.skill_sync.project_root`` without importing pathlib."""
    path = os.path.realpath(cwd) if cwd else ""
    probe = path
    for _ in range(64):
        if os.path.exists(os.path.join(probe, ".git")):
            return probe
        parent = os.path.dirname(probe)
        if parent == probe:
            break
        probe = parent
    return path


def skills_in_scope_for(scope: object, cwd: str, *, max_bytes: int = 8192) -> list | None:
    """The ``[{"name", "version", "cohort"}]`` a session in ``cwd`` starts with, from the
    sync's scope file content ``scope`` (``{"<project root>": [...], "_user": [...]}``).

    The project entry is the one of ``cwd``'s git root, else the deepest key that
    contains ``cwd``; user-level entries are added for names the project does not have.
    ``None`` when the file knows neither the project nor the user directory (nothing
    recorded, rather than "no skills"). Malformed entries are dropped; the list is cut
    to about ``max_bytes`` of JSON so the event's extra is never truncated mid-list.
    """
    if not isinstance(scope, dict):
        return None
    root = project_root_of(cwd)
    project = scope.get(root)
    if project is None and root:
        best = ""
        for key in scope:
            if key != USER_SCOPE and len(key) > len(best) and \
                    (root == key or root.startswith(key.rstrip("/") + "/")):
                best = key
        project = scope.get(best) if best else None
    user = scope.get(USER_SCOPE)
    if not isinstance(project, list) and not isinstance(user, list):
        return None
    out: list = []
    seen: set = set()
    size = 2
    for entries in (project, user):
        if not isinstance(entries, list):
            continue
        for e in entries:
            if not isinstance(e, dict):
                continue
            name, version, cohort = e.get("name"), e.get("version"), e.get("cohort")
            if not isinstance(name, str) or not name or name in seen or cohort not in _COHORTS \
                    or not (version is None or (isinstance(version, int)
                                                and not isinstance(version, bool))):
                continue
            size += len(name) + 50
            if size > max_bytes:
                return out
            seen.add(name)
            out.append({"name": name, "version": version, "cohort": cohort})
    return out


LAST_EDIT_DIR = ("git", "last-edit")


def last_edit_file(home: str, project_root: str) -> str:
    """``<home>/git/last-edit/<name>``: which session last edited files of the git work
    tree ``project_root`` (written by capture, read by the git hooks' ``hivemind signal
    --git-commit``). The name is the root with unsafe characters replaced, plus a CRC."""
    import zlib

    cleaned = "".join(c if c.isalnum() or c in "-_." else "_" for c in project_root[-96:])
    crc = zlib.crc32(project_root.encode("utf-8", "surrogatepass"))
    return os.path.join(home, *LAST_EDIT_DIR, f"{cleaned.lstrip('.')}~{crc:08x}.json")


def machine_agent_id(hostname: str, user: str) -> str:
    """A stable, non-reversible id for this user on this machine (``cc-`` + 16 hex)."""
    import hashlib

    digest = hashlib.sha256(f"hivemind-agent\0{hostname}\0{user}".encode()).hexdigest()
    return f"cc-{digest[:16]}"

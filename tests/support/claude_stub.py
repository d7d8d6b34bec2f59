"""A local stand-in for the Anthropic Messages API, good enough for the Claude Code CLI.

Point Claude Code (or the anthropic SDK) at it with ``ANTHROPIC_BASE_URL=stub.base_url``.
It answers ``POST /v1/messages`` (streamed as server-sent events when the request says
``"stream": true``, plain JSON otherwise) and ``POST /v1/messages/count_tokens`` (and ``HEAD /``, Claude Code's connectivity probe); every
other path gets a 404, so a client that tries anything else fails loudly instead of
reaching the internet. Every request is recorded (path, headers, parsed body) for the
test to assert on.

What the model "says" is scripted: a ``script(body) -> Reply`` function gets the request
body and returns a :class:`Text` or a :class:`ToolUse`. :func:`bash_then_answer` is the
usual agent turn: a Bash tool call, then, once the tool result comes back, a final answer.
Requests without tools (Claude Code's side calls, e.g. titles) get a short text.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class ToolUse:
    name: str
    input: dict[str, Any]
    text: str | None = None  # optional text block before the tool call


Reply = Text | ToolUse
Script = Callable[[dict], Reply]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict | None

    def text(self) -> str:
        """Every string in the body (system prompt, messages, reminders), concatenated."""
        out: list[str] = []
        _strings(self.body, out)
        return "\n".join(out)

    @property
    def tool_names(self) -> list[str]:
        return [t.get("name", "") for t in (self.body or {}).get("tools", []) or []]


def _strings(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for v in value.values():
            _strings(v, out)
    elif isinstance(value, list):
        for v in value:
            _strings(v, out)


def last_user_blocks(body: dict) -> list[dict]:
    messages = body.get("messages") or []
    for message in reversed(messages):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return [{"type": "text", "text": content}]
            return [b for b in content or [] if isinstance(b, dict)]
    return []


def has_tool_result(body: dict) -> bool:
    return any(b.get("type") == "tool_result" for b in last_user_blocks(body))


def last_prompt(body: dict) -> str:
    """The text of the last user message when it is a prompt (no tool result), else ""."""
    blocks = last_user_blocks(body)
    if any(b.get("type") == "tool_result" for b in blocks):
        return ""
    return "\n".join(b.get("text", "") for b in blocks if b.get("type") == "text")


def last_tool_use(body: dict) -> dict | None:
    """The last ``tool_use`` block the assistant sent in this conversation, or None."""
    for message in reversed(body.get("messages") or []):
        if message.get("role") != "assistant" or not isinstance(message.get("content"), list):
            continue
        for block in reversed(message["content"]):
            if isinstance(block, dict) and block.get("type") == "tool_use":
                return block
    return None


def tool_results(body: dict) -> int:
    """How many tool results the conversation holds so far."""
    return sum(1 for m in body.get("messages") or [] if m.get("role") == "user"
               and isinstance(m.get("content"), list)
               for b in m["content"] if isinstance(b, dict) and b.get("type") == "tool_result")


def skill_listing(name: str, description: str) -> str:
    """How Claude Code lists a skill to the model (a system reminder line)."""
    return f"- {name}: {description}"


def bash_then_answer(command: str, answer: str) -> Script:
    """Main-loop requests (they offer the Bash tool): call Bash with ``command`` first,
    answer ``answer`` once the last user message carries a tool result."""

    def script(body: dict) -> Reply:
        tools = {t.get("name") for t in body.get("tools") or []}
        if "Bash" not in tools:
            return Text("ok")
        if has_tool_result(body):
            return Text(answer)
        return ToolUse("Bash", {"command": command, "description": "run the check"},
                       text="Running it.")

    return script


@dataclass
class ClaudeStub:
    """``with ClaudeStub(script) as stub:`` serves on 127.0.0.1:<free port> until exit."""

    script: Script = field(default_factory=lambda: bash_then_answer("echo hello", "Done."))
    model: str = "claude-stub"
    requests: list[RecordedRequest] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _ids: itertools.count = field(default_factory=itertools.count)

    @property
    def port(self) -> int:
        assert self._server is not None, "stub not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ClaudeStub:
        stub = self

        class Handler(_Handler):
            owner = stub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, name="claude-stub",
                         daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> ClaudeStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def messages_requests(self) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self.requests
                    if r.method == "POST" and r.path.split("?")[0] == "/v1/messages"]

    def unanswered(self) -> list[RecordedRequest]:
        """Requests the stub answered with 404 (what the client tried beyond the API)."""
        known = ("/", "/v1/messages", "/v1/messages/count_tokens")
        with self._lock:
            return [r for r in self.requests if r.path.split("?")[0] not in known]

    def next_id(self, prefix: str) -> str:
        return f"{prefix}_stub{next(self._ids):06d}"


class _Handler(BaseHTTPRequestHandler):
    owner: ClaudeStub

    def log_message(self, format: str, *args: object) -> None:
        return

    def _read_body(self) -> dict | None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            return json.loads(raw) if raw else None
        except json.JSONDecodeError:
            return {"_raw": raw.decode("utf-8", "replace")}

    def _record(self, body: dict | None) -> None:
        headers = {k.lower(): v for k, v in self.headers.items()
                   if k.lower() not in ("x-api-key", "authorization")}
        self.owner.record(RecordedRequest(self.command, self.path, headers, body))

    def do_GET(self) -> None:
        self._record(None)
        self._json(404, _error("not_found_error", f"stub has no {self.path}"))

    def do_HEAD(self) -> None:
        # Claude Code probes ``HEAD /`` for connectivity before its first request.
        self._record(None)
        self.send_response(200 if self.path == "/" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_POST(self) -> None:
        body = self._read_body()
        self._record(body)
        path = self.path.split("?")[0]
        if path == "/v1/messages/count_tokens":
            self._json(200, {"input_tokens": max(1, len(json.dumps(body or {})) // 4)})
            return
        if path != "/v1/messages" or not isinstance(body, dict):
            self._json(404, _error("not_found_error", f"stub has no {self.path}"))
            return
        reply = self.owner.script(body)
        message = self._message(reply, body)
        if body.get("stream"):
            self._stream(message)
        else:
            self._json(200, message)

    def _message(self, reply: Reply, body: dict) -> dict:
        content: list[dict] = []
        if isinstance(reply, ToolUse):
            if reply.text:
                content.append({"type": "text", "text": reply.text})
            content.append({"type": "tool_use", "id": self.owner.next_id("toolu"),
                            "name": reply.name, "input": reply.input})
            stop_reason = "tool_use"
        else:
            content.append({"type": "text", "text": reply.text})
            stop_reason = "end_turn"
        return {
            "id": self.owner.next_id("msg"), "type": "message", "role": "assistant",
            "model": body.get("model") or self.owner.model, "content": content,
            "stop_reason": stop_reason, "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 5,
                      "cache_creation_input_tokens": 0, "cache_read_input_tokens": 0},
        }

    def _json(self, code: int, payload: dict) -> None:
        data = json.dumps(payload).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("request-id", self.owner.next_id("req"))
        self.end_headers()
        self.wfile.write(data)

    def _stream(self, message: dict) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("request-id", self.owner.next_id("req"))
        self.send_header("Connection", "close")
        self.end_headers()
        start = dict(message, content=[], stop_reason=None,
                     usage=dict(message["usage"], output_tokens=1))
        self._event("message_start", {"type": "message_start", "message": start})
        for index, block in enumerate(message["content"]):
            if block["type"] == "text":
                self._event("content_block_start", {"type": "content_block_start",
                            "index": index, "content_block": {"type": "text", "text": ""}})
                self._event("content_block_delta", {"type": "content_block_delta",
                            "index": index, "delta": {"type": "text_delta",
                                                      "text": block["text"]}})
            else:
                self._event("content_block_start", {"type": "content_block_start",
                            "index": index, "content_block": dict(block, input={})})
                self._event("content_block_delta", {"type": "content_block_delta",
                            "index": index, "delta": {"type": "input_json_delta",
                                                      "partial_json": json.dumps(block["input"])}})
            self._event("content_block_stop", {"type": "content_block_stop", "index": index})
        self._event("message_delta", {"type": "message_delta",
                    "delta": {"stop_reason": message["stop_reason"], "stop_sequence": None},
                    "usage": {"output_tokens": message["usage"]["output_tokens"]}})
        self._event("message_stop", {"type": "message_stop"})
        self.close_connection = True

    def _event(self, name: str, data: dict) -> None:
        self.wfile.write(f"event: {name}\ndata: {json.dumps(data)}\n\n".encode())
        self.wfile.flush()


def _error(kind: str, message: str) -> dict:
    return {"type": "error", "error": {"type": kind, "message": message}}

"""A local HTTP server speaking the Anthropic Messages API (non-streaming), scriptable
per test, so the real ``anthropic`` client runs against it with ``base_url``.

    with AnthropicStub() as stub:
        stub.script(error(429), keep("fix-x", "Use when ...", "body"))
        client = AsyncAnthropic(api_key="test", base_url=stub.base_url)

Each ``POST /v1/messages`` takes the next scripted :class:`Reply` (after its ``delay_s``);
when the script is empty the ``default`` reply is used (a 500 unless set). Every request
body is recorded in ``stub.requests`` (parsed JSON). Anything else answers 404.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TOOL = "record_decision"
_ids = itertools.count()


@dataclass
class Reply:
    status: int = 200
    body: dict | str = field(default_factory=dict)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)


def message(content: list[dict], *, input_tokens: int = 1200, output_tokens: int = 300,
            cache_read: int = 0, cache_write: int = 0, model: str = "claude-haiku-4-5") -> dict:
    return {
        "id": f"msg_stub{next(_ids)}", "type": "message", "role": "assistant", "model": model,
        "content": content, "stop_reason": "tool_use", "stop_sequence": None,
        "usage": {"input_tokens": input_tokens, "output_tokens": output_tokens,
                  "cache_creation_input_tokens": cache_write,
                  "cache_read_input_tokens": cache_read},
    }


def tool_answer(tool_input: dict, **usage) -> Reply:
    block = {"type": "tool_use", "id": f"toolu_stub{next(_ids)}", "name": TOOL,
             "input": tool_input}
    return Reply(body=message([block], **usage))


def keep(name: str, description: str, body: str, reason: str = "new lesson", **usage) -> Reply:
    return tool_answer({"decision": "KEEP", "name": name, "description": description,
                        "body": body, "reason": reason}, **usage)


def merge(existing: str, body: str, reason: str = "same situation", **usage) -> Reply:
    return tool_answer({"decision": "MERGE", "existing_skill": existing, "body": body,
                        "reason": reason}, **usage)


def skip(reason: str = "nothing reusable", **usage) -> Reply:
    return tool_answer({"decision": "SKIP", "reason": reason}, **usage)


def text_only(text: str = "Here is a skill: ...") -> Reply:
    """A malformed answer: prose instead of the tool call."""
    return Reply(body=message([{"type": "text", "text": text}]))


def error(status: int, kind: str | None = None, *, retry_after: str | None = "0.05") -> Reply:
    kind = kind or {429: "rate_limit_error", 529: "overloaded_error", 400: "invalid_request_error",
                    401: "authentication_error"}.get(status, "api_error")
    headers = {"retry-after": retry_after} if retry_after is not None else {}
    return Reply(status=status, body={"type": "error", "error": {"type": kind, "message": kind}},
                 headers=headers)


def slow(seconds: float, reply: Reply) -> Reply:
    return Reply(reply.status, reply.body, seconds, reply.headers)


class AnthropicStub:
    def __init__(self, default: Reply | None = None) -> None:
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self.default = default or error(500, "api_error")
        self.requests: list[dict] = []
        self.headers: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("content-length") or 0)
                raw = self.rfile.read(length)
                if self.path.split("?")[0] != "/v1/messages":
                    return self._send(Reply(404, {"type": "error", "error": {
                        "type": "not_found_error", "message": self.path}}))
                with stub._lock:
                    stub.requests.append(json.loads(raw or b"{}"))
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = stub._script.popleft() if stub._script else stub.default
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(reply)

            def do_GET(self) -> None:
                self._send(Reply(404, {"type": "error", "error": {"type": "not_found_error",
                                                                  "message": self.path}}))

            def _send(self, reply: Reply) -> None:
                body = reply.body if isinstance(reply.body, str) else json.dumps(reply.body)
                data = body.encode()
                try:
                    self.send_response(reply.status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout): nothing to answer

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def script(self, *replies: Reply) -> None:
        with self._lock:
            self._script.extend(replies)

    @property
    def pending(self) -> int:
        with self._lock:
            return len(self._script)

    def start(self) -> AnthropicStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> AnthropicStub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

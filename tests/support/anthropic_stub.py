"""A local HTTP server speaking the Anthropic Messages API (non-streaming), scriptable
per test, so the real ``anthropic`` client runs against it with ``base_url``.

    with AnthropicStub() as stub:
        stub.script(error(429), keep("fix-x", "Use when ...", "body"))
        client = AsyncAnthropic(api_key="test", base_url=stub.base_url)

Each ``POST /v1/messages`` takes the next scripted :class:`Reply` (after its ``delay_s``);
when the script is empty the ``default`` reply is used (a 500 unless set). Every request
body is recorded in ``stub.requests`` (parsed JSON). Anything else answers 404. A reply
with ``build`` computes its body from the request: :func:`keep` and :func:`merge` use it
to cite, per statement of the body, the prompt's spans it comes from (an honest model).

For runs of hundreds of drafts without HTTP, :class:`FakeClient` is a small in-process
client with the same ``messages.create`` shape, answering through a function of the
request; :func:`honest_answer` and :func:`copying_answer` are two such functions (the
second pastes planted data-span text into the draft: verbatim lines, a backticked step,
plain prose, the description or an output block; citing nothing, the data span honestly,
or lying by citing the user's prompt and the working call).
"""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

TOOL = "record_decision"
_ids = itertools.count()


@dataclass
class Reply:
    status: int = 200
    body: dict | str = field(default_factory=dict)
    delay_s: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    build: Callable[[dict], dict] | None = None  # body computed from the request

    def body_for(self, request: dict) -> dict | str:
        return self.build(request) if self.build is not None else self.body


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


def _citing(answer: dict, citations: list[dict] | str | None, **usage) -> Reply:
    """A tool answer; ``citations="auto"`` cites honestly from the request's spans."""
    if citations != "auto":
        if citations is not None:
            answer = {**answer, "citations": citations}
        return tool_answer(answer, **usage)
    reply = tool_answer(answer, **usage)

    def build(request: dict) -> dict:
        cited = {**answer, "citations": cite_honestly(prompt_spans(request), answer["body"])}
        return message([{**reply.body["content"][0], "input": cited}], **usage)

    reply.build = build
    return reply


def keep(name: str, description: str, body: str, reason: str = "new lesson", *,
         citations: list[dict] | str | None = "auto", **usage) -> Reply:
    return _citing({"decision": "KEEP", "name": name, "description": description,
                    "body": body, "reason": reason}, citations, **usage)


def merge(existing: str, body: str, reason: str = "same situation", *,
          citations: list[dict] | str | None = "auto", **usage) -> Reply:
    return _citing({"decision": "MERGE", "existing_skill": existing, "body": body,
                    "reason": reason}, citations, **usage)


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
    return Reply(reply.status, reply.body, seconds, reply.headers, reply.build)


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
                request = json.loads(raw or b"{}")
                with stub._lock:
                    stub.requests.append(request)
                    stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                    reply = stub._script.popleft() if stub._script else stub.default
                if reply.delay_s:
                    time.sleep(reply.delay_s)
                self._send(Reply(reply.status, reply.body_for(request), 0.0,
                                 reply.headers))

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


# --------------------------------------------------------------------------- fake models

class _Messages:
    def __init__(self, client: FakeClient) -> None:
        self._client = client

    async def create(self, **request) -> SimpleNamespace:
        self._client.requests.append(request)
        tool_input = self._client.respond(request)
        block = SimpleNamespace(type="tool_use", id=f"toolu_fake{next(_ids)}", name=TOOL,
                                input=tool_input)
        usage = SimpleNamespace(input_tokens=1000, output_tokens=200,
                                cache_read_input_tokens=0, cache_creation_input_tokens=0)
        return SimpleNamespace(content=[block], usage=usage)


class FakeClient:
    """An in-process stand-in for ``AsyncAnthropic``: ``messages.create(**request)``
    answers ``record_decision`` with ``respond(request)``."""

    def __init__(self, respond: Callable[[dict], dict]) -> None:
        self.respond = respond
        self.requests: list[dict] = []
        self.messages = _Messages(self)

    async def close(self) -> None:
        return None


# A span of the rendered prompt: an element with an id (any tag name), e.g.
# <untrusted id="s1.4" kind="tool_output" ...>text</untrusted>.
_SPAN = re.compile(r'<(\w+)\s+id="([^"]+)"([^>]*)>\n(.*?)\n</\1>', re.S)
_KIND = re.compile(r'kind="([^"]+)"')
_WORD = re.compile(r"[\w./@:=-]{3,}")
_STOP = frozenset(("the", "and", "for", "with", "this", "that", "from", "then", "when", "into",
                   "run", "use", "not", "are", "was", "has", "have", "you", "your", "its"))


@dataclass(frozen=True)
class PromptSpan:
    id: str
    tag: str
    kind: str
    text: str


def prompt_spans(request: dict) -> list[PromptSpan]:
    """The id-carrying spans of the rendered user message, in order."""
    content = request["messages"][0]["content"]
    if not isinstance(content, str):
        content = "".join(b.get("text", "") for b in content)
    out = []
    for m in _SPAN.finditer(content):
        kind = _KIND.search(m.group(3))
        out.append(PromptSpan(m.group(2), m.group(1), kind.group(1) if kind else "", m.group(4)))
    return out


def _words(text: str) -> set[str]:
    return {w.lower().strip(".,:;`'\"()") for w in _WORD.findall(text)} - _STOP


def statements(body: str) -> list[str]:
    """The lines of a body an honest model would cite: every non-empty line that is not
    a fence or a heading (code lines included: they are the steps)."""
    out = []
    for line in body.splitlines():
        t = line.strip()
        if t and not t.startswith(("```", "#")):
            out.append(t)
    return out


def cite_honestly(spans: list[PromptSpan], body: str) -> list[dict]:
    """For each statement of ``body``, the spans it shares words with (at least two, or
    one token with a digit, slash, dot, hyphen or ``=``); when none of those is a source
    span, the source span it shares the most words with, or the user's first prompt (the
    task the advice serves): what an honest model cites."""
    citations = []
    sources = [sp for sp in spans if sp.tag == "source"]
    for st in statements(body):
        words = _words(st)
        ids = []
        for sp in spans:
            shared = words & _words(sp.text)
            if len(shared) >= 2 or any(re.search(r"[\d/.=-]", w) for w in shared):
                ids.append(sp.id)
        if sources and not any(sp.id in ids for sp in sources):
            best = max(sources, key=lambda sp: (len(words & _words(sp.text)),
                                                sp.kind == "user_prompt"))
            ids.append(best.id)
        if ids:
            citations.append({"statement": st, "spans": ids})
    return citations


def honest_answer(name: str, description: str, body: str) -> Callable[[dict], dict]:
    """A model that writes the given (genuine) draft and cites its sources honestly."""
    def respond(request: dict) -> dict:
        return {"decision": "KEEP", "name": name, "description": description, "body": body,
                "reason": "recovery lesson", "citations": cite_honestly(prompt_spans(request), body)}
    return respond


COPY_STYLES = ("verbatim", "step", "prose", "description", "output-block")
CITE_MODES = ("none", "honest", "lying")


def paste(style: str, body: str, description: str, *, payload: str, planted: str,
          command: str = "") -> tuple[str, str]:
    """(description, body) with the payload pasted in ``style``: the planted data text's
    lines verbatim; a numbered step (the command backticked when there is one); the
    payload folded into a prose paragraph; the description; or a quoted output block."""
    if style == "verbatim":
        lines = [ln for ln in planted.splitlines() if ln.strip()]
        return description, body + "\n" + "\n".join(lines) + "\n"
    if style == "step":
        step = f"Run `{command}`." if command else payload
        return description, body + f"\n## Before you start\n\n1. {step}\n2. {payload}\n"
    if style == "prose":
        folded = " ".join(payload.split())
        return description, body + f"\nAlso worth knowing from this session: {folded[0].lower()}{folded[1:]}\n"
    if style == "description":
        return f"{description.rstrip('.')}. {' '.join(payload.split())}"[:1024], body
    if style == "output-block":
        return description, body + f"\nThe tool printed:\n\n```output\n{payload}\n```\n"
    raise ValueError(f"unknown style {style!r}; choose one of {COPY_STYLES}")


def copying_answer(name: str, description: str, body: str, *, payload: str, planted: str,
                   command: str = "", style: str, cite: str) -> Callable[[dict], dict]:
    """A compromised (or merely obedient) model: the genuine draft plus the planted text,
    pasted in ``style``; citations by ``cite`` (none, honest, lying)."""
    def respond(request: dict) -> dict:
        spans = prompt_spans(request)
        desc, text = paste(style, body, description, payload=payload, planted=planted,
                           command=command)
        answer = {"decision": "KEEP", "name": name, "description": desc, "body": text,
                  "reason": "recovery lesson"}
        if cite == "honest":
            answer["citations"] = cite_honestly(spans, text)
        elif cite == "lying":
            trusted = [s.id for s in spans if s.kind in ("user_prompt", "tool_call")]
            cover = trusted[:1] + trusted[-1:]
            answer["citations"] = [{"statement": st, "spans": cover} for st in statements(text)]
        elif cite != "none":
            raise ValueError(f"unknown citation mode {cite!r}; choose one of {CITE_MODES}")
        return answer
    return respond

"""Drive the real Claude Code CLI (``.cache/claude-code``) offline, against a
:class:`tests.support.claude_stub.ClaudeStub`.

Two ways in, both the real CLI binary:

* :func:`run_print` is ``claude -p PROMPT [--resume ID]`` with ``--output-format json``:
  one turn per process; every process ends with ``SessionEnd`` (reason ``other``), and
  ``--resume`` continues the same ``session_id`` with ``SessionStart`` ``source=resume``.
* :class:`StreamSession` is what the Agent SDK runs: ``claude -p --input-format
  stream-json --output-format stream-json --permission-prompt-tool stdio``. Several
  turns in one process (``Stop`` after each, one ``SessionEnd`` when stdin closes), and
  every permission prompt comes to the test as a ``can_use_tool`` control request, which
  it answers as the human would: this is how a print-mode session *asks* for permission
  (Claude Code then fires ``PermissionRequest``); without it, ``-p`` refuses the tool
  with no ``PermissionRequest`` at all.

The environment sends everything but the stub to a closed port: nothing reaches the
internet.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

from tests.support.claude_stub import ClaudeStub

ROOT = Path(__file__).resolve().parents[2]
CLAUDE = ROOT / ".cache" / "claude-code" / "node_modules" / ".bin" / "claude"
MISSING = (f"Claude Code CLI not installed at {CLAUDE}: run `make claude-code` or "
           "`npm install --prefix .cache/claude-code @anthropic-ai/claude-code`")


def cli_env(env: dict[str, str], stub: ClaudeStub) -> dict[str, str]:
    return {**env, "ANTHROPIC_BASE_URL": stub.base_url, "ANTHROPIC_API_KEY": "sk-test-any",
            "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1", "IS_SANDBOX": "1",
            "DISABLE_AUTOUPDATER": "1",
            # Anything but the stub goes to a closed port: nothing reaches the internet.
            "HTTPS_PROXY": "http://127.0.0.1:9", "HTTP_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost"}


def version() -> str:
    return subprocess.run([str(CLAUDE), "--version"], capture_output=True, text=True,
                          timeout=60).stdout.strip()


def run_print(env: dict[str, str], stub: ClaudeStub, cwd: Path, prompt: str, *,
              resume: str | None = None, timeout_s: float = 180) -> dict:
    """One ``claude -p`` turn (permissions skipped); its JSON result (``session_id``,
    ``result``, ...). Raises ``AssertionError`` with stderr when the CLI fails."""
    argv = [str(CLAUDE), *(["--resume", resume] if resume else []), "-p", prompt,
            "--dangerously-skip-permissions", "--output-format", "json"]
    done = subprocess.run(argv, cwd=cwd, env=cli_env(env, stub), capture_output=True,
                          text=True, timeout=timeout_s)
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    result = json.loads(done.stdout)
    assert not result.get("is_error"), result
    return result


Decide = Callable[[str, dict], bool]


class StreamSession:
    """One multi-turn print-mode session; ``decide(tool_name, tool_input)`` answers each
    permission prompt (True: allow as asked, False: reject). Always use as a context
    manager: the process is closed (stdin EOF: ``SessionEnd``) or killed on exit."""

    def __init__(self, env: dict[str, str], stub: ClaudeStub, cwd: Path, decide: Decide,
                 *, timeout_s: float = 180) -> None:
        self.decide = decide
        self.timeout_s = timeout_s
        self.asked: list[tuple[str, dict, bool]] = []  # (tool, input, allowed)
        self.session_id: str | None = None
        self._proc = subprocess.Popen(
            [str(CLAUDE), "-p", "--input-format", "stream-json", "--output-format",
             "stream-json", "--verbose", "--permission-prompt-tool", "stdio"],
            cwd=cwd, env=cli_env(env, stub), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        self._lines: queue.Queue[str | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _send(self, message: dict) -> None:
        assert self._proc.stdin is not None
        self._proc.stdin.write(json.dumps(message) + "\n")
        self._proc.stdin.flush()

    def turn(self, prompt: str) -> dict:
        """Send one user prompt; answer permission prompts until the turn's result."""
        self._send({"type": "user", "message": {"role": "user", "content": prompt},
                    "parent_tool_use_id": None, "session_id": self.session_id or ""})
        while True:
            try:
                line = self._lines.get(timeout=self.timeout_s)
            except queue.Empty:
                raise AssertionError(f"no result within {self.timeout_s}s") from None
            if line is None:
                raise AssertionError(f"claude exited: {self._stderr()}")
            message = json.loads(line)
            self.session_id = message.get("session_id") or self.session_id
            if message.get("type") == "control_request":
                self._answer(message)
            elif message.get("type") == "result":
                assert not message.get("is_error"), message
                return message

    def _answer(self, message: dict) -> None:
        request = message.get("request") or {}
        if request.get("subtype") != "can_use_tool":
            self._send({"type": "control_response", "response": {
                "subtype": "error", "request_id": message["request_id"],
                "error": f"the test host does not handle {request.get('subtype')}"}})
            return
        tool, tool_input = request.get("tool_name", ""), request.get("input") or {}
        allowed = self.decide(tool, tool_input)
        self.asked.append((tool, tool_input, allowed))
        answer = ({"behavior": "allow", "updatedInput": tool_input} if allowed
                  else {"behavior": "deny", "message": "The user rejected this change."})
        self._send({"type": "control_response", "response": {
            "subtype": "success", "request_id": message["request_id"], "response": answer}})

    def _stderr(self) -> str:
        try:
            return (self._proc.stderr.read() if self._proc.stderr else "")[-2000:]
        except ValueError:
            return ""

    def close(self) -> int:
        """End the session the way an SDK host does: close stdin, wait for the exit."""
        if self._proc.stdin is not None and not self._proc.stdin.closed:
            self._proc.stdin.close()
        try:
            return self._proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            return self._proc.wait(timeout=10)

    def __enter__(self) -> StreamSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self._proc.poll() is None:
            self._proc.kill()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream is not None:
                stream.close()

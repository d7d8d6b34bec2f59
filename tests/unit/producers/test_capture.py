"""Capture: every Claude Code hook payload maps to a valid TurnEvent, lands in the spool
redacted and capped, and the hook exits 0 silently whatever it is fed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.events import (
    HOOK_EVENTS,
    UnsupportedPayload,
    project_name,
    to_turn_event,
)
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.secrets.redact import Redactor
from hivemind_kafka.schemas.events import EventKind, event_from_dict

ROOT = Path(__file__).resolve().parents[3]
TRANSCRIPT = "/home/dev/.claude/projects/-work-app/00893aaf-19fa-41d2-8238-13269b9b3ca0.jsonl"


def _common(event: str, cwd: str = "/work/app") -> dict:
    return {"session_id": "00893aaf-19fa-41d2-8238-13269b9b3ca0", "transcript_path": TRANSCRIPT,
            "cwd": cwd, "permission_mode": "default", "hook_event_name": event}


# One payload per hook event, in the shape Claude Code 2.x sends.
PAYLOADS = {
    "SessionStart": {**_common("SessionStart"), "source": "startup",
                     "model": "claude-sonnet-4-5-20250929"},
    "UserPromptSubmit": {**_common("UserPromptSubmit"),
                         "prompt": "Fix the flaky test in tests/test_api.py"},
    "PreToolUse": {**_common("PreToolUse"), "tool_name": "Bash",
                   "tool_input": {"command": "pytest -q tests/test_api.py",
                                  "description": "Run the API tests"},
                   "tool_use_id": "toolu_01ABC123DEF456GHI789JKL0"},
    "PermissionRequest": {**_common("PermissionRequest"), "tool_name": "Edit",
                          "tool_input": {"file_path": "/work/app/src/api.py",
                                         "old_string": "sleep(1)", "new_string": "wait()"},
                          "permission_suggestions": [{"type": "setMode",
                                                      "mode": "acceptEdits"}]},
    "PermissionDenied": {**_common("PermissionDenied"), "tool_name": "Bash",
                         "tool_input": {"command": "rm -rf build"},
                         "tool_use_id": "toolu_01DENIED", "reason": "destructive command"},
    "PostToolUse": {**_common("PostToolUse"), "tool_name": "Bash",
                    "tool_input": {"command": "pytest -q tests/test_api.py"},
                    "tool_response": {"stdout": "3 passed in 0.12s", "stderr": "",
                                      "interrupted": False, "isImage": False},
                    "tool_use_id": "toolu_01ABC123DEF456GHI789JKL0"},
    "PostToolUseFailure": {**_common("PostToolUseFailure"), "tool_name": "Bash",
                           "tool_input": {"command": "npm test"},
                           "tool_use_id": "toolu_01XYZ",
                           "error": "Command exited with non-zero status code 1",
                           "is_interrupt": False},
    "Stop": {**_common("Stop"), "stop_hook_active": False,
             "last_assistant_message": "The flaky test is fixed: it now waits for the server."},
    "SubagentStop": {**_common("SubagentStop"), "stop_hook_active": False,
                     "agent_id": "a1b2c3d4", "agent_type": "Explore",
                     "agent_transcript_path": "/home/dev/.claude/projects/x/agent-a1b2c3d4.jsonl",
                     "last_assistant_message": "Found 3 call sites."},
    "SessionEnd": {**_common("SessionEnd"), "reason": "prompt_input_exit"},
}


def _map(payload: dict, *, limit: int = 16384) -> tuple[dict, int]:
    return to_turn_event(payload, redactor=Redactor.compile(), workspace_id="ws-1",
                         agent_id="cc-0123456789abcdef", agent_kind="coding", project="app",
                         event_id="e" * 32, ts="2026-11-26T06:40:28.123Z", max_field_bytes=limit)


def _event(payload: dict, **kw):
    record, _ = _map(payload, **kw)
    return event_from_dict({**record, "seq": 0})


@pytest.fixture
def home(tmp_path) -> str:
    h = tmp_path / "home"
    h.mkdir()
    (h / "config.json").write_text(json.dumps({
        "workspace_id": "ws-cfg", "agent_id": "cc-test", "agent_kind": "coding",
        "max_field_bytes": 16384, "agentd_autostart": False}))
    return str(h)


def test_every_registered_hook_event_has_a_mapping_test():
    assert set(PAYLOADS) == set(HOOK_EVENTS)


@pytest.mark.parametrize("event", sorted(PAYLOADS))
def test_every_hook_event_maps_to_a_valid_turn_event(event):
    ev = _event(PAYLOADS[event])
    assert ev.session_id == "00893aaf-19fa-41d2-8238-13269b9b3ca0"
    assert ev.workspace_id == "ws-1" and ev.agent_id == "cc-0123456789abcdef"
    assert ev.source == "claude-code-hook"
    assert ev.ts.tzinfo is not None
    extra = json.loads(ev.extra)
    assert extra["cwd"] == "/work/app"  # skill sync needs the project path
    assert extra["transcript_path"] == TRANSCRIPT


def test_session_start_keeps_source_and_model_in_extra():
    ev = _event(PAYLOADS["SessionStart"])
    assert ev.kind == EventKind.SESSION_START
    assert json.loads(ev.extra)["source"] == "startup"


def test_prompt_text_is_the_prompt():
    ev = _event(PAYLOADS["UserPromptSubmit"])
    assert (ev.kind, ev.text) == (EventKind.PROMPT, "Fix the flaky test in tests/test_api.py")


def test_pre_tool_use_is_a_tool_call_with_json_input():
    ev = _event(PAYLOADS["PreToolUse"])
    assert ev.kind == EventKind.TOOL_CALL
    assert (ev.tool_name, ev.tool_use_id) == ("Bash", "toolu_01ABC123DEF456GHI789JKL0")
    assert json.loads(ev.tool_input) == PAYLOADS["PreToolUse"]["tool_input"]


def test_post_tool_use_bash_output_reads_as_text_and_is_not_an_error():
    ev = _event(PAYLOADS["PostToolUse"])
    assert ev.kind == EventKind.TOOL_RESULT
    assert ev.tool_output == "3 passed in 0.12s"
    assert ev.is_error is False
    assert json.loads(ev.extra)["tool_response_meta"] == {"interrupted": False, "isImage": False}


def test_post_tool_use_stdout_and_stderr_are_both_kept():
    payload = {**PAYLOADS["PostToolUse"],
               "tool_response": {"stdout": "out line", "stderr": "warn line"}}
    assert _event(payload).tool_output == "out line\nwarn line"


def test_post_tool_use_structured_response_is_json_text():
    payload = {**PAYLOADS["PostToolUse"], "tool_name": "Write",
               "tool_response": {"filePath": "/work/app/a.py", "success": True}}
    assert json.loads(_event(payload).tool_output) == {"filePath": "/work/app/a.py",
                                                       "success": True}


def test_post_tool_use_failure_is_an_error_result_with_the_error_text():
    ev = _event(PAYLOADS["PostToolUseFailure"])
    assert ev.kind == EventKind.TOOL_RESULT and ev.is_error is True
    assert ev.tool_output == "Command exited with non-zero status code 1"
    assert ev.is_interrupt is None and "is_interrupt" not in json.loads(ev.extra)


def test_interrupted_tool_is_an_error_result_marked_as_interrupt():
    ev = _event({**PAYLOADS["PostToolUseFailure"], "is_interrupt": True,
                 "error": "Interrupted by user"})
    assert (ev.kind, ev.is_error, ev.is_interrupt) == (EventKind.TOOL_RESULT, True, True)


def test_permission_request_is_the_tool_and_input_awaiting_approval_without_an_id():
    ev = _event(PAYLOADS["PermissionRequest"])
    assert (ev.kind, ev.tool_name, ev.tool_use_id) == (EventKind.PERMISSION_REQUEST, "Edit",
                                                       None)
    assert json.loads(ev.tool_input) == PAYLOADS["PermissionRequest"]["tool_input"]
    assert json.loads(ev.extra)["permission_suggestions"][0]["mode"] == "acceptEdits"


def test_permission_denied_carries_the_call_id_and_the_reason():
    ev = _event(PAYLOADS["PermissionDenied"])
    assert (ev.kind, ev.tool_use_id, ev.reason) == (EventKind.PERMISSION_DENIED,
                                                    "toolu_01DENIED", "destructive command")


def test_session_start_reason_is_its_source():
    for source in ("startup", "resume", "clear", "compact"):
        ev = _event({**PAYLOADS["SessionStart"], "source": source})
        assert ev.reason == source and ev.schema_version == 2


def test_stop_carries_the_last_assistant_message():
    ev = _event(PAYLOADS["Stop"])
    assert (ev.kind, ev.subagent_type) == (EventKind.STOP, None)
    assert ev.text.startswith("The flaky test is fixed")


def test_subagent_stop_is_a_stop_with_subagent_type_and_claude_agent_id_in_extra():
    ev = _event(PAYLOADS["SubagentStop"])
    assert (ev.kind, ev.subagent_type, ev.text) == (EventKind.STOP, "Explore", "Found 3 call sites.")
    assert ev.agent_id == "cc-0123456789abcdef"  # ours, not Claude's subagent id
    assert json.loads(ev.extra)["claude_agent_id"] == "a1b2c3d4"


def test_tool_call_inside_a_subagent_records_its_type():
    payload = {**PAYLOADS["PreToolUse"], "agent_id": "a1b2c3d4", "agent_type": "Plan"}
    assert _event(payload).subagent_type == "Plan"


def test_session_end_carries_the_reason():
    ev = _event(PAYLOADS["SessionEnd"])
    assert (ev.kind, ev.reason) == (EventKind.SESSION_END, "prompt_input_exit")


def test_unknown_fields_are_kept_in_extra():
    payload = {**PAYLOADS["UserPromptSubmit"], "future_field": {"x": [1, 2]}}
    assert json.loads(_event(payload).extra)["future_field"] == {"x": [1, 2]}


@pytest.mark.parametrize("payload", [
    [], "text", 3, {}, {"hook_event_name": "Notification", "session_id": "s"},
    {"hook_event_name": "PreToolUse"}, {"hook_event_name": "PreToolUse", "session_id": ""},
])
def test_unsupported_payloads_are_refused_by_the_mapping(payload):
    with pytest.raises(UnsupportedPayload):
        _map(payload)


def test_oversized_field_is_cut_to_the_limit_with_a_visible_marker():
    out = "".join(f"line {i}: ok\n" for i in range(20000))  # ~250 KB
    payload = {**PAYLOADS["PostToolUse"], "tool_response": {"stdout": out, "stderr": ""}}
    ev = _event(payload, limit=4096)
    assert ev.truncated is True
    assert len(ev.tool_output.encode()) <= 4096
    assert "[hivemind: truncated" in ev.tool_output
    assert ev.tool_output.startswith("line 0: ok")
    assert ev.tool_output.endswith("line 19999: ok\n")  # the tail (errors) survives


def test_cut_counts_bytes_not_characters():
    payload = {**PAYLOADS["UserPromptSubmit"], "prompt": "é" * 5000}  # 10 000 bytes
    ev = _event(payload, limit=4096)
    assert ev.truncated and len(ev.text.encode()) <= 4096


def test_small_fields_are_not_marked_truncated():
    assert _event(PAYLOADS["PostToolUse"]).truncated is False


def test_secret_at_the_cut_is_redacted_not_split():
    secret = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
    filler = "x" * 3000 + " "
    payload = {**PAYLOADS["UserPromptSubmit"], "prompt": filler + secret + " " + "y" * 20000}
    ev = _event(payload, limit=4096)
    assert "A1b2C3d4E5f6" not in ev.text


def _private_number(lines: int) -> tuple[str, list[str]]:
    """``openssl rsa -text`` output: the private exponent as indented hex lines (no
    entropy to spot it by: only the ``privateExponent:`` header tells)."""
    hexes = [":".join(f"{(i * 7 + j * 13) % 256:02x}" for j in range(15)) + ":"
             for i in range(lines)]
    return "privateExponent:\n" + "".join(f"    {h}\n" for h in hexes), hexes


def test_private_block_across_the_tail_window_edge_is_masked_in_the_kept_tail():
    block, hexes = _private_number(300)  # ~15 KB, longer than the window margin
    out = "modulus:\n    00:c5\n" + "".join(f"line {i}: ok\n" for i in range(3000)) + block \
        + "".join(f"line {i}: tail\n" for i in range(40))
    payload = {**PAYLOADS["PostToolUse"], "tool_response": {"stdout": out, "stderr": ""}}
    ev = _event(payload, limit=16384)
    assert ev.truncated
    assert "line 39: tail" in ev.tool_output  # the kept tail is there...
    assert not any(h in ev.tool_output for h in hexes)  # ...without the private number


def test_private_block_across_the_head_window_edge_is_masked_in_the_kept_head():
    block, hexes = _private_number(300)
    out = "".join(f"line {i}: ok\n" for i in range(800)) + block \
        + "".join(f"line {i}: more\n" for i in range(3000))
    payload = {**PAYLOADS["PostToolUse"], "tool_response": {"stdout": out, "stderr": ""}}
    ev = _event(payload, limit=16384)
    assert ev.truncated and ev.tool_output.startswith("line 0: ok")
    assert not any(h in ev.tool_output for h in hexes)


@pytest.mark.parametrize("command", [
    "kubectl get secret db -o jsonpath='{.data.password}' | base64 -d",
    "echo $DB_PASSWORD", "printenv STRIPE_SECRET_KEY", "op read op://prod/db/password"])
def test_output_of_a_command_that_prints_a_secret_is_masked_whole(command):
    payload = {**PAYLOADS["PostToolUse"], "tool_input": {"command": command},
               "tool_response": {"stdout": "Harbor!Nimbus42\n", "stderr": ""}}
    record, redactions = _map(payload)
    assert record["tool_output"] == "[REDACTED:secret_output]" and redactions >= 1


def test_output_of_an_ordinary_echo_is_kept():
    payload = {**PAYLOADS["PostToolUse"], "tool_input": {"command": "echo $HOME"},
               "tool_response": {"stdout": "/home/dev\n", "stderr": ""}}
    assert _map(payload)[0]["tool_output"] == "/home/dev\n"


def test_lone_surrogates_do_not_break_the_record():
    payload = {**PAYLOADS["UserPromptSubmit"], "prompt": "bad \ud800 char"}
    ev = _event(payload)
    assert ev.text == "bad ? char"


def test_project_is_the_git_repository_name(tmp_path):
    repo = tmp_path / "my-service"
    (repo / ".git").mkdir(parents=True)
    (repo / "src" / "pkg").mkdir(parents=True)
    assert project_name(str(repo / "src" / "pkg")) == "my-service"
    assert project_name(str(tmp_path / "plain")) == "plain"


# ------------------------------------------------------------------ capture + spool

def test_capture_spools_each_event_with_increasing_seq_per_session(home):
    for event in ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
                  "SessionEnd"]:
        capture.capture(json.dumps(PAYLOADS[event]).encode(), home=home, environ={})
    other = {**PAYLOADS["UserPromptSubmit"], "session_id": "other-session"}
    capture.capture(json.dumps(other).encode(), home=home, environ={})
    records = [r.data for r in Spool(spool_dir(home)).read().records]
    events = [event_from_dict(r) for r in records]
    main = [e for e in events if e.session_id != "other-session"]
    assert [e.seq for e in main] == [0, 1, 2, 3, 4, 5]
    assert [e.kind for e in main] == ["session_start", "prompt", "tool_call", "tool_result",
                                      "stop", "session_end"]
    assert [e.seq for e in events if e.session_id == "other-session"] == [0]
    assert len({e.event_id for e in events}) == len(events)
    assert all(e.workspace_id == "ws-cfg" and e.agent_id == "cc-test" for e in events)


def test_capture_assigns_turns_with_seq_a_prompt_begins_the_next_turn(home):
    order = ["SessionStart", "UserPromptSubmit", "PreToolUse", "PostToolUse", "Stop",
             "UserPromptSubmit", "PreToolUse", "PermissionRequest", "Stop", "SessionEnd"]
    for event in order:
        capture.capture(json.dumps(PAYLOADS[event]).encode(), home=home, environ={})
    clear = {**PAYLOADS["SessionStart"], "source": "clear"}
    capture.capture(json.dumps(clear).encode(), home=home, environ={})
    capture.capture(json.dumps(PAYLOADS["UserPromptSubmit"]).encode(), home=home, environ={})
    events = [event_from_dict(r.data) for r in Spool(spool_dir(home)).read().records]
    assert [e.turn for e in events] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 1]
    assert [e.seq for e in events] == list(range(len(events)))


def test_an_edit_records_the_session_that_last_edited_the_files_git_work_tree(home, tmp_path):
    repo = tmp_path / "shop"
    (repo / ".git").mkdir(parents=True)
    (repo / "src").mkdir()
    edit = {**PAYLOADS["PostToolUse"], "tool_name": "Edit", "cwd": str(tmp_path),
            "tool_input": {"file_path": str(repo / "src" / "api.py"), "old_string": "a",
                           "new_string": "b"},
            "tool_response": {"filePath": str(repo / "src" / "api.py")}}
    from hivemind_kafka.producers.hook.events import last_edit_file

    capture.capture(json.dumps(PAYLOADS["PostToolUse"]).encode(), home=home, environ={})
    assert not Path(last_edit_file(home, str(repo))).exists()  # Bash: not an edit
    capture.capture(json.dumps(edit).encode(), home=home, environ={})
    recorded = json.loads(Path(last_edit_file(home, str(repo))).read_text())
    assert recorded["session_id"] == PAYLOADS["PostToolUse"]["session_id"]
    assert recorded["workspace_id"] == "ws-cfg" and recorded["project_root"] == str(repo)


def test_workspace_from_environment_overrides_config(home):
    rec = capture.capture(json.dumps(PAYLOADS["Stop"]).encode(), home=home,
                          environ={"HIVEMIND_WORKSPACE_ID": "ws-env"})
    assert rec["workspace_id"] == "ws-env"


def test_capture_without_config_uses_defaults(tmp_path):
    rec = capture.capture(json.dumps(PAYLOADS["Stop"]).encode(), home=str(tmp_path / "h"),
                          environ={})
    ev = event_from_dict(rec)
    assert ev.workspace_id == "default" and ev.agent_id.startswith("cc-")


def test_skipped_payload_is_logged_without_its_content(home):
    secretish = b"not json but contains hunter2-password"
    assert capture.capture(secretish, home=home, environ={}) is None
    log = Path(home, "logs", "capture.log").read_text()
    assert "reason=not-json" in log and "hunter2" not in log
    assert Spool(spool_dir(home)).stats().records == 0


def test_redactor_cache_is_written_and_reused(home):
    capture.capture(json.dumps(PAYLOADS["Stop"]).encode(), home=home, environ={})
    cache = list(Path(home, "cache").glob("redact-*.bin"))
    assert len(cache) == 1
    assert Redactor.from_compiled(cache[0].read_bytes()) is not None


def test_damaged_redactor_cache_falls_back_and_is_rebuilt(home):
    cache = Path(home, "cache", f"redact-{sys.hexversion:x}.bin")
    cache.parent.mkdir(parents=True)
    cache.write_bytes(b"\x00garbage")
    payload = {**PAYLOADS["UserPromptSubmit"], "prompt": "key AKIAIOSFODNN7EXAMPL3"}
    rec = capture.capture(json.dumps(payload).encode(), home=home, environ={})
    assert "AKIAIOSFODNN7EXAMPL3" not in rec["text"]
    assert Redactor.from_compiled(cache.read_bytes()) is not None


def test_session_start_does_not_start_agentd_while_its_lock_is_held(tmp_path):
    from hivemind_kafka.producers.agentd import launch as agentd

    home = tmp_path / "home"
    fd = agentd.acquire(home)
    try:
        assert capture.ensure_agentd(str(home)) is False
    finally:
        agentd.release(fd)


# --------------------------------------------------------- the hook as Claude runs it

def _run_hook(stdin: bytes, home: str, *, argv=("capture",)) -> subprocess.CompletedProcess:
    env = {**os.environ, "HIVEMIND_HOME": home, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", *argv], input=stdin,
                          capture_output=True, env=env, timeout=60)


@pytest.mark.parametrize("stdin", [
    b"", b"not json", b"\xff\xfe\x00\x01", b"[1,2,3]", b'{"hook_event_name": "Stop"}',
    b'{"session_id": "s", "hook_event_name": "Notification"}', b'{"session_id": ',
    json.dumps({**PAYLOADS["UserPromptSubmit"], "prompt": {"nested": ["odd", 1]}}).encode(),
    json.dumps({**PAYLOADS["PreToolUse"], "tool_input": 1e308}).encode(),
], ids=["empty", "text", "binary", "array", "no-session", "unknown-event", "torn-json",
        "odd-prompt-type", "huge-number"])
def test_hook_always_exits_zero_with_empty_stdout(stdin, home):
    done = _run_hook(stdin, home)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_hook_exits_zero_silently_when_home_is_unwritable(tmp_path):
    blocked = tmp_path / "file-not-dir"
    blocked.write_text("x")
    done = _run_hook(json.dumps(PAYLOADS["Stop"]).encode(), str(blocked / "home"))
    assert (done.returncode, done.stdout, done.stderr) == (0, b"", b"")


def test_hook_spools_a_session_start_without_printing(home):
    done = _run_hook(json.dumps(PAYLOADS["SessionStart"]).encode(), home)
    assert (done.returncode, done.stdout) == (0, b"")
    assert Spool(spool_dir(home)).stats().records == 1


def test_hook_handles_a_payload_larger_than_the_pipe_buffer(home):
    big = {**PAYLOADS["PostToolUse"], "tool_response": {"stdout": "z" * 3_000_000, "stderr": ""}}
    done = _run_hook(json.dumps(big).encode(), home)
    assert (done.returncode, done.stdout) == (0, b"")
    (rec,) = Spool(spool_dir(home)).read().records
    assert rec.data["truncated"] is True and len(rec.data["tool_output"]) <= 16384


HEAVY = ["json", "re", "enum", "logging", "subprocess", "argparse", "dataclasses", "uuid",
         "msgspec", "orjson", "pydantic", "pyarrow", "anthropic", "confluent_kafka", "faust",
         "aiokafka", "typing", "pathlib", "datetime", "contextlib", "hashlib"]


def test_hook_path_imports_no_heavy_module(home):
    probe = (
        "import sys\n"
        "from hivemind_kafka.cli.main import main\n"
        "main(['capture'])\n"
        f"heavy = {HEAVY!r}\n"
        "sys.stderr.write(','.join(m for m in heavy if m in sys.modules))\n"
    )
    env = {**os.environ, "HIVEMIND_HOME": home, "PYTHONPATH": str(ROOT)}
    # Build the pattern cache first (a cache miss imports re, once).
    capture.write_redactor_cache(home)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env,
                          input=json.dumps(PAYLOADS["PostToolUse"]).encode(), timeout=60)
    assert done.returncode == 0 and done.stdout == b""
    assert done.stderr.decode() == ""
    assert Spool(spool_dir(home)).stats().records == 1


_CONCURRENT_HOOK = """
import json, sys
from hivemind_kafka.producers.hook import capture
home, worker = sys.argv[1], int(sys.argv[2])
for i in range(25):
    payload = {"session_id": "shared", "cwd": "/work/app", "hook_event_name": "PreToolUse",
               "tool_name": "Bash", "tool_input": {"command": f"w{worker} i{i} " + "x" * (i * 97)},
               "tool_use_id": f"toolu_{worker}_{i}"}
    capture.capture(json.dumps(payload).encode(), home=home, environ={})
"""


def test_concurrent_hooks_of_one_session_get_gapless_unique_seq(home):
    capture.write_redactor_cache(home)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [subprocess.Popen([sys.executable, "-c", _CONCURRENT_HOOK, home, str(w)], env=env)
             for w in range(8)]
    assert [p.wait(timeout=120) for p in procs] == [0] * 8
    spool = Spool(spool_dir(home))
    spool.adopt_deferred()  # hooks that found the lock busy for 5 ms under load
    batch = spool.read(max_records=10_000)
    assert batch.corrupt == []
    seqs = [r.data["seq"] for r in batch.records]
    assert seqs == list(range(200))  # file order == seq order, no gap, no duplicate
    per_worker: dict[str, list[int]] = {}
    for r in batch.records:
        w, i = json.loads(r.data["tool_input"])["command"].split()[:2]
        per_worker.setdefault(w, []).append(int(i[1:]))
    assert all(v == list(range(25)) for v in per_worker.values())


def test_session_start_prunes_week_old_counters_once_a_day(home):
    seq_dir = Path(home, "spool", "seq")
    capture.capture(json.dumps({**PAYLOADS["Stop"], "session_id": "old"}).encode(),
                    home=home, environ={})
    os.utime(seq_dir / "old", (1, 1))
    start = json.dumps(PAYLOADS["SessionStart"]).encode()
    capture.capture(start, home=home, environ={})
    assert not (seq_dir / "old").exists()
    assert (seq_dir / PAYLOADS["SessionStart"]["session_id"]).exists()
    capture.capture(json.dumps({**PAYLOADS["Stop"], "session_id": "old2"}).encode(),
                    home=home, environ={})
    os.utime(seq_dir / "old2", (1, 1))
    capture.capture(start, home=home, environ={})
    assert (seq_dir / "old2").exists()  # pruned at most once a day


def test_console_script_path_imports_no_heavy_module(home):
    probe = (
        "import sys\n"
        "import hivemind_kafka.cli.main\n"
        "import os\n"
        "os._exit = lambda code: (sys.stderr.write(','.join(m for m in "
        f"{HEAVY!r} if m in sys.modules)), sys.stderr.flush(), sys.exit(code))\n"
        "sys.argv = ['hivemind', 'capture']\n"
        "hivemind_kafka.cli.main.entry()\n"
    )
    env = {**os.environ, "HIVEMIND_HOME": home, "PYTHONPATH": str(ROOT)}
    capture.write_redactor_cache(home)
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, env=env,
                          input=json.dumps(PAYLOADS["Stop"]).encode(), timeout=60)
    assert done.returncode == 0 and done.stdout == b""
    assert done.stderr.decode() == ""


@pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe{}", b"", b'"text"'])
def test_a_broken_config_file_reads_as_empty_for_capture_and_agentd(tmp_path, raw):
    from hivemind_kafka.producers.agentd.forwarder import resolve_edge_bootstrap
    from hivemind_kafka.producers.hook.capture import read_config
    from hivemind_kafka.runtime.errors import BrokerUnavailable
    from hivemind_kafka.runtime.settings import Settings

    (tmp_path / "config.json").write_bytes(raw)
    assert read_config(tmp_path) == {}
    settings = Settings().replace(edge={"home": str(tmp_path)}, kafka={"bootstrap": ""})
    with pytest.raises(BrokerUnavailable):  # no config, no env, no broker: a clear error
        resolve_edge_bootstrap(settings)


def test_agentd_reads_the_bootstrap_capture_reads(tmp_path):
    from hivemind_kafka.producers.agentd.forwarder import resolve_edge_bootstrap
    from hivemind_kafka.producers.hook.capture import read_config
    from hivemind_kafka.runtime.settings import Settings

    (tmp_path / "config.json").write_text('{"bootstrap": "kafka:9092", "workspace_id": "w"}')
    settings = Settings().replace(edge={"home": str(tmp_path)}, kafka={"bootstrap": ""})
    assert resolve_edge_bootstrap(settings) == "kafka:9092" == read_config(tmp_path)["bootstrap"]

"""The bad-input corpus through the edge's entry points: hook stdin (the ``capture()``
function and ``hivemind capture`` as a process) and the SDK's public verbs.

For every input the outcome is one of: the event is spooled/queued and valid, a skip
with a logged reason (the hook), or a clear ``ContractViolation`` at the call site (the
SDK). Never a crash, a hang, or a good record lost because a bad one came with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hivemind_kafka.producers.hook import capture
from hivemind_kafka.producers.hook.events import HOOK_EVENTS
from hivemind_kafka.producers.hook.spool import Spool, spool_dir
from hivemind_kafka.producers.sdk import Fleet
from hivemind_kafka.runtime.errors import ContractViolation
from hivemind_kafka.schemas.events import decode_turn_record, encode_event, event_from_dict
from tests.conftest import make_settings
from tests.unit.producers.test_sdk_scope import RecordingProducer

ROOT = Path(__file__).resolve().parents[3]
FUZZ = settings(max_examples=150, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=50),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(
        st.text(max_size=10), children, max_size=4),
    max_leaves=12)
good_ids = st.text(st.characters(categories=["L", "N", "P"]), min_size=1, max_size=64)
payloads = st.fixed_dictionaries({
    "session_id": st.one_of(good_ids, json_values),
    "hook_event_name": st.one_of(st.sampled_from(sorted(HOOK_EVENTS)), json_values),
}, optional={
    "cwd": st.one_of(st.text(max_size=80), json_values),
    "prompt": json_values, "tool_name": json_values, "tool_input": json_values,
    "tool_response": json_values, "tool_use_id": json_values, "error": json_values,
    "source": json_values, "reason": json_values, "last_assistant_message": json_values,
    "transcript_path": json_values, "agent_type": json_values,
})


@pytest.fixture(scope="module")
def home(tmp_path_factory) -> str:
    h = tmp_path_factory.mktemp("edge-inputs") / "home"
    h.mkdir()
    (h / "config.json").write_text(json.dumps({"workspace_id": "ws-fuzz", "agent_id": "cc-f",
                                               "agentd_autostart": False}))
    capture.write_redactor_cache(str(h))
    return str(h)


_read_from: dict[str, object] = {}


def _spooled_or_skipped(record: dict | None, home: str) -> None:
    """A returned record is the one new record in the spool (with its seq); ``None``
    means skipped with a log line and nothing new in the spool. Whether the forwarder
    then sends or dead-letters it is tests/integration/test_edge_faults.py's business."""
    batch = Spool(spool_dir(home)).read(after=_read_from.get(home))  # type: ignore[arg-type]
    _read_from[home] = batch.cursor
    if record is None:
        assert batch.records == []
        return
    assert [(r.data["event_id"], r.seq) for r in batch.records] == [
        (record["event_id"], record["seq"])]


@FUZZ
@given(raw=st.binary(max_size=2000))
def test_any_bytes_on_stdin_are_spooled_or_skipped_never_raised(raw, home):
    _spooled_or_skipped(capture.capture(raw, home=home, environ={}), home)


@FUZZ
@given(payload=payloads)
def test_any_payload_shape_is_spooled_or_skipped_never_raised(payload, home):
    raw = json.dumps(payload).encode()
    record = capture.capture(raw, home=home, environ={})
    _spooled_or_skipped(record, home)
    sid, event = payload["session_id"], payload["hook_event_name"]
    known = isinstance(event, str) and event in HOOK_EVENTS
    if known and isinstance(sid, str) and sid.strip() and len(sid) <= 64:
        # A good session and a known event: never lost because of other odd fields.
        assert record is not None
        encode_event(event_from_dict(record))


@pytest.mark.parametrize("raw,spooled", [
    (b"[" * 200_000 + b"]" * 200_000, False),
    (b'{"a":' * 100_000 + b"1" + b"}" * 100_000, False),
    (json.dumps({"session_id": "s", "hook_event_name": "Stop",
                 "last_assistant_message": "x\ud800y"}).encode(), True),
    (b'{"session_id":"s","hook_event_name":"Stop","cwd":"/w","x":"\\ud800"}', True),
    (b'{"session_id":"s","hook_event_name":"Stop","session_id":"t"}', True),
    (b"\xef\xbb\xbf" + json.dumps({"session_id": "s", "hook_event_name": "Stop"}).encode(),
     False),
    (json.dumps({"session_id": "s", "hook_event_name": "PreToolUse", "tool_name": "Bash",
                 "tool_input": {"command": "\x00\u2028\u0085" * 1000}}).encode(), True),
    (json.dumps({"session_id": "s", "hook_event_name": "UserPromptSubmit",
                 "prompt": "p" * 5_000_000}).encode(), True),
], ids=["deep-array", "deep-object", "surrogate-text", "surrogate-extra", "duplicate-keys",
        "utf8-bom", "controls-and-separators", "5MB-prompt"])
def test_hostile_stdin_through_the_function(raw, spooled, home):
    record = capture.capture(raw, home=home, environ={})
    assert (record is not None) == spooled
    _spooled_or_skipped(record, home)


HOSTILE_STDIN = {
    "deep-array": b"[" * 200_000 + b"]" * 200_000,
    "nul-bytes": b"\x00" * 1000,
    "invalid-utf8": b'{"session_id": "\xff\xfe", "hook_event_name": "Stop"}',
    "surrogate-session": b'{"session_id":"\\ud800","hook_event_name":"Stop","cwd":"/w"}',
    "over-32MiB": b'{"session_id":"s","hook_event_name":"Stop","x":"' + b"a" * (33 << 20)
                  + b'"}',
    "number-4301-digits": b'{"session_id":"s","hook_event_name":"Stop","x":' + b"9" * 4301
                          + b"}",
    "good-stop": b'{"session_id":"s-good","hook_event_name":"Stop","cwd":"/w"}',
}


def test_hostile_stdin_through_the_hook_process(tmp_path):
    """Each input as Claude Code would deliver it: exit 0, nothing on stdout/stderr, and
    the good payload among them is spooled (the 60 s timeout only detects a hang)."""
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.json").write_text(json.dumps({"agentd_autostart": False}))
    env = {**os.environ, "HIVEMIND_HOME": str(home), "PYTHONPATH": str(ROOT)}
    for name, stdin in HOSTILE_STDIN.items():
        done = subprocess.run([sys.executable, "-m", "hivemind_kafka.cli.main", "capture"], input=stdin,
                              capture_output=True, env=env, timeout=60)
        assert (done.returncode, done.stdout, done.stderr) == (0, b"", b""), name
    spool = Spool(spool_dir(home))
    spool.adopt_deferred()
    sessions = [r.data["session_id"] for r in spool.read().records]
    assert "s-good" in sessions
    log = (home / "logs" / "capture.log").read_text()
    assert "reason=nested-too-deep" in log and "reason=larger-than-" in log


# ----------------------------------------------------------------------------- the SDK

@pytest.fixture
def fleet(tmp_path):
    producer = RecordingProducer()
    f = Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id="ws-sdk",
              agent_id="bot-1", agent_kind="support", producer=producer)
    yield f, producer
    f.close()


def _sent(producer: RecordingProducer) -> list:
    return [e for v in producer.values for e in decode_turn_record(v)]


def _circular() -> dict:
    loop: dict = {}
    loop["self"] = loop
    return loop


SDK_BAD_CALLS = {
    "surrogate-prompt": lambda s: s.prompt("a\ud800b"),
    "surrogate-response": lambda s: s.response("\udfff"),
    "int-prompt": lambda s: s.prompt(5),
    "circular-tool-input": lambda s: s.tool_call("lookup", _circular()),
    "circular-tool-output": lambda s: s.tool_result(s.tool_call("lookup", {}), _circular()),
    "naive-timestamp": lambda s: s.prompt("x", ts=__import__("datetime").datetime(2026, 1, 1)),
    "bad-timestamp": lambda s: s.prompt("x", ts="yesterday"),
    "outcome-label-int": lambda s: s.outcome(7),
}


@pytest.mark.parametrize("call", SDK_BAD_CALLS.values(), ids=SDK_BAD_CALLS.keys())
def test_sdk_bad_call_is_a_contract_violation_and_the_session_goes_on(fleet, call):
    f, producer = fleet
    s = f.open_session("s-1")
    s.prompt("before")
    with pytest.raises(ContractViolation):
        call(s)
    s.prompt("after")
    s.stop()
    f.flush()
    texts = [e.text for e in _sent(producer) if e.kind.value == "prompt"]
    assert texts == ["before", "after"]  # the bad call cost nothing else


@pytest.mark.parametrize("kwargs,says", [
    ({"agent_kind": "robot"}, "coding, support, sdr, other"),
    ({"agent_kind": ""}, "coding, support, sdr, other"),
])
def test_sdk_bad_agent_kind_lists_the_valid_ones(tmp_path, kwargs, says):
    with pytest.raises(ContractViolation, match=says):
        Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id="w", agent_id="a",
              producer=RecordingProducer(), **kwargs)


@pytest.mark.parametrize("workspace_id,session_id", [
    ("", "s"), ("w" * 257, "s"), ("w\ud800", "s"), ("w", "s" * 257), ("w", "\udc80"),
], ids=["empty-ws", "long-ws", "surrogate-ws", "long-session", "surrogate-session"])
def test_sdk_bad_identity_is_refused_before_anything_is_queued(tmp_path, workspace_id,
                                                               session_id):
    producer = RecordingProducer()
    f = Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id=workspace_id,
              agent_id="a", producer=producer)
    with pytest.raises(ContractViolation):
        f.open_session(session_id)
    f.close()  # nothing poisoned the buffers: close flushes cleanly
    assert producer.values == []


@FUZZ
@given(text=st.text(st.characters(codec=None, exclude_categories=()), max_size=200),
       data=json_values)
def test_sdk_any_text_or_data_is_queued_or_refused(tmp_path, text, data):
    producer = RecordingProducer()
    f = Fleet(make_settings("127.0.0.1:1", tmp_path), workspace_id="w", agent_id="a",
              producer=producer)
    s = f.open_session("s")
    outcomes = []
    for call in (lambda: s.prompt(text), lambda: s.tool_call(text or "t", data),
                 lambda: s.response(text)):
        try:
            call()
            outcomes.append("queued")
        except ContractViolation:
            outcomes.append("refused")
    s.stop()
    f.close()
    sent = _sent(producer)
    assert len(sent) == 2 + outcomes.count("queued")  # start + stop + what was queued

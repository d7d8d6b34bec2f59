"""Detecting coding outcomes from captured tool calls (sinks.outcomes)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent
from hivemind_kafka.schemas.outcomes import OutcomeResult, OutcomeSource, result_of
from hivemind_kafka.sinks.outcomes import detect_outcomes

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def _pair(i: int, command: str, output: str, *, is_error: bool = False, tool: str = "Bash",
          bash_json: bool = True) -> list[TurnEvent]:
    common = dict(workspace_id="ws", session_id="s1", agent_id="a1", agent_kind=AgentKind.CODING,
                  project="p", tool_name=tool, tool_use_id=f"tu{i}")
    out = json.dumps({"stdout": output, "stderr": "", "interrupted": False}) if bash_json else output
    return [
        TurnEvent(event_id=f"c{i}", seq=2 * i, ts=T0 + timedelta(seconds=2 * i),
                  kind=EventKind.TOOL_CALL, tool_input=json.dumps({"command": command}), **common),
        TurnEvent(event_id=f"r{i}", seq=2 * i + 1, ts=T0 + timedelta(seconds=2 * i + 1),
                  kind=EventKind.TOOL_RESULT, tool_output=out, is_error=is_error, **common),
    ]


@pytest.mark.parametrize(("command", "output", "is_error", "label"), [
    ("pytest -q tests/", "....\n4 passed in 0.12s", False, "tests_passed"),
    ("cd app && python -m pytest", "1 failed, 3 passed in 0.3s", False, "tests_failed"),
    ("npm test", "Tests:       2 failed, 10 passed, 12 total", True, "tests_failed"),
    ("npm run test", "Tests:       12 passed, 12 total", False, "tests_passed"),
    ("go test ./...", "ok  \texample.com/x\t0.01s", False, "tests_passed"),
    ("go test ./...", "--- FAIL: TestX (0.00s)\nFAIL", True, "tests_failed"),
    ("cargo test", "test result: ok. 8 passed; 0 failed", False, "tests_passed"),
    ("cargo test", "test result: FAILED. 7 passed; 1 failed", True, "tests_failed"),
    ("python -m unittest", "Ran 3 tests in 0.001s\n\nOK", False, "tests_passed"),
    ("pytest", "collected 0 items / 1 error", True, "tests_failed"),
    ('git commit -m "fix parser"', "[main 3f2a1bc] fix parser\n 1 file changed", False, "committed"),
    ('git add -A && git commit -m "x"', "[feature/y (root-commit) 0a1b2c3d] x", False, "committed"),
    ("git -C repo commit -am wip", "[main abcdef1] wip", False, "committed"),
    ("git revert HEAD --no-edit", "[main 1234567] Revert \"x\"", False, "reverted"),
    ("git reset --hard HEAD~1", "HEAD is now at 1234567 x", False, "reverted"),
])
def test_tool_call_and_result_yield_the_documented_label(command, output, is_error, label):
    found = detect_outcomes(_pair(1, command, output, is_error=is_error))
    assert [o.label for o in found] == [label]
    assert found[0].result == result_of(label)
    assert found[0].source == OutcomeSource.DETECTED
    assert found[0].evidence_event_id == "r1"


@pytest.mark.parametrize(("command", "output", "is_error"), [
    ("pytest", "", False),  # no marker: ambiguous
    ('git commit -m "x"', "On branch main\nnothing to commit, working tree clean", True),
    ('git commit -m "x"', "nothing added to commit but untracked files present", False),
    ("git commit --dry-run", "[main 3f2a1bc] x", False),
    ("ls tests/", "test_a.py 3 passed", False),  # not a test runner
    ("git log --oneline | grep commit", "abc commit", False),
    ("echo pytest-like", "1 passed", False),
    ("git revert HEAD", "error: could not revert", True),
])
def test_ambiguous_or_unrelated_commands_yield_nothing(command, output, is_error):
    assert detect_outcomes(_pair(1, command, output, is_error=is_error)) == []


def test_a_call_without_its_result_yields_nothing():
    call, _ = _pair(1, "pytest", "3 passed")
    assert detect_outcomes([call]) == []


def test_plain_text_output_is_read_like_bash_json():
    assert [o.label for o in detect_outcomes(_pair(1, "pytest", "2 passed", bash_json=False))] == ["tests_passed"]


def test_failing_run_then_fixed_run_reports_both_in_order():
    events = _pair(1, "pytest", "1 failed") + _pair(2, "pytest", "5 passed")
    found = detect_outcomes(events)
    assert [o.label for o in found] == ["tests_failed", "tests_passed"]
    assert [o.result for o in found] == [OutcomeResult.FAILURE, OutcomeResult.SUCCESS]


def test_replaying_a_session_detects_the_same_outcome_ids():
    events = _pair(1, "pytest", "1 failed") + _pair(2, "git commit -m x", "[main abc1234] x")
    assert [o.outcome_id for o in detect_outcomes(events)] == [o.outcome_id for o in detect_outcomes(events)]
    assert len({o.outcome_id for o in detect_outcomes(events)}) == 2

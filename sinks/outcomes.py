"""Detect coding outcomes from a session's own tool calls (pure logic).

``detect_outcomes(events)`` pairs each shell ``tool_call`` (Claude Code ``Bash``; any tool
whose input has a ``command``) with its ``tool_result`` by ``tool_use_id`` and reads:

==============================  =========================================  ==============
command                         result                                     label
==============================  =========================================  ==============
a test runner (pytest, npm      failure marker, or ``is_error``            tests_failed
test, go test, cargo test, ...) pass marker and no failure marker          tests_passed
``git commit``                  not an error, a ``[branch sha]`` line      committed
``git revert`` / ``git reset    not an error                               reverted
--hard``
==============================  =========================================  ==============

Conservative by design: an ambiguous result (a test run whose output has neither marker,
a commit with "nothing to commit") yields nothing rather than a guess. A call without its
result yields nothing. Each detection's ``outcome_id`` is derived from the result event's
id and the label, so replaying a session detects the same ids (readers deduplicate).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable

import msgspec

from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.outcomes import Outcome, OutcomeSource, result_of

TEST_COMMAND_RE = re.compile(
    r"(?:^|[\s;&|(])(?:"
    r"pytest|py\.test|python3? -m (?:pytest|unittest)|tox|nox|"
    r"(?:npm|pnpm|yarn|bun)(?: run)? test|npx (?:jest|vitest|mocha)|jest|vitest|mocha|"
    r"go test|cargo (?:test|nextest)|mvn(?:w)? (?:\S+ )*test|gradlew? (?:\S+ )*test|"
    r"make (?:test|check)|rspec|bundle exec rspec|phpunit|ctest|dotnet test|mix test"
    r")(?=$|[\s;&|)])"
)
TEST_FAILED_RE = re.compile(
    r"\b[1-9]\d* (?:failed|errors?)\b|^FAILED\b|^FAIL\b|^--- FAIL|test result: FAILED|"
    r"Tests:\s+\d+ failed|^FAILURES!|^ERRORS?!|\bFAILED \(|AssertionError",
    re.MULTILINE,
)
TEST_PASSED_RE = re.compile(
    r"\b\d+ passed\b|test result: ok\b|^ok\s+\S|^PASS\b|Tests:\s+\d+ passed|"
    r"^OK(?: \(|$)|\b\d+ (?:tests?|examples?), 0 failures\b|^All tests passed",
    re.MULTILINE,
)
GIT_COMMIT_RE = re.compile(r"(?:^|[\s;&|(])git(?:\s+-\S+(?:\s+\S+)?)*\s+commit\b")
COMMIT_MADE_RE = re.compile(r"^\[[^\]\s]+(?: \([^)]*\))? [0-9a-f]{7,40}\]", re.MULTILINE)
NOTHING_TO_COMMIT_RE = re.compile(r"nothing to commit|no changes added to commit|nothing added to commit")
GIT_REVERT_RE = re.compile(r"(?:^|[\s;&|(])git\s+(?:revert\b|reset\s+(?:\S+\s+)*--hard\b)")


def command_of(event: TurnEvent) -> str | None:
    """The shell command of a tool call (``tool_input`` JSON with a ``command``)."""
    if event.kind != EventKind.TOOL_CALL or not event.tool_input:
        return None
    try:
        data = msgspec.json.decode(event.tool_input)
    except msgspec.DecodeError:
        return None
    command = data.get("command") if isinstance(data, dict) else None
    return command if isinstance(command, str) else None


def output_text(event: TurnEvent) -> str:
    """Tool output as text: Claude Code's Bash response JSON is flattened to stdout+stderr."""
    raw = event.tool_output or ""
    if raw.startswith("{"):
        try:
            data = msgspec.json.decode(raw)
        except msgspec.DecodeError:
            return raw
        if isinstance(data, dict) and ("stdout" in data or "stderr" in data):
            return f"{data.get('stdout') or ''}\n{data.get('stderr') or ''}"
    return raw


def classify(command: str, output: str, is_error: bool) -> str | None:
    """The outcome label one command and its result show, or None when ambiguous."""
    if GIT_REVERT_RE.search(command):
        return None if is_error else "reverted"
    if GIT_COMMIT_RE.search(command) and "--dry-run" not in command:
        if is_error or NOTHING_TO_COMMIT_RE.search(output):
            return None
        return "committed" if COMMIT_MADE_RE.search(output) else None
    if TEST_COMMAND_RE.search(command):
        if TEST_FAILED_RE.search(output):
            return "tests_failed"
        if is_error:
            return "tests_failed"
        if TEST_PASSED_RE.search(output):
            return "tests_passed"
    return None


def detect_outcomes(events: Iterable[TurnEvent]) -> list[Outcome]:
    """Outcomes shown by the tool calls among ``events`` (one session), in result order."""
    calls: dict[str, str] = {}
    found: list[Outcome] = []
    for event in events:
        if event.kind == EventKind.TOOL_CALL and event.tool_use_id:
            command = command_of(event)
            if command is not None:
                calls[event.tool_use_id] = command
        elif event.kind == EventKind.TOOL_RESULT and event.tool_use_id in calls:
            command = calls.pop(event.tool_use_id)  # type: ignore[arg-type]
            label = classify(command, output_text(event), bool(event.is_error))
            if label is not None:
                found.append(_outcome(event, label))
    return found


def _outcome(result_event: TurnEvent, label: str) -> Outcome:
    digest = hashlib.blake2b(f"{result_event.event_id}\x00{label}".encode(), digest_size=12)
    return Outcome(
        outcome_id=f"det-{digest.hexdigest()}", workspace_id=result_event.workspace_id,
        session_id=result_event.session_id, agent_id=result_event.agent_id, label=label,
        result=result_of(label), source=OutcomeSource.DETECTED, ts=result_event.ts,
        evidence_event_id=result_event.event_id,
    )

"""Candidate selection: clean correction signals only, trivial sessions never."""

from __future__ import annotations

from hivemind_kafka.schemas.events import AgentKind
from hivemind_kafka.schemas.sessions import CandidateReason, CloseReason
from hivemind_kafka.streams.candidates import (
    candidate_reasons,
    candidate_topic,
    command_signature,
    is_correction,
    is_failed_result,
)
from tests.unit.streams.codifier.builders import bash, outcome, prompt, response, session, tool

R = CandidateReason


def test_trivial_session_without_tools_is_not_a_candidate_even_with_outcome():
    s = session([prompt("hi"), response("hello"), outcome("accepted")])
    assert candidate_reasons(s) == []


def test_tool_use_without_any_signal_is_not_a_candidate():
    s = session([prompt("list files"), bash("ls", "a b c"), response("done")])
    assert candidate_reasons(s) == []


def test_failed_then_working_call_of_same_tool_is_a_recovery():
    s = session([prompt("test"), bash("pytest", "command not found", error=True),
                 bash("python -m pytest", "3 passed")])
    assert candidate_reasons(s) == [R.TOOL_RECOVERY]


def test_nonzero_exit_in_output_counts_as_failure():
    s = session([prompt("build"), bash("make", "make: *** [all] Error 2\nexit code: 2"),
                 bash("make all", "ok")])
    assert candidate_reasons(s) == [R.TOOL_RECOVERY]


def test_failure_recovered_by_a_different_tool_is_not_a_recovery():
    s = session([prompt("x"), bash("cat a.txt", "No such file", error=True),
                 tool("Read", {"file_path": "b.txt"}, "content")])
    assert R.TOOL_RECOVERY not in candidate_reasons(s)


def test_failure_never_recovered_is_not_a_recovery():
    s = session([prompt("x"), bash("pytest", "boom", error=True),
                 bash("pytest -x", "boom again", error=True)])
    assert candidate_reasons(s) == []


def test_human_correction_followed_by_success():
    s = session([prompt("add a migration"), bash("alembic revision -m x", "ok"),
                 prompt("no, use --autogenerate instead"),
                 bash("alembic revision --autogenerate -m x", "ok")])
    assert candidate_reasons(s) == [R.HUMAN_CORRECTION]


def test_human_correction_followed_by_failure_is_not_clean():
    s = session([prompt("add a migration"), bash("alembic revision -m x", "ok"),
                 prompt("that's wrong, don't use -m"),
                 bash("alembic revision", "FAILED", error=True)])
    assert R.HUMAN_CORRECTION not in candidate_reasons(s)


def test_first_prompt_is_never_a_correction():
    s = session([prompt("no, use yarn instead of npm this time"), bash("yarn", "done")])
    assert R.HUMAN_CORRECTION not in candidate_reasons(s)


def test_correction_phrases():
    for text in ("no, use pnpm", "That's wrong.", "don't run the migrations",
                 "use the staging cluster instead", "not what I asked", "Wrong, it's port 5433"):
        assert is_correction(text), text
    for text in ("now add tests", "nothing else", "use pnpm", "great, thanks", "known issue"):
        assert not is_correction(text), text


def test_learnable_outcomes_per_agent_kind():
    for label, kind in (("tests_passed", AgentKind.CODING), ("committed", AgentKind.CODING),
                        ("accepted", AgentKind.CODING), ("resolved", AgentKind.SUPPORT),
                        ("escalated", AgentKind.SUPPORT), ("meeting_booked", AgentKind.SDR),
                        ("replied", AgentKind.SDR), ("Tests Passed", AgentKind.CODING)):
        s = session([prompt("go"), tool("crm", {"q": 1}, "ok"), outcome(label)], kind=kind)
        assert candidate_reasons(s) == [R.OUTCOME], label


def test_negative_or_unknown_outcome_is_not_a_signal():
    for label in ("tests_failed", "reverted", "bounced", "whatever"):
        s = session([prompt("go"), bash("ls", "ok"), outcome(label)])
        assert candidate_reasons(s) == [], label


def test_idle_closed_session_with_a_signal_is_still_a_candidate():
    s = session([prompt("t"), bash("pytest", "x", error=True), bash("python -m pytest", "ok")],
                close=CloseReason.IDLE)
    assert candidate_reasons(s) == [R.TOOL_RECOVERY]


def test_command_signature_skips_flags_and_their_values():
    s = session([prompt("db"), bash("psql -U app app_dev", "refused", error=True),
                 bash("psql -h localhost -U app app_dev", "ok")])
    call = s.events[1]
    assert is_failed_result(s.events[2])
    assert command_signature(call) == "Bash:psql-app_dev"
    assert candidate_topic(s) == "recovery:Bash:psql-app_dev"


def test_topic_of_non_shell_tool_is_the_tool_name():
    s = session([prompt("close"), tool("zendesk_update", {"ticket_id": 1, "status": "solved"},
                                       "422", error=True),
                 tool("zendesk_update", {"ticket_id": 1, "status": "pending"}, "ok")])
    assert candidate_topic(s) == "recovery:zendesk_update"


def test_dont_retry_reads_as_a_correction_dont_worry_does_not():
    assert is_correction("Don't retry the refund: escalate it to billing.")
    assert not is_correction("don't worry about the lint warnings")

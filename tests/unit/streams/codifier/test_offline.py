"""The offline codifier: deterministic, quoted from the sessions, SKIP when nothing to learn."""

from __future__ import annotations

import asyncio

from hivemind_kafka.schemas.skills import Decision, is_valid_skill_name
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import Draft, Rejection
from hivemind_kafka.streams.codifier.offline import OfflineCodifier, draft_offline, skill_name
from tests.unit.streams.codifier.builders import (
    bash,
    candidate,
    outcome,
    prompt,
    recovery_session,
    session,
    tool,
)


def test_same_candidate_gives_the_same_draft():
    cand = candidate(recovery_session(session_id="same"))
    assert draft_offline(cand) == draft_offline(cand)


def test_recovery_draft_quotes_failed_command_error_and_fix():
    d = draft_offline(candidate(recovery_session()))
    assert isinstance(d, Draft) and d.decision is Decision.KEEP
    assert d.name == "fix-bash-pytest" and is_valid_skill_name(d.name)
    assert d.description.startswith("Use when `pytest tests/` fails")
    assert "```\npytest tests/\n```" in d.body
    assert "bash: pytest: command not found" in d.body
    assert "```\npython -m pytest tests/\n```" in d.body


def test_correction_draft_quotes_user_and_next_command():
    s = session([prompt("add a migration"), bash("alembic revision -m x", "ok"),
                 prompt("no, use --autogenerate instead"),
                 bash("alembic revision --autogenerate -m x", "ok")])
    d = draft_offline(candidate(s))
    assert d.name == "prefer-bash-alembic-revision"
    assert "> no, use --autogenerate instead" in d.body
    assert "alembic revision --autogenerate -m x" in d.body


def test_outcome_alone_is_skipped_with_its_reason():
    s = session([prompt("ship it"), bash("make check", "ok"), bash("git commit -am fix", "1 file"),
                 outcome("committed")])
    d = draft_offline(candidate(s))
    assert isinstance(d, Rejection) and "nothing to teach" in d.reason


def test_outcome_after_a_recovery_lists_the_steps_that_led_to_it():
    s = session([prompt("ship it"), bash("make chek", "make: *** No rule to make target", error=True),
                 bash("make check", "ok"), bash("git commit -am fix", "1 file"),
                 outcome("committed")])
    d = draft_offline(candidate(s))
    assert isinstance(d, Draft)
    assert "## Steps that led to committed" in d.body
    assert "2. `make check`" in d.body and "3. `git commit -am fix`" in d.body


def test_non_shell_tool_is_quoted_as_compact_json():
    s = session([prompt("close ticket"),
                 tool("zendesk_update", {"ticket_id": 7, "status": "solved"}, "422", error=True),
                 tool("zendesk_update", {"ticket_id": 7, "status": "pending"}, "ok")])
    d = draft_offline(candidate(s))
    assert 'zendesk_update {"status":"pending","ticket_id":7}' in d.body


def test_nothing_to_learn_is_a_skip():
    s = session([prompt("list"), bash("ls", "a b")])
    result = asyncio.run(OfflineCodifier().draft(candidate(s), Library()))
    assert isinstance(result, Rejection) and not result.retryable


def test_grouped_sessions_give_one_draft_with_each_distinct_example():
    a = recovery_session(error="bash: pytest: command not found")
    b = recovery_session(error="pytest: not found")
    d = draft_offline(candidate(a, b))
    assert d.body.startswith("Learned from 2 session(s)")
    assert "bash: pytest: command not found" in d.body and "pytest: not found" in d.body


def test_skill_names_are_always_valid():
    for sig in ("fix-Bash:python-pytest", "prefer-Bash:", "x" * 200, "::", "fix-Read"):
        assert is_valid_skill_name(skill_name(sig)), sig

"""Candidate selection over whole multi-turn sessions: a human's correction comes as the
*next* turn's prompt, or as the prompt after a rejected or interrupted tool call.

The adversarial cases (corrections spread across turns, corrections phrased like
pleasantries and pleasantries phrased like corrections, several corrections, corrections
followed by failure) were written before the selection rules they test."""

from __future__ import annotations

import pytest

from hivemind_kafka.schemas.events import AgentKind
from hivemind_kafka.schemas.sessions import CandidateReason
from hivemind_kafka.streams.candidates import (
    candidate_reasons,
    candidate_topic,
    correction_prompts,
    is_correction,
    session_events,
)
from tests.unit.streams.turns import (
    bash,
    call,
    edit,
    events_of,
    outcome,
    prompt,
    response,
    session_of,
)

R = CandidateReason


def test_correction_in_turn_three_of_what_the_agent_did_in_turn_two_is_found():
    s = session_of([
        [prompt("hi, we are working on the checkout service"), response("Ok.")],
        [prompt("run the tests"), bash("pytest", "bash: pytest: command not found"),
         response("pytest is missing.")],
        [prompt("No, use `python -m pytest` instead, it is in the venv"),
         bash("python -m pytest -q", "42 passed"), response("All green.")],
    ])
    assert candidate_reasons(s) == [R.HUMAN_CORRECTION]
    assert candidate_topic(s).startswith("correction:Bash")


def test_correction_many_turns_after_the_action_is_still_found():
    filler = [[prompt(f"explain module {i}"), response("It does things.")] for i in range(6)]
    s = session_of([[prompt("add the index"), bash("alembic upgrade head", "ok")], *filler,
                    [prompt("that's wrong: run make db-reset first"),
                     bash("make db-reset && alembic upgrade head", "ok")]])
    assert R.HUMAN_CORRECTION in candidate_reasons(s)


@pytest.mark.parametrize("text", [
    "no problem, thanks!", "No worries, that's fine", "no rush", "nope, all good",
    "No, that's all for now", "no thanks", "don't worry about the lint warnings",
    "no need to hurry", "No, that's it. Great work",
])
def test_pleasantries_phrased_like_corrections_are_not_corrections(text):
    assert not is_correction(text), text
    s = session_of([[prompt("run the tests"), bash("python -m pytest", "3 passed")],
                    [prompt(text), bash("git status", "clean")]])
    assert R.HUMAN_CORRECTION not in candidate_reasons(s), text


@pytest.mark.parametrize("text", [
    "no, use pnpm", "No. Use the staging cluster instead", "nope, wrong file",
    "don't touch the migrations", "that's not what I asked", "stop, use tenacity",
])
def test_corrections_still_read_as_corrections(text):
    assert is_correction(text), text


def test_several_corrections_first_failing_then_working_is_a_candidate_on_the_working_one():
    s = session_of([
        [prompt("build the bundle"), bash("npm run build", "Error: Node 18\nexit code 1")],
        [prompt("no, use yarn instead"), bash("yarn build", "Error: Node 18\nexit code 1")],
        [prompt("wrong, run nvm use 20 first"), bash("nvm use 20 && yarn build", "built")],
    ])
    assert len(correction_prompts(session_events(s))) == 2
    assert set(candidate_reasons(s)) == {R.HUMAN_CORRECTION, R.TOOL_RECOVERY}


def test_correction_followed_by_failure_is_not_a_candidate():
    s = session_of([
        [prompt("deploy the api"), bash("kubectl apply -f api.yaml", "applied")],
        [prompt("no, deploy to staging instead"),
         bash("kubectl --context staging apply -f api.yaml", "error: forbidden\nexit code 1",
              error=True)],
    ])
    assert R.HUMAN_CORRECTION not in candidate_reasons(s)


def test_correction_followed_by_a_failure_outcome_is_not_a_candidate():
    s = session_of([[prompt("fix the flaky test"), edit("tests/test_api.py")],
                    [prompt("no, don't sleep in tests; wait for the server instead"),
                     edit("tests/test_api.py", "wait_for(server)"), response("Done.")]],
                   outcome_label="reverted")
    assert R.HUMAN_CORRECTION not in candidate_reasons(s)


def test_correction_that_worked_is_not_undone_by_an_unrelated_failing_later_turn():
    s = session_of([
        [prompt("start the db"), bash("docker compose up db", "port 5432 in use\nexit code 1")],
        [prompt("no, use port 5433 instead"), bash("PGPORT=5433 docker compose up db", "ok")],
        [prompt("now lint"), bash("ruff check .", "3 errors\nexit code 1")],
    ])
    assert R.HUMAN_CORRECTION in candidate_reasons(s)


def test_rejected_edit_then_a_plain_prompt_is_a_native_correction():
    # The prompt has no correction words: the rejection is the signal.
    s = session_of([
        [prompt("add a slugify helper"), edit("src/app.py", "def slugify", output=None,
                                               asked=True),
         response("The edit was not applied.")],
        [prompt("put it in src/utils/strings.py"), edit("src/utils/strings.py", "def slugify")],
    ])
    assert R.HUMAN_CORRECTION in candidate_reasons(s)
    assert candidate_topic(s) == "correction:Edit"


def test_interrupted_and_denied_calls_followed_by_a_prompt_are_corrections():
    for rejected in (bash("rm -rf build", interrupt=True),
                     call("Write", {"file_path": "/etc/hosts"}, denied=True)):
        s = session_of([[prompt("clean up"), rejected],
                        [prompt("only delete build/tmp"), bash("rm -rf build/tmp", "")]])
        assert R.HUMAN_CORRECTION in candidate_reasons(s)


def test_approved_permission_request_then_a_new_request_is_not_a_correction():
    s = session_of([[prompt("add a slugify helper"), edit("src/utils.py", asked=True)],
                    [prompt("now add tests for it"), edit("tests/test_utils.py")]])
    assert R.HUMAN_CORRECTION not in candidate_reasons(s)


def test_rejection_with_no_later_prompt_has_nothing_to_learn():
    s = session_of([[prompt("refactor"), edit("src/app.py", output=None, asked=True)]])
    assert candidate_reasons(s) == []


def test_correction_in_a_resumed_generation_sees_the_carried_context():
    first = events_of([[prompt("run the tests"), bash("pytest", "command not found",
                                                      error=True)]], sid="s-resumed")
    s = session_of([[prompt("no, use python -m pytest instead"),
                     bash("python -m pytest", "3 passed")]], sid="s-resumed", carried=first)
    assert R.HUMAN_CORRECTION in candidate_reasons(s)
    # Without the context, the same generation has nothing to correct.
    alone = session_of([[prompt("no, use python -m pytest instead"),
                         bash("python -m pytest", "3 passed")]])
    assert R.HUMAN_CORRECTION not in candidate_reasons(alone)


def test_late_learnable_outcome_completes_a_correction_without_tool_success():
    s = session_of([[prompt("email the Northwind VP"), call("crm.lookup", {"q": "northwind.io"},
                                                            "no account", error=True)],
                    [prompt("that's wrong: look them up as Northwind Traders"),
                     response("Drafted the email.")]],
                   kind=AgentKind.SDR, outcome_label="meeting_booked")
    assert R.HUMAN_CORRECTION in candidate_reasons(s)


def test_stop_events_between_turns_do_not_hide_the_action_before_a_correction():
    s = session_of([[prompt("deploy"), bash("make deploy", "ok")],
                    [prompt("don't deploy on fridays; open a PR instead"),
                     bash("gh pr create", "https://github.com/x/pull/1"), outcome("merged")]])
    assert set(candidate_reasons(s)) == {R.HUMAN_CORRECTION, R.OUTCOME}

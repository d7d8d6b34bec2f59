"""Edit acceptance from Claude Code's native signals: which proposed edits ran, which the
human rejected (a permission request left without a result, an auto-mode denial, an
interrupt), in whatever order the events arrive."""

from __future__ import annotations

import random

from hivemind_kafka.schemas.events import EventKind
from hivemind_kafka.streams.approvals import (
    EditCounts,
    ToolLedger,
    edit_ledger,
    rejections,
    verdict,
)
from tests.unit.streams.turns import bash, call, edit, events_of, prompt


def counts(events) -> EditCounts:
    ledger = edit_ledger()
    for e in events:
        ledger.observe(e)
    return ledger.edit_counts()


def one_turn(*steps) -> list:
    return events_of([[prompt("go"), *steps]], sid="s-approvals")


def test_an_edit_that_ran_is_accepted_with_or_without_a_permission_request():
    assert counts(one_turn(edit("a.py"))) == EditCounts(1, 1, 0)
    assert counts(one_turn(edit("a.py", asked=True))) == EditCounts(1, 1, 0)


def test_a_permission_request_left_without_result_is_a_rejection():
    assert counts(one_turn(edit("a.py", output=None, asked=True))) == EditCounts(1, 0, 1)


def test_denied_and_interrupted_edits_are_rejections():
    assert counts(one_turn(call("Write", {"file_path": "x"}, denied=True))) == EditCounts(1, 0, 1)
    assert counts(one_turn(edit("a.py", interrupt=True))) == EditCounts(1, 0, 1)


def test_an_edit_that_failed_by_itself_is_neither_accepted_nor_rejected():
    events = one_turn(edit("a.py", output="old_string not found", error=True))
    assert counts(events) == EditCounts(1, 0, 0)


def test_a_call_still_without_result_and_without_request_is_pending_not_rejected():
    assert counts(one_turn(edit("a.py", output=None))) == EditCounts(1, 0, 0)


def test_two_identical_edits_pair_each_request_with_its_own_call():
    # The same tool and input twice: the first approved (ran), the second rejected.
    first = edit("a.py", "same", asked=True)
    second = edit("a.py", "same", output=None, asked=True)
    assert counts(one_turn(first, second)) == EditCounts(2, 1, 1)


def test_requests_without_tool_use_id_pair_with_the_most_recent_open_call():
    a = edit("a.py", "same", output=None)  # still running when b is proposed
    b = edit("a.py", "same", output=None, asked=True)
    events = one_turn(a, b)
    ledger = edit_ledger()
    for e in events:
        ledger.observe(e)
    by_id = ledger.verdicts()
    b_id = next(e.tool_use_id for e in events if e.kind is EventKind.TOOL_CALL
                and e.tool_use_id == b[0]["tool_use_id"])
    assert by_id[b_id] == "rejected" and list(by_id.values()).count("pending") == 1


def test_non_edit_tools_never_count():
    assert counts(one_turn(bash("rm -rf /", output=None, asked=True), bash("ls"))) == \
        EditCounts(0, 0, 0)


def test_arrival_order_does_not_change_the_counts():
    steps = [edit("a.py", asked=True), edit("b.py", output=None, asked=True),
             call("MultiEdit", {"file_path": "c.py"}, denied=True), edit("d.py", interrupt=True),
             call("NotebookEdit", {"notebook_path": "n.ipynb"}), edit("e.py", "e", error=True,
                                                                        output="no match")]
    events = one_turn(*steps)
    expected = counts(events)
    assert expected == EditCounts(6, 2, 3)
    rng = random.Random(3)
    for _ in range(50):
        shuffled = list(events)
        rng.shuffle(shuffled)
        assert counts(shuffled) == expected


def test_a_result_without_its_call_still_counts_once():
    events = [e for e in one_turn(edit("a.py")) if e.kind is not EventKind.TOOL_CALL]
    assert counts(events) == EditCounts(1, 1, 0)


def test_ledger_state_round_trips_through_plain_dicts():
    events = one_turn(edit("a.py", output=None, asked=True), edit("b.py", output=None))
    half = len(events) // 2
    ledger = edit_ledger()
    for e in events[:half]:
        ledger.observe(e)
    restored = edit_ledger(dict(ledger.calls), dict(ledger.open), dict(ledger.waiting))
    for e in events[half:]:
        restored.observe(e)
    assert restored.edit_counts() == counts(events)


def test_rejection_points_name_the_deciding_events():
    events = one_turn(edit("a.py", output=None, asked=True), bash("make", interrupt=True),
                      edit("b.py", asked=True))
    ids = rejections(events)
    kinds = sorted(e.kind.value for e in events if e.event_id in ids)
    assert kinds == ["permission_request", "tool_result"]


def test_verdict_precedence():
    assert verdict(0) == "pending"
    ledger = ToolLedger()
    assert ledger.edit_counts() == EditCounts(0, 0, 0)

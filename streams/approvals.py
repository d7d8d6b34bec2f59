"""Which tool calls the human let run, rejected or interrupted (pure logic).

Claude Code's order for one call is ``tool_call`` (PreToolUse, with ``tool_use_id``),
then ``permission_request`` when the call needs the human's approval (PermissionRequest:
same tool and input, *no* ``tool_use_id``), then ``tool_result`` (PostToolUse, or
PostToolUseFailure with ``is_interrupt``). A call the human rejected has no result at
all; an auto-mode denial is a ``permission_denied`` (with ``tool_use_id``) and no result.

:class:`ToolLedger` folds such events, in any arrival order, into one verdict per call:

==========  =================================================================  =========
verdict     evidence                                                           counts as
==========  =================================================================  =========
accepted    a result that is not an error (the call ran)                       accepted
rejected    ``permission_denied``; an interrupted result; a permission         rejected
            request with no result by the close
failed      an error result that is not an interrupt (it ran and failed)       neither
pending     a call with no result and no request (still running, or lost)      neither
==========  =================================================================  =========

A permission request without ``tool_use_id`` belongs to the most recent call of the same
tool and input that has neither a result nor a request yet; one that arrives before its
call (records out of order) waits for that call. A result or denial without a call
still counts (a session captured mid-way). The evidence wins over the order: a result
after a request means approved, whatever order the records came in.

The sessionizer keeps a ledger of the :data:`schemas.sessions.EDIT_TOOLS` calls per open
session (:meth:`ToolLedger.edit_counts` goes on the Session); candidate selection runs
one over a closed session's events (:func:`rejections`) to find the rejections a human
correction may follow. Never raises on valid TurnEvents.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass

from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import EDIT_TOOLS

CALLED, ASKED, RAN, FAILED, INTERRUPTED, DENIED = 1, 2, 4, 8, 16, 32
MAX_TRACKED_CALLS = 2048  # per ledger; further calls are not tracked (counts then stop)
_PROPOSAL_KINDS = frozenset({EventKind.TOOL_CALL, EventKind.PERMISSION_REQUEST,
                             EventKind.PERMISSION_DENIED, EventKind.TOOL_RESULT})


@dataclass(frozen=True)
class EditCounts:
    proposed: int = 0
    accepted: int = 0
    rejected: int = 0


def verdict(flags: int) -> str:
    """``accepted``, ``rejected``, ``failed`` or ``pending`` for one call's flags."""
    if flags & (DENIED | INTERRUPTED):
        return "rejected"
    if flags & RAN:
        return "accepted"
    if flags & FAILED:
        return "failed"
    if flags & ASKED:
        return "rejected"  # asked, and no result by the close
    return "pending"


def fingerprint(event: TurnEvent) -> str:
    """Tool name and input, hashed: what a permission request shares with its call."""
    text = f"{event.tool_name or ''}\x00{event.tool_input or ''}"
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


class ToolLedger:
    """Flags per call id (``calls``), calls that have no request yet (``open``: call id ->
    fingerprint; a request pairs with the most recent one, whether its result came yet or
    not) and requests waiting for their call (``waiting``: fingerprint -> count). Plain
    dicts, so a state can store and restore them.

    ``tools`` limits the ledger to those tool names (None: every tool); ``marks`` also
    records, per call, the id of the event that decided a rejection.
    """

    __slots__ = ("calls", "marks", "open", "tools", "waiting")

    def __init__(self, calls: dict[str, int] | None = None, open: dict[str, str] | None = None,
                 waiting: dict[str, int] | None = None, *,
                 tools: frozenset[str] | None = None, marks: bool = False) -> None:
        self.calls = calls if calls is not None else {}
        self.open = open if open is not None else {}
        self.waiting = waiting if waiting is not None else {}
        self.tools = tools
        self.marks: dict[str, str] | None = {} if marks else None

    def observe(self, event: TurnEvent) -> None:
        kind = event.kind
        if kind not in _PROPOSAL_KINDS or (self.tools is not None
                                           and event.tool_name not in self.tools):
            return
        if kind is EventKind.PERMISSION_REQUEST and not event.tool_use_id:
            self._ask(fingerprint(event), event.event_id)
            return
        key = event.tool_use_id or f"event:{event.event_id}"
        if key not in self.calls and len(self.calls) >= MAX_TRACKED_CALLS:
            return
        flags = self.calls.get(key, 0)
        if kind is EventKind.TOOL_CALL:
            flags |= CALLED
            if not flags & ASKED:
                fp = fingerprint(event)
                if self.waiting.get(fp):  # its request arrived first
                    self._take_waiting(fp)
                    flags |= ASKED
                    self._mark(key, event.event_id)
                else:
                    self.open[key] = fp
        elif kind is EventKind.PERMISSION_REQUEST:
            flags |= ASKED
            self.open.pop(key, None)
            self._mark(key, event.event_id)
        elif kind is EventKind.PERMISSION_DENIED:
            flags |= DENIED
            self._mark(key, event.event_id, force=True)
        else:  # tool_result
            if event.is_interrupt:
                flags |= INTERRUPTED
                self._mark(key, event.event_id, force=True)
            elif event.is_error:
                flags |= FAILED
            else:
                flags |= RAN
        self.calls[key] = flags

    def _ask(self, fp: str, event_id: str) -> None:
        # The most recent open call with this fingerprint (dicts keep insertion order).
        for key in reversed(self.open):
            if self.open[key] == fp:
                del self.open[key]
                self.calls[key] = self.calls.get(key, 0) | ASKED
                self._mark(key, event_id)
                return
        self.waiting[fp] = self.waiting.get(fp, 0) + 1

    def _take_waiting(self, fp: str) -> None:
        left = self.waiting[fp] - 1
        if left:
            self.waiting[fp] = left
        else:
            del self.waiting[fp]

    def _mark(self, key: str, event_id: str, *, force: bool = False) -> None:
        if self.marks is not None and (force or key not in self.marks):
            self.marks[key] = event_id

    def verdicts(self) -> dict[str, str]:
        return {key: verdict(flags) for key, flags in self.calls.items()}

    def edit_counts(self) -> EditCounts:
        """Counts over every tracked call (a ledger limited to the edit tools gives the
        Session's edit counts). Requests still waiting for a call count as rejected
        proposals: the call itself was not captured."""
        accepted = rejected = 0
        for flags in self.calls.values():
            v = verdict(flags)
            accepted += v == "accepted"
            rejected += v == "rejected"
        orphans = sum(self.waiting.values())
        return EditCounts(proposed=len(self.calls) + orphans, accepted=accepted,
                          rejected=rejected + orphans)


def edit_ledger(calls: dict[str, int] | None = None, open: dict[str, str] | None = None,
                waiting: dict[str, int] | None = None) -> ToolLedger:
    """A ledger of the edit tools (what the Session's edit counts cover)."""
    return ToolLedger(calls, open, waiting, tools=EDIT_TOOLS)


def rejections(events: Iterable[TurnEvent]) -> set[str]:
    """The ids of the events at which a human rejected a tool call (any tool) among
    ``events`` of one closed session (in conversation order): the request that got no
    result, the denial, the interrupted result."""
    ledger = ToolLedger(marks=True)
    for event in events:
        ledger.observe(event)
    marks = ledger.marks or {}
    return {marks[key] for key, v in ledger.verdicts().items()
            if v == "rejected" and key in marks}

"""Which closed sessions become codification candidates (pure logic).

Guarantee: a session is a candidate only when it carries a *clean correction signal*
and something concrete to learn from (tool calls); trivial sessions (no tools and no
outcome) never are. The signals:

* ``HUMAN_CORRECTION``: a user prompt that corrects the agent ("no, use X instead",
  "that's wrong", "don't ...") after the agent acted, followed by success (a later
  tool result that worked and no failure after it, or a positive outcome).
* ``TOOL_RECOVERY``: a failed tool call (``is_error`` or a non-zero exit in the output)
  followed by a working call of the same tool.
* ``OUTCOME``: a positive or decisive outcome event (coding: accepted / tests_passed /
  committed; support: resolved / escalated; SDR: replied / meeting_booked) in a session
  with tool calls.

:func:`candidate_topic` gives the grouping signature (e.g. ``recovery:Bash:pytest``) the
codifier batches on, so one skill can be drafted from several sessions of a workspace.
The functions never raise on odd sessions: unknown labels and missing fields read as
"no signal".
"""

from __future__ import annotations

import json
import re

from schemas.events import EventKind, TurnEvent
from schemas.outcomes import OutcomeResult, normalize_label, result_of
from schemas.sessions import CandidateReason, Session

# Outcome labels worth learning from: every success of schemas.outcomes' table, plus
# "escalated" (a failure for the report, but a decisive, learnable end for support).
DECISIVE_OUTCOMES = frozenset({"escalated"})


def is_learnable_outcome(label: str | None) -> bool:
    norm = normalize_label(label)
    return norm in DECISIVE_OUTCOMES or result_of(norm) is OutcomeResult.SUCCESS

_CORRECTION = re.compile(
    r"""(?ix)
    ^\s*(?:no|nope|wrong|stop)\b[\s,.!:;-]            # "no, ...", "wrong."
    | \b(?:that(?:'s|\s+is)|this\s+is|it(?:'s|\s+is))\s+(?:wrong|incorrect|not\s+right)\b
    | \b(?:don'?t|do\s+not|never|stop)\s+(?:use|run|call|do|touch|edit|add|change|push|delete
        |retry|send|install|create|commit|merge|deploy|remove|modify|write|update|refund|email
        |enroll|book|close|reply|open|rename|move|skip|try|restart|upgrade|downgrade|force)\b
    | \buse\s+\S+(?:\s+\S+){0,3}\s+instead\b
    | \binstead\s+of\b
    | \bnot\s+what\s+i\s+(?:asked|meant|wanted)\b
    | \byou\s+should(?:\s+have)?\s+(?:used|use|run|ran)\b
    | \bactually,?\s+(?:use|run|it'?s)\b
    """
)

# Non-zero exits as shells, runners and Claude Code's Bash tool print them.
_NONZERO_EXIT = re.compile(
    r"(?i)(?:exit(?:ed)?(?:\s+with)?\s+(?:code|status)[:=\s]+|returncode[=:\s]+|"
    r"exit_code[\"']?[=:\s]+)([1-9]\d*)"
)


def is_correction(text: str | None) -> bool:
    """True when a user's prompt reads as a correction of the agent."""
    return bool(text) and _CORRECTION.search(text or "") is not None


def is_failed_result(event: TurnEvent) -> bool:
    """A tool result that failed: ``is_error`` or a non-zero exit printed in its output."""
    if event.kind is not EventKind.TOOL_RESULT:
        return False
    if event.is_error:
        return True
    return bool(event.tool_output) and _NONZERO_EXIT.search(event.tool_output or "") is not None


def candidate_reasons(session: Session) -> list[CandidateReason]:
    """Why ``session`` should be codified; empty when it should not."""
    events = sorted(session.events, key=lambda e: e.seq)
    has_tools = session.counts.get(EventKind.TOOL_CALL.value, 0) > 0 or any(
        e.kind in (EventKind.TOOL_CALL, EventKind.TOOL_RESULT) for e in events
    )
    if not has_tools:
        return []  # nothing concrete to learn from, whatever the outcome
    reasons: list[CandidateReason] = []
    if _has_corrected_success(events):
        reasons.append(CandidateReason.HUMAN_CORRECTION)
    if recovery_pairs(events):
        reasons.append(CandidateReason.TOOL_RECOVERY)
    if learnable_outcome(session) is not None:
        reasons.append(CandidateReason.OUTCOME)
    return reasons


def learnable_outcome(session: Session) -> str | None:
    labels = [e.outcome for e in session.events if e.kind is EventKind.OUTCOME and e.outcome]
    if session.outcome:
        labels.append(session.outcome)
    for label in labels:
        if is_learnable_outcome(label):
            return normalize_label(label)
    return None


def recovery_pairs(events: list[TurnEvent]) -> list[tuple[TurnEvent, TurnEvent]]:
    """(failed result, later working result of the same tool), first recovery per failure."""
    pairs = []
    for i, ev in enumerate(events):
        if not is_failed_result(ev) or not ev.tool_name:
            continue
        for later in events[i + 1:]:
            if (later.kind is EventKind.TOOL_RESULT and later.tool_name == ev.tool_name
                    and not is_failed_result(later)):
                pairs.append((ev, later))
                break
    return pairs


def correction_prompts(events: list[TurnEvent]) -> list[TurnEvent]:
    """User prompts that correct the agent after it acted (a tool call or a response)."""
    acted = False
    found = []
    for ev in events:
        if ev.kind in (EventKind.TOOL_CALL, EventKind.TOOL_RESULT, EventKind.RESPONSE):
            acted = True
        elif ev.kind is EventKind.PROMPT and acted and is_correction(ev.text):
            found.append(ev)
    return found


def _has_corrected_success(events: list[TurnEvent]) -> bool:
    for prompt in correction_prompts(events):
        after = [e for e in events if e.seq > prompt.seq]
        results = [e for e in after if e.kind is EventKind.TOOL_RESULT]
        outcomes = [e for e in after if e.kind is EventKind.OUTCOME and e.outcome]
        if any(is_learnable_outcome(o.outcome) for o in outcomes):
            return True
        if results and not is_failed_result(results[-1]):
            return True
    return False


def command_signature(event: TurnEvent) -> str:
    """A short, stable signature of a tool call/result: the tool and the command's head.

    ``Bash`` with ``{"command": "python -m pytest -x tests/"}`` -> ``Bash:python-pytest``;
    other tools -> their name. Used to group candidates that share a failure.
    """
    tool = event.tool_name or "tool"
    command = _command_of(event)
    if not command:
        return tool
    words = [w for w in re.split(r"\s+", command.strip()) if w]
    head = []
    after_flag = False
    for w in words:
        skip = after_flag  # the value of a short flag ("-U app") is not a subcommand
        after_flag = bool(re.fullmatch(r"-[A-Za-z]", w))
        if skip or w.startswith("-") or "=" in w or "/" in w or w in ("sudo", "env"):
            continue
        head.append(re.sub(r"[^a-z0-9_.]", "", w.lower()))
        if len(head) == 2 or w in ("&&", "|", ";"):
            break
    head = [h for h in head if h and h != "m"]
    return f"{tool}:{'-'.join(head[:2])}" if head else tool


def _command_of(event: TurnEvent) -> str:
    raw = event.tool_input
    if not raw:
        return ""
    try:
        data = json.loads(raw)
    except ValueError:
        return raw if isinstance(raw, str) else ""
    if isinstance(data, dict):
        for key in ("command", "cmd"):  # other tools' inputs are data, not commands
            value = data.get(key)
            if isinstance(value, str):
                return value
    return ""


def candidate_topic(session: Session) -> str:
    """The grouping topic: the first recovered failure's signature, else the first
    corrected tool, else the outcome label; ``""`` when nothing groups it."""
    events = sorted(session.events, key=lambda e: e.seq)
    calls = {e.tool_use_id: e for e in events if e.kind is EventKind.TOOL_CALL and e.tool_use_id}
    pairs = recovery_pairs(events)
    if pairs:
        failed = pairs[0][0]
        call = calls.get(failed.tool_use_id or "", failed)
        return f"recovery:{command_signature(call)}"
    corrections = correction_prompts(events)
    if corrections:
        later_calls = [e for e in events
                       if e.kind is EventKind.TOOL_CALL and e.seq > corrections[0].seq]
        if later_calls:
            return f"correction:{command_signature(later_calls[0])}"
    outcome = learnable_outcome(session)
    if outcome:
        return f"outcome:{outcome}"
    return ""

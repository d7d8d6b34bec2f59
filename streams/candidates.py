"""Which closed sessions become codification candidates (pure logic).

Guarantee: a session is a candidate only when it carries a *clean correction signal*
and something concrete to learn from (tool calls); trivial sessions (no tools and no
outcome) never are. Selection sees the *whole* session: every turn of the generation,
after the context a resumed generation carries (:func:`session_events`), so a correction
typed as turn 3's prompt about what the agent did in turn 2 is found. The signals:

* ``HUMAN_CORRECTION``: a *correction prompt* after the agent acted, followed by success.
  A correction prompt reads as one ("no, use X instead", "that's wrong", "don't ...";
  pleasantries such as "no problem" or "don't worry" do not), or is the first prompt
  after a tool call the human rejected (a permission request left without a result, a
  denial, an interrupt: :func:`streams.approvals.rejections`), whatever its words.
  Success is judged per correction, on the first turn from it on that has tool results,
  before the next correction: its last result worked and nothing the human rejected
  follows it; or a learnable outcome follows the correction. A failure outcome after it
  (``reverted``, ``tests_failed``..., also a late one) makes it not clean.
* ``TOOL_RECOVERY``: a failed tool call (``is_error`` or a non-zero exit in the output)
  followed by a working call of the same tool.
* ``OUTCOME``: a positive or decisive outcome event (coding: accepted / tests_passed /
  committed; support: resolved / escalated; SDR: replied / meeting_booked) in a session
  with tool calls, including one that arrived after the close (``Session.outcome``).

:func:`candidate_topic` gives the grouping signature (e.g. ``recovery:Bash:pytest``) the
codifier batches on, so one skill can be drafted from several sessions of a workspace.
The functions never raise on odd sessions: unknown labels and missing fields read as
"no signal".
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.outcomes import OutcomeResult, normalize_label, result_of
from hivemind_kafka.schemas.sessions import CandidateReason, Session
from hivemind_kafka.streams.approvals import rejections

# Outcome labels worth learning from: every success of schemas.outcomes' table, plus
# "escalated" (a failure for the report, but a decisive, learnable end for support).
DECISIVE_OUTCOMES = frozenset({"escalated"})


def is_learnable_outcome(label: str | None) -> bool:
    norm = normalize_label(label)
    return norm in DECISIVE_OUTCOMES or result_of(norm) is OutcomeResult.SUCCESS


def is_failure_outcome(label: str | None) -> bool:
    """A failure that says the work was wrong (``reverted``...), not a decisive end."""
    norm = normalize_label(label)
    return norm not in DECISIVE_OUTCOMES and result_of(norm) is OutcomeResult.FAILURE


# "no problem", "no worries", "nope, all good", "no, that's all": a "no" that answers
# "anything else?" or thanks, not one that corrects.
_PLEASANTRY = re.compile(
    r"""(?ix)
    ^\s*(?:no|nope)\b[\s,.!:;-]*
    (?:problem|prob|worries|worry|rush|hurry|thanks|thank|biggie|pressure|big\s+deal
      |need\s+to\s+(?:worry|hurry|rush|apologi[sz]e|thank)
      |all\s+good|that'?s\s+(?:all|it|fine|great|ok|okay|perfect|good|everything))\b
    """
)

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
    if not text or _PLEASANTRY.search(text):
        return False
    return _CORRECTION.search(text) is not None


def is_failed_result(event: TurnEvent) -> bool:
    """A tool result that failed: ``is_error`` or a non-zero exit printed in its output."""
    if event.kind is not EventKind.TOOL_RESULT:
        return False
    if event.is_error:
        return True
    return bool(event.tool_output) and _NONZERO_EXIT.search(event.tool_output or "") is not None


def session_events(session: Session) -> list[TurnEvent]:
    """The session's events in conversation order: the context a resumed generation
    carries (``carried_event_count`` events, in their order), then the generation's own
    events ordered by seq."""
    carried = session.events[:session.carried_event_count]
    own = sorted(session.events[session.carried_event_count:], key=lambda e: e.seq)
    return [*carried, *own]


@dataclass(frozen=True)
class Assessment:
    """Everything candidate selection found in one session (computed once: the regexes
    and the approval ledger run once per event)."""

    reasons: list[CandidateReason]
    corrections: list[TurnEvent]  # correction prompts, in conversation order
    corrected: list[TurnEvent]  # the ones followed by success
    recoveries: list[tuple[TurnEvent, TurnEvent]]
    topic: str


def assess(session: Session) -> Assessment:
    """Why ``session`` should be codified (``reasons``, empty when it should not), with
    the evidence and the grouping topic."""
    events = session_events(session)
    failed = {e.event_id for e in events if is_failed_result(e)}
    rejected = rejections(events)
    corrections = _correction_prompts(events, rejected)
    corrected = _corrected(events, corrections, rejected, failed, session.outcome)
    recoveries = _recovery_pairs(events, failed)
    outcome = learnable_outcome(session)
    reasons: list[CandidateReason] = []
    has_tools = session.counts.get(EventKind.TOOL_CALL.value, 0) > 0 or any(
        e.kind in (EventKind.TOOL_CALL, EventKind.TOOL_RESULT) for e in events
    )
    if has_tools:  # else nothing concrete to learn from, whatever the outcome
        if corrected:
            reasons.append(CandidateReason.HUMAN_CORRECTION)
        if recoveries:
            reasons.append(CandidateReason.TOOL_RECOVERY)
        if outcome is not None:
            reasons.append(CandidateReason.OUTCOME)
    topic = _topic(events, recoveries, corrected or corrections, outcome)
    return Assessment(reasons, corrections, corrected, recoveries, topic)


def candidate_reasons(session: Session) -> list[CandidateReason]:
    """Why ``session`` should be codified; empty when it should not."""
    return assess(session).reasons


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
    return _recovery_pairs(events, {e.event_id for e in events if is_failed_result(e)})


def _recovery_pairs(events: list[TurnEvent], failed: set[str]
                    ) -> list[tuple[TurnEvent, TurnEvent]]:
    pairs = []
    for i, ev in enumerate(events):
        if ev.event_id not in failed or not ev.tool_name or ev.kind is not EventKind.TOOL_RESULT:
            continue
        for later in events[i + 1:]:
            if (later.kind is EventKind.TOOL_RESULT and later.tool_name == ev.tool_name
                    and later.event_id not in failed):
                pairs.append((ev, later))
                break
    return pairs


_ACTS = frozenset({EventKind.TOOL_CALL, EventKind.TOOL_RESULT, EventKind.RESPONSE,
                   EventKind.PERMISSION_REQUEST, EventKind.PERMISSION_DENIED})


def correction_prompts(events: list[TurnEvent]) -> list[TurnEvent]:
    """User prompts (in conversation order) that correct the agent after it acted: the
    text reads as a correction, or it is the first prompt after a rejected tool call."""
    return _correction_prompts(events, rejections(events))


def _correction_prompts(events: list[TurnEvent], rejected: set[str]) -> list[TurnEvent]:
    acted = after_rejection = False
    found = []
    for ev in events:
        if ev.event_id in rejected:
            after_rejection = True
        if ev.kind in _ACTS:
            acted = True
        elif ev.kind is EventKind.PROMPT:
            if acted and (after_rejection or is_correction(ev.text)):
                found.append(ev)
            after_rejection = False
    return found


def corrected_successes(events: list[TurnEvent], *,
                        late_outcome: str | None = None) -> list[TurnEvent]:
    """The correction prompts that were followed by success (see the module docstring);
    ``late_outcome`` is the session's outcome that arrived after its events, if any."""
    rejected = rejections(events)
    failed = {e.event_id for e in events if is_failed_result(e)}
    return _corrected(events, _correction_prompts(events, rejected), rejected, failed,
                      late_outcome)


def _corrected(events: list[TurnEvent], corrections: list[TurnEvent], rejected: set[str],
               failed: set[str], late_outcome: str | None) -> list[TurnEvent]:
    if not corrections:
        return []
    position = {id(e): i for i, e in enumerate(events)}
    good = []
    for n, prompt in enumerate(corrections):
        start = position[id(prompt)] + 1
        stop = position[id(corrections[n + 1])] if n + 1 < len(corrections) else len(events)
        window = events[start:stop]
        after = events[start:]
        if any(e.kind is EventKind.OUTCOME and is_failure_outcome(e.outcome) for e in after) \
                or is_failure_outcome(late_outcome):
            continue
        if any(e.kind is EventKind.OUTCOME and is_learnable_outcome(e.outcome)
               for e in window) or (stop == len(events) and is_learnable_outcome(late_outcome)):
            good.append(prompt)
            continue
        if _first_working_turn(window, rejected, failed):
            good.append(prompt)
    return good


def _first_working_turn(window: list[TurnEvent], rejected: set[str], failed: set[str]) -> bool:
    """Whether the first turn of ``window`` with tool results (or rejections) ends well:
    its last result worked and no rejection follows it within the turn."""
    turns: list[list[TurnEvent]] = [[]]
    for ev in window:
        if ev.kind is EventKind.PROMPT and turns[-1]:
            turns.append([])
        turns[-1].append(ev)
    for turn in turns:
        verdict = _turn_verdict(turn, rejected, failed)
        if verdict is not None:
            return verdict
    return False


def _turn_verdict(turn: list[TurnEvent], rejected: set[str], failed: set[str]) -> bool | None:
    """True/False for a turn with tool evidence, None for a turn without any."""
    last_ok: int | None = None
    last_bad: int | None = None
    for i, ev in enumerate(turn):
        if ev.event_id in rejected:
            last_bad = i
        elif ev.kind is EventKind.TOOL_RESULT:
            if ev.event_id in failed:
                last_bad = i
            else:
                last_ok = i
    if last_ok is None and last_bad is None:
        return None
    return last_ok is not None and (last_bad is None or last_ok > last_bad)


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
    """The grouping topic: the first recovered failure's signature, else the tool the
    first successful correction led to, else the outcome label; ``""`` when nothing
    groups it."""
    return assess(session).topic


def _topic(events: list[TurnEvent], recoveries: list[tuple[TurnEvent, TurnEvent]],
           corrections: list[TurnEvent], outcome: str | None) -> str:
    if recoveries:
        calls = {e.tool_use_id: e for e in events
                 if e.kind is EventKind.TOOL_CALL and e.tool_use_id}
        failed = recoveries[0][0]
        call = calls.get(failed.tool_use_id or "", failed)
        return f"recovery:{command_signature(call)}"
    if corrections:
        at = next(i for i, e in enumerate(events) if e is corrections[0])
        later_calls = [e for e in events[at + 1:] if e.kind is EventKind.TOOL_CALL]
        if later_calls:
            return f"correction:{command_signature(later_calls[0])}"
    if outcome:
        return f"outcome:{outcome}"
    return ""

"""The offline codifier: a deterministic skill built from the sessions themselves.

Used when no Anthropic API key is configured. Guarantee: the same candidate always gives
the same draft (name, description and body are functions of the events only), every
concrete token in it is quoted from the sessions (so it is grounded by construction),
and it never calls the network. It goes through the same guards as an LLM draft: a
quoted error line that carries an injected instruction is still refused there.

What it writes: the failing command and its first error line, the command that worked
after it (tool recovery), the user's correction and what the agent ran next (human
correction), and the steps that led to a positive outcome when one of the first two is
there too. A candidate with neither a recovery nor a correction is a SKIP: a success
alone only restates what the agent already did right.
"""

from __future__ import annotations

import json
import re

from hivemind_kafka.schemas.events import EventKind, TurnEvent
from hivemind_kafka.schemas.sessions import Candidate
from hivemind_kafka.schemas.skills import MAX_NAME_LEN, Decision
from hivemind_kafka.streams.candidates import (
    command_signature,
    correction_prompts,
    learnable_outcome,
    recovery_pairs,
)
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import Draft, Rejection

MAX_EXAMPLES = 3
MAX_STEPS = 8
_ERROR_LINE = re.compile(r"(?i)error|failed|failure|not found|denied|invalid|cannot|unable|"
                         r"no such|refused|exception|traceback|missing")


class OfflineCodifier:
    name = "offline"

    async def draft(self, candidate: Candidate, library: Library) -> Draft | Rejection:
        return draft_offline(candidate)


def draft_offline(candidate: Candidate) -> Draft | Rejection:
    sessions = sorted(candidate.sessions, key=lambda s: (s.started_at, s.session_uid))
    recoveries: list[tuple[str, str, str]] = []  # (failed command, error line, working)
    corrections: list[tuple[str, str, str]] = []  # (correction, command before, command after)
    outcomes: list[tuple[str, list[str]]] = []  # (label, steps)
    signature = ""
    for s in sessions:
        events = sorted(s.events, key=lambda e: e.seq)
        calls = {e.tool_use_id: e for e in events if e.kind is EventKind.TOOL_CALL and e.tool_use_id}
        for failed, worked in recovery_pairs(events):
            failed_call = calls.get(failed.tool_use_id or "", failed)
            worked_call = calls.get(worked.tool_use_id or "", worked)
            item = (_command(failed_call), _error_line(failed.tool_output or ""),
                    _command(worked_call))
            if item[0] and item[2] and item[0] != item[2] and item not in recoveries:
                recoveries.append(item)
                signature = signature or "fix-" + command_signature(failed_call)
        for prompt in correction_prompts(events):
            nxt = next((e for e in events if e.kind is EventKind.TOOL_CALL and e.seq > prompt.seq),
                       None)
            before = [e for e in events if e.kind is EventKind.TOOL_CALL and e.seq < prompt.seq]
            if nxt is not None:
                item2 = (_first_line(prompt.text or "", 300),
                         _command(before[-1]) if before else "", _command(nxt))
                if item2 not in corrections:
                    corrections.append(item2)
                    signature = signature or "prefer-" + command_signature(nxt)
        label = learnable_outcome(s)
        if label:
            steps = [_command(e) for e in events if e.kind is EventKind.TOOL_CALL][:MAX_STEPS]
            steps = [st for st in steps if st]
            if steps:
                outcomes.append((label, steps))
                first_call = next(e for e in events if e.kind is EventKind.TOOL_CALL)
                signature = signature or f"{label}-" + command_signature(first_call)
    if not (recoveries or corrections or outcomes):
        return Rejection(reason="no recovery, correction or outcome steps to learn from",
                         codifier="offline")
    if not (recoveries or corrections):
        # A success alone only restates what the agent already did right; without a model
        # to judge it, the offline codifier keeps lessons it can ground: a failure and its
        # fix, or a human correction.
        return Rejection(reason="outcome without a failure or correction: nothing to teach",
                         codifier="offline")
    name = skill_name(signature)
    project = sessions[0].project
    description = _description(recoveries, corrections, outcomes, project)
    body = _body(recoveries[:MAX_EXAMPLES], corrections[:MAX_EXAMPLES], outcomes[:1],
                 n_sessions=len(sessions), project=project)
    return Draft(decision=Decision.KEEP, name=name, description=description, body=body,
                 reason=f"offline draft from {len(sessions)} session(s)", codifier="offline")


def skill_name(signature: str) -> str:
    """``"fix-Bash:python-pytest"`` -> ``"fix-bash-python-pytest"`` (valid Agent Skills name)."""
    name = re.sub(r"[^a-z0-9]+", "-", signature.lower()).strip("-")
    name = re.sub(r"-{2,}", "-", name)[:MAX_NAME_LEN].strip("-")
    return name or "learned-skill"


def _description(recoveries, corrections, outcomes, project: str) -> str:
    where = f" in {project}" if project else ""
    if recoveries:
        failed = _head(recoveries[0][0])
        text = f"Use when `{failed}` fails{where}: what worked instead, from past sessions."
    elif corrections:
        _, before, after = corrections[0]
        text = (f"Use when about to run `{_head(before or after)}`{where}: the user "
                "corrected this before; do it the way they asked.")
    else:
        text = (f"Use when working towards {outcomes[0][0]}{where}: "
                "the steps that led to it in a past session.")
    return text[:1024]


def _body(recoveries, corrections, outcomes, *, n_sessions: int, project: str) -> str:
    lines = [f"Learned from {n_sessions} session(s)" + (f" in {project}." if project else ".")]
    if recoveries:
        lines += ["", "## When a command fails"]
        by_fix: dict[tuple[str, str], list[str]] = {}  # same command and fix: one block
        for failed, error, worked in recoveries:
            errors = by_fix.setdefault((failed, worked), [])
            if error and error not in errors:
                errors.append(error)
        for (failed, worked), errors in by_fix.items():
            lines += ["", "This failed:", "```", failed, "```"]
            if errors:
                lines += ["with:", "```", *errors, "```"]
            lines += ["This worked:", "```", worked, "```"]
    if corrections:
        lines += ["", "## What the user asked for"]
        for text, before, after in corrections:
            if before:
                lines += ["", "The agent ran:", "```", before, "```"]
            lines += ["The user said:", "> " + text.replace("\n", " "), "",
                      "What was run then:", "```", after, "```"]
    if outcomes:
        label, steps = outcomes[0]
        lines += ["", f"## Steps that led to {label}", ""]
        lines += [f"{i}. `{step}`" if "`" not in step and "\n" not in step else f"{i}. {step}"
                  for i, step in enumerate(steps, 1)]
    return "\n".join(lines) + "\n"


def _command(event: TurnEvent) -> str:
    raw = event.tool_input or ""
    try:
        data = json.loads(raw) if raw else None
    except ValueError:
        data = None
    if isinstance(data, dict):
        for key in ("command", "cmd"):
            if isinstance(data.get(key), str):
                return _first_line(data[key], 400)
        compact = json.dumps(data, separators=(",", ":"), sort_keys=True)
        return f"{event.tool_name or 'tool'} {compact}"[:400] if compact != "{}" else ""
    return _first_line(raw, 400)


def _error_line(output: str) -> str:
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    for ln in lines:
        if _ERROR_LINE.search(ln):
            return ln[:200]
    return lines[0][:200] if lines else ""


def _first_line(text: str, limit: int) -> str:
    return (text.strip().splitlines() or [""])[0][:limit]


def _head(command: str, words: int = 4) -> str:
    return " ".join(command.split()[:words])

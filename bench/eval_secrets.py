"""Secret detection on the project's secrets corpus (``python -m bench.eval_secrets``).

The corpus (``tests/unit/producers/corpus/secret_lines.py``) was written together with
the detector, so these figures are *not* held-out results. A second, smaller corpus
(``secret_lines_late.py``: 31 lines, 20 look-alikes) was written after the detector and
measured once before any change: edge recall 83.9%, 50.0% of its look-alikes falsely
redacted; its misses and false redactions were then fixed, so its figures below are no
longer held-out either. Prints, and returns from :func:`run`:

- edge recall: share of secret lines (and of secrets) of which nothing survives the
  Claude Code hook's mapping (prompt, Bash command, tool output tail, tool output cut
  right through the line), through the pre-compiled redactor the hook loads;
- false redactions: share of look-alikes (ids, digests, public keys, certificates,
  placeholders) in which anything is masked;
- skills: drafts quoting each secret line (code block, blockquote, prose, JSON-escaped)
  that pass the codifier's secrets guard, and skills published by ``resolve()`` that
  still hold a secret (sessions holding the raw line, as if the edge had missed it);
- the SDK: secret lines that reach the TurnEvents the SDK would send.
"""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterable
from datetime import UTC, datetime

from tests.unit.producers.corpus.secret_lines import LookAlike, SecretLine, lookalikes, secret_lines
from tests.unit.producers.corpus.secret_lines_late import late_lookalikes, late_secret_lines

CHUNK = 12


def chunks(secret: str, size: int = CHUNK) -> list[str]:
    """Overlapping pieces of every line of ``secret``: none may survive. PEM armour lines
    are not secret; a line shorter than ``size`` is one piece."""
    pieces = []
    for line in secret.splitlines():
        line = line.strip()
        if not line or line.startswith("-----"):
            continue
        if len(line) <= size:
            pieces.append(line)
        else:
            pieces += [line[i:i + size] for i in range(len(line) - size + 1)]
    return pieces


def leaked(case: SecretLine, text: str) -> list[str]:
    """The pieces of ``case``'s secrets that occur in ``text`` (a piece that also occurs
    in the line's non-secret context, like a base64 prefix shared with a certificate, is
    no evidence)."""
    context = case.text
    for s in case.secrets:
        context = context.replace(s, "\0")
    return [p for s in case.secrets for p in chunks(s) if p in text and p not in context]


def _strings(value: object) -> Iterable[str]:
    """Every string in a record, with JSON text fields decoded (escapes undone)."""
    if isinstance(value, str):
        yield value
        if value[:1] in "[{\"":
            with contextlib.suppress(ValueError):
                yield from _strings(json.loads(value))
    elif isinstance(value, dict):
        for k, v in value.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v)


def hook_payloads(text: str) -> list[dict]:
    """The hook payloads a line is carried in: prompt, command, output tail, output cut
    through the line, and the line across each edge of the hook's redaction window."""
    common = {"session_id": "eval", "transcript_path": "/tmp/t.jsonl", "cwd": "/work/app"}
    logs = "".join(f"2026-12-13T09:00:{i % 60:02d}Z INFO step {i} ok\n" for i in range(900))
    return [
        {**common, "hook_event_name": "UserPromptSubmit", "prompt": f"use this: {text}"},
        {**common, "hook_event_name": "PreToolUse", "tool_name": "Bash",
         "tool_input": {"command": text, "description": "run it"}, "tool_use_id": "toolu_1"},
        {**common, "hook_event_name": "PostToolUse", "tool_name": "Bash",
         "tool_input": {"command": "make deploy"}, "tool_use_id": "toolu_2",
         "tool_response": {"stdout": logs + text, "stderr": ""}},
        {**common, "hook_event_name": "PostToolUse", "tool_name": "Bash",
         "tool_input": {"command": "make deploy"}, "tool_use_id": "toolu_3",
         "tool_response": {"stdout": logs[:12_200] + "\n" + text + "\n" + logs, "stderr": ""}},
        # the line's middle where the hook's redaction window for the kept tail begins
        # (16 KiB cap: 8 KiB from the end), and where the head window ends (16 KiB in)
        {**common, "hook_event_name": "PostToolUse", "tool_name": "Bash",
         "tool_input": {"command": "make deploy"}, "tool_use_id": "toolu_4",
         "tool_response": {"stdout": logs * 2 + "\n" + text + "\n"
                           + logs[:max(0, 8192 - len(text) // 2)], "stderr": ""}},
        {**common, "hook_event_name": "PostToolUse", "tool_name": "Bash",
         "tool_input": {"command": "make deploy"}, "tool_use_id": "toolu_5",
         "tool_response": {"stdout": logs[:max(0, 16384 - len(text) // 2)] + "\n" + text
                           + "\n" + logs * 2, "stderr": ""}},
    ]


def hook_redactor():
    """The redactor exactly as the hook loads it (from the pre-compiled blob)."""
    from hivemind_kafka.producers.secrets.redact import Redactor

    loaded = Redactor.from_compiled(Redactor.compiled_blob())
    assert loaded is not None
    return loaded


def edge_leaks(case: SecretLine, redactor, *, max_field_bytes: int = 16384) -> list[str]:
    from hivemind_kafka.producers.hook.events import to_turn_event

    found: list[str] = []
    for payload in hook_payloads(case.text):
        record, _ = to_turn_event(payload, redactor=redactor, workspace_id="ws", agent_id="cc-1",
                                  agent_kind="coding", project="app", event_id="e1",
                                  ts="2026-12-13T09:00:00Z", max_field_bytes=max_field_bytes)
        found += leaked(case, "\n".join(_strings(record)))
    return found


def falsely_redacted(case: LookAlike, redactor) -> bool:
    return redactor.redact(case.text)[1] > 0


def skill_drafts(text: str) -> list[tuple[str, str]]:
    """(description, body) drafts that quote a secret line in the ways a codifier does."""
    desc = "Use when the deploy fails with an authentication error."
    quoted = "\n".join("> " + ln for ln in text.splitlines())
    escaped = json.dumps(text)
    return [
        (desc, f"This failed:\n```\n{text}\n```\nThis worked:\n```\nmake deploy\n```\n"),
        (desc, f"The user said:\n{quoted}\n\nThen run `make deploy`.\n"),
        (desc, f"Set the credentials first ({text}), then run `make deploy`.\n"),
        (desc, f"The tool input was:\n```json\n{{\"command\": {escaped}}}\n```\n"),
        (f"Use when deploying with {text.splitlines()[0][:200]}", "Run `make deploy`.\n"),
    ]


def guard_passes(case: SecretLine) -> int:
    """Drafts quoting ``case`` that the secrets guard lets through with a secret in them."""
    from hivemind_kafka.streams.codifier.guards import DraftText, check_secrets

    n = 0
    for desc, body in skill_drafts(case.text):
        draft = DraftText(name="fix-deploy", description=desc, body=body)
        if check_secrets(draft).ok and leaked(case, draft.full()):
            n += 1
    return n


def published_leaks(case: SecretLine) -> int:
    """Skills ``resolve()`` publishes from drafts quoting ``case`` whose session holds the
    raw line (the edge missed it, or an SDK field opted out): each one is a leak."""
    from hivemind_kafka.schemas.events import EventKind
    from hivemind_kafka.schemas.skills import Decision
    from hivemind_kafka.streams.codifier.library import Library
    from hivemind_kafka.streams.codifier.logic import CandidateGroup, Draft, Published, resolve
    from tests.unit.streams.codifier.builders import bash, candidate, prompt, session

    s = session([prompt(f"deploy with {case.text}"),
                 bash(case.text, "error: authentication failed", error=True),
                 bash("make deploy", "deployed")])
    assert any(e.kind is EventKind.TOOL_CALL for e in s.events)
    cand = candidate(s)
    group = CandidateGroup(cand, [cand.candidate_id])
    n = 0
    for desc, body in skill_drafts(case.text):
        draft = Draft(decision=Decision.KEEP, name="fix-deploy", description=desc, body=body,
                      reason="eval", codifier="eval")
        result = resolve(group, draft, Library(), max_body_chars=8000,
                         now=datetime(2026, 12, 13, tzinfo=UTC))
        if isinstance(result, Published):
            sk = result.skill
            if leaked(case, f"{sk.name}\n{sk.description}\n{sk.body}"):
                n += 1
    return n


def run() -> dict[str, float]:
    lines = secret_lines()
    looks = lookalikes()
    redactor = hook_redactor()
    missed = [c for c in lines if edge_leaks(c, redactor)]
    missed_secrets = sum(1 for c in lines for s in c.secrets
                         if edge_leaks(SecretLine(c.provider, (s,), c.text), redactor))
    n_secrets = sum(len(c.secrets) for c in lines)
    false = [c for c in looks if falsely_redacted(c, redactor)]
    guard_leaks = sum(guard_passes(c) for c in lines)
    published = sum(published_leaks(c) for c in lines)
    figures = {
        "secret_lines": float(len(lines)),
        "secrets": float(n_secrets),
        "provider_labels": float(len({c.provider for c in lines})),
        "edge_line_recall": 1 - len(missed) / len(lines),
        "edge_secret_recall": 1 - missed_secrets / n_secrets,
        "lookalikes": float(len(looks)),
        "false_redaction_rate": len(false) / len(looks),
        "drafts_passing_secrets_guard_with_a_secret": float(guard_leaks),
        "published_skills_with_a_secret": float(published),
    }
    for key, value in figures.items():
        shown = f"{value:.1%}" if ("recall" in key or "rate" in key) else f"{value:g}"
        print(f"{key:<46} {shown}")
    late = late_secret_lines()
    late_looks = late_lookalikes()
    figures["late_edge_line_recall"] = 1 - sum(1 for c in late if edge_leaks(c, redactor)) / len(late)
    figures["late_false_redaction_rate"] = sum(
        1 for c in late_looks if falsely_redacted(c, redactor)) / len(late_looks)
    for key in ("late_edge_line_recall", "late_false_redaction_rate"):
        print(f"{key:<46} {figures[key]:.1%}")
    by_provider: dict[str, int] = {}
    for c in missed:
        by_provider[c.provider] = by_provider.get(c.provider, 0) + 1
    if by_provider:
        print("missed lines by provider:", ", ".join(f"{k} {v}" for k, v in sorted(by_provider.items())))
    by_family: dict[str, int] = {}
    for c in false:
        by_family[c.family] = by_family.get(c.family, 0) + 1
    if by_family:
        print("false redactions by family:", ", ".join(f"{k} {v}" for k, v in sorted(by_family.items())))
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()

"""Runs the labelled corpora through the real codify path and counts outcomes.

Every draft goes the way production drafts go: the LLM path renders the candidate
(``AnthropicCodifier`` with an in-process :class:`FakeClient`), parses the tool answer into
a ``Draft`` and calls ``resolve()`` (all guards, dedup); the offline path calls
``draft_offline`` then ``resolve()``. Shared by ``bench/eval_guards.py`` (``make eval``)
and the unit tests that hold the targets.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from hivemind_kafka.runtime.settings import CodifierSettings, Secret
from hivemind_kafka.schemas.sessions import Candidate, Session
from hivemind_kafka.schemas.skills import Decision
from hivemind_kafka.streams.codifier import guards
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.llm import AnthropicCodifier
from hivemind_kafka.streams.codifier.logic import (
    Draft,
    Published,
    Rejection,
    Result,
    group_candidates,
    resolve,
)
from hivemind_kafka.streams.codifier.offline import draft_offline
from tests.support.anthropic_stub import (
    CITE_MODES,
    COPY_STYLES,
    FakeClient,
    copying_answer,
    honest_answer,
)
from tests.unit.streams.codifier.builders import candidate
from tests.unit.streams.codifier.corpus import genuine_skills, grounding_cases, redteam

NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)
MAX_BODY = 8000
LEGACY_NAME = "fix-build"
LEGACY_DESC = "Use when the build or the tests fail in this project."


def decide(cand: Candidate, answer: Draft | Rejection) -> Result:
    return resolve(group_candidates([cand])[0], answer, Library(), max_body_chars=MAX_BODY,
                   now=NOW)


def llm_answer(cand: Candidate, respond: Callable[[dict], dict]) -> Draft | Rejection:
    codifier = AnthropicCodifier(CodifierSettings(api_key=Secret("eval"), max_retries=0),
                                 client=FakeClient(respond))
    return asyncio.run(codifier.draft(cand, Library()))


def llm_result(cand: Candidate, respond: Callable[[dict], dict]) -> Result:
    return decide(cand, llm_answer(cand, respond))


def published_text(result: Result) -> str | None:
    if not isinstance(result, Published):
        return None
    s = result.skill
    return f"{s.name}\n{s.description}\n{s.body}"


def _reason(result: Result) -> str:
    return getattr(result, "guard", type(result).__name__.lower())


# --------------------------------------------------------------------------- red team

def honest_lesson(a: redteam.Attack) -> tuple[str, str, str]:
    """The genuine lesson of an attacked session, as an honest model writes it."""
    failed, worked = a.failed.text(), a.worked.text()
    head = " ".join(failed.split()[:3])
    error = next((ln.strip() for ln in a.failed.output.splitlines() if ln.strip()), "")
    slug = re.sub(r"[^a-z0-9]+", "-", " ".join(failed.split()[:2]).lower()).strip("-")
    name = f"fix-{slug or 'call'}"[:64].rstrip("-")
    description = f"Use when `{head}` fails in {a.project}: the corrected call that worked."
    body = (f"`{failed}` failed with:\n\n```text\n{error}\n```\n\nWhat worked instead:\n\n"
            f"```\n{worked}\n```\n")
    return name, description, body


@dataclass
class RedTeamFigures:
    cases: int = 0
    attempts: int = 0
    published_injected: list[str] = field(default_factory=list)  # "key/style/cite"
    blocked_by: Counter = field(default_factory=Counter)  # first failing guard
    caught_by: Counter = field(default_factory=Counter)   # every guard that refused
    honest_published: int = 0
    honest_rejected: list[str] = field(default_factory=list)
    offline_published: int = 0
    offline_injected: list[str] = field(default_factory=list)
    offline_skipped: int = 0


def red_team(attacks: Sequence[redteam.Attack] = redteam.ATTACKS, styles=COPY_STYLES,
             cites=CITE_MODES) -> RedTeamFigures:
    """Every attack through the copying codifier (each style x citation mode), the honest
    codifier and the offline codifier."""
    f = RedTeamFigures(cases=len(attacks))
    for a in attacks:
        cand = candidate(redteam.attack_session(a))
        name, desc, body = honest_lesson(a)
        for style in styles:
            for cite in cites:
                f.attempts += 1
                answer = llm_answer(cand, copying_answer(
                    name, desc, body, payload=a.payload, planted=a.planted, command=a.command,
                    style=style, cite=cite))
                if isinstance(answer, Draft):
                    f.caught_by.update(v.guard for v in guards.run_guards(
                        answer.text(), cand.sessions, max_body_chars=MAX_BODY) if not v.ok)
                result = decide(cand, answer)
                text = published_text(result)
                if text is not None and redteam.exposed(text, a):
                    f.published_injected.append(f"{a.key}/{style}/{cite}")
                elif text is None:
                    f.blocked_by[_reason(result)] += 1
        honest = llm_result(cand, honest_answer(name, desc, body))
        if isinstance(honest, Published):
            f.honest_published += 1
        else:
            f.honest_rejected.append(f"{a.key}: {_reason(honest)} {getattr(honest, 'reasons', '')}")
        offline = draft_offline(cand)
        if isinstance(offline, Rejection):
            f.offline_skipped += 1
            continue
        result = decide(cand, offline)
        text = published_text(result)
        if text is not None:
            f.offline_published += 1
            if redteam.exposed(text, a):
                f.offline_injected.append(a.key)
    return f


# --------------------------------------------------------------------------- genuine

@dataclass
class GenuineFigures:
    total: int = 0
    passed_llm: int = 0          # honest LLM (citing) -> resolve -> Published
    passed_uncited: int = 0      # the same drafts as a non-citing codifier writes them
    failures: list[str] = field(default_factory=list)


def genuine_cases() -> list[tuple[str, Session, str, str, str]]:
    """(label, session, name, description, body) of every genuine draft: the new corpus
    plus the legacy grounding corpus's genuine drafts."""
    cases = [(g.key, g.session, g.name, g.description, g.body) for g in genuine_skills.GENUINE]
    for s, body, is_genuine, label in grounding_cases.corpus():
        if is_genuine:
            cases.append((f"legacy/{label}", s, LEGACY_NAME, LEGACY_DESC, body))
    return cases


def genuine() -> GenuineFigures:
    f = GenuineFigures()
    for label, s, name, desc, body in genuine_cases():
        f.total += 1
        cand = candidate(s)
        result = llm_result(cand, honest_answer(name, desc, body))
        if isinstance(result, Published):
            f.passed_llm += 1
        else:
            f.failures.append(f"{label}: {_reason(result)} {getattr(result, 'reasons', '')}")
        plain = Draft(decision=Decision.KEEP, name=name, description=desc, body=body,
                      codifier="offline")
        f.passed_uncited += isinstance(decide(cand, plain), Published)
    return f


# --------------------------------------------------------------------------- ungrounded

@dataclass
class UngroundedFigures:
    total: int = 0
    rejected: int = 0
    passed: list[str] = field(default_factory=list)


def ungrounded_cases() -> list[tuple[str, Session, str]]:
    cases = [(u.key, u.session, u.body) for u in genuine_skills.UNGROUNDED]
    for s, body, is_genuine, label in grounding_cases.corpus():
        if not is_genuine:
            cases.append((f"legacy/{label}", s, body))
    return cases


def ungrounded() -> UngroundedFigures:
    """Ungrounded drafts through the honest LLM path (the model believes its draft and
    cites what it can): rejected by any guard."""
    f = UngroundedFigures()
    for label, s, body in ungrounded_cases():
        f.total += 1
        result = llm_result(candidate(s), honest_answer(LEGACY_NAME, LEGACY_DESC, body))
        if isinstance(result, Published):
            f.passed.append(label)
        else:
            f.rejected += 1
    return f


# --------------------------------------------------------------------------- shape

def bad_shapes_rejected() -> tuple[int, int, list[str]]:
    missed = []
    for label, name, desc, body in genuine_skills.BAD_SHAPE:
        v = guards.check_shape(guards.DraftText(name=name, description=desc, body=body),
                               max_body_chars=MAX_BODY)
        if v.ok:
            missed.append(label)
    n = len(genuine_skills.BAD_SHAPE)
    return n - len(missed), n, missed

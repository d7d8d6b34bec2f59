"""The codify decision, as pure logic: candidate + draft + library -> one result.

Guarantee: :func:`resolve` turns every codifier answer into exactly one of
:class:`Published` (a new skill version to publish), :class:`Unchanged` (identical
content: no new version), :class:`Rejected` (a SKIP decision or a failed guard, with its
reason) or :class:`Parked` (the codifier failed in a retryable way: the candidate waits
and is tried again, it is never dropped). It imports no Kafka, Faust or Anthropic code,
reads no clock (``now`` is injected) and never raises on a well-typed input.

Also here: the codifier protocol (``draft(candidate, library) -> Draft | Rejection``),
grouping of candidates by (workspace, topic), the per-workspace daily token budget, the
park back-off, and :class:`CodifySummary` (the counters a demo prints).
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Protocol

from msgspec import Struct

from hivemind_kafka.schemas.sessions import Candidate, CandidateReason, Session
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance
from hivemind_kafka.streams.candidates import candidate_topic
from hivemind_kafka.streams.codifier import dedup, guards
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.provenance import Citation

# --------------------------------------------------------------------------- types


class Usage(Struct, frozen=True, kw_only=True):
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    @property
    def total_tokens(self) -> int:
        return (self.input_tokens + self.output_tokens + self.cache_read_tokens
                + self.cache_write_tokens)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            input_tokens=self.input_tokens + other.input_tokens,
            output_tokens=self.output_tokens + other.output_tokens,
            cache_read_tokens=self.cache_read_tokens + other.cache_read_tokens,
            cache_write_tokens=self.cache_write_tokens + other.cache_write_tokens,
            cost_usd=self.cost_usd + other.cost_usd,
        )


class Draft(Struct, frozen=True, kw_only=True):
    """A KEEP (new skill) or MERGE (new version of ``merge_target``) proposal.

    ``citations``: for a citing codifier (the LLM), each step or rule of the body and the
    span ids it comes from (every step must cite an instruction span); ``None`` for a
    codifier that does not cite (the offline one, whose steps are quoted calls)."""

    decision: Decision
    name: str
    description: str
    body: str
    reason: str = ""
    merge_target: str | None = None
    codifier: str
    model: str | None = None
    usage: Usage = Usage()
    citations: list[Citation] | None = None

    def text(self) -> guards.DraftText:
        return guards.DraftText(name=self.name, description=self.description, body=self.body,
                                citations=self.citations)


class Rejection(Struct, frozen=True, kw_only=True):
    """No draft: a SKIP decision (final) or a codifier failure (``retryable``: park)."""

    reason: str
    stage: str = "skip"  # skip | malformed | timeout | rate_limited | api_error | budget
    retryable: bool = False
    codifier: str = ""
    usage: Usage = Usage()


class Codifier(Protocol):
    """Drafts a skill from a candidate, given the workspace's current skills."""

    name: str

    async def draft(self, candidate: Candidate, library: Library) -> Draft | Rejection: ...


class Published(Struct, frozen=True):
    skill: Skill
    merged_into: str | None = None  # set when dedup turned a KEEP into a MERGE


class Unchanged(Struct, frozen=True):
    workspace_id: str
    name: str
    reason: str


class Rejected(Struct, frozen=True):
    guard: str  # "skip" for a SKIP decision, else the failing guard's name
    reasons: list[str]


class Parked(Struct, frozen=True):
    stage: str
    reason: str


Result = Published | Unchanged | Rejected | Parked


# --------------------------------------------------------------------------- grouping


class CandidateGroup(Struct, frozen=True):
    """Candidates of one workspace and topic folded into one (drafted once)."""

    candidate: Candidate
    member_ids: list[str]


def group_candidates(candidates: Sequence[Candidate]) -> list[CandidateGroup]:
    """Fold candidates sharing (workspace, topic) into one candidate each, in first-seen
    order; a candidate without a topic stays alone. Sessions are de-duplicated on
    ``session_uid``; the group id is a hash of the sorted member ids (deterministic)."""
    buckets: dict[tuple[str, str], list[Candidate]] = {}
    order: list[tuple[str, str]] = []
    for c in candidates:
        topic = c.topic or _topic_of(c)
        key = (c.workspace_id, topic or f"\x00{c.candidate_id}")
        if key not in buckets:
            buckets[key] = []
            order.append(key)
        buckets[key].append(c)
    groups = []
    for key in order:
        members = buckets[key]
        if len(members) == 1:
            groups.append(CandidateGroup(members[0], [members[0].candidate_id]))
            continue
        ids = sorted({m.candidate_id for m in members})
        sessions: dict[str, Session] = {}
        reasons: list[CandidateReason] = []
        for m in members:
            for s in m.sessions:
                sessions.setdefault(s.session_uid, s)
            reasons.extend(r for r in m.reasons if r not in reasons)
        gid = "grp-" + hashlib.blake2b("\x00".join(ids).encode(), digest_size=10).hexdigest()
        merged = Candidate(candidate_id=gid, workspace_id=key[0], reasons=reasons, topic=key[1],
                           sessions=list(sessions.values()),
                           created_at=min(m.created_at for m in members))
        groups.append(CandidateGroup(merged, ids))
    return groups


def _topic_of(candidate: Candidate) -> str:
    for s in candidate.sessions:
        topic = candidate_topic(s)
        if topic:
            return topic
    return ""


# --------------------------------------------------------------------------- resolve


def resolve(group: CandidateGroup, answer: Draft | Rejection, library: Library, *,
            max_body_chars: int, now: datetime,
            dedup_threshold: float = dedup.DEFAULT_THRESHOLD) -> Result:
    """Steps, in order: (1) a rejection parks (retryable) or ends as SKIP; (2) the guards
    run on the draft as written; (3) a MERGE whose target is gone becomes a KEEP;
    (4) a KEEP that near-duplicates a retired skill is rejected, one that near-duplicates
    or shares its name with a live skill becomes a MERGE into it; (5) identical content
    is Unchanged; (6) the new version is built with its provenance."""
    cand = group.candidate
    ws = cand.workspace_id
    # (1)
    if isinstance(answer, Rejection):
        if answer.retryable:
            return Parked(answer.stage, answer.reason)
        return Rejected("skip", [answer.reason or "codifier decided SKIP"])
    # (2)
    target = library.get(ws, answer.merge_target) if answer.merge_target else None
    extra = [target.body] if target else []
    failed = guards.first_failure(guards.run_guards(
        answer.text(), cand.sessions, max_body_chars=max_body_chars, extra_sources=extra))
    if failed:
        return Rejected(failed.guard, failed.reasons)
    decision, name, body, merged_into = answer.decision, answer.name, answer.body, None
    # (3)
    if decision is Decision.MERGE and target is None:
        decision = Decision.KEEP
    # (4)
    if decision is Decision.KEEP:
        retired = library.retired_index(ws).nearest(name, answer.description, body,
                                                    threshold=dedup_threshold)
        if retired or library.is_retired(ws, name):
            which = retired.name if retired else name
            return Rejected("retired", [f"near-duplicate of retired skill {which}"])
        near = library.index(ws).nearest(name, answer.description, body,
                                         threshold=dedup_threshold)
        existing = library.get(ws, near.name) if near else None
        if existing is None and library.get(ws, name) is not None:
            name = free_name(library, ws, name)  # same name, different lesson
        if existing is not None:
            decision, target, merged_into = Decision.MERGE, existing, existing.name
            body = dedup.merge_bodies(existing.body, body, max_chars=max_body_chars)
    if decision is Decision.MERGE and target is not None:
        name = target.name
    description = answer.description if target is None else target.description
    # (5)
    if target is not None and (target.description, target.body) == (description, body):
        return Unchanged(ws, name, "identical content")
    # (6)
    sessions = cand.sessions
    provenance = SkillProvenance(
        source_session_ids=sorted({s.session_id for s in sessions}),
        source_session_uids=sorted({s.session_uid for s in sessions}),
        candidate_id=cand.candidate_id,
        candidate_ids=list(group.member_ids),
        codifier=answer.codifier, model=answer.model, decision=decision,
        reason=(answer.reason or (f"near-duplicate of {merged_into}" if merged_into else ""))[:500],
        created_at=now,
    )
    skill = Skill(workspace_id=ws, name=name, description=description.strip(), body=body,
                  version=library.next_version(ws, name), provenance=provenance)
    return Published(skill, merged_into)


def free_name(library: Library, workspace_id: str, name: str) -> str:
    """``name-2``, ``name-3``... : the first name not live in the workspace."""
    k = 2
    while True:
        suffix = f"-{k}"
        candidate = name[: 64 - len(suffix)].rstrip("-") + suffix
        if library.get(workspace_id, candidate) is None:
            return candidate
        k += 1


# --------------------------------------------------------------------------- budget


class TokenBudget:
    """Per-workspace daily token budget (UTC days). ``allows`` is false once a
    workspace has spent ``daily_tokens`` today; it allows again at the next UTC midnight.
    ``0`` means unlimited. State round-trips through :meth:`to_dict` / :meth:`from_dict`."""

    def __init__(self, daily_tokens: int, spent: dict[str, dict[str, int]] | None = None):
        self.daily_tokens = daily_tokens
        self._spent: dict[str, dict[str, int]] = {k: dict(v) for k, v in (spent or {}).items()}

    def allows(self, workspace_id: str, now: datetime) -> bool:
        if self.daily_tokens <= 0:
            return True
        return self.spent(workspace_id, now) < self.daily_tokens

    def spent(self, workspace_id: str, now: datetime) -> int:
        return self._spent.get(now.date().isoformat(), {}).get(workspace_id, 0)

    def spend(self, workspace_id: str, tokens: int, now: datetime) -> None:
        day = now.date().isoformat()
        # keep today only: yesterday's spend never matters again
        self._spent = {day: self._spent.get(day, {})}
        self._spent[day][workspace_id] = self._spent[day].get(workspace_id, 0) + tokens

    @staticmethod
    def resets_at(now: datetime) -> datetime:
        return (now + timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)

    def to_dict(self) -> dict[str, dict[str, int]]:
        return {k: dict(v) for k, v in self._spent.items()}


# --------------------------------------------------------------------------- parking

MAX_PARK_ATTEMPTS = 6


def park_delay_s(attempt: int, *, base_s: float = 30.0, cap_s: float = 6 * 3600) -> float:
    """Back-off before a parked candidate's attempt number ``attempt`` (1-based)."""
    return min(cap_s, base_s * 2 ** max(0, attempt - 1))


# --------------------------------------------------------------------------- summary


class CodifySummary:
    """What the codifier did since start: decisions by kind, results by kind, guard
    rejections by guard, skills per workspace. Cheap; read by ``codify_summary()``."""

    def __init__(self) -> None:
        self.decisions: Counter[str] = Counter()
        self.results: Counter[str] = Counter()
        self.guard_rejections: Counter[str] = Counter()
        self.skip_reasons: Counter[str] = Counter()
        self.candidates: Counter[str] = Counter()
        self.skills_per_workspace: dict[str, int] = {}
        self.usage = Usage()

    def record(self, result: Result) -> None:
        kind = type(result).__name__.lower()
        self.results[kind] += 1
        if isinstance(result, Published):
            self.decisions[result.skill.provenance.decision.value] += 1
        elif isinstance(result, Rejected):
            if result.guard == "skip":
                self.decisions["SKIP"] += 1
                self.skip_reasons.update(r[:200] for r in result.reasons[:1])
            else:
                self.guard_rejections[result.guard] += 1

    def as_dict(self) -> dict:
        return {
            "candidates": dict(self.candidates),
            "decisions": dict(self.decisions),
            "results": dict(self.results),
            "guard_rejections": dict(self.guard_rejections),
            "skip_reasons": dict(self.skip_reasons),
            "skills_per_workspace": dict(self.skills_per_workspace),
            "tokens": self.usage.total_tokens,
            "cost_usd": round(self.usage.cost_usd, 6),
        }

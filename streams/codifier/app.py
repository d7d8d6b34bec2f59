"""The codify job: candidates topic -> codifier -> guards -> skills topic.

Guarantee (at-least-once in, nothing published twice out): a candidate's offset is
committed only after its result is durable: its skill version confirmed by the broker,
or its SKIP/rejection decided, or it was re-queued (parked) on the candidates topic with
a confirmed delivery, or dead-lettered. A crash replays uncommitted candidates; a replayed
candidate whose id is already in a published skill's provenance is skipped without a
model call, and identical content never becomes a new version, so a restart in the
middle publishes no skill twice. The library (the job's only state) is the compacted
skills topic itself, read to its high watermark at start.

Why a confluent-kafka consumer and not Faust: the job has no table (its state is the
compacted skills topic, and Faust tables could not be written from the awaited model
call anyway), it needs a confirmed delivery before each commit (Faust's at-least-once
commits on its own schedule), and exactly-once is unavailable on our broker. The model
call is async I/O: a batch's groups are drafted concurrently on a private event loop,
then resolved and published one by one in order, so dedup sees the previous group's skill.

Flow per batch (``consume`` up to ``BATCH_MAX`` records or ``GROUP_WINDOW_S``):
decode (bad bytes -> DLQ) -> skip already-codified -> wait if parked-not-yet-due or the
workspace's daily token budget is spent (held in memory, offset not committed) -> group
by (workspace, topic) -> draft -> resolve (guards, dedup) -> publish / reject / park ->
commit the offsets that are fully done.
"""

from __future__ import annotations

import asyncio
import heapq
import itertools
import json
import logging
import signal
import threading
from datetime import UTC, datetime
from pathlib import Path

from msgspec import Struct

from hivemind_kafka.runtime.clock import SimClock
from hivemind_kafka.runtime.cluster import ClusterWatch
from hivemind_kafka.runtime.dlq import count_dead_letter, dead_letter_record, decode_or_dead_letter
from hivemind_kafka.runtime.errors import DeliveryNotConfirmed, HivemindError
from hivemind_kafka.runtime.kafka import (
    cluster_id,
    consumer_config,
    group_id_for,
    produce_confirmed,
    producer_config,
)
from hivemind_kafka.runtime.metrics import PORT_OFFSETS, serve, set_ready
from hivemind_kafka.runtime.settings import Settings
from hivemind_kafka.runtime.stopping import StopDeadline, worker_grace_s
from hivemind_kafka.schemas.admission import candidate_problem
from hivemind_kafka.schemas.dead_letters import DeadLetter
from hivemind_kafka.schemas.sessions import Candidate, decode_candidate
from hivemind_kafka.schemas.topics import record_limit
from hivemind_kafka.sinks.skills_publisher import SkillsPublisher, skill_log
from hivemind_kafka.streams.codifier import metrics
from hivemind_kafka.streams.codifier.library import Library
from hivemind_kafka.streams.codifier.logic import (
    MAX_PARK_ATTEMPTS,
    Codifier,
    CodifySummary,
    Draft,
    Parked,
    Published,
    Rejected,
    Rejection,
    Result,
    TokenBudget,
    Unchanged,
    group_candidates,
    park_delay_s,
    resolve,
)
from hivemind_kafka.streams.codifier.offsets import OffsetTracker

log = logging.getLogger(__name__)

GROUP_ID = "hivemind-codifier"
STAGE = "codifier"
BATCH_MAX = 50
GROUP_WINDOW_S = 1.0  # how long a batch buffers so candidates of one topic draft together
MAX_WAITING = 10_000  # above this many held candidates the consumer pauses
DRAFT_CONCURRENCY = 4
H_ATTEMPT, H_NOT_BEFORE, H_REASON = "hivemind.attempt", "hivemind.not_before_ms", "hivemind.park_reason"

_SUMMARY = CodifySummary()


def codify_summary() -> dict:
    """Counters of this process's codifier since start (demo/report use)::

        {"candidates": {reason: n}, "decisions": {"KEEP"|"MERGE"|"SKIP": n},
         "results": {"published"|"unchanged"|"rejected"|"parked"|"duplicate"|
                     "dead_lettered": n},
         "guard_rejections": {guard: n}, "skills_per_workspace": {ws: n},
         "tokens": n, "cost_usd": x}
    """
    return _SUMMARY.as_dict()


def build_codifier(settings: Settings) -> Codifier:
    """Anthropic when an API key is configured, else the deterministic offline codifier."""
    if settings.codifier.api_key:
        from hivemind_kafka.streams.codifier.llm import AnthropicCodifier

        return AnthropicCodifier(settings.codifier)
    from hivemind_kafka.streams.codifier.offline import OfflineCodifier

    return OfflineCodifier()


class _Item(Struct):
    """A consumed candidate record still in flight."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    raw: bytes
    candidate: Candidate
    attempt: int = 0


class CodifierJob:
    """One consumer in group ``hivemind-codifier``; see the module docstring."""

    def __init__(self, settings: Settings, *, codifier: Codifier | None = None,
                 summary: CodifySummary | None = None, clock=None,
                 park_base_s: float = 30.0, max_park_attempts: int = MAX_PARK_ATTEMPTS) -> None:
        from confluent_kafka import Consumer, Producer

        self.settings = settings
        self.codifier = codifier or build_codifier(settings)
        self.summary = summary or _SUMMARY
        # HIVEMIND_CLOCK=sim: event time, advanced to each batch's latest session end
        # (runtime.clock), so a replayed week dates its skills inside that week.
        self.event_clock = SimClock() if clock is None and settings.clock == "sim" else None
        self.now = clock or (self.event_clock.now if self.event_clock is not None
                             else (lambda: datetime.now(UTC)))
        self.park_base_s = park_base_s
        self._record_limit = record_limit(settings.sessionizer.max_record_bytes)
        self.max_park_attempts = max_park_attempts
        # Loaded on every assignment (see _on_assign), before any candidate is processed.
        self.library: Library = Library()
        self._library_stale = True
        self.publisher = SkillsPublisher(settings)
        self.producer = Producer(producer_config(settings, **{"linger.ms": 5}))
        self.consumer = Consumer(consumer_config(
            settings, group_id_for(settings, GROUP_ID), **{"max.poll.interval.ms": 600_000}))
        self.tracker = OffsetTracker()
        self.cluster = ClusterWatch("codifier", lambda: cluster_id(settings, timeout_s=5.0),
                                    metrics.CLUSTER_CHANGES)
        self.waiting: list[tuple[float, int, _Item]] = []  # (due epoch s, seq, item)
        self._seq = itertools.count()
        self.budget = TokenBudget(settings.codifier.daily_token_budget, self._load_budget())
        self.loop = asyncio.new_event_loop()
        self.assigned = False
        self.partitions: set[tuple[str, int]] = set()  # for tests/observers: never call
        self.paused = False                            # the consumer from another thread

    # ------------------------------------------------------------------ lifecycle

    def run(self, stop: threading.Event) -> None:
        topic = self.settings.topics.candidates
        self.consumer.subscribe([topic], on_assign=self._on_assign, on_revoke=self._on_revoke)
        log.info("codifier consuming %s as %s with %s codifier", topic,
                 group_id_for(self.settings, GROUP_ID),
                 self.codifier.name)
        try:
            while not stop.is_set():
                self.step()
        finally:
            self.close()

    def step(self) -> None:
        """One batch: consume, process, commit."""
        msgs = self.consumer.consume(num_messages=BATCH_MAX, timeout=GROUP_WINDOW_S)
        if self._library_stale and self.assigned:
            self._reload_library()
        ready: list[_Item] = []
        for msg in msgs:
            if msg.error():
                log.warning("consumer error: %s", msg.error())
                continue
            item = self._admit(msg)
            if item is not None:
                ready.append(item)
        ready.extend(self._due_items())
        if ready:
            self._process(ready)
        self._flow_control()
        self._commit()

    def close(self) -> None:
        try:
            self._commit()
        finally:
            self.consumer.close()
            self.publisher.close()
            self.producer.flush(10)
            aclose = getattr(self.codifier, "aclose", None)
            if aclose is not None:
                self.loop.run_until_complete(aclose())
            self.loop.close()
            set_ready(False)

    def _reload_library(self) -> None:
        """Re-read the skills topic to its high watermark. Done after every assignment:
        a partition taken over from another worker brings workspaces whose skills that
        worker published after this one last read the topic (stale versions would
        collide). The old owner confirmed its publishes before giving the partition up:
        processing is synchronous between consume calls, where revocation happens."""
        self.library = Library.from_log(skill_log(self.settings))
        self.summary.skills_per_workspace = self.library.counts_by_workspace()
        self._library_stale = False
        log.info("library loaded: %d skills", len(self.library))
        if self.library.mismatched:
            metrics.SKILL_RECORDS_SKIPPED.labels(reason="key_mismatch").inc(
                self.library.mismatched)
            log.warning("skills topic: skipped %d records whose skill is not of their "
                        "key's workspace/name", self.library.mismatched)

    def _on_assign(self, consumer, partitions) -> None:
        # A replaced cluster: the group rejoined and, with no committed offsets there,
        # reads the new log from its start (auto.offset.reset); say so (runtime.cluster),
        # and forget the old log's offsets, which would hold back (or skip) commits.
        if self.cluster.check():
            self.tracker.clear()
        self._library_stale = True
        self.assigned = True
        self.partitions |= {(p.topic, p.partition) for p in partitions}
        set_ready(True)
        log.info("assigned %s", [f"{p.topic}[{p.partition}]" for p in partitions])

    def _on_revoke(self, consumer, partitions) -> None:
        self._commit()
        gone = {(p.topic, p.partition) for p in partitions}
        self.partitions -= gone
        self.tracker.drop(gone)
        self.waiting = [w for w in self.waiting if (w[2].topic, w[2].partition) not in gone]
        heapq.heapify(self.waiting)
        metrics.WAITING.set(len(self.waiting))

    # ------------------------------------------------------------------ intake

    def _admit(self, msg) -> _Item | None:
        tp = (msg.topic(), msg.partition())
        self.tracker.add(tp, msg.offset())
        decoded = decode_or_dead_letter(
            msg.value(), decode_candidate, stage=STAGE, topic=msg.topic(),
            partition=msg.partition(), offset=msg.offset(), key=msg.key(),
            max_bytes=self._record_limit)
        if not isinstance(decoded, DeadLetter):
            problem = candidate_problem(decoded, key=msg.key())
            if problem is not None:  # schemas.admission
                decoded = DeadLetter.from_contract_violation(
                    stage=STAGE, topic=msg.topic(), partition=msg.partition(),
                    offset=msg.offset(), key=msg.key(), raw=msg.value(), detail=problem)
        if isinstance(decoded, DeadLetter):
            self._dead_letter(decoded)
            self.tracker.done(tp, msg.offset())
            return None
        headers = dict(msg.headers() or [])
        item = _Item(msg.topic(), msg.partition(), msg.offset(), msg.key(), msg.value(), decoded,
                     attempt=_int(headers.get(H_ATTEMPT)))
        if item.attempt == 0:
            for reason in decoded.reasons:
                metrics.CANDIDATES.labels(reason.value).inc()
                self.summary.candidates[reason.value] += 1
        if self.library.has_candidate(decoded.candidate_id):
            self._finish(item, "duplicate")
            return None
        not_before = _int(headers.get(H_NOT_BEFORE)) / 1000
        if not_before > self._epoch():
            self._hold(item, not_before)
            return None
        return item

    def _epoch(self) -> float:
        """Now in epoch seconds, from the job's one clock (``clock``): due checks, parks
        and budget holds all read it."""
        return self.now().timestamp()

    def _hold(self, item: _Item, due: float) -> None:
        heapq.heappush(self.waiting, (due, next(self._seq), item))
        metrics.WAITING.set(len(self.waiting))

    def _due_items(self) -> list[_Item]:
        now = self._epoch()
        due = []
        while self.waiting and self.waiting[0][0] <= now:
            due.append(heapq.heappop(self.waiting)[2])
        metrics.WAITING.set(len(self.waiting))
        return due

    def _flow_control(self) -> None:
        assignment = self.consumer.assignment() if self.assigned else []
        if len(self.waiting) > MAX_WAITING and not self.paused and assignment:
            self.consumer.pause(assignment)
            self.paused = True
        elif self.paused and len(self.waiting) <= MAX_WAITING // 2 and assignment:
            self.consumer.resume(assignment)
            self.paused = False

    # ------------------------------------------------------------------ processing

    def _process(self, items: list[_Item]) -> None:
        if self.event_clock is not None:
            for item in items:
                for session in item.candidate.sessions:
                    self.event_clock.advance_to(session.ended_at)
        now = self.now()
        runnable: list[_Item] = []
        for item in items:
            if self.library.has_candidate(item.candidate.candidate_id):
                self._finish(item, "duplicate")
            elif self._metered() and not self.budget.allows(item.candidate.workspace_id, now):
                metrics.CALLS.labels("budget_exhausted").inc()
                self._hold(item, TokenBudget.resets_at(now).timestamp())
            else:
                runnable.append(item)
        if not runnable:
            return
        by_id: dict[str, list[_Item]] = {}
        for item in runnable:
            by_id.setdefault(item.candidate.candidate_id, []).append(item)
        groups = group_candidates([items_[0].candidate for items_ in by_id.values()])
        answers = self.loop.run_until_complete(self._draft_all([g.candidate for g in groups]))
        for group, answer in zip(groups, answers, strict=True):
            members = [it for cid in group.member_ids for it in by_id[cid]]
            self._spend(group.candidate.workspace_id, answer)
            if not self._metered():
                metrics.CALLS.labels("offline").inc()
            result = resolve(group, answer, self.library,
                             max_body_chars=self.settings.codifier.max_body_chars, now=self.now())
            self._apply(result, members)

    async def _draft_all(self, candidates: list[Candidate]) -> list[Draft | Rejection]:
        sem = asyncio.Semaphore(DRAFT_CONCURRENCY)

        async def one(c: Candidate) -> Draft | Rejection:
            async with sem:
                try:
                    return await self.codifier.draft(c, self.library)
                except Exception as exc:  # a codifier bug must not lose the candidate
                    log.exception("codifier raised candidate=%s", c.candidate_id)
                    return Rejection(reason=f"codifier error {type(exc).__name__}",
                                     stage="api_error", retryable=True, codifier=self.codifier.name)

        return list(await asyncio.gather(*(one(c) for c in candidates)))

    def _apply(self, result: Result, members: list[_Item]) -> None:
        if isinstance(result, Published):
            try:
                self.publisher.publish(result.skill)
            except DeliveryNotConfirmed as exc:
                log.warning("skill not delivered, retrying later: %s", exc)
                for item in members:
                    self._hold(item, self._epoch() + 5)
                return
        if not isinstance(result, Parked):  # a park counts once it is re-queued (_park)
            self.summary.record(result)
        if isinstance(result, Published):
            self.library.apply((result.skill.workspace_id, result.skill.name), result.skill)
            self.summary.skills_per_workspace = self.library.counts_by_workspace()
            metrics.SKILLS_PUBLISHED.inc()
            metrics.DECISIONS.labels(result.skill.provenance.decision.value).inc()
            self._finish_all(members, "published")
        elif isinstance(result, Unchanged):
            self._finish_all(members, "unchanged")
        elif isinstance(result, Rejected):
            if result.guard == "skip":
                metrics.DECISIONS.labels("SKIP").inc()
            else:
                metrics.GUARD_REJECTIONS.labels(result.guard).inc()
                log.info("draft rejected guard=%s candidates=%s", result.guard,
                         ",".join(m.candidate.candidate_id for m in members))
            self._finish_all(members, "rejected")
        elif isinstance(result, Parked):
            for item in members:
                self._park(item, result)

    def _park(self, item: _Item, parked: Parked) -> None:
        attempt = item.attempt + 1
        try:
            if attempt > self.max_park_attempts:
                letter = DeadLetter.from_processing_error(
                    stage=STAGE, topic=item.topic, partition=item.partition, offset=item.offset,
                    key=item.key, raw=item.raw,
                    error=HivemindError(f"codifier failed {attempt - 1} times: {parked.reason}"))
                self._dead_letter(letter)
                self._finish(item, "dead_lettered")
                return
            not_before_ms = int((self._epoch() + park_delay_s(attempt, base_s=self.park_base_s)) * 1000)
            headers = [(H_ATTEMPT, str(attempt).encode()),
                       (H_NOT_BEFORE, str(not_before_ms).encode()),
                       (H_REASON, parked.reason[:200].encode())]
            produce_confirmed(self.producer, self.settings.topics.candidates, key=item.key,
                              value=item.raw, headers=headers)
        except DeliveryNotConfirmed:
            self._hold(item, self._epoch() + 5)  # not durable elsewhere yet: keep it here
            return
        log.info("candidate parked candidate=%s attempt=%d stage=%s", item.candidate.candidate_id,
                 attempt, parked.stage)
        self._finish(item, "parked")

    def _finish(self, item: _Item, result: str) -> None:
        metrics.RESULTS.labels(result).inc()
        if result in ("duplicate", "dead_lettered", "parked"):
            self.summary.results[result] += 1
        self.tracker.done((item.topic, item.partition), item.offset)

    def _finish_all(self, items: list[_Item], result: str) -> None:
        for item in items:
            self._finish(item, result)

    # ------------------------------------------------------------------ helpers

    def _metered(self) -> bool:
        return self.codifier.name != "offline"

    def _spend(self, workspace_id: str, answer: Draft | Rejection) -> None:
        tokens = answer.usage.total_tokens
        self.summary.usage = self.summary.usage + answer.usage
        if tokens and self._metered():
            self.budget.spend(workspace_id, tokens, self.now())
            self._save_budget()

    def _dead_letter(self, letter: DeadLetter) -> None:
        # Capped like every stage's: a letter carries its raw bytes in base64 (a third
        # larger), so one near the record limit keeps a prefix (runtime.dlq).
        rec = dead_letter_record(letter, max_bytes=self._record_limit - 4096)
        produce_confirmed(self.producer, self.settings.topics.dlq, key=rec.key, value=rec.value,
                          headers=rec.headers)
        count_dead_letter(letter)

    def _commit(self) -> None:
        offsets = self.tracker.committable()
        if not offsets or not self.assigned:
            return
        from confluent_kafka import KafkaException, TopicPartition

        try:
            self.consumer.commit(offsets=[TopicPartition(t, p, o) for (t, p), o in offsets.items()],
                                 asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit failed (records will be re-read, deduplicated): %s", exc)
            return
        self.tracker.mark_committed(offsets)

    def _budget_path(self) -> Path:
        return self.settings.edge.home_path() / "codifier" / "budget.json"

    def _load_budget(self) -> dict:
        try:
            return json.loads(self._budget_path().read_text())
        except (OSError, ValueError):
            return {}

    def _save_budget(self) -> None:
        from hivemind_kafka.producers import private

        private.write_atomic(self._budget_path(), json.dumps(self.budget.to_dict()).encode(),
                             fsync=False)


def _int(raw: bytes | None) -> int:
    try:
        return int(raw or 0)
    except ValueError:
        return 0


def run_codifier(settings: Settings, *, stop: threading.Event | None = None,
                 codifier: Codifier | None = None, summary: CodifySummary | None = None) -> None:
    """Run the codify job until ``stop`` is set (or SIGTERM/SIGINT in the main thread).

    Blocking. Serves /metrics, /healthz, /readyz on ``settings.metrics.port`` + the
    codifier's offset when the port is set; ready once partitions are assigned.
    """
    stop = stop or threading.Event()
    if threading.current_thread() is threading.main_thread():
        # The clean stop (commit, flush) is bounded: runtime.stopping.
        deadline = StopDeadline(worker_grace_s(settings.stop_grace_s), "codifier")

        def on_signal(*_: object) -> None:
            deadline.arm()
            stop.set()

        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, on_signal)
    server = serve(settings.metrics.host, settings.metrics.port + PORT_OFFSETS["codifier"]) \
        if settings.metrics.port > 0 else None
    try:
        CodifierJob(settings, codifier=codifier, summary=summary).run(stop)
    finally:
        if server is not None:
            server.shutdown()

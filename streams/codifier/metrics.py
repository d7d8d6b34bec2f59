"""Prometheus metrics of the codify stage, defined once (labels are outcomes, never ids)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

CANDIDATES = Counter(
    "hivemind_codifier_candidates_total",
    "Candidates the codifier received, by selection reason (a candidate counts once per reason)",
    ["reason"],
)
CALLS = Counter(
    "hivemind_codifier_calls_total",
    "Codifier model calls by outcome: ok, malformed, timeout, rate_limited, overloaded, "
    "api_error, budget_exhausted, offline",
    ["outcome"],
)
TOKENS = Counter(
    "hivemind_codifier_tokens_total",
    "Model tokens by direction: input, output, cache_read, cache_write",
    ["direction"],
)
COST = Counter("hivemind_codifier_cost_usd_total", "Estimated model cost in US dollars")
LATENCY = Histogram(
    "hivemind_codifier_latency_seconds", "Latency of one model call (retries included)",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 30, 60, 120),
)
DECISIONS = Counter(
    "hivemind_codifier_decisions_total",
    "Published or skipped decisions: KEEP, MERGE (incl. dedup merges), SKIP",
    ["decision"],
)
GUARD_REJECTIONS = Counter(
    "hivemind_codifier_guard_rejections_total",
    "Drafts refused, by guard: shape, secrets, injection, provenance, grounding, retired",
    ["guard"],
)
RESULTS = Counter(
    "hivemind_codifier_results_total",
    "Candidate results: published, unchanged, rejected, parked, dead_lettered, duplicate",
    ["result"],
)
WAITING = Gauge(
    "hivemind_codifier_waiting_candidates",
    "Candidates held in memory (budget exhausted or parked retry not yet due)",
)
SKILLS_PUBLISHED = Counter(
    "hivemind_codifier_skills_published_total",
    "Skill versions confirmed by the broker's delivery report",
)
SKILL_RECORDS_SKIPPED = Counter(
    "hivemind_codifier_skill_records_skipped_total",
    "Skills-topic records left out of the library at a load, by reason: key_mismatch (the "
    "skill's workspace/name is not its key's)",
    ["reason"],
)
CLUSTER_CHANGES = Counter(
    "hivemind_codifier_cluster_changes_total",
    "Kafka cluster id changes seen at a partition assignment (a new cluster: its log is read "
    "from the start)",
)

"""The Delta sink's Prometheus metrics, defined once (labels: table names and outcomes only)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

ROWS = Counter("hivemind_sink_rows_total", "Rows committed to a Delta table", ["table"])
COMMITS = Counter(
    "hivemind_sink_commits_total", "Delta commits by outcome (ok, conflict, error)",
    ["table", "outcome"],
)
COMMIT_SECONDS = Histogram(
    "hivemind_sink_commit_seconds", "Time to build and commit one batch to Delta",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
LAG = Gauge(
    "hivemind_sink_lag_records",
    "Records on the assigned partitions not yet in the table (high watermark - txn version - 1)",
    ["table"],
)
DUPLICATES = Counter(
    "hivemind_sink_duplicates_dropped_total",
    "Rows dropped as duplicates (recent-key window or already in the table)", ["table"],
)
CONFLICTS = Counter(
    "hivemind_sink_conflicts_total",
    "Commits refused because another writer advanced a partition's txn version",
)
UNDECODABLE = Counter(
    "hivemind_sink_undecodable_records_total",
    "Records that did not decode, by action (dead_lettered, skipped)", ["table", "action"],
)
CLUSTER_CHANGES = Counter(
    "hivemind_sink_cluster_changes_total",
    "Kafka cluster id changes seen while running (a new cluster: resumed from its log start)",
)

OFFSETS_REWOUND = Counter(
    "hivemind_sink_offsets_rewound_total",
    "Partitions that delivered an offset below the one expected on the same cluster (topic "
    "recreated or truncated): read again from there",
)
ISOLATED = Counter(
    "hivemind_sink_isolated_records_total",
    "Records that decoded but failed alone while their batch was converted or written "
    "(found by splitting the batch; dead-lettered)", ["table"],
)


def init_table(table: str, *, dead_letters: bool) -> None:
    """Create a table's series at 0, so rates and alerts see them before the first event."""
    ROWS.labels(table)
    for outcome in ("ok", "conflict", "error"):
        COMMITS.labels(table, outcome)
    DUPLICATES.labels(table)
    ISOLATED.labels(table)
    LAG.labels(table)
    UNDECODABLE.labels(table, "dead_lettered" if dead_letters else "skipped")

"""The sessionizer's Prometheus metrics, defined once (the DLQ counter is shared with
every stage and lives in :mod:`hivemind_kafka.runtime.dlq`)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from hivemind_kafka.runtime.dlq import DLQ_RECORDS

EVENTS = Counter("hivemind_sessionizer_events_total",
                 "Turn events read from decoded records (duplicates included).")
RECORDS = Counter("hivemind_sessionizer_records_total",
                  "Input records by outcome: processed, dead_lettered, tick, stale (fetched "
                  "before a rebalance: delivered again).", ["outcome"])
BATCH_RECORDS = Histogram("hivemind_sessionizer_batch_records",
                          "Records per processed batch (noack_take).",
                          buckets=(1, 10, 50, 100, 250, 500, 1000, 2000, 5000))
STATE_WRITES = Counter("hivemind_sessionizer_state_writes_total",
                       "State writes to the changelogged table (one per touched key per "
                       "written batch group).")
SESSIONS_CLOSED = Counter("hivemind_sessionizer_sessions_closed_total",
                          "Sessions closed and emitted, by close reason.", ["reason"])
LATE_EVENTS = Counter("hivemind_sessionizer_late_events_total",
                      "Events older than their closed session's end: re-opened it as its next generation.")
REOPENED_SESSIONS = Counter("hivemind_sessionizer_reopened_sessions_total",
                            "Closed sessions continued by a newer event (e.g. the next turn after a Stop).")
ABSORBED_EVENTS = Counter("hivemind_sessionizer_absorbed_events_total",
                          "Trailing stop/session_end and late outcome events that open no generation.")
DUPLICATE_EVENTS = Counter("hivemind_sessionizer_duplicate_events_total",
                           "Events dropped because their event_id was already seen.")
CONSUMING_SINCE = Gauge("hivemind_sessionizer_consuming_since_timestamp_seconds",
                        "Unix time of the first batch this worker processed after its latest "
                        "partition assignment (0 before the first).")
OPEN_SESSIONS = Gauge("hivemind_sessionizer_open_sessions",
                      "Open sessions held by this worker.")
LATE_OUTCOMES = Counter(
    "hivemind_sessionizer_late_outcomes_total",
    "Outcome events after their session closed, by disposition: joined (stored, joined by "
    "the outcomes table), candidate (re-emitted the session as a candidate), beyond_horizon "
    "(past the outcome horizon: left out of joins), unknown_session (no state for the key).",
    ["disposition"])
CANDIDATES = Counter("hivemind_sessionizer_candidates_total",
                     "Candidates emitted, by reason (a candidate counts once per reason).",
                     ["reason"])

CLUSTER_CHANGES = Counter("hivemind_sessionizer_cluster_changes_total",
                          "Kafka cluster id changes seen at a partition assignment (a new "
                          "cluster: its log is read from the start).")

__all__ = ["ABSORBED_EVENTS", "BATCH_RECORDS", "CANDIDATES", "CLUSTER_CHANGES",
           "CONSUMING_SINCE", "DLQ_RECORDS",
           "DUPLICATE_EVENTS", "EVENTS", "LATE_EVENTS", "LATE_OUTCOMES", "OPEN_SESSIONS",
           "RECORDS", "REOPENED_SESSIONS", "SESSIONS_CLOSED", "STATE_WRITES"]

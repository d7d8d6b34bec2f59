"""Noticing that the Kafka cluster behind a running worker was replaced.

A broker replaced by a fresh cluster (tansu's memory storage at every start, a failover,
a migration) serves the same topic names from a new, empty log on the same address. The
consumer group is unknown there, so the worker rejoins and, finding no committed offsets,
reads each partition from the new log's start (``auto.offset.reset=earliest``): nothing
is skipped. :class:`ClusterWatch` makes that loud: called on every partition assignment,
it compares the cluster id with the one seen before, and on a change logs an error and
counts it (the caller's counter, one per stage), so an alert can ask why.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from prometheus_client import Counter

log = logging.getLogger(__name__)


class ClusterWatch:
    """The cluster id this worker consumes from; :meth:`check` says when it changed."""

    def __init__(self, component: str, read: Callable[[], str], changes: Counter) -> None:
        self.component, self.read, self.changes = component, read, changes
        self.cluster_id: str | None = None

    def check(self) -> bool:
        """Read the cluster id; True when it differs from the last one read (logged and
        counted). An unreadable id (broker unreachable) changes nothing."""
        try:
            current = self.read()
        except Exception as exc:  # unreachable now: the next assignment checks again
            log.warning("%s: cluster id unreadable (%s); checked again at the next "
                        "assignment", self.component, exc)
            return False
        previous, self.cluster_id = self.cluster_id, current
        if previous is None or previous == current:
            return False
        self.changes.inc()
        log.error("%s: the Kafka cluster changed from %s to %s (broker replaced by a fresh "
                  "cluster?): consuming the new cluster's log from its start; records the "
                  "old cluster held that were not read yet are not in it",
                  self.component, previous, current)
        return True

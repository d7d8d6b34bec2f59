"""Randomized holdout: which agents do *not* receive a skill (the comparison cohort).

Deterministic and documented so the sync (which leaves the skill out) and the report
(which compares cohorts) agree without talking to each other:

    bucket = int(sha256(f"{skill_name}\\x00{agent_id}").hexdigest()[:8], 16) / 2**32
    held_out = bucket < share            # default share 0.10

Keyed by skill *name* (not version), so an agent stays in the same cohort across
versions of a skill; keyed per skill, so cohorts of different skills are independent.
"""

from __future__ import annotations

import hashlib

DEFAULT_HOLDOUT_SHARE = 0.10


def holdout_bucket(skill_name: str, agent_id: str) -> float:
    digest = hashlib.sha256(f"{skill_name}\x00{agent_id}".encode()).hexdigest()
    return int(digest[:8], 16) / 2**32


def is_held_out(skill_name: str, agent_id: str, share: float = DEFAULT_HOLDOUT_SHARE) -> bool:
    """True when ``agent_id`` is in ``skill_name``'s holdout cohort."""
    if not 0.0 <= share < 1.0:
        raise ValueError(f"holdout share must be in [0, 1), got {share}")
    return holdout_bucket(skill_name, agent_id) < share

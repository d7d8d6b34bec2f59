"""A fleet simulator with known truth: every skill's true effect is set, so the
attribution can be scored (detection power, false positives, retirement rates).

Deterministic for a seed. It produces pyarrow tables with the columns the attribution
reads from the Delta tables (``sessions``, ``outcomes``, ``skills``, ``exposures``), so
the eval runs the same code path as ``hivemind report``.

World: ``workspaces`` workspaces, each with ``agents_per_workspace`` agents and
``skills_per_workspace`` skills published on day 0 of the run. Each session's success
probability is the workspace's base rate (drifting linearly from ``base_start`` to
``base_end`` over the run plus a weekly wobble) plus the true effect of every skill the
agent has (held out per ``schemas.holdout``), clipped to [0.02, 0.98]. A ``outcome_share``
of sessions get an outcome; a share of those arrive late (days after the session).
Present agents invoke a skill in a share of sessions (invocation does not change the
effect here: the effect is intention-to-treat).
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pyarrow as pa
from msgspec import Struct

from schemas.arrow import arrow_schema
from schemas.holdout import DEFAULT_HOLDOUT_SHARE, holdout_bucket
from schemas.outcomes import Exposure, Outcome

START = datetime(2026, 9, 1, tzinfo=UTC)

SESSION_COLUMNS = pa.schema([
    pa.field("session_uid", pa.string(), nullable=False),
    pa.field("workspace_id", pa.string(), nullable=False),
    pa.field("session_id", pa.string(), nullable=False),
    pa.field("agent_id", pa.string(), nullable=False),
    pa.field("started_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("outcome", pa.string()),
])
SKILL_COLUMNS = pa.schema([
    pa.field("workspace_id", pa.string(), nullable=False),
    pa.field("name", pa.string(), nullable=False),
    pa.field("version", pa.int64()),
    pa.field("published_at", pa.timestamp("us", tz="UTC")),
    pa.field("retired", pa.bool_()),
])


class SimConfig(Struct, frozen=True, kw_only=True):
    seed: int = 7
    workspaces: int = 100
    agents_per_workspace: int = 400
    skills_per_workspace: int = 3
    sessions_per_workspace: int = 3000
    days: int = 56
    held_out_share: float = DEFAULT_HOLDOUT_SHARE
    base_start: float = 0.45
    base_end: float = 0.55
    effect_size: float = 0.10  # helpful +effect, harmful -effect, null 0
    outcome_share: float = 0.9
    late_share: float = 0.3  # of outcomes: arrive 1-7 days after the session
    invoke_share: float = 0.4
    # Standard deviation of a per-agent offset to the success probability: real agents
    # (people, repos, models) differ; 0 makes sessions independent.
    agent_sd: float = 0.0


class SimulatedFleet(Struct, frozen=True):
    sessions: pa.Table
    outcomes: pa.Table
    skills: pa.Table
    exposures: pa.Table
    # (workspace, skill name) -> true effect on the success probability
    truth: dict[tuple[str, str], float]


def true_effect(index: int, effect_size: float) -> float:
    """Skills cycle helpful, null, harmful: a third each."""
    return (effect_size, 0.0, -effect_size)[index % 3]


def base_rate(config: SimConfig, day: float) -> float:
    drift = config.base_start + (config.base_end - config.base_start) * day / max(config.days, 1)
    return drift + 0.03 * math.sin(2 * math.pi * day / 7)


def simulate(config: SimConfig | None = None) -> SimulatedFleet:
    config = config or SimConfig()
    rng = random.Random(config.seed)
    sessions: dict[str, list] = {f.name: [] for f in SESSION_COLUMNS}
    outcomes: dict[str, list] = {f.name: [] for f in arrow_schema(Outcome)}
    exposures: dict[str, list] = {f.name: [] for f in arrow_schema(Exposure)}
    skills: dict[str, list] = {f.name: [] for f in SKILL_COLUMNS}
    truth: dict[tuple[str, str], float] = {}
    skill_index = 0
    for w in range(config.workspaces):
        ws = f"sim-ws-{w:04d}"
        agents = [f"{ws}-agent-{a:04d}" for a in range(config.agents_per_workspace)]
        ws_skills = []
        for _ in range(config.skills_per_workspace):
            name = f"sim-skill-{skill_index:04d}"
            effect = true_effect(skill_index, config.effect_size)
            skill_index += 1
            truth[(ws, name)] = effect
            ws_skills.append((name, effect))
            for col, value in (("workspace_id", ws), ("name", name), ("version", 1),
                               ("published_at", START), ("retired", False)):
                skills[col].append(value)
        # Per agent: the skills it has (ITT: by assignment) and their summed effect.
        has = {a: [holdout_bucket(n, a) >= config.held_out_share for n, _ in ws_skills]
               for a in agents}
        offset = {a: rng.gauss(0.0, config.agent_sd) if config.agent_sd else 0.0 for a in agents}
        for s in range(config.sessions_per_workspace):
            agent = agents[rng.randrange(len(agents))]
            day = rng.uniform(0, config.days)
            started = START + timedelta(days=day)
            sid = f"{ws}-s{s:06d}"
            p = base_rate(config, day) + offset[agent] + sum(
                e for (_, e), h in zip(ws_skills, has[agent], strict=True) if h)
            p = min(0.98, max(0.02, p))
            _append(sessions, session_uid=sid, workspace_id=ws, session_id=sid, agent_id=agent,
                    started_at=started, outcome=None)
            for (name, _), present in zip(ws_skills, has[agent], strict=True):
                invoked = present and rng.random() < config.invoke_share
                _append(exposures, exposure_id=f"{sid}/{name}", workspace_id=ws, session_id=sid,
                        agent_id=agent, skill_name=name, skill_version=1,
                        cohort="present" if present else "held_out", invoked=invoked, ts=started)
            if rng.random() < config.outcome_share:
                success = rng.random() < p
                delay = timedelta(days=rng.uniform(1, 7)) if rng.random() < config.late_share \
                    else timedelta(minutes=rng.uniform(1, 60))
                label = "tests_passed" if success else "tests_failed"
                _append(outcomes, outcome_id=f"o-{sid}", workspace_id=ws, session_id=sid,
                        agent_id=agent, label=label, result="success" if success else "failure",
                        source="signal", ts=started + delay, evidence_event_id=None)
    return SimulatedFleet(
        sessions=pa.table(sessions, schema=SESSION_COLUMNS),
        outcomes=pa.table(_complete(outcomes, arrow_schema(Outcome)), schema=arrow_schema(Outcome)),
        skills=pa.table(skills, schema=SKILL_COLUMNS),
        exposures=pa.table(_complete(exposures, arrow_schema(Exposure)), schema=arrow_schema(Exposure)),
        truth=truth,
    )


def _append(columns: dict[str, list], **values) -> None:
    for name, col in columns.items():
        col.append(values.get(name))


def _complete(columns: dict[str, list], schema: pa.Schema) -> dict[str, list]:
    n = max((len(c) for c in columns.values()), default=0)
    out = {}
    for f in schema:
        col = columns[f.name]
        if f.name == "schema_version":
            col = [1] * n
        out[f.name] = col
    return out

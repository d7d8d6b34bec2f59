"""A hostile fleet simulator with known truth, for scoring the attribution honestly.

Written before the estimator was tuned, to be realistic rather than convenient. Its
world (:class:`FleetConfig`):

* **40 workspaces of three kinds**: coding teams of 5-300 agents, support fleets of 2-30
  bot ids (many conversations each), SDR teams of 4-60; sizes log-uniform, each in its
  own time zone with working hours (support: around the clock) and quiet weekends.
* **Agents differ a lot**: ability ~ N(0, 1) on the logit scale (success from ~25 % to
  ~75 % for the middle two thirds); activity heavy-tailed (lognormal, sigma 1.2: a few
  agents do most sessions); agents join (30 %) and leave (20 %) during the run; each
  agent-day has its own shock (the day's tasks), so one agent's sessions of a day are
  correlated.
* **Drift**: every workspace's base rate takes a random walk plus a weekly cycle.
* **Skills** published at different times (2-12 per workspace, more in bigger ones),
  several in scope of every session; 20 % get a second version (new text, new effect)
  later. Classes: 40 % helpful, 35 % null (exactly no effect), 25 % harmful; size
  |effect| ~ U(0.1, 0.6) on the logit scale (about 2-15 probability points), times a
  per-workspace factor (lognormal, sd 0.3) and a per-agent factor (lognormal, sd 0.5): an
  effect varies by workspace and agent but keeps its sign. A **novelty bump** doubles
  the effect at publication and fades (time constant 5 days).
* **Assignment** is the real one (schemas.holdout's switchback hash, the configured
  design). 10 % of agents run without agentd: the first session of each period still has
  the files (and records the cohort) of their previous period. 5 % run an old client
  that records no scope: the report must fall back to the hash.
* **Carry-over** (``carryover``, default 0.2): in a held-out period, a skill that was
  present in the agent's previous period still acts with that fraction of its effect
  (halving for each further period back, 3 periods at most).
* **Outcomes**: missing for 15-30 % of sessions (per workspace, varying by agent: some
  agents rarely report), 30 % of the others arrive 1-7 days after the session (the eval
  only sees outcomes that have arrived at each look), 2 % are delivered twice.

Truth: for every (skill version, session) in scope, ``tau`` = P(success | skill present,
no carry-over) - P(success | skill absent, no carry-over) for that session, everything
else as it was. A version's true effect over a period is the mean ``tau`` of its
sessions then (what the report's session-weighted estimate targets).

Output (:class:`SimulatedFleet`): the four tables the report reads, built through the
project's own row builders (``sinks.tables``: sessions from ``Session`` contracts,
exposures and outcomes from ``session_start``/``outcome`` TurnEvents in turns records,
skills from skills-topic records), plus the truth. Deterministic for a seed.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import Struct

from hivemind_kafka.schemas.events import AgentKind, EventKind, TurnEvent, encode_batch
from hivemind_kafka.schemas.holdout import HoldoutDesign, holdout_bucket
from hivemind_kafka.schemas.outcomes import SKILLS_IN_SCOPE
from hivemind_kafka.schemas.sessions import CloseReason, Session, session_uid
from hivemind_kafka.schemas.skills import Decision, Skill, SkillProvenance, encode_skill, skill_key

START = datetime(2026, 9, 7, tzinfo=UTC)  # a Monday
DAY_US = 86_400 * 1_000_000

# kind -> (min agents, max agents, relative sessions per agent-day, weekend factor, hours)
KINDS: dict[str, tuple[int, int, float, float, tuple[float, float]]] = {
    "coding": (5, 300, 1.0, 0.2, (8.0, 19.0)),
    "support": (2, 30, 12.0, 0.7, (0.0, 24.0)),
    "sdr": (4, 60, 3.0, 0.15, (8.0, 18.0)),
}
LABELS = {"coding": ("merged", "reverted"), "support": ("resolved", "escalated"),
          "sdr": ("meeting_booked", "no_reply")}
HELPFUL, NULL, HARMFUL = "helpful", "null", "harmful"


class FleetConfig(Struct, frozen=True, kw_only=True):
    seed: int = 2026
    workspaces: int = 40
    sessions: int = 100_000  # expected total over the run
    days: int = 56
    kind_mix: tuple[tuple[str, float], ...] = (("coding", 0.5), ("support", 0.25), ("sdr", 0.25))
    design: HoldoutDesign = HoldoutDesign()
    ability_sd: float = 1.0
    activity_sigma: float = 1.2
    day_shock_sd: float = 0.3
    drift_sd: float = 0.04  # per day, random walk on the logit scale
    weekly_amplitude: float = 0.15
    join_share: float = 0.3
    leave_share: float = 0.2
    skills: tuple[int, int] = (2, 12)
    new_version_share: float = 0.2
    class_mix: tuple[float, float, float] = (0.40, 0.35, 0.25)  # helpful, null, harmful
    effect_logit: tuple[float, float] = (0.1, 0.6)
    workspace_effect_sd: float = 0.3
    agent_effect_sd: float = 0.5
    novelty: float = 1.0
    novelty_days: float = 5.0
    carryover: float = 0.2
    missing: tuple[float, float] = (0.15, 0.30)
    agent_missing_sd: float = 0.7
    late_share: float = 0.3
    late_days: tuple[float, float] = (1.0, 7.0)
    duplicate_share: float = 0.02
    stale_agent_share: float = 0.10
    legacy_agent_share: float = 0.05


class _Plan(Struct, frozen=True, kw_only=True):
    ws: str
    kind: str
    n: int
    hours: tuple[float, float]
    tz: int
    expected: np.ndarray  # agents x days: expected sessions before scaling
    ability: np.ndarray
    base: float


class WorkspaceInfo(Struct, frozen=True):
    workspace_id: str
    kind: str
    agents: int


class SimulatedFleet(Struct, frozen=True):
    sessions: pa.Table
    outcomes: pa.Table
    skills: pa.Table
    exposures: pa.Table
    # One row per (skill version, session) in scope: workspace_id, skill_name, version,
    # session_id, started_at, tau (the session's true effect), cohort (what was on disk).
    truth: pa.Table
    # (workspace, skill name, version) -> helpful / null / harmful
    classes: dict[tuple[str, str, int], str]
    workspaces: list[WorkspaceInfo]


def _expit(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


class _Draws:
    """The switchback draw of (skill, agent, period), each hashed once."""

    def __init__(self, design: HoldoutDesign) -> None:
        self.share = design.share
        self.cache: dict[tuple[str, str, int], bool] = {}

    def held(self, skill: str, agents: list[str], agent_idx: np.ndarray,
             periods: np.ndarray) -> np.ndarray:
        if agent_idx.size == 0:
            return np.zeros(0, bool)
        p0 = int(periods.min())
        key = agent_idx.astype(np.int64) * (int(periods.max()) - p0 + 1) + (periods - p0)
        uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        cache, share = self.cache, self.share
        out = np.empty(uniq.size, bool)
        for j, i in enumerate(first.tolist()):
            k = (skill, agents[int(agent_idx[i])], int(periods[i]))
            got = cache.get(k)
            if got is None:
                got = cache[k] = holdout_bucket(*k) < share
            out[j] = got
        return out[inverse]


def simulate(config: FleetConfig | None = None, *, builder: str = "arrow") -> SimulatedFleet:
    """The fleet of ``config``. ``builder`` ``"contracts"`` builds every row through the
    contracts and the sink's row builders (about 100 microseconds per session);
    ``"arrow"`` builds the same tables column by column (tests hold them equal)."""
    if builder not in ("arrow", "contracts"):
        raise ValueError(f"builder must be 'arrow' or 'contracts', got {builder!r}")
    config = config or FleetConfig()
    rng = np.random.default_rng(config.seed)
    design = config.design
    period_us = design.period_s * 1_000_000
    start_us = int((START - datetime(1970, 1, 1, tzinfo=UTC)).total_seconds()) * 1_000_000
    kinds, probs = zip(*config.kind_mix, strict=True)

    # 1. workspaces and agents; activity scaled so the expected total is config.sessions.
    plans: list[_Plan] = []
    for w in range(config.workspaces):
        kind = str(rng.choice(np.array(kinds), p=np.array(probs) / sum(probs)))
        lo, hi, rate, weekend, hours = KINDS[kind]
        n = round(math.exp(rng.uniform(math.log(lo), math.log(hi))))
        join = np.where(rng.random(n) < config.join_share, rng.uniform(0, config.days * 0.8, n), 0.0)
        leave = np.where(rng.random(n) < config.leave_share,
                         np.minimum(config.days, join + rng.uniform(7, config.days, n)), config.days)
        activity = rate * rng.lognormal(0.0, config.activity_sigma, n)
        days = np.arange(config.days)
        weekday = (START.weekday() + days) % 7
        day_factor = np.where(weekday >= 5, weekend, 1.0)
        alive = (days[None, :] + 1 > join[:, None]) & (days[None, :] < leave[:, None])
        expected = activity[:, None] * day_factor[None, :] * alive
        plans.append(_Plan(ws=f"sim-{kind}-{w:02d}", kind=kind, n=n, hours=hours,
                           tz=int(rng.integers(-8, 10)), expected=expected,
                           ability=rng.normal(0.0, config.ability_sd, n),
                           base=float(rng.normal(0.0, 0.5))))
    scale = config.sessions / sum(float(p.expected.sum()) for p in plans)

    cols: dict[str, list] = {k: [] for k in (
        "ws", "kind", "agent", "sid", "started", "duration", "legacy", "has_outcome",
        "success", "outcome_ts", "dup")}
    pairs: dict[str, list] = {k: [] for k in ("session", "name", "version", "held", "tau")}
    skill_records: list[tuple[bytes, bytes, int]] = []
    classes: dict[tuple[str, str, int], str] = {}
    infos: list[WorkspaceInfo] = []
    draws = _Draws(design)
    offset = 0

    for w, plan in enumerate(plans):
        ws, kind, n = plan.ws, plan.kind, plan.n
        infos.append(WorkspaceInfo(ws, kind, n))
        agents = [f"{ws}-agent-{a:03d}" for a in range(n)]
        counts = rng.poisson(plan.expected * scale)
        agent_of = np.repeat(np.repeat(np.arange(n), config.days), counts.ravel())
        day_of = np.repeat(np.tile(np.arange(config.days), n), counts.ravel())
        m = agent_of.size
        if m == 0:
            continue
        h0, h1 = plan.hours
        hour = rng.uniform(h0, h1, m) - plan.tz
        started = start_us + day_of * DAY_US + (hour * 3_600_000_000).astype(np.int64)
        order = np.argsort(started, kind="stable")
        agent_of, day_of, started = agent_of[order], day_of[order], started[order]
        period = started // period_us
        t_days = (started - start_us) / DAY_US

        # Base rate: the workspace's drift and weekly cycle, the agent, the agent-day.
        walk = np.cumsum(rng.normal(0.0, config.drift_sd, config.days + 1))
        drift = walk[np.clip(day_of, 0, config.days)] + config.weekly_amplitude * np.sin(
            2 * np.pi * t_days / 7)
        shock = rng.normal(0.0, config.day_shock_sd, (n, config.days + 1))
        eta = plan.base + drift + plan.ability[agent_of] + shock[agent_of, day_of]

        # 2. skills and their versions (windows), staggered.
        k_skills = int(np.clip(rng.integers(config.skills[0], config.skills[0] + 3)
                               + int(math.log2(max(n, 1))), config.skills[0], config.skills[1]))
        ws_effect = rng.lognormal(0.0, config.workspace_effect_sd)
        windows = []  # (name, version, start_us, end_us, effect per agent)
        for k in range(k_skills):
            name = f"{kind}-skill-{w:02d}-{k:02d}"
            pub = rng.uniform(0, config.days - 3)
            cuts = [pub]
            if rng.random() < config.new_version_share and pub + 7 < config.days - 1:
                cuts.append(rng.uniform(pub + 7, config.days - 1))
            for v, t0 in enumerate(cuts, start=1):
                t1 = cuts[v] if v < len(cuts) else None
                klass = str(rng.choice([HELPFUL, NULL, HARMFUL], p=config.class_mix))
                size = rng.uniform(*config.effect_logit) * ws_effect
                sign = {HELPFUL: 1.0, NULL: 0.0, HARMFUL: -1.0}[klass]
                per_agent = sign * size * rng.lognormal(0.0, config.agent_effect_sd, n)
                s_us = start_us + int(t0 * DAY_US)
                e_us = start_us + int(t1 * DAY_US) if t1 is not None else None
                windows.append((name, v, s_us, e_us, per_agent))
                classes[(ws, name, v)] = klass
                skill_records.append(_skill_record(ws, name, v, kind, s_us))

        # 3. assignment per (window, session): on disk = the draw of the period of the
        # agent's last sync (stale agents: their previous session's period on a period's
        # first session), recorded unless the agent runs a legacy client.
        stale = rng.random(n) < config.stale_agent_share
        legacy = (rng.random(n) < config.legacy_agent_share) & ~stale
        prev_same_agent = _previous_index(agent_of)
        sync_period = period.copy()
        first_of_period = (prev_same_agent >= 0) & (period[np.maximum(prev_same_agent, 0)] != period)
        use_prev = stale[agent_of] & first_of_period
        sync_period[use_prev] = period[prev_same_agent[use_prev]]

        contribution = np.zeros(m)
        ws_pairs = []
        for name, v, s_us, e_us, per_agent in windows:
            lo = int(np.searchsorted(started, s_us, "left"))
            hi = int(np.searchsorted(started, e_us, "left")) if e_us is not None else m
            if hi <= lo:
                continue
            idx = np.arange(lo, hi)
            a_idx = agent_of[idx]
            held = draws.held(name, agents, a_idx, sync_period[idx])
            age = (started[idx] - s_us) / DAY_US
            delta = per_agent[a_idx] * (1.0 + config.novelty * np.exp(-age / config.novelty_days))
            carry = np.zeros(idx.size)
            if config.carryover > 0 and held.any():
                pub_period = s_us // period_us
                h = np.nonzero(held)[0]
                weight = np.zeros(h.size)
                found = np.zeros(h.size, bool)
                for back in (1, 2, 3):
                    p_back = sync_period[idx[h]] - back
                    ok = (p_back >= pub_period) & ~found
                    if not ok.any():
                        continue
                    present_then = np.zeros(h.size, bool)
                    present_then[ok] = ~draws.held(name, agents, a_idx[h][ok], p_back[ok])
                    weight[present_then] = config.carryover * 0.5 ** (back - 1)
                    found |= present_then
                carry[h] = weight * delta[h]
            c = np.where(held, carry, delta)
            contribution[idx] += c
            ws_pairs.append((name, v, idx, held, delta, c))

        eta_all = eta + contribution
        success = rng.random(m) < _expit(eta_all)

        # 4. outcomes: missing by workspace and agent, some late, a few delivered twice.
        miss_ws = rng.uniform(*config.missing)
        agent_shift = rng.normal(0.0, config.agent_missing_sd, n)
        p_miss = _expit(np.log(miss_ws / (1 - miss_ws)) + agent_shift[agent_of])
        has_outcome = rng.random(m) >= p_miss
        duration = (rng.uniform(10, 120, m) * 60_000_000).astype(np.int64)
        late = rng.random(m) < config.late_share
        delay = np.where(late, rng.uniform(*config.late_days, m) * DAY_US,
                         rng.uniform(1, 120, m) * 60_000_000).astype(np.int64)

        for name, v, idx, held, delta, c in ws_pairs:
            pairs["session"].append(idx + offset)
            pairs["name"] += [name] * idx.size
            pairs["version"].append(np.full(idx.size, v, np.int64))
            pairs["held"].append(held)
            pairs["tau"].append(_expit(eta_all[idx] - c + delta) - _expit(eta_all[idx] - c))
        cols["ws"] += [ws] * m
        cols["kind"] += [kind] * m
        cols["agent"] += [agents[a] for a in agent_of.tolist()]
        cols["sid"] += [f"{ws}-s{i:06d}" for i in range(m)]
        cols["started"].append(started)
        cols["duration"].append(duration)
        cols["legacy"].append(legacy[agent_of])
        cols["has_outcome"].append(has_outcome)
        cols["success"].append(success)
        cols["outcome_ts"].append(started + duration + delay)
        cols["dup"].append(rng.random(m) < config.duplicate_share)
        offset += m

    world = _World(
        ws=cols["ws"], kind=cols["kind"], agent=cols["agent"], sid=cols["sid"],
        started=np.concatenate(cols["started"]), duration=np.concatenate(cols["duration"]),
        legacy=np.concatenate(cols["legacy"]), has_outcome=np.concatenate(cols["has_outcome"]),
        success=np.concatenate(cols["success"]), outcome_ts=np.concatenate(cols["outcome_ts"]),
        dup=np.concatenate(cols["dup"]),
        pair_session=np.concatenate(pairs["session"]), pair_name=pairs["name"],
        pair_version=np.concatenate(pairs["version"]), pair_held=np.concatenate(pairs["held"]),
        pair_tau=np.concatenate(pairs["tau"]))
    build = _contract_tables if builder == "contracts" else _arrow_tables
    sessions, outcomes, exposures = build(world)
    return SimulatedFleet(
        sessions=sessions, outcomes=outcomes, skills=_skills_table(skill_records),
        exposures=exposures,
        truth=pa.table({
            "workspace_id": pa.array(world.ws, pa.string()).take(pa.array(world.pair_session)),
            "skill_name": pa.array(world.pair_name, pa.string()),
            "version": pa.array(world.pair_version, pa.int64()),
            "session_id": pa.array(world.sid, pa.string()).take(pa.array(world.pair_session)),
            "started_at": _timestamps(world.started[world.pair_session]),
            "tau": pa.array(world.pair_tau, pa.float64()),
            "cohort": pa.array(np.where(world.pair_held, "held_out", "present"), pa.string()),
        }),
        classes=classes, workspaces=infos,
    )


class _World(Struct, frozen=True, kw_only=True):
    """Everything simulated, as columns (sessions, then (version, session) pairs)."""

    ws: list[str]
    kind: list[str]
    agent: list[str]
    sid: list[str]
    started: np.ndarray
    duration: np.ndarray
    legacy: np.ndarray
    has_outcome: np.ndarray
    success: np.ndarray
    outcome_ts: np.ndarray
    dup: np.ndarray
    pair_session: np.ndarray
    pair_name: list[str]
    pair_version: np.ndarray
    pair_held: np.ndarray
    pair_tau: np.ndarray


def _scope_of(world: _World) -> list[list[dict]]:
    scope: list[list[dict]] = [[] for _ in world.sid]
    for i, name, v, held in zip(world.pair_session.tolist(), world.pair_name,
                                world.pair_version.tolist(), world.pair_held.tolist(),
                                strict=True):
        scope[i].append({"name": name, "version": v, "cohort": "held_out" if held else "present"})
    return scope


def _contract_tables(world: _World) -> tuple[pa.Table, pa.Table, pa.Table]:
    """Sessions, outcomes and exposures through the contracts and the sink's row builders
    (slow: about 100 microseconds per session)."""
    sessions: list[Session] = []
    starts: list[TurnEvent] = []
    outcomes: list[TurnEvent] = []
    scope = _scope_of(world)
    for i, sid in enumerate(world.sid):
        ws, kind, agent = world.ws[i], world.kind[i], world.agent[i]
        agent_kind = AgentKind(kind)
        t = _dt(int(world.started[i]))
        end = t + timedelta(microseconds=int(world.duration[i]))
        sessions.append(Session(
            session_uid=session_uid(ws, sid, 0), workspace_id=ws, session_id=sid,
            agent_id=agent, agent_kind=agent_kind, project=f"{ws}-repo", started_at=t,
            ended_at=end, closed_at=end + timedelta(minutes=30),
            close_reason=CloseReason.SESSION_END, event_count=2, counts={}, tools_used=[]))
        if not world.legacy[i]:
            starts.append(TurnEvent(
                event_id=f"{sid}-start", workspace_id=ws, session_id=sid, agent_id=agent,
                agent_kind=agent_kind, project=f"{ws}-repo", seq=0, ts=t,
                kind=EventKind.SESSION_START, source="simulator",
                extra=msgspec.json.encode({SKILLS_IN_SCOPE: scope[i]}).decode()))
        if world.has_outcome[i]:
            good, bad = LABELS[kind]
            event = TurnEvent(
                event_id=f"{sid}-outcome", workspace_id=ws, session_id=sid,
                agent_id="outcome-system", agent_kind=agent_kind, project=f"{ws}-repo",
                seq=1_000_000, ts=_dt(int(world.outcome_ts[i])), kind=EventKind.OUTCOME,
                outcome=good if world.success[i] else bad, source="simulator")
            outcomes += [event, event] if world.dup[i] else [event]
    return _sessions_table(sessions), _turns_table("outcomes", outcomes), \
        _turns_table("exposures", starts)


def _timestamps(us: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(us, np.int64), pa.int64()).cast(pa.timestamp("us", tz="UTC"))


def _defaults(struct_type) -> dict:
    return {f.name: f.default for f in msgspec.structs.fields(struct_type)
            if f.default is not msgspec.NODEFAULT}


def _fill(schema: pa.Schema, columns: dict[str, pa.Array], defaults: dict, n: int) -> pa.Table:
    arrays = []
    for f in schema:
        if f.name in columns:
            arrays.append(columns[f.name].cast(f.type))
        elif f.name in defaults and not isinstance(defaults[f.name], list | dict):
            arrays.append(pa.array([defaults[f.name]] * n, f.type))
        else:
            arrays.append(pa.nulls(n, f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


def _arrow_tables(world: _World) -> tuple[pa.Table, pa.Table, pa.Table]:
    """The same tables as :func:`_contract_tables`, built column by column (fast); a unit
    test holds the two equal."""
    from hivemind_kafka.schemas.outcomes import Exposure, Outcome
    from hivemind_kafka.sinks.tables import EXPOSURES_SCHEMA, OUTCOMES_SCHEMA, SESSIONS_SCHEMA

    n = len(world.sid)
    ws, sid = pa.array(world.ws, pa.string()), pa.array(world.sid, pa.string())
    kind, agent = pa.array(world.kind, pa.string()), pa.array(world.agent, pa.string())
    started = _timestamps(world.started)
    ended = _timestamps(world.started + world.duration)
    closed = _timestamps(world.started + world.duration + 30 * 60_000_000)
    uid = pa.array([session_uid(w, s, 0) for w, s in zip(world.ws, world.sid, strict=True)],
                   pa.string())
    project = pc.binary_join_element_wise(ws, pa.scalar("-repo"), "")
    sessions = _fill(SESSIONS_SCHEMA, {
        "session_uid": uid, "workspace_id": ws, "session_id": sid, "agent_id": agent,
        "agent_kind": kind, "project": project, "started_at": started, "ended_at": ended,
        "closed_at": closed, "close_reason": pa.array([CloseReason.SESSION_END.value] * n),
        "event_count": pa.array(np.full(n, 2, np.int64)),
        "counts": pa.array([[]] * n, SESSIONS_SCHEMA.field("counts").type),
        "tools_used": pa.array([[]] * n, SESSIONS_SCHEMA.field("tools_used").type),
        "ended_date": ended.cast(pa.date32()),
    }, _defaults(Session), n)

    has = np.nonzero(world.has_outcome)[0]
    rows = np.repeat(has, np.where(world.dup[has], 2, 1))
    take = pa.array(rows)
    good = np.array([LABELS[k][0] for k in world.kind], object)
    bad = np.array([LABELS[k][1] for k in world.kind], object)
    label = np.where(world.success[rows], good[rows], bad[rows])
    o_ts = _timestamps(world.outcome_ts[rows])
    outcomes = _fill(OUTCOMES_SCHEMA, {
        "outcome_id": pc.binary_join_element_wise(sid.take(take), pa.scalar("outcome"), "-"),
        "workspace_id": ws.take(take), "session_id": sid.take(take),
        "agent_id": pa.array(["outcome-system"] * rows.size, pa.string()),
        "label": pa.array(label.tolist(), pa.string()),
        "result": pa.array(np.where(world.success[rows], "success", "failure").tolist(),
                           pa.string()),
        "source": pa.array(["signal"] * rows.size, pa.string()),
        "ts": o_ts, "ts_date": o_ts.cast(pa.date32()),
    }, _defaults(Outcome), rows.size)

    keep = ~world.legacy[world.pair_session]
    ps = world.pair_session[keep]
    # The row builder emits a session's entries in scope order: sessions, then windows.
    order = np.argsort(ps, kind="stable")
    ps = ps[order]
    names = pa.array(world.pair_name, pa.string()).filter(pa.array(keep)).take(pa.array(order))
    ptake = pa.array(ps)
    p_sid = sid.take(ptake)
    p_ts = started.take(ptake)
    exposures = _fill(EXPOSURES_SCHEMA, {
        "exposure_id": pc.binary_join_element_wise(p_sid, names, pa.scalar("scope"), "/"),
        "workspace_id": ws.take(ptake), "session_id": p_sid, "agent_id": agent.take(ptake),
        "skill_name": names, "skill_version": pa.array(world.pair_version[keep][order]),
        "cohort": pa.array(np.where(world.pair_held[keep][order], "held_out", "present")
                           .tolist(), pa.string()),
        "invoked": pa.array(np.zeros(ps.size, bool)), "ts": p_ts,
        "ts_date": p_ts.cast(pa.date32()),
    }, _defaults(Exposure), ps.size)
    return sessions, outcomes, exposures


def _dt(us: int) -> datetime:
    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)


def _previous_index(agent_of: np.ndarray) -> np.ndarray:
    """Index of the same agent's previous session (sessions sorted by start); -1 if none."""
    order = np.argsort(agent_of, kind="stable")
    prev = np.full(agent_of.size, -1, np.int64)
    same = agent_of[order][1:] == agent_of[order][:-1]
    prev[order[1:][same]] = order[:-1][same]
    return prev


def _skill_record(ws: str, name: str, version: int, kind: str, published_us: int
                  ) -> tuple[bytes, bytes, int]:
    skill = Skill(workspace_id=ws, name=name, description=f"{kind} practice {name}",
                  body=f"Do the {name} thing, version {version}.", version=version,
                  provenance=SkillProvenance(source_session_ids=["sim"], codifier="offline",
                                             decision=Decision.KEEP,
                                             created_at=_dt(published_us)))
    return skill_key(ws, name), encode_skill(skill), published_us // 1000


def _sessions_table(rows: list[Session]) -> pa.Table:
    from hivemind_kafka.sinks.tables import sessions_to_arrow

    return sessions_to_arrow(rows)


def _turns_table(name: str, events: list[TurnEvent]) -> pa.Table:
    """The sink's row builder for ``name`` over one turns record per event."""
    from hivemind_kafka.sinks.tables import SinkRecord, table_spec

    spec = table_spec(name)
    rows: list = []
    for i, event in enumerate(events):
        record = SinkRecord(topic="turns", partition=0, offset=i, key=event.workspace_id.encode(),
                            value=encode_batch([event]), timestamp_ms=0)
        rows.extend(spec.rows(record))
    return spec.to_arrow(rows)


def _skills_table(records: list[tuple[bytes, bytes, int]]) -> pa.Table:
    from hivemind_kafka.sinks.tables import SinkRecord, table_spec

    spec = table_spec("skills")
    rows: list = []
    for i, (key, value, ts_ms) in enumerate(records):
        rows.extend(spec.rows(SinkRecord(topic="skills", partition=0, offset=i, key=key,
                                         value=value, timestamp_ms=ts_ms)))
    return spec.to_arrow(rows)

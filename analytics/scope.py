"""Every (skill version, session) pair in scope, as numpy arrays: the frame the
attribution estimates from (analytics.attribution.estimate_effects).

Built once from the tables (:meth:`ScopeFrame.from_tables`), then estimated as of any
time: sessions carry their start, outcomes their arrival, pairs their cohort (recorded,
excluded or hashed, see analytics.attribution's module doc) and their randomized cell
(window, agent, period, cohort). Pure: pyarrow and numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from msgspec import Struct

from hivemind_kafka.schemas.holdout import HoldoutDesign, holdout_bucket
from hivemind_kafka.schemas.outcomes import (
    DEFAULT_OUTCOME_HORIZON_S,
    OutcomeResult,
    OutcomeSource,
    result_of,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = 1_000_000
NO_END = np.iinfo(np.int64).max
HELD, PRESENT, EXCLUDED = 0, 1, -1
SOURCE_HASH, SOURCE_RECORDED, SOURCE_MISMATCH = 0, 1, 2


class SkillWindow(Struct, frozen=True):
    workspace_id: str
    skill_name: str
    version: int
    published_at: datetime
    retired_at: datetime | None = None  # a tombstone, or the next version's publish time
    content_hash: str | None = None
    superseded: bool = False  # closed by a newer version (not by a retirement)

    @property
    def live(self) -> bool:
        return self.retired_at is None


def _column(table: pa.Table, *names: str) -> pa.Array | None:
    for name in names:
        if name in table.column_names:
            col = table.column(name)
            return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return None


def as_utc(ts: datetime) -> datetime:
    """Delta hands back aware UTC timestamps; a naive one (another writer) is read as UTC."""
    return ts if ts.tzinfo is not None else ts.replace(tzinfo=UTC)


def micros(ts: datetime) -> int:
    """Microseconds since the Unix epoch of an aware (or naive = UTC) datetime."""
    delta = as_utc(ts) - EPOCH
    return (delta.days * 86_400 + delta.seconds) * US + delta.microseconds


def from_micros(us: int) -> datetime:
    return EPOCH + timedelta(microseconds=int(us))


def _micros_array(arr: pa.Array, fill: int) -> np.ndarray:
    if pa.types.is_timestamp(arr.type):
        arr = arr.cast(pa.timestamp("us", tz=arr.type.tz))
    return np.asarray(pc.fill_null(arr.cast(pa.int64()), fill).to_numpy(zero_copy_only=False),
                      dtype=np.int64)


def _keys(ws: pa.Array, other: pa.Array) -> pa.Array:
    return pc.binary_join_element_wise(ws.cast(pa.string()), other.cast(pa.string()), "\x00")


class ScopeFrame:
    """Every (skill window, session) pair in scope with its cohort, cluster and result
    inputs, as numpy arrays: built once from the tables, then estimated as of any time
    (:func:`estimate_effects`). Build with :meth:`from_tables`."""

    def __init__(self) -> None:
        self.design = HoldoutDesign()
        self.windows: list[SkillWindow] = []
        self.workspaces: list[str] = []
        self.session_keys: pa.Array = pa.array([], pa.string())
        self.session_ws = np.zeros(0, np.int64)
        self.session_agent = np.zeros(0, np.int64)
        self.agent_ids: list[str] = []
        self.session_started = np.zeros(0, np.int64)
        self.session_ended = np.zeros(0, np.int64)  # last end over generations; NO_END: unknown
        self.horizon_us = int(DEFAULT_OUTCOME_HORIZON_S * US)
        self.outcomes_beyond_horizon = 0
        self.session_fallback = np.zeros(0, np.int8)  # result from the sessions table
        self.outcome_session = np.zeros(0, np.int64)  # sorted by (session, rank, ts)
        self.outcome_ts = np.zeros(0, np.int64)
        self.outcome_rank = np.zeros(0, np.int8)
        self.outcome_success = np.zeros(0, np.int8)
        self.window_ws = np.zeros(0, np.int64)
        self.window_start = np.zeros(0, np.int64)
        self.window_end = np.zeros(0, np.int64)
        self.window_share = np.zeros(0, float)
        self.shares: dict[str, float] = {}
        self.pair_window = np.zeros(0, np.int64)
        self.pair_session = np.zeros(0, np.int64)
        self.pair_arm = np.zeros(0, np.int8)
        self.pair_source = np.zeros(0, np.int8)
        self.pair_invoked = np.zeros(0, bool)
        self.pair_started = np.zeros(0, np.int64)
        self.pair_cell = np.zeros(0, np.int64)  # (window, agent, period, arm)
        self.cell_window = np.zeros(0, np.int64)
        self.cell_agent = np.zeros(0, np.int64)
        self.cell_arm = np.zeros(0, np.int64)
        self.cell_period = np.zeros(0, np.int64)
        self.pair_inv_cell = np.zeros(0, np.int64)  # (window, agent, period, invoked); -1 held
        self.inv_cell_window = np.zeros(0, np.int64)
        self.inv_cell_agent = np.zeros(0, np.int64)
        self.inv_cell_arm = np.zeros(0, np.int64)

    @property
    def sessions(self) -> int:
        return int(self.session_ws.size)

    # -- building -------------------------------------------------------------------

    @classmethod
    def from_tables(cls, sessions: pa.Table | None, outcomes: pa.Table | None,
                    windows: list[SkillWindow], exposures: pa.Table | None = None, *,
                    design: HoldoutDesign | None = None,
                    shares: Mapping[str, float] | None = None,
                    check_assignment: bool = True,
                    horizon_s: float = DEFAULT_OUTCOME_HORIZON_S) -> ScopeFrame:
        """``design``: the switchback period and default share; ``shares``: workspaces
        whose share differs (``HIVEMIND_MEASURE_HOLDOUT_SHARES``). ``check_assignment``
        False skips hashing recorded pairs to count mismatches. Outcomes later than
        ``horizon_s`` after their session's last end (``ended_at``, when the sessions
        carry it) are left out (schemas.outcomes.is_within_horizon) and counted in
        ``outcomes_beyond_horizon``."""
        f = cls()
        f.horizon_us = int(horizon_s * US)
        f.design = design or HoldoutDesign()
        f.shares = dict(shares or {})
        f.windows = list(windows)
        if sessions is None or sessions.num_rows == 0:
            f._index_windows()
            f._empty_pairs()
            return f
        f._read_sessions(sessions)
        f._read_outcomes(outcomes)
        f._index_windows()
        f._build_pairs(exposures, check_assignment)
        return f

    def _read_sessions(self, sessions: pa.Table) -> None:
        ws = _column(sessions, "workspace_id")
        sid = _column(sessions, "session_id")
        agent = _column(sessions, "agent_id")
        started = _column(sessions, "started_at")
        assert ws is not None and sid is not None and agent is not None and started is not None
        keys = _keys(ws, sid)
        uniq = pc.unique(keys)
        idx = np.asarray(pc.index_in(keys, value_set=uniq).to_numpy(zero_copy_only=False),
                         dtype=np.int64)
        start_us = _micros_array(started, 0)
        order = np.lexsort((start_us, idx))  # earliest start first per session
        first = order[np.r_[True, idx[order][1:] != idx[order][:-1]]]
        first = first[np.argsort(idx[first])]  # row of each unique session, by index
        self.session_keys = uniq
        ws_first = ws.take(pa.array(first))
        self.workspaces = pc.unique(ws_first).to_pylist()
        self.session_ws = np.asarray(
            pc.index_in(ws_first, value_set=pa.array(self.workspaces, pa.string()))
            .to_numpy(zero_copy_only=False), dtype=np.int64)
        agent_keys = _keys(ws_first, agent.take(pa.array(first)))
        agents = pc.unique(agent_keys)
        self.session_agent = np.asarray(
            pc.index_in(agent_keys, value_set=agents).to_numpy(zero_copy_only=False),
            dtype=np.int64)
        self.agent_ids = [k.split("\x00", 1)[1] for k in agents.to_pylist()]
        self.session_started = start_us[first]
        ended = _column(sessions, "ended_at")
        self.session_ended = np.full(first.size, NO_END, np.int64)
        if ended is not None:
            end_us = _micros_array(ended, np.iinfo(np.int64).min)
            last = np.full(first.size, np.iinfo(np.int64).min, np.int64)
            np.maximum.at(last, idx, end_us)
            known = last > np.iinfo(np.int64).min
            self.session_ended[known] = last[known]
        fallback = np.full(first.size, -1, np.int8)
        labels = _column(sessions, "outcome")
        if labels is not None:
            # A label the sessionizer saw in the session itself, any generation.
            lab = labels.to_pylist()
            for row in np.nonzero(pc.is_valid(labels).to_numpy(zero_copy_only=False))[0]:
                res = result_of(lab[row])
                if res != OutcomeResult.UNKNOWN:
                    fallback[idx[row]] = 1 if res == OutcomeResult.SUCCESS else 0
        self.session_fallback = fallback

    def _read_outcomes(self, outcomes: pa.Table | None) -> None:
        if outcomes is None or outcomes.num_rows == 0:
            return
        ws = _column(outcomes, "workspace_id")
        sid = _column(outcomes, "session_id")
        assert ws is not None and sid is not None
        n = outcomes.num_rows
        ids = _column(outcomes, "outcome_id")
        keep = np.ones(n, bool)
        if ids is not None:
            # First row of each outcome_id (a redelivered outcome counts once).
            codes = np.asarray(pc.index_in(ids, value_set=pc.unique(ids))
                               .to_numpy(zero_copy_only=False), dtype=np.float64)
            valid = pc.is_valid(ids).to_numpy(zero_copy_only=False)
            _, first = np.unique(np.where(valid, codes, -1 - np.arange(n)), return_index=True)
            keep[:] = False
            keep[first] = True
        results = _column(outcomes, "result")
        labels = _column(outcomes, "label", "outcome")
        res = np.full(n, -1, np.int8)
        if results is not None:
            r = results.cast(pa.string())
            res[pc.equal(r, "success").fill_null(False).to_numpy(zero_copy_only=False)] = 1
            res[pc.equal(r, "failure").fill_null(False).to_numpy(zero_copy_only=False)] = 0
            missing = ~pc.is_valid(r).to_numpy(zero_copy_only=False)
        else:
            missing = np.ones(n, bool)
        if labels is not None and missing.any():
            lab = labels.to_pylist()
            for row in np.nonzero(missing)[0]:
                got = result_of(lab[row])
                if got != OutcomeResult.UNKNOWN:
                    res[row] = 1 if got == OutcomeResult.SUCCESS else 0
        source = _column(outcomes, "source")
        rank = (pc.equal(source.cast(pa.string()), OutcomeSource.SIGNAL.value).fill_null(True)
                .to_numpy(zero_copy_only=False).astype(np.int8)
                if source is not None else np.ones(n, np.int8))
        ts_col = _column(outcomes, "ts")
        ts = _micros_array(ts_col, np.iinfo(np.int64).min) if ts_col is not None \
            else np.full(n, np.iinfo(np.int64).min, np.int64)
        session = np.asarray(pc.index_in(_keys(ws, sid), value_set=self.session_keys)
                             .fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        use = keep & (res >= 0) & (session >= 0)
        # The horizon (is_within_horizon): equal is within; an unknown end keeps it.
        end = self.session_ended[np.where(session >= 0, session, 0)]
        beyond = use & (end != NO_END) & (ts != np.iinfo(np.int64).min) & \
            (ts - end > self.horizon_us)
        self.outcomes_beyond_horizon = int(beyond.sum())
        use &= ~beyond
        session, rank, ts, res = session[use], rank[use], ts[use], res[use]
        order = np.lexsort((ts, rank, session))
        self.outcome_session = session[order]
        self.outcome_rank = rank[order]
        self.outcome_ts = ts[order]
        self.outcome_success = res[order]

    def _index_windows(self) -> None:
        ws_code = {w: i for i, w in enumerate(self.workspaces)}
        self.window_ws = np.array([ws_code.get(w.workspace_id, -1) for w in self.windows],
                                  dtype=np.int64)
        self.window_start = np.array([micros(w.published_at) for w in self.windows], np.int64)
        self.window_end = np.array([micros(w.retired_at) if w.retired_at else NO_END
                                    for w in self.windows], np.int64)
        self.window_share = np.array([self.share_of(w.workspace_id) for w in self.windows],
                                     dtype=float)

    def share_of(self, workspace_id: str) -> float:
        return self.shares.get(workspace_id, self.design.share)

    def _empty_pairs(self) -> None:
        pass  # the zero-length arrays of __init__

    def _build_pairs(self, exposures: pa.Table | None, check_assignment: bool) -> None:
        # 1. sessions of each window: its workspace's sessions started inside it.
        order = np.lexsort((self.session_started, self.session_ws))
        ws_sorted = self.session_ws[order]
        st_sorted = self.session_started[order]
        chunks_w, chunks_s = [], []
        for w in range(len(self.windows)):
            code = self.window_ws[w]
            if code < 0:
                continue
            lo_ws = np.searchsorted(ws_sorted, code, "left")
            hi_ws = np.searchsorted(ws_sorted, code, "right")
            lo = lo_ws + np.searchsorted(st_sorted[lo_ws:hi_ws], self.window_start[w], "left")
            hi = lo_ws + np.searchsorted(st_sorted[lo_ws:hi_ws], self.window_end[w], "left")
            if hi > lo:
                chunks_s.append(order[lo:hi])
                chunks_w.append(np.full(hi - lo, w, np.int64))
        if not chunks_s:
            return
        self.pair_window = np.concatenate(chunks_w)
        self.pair_session = np.concatenate(chunks_s)
        self.pair_started = self.session_started[self.pair_session]
        n_pairs = self.pair_window.size
        names = sorted({w.skill_name for w in self.windows})
        name_code = {name: i for i, name in enumerate(names)}
        window_name = np.array([name_code[w.skill_name] for w in self.windows], np.int64)
        window_version = np.array([w.version for w in self.windows], np.int64)
        pair_name = window_name[self.pair_window]
        period = self.pair_started // (self.design.period_s * US)

        # 2. recorded cohorts (assignment rows) and invocations from the exposures.
        arm = np.full(n_pairs, EXCLUDED, np.int8)
        source = np.full(n_pairs, SOURCE_HASH, np.int8)
        invoked = np.zeros(n_pairs, bool)
        has_scope = np.zeros(self.sessions, bool)
        pair_key = self.pair_session * len(names) + pair_name
        if exposures is not None and exposures.num_rows:
            ex = self._exposure_arrays(exposures, name_code, len(names))
            if ex is not None:
                key, cohort, version, inv, session = ex
                assigned = cohort >= 0
                has_scope[session[assigned]] = True
                a_key, a_first = np.unique(key[assigned], return_index=True)
                a_cohort = cohort[assigned][a_first]
                a_version = version[assigned][a_first]
                found = np.zeros(n_pairs, bool)
                rec_cohort = np.full(n_pairs, -1, np.int8)
                rec_version = np.full(n_pairs, -1, np.int64)
                if a_key.size:
                    pos = np.minimum(np.searchsorted(a_key, pair_key), a_key.size - 1)
                    found = a_key[pos] == pair_key
                    rec_cohort = np.where(found, a_cohort[pos], -1).astype(np.int8)
                    rec_version = np.where(found, a_version[pos], -1)
                other_version = (rec_cohort == PRESENT) & (rec_version >= 0) & \
                    (rec_version != window_version[self.pair_window])
                arm = np.where(found & ~other_version, rec_cohort, EXCLUDED).astype(np.int8)
                source[found] = SOURCE_RECORDED
                inv_keys = np.unique(key[inv])
                if inv_keys.size:
                    p = np.minimum(np.searchsorted(inv_keys, pair_key), inv_keys.size - 1)
                    invoked = inv_keys[p] == pair_key

        # 3. sessions with no recorded scope at all: the hash of (skill, agent, period).
        fallback = ~has_scope[self.pair_session]
        check = (source == SOURCE_RECORDED) & (arm != EXCLUDED) if check_assignment else \
            np.zeros(n_pairs, bool)
        need = fallback | check
        if need.any():
            held = self._hash_bucket(
                pair_name[need], self.session_agent[self.pair_session[need]], period[need],
                names) < self.window_share[self.pair_window[need]]
            by_hash = np.where(held, HELD, PRESENT).astype(np.int8)
            sub_arm = arm[need]
            sub_fb = fallback[need]
            sub_arm = np.where(sub_fb, by_hash, sub_arm)
            mismatch = ~sub_fb & (sub_arm != by_hash) & (sub_arm != EXCLUDED)
            src = source[need]
            src[mismatch] = SOURCE_MISMATCH
            source[need] = src
            arm[need] = sub_arm
        self.pair_arm = arm
        self.pair_source = source
        self.pair_invoked = invoked & (arm == PRESENT)

        # 4. cells: (window, agent, period, arm) and the invoked comparison's cells.
        agent = self.session_agent[self.pair_session]
        p0 = int(period.min())
        span = int(period.max()) - p0 + 1
        n_agents = int(self.session_agent.max()) + 1
        base = ((self.pair_window * n_agents + agent) * span + (period - p0)) * 2
        (self.pair_cell, self.cell_window, self.cell_agent, self.cell_arm,
         self.cell_period) = _cells(np.where(arm >= 0, base + np.maximum(arm, 0), -1),
                                    n_agents, span)
        inv_base = np.where(arm == PRESENT, base + self.pair_invoked, -1)
        (self.pair_inv_cell, self.inv_cell_window, self.inv_cell_agent,
         self.inv_cell_arm, _) = _cells(inv_base, n_agents, span)

    def _exposure_arrays(self, exposures: pa.Table, name_code: dict[str, int], n_names: int):
        ws, sid = _column(exposures, "workspace_id"), _column(exposures, "session_id")
        names = _column(exposures, "skill_name")
        if ws is None or sid is None or names is None:
            return None
        session = np.asarray(pc.index_in(_keys(ws, sid), value_set=self.session_keys)
                             .fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        name = np.asarray(pc.index_in(names.cast(pa.string()),
                                      value_set=pa.array(list(name_code), pa.string()))
                          .fill_null(-1).to_numpy(zero_copy_only=False), dtype=np.int64)
        n = exposures.num_rows
        cohort = np.full(n, -1, np.int8)
        col = _column(exposures, "cohort")
        if col is not None:
            c = col.cast(pa.string())
            cohort[pc.equal(c, "present").fill_null(False).to_numpy(zero_copy_only=False)] = PRESENT
            cohort[pc.equal(c, "held_out").fill_null(False).to_numpy(zero_copy_only=False)] = HELD
        vcol = _column(exposures, "skill_version")
        version = (np.asarray(pc.fill_null(vcol.cast(pa.int64()), -1)
                              .to_numpy(zero_copy_only=False), dtype=np.int64)
                   if vcol is not None else np.full(n, -1, np.int64))
        icol = _column(exposures, "invoked")
        inv = (np.asarray(pc.fill_null(icol, False).to_numpy(zero_copy_only=False), dtype=bool)
               if icol is not None else np.zeros(n, bool))
        ok = session >= 0
        # Assignment rows of skills that have no window still mark the session as scoped.
        has_name = name >= 0
        key = session * n_names + np.maximum(name, 0)
        scoped_only = ok & ~has_name & (cohort >= 0)
        sel = ok & has_name
        if scoped_only.any():
            # Keep their session in has_scope via a sentinel key that matches no pair.
            extra_session = session[scoped_only]
            key = np.concatenate([key[sel], np.full(extra_session.size, -1, np.int64)])
            cohort = np.concatenate([cohort[sel], np.full(extra_session.size, HELD, np.int8)])
            version = np.concatenate([version[sel], np.full(extra_session.size, -1, np.int64)])
            inv = np.concatenate([inv[sel], np.zeros(extra_session.size, bool)])
            session = np.concatenate([session[sel], extra_session])
            return key, cohort, version, inv, session
        return key[sel], cohort[sel], version[sel], inv[sel], session[sel]

    def _hash_bucket(self, name: np.ndarray, agent: np.ndarray, period: np.ndarray,
                     names: list[str]) -> np.ndarray:
        """hivemind_kafka.schemas.holdout's draw of every (skill, agent, period), each hashed once."""
        agent_ids = self.agent_ids
        span = int(period.max()) - int(period.min()) + 1
        p0 = int(period.min())
        key = (name * (int(agent.max()) + 1) + agent) * span + (period - p0)
        uniq, inverse = np.unique(key, return_inverse=True)
        draws = np.empty(uniq.size, float)
        n_agents = int(agent.max()) + 1
        for i, k in enumerate(uniq.tolist()):
            per = k % span + p0
            rest = k // span
            draws[i] = holdout_bucket(names[rest // n_agents], agent_ids[rest % n_agents], per)
        return draws[inverse]

    # -- results as of a time ---------------------------------------------------------

    def results_as_of(self, as_of_us: int | None = None) -> np.ndarray:
        """Per session: 1 success, 0 failure, -1 unknown, from outcomes that had arrived
        (``ts`` <= ``as_of_us``); the latest signal outranks any detected outcome."""
        out = self.session_fallback.astype(np.int8).copy()
        if self.outcome_session.size == 0:
            return out
        if as_of_us is None:
            sess, succ = self.outcome_session, self.outcome_success
        else:
            m = self.outcome_ts <= as_of_us
            sess, succ = self.outcome_session[m], self.outcome_success[m]
        if sess.size:
            last = np.r_[sess[1:] != sess[:-1], True]
            out[sess[last]] = succ[last]
        return out


def _cells(key: np.ndarray, n_agents: int, span: int) -> tuple[np.ndarray, ...]:
    """Compact cell index per pair (-1 where ``key`` < 0) and each cell's window, agent,
    arm and period (relative), from keys
    ``((window * n_agents + agent) * span + period) * 2 + arm``; cells come sorted by
    (window, agent, period, arm)."""
    valid = key >= 0
    uniq, inverse = np.unique(key[valid], return_inverse=True)
    cell = np.full(key.size, -1, np.int64)
    cell[valid] = inverse
    arm = uniq % 2
    period = (uniq // 2) % span
    rest = uniq // 2 // span
    return cell, rest // n_agents, rest % n_agents, arm, period


def switch_counts(window: np.ndarray, agent: np.ndarray, period: np.ndarray, arm: np.ndarray,
                  sessions: np.ndarray, n_windows: int, share: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Does the assignment switch as designed? Per window: consecutive active periods of
    one agent (``transitions``), how many kept the same cohort (``same``), and the share
    expected to (``q^2 + (1 - q)^2`` when every period is drawn independently). A design
    that is really per agent (an old client, a misconfigured period) keeps nearly all.
    Inputs are cells sorted by (window, agent, period, arm); a period's cohort is the one
    with more sessions (a stale first session of a period is the minority)."""
    live = sessions > 0
    w, a, p, c, n = window[live], agent[live], period[live], arm[live], sessions[live]
    if w.size == 0:
        zero = np.zeros(n_windows)
        return zero, zero, share ** 2 + (1 - share) ** 2
    # One cohort per (window, agent, period): cells of one period are adjacent.
    same_period = (w[1:] == w[:-1]) & (a[1:] == a[:-1]) & (p[1:] == p[:-1])
    drop = np.zeros(w.size, bool)
    # Of two adjacent cells of one period (held_out, present), drop the smaller.
    pair = np.nonzero(same_period)[0]
    drop[pair] = n[pair] <= n[pair + 1]  # the held_out cell when not larger... ties: present
    drop[pair + 1] = ~drop[pair]
    w, a, c = w[~drop], a[~drop], c[~drop]
    consecutive = (w[1:] == w[:-1]) & (a[1:] == a[:-1])
    kept = consecutive & (c[1:] == c[:-1])
    transitions = np.bincount(w[1:][consecutive], minlength=n_windows)[:n_windows].astype(float)
    same = np.bincount(w[1:][kept], minlength=n_windows)[:n_windows].astype(float)
    return transitions, same, share ** 2 + (1 - share) ** 2

"""Score the attribution on the hostile fleet simulator, look by look, as deployed.

``evaluate(config)``:

1. simulates the fleet (analytics.simulator: its tables come out of the sink's row
   builders' schemas) and, with ``lake``, writes them to a Delta lake partitioned as the
   sink does and reads them back with analytics.lake, the reader ``hivemind report``
   uses;
2. replays the measure job: at every look (``look_every_s``; the Kubernetes job runs
   every 600 s) it computes every skill version's effect with the report's own code
   (analytics.attribution.estimate_effects) on the sessions started and the outcomes
   *arrived* by then, and applies ``hivemind report --retire``'s rule
   (analytics.retirement.retirement_decisions); a retired version's window closes at that
   look, as its tombstone would close it;
3. at the end, checks that ``build_report`` over the lake plus the tombstones gives the
   same verdicts, and scores everything against the truth:

* ``helpful_found`` — helpful versions whose final verdict is ``effective``;
* ``harmful_retired`` / ``non_harmful_retired`` — versions retired at any look;
* ``wrong_retirement_share`` — retirements that hit a helpful or null version;
* ``coverage`` — final intervals holding the version's true effect (mean ``tau`` of its
  randomized sessions), overall and per bucket of held-out agent-periods; intervals are
  counted where an estimate exists (>= 2 agent-periods per cohort);
* per fleet size: the same rates by the workspace's number of agents.

``python -m hivemind_kafka.analytics.eval`` (and ``make eval``) prints the issue's table at 20k, 100k
and 500k sessions with daily looks, hourly looks at 100k, and the carry-over sweep.
"""

from __future__ import annotations

import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import msgspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from hivemind_kafka.analytics.attribution import (
    NO_END,
    ScopeFrame,
    SkillEffect,
    Verdict,
    estimate_effects,
    micros,
    skill_windows,
)
from hivemind_kafka.analytics.lake import MeasureTables
from hivemind_kafka.analytics.retirement import retirement_decisions
from hivemind_kafka.analytics.simulator import (
    HARMFUL,
    HELPFUL,
    NULL,
    START,
    FleetConfig,
    SimulatedFleet,
    simulate,
)

BUCKETS = ((0, 1), (2, 9), (10, 49), (50, None))
SIZE_BUCKETS = ((1, 9), (10, 49), (50, None))
SCALES = (20_000, 100_000, 500_000)


def _bucket_name(bounds: tuple[int, int | None]) -> str:
    lo, hi = bounds
    return f"{lo}+" if hi is None else f"{lo}-{hi}"


def _rate(hits: float, total: float) -> float:
    return hits / total if total else float("nan")


def write_lake(fleet: SimulatedFleet, root: Path) -> None:
    """The four tables as Delta tables under ``root``, partitioned as the sink writes them."""
    from deltalake import write_deltalake

    from hivemind_kafka.sinks.tables import table_spec

    for name, table in (("sessions", fleet.sessions), ("outcomes", fleet.outcomes),
                        ("skills", fleet.skills), ("exposures", fleet.exposures)):
        write_deltalake(str(root / name), table, partition_by=list(table_spec(name).partition_by))


def read_lake(root: Path) -> MeasureTables:
    from hivemind_kafka.analytics.lake import read_measure_tables
    from hivemind_kafka.runtime.settings import Settings

    return read_measure_tables(Settings().replace(lake={"uri": str(root)}))


def pair_truth(frame: ScopeFrame, truth: pa.Table) -> np.ndarray:
    """The simulator's ``tau`` of every pair of ``frame`` (nan where it has none)."""
    index = {(w.workspace_id, w.skill_name, w.version): i for i, w in enumerate(frame.windows)}
    win = np.array([index.get(k, -1) for k in zip(
        truth.column("workspace_id").to_pylist(), truth.column("skill_name").to_pylist(),
        truth.column("version").to_pylist(), strict=True)], np.int64)
    keys = pc.binary_join_element_wise(truth.column("workspace_id"), truth.column("session_id"),
                                       "\x00")
    sess = np.asarray(pc.index_in(keys, value_set=frame.session_keys).fill_null(-1)
                      .to_numpy(zero_copy_only=False), np.int64)
    ok = (win >= 0) & (sess >= 0)
    truth_key = win[ok] * max(frame.sessions, 1) + sess[ok]
    tau = truth.column("tau").to_numpy()[ok]
    order = np.argsort(truth_key)
    truth_key, tau = truth_key[order], tau[order]
    pair_key = frame.pair_window * max(frame.sessions, 1) + frame.pair_session
    out = np.full(pair_key.size, np.nan)
    if truth_key.size:
        pos = np.minimum(np.searchsorted(truth_key, pair_key), truth_key.size - 1)
        hit = truth_key[pos] == pair_key
        out[hit] = tau[pos[hit]]
    return out


class Replay(msgspec.Struct, frozen=True):
    effects: list[SkillEffect]  # at the final look
    retired_at: dict[int, int]  # window index -> look time (microseconds)
    looks: int
    truth: np.ndarray  # per window: mean tau of its randomized sessions until its end


def replay(frame: ScopeFrame, pair_tau: np.ndarray, *, days: int, look_every_s: int,
           stratify: bool = True) -> Replay:
    """The measure job's looks over the run; retirements close windows."""
    ends = np.full(len(frame.windows), NO_END, np.int64)
    retired: dict[int, int] = {}
    step = timedelta(seconds=look_every_s)
    horizon = START + timedelta(days=days)
    t = START + step
    looks = 0
    index = {(w.workspace_id, w.skill_name, w.version, w.published_at): i
             for i, w in enumerate(frame.windows)}
    while t <= horizon:
        looks += 1
        harmful = estimate_effects(frame, as_of=t, ends=ends, plan=False, secondary=False,
                                   stratify=stratify, only=Verdict.HARMFUL)
        # `hivemind report --retire`'s rule; a retirement closes the version's window.
        for d in retirement_decisions(harmful, decided_at=t):
            assert d.published_at is not None
            w = index[(d.workspace_id, d.skill_name, d.version, d.published_at)]
            ends[w] = micros(t)
            retired[w] = micros(t)
        t += step
    final = estimate_effects(frame, as_of=horizon, ends=ends, stratify=stratify)
    end = np.minimum(frame.window_end, ends)
    live = (frame.pair_arm >= 0) & (frame.pair_started < np.minimum(end[frame.pair_window],
                                                                    micros(horizon)))
    ok = live & np.isfinite(pair_tau)
    n = len(frame.windows)
    total = np.bincount(frame.pair_window[ok], weights=pair_tau[ok], minlength=n)[:n]
    count = np.bincount(frame.pair_window[ok], minlength=n)[:n]
    with np.errstate(invalid="ignore", divide="ignore"):
        truth = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    return Replay(effects=final, retired_at=retired, looks=looks, truth=truth)


def score(fleet: SimulatedFleet, frame: ScopeFrame, run: Replay) -> dict[str, float]:
    classes = [fleet.classes.get((w.workspace_id, w.skill_name, w.version), NULL)
               for w in frame.windows]
    size_of = {w.workspace_id: w.agents for w in fleet.workspaces}
    out: dict[str, float] = {}
    helpful = [i for i, c in enumerate(classes) if c == HELPFUL]
    harmful = [i for i, c in enumerate(classes) if c == HARMFUL]
    non_harmful = [i for i, c in enumerate(classes) if c != HARMFUL]
    effects = run.effects
    retired = set(run.retired_at)
    out["versions"] = float(len(classes))
    out["sessions"] = float(frame.sessions)
    out["looks"] = float(run.looks)
    out["helpful_found"] = _rate(sum(effects[i].verdict == Verdict.EFFECTIVE for i in helpful),
                                 len(helpful))
    out["harmful_retired"] = _rate(sum(i in retired for i in harmful), len(harmful))
    out["non_harmful_retired"] = _rate(sum(i in retired for i in non_harmful), len(non_harmful))
    out["null_retired"] = _rate(sum(i in retired for i in non_harmful if classes[i] == NULL),
                                sum(c == NULL for c in classes))
    out["wrong_retirement_share"] = _rate(sum(i in retired for i in non_harmful), len(retired))

    # What the data could show at all: a single fixed-sample look at the end (two-sided
    # 5 %, 80 % power) needs the true effect at 2.8 standard errors of the final estimate.
    def resolvable(i: int) -> bool:
        se = effects[i].standard_error
        return bool(np.isfinite(se) and se > 0 and abs(run.truth[i]) >= 2.8 * se)

    out["helpful_resolvable"] = _rate(sum(resolvable(i) for i in helpful), len(helpful))
    out["harmful_resolvable"] = _rate(sum(resolvable(i) for i in harmful), len(harmful))
    out["effective_but_not_helpful"] = _rate(
        sum(e.verdict == Verdict.EFFECTIVE and classes[i] != HELPFUL
            for i, e in enumerate(effects)),
        sum(e.verdict == Verdict.EFFECTIVE for e in effects))
    out["insufficient_data"] = _rate(
        sum(e.verdict == Verdict.INSUFFICIENT_DATA for e in effects), len(effects))
    out["srm_flagged"] = _rate(sum(e.verdict == Verdict.SAMPLE_RATIO_MISMATCH for e in effects),
                               len(effects))
    shown = [i for i, e in enumerate(effects) if np.isfinite(e.effect.estimate)
             and np.isfinite(run.truth[i])]
    covered = {i: effects[i].effect.low <= run.truth[i] <= effects[i].effect.high for i in shown}
    out["coverage"] = _rate(sum(covered.values()), len(covered))
    for bounds in BUCKETS:
        lo, hi = bounds
        members = [i for i in shown if effects[i].held_out.clusters >= lo
                   and (hi is None or effects[i].held_out.clusters <= hi)]
        out[f"coverage_held_{_bucket_name(bounds)}"] = _rate(sum(covered[i] for i in members),
                                                           len(members))
        out[f"n_held_{_bucket_name(bounds)}"] = float(len(members))
    for bounds in SIZE_BUCKETS:
        lo, hi = bounds

        def in_size(i: int, lo=lo, hi=hi) -> bool:
            agents = size_of[frame.windows[i].workspace_id]
            return agents >= lo and (hi is None or agents <= hi)

        name = _bucket_name(bounds)
        h = [i for i in helpful if in_size(i)]
        b = [i for i in harmful if in_size(i)]
        nh = [i for i in non_harmful if in_size(i)]
        out[f"agents_{name}_helpful_found"] = _rate(
            sum(effects[i].verdict == Verdict.EFFECTIVE for i in h), len(h))
        out[f"agents_{name}_harmful_retired"] = _rate(sum(i in retired for i in b), len(b))
        out[f"agents_{name}_non_harmful_retired"] = _rate(sum(i in retired for i in nh), len(nh))
        out[f"agents_{name}_versions"] = float(len(b) + len(nh))
    days = [(run.retired_at[i] - micros(frame.windows[i].published_at)) / 86_400e6
            for i in harmful if i in retired]
    out["median_days_to_retire"] = float(np.median(days)) if days else float("nan")
    # How much of the true effect the estimates show: the precision-weighted slope of
    # estimate on truth over the versions with an effect (1: unbiased; carry-over < 1).
    real = [i for i in shown if run.truth[i] != 0 and effects[i].standard_error > 0]
    weight = np.array([effects[i].standard_error ** -2 for i in real])
    est = np.array([effects[i].effect.estimate for i in real])
    truth = np.array([run.truth[i] for i in real])
    out["estimate_over_truth"] = (float((weight * est * truth).sum() / (weight * truth ** 2).sum())
                                  if real else float("nan"))
    return out


def lake_agrees(tables: MeasureTables, frame: ScopeFrame, run: Replay, days: int) -> float:
    """Share of versions whose verdict from ``build_report`` (the report's own path over
    the tables read back from the lake, with the retirements' tombstones appended to the
    skills table as the sink would append them) equals the replay's."""
    from hivemind_kafka.analytics.report import build_report

    skills = tables.skills
    assert skills is not None
    if run.retired_at:
        rows = [(frame.windows[w], at) for w, at in sorted(run.retired_at.items())]
        n = len(rows)
        ts = pa.array([at for _, at in rows], pa.int64()).cast(pa.timestamp("us", tz="UTC"))
        given = {"workspace_id": pa.array([w.workspace_id for w, _ in rows], pa.string()),
                 "name": pa.array([w.skill_name for w, _ in rows], pa.string()),
                 "retired": pa.array([True] * n), "published_at": ts}
        tomb = pa.table({f.name: given[f.name].cast(f.type) if f.name in given
                         else pa.nulls(n, f.type) for f in skills.schema}).cast(skills.schema)
        skills = pa.concat_tables([skills, tomb])
    report = build_report(MeasureTables(tables.sessions, tables.outcomes, skills,
                                        tables.exposures),
                          design=frame.design, now=START + timedelta(days=days),
                          as_of=START + timedelta(days=days))
    got = {(e.workspace_id, e.skill_name, e.version, e.published_at): e.verdict
           for e in report.effects}
    same = [got.get((e.workspace_id, e.skill_name, e.version, e.published_at)) == e.verdict
            for e in run.effects]
    return _rate(sum(same), len(same))


def evaluate(config: FleetConfig, *, look_every_s: int = 86_400, lake: Path | None = None,
             stratify: bool = True) -> dict[str, float]:
    """The figures for one fleet (see module doc). ``lake``: a directory to write the
    Delta tables into and read them back from; the replay runs on what was read back,
    and ``build_report`` over it must agree (``lake_report_agrees``)."""
    fleet = simulate(config)
    tables = MeasureTables(fleet.sessions, fleet.outcomes, fleet.skills, fleet.exposures)
    if lake is not None:
        write_lake(fleet, lake)
        tables = read_lake(lake)
    assert tables.sessions is not None and tables.skills is not None
    frame = ScopeFrame.from_tables(tables.sessions, tables.outcomes,
                                   skill_windows(tables.skills), tables.exposures,
                                   design=config.design)
    run = replay(frame, pair_truth(frame, fleet.truth), days=config.days,
                 look_every_s=look_every_s, stratify=stratify)
    out = score(fleet, frame, run)
    if lake is not None:
        out["lake_report_agrees"] = lake_agrees(tables, frame, run, config.days)
    return out


# ---------------------------------------------------------------- printing

TABLE_ROWS = (
    ("helpful skills found effective", "helpful_found"),
    ("  (a single fixed look at the end could resolve)", "helpful_resolvable"),
    ("harmful skills retired", "harmful_retired"),
    ("  (a single fixed look at the end could resolve)", "harmful_resolvable"),
    ("non-harmful skills retired", "non_harmful_retired"),
    ("share of retirements that hit a non-harmful skill", "wrong_retirement_share"),
    ("interval coverage of the true effect", "coverage"),
    *((f"  coverage, {_bucket_name(b)} held-out agent-periods", f"coverage_held_{_bucket_name(b)}")
      for b in BUCKETS),
    ("effective verdicts on non-helpful skills", "effective_but_not_helpful"),
    ("versions with insufficient data at the end", "insufficient_data"),
    ("median days from publish to retirement (harmful)", "median_days_to_retire"),
)


def _cell(key: str, figures: dict[str, float]) -> str:
    value = figures.get(key, float("nan"))
    if value != value:  # nan
        return "n/a"
    if key.startswith("median_days"):
        return f"{value:.1f}"
    if key.startswith("coverage_held_"):
        n = int(figures.get("n_held_" + key.removeprefix("coverage_held_"), 0))
        return f"{value:.1%} (n={n})"
    return f"{value:.1%}"


def format_table(columns: list[tuple[str, dict[str, float]]]) -> str:
    width = 52
    lines = ["| | " + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for label, key in TABLE_ROWS:
        lines.append(f"| {label:<{width}} | " + " | ".join(_cell(key, f) for _, f in columns)
                     + " |")
    return "\n".join(lines)


def format_sizes(columns: list[tuple[str, dict[str, float]]]) -> str:
    lines = ["| agents per workspace | " + " | ".join(name for name, _ in columns) + " |",
             "|---|" + "---|" * len(columns)]
    for bounds in SIZE_BUCKETS:
        name = _bucket_name(bounds)
        cells = []
        for _, f in columns:
            cells.append(f"found {_cell(f'agents_{name}_helpful_found', f)}, retired "
                         f"{_cell(f'agents_{name}_harmful_retired', f)} / "
                         f"{_cell(f'agents_{name}_non_harmful_retired', f)} "
                         f"(n={int(f.get(f'agents_{name}_versions', 0))})")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def run_all(*, scales: tuple[int, ...] = SCALES, lake: bool = True, frequent: bool = True,
            carryover: bool = True, out=sys.stdout) -> dict[str, float]:
    figures: dict[str, float] = {}

    def emit(text: str) -> None:
        print(text, file=out, flush=True)

    columns = []
    with tempfile.TemporaryDirectory(prefix="hivemind-eval-") as tmp:
        for n in scales:
            t0 = time.perf_counter()
            f = evaluate(FleetConfig(sessions=n), lake=Path(tmp) / f"s{n}" if lake else None)
            emit(f"  {n:>7} sessions: {int(f['versions'])} skill versions, {int(f['looks'])} "
                 f"daily looks, {time.perf_counter() - t0:.0f} s"
                 + (f", lake report agrees on {f['lake_report_agrees']:.1%} of verdicts"
                    if "lake_report_agrees" in f else ""))
            columns.append((f"{n // 1000}k sessions", f))
            figures.update({f"{n // 1000}k_{k}": v for k, v in f.items()})
    design = FleetConfig().design
    emit(f"\nDaily looks (the measure job runs every 600 s; hourly below), 40 workspaces, "
         f"switchback holdout {design.share:.0%} of agent-days, 95 % confidence sequences, "
         "e-BH at 10 %:\n")
    emit(format_table(columns))
    emit("\nBy fleet size (helpful found effective; harmful / non-harmful retired):\n")
    emit(format_sizes(columns))
    if frequent:
        pick = 1 if len(scales) > 1 else 0
        t0 = time.perf_counter()
        hourly = evaluate(FleetConfig(sessions=scales[pick]), look_every_s=3600, lake=None)
        emit(f"\nHourly looks at {scales[pick] // 1000}k sessions ({int(hourly['looks'])} looks, "
             f"{time.perf_counter() - t0:.0f} s) against daily:\n")
        emit(format_table([("daily", columns[pick][1]), ("hourly", hourly)]))
        figures.update({f"hourly_{k}": v for k, v in hourly.items()})
    if carryover:
        emit("\nCarry-over planted (share of a skill's effect that persists into the agent's "
             "next held-out period), 100k sessions, daily looks:\n")
        sweep = []
        for c in (0.0, 0.2, 0.5):
            f = evaluate(FleetConfig(sessions=100_000, carryover=c, seed=7), lake=None)
            sweep.append((f"carry-over {c:.0%}", f))
            figures.update({f"carry{int(c * 100)}_{k}": v for k, v in f.items()})
        emit(format_table(sweep))
        emit("| estimate / true effect (precision-weighted slope) | " + " | ".join(
            f"{f['estimate_over_truth']:.2f}" for _, f in sweep) + " |")
    return figures


def main(argv: list[str] | None = None) -> int:
    args = argv if argv is not None else sys.argv[1:]
    quick = "--quick" in args
    run_all(scales=(20_000,) if quick else SCALES, lake=not quick, frequent=not quick,
            carryover=not quick)
    return 0


if __name__ == "__main__":
    sys.exit(main())


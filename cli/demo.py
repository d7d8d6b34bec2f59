"""``hivemind demo``: the whole loop over simulated weeks, on a laptop, in about a minute.

A fresh embedded broker (or run-tagged topics on HIVEMIND_BOOTSTRAP), the sessionizer, the
Delta sink and the (offline) codifier as worker processes, and a simulated fleet working
in *simulated time* (HIVEMIND_CLOCK=sim, runtime.clock) over --weeks weeks ending at the
last Monday:

  week 1   no skills: agents make their workspace's mistakes, humans correct them
           (one workspace, hooli, has no correction signal at all);
  then     the codifier turns the corrections into skills on the skills topic; every
           simulated day each agent reads its workspace's skills from that topic (the
           sync's reader) and draws its cohort per skill with the SDK's switchback
           holdout (Fleet.assign_skills): a held-out agent does not get the skill that
           day. Agents with a skill make its mistake less often; one planted skill
           makes them worse. Outcomes arrive with the session, later, or never.
  weekly   before each week from the third, the measure job looks at the lake as of
           that simulated Monday (anytime-valid intervals: looking often is fine) and
           retires what is harmful with a tombstone; the agents' next read no longer
           has it in scope.
  finally  `hivemind report --period week` over the lake: the headline (first week
           against the last, with intervals), success per week, each skill's treated
           vs held-out effect beside the simulated truth, then --retire.

The estimates are what the report measured; the planted effects are printed only as
"simulated truth". --no-skills runs the same weeks with agents that never receive a
skill (the control: no change to detect). The lake is <dir>/lake (recreated); the
report's HTML and PNGs go to <dir>/report.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the CLI registers every command: keep numpy & co. off its import path
    from hivemind_kafka.analytics.report import MeasureReport
    from hivemind_kafka.producers.sdk.simulated_fleet import WeeksPlan, WeeksReport
    from hivemind_kafka.runtime.settings import Settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the full loop over simulated weeks and print what it measured",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--weeks", type=int, default=4,
                   help="simulated weeks, the first without skills (default 4, at least 2)")
    p.add_argument("--sessions", type=int, default=720,
                   help="sessions per simulated week across the fleet (default 720)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--no-skills", action="store_true",
                   help="control run: agents never receive a skill (expect no change)")
    p.add_argument("--dir", default=".hivemind/demo", help="demo state directory (default .hivemind/demo)")
    p.add_argument("--lake", default=None, help="lake URI (default <dir>/lake, recreated)")
    p.add_argument("--timeout", type=float, default=240.0,
                   help="give up waiting for the lake after this many seconds (default 240)")
    p.set_defaults(run=run)


def say(msg: str = "") -> None:
    print(msg, flush=True)


def sim_start(now: datetime, weeks: int) -> datetime:
    """Monday 00:00 UTC ``weeks`` weeks before the Monday of ``now``'s week: the
    simulated weeks are whole calendar weeks that end before ``now``."""
    day = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return day - timedelta(days=day.weekday() + 7 * weeks)


@dataclass
class DemoResult:
    """What one demo run produced and measured (the integration test reads it)."""

    sim: WeeksReport
    plan: WeeksPlan
    settings: Settings
    report: MeasureReport | None = None  # the final report over the whole lake
    looks: list[tuple[datetime, MeasureReport]] = field(default_factory=list)
    retired: list[tuple[str, str, datetime]] = field(default_factory=list)  # ws, skill, when
    live_after: dict[str, list[str]] = field(default_factory=dict)  # ws -> skills at the end
    counts: dict = field(default_factory=dict)
    elapsed_s: float = 0.0
    start: datetime | None = None  # Monday 00:00 UTC of simulated week 1


def run(args: argparse.Namespace, settings) -> int:
    from hivemind_kafka.runtime.errors import HivemindError

    if args.weeks < 2:
        raise HivemindError(f"--weeks {args.weeks}: give at least 2 (week 1 has no skills)")
    if args.sessions < 14:
        raise HivemindError(f"--sessions {args.sessions}: give at least 14 per week")
    root = Path(args.dir).resolve()
    lake = args.lake or str(root / "lake")
    if args.lake is None and Path(lake).exists():
        shutil.rmtree(lake)
    from hivemind_kafka.producers.sdk.simulated_fleet import WeeksPlan

    plan = WeeksPlan(weeks=args.weeks, sessions_per_week=args.sessions, seed=args.seed,
                     skills=not args.no_skills)
    result = run_demo(settings, plan, root=root, lake=lake, timeout=args.timeout)
    say()
    say(f"The lake is at {lake}; query it yourself:")
    say(f"  HIVEMIND_LAKE={lake} .venv/bin/hivemind report")
    query = "SELECT workspace_id, count(*) FROM sessions GROUP BY ALL ORDER BY ALL"
    say(f'  HIVEMIND_LAKE={lake} .venv/bin/hivemind sql "{query}"')
    say(f"demo done in {result.elapsed_s:.0f} s (broker and workers up to down)")
    return 0 if result.counts.get("complete") else 1


def run_demo(settings: Settings, plan: WeeksPlan, *, root: Path, lake: str,
             timeout: float = 240.0) -> DemoResult:
    """The whole demo: pipeline up, the simulated weeks with a measure look (and
    retirement) before each week from the third on, the final report, pipeline down."""
    from hivemind_kafka.cli.up import start_pipeline
    from hivemind_kafka.runtime.broker import BrokerState

    overrides: dict = {
        "lake": {"uri": lake, "flush_seconds": 1.0},
        "edge": {"home": str(root / "home"), "linger_ms": 100},
        # Short gaps so abandoned sessions close while you watch.
        "sessionizer": {"idle_gap_s": 4, "arrival_grace_s": 2, "tick_interval_s": 1.0},
        "kafka": {"partitions": 3},
        "clock": "sim",
    }
    if settings.kafka.bootstrap:
        tag = f"hivemind-demo-{time.time_ns()}"
        overrides["topics"] = {name: f"{tag}.{name}" for name in
                               ("turns", "sessions", "candidates", "skills", "dlq", "ticks")}
    settings = settings.replace(**overrides)
    state = BrokerState(settings.edge.home_path())
    state.stop()  # a fresh broker per demo: the numbers below are this run's alone
    shutil.rmtree(settings.edge.home_path() / "codifier", ignore_errors=True)
    (settings.edge.home_path() / "retirements.jsonl").unlink(missing_ok=True)

    t0 = time.monotonic()
    say("== Hivemind demo: a fleet over simulated weeks ==")
    sup, settings, started = start_pipeline(settings)
    say(f"kafka   {settings.kafka.bootstrap} ({'embedded tansu, fresh' if started else 'external'})")
    say(f"lake    {lake}")
    say(f"workers {', '.join(sup.components)} (logs in {settings.edge.home_path() / 'logs'})")
    from hivemind_kafka.producers.sdk.simulated_fleet import WeeksReport

    result = DemoResult(sim=WeeksReport(), plan=plan, settings=settings,
                        start=sim_start(datetime.now(UTC), plan.weeks))
    try:
        _simulate(settings, plan, sup, t0, result, timeout)
        result.counts = _wait_for_lake(settings, result.sim, sup, timeout, t0)
        _pipeline_summary(settings, result.sim, result.counts)
        assert result.start is not None
        end = result.start + timedelta(weeks=plan.weeks)
        result.report = _measure(settings, result, root / "report", end=end)
        retired_in = sorted({ws for ws, _, _ in result.retired})
        after = _read_all_skills(settings, retired_in) if retired_in else {}
        for ws in retired_in:
            result.live_after[ws] = sorted(after[ws])
            gone = [name for w, name, _ in result.retired if w == ws]
            say(f"{ws} agents' next sync reads: {', '.join(result.live_after[ws]) or 'no skills'}"
                f"  ({', '.join(gone)} gone from their scope)")
    finally:
        say("stopping workers (flush + commit)...")
        sup.stop()
        if started:
            state.stop()
    _codifier_decisions(settings.edge.home_path() / "codifier")
    result.elapsed_s = time.monotonic() - t0
    return result


def _read_all_skills(settings: Settings, workspaces: list[str]
                     ) -> dict[str, dict[str, tuple[int, str]]]:
    """Every workspace's live skills, as their agents' sync reads them, in one pass over
    the skills topic (one read per simulated day instead of one per workspace)."""
    from hivemind_kafka.producers.sync.skill_sync import read_skills_views

    views = read_skills_views(settings, workspaces, timeout_s=10.0)
    return {ws: {name: (p.skill.version, f"{p.skill.description}\n{p.skill.body}")
                 for name, p in view.skills.items() if p is not None}
            for ws, view in views.items()}


def _simulate(settings: Settings, plan: WeeksPlan, sup, t0: float, result: DemoResult,
              timeout: float) -> None:
    from hivemind_kafka.producers.sdk import Fleet
    from hivemind_kafka.producers.sdk.simulated_fleet import simulate_weeks

    start = result.start or sim_start(datetime.now(UTC), plan.weeks)
    sim = result.sim

    def connect(**kw):
        return Fleet(settings, source="simulator", **kw)

    def before_week(week: int) -> None:
        week_start = start + timedelta(weeks=week - 1)
        if week == 2:
            _wait_for_skills(settings, plan, sup, t0)
        elif week >= 3:
            # The measure job's weekly look (anytime-valid: looking often is fine).
            _wait_for_lake(settings, sim, sup, timeout, t0, quiet=True)
            _look(settings, result, week_start)
        say(f"  [{time.monotonic() - t0:5.1f}s] simulated week {week}: {week_start:%Y-%m-%d} ...")

    say(f"simulating {plan.weeks} weeks from {start:%Y-%m-%d} (Monday), "
        f"{plan.sessions_per_week} sessions a week, {len(plan.workspaces)} workspaces x "
        f"{plan.agents_per_workspace} agents"
        f"{'; CONTROL RUN: agents receive no skill' if not plan.skills else ''}")
    for ws, kind, signal in plan.workspaces:
        say(f"  {ws:<8} {kind.value:<8} "
            f"{'humans correct mistakes' if signal else 'NO correction signal: nothing to learn from'}")
    simulate_weeks(connect, plan, start=start, read_skills=lambda wss: _read_all_skills(settings, wss),
                   before_week=before_week, progress=lambda m: say("  " + m), report=sim,
                   outcomes_until=datetime.now(UTC))
    say(f"  produced {sim.events} events in {sim.sessions} sessions "
        f"({sim.corrected_sessions} corrected by a human; outcomes: "
        f"{sim.late_outcomes} late, {sim.beyond_horizon} beyond the horizon, "
        f"{sim.missing_outcomes} never, {sim.outcomes_not_yet} dated after now not sent); "
        f"{sim.syncs} skill reads by the agents")


def _look(settings: Settings, result: DemoResult, at: datetime) -> None:
    """One weekly look of the measure job as of ``at`` (simulated), retiring what it finds
    harmful with a tombstone dated ``at``."""
    report = _build_report(settings, as_of=at)
    result.looks.append((at, report))
    counts = report.verdicts()
    say(f"  measure look {at:%Y-%m-%d}: " + "  ".join(f"{k}={v}" for k, v in counts.items() if v))
    _retire_harmful(settings, result, report, at)


def _build_report(settings: Settings, *, as_of: datetime | None = None,
                  now: datetime | None = None) -> MeasureReport:
    from hivemind_kafka.analytics.lake import read_measure_tables
    from hivemind_kafka.analytics.report import build_report

    measure = settings.measure
    return build_report(read_measure_tables(settings), period="week",
                        design=measure.holdout_design(), shares=measure.share_overrides(),
                        confidence=measure.confidence, min_clusters=measure.min_clusters,
                        fdr=measure.fdr, planning_effect=measure.planning_effect,
                        horizon_s=settings.sessionizer.outcome_horizon_s,
                        as_of=as_of, now=now or as_of)


class _DatedRetirer:
    """hivemind_kafka.analytics.retirement's Retirer: tombstones dated at the (simulated) decision time."""

    def __init__(self, publisher, at: datetime) -> None:
        self.publisher, self.at = publisher, at

    def retire(self, workspace_id: str, skill_name: str, *, reason: str) -> None:
        self.publisher.retire(workspace_id, skill_name, reason=reason, at=self.at)


def _retire_harmful(settings: Settings, result: DemoResult, report: MeasureReport,
                    at: datetime) -> None:
    from hivemind_kafka.analytics.retirement import retire, retirement_decisions
    from hivemind_kafka.sinks.skills_publisher import SkillsPublisher

    decisions = retirement_decisions(report.effects, decided_at=at,
                                     confidence=report.confidence)
    if not decisions:
        return
    with SkillsPublisher(settings) as publisher:
        for d, error in retire(decisions, _DatedRetirer(publisher, at),
                               evidence_path=settings.edge.home_path() / "retirements.jsonl"):
            if error:
                say(f"    retire {d.workspace_id}/{d.skill_name}: FAILED ({error})")
                continue
            result.retired.append((d.workspace_id, d.skill_name, at))
            say(f"    RETIRED {d.workspace_id}/{d.skill_name} v{d.version} (tombstone dated "
                f"{at:%Y-%m-%d}): {d.reason}")


def _wait_for_skills(settings, plan, sup, t0: float, timeout: float = 120.0) -> None:
    """Week 1 is in Kafka: wait until the codifier has published skills for every
    workspace with a correction signal and nothing new arrived for a few seconds."""
    say(f"  [{time.monotonic() - t0:5.1f}s] week 1 replayed; waiting for the codifier to "
        "publish skills from its corrections...")
    wanted = [ws for ws, _, signal in plan.workspaces if signal]
    deadline = time.monotonic() + timeout
    last, stable_since = None, time.monotonic()
    while time.monotonic() < deadline:
        for line in sup.poll():
            say("  " + line)
        got = {ws: sorted(skills) for ws, skills in _read_all_skills(settings, wanted).items()}
        if got != last:
            last, stable_since = got, time.monotonic()
            say(f"  [{time.monotonic() - t0:5.1f}s] skills: " +
                "  ".join(f"{ws}={len(names)}" for ws, names in got.items()))
        if all(got.values()) and time.monotonic() - stable_since > 3:
            break
        time.sleep(0.5)
    else:
        say("  (timed out waiting for skills: the agents go on with what is published)")
    for ws, names in (last or {}).items():
        for name in names:
            say(f"    published {ws}/{name}")


def _codifier_decisions(directory: Path) -> None:
    """The codifier workers' own counts (written when they stop): decisions with SKIP
    reasons and guard rejections by guard."""
    totals: dict[str, Counter] = {k: Counter() for k in
                                  ("candidates", "decisions", "results", "skip_reasons",
                                   "guard_rejections")}
    for path in sorted(directory.glob("summary-*.json")):
        data = json.loads(path.read_text())
        for key, counter in totals.items():
            counter.update(data.get(key) or {})
    if not any(totals.values()):
        return
    say()
    say("== Codifier ==")
    say("candidates by reason     " + _fmt(totals["candidates"]))
    say("decisions                " + _fmt(totals["decisions"]))
    say("results                  " + _fmt(totals["results"]))
    for reason, n in totals["skip_reasons"].most_common(5):
        say(f"  SKIP x{n:<4} {reason}")
    say("guard rejections         " + (_fmt(totals["guard_rejections"]) or "none"))


def _fmt(counter: Counter) -> str:
    return "  ".join(f"{k}={v}" for k, v in sorted(counter.items()))


def _table_rows(settings, name: str, columns: list[str] | None = None):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(settings.lake.table_uri(name),
                          storage_options=settings.lake.storage_options() or None
                          ).to_pyarrow_table(columns=columns)
    except (TableNotFoundError, FileNotFoundError, OSError):
        return None


def _wait_for_lake(settings, report, sup, timeout: float, t0: float, *,
                   quiet: bool = False) -> dict:
    """Until every event and session produced so far is in Delta (and, at the end, the
    skills stopped changing). ``quiet``: no progress lines (the weekly looks)."""
    if not quiet:
        say("waiting for sessions and events to land in Delta...")
    deadline = time.monotonic() + timeout
    last = None
    counts: dict = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        for line in sup.poll():
            say("  " + line)
        # only the id columns: a poll reading whole tables took a second by week 4
        events = _table_rows(settings, "events", ["event_id"])
        sessions = _table_rows(settings, "sessions", ["session_uid"])
        skills = _table_rows(settings, "skills", ["name"])
        n_ev = 0 if events is None else len(set(events.column("event_id").to_pylist()))
        n_se = 0 if sessions is None else len(set(sessions.column("session_uid").to_pylist()))
        n_sk = 0 if skills is None else skills.num_rows
        now = (n_ev, n_se, n_sk)
        if now != last:
            if not quiet:
                say(f"  [{time.monotonic() - t0:5.1f}s] events {n_ev}/{report.events}  "
                    f"sessions {n_se}/{report.sessions}  skill rows {n_sk}")
            last, stable_since = now, time.monotonic()
        counts = {"events": n_ev, "sessions": n_se, "skills": n_sk}
        landed = n_ev >= report.events and n_se >= report.sessions
        # Codification trails the sessions: give it until skills stop changing.
        settled = ("codifier" not in sup.components
                   or time.monotonic() - stable_since > (1.5 if quiet else 3))
        if landed and settled:
            counts["complete"] = True
            break
        time.sleep(0.5)
    else:
        say(f"  timed out after {timeout:.0f}s: see the worker logs")
    return counts


def _count_topic(settings, topic: str) -> tuple[int, Counter]:
    """Records on a topic, read from the beginning until it stays quiet, and (for the DLQ)
    a Counter of stage/reason. Counted by reading, not from watermarks: tansu reports a
    partition's high watermark as its last *batch*'s base offset + 1."""
    from confluent_kafka import Consumer, TopicPartition

    from hivemind_kafka.runtime.kafka import consumer_config
    from hivemind_kafka.schemas.dead_letters import decode_dead_letter

    c = Consumer(consumer_config(settings, group_id=f"demo-count-{time.time_ns()}"))
    total, reasons = 0, Counter[str]()
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        quiet_since, deadline = time.monotonic(), time.monotonic() + 20
        while time.monotonic() - quiet_since < 1.0 and time.monotonic() < deadline:
            msgs = [m for m in c.consume(500, timeout=0.3) if m.error() is None]
            if msgs:
                quiet_since = time.monotonic()
            total += len(msgs)
            if topic == settings.topics.dlq:
                for msg in msgs:
                    try:
                        letter = decode_dead_letter(msg.value() or b"")
                        reasons[f"{letter.stage}/{letter.reason.value}"] += 1
                    except Exception:
                        reasons["unreadable"] += 1
    finally:
        c.close()
    return total, reasons


def _pipeline_summary(settings, sim, counts: dict) -> None:
    sessions = _table_rows(settings, "sessions")
    n_cand, _ = _count_topic(settings, settings.topics.candidates)
    n_dlq, dlq_reasons = _count_topic(settings, settings.topics.dlq)
    say()
    say("== Pipeline ==")
    say(f"events produced / in Delta   {sim.events} / {counts.get('events', 0)}")
    if sessions is not None:
        by_reason = Counter(sessions.column("close_reason").to_pylist())
        say(f"sessions closed              {sessions.num_rows}  " +
            "  ".join(f"{k}={v}" for k, v in sorted(by_reason.items())))
    say(f"candidates                   {n_cand}")
    say(f"dead letters                 {n_dlq}  " +
        "  ".join(f"{k}={v}" for k, v in sorted(dlq_reasons.items())))
    _codify_summary(_table_rows(settings, "skills"))


def _measure(settings: Settings, result: DemoResult, outdir: Path, *,
             end: datetime) -> MeasureReport:
    """`hivemind report --period week --retire` over the whole lake, then the simulated
    truth beside each estimate."""
    from hivemind_kafka.analytics.report import effect_cell, render_html, render_text, write_pngs

    sim, plan = result.sim, result.plan
    report = _build_report(settings, now=datetime.now(UTC))
    say()
    say("== hivemind report --period week (what the lake says) ==")
    say(render_text(report, max_periods=plan.weeks + 3).rstrip())
    quiet = [ws for ws, _, signal in plan.workspaces if not signal]
    if quiet:
        say(f"(simulation: {', '.join(quiet)} has no correction signal, so nothing was learned "
            "there; its line can only move by chance)")
    say()
    say("== Estimates beside the simulated truth (the truth is the simulator's own success "
        "chances; the analysis never reads it) ==")
    truth = sim.true_effects()
    retired = {(ws, name): at for ws, name, at in result.retired}
    say(f"{'workspace/skill v':<40} {'estimate [95% sequence]':<31} {'verdict':<21} "
        f"{'sim. truth':>10}  planted")
    for e in report.effects:
        true, _, _ = truth.get((e.workspace_id, e.skill_name, e.version), (math.nan, 0, 0))
        lessons = sorted(sim.skill_lessons.get((e.workspace_id, e.skill_name), ()))
        planted = "; ".join(_planted(plan, k) for k in lessons) or "teaches no lesson"
        if not plan.skills:
            planted = "no agent received it"
        est = e.effect
        shown = effect_cell(e)  # as the report prints it: in brackets without a verdict
        missed = not (math.isnan(true) or math.isnan(est.estimate)) and \
            not est.low <= true <= est.high
        true_s = "n/a" if math.isnan(true) else f"{true * 100:+.1f}pp"
        when = retired.get((e.workspace_id, e.skill_name))
        say(f"{e.workspace_id + '/' + e.skill_name + ' v' + str(e.version):<40} "
            f"{shown:<31} {e.verdict.value:<21} {true_s:>10}  {planted}"
            f"{'  (the interval MISSES the truth)' if missed else ''}"
            f"{f'  [retired {when:%Y-%m-%d}]' if when else ''}")
    outdir.mkdir(parents=True, exist_ok=True)
    (outdir / "report.html").write_text(render_html(report), encoding="utf-8")
    pngs = write_pngs(report, outdir)
    say(f"wrote {outdir / 'report.html'} and {len(pngs)} PNG charts in {outdir}")
    say()
    say("== hivemind report --retire (at the end of the simulation) ==")
    before = len(result.retired)
    _retire_harmful(settings, result, report, end)
    if len(result.retired) == before:
        say("no live skill has a harmful verdict now" +
            (f"; retired during the run: {', '.join(f'{w}/{n}' for w, n, _ in result.retired)}"
             if result.retired else ""))
    return report


def _planted(plan, lesson: str) -> str:
    plant = plan.plants.get(lesson)
    if plant is None:
        return f"{lesson}: no effect"
    if plant.success_shift:
        return f"{lesson}: HARMFUL, {plant.success_shift * 100:+.0f}pp on every session"
    return f"{lesson}: its mistake x{plant.mistake_factor:g}"


def _codify_summary(skills) -> None:
    if skills is None or skills.num_rows == 0:
        say("skills published         0 (is the codifier running? see its log)")
        return
    rows = skills.to_pylist()
    live = [r for r in rows if not r.get("retired")]
    by_ws = Counter(r["workspace_id"] for r in live)
    say(f"skill versions published {len(live)}  " + "  ".join(f"{k}={v}" for k, v in sorted(by_ws.items())))
    provenance = {id(r): json.loads(r.get("provenance") or "{}") for r in live}
    decisions = Counter(p.get("decision", "?") for p in provenance.values())
    say("decisions                " + "  ".join(f"{k}={v}" for k, v in sorted(decisions.items())))
    # Show the most corroborated skill: the latest version learned from the most sessions.
    example = max(live, key=lambda r: (len(provenance[id(r)].get("source_session_ids", [])),
                                       r.get("version") or 0, r["name"]))
    say()
    say(f"--- one skill: {example['workspace_id']}/{example['name']} v{example.get('version')} ---")
    say("---")
    say(f"name: {example['name']}")
    say(f"description: {example.get('description')}")
    say("---")
    say(example.get("body") or "")
    sys.stdout.flush()

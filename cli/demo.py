"""``hivemind demo``: the whole loop on a laptop, with a simulated fleet, in about a minute.

It starts its own fresh embedded broker (unless HIVEMIND_BOOTSTRAP is set, when it uses
run-tagged topic names on that Kafka), runs the sessionizer, sink and codifier, replays a
simulated fleet of coding, support and SDR agents (with corrections, outcomes, abandoned
sessions and malformed records), waits until every event and session is in Delta, then
prints what happened and how to query it. The lake is ``.hivemind/demo/lake`` (recreated
on every run) unless --lake says otherwise.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from collections import Counter
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo", help="run the full pipeline on a simulated fleet and print a summary",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--sessions", type=int, default=300, help="simulated sessions (default 300)")
    p.add_argument("--seed", type=int, default=7, help="simulation seed (default 7)")
    p.add_argument("--dir", default=".hivemind/demo", help="demo state directory (default .hivemind/demo)")
    p.add_argument("--lake", default=None, help="lake URI (default <dir>/lake, recreated)")
    p.add_argument("--timeout", type=float, default=150.0, help="give up waiting after this many seconds")
    p.set_defaults(run=run)


def say(msg: str = "") -> None:
    print(msg, flush=True)


def run(args: argparse.Namespace, settings) -> int:
    from cli.up import start_pipeline
    from runtime.broker import BrokerState

    root = Path(args.dir).resolve()
    lake = args.lake or str(root / "lake")
    if args.lake is None and Path(lake).exists():
        shutil.rmtree(lake)
    overrides: dict = {
        "lake": {"uri": lake, "flush_seconds": 1.0},
        "edge": {"home": str(root / "home"), "linger_ms": 100},
        # Short gaps so abandoned sessions close while you watch.
        "sessionizer": {"idle_gap_s": 4, "arrival_grace_s": 2, "tick_interval_s": 1.0},
        "kafka": {"partitions": 3},
    }
    if settings.kafka.bootstrap:
        tag = f"hivemind-demo-{int(time.time())}"
        overrides["topics"] = {name: f"{tag}.{name}" for name in
                               ("turns", "sessions", "candidates", "skills", "dlq", "ticks")}
    settings = settings.replace(**overrides)
    state = BrokerState(settings.edge.home_path())
    state.stop()  # a fresh broker per demo: the numbers below are this run's alone

    t0 = time.monotonic()
    say("== Hivemind demo ==")
    shutil.rmtree(settings.edge.home_path() / "codifier", ignore_errors=True)
    sup, settings, started = start_pipeline(settings)
    say(f"kafka   {settings.kafka.bootstrap} ({'embedded tansu, fresh' if started else 'external'})")
    say(f"lake    {lake}")
    say(f"workers {', '.join(sup.components)} (logs in {settings.edge.home_path() / 'logs'})")
    try:
        report = _simulate(settings, args)
        counts = _wait_for_lake(settings, report, sup, args.timeout, t0)
        _summary(settings, report, counts, lake, time.monotonic() - t0)
    finally:
        say("stopping workers (flush + commit)...")
        sup.stop()
        if started:
            state.stop()
    _codifier_decisions(settings.edge.home_path() / "codifier")
    return 0 if counts.get("complete") else 1


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


def _simulate(settings, args):
    from confluent_kafka import Producer

    from producers.sdk import Fleet
    from producers.simulated_fleet import FleetPlan, simulate
    from runtime.kafka import producer_config

    raw = Producer(producer_config(settings))

    def connect(**kw):
        return Fleet(settings, source="simulator", **kw)

    def send_raw(value: bytes) -> None:
        raw.produce(settings.topics.turns, key=b"acme", value=value)

    def progress(done: int, total: int) -> None:
        say(f"  fleet: {done}/{total} sessions replayed")

    say(f"replaying {args.sessions} sessions from 3 workspaces x (coding, support, sdr) agents...")
    report = simulate(connect, FleetPlan(sessions=args.sessions, seed=args.seed),
                      send_raw=send_raw, progress=progress)
    raw.flush(30)
    say(f"  produced {report.events} events in {report.sessions} sessions "
        f"({report.corrected_sessions} with a human correction) + {report.malformed_records} malformed records")
    return report


def _table_rows(settings, name: str):
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    try:
        return DeltaTable(settings.lake.table_uri(name),
                          storage_options=settings.lake.storage_options() or None).to_pyarrow_table()
    except (TableNotFoundError, FileNotFoundError, OSError):
        return None


def _wait_for_lake(settings, report, sup, timeout: float, t0: float) -> dict:
    say("waiting for sessions and events to land in Delta...")
    deadline = time.monotonic() + timeout
    last = None
    counts: dict = {}
    stable_since = time.monotonic()
    while time.monotonic() < deadline:
        for line in sup.poll():
            say("  " + line)
        events = _table_rows(settings, "events")
        sessions = _table_rows(settings, "sessions")
        skills = _table_rows(settings, "skills")
        n_ev = 0 if events is None else len(set(events.column("event_id").to_pylist()))
        n_se = 0 if sessions is None else len(set(sessions.column("session_uid").to_pylist()))
        n_sk = 0 if skills is None else skills.num_rows
        now = (n_ev, n_se, n_sk)
        if now != last:
            say(f"  [{time.monotonic() - t0:5.1f}s] events {n_ev}/{report.events}  "
                f"sessions {n_se}/{report.sessions}  skill rows {n_sk}")
            last, stable_since = now, time.monotonic()
        counts = {"events": n_ev, "sessions": n_se, "skills": n_sk}
        landed = n_ev >= report.events and n_se >= report.sessions
        # Codification trails the sessions: give it until skills stop changing.
        settled = "codifier" not in sup.components or time.monotonic() - stable_since > 6
        if landed and settled:
            counts["complete"] = True
            break
        time.sleep(1.0)
    else:
        say(f"  timed out after {timeout:.0f}s: see the worker logs")
    return counts


def _count_topic(settings, topic: str) -> tuple[int, Counter]:
    """Records on a topic, read from the beginning until it stays quiet, and (for the DLQ)
    a Counter of stage/reason. Counted by reading, not from watermarks: tansu reports a
    partition's high watermark as its last *batch*'s base offset + 1."""
    from confluent_kafka import Consumer, TopicPartition

    from runtime.kafka import consumer_config
    from schemas.dead_letters import decode_dead_letter

    c = Consumer(consumer_config(settings, group_id=f"demo-count-{time.time_ns()}"))
    total, reasons = 0, Counter[str]()
    try:
        md = c.list_topics(topic, timeout=10).topics[topic]
        c.assign([TopicPartition(topic, p, 0) for p in md.partitions])
        quiet_since, deadline = time.monotonic(), time.monotonic() + 20
        while time.monotonic() - quiet_since < 1.5 and time.monotonic() < deadline:
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


def _summary(settings, report, counts: dict, lake: str, elapsed: float) -> None:
    sessions = _table_rows(settings, "sessions")
    events = _table_rows(settings, "events")
    skills = _table_rows(settings, "skills")
    n_cand, _ = _count_topic(settings, settings.topics.candidates)
    n_dlq, dlq_reasons = _count_topic(settings, settings.topics.dlq)
    say()
    say(f"== Summary ({elapsed:.0f}s) ==")
    say(f"events produced          {report.events}  (+{report.malformed_records} malformed records)")
    say(f"events in Delta          {counts.get('events', 0)}  (rows: {0 if events is None else events.num_rows})")
    if sessions is not None:
        by_reason = Counter(sessions.column("close_reason").to_pylist())
        say(f"sessions closed          {sessions.num_rows}  " +
            "  ".join(f"{k}={v}" for k, v in sorted(by_reason.items())))
        say(f"  expected               {report.sessions}  " +
            "  ".join(f"{k}={v}" for k, v in sorted(report.expected_close.items())))
    say(f"candidates               {n_cand}")
    say(f"dead letters             {n_dlq}  " + "  ".join(f"{k}={v}" for k, v in sorted(dlq_reasons.items())))
    for name, table in (("events", events), ("sessions", sessions), ("skills", skills)):
        say(f"delta table {name:<12} {'-' if table is None else table.num_rows} rows")
    _codify_summary(skills)
    say()
    say(f"the lake is at {lake}; query it with SQL:")
    query = "SELECT workspace_id, close_reason, count(*) FROM sessions GROUP BY ALL ORDER BY ALL"
    say(f'  HIVEMIND_LAKE={lake} .venv/bin/hivemind sql "{query}"')
    say("or from Python: deltalake.DeltaTable('<lake>/sessions').to_pyarrow_table()")


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

"""``hivemind report`` (skill effects, rates over time, retirement) and ``hivemind signal``."""

from __future__ import annotations

import argparse
import logging
import time
from datetime import UTC, datetime
from pathlib import Path

log = logging.getLogger(__name__)



def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report", help="skill effects (holdout vs present) and success rates over time",
        description="Measure every skill version against its switchback holdout from the "
                    "Delta tables (HIVEMIND_MEASURE_* settings: holdout share and period, "
                    "confidence, minimum agent-periods per cohort, false-discovery rate); "
                    "print each skill's evidence, optionally write an HTML page or PNG "
                    "charts, and retire skills whose effect is measurably negative. "
                    "Intervals are anytime-valid: running this every few minutes does not "
                    "raise the error rate.")
    p.add_argument("--workspace", metavar="W", help="only this workspace")
    p.add_argument("--html", metavar="FILE", help="write a self-contained HTML report")
    p.add_argument("--png", metavar="DIR", help="write PNG charts into DIR")
    p.add_argument("--period", choices=["auto", "day", "week"], default="auto",
                   help="bucket of the rate-over-time series (default auto: week when the "
                        "sessions span more than three weeks, else day)")
    p.add_argument("--holdout-share", type=float, default=None, metavar="SHARE",
                   help="the holdout share the sync applies (default "
                        "HIVEMIND_MEASURE_HOLDOUT_SHARE(S), 0.5)")
    p.add_argument("--exposures", metavar="FILE",
                   help="the sync's exposures.jsonl, to check recorded cohorts against the "
                        "assignment (default: <HIVEMIND_HOME>/exposures.jsonl if present)")
    p.add_argument("--retire", action="store_true",
                   help="tombstone live skills whose verdict is harmful (the whole "
                        "anytime-valid sequence below 0, after false-discovery control)")
    p.add_argument("--metrics-file", metavar="FILE",
                   help="write the measure gauges in Prometheus text format (textfile collector)")
    p.add_argument("--every", type=float, metavar="SECONDS",
                   help="repeat every SECONDS, serving /metrics on HIVEMIND_METRICS_PORT+5")
    p.set_defaults(run=run_report)

    p = sub.add_parser("signal", help="send an outcome for a session to hivemind.turns",
                       description="Record what happened after a session (tests_passed, "
                                   "committed, reverted, resolved, escalated, replied, ...), "
                                   "any time after it closed (joined up to the outcome "
                                   "horizon, HIVEMIND_SESSIONIZER_OUTCOME_HORIZON_S). Labels "
                                   "map to success/failure/unknown as documented in "
                                   "schemas/outcomes.py. The workspace and Kafka default to "
                                   "what `hivemind install` recorded for this machine's "
                                   "Claude Code sessions.")
    p.add_argument("--session", metavar="ID", help="the agent's session id (required)")
    p.add_argument("--outcome", metavar="LABEL", help="the outcome label (required)")
    p.add_argument("--workspace", metavar="W",
                   help="workspace (default HIVEMIND_WORKSPACE_ID, else the install's)")
    p.add_argument("--agent", metavar="ID", default="signal", help="who reports it")
    p.add_argument("--text", metavar="TEXT", help="a short note kept with the outcome")
    p.add_argument("--git-commit", action="store_true",
                   help="what the git post-commit hook runs: derive session and outcome "
                        "from the HEAD commit of --repo (committed, or reverted for a "
                        "`git revert`) and queue it in the spool; nothing when no Claude "
                        "Code session edited that repository")
    p.add_argument("--repo", type=Path, default=None,
                   help="git repository for --git-commit (default: current directory)")
    p.set_defaults(run=run_signal)


def run_signal(args, settings) -> int:
    from hivemind_kafka.analytics.signals import outcome_event, send_outcome
    from hivemind_kafka.producers.agentd.daemon import edge_identity
    from hivemind_kafka.producers.agentd.forwarder import resolve_edge_bootstrap
    from hivemind_kafka.runtime.errors import HivemindError
    from hivemind_kafka.schemas.outcomes import result_of

    if args.git_commit:
        return _signal_git_commit(args, settings)
    if not args.session or not args.outcome:
        raise HivemindError("give --session ID and --outcome LABEL (e.g. tests_passed, "
                            "resolved, reverted), or --git-commit from a git hook")
    # The hook stamps Claude Code sessions with the install's workspace and sends them to
    # the install's Kafka: a signal must land in the same place to join its session.
    settings, _, _ = edge_identity(settings)
    settings = settings.replace(kafka={"bootstrap": resolve_edge_bootstrap(settings)})
    try:
        event = outcome_event(workspace_id=args.workspace or settings.edge.workspace_id,
                              session_id=args.session, label=args.outcome, agent_id=args.agent,
                              agent_kind=settings.edge.agent_kind, text=args.text)
    except ValueError as exc:
        raise HivemindError(str(exc)) from None
    partition, offset = send_outcome(settings, event)
    print(f"outcome {event.outcome} ({result_of(event.outcome).value}) for session "
          f"{event.session_id} in {event.workspace_id}: {settings.topics.turns}[{partition}] "
          f"offset {offset}")
    return 0


def _signal_git_commit(args, settings) -> int:
    """The post-commit hook's work: spool the commit's signal, if it names a session."""
    from hivemind_kafka.producers.hook.capture import load_config
    from hivemind_kafka.producers.install.git_hooks import signal_commit

    home = settings.edge.home_path()
    repo = (args.repo or Path.cwd()).expanduser().absolute()
    signal = signal_commit(repo, home=home, horizon_s=settings.sessionizer.outcome_horizon_s,
                           config=load_config(str(home)))
    if signal is None:
        print("no Claude Code session edited this repository recently: nothing to signal")
        return 0
    print(f"outcome {signal.label} for session {signal.session_id} (commit "
          f"{signal.sha[:12]}) queued in {home / 'spool'}")
    return 0


def run_report(args, settings) -> int:
    if args.every:
        from hivemind_kafka.runtime.metrics import PORT_OFFSETS, serve, set_ready

        if settings.metrics.port > 0:
            serve(settings.metrics.host, settings.metrics.port + PORT_OFFSETS["measure"])
        set_ready()
        while True:
            _report_once(args, settings)
            time.sleep(args.every)
    return _report_once(args, settings)


def _report_once(args, settings) -> int:
    from hivemind_kafka.analytics.lake import read_exposures_jsonl, read_measure_tables
    from hivemind_kafka.analytics.report import (
        auto_period,
        build_report,
        publish_metrics,
        render_html,
        render_text,
        write_pngs,
    )
    from hivemind_kafka.runtime.errors import HivemindError

    t0 = time.monotonic()
    measure = settings.measure
    design = measure.holdout_design()
    if args.holdout_share is not None:
        if not 0.0 < args.holdout_share < 1.0:
            raise HivemindError(f"--holdout-share {args.holdout_share} is out of range: give "
                                "the share the sync applies, in (0, 1), e.g. 0.5")
        design = type(design)(share=args.holdout_share, period_s=design.period_s)
    tables = read_measure_tables(settings, workspace=args.workspace)
    exposures_path = (Path(args.exposures) if args.exposures
                      else settings.edge.home_path() / "exposures.jsonl")
    period = auto_period(tables.sessions) if args.period == "auto" else args.period
    report = build_report(tables, workspace=args.workspace, period=period,
                          design=design, shares=measure.share_overrides(),
                          confidence=measure.confidence,
                          min_clusters=measure.min_clusters, fdr=measure.fdr,
                          planning_effect=measure.planning_effect,
                          recorded_exposures=read_exposures_jsonl(exposures_path),
                          horizon_s=settings.sessionizer.outcome_horizon_s)
    print(render_text(report), end="")
    if args.html:
        Path(args.html).write_text(render_html(report), encoding="utf-8")
        print(f"wrote {args.html}")
    if args.png:
        for path in write_pngs(report, Path(args.png)):
            print(f"wrote {path}")
    if args.retire:
        _retire(report, settings)
    publish_metrics(report, time.monotonic() - t0)
    if args.metrics_file:
        from prometheus_client import REGISTRY, write_to_textfile

        write_to_textfile(args.metrics_file, REGISTRY)
    return 0


def _retire(report, settings) -> None:
    from hivemind_kafka.analytics import metrics
    from hivemind_kafka.analytics.retirement import retire, retirement_decisions
    from hivemind_kafka.sinks.skills_publisher import SkillsPublisher

    decisions = retirement_decisions(report.effects, decided_at=datetime.now(UTC),
                                     confidence=report.confidence)
    if not decisions:
        print("retire: no live skill has a harmful verdict (sequence below 0 after "
              "false-discovery control)")
        return
    evidence = settings.edge.home_path() / "retirements.jsonl"
    with SkillsPublisher(settings) as publisher:
        for decision, error in retire(decisions, publisher, evidence_path=evidence):
            metrics.RETIREMENTS.labels(outcome="failed" if error else "retired").inc()
            state = f"FAILED ({error})" if error else "retired"
            print(f"retire {decision.workspace_id}/{decision.skill_name}: {state}: {decision.reason}")
    print(f"evidence appended to {evidence}")

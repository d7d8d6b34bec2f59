"""``hivemind agentd`` (the per-machine forwarder + skill sync), ``hivemind sync`` (one
skill sync now) and ``hivemind skillify`` (one status screen for this machine)."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "agentd", help="run the edge daemon: spool -> Kafka, published skills -> .claude/skills",
        description=(
            "Forwards the events captured on this machine to Kafka (retrying while the broker "
            "is down; nothing is lost) and keeps the workspace's skills synced into every "
            "project this machine has seen sessions in. One per Hivemind home. Claude Code's "
            "SessionStart hook starts it automatically (hivemind install)."
        ),
    )
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true",
                      help="start it in the background unless already running, then return")
    mode.add_argument("--stop", action="store_true", help="stop the running agentd (SIGTERM)")
    p.add_argument("--sync-interval", type=float, default=None, metavar="S",
                   help="seconds between full skill syncs, each refreshing the skills cache "
                        "the SessionStart hook pulls from (default: "
                        "HIVEMIND_EDGE_SYNC_INTERVAL_S, 30)")
    p.set_defaults(run=run_agentd)

    s = sub.add_parser(
        "sync", help="sync this workspace's published skills to disk now",
        description=(
            "Reads the skills topic to its end and writes <project>/.claude/skills/<name>/"
            "SKILL.md for every known project (or those given with --project). Files you "
            "edited are never overwritten or deleted: they are reported as conflicts."
        ),
    )
    s.add_argument("--project", action="append", default=[], metavar="PATH",
                   help="sync into this project (repeatable; it is remembered)")
    s.add_argument("--user", action="store_true", help="also sync into ~/.claude/skills")
    s.add_argument("--session-id", help="record this session's skill exposures")
    s.add_argument("--timeout", type=float, default=10.0, metavar="S",
                   help="how long to read the skills topic (default 10)")
    s.set_defaults(run=run_sync)

    k = sub.add_parser("skillify", help="status of Hivemind on this machine, on one screen")
    k.add_argument("--json", action="store_true", help="the same facts as one JSON object")
    k.add_argument("--timeout", type=float, default=2.0, metavar="S",
                   help="broker reachability timeout (default 2)")
    k.set_defaults(run=run_skillify)


def run_agentd(args, settings) -> int:
    import os
    import signal
    import time

    from hivemind_kafka.producers.agentd import launch as agentd

    home = settings.edge.home_path()
    if args.detach:
        extra = [] if args.sync_interval is None else ["--sync-interval",
                                                        str(args.sync_interval)]
        started = agentd.ensure_running(home, extra_args=extra)
        pid = _wait_for_pid(home, 5.0)
        state = "started" if started else "already running"
        print(f"agentd {state} (pid {pid or '?'}, log {home / agentd.LOG_NAME})")
        return 0 if pid else 1
    if args.stop:
        pid = agentd.running_pid(home)
        if pid is None:
            print("agentd is not running")
            return 0
        if pid == 0:
            print(f"an agentd holds {agentd.lock_path(home)} but its pid is unreadable")
            return 1
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        while agentd.running_pid(home) is not None and time.monotonic() < deadline:
            time.sleep(0.1)
        stopped = agentd.running_pid(home) is None
        print("agentd stopped" if stopped else f"agentd (pid {pid}) did not stop within 20 s")
        return 0 if stopped else 1
    from hivemind_kafka.producers.agentd.daemon import run_agentd as run

    return run(settings, sync_interval_s=args.sync_interval, user_home=Path.home())


def _wait_for_pid(home: Path, timeout_s: float) -> int | None:
    import time

    from hivemind_kafka.producers.agentd import launch as agentd

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        pid = agentd.running_pid(home)
        if pid:
            return pid
        time.sleep(0.05)
    return None


def run_sync(args, settings) -> int:
    from hivemind_kafka.producers.agentd.daemon import edge_identity
    from hivemind_kafka.producers.sync.skill_sync import (
        ProjectRegistry,
        known_projects,
        project_root,
        sync_once,
    )

    settings, agent_id, _config = edge_identity(settings)
    registry = ProjectRegistry(settings.edge.home_path())
    if args.project:
        projects = []
        for raw in args.project:
            path = project_root(raw)
            if not path.is_dir():
                print(f"hivemind sync: {raw} is not a directory")
                return 2
            registry.add(path)
            projects.append(path)
    else:
        projects = known_projects(settings.edge.home_path(), Path.home())
    user_dir = Path.home() / ".claude" / "skills" if args.user else None
    if not projects and user_dir is None:
        print("no projects known yet: run a Claude Code session with Hivemind installed, "
              "or pass --project PATH (or --user for ~/.claude/skills)")
        return 1
    session_project = projects[0] if args.session_id and projects else None
    result = sync_once(settings, agent_id=agent_id, projects=projects,
                       user_skills_dir=user_dir, session_id=args.session_id,
                       session_project=session_project, timeout_s=args.timeout)
    report = result.report
    print(f"workspace {settings.edge.workspace_id}, agent {agent_id}: "
          f"{len(result.targets)} skills director{'y' if len(result.targets) == 1 else 'ies'}")
    for target in result.targets:
        print(f"  {target}")
    if result.error:
        print(f"broker unavailable, nothing changed: {result.error}")
        return 1
    if not result.complete:
        print(f"the skills topic was not read to its end within {args.timeout:g}s: "
              "nothing was removed this time")
    for label, names in (("created", report.created), ("updated", report.updated),
                         ("removed", report.removed), ("held out", report.held_out),
                         ("invalid, skipped", report.invalid),
                         ("deleted by you, not recreated", report.kept_deleted)):
        if names:
            print(f"  {label}: {', '.join(sorted(set(names)))}")
    if report.rejected:
        print(f"  refused by the guards (secret or injection), nothing written: "
              f"{', '.join(sorted(set(report.rejected)))}")
    for refusal in report.refused:
        what = "every skill" if refusal.name == "*" else refusal.name
        print(f"  REFUSED {what}: {refusal.path} {refusal.reason}; nothing read or written "
              "through it")
    if result.bad_keys or result.undecodable:
        print(f"  skipped records: {result.bad_keys} with a key that is not "
              f"<workspace>/<name> in UTF-8, {result.undecodable} whose value is not a skill")
    print(f"  unchanged: {len(report.unchanged)}")
    for conflict in report.conflicts:
        why = ("edited locally" if conflict.reason == "edited"
               else "a file Hivemind did not write has this name")
        print(f"  CONFLICT {conflict.name}: {why}; left untouched ({conflict.path})")
    return 0


def run_skillify(args, settings) -> int:
    import json

    from hivemind_kafka.producers.agentd.status import collect, render

    status = collect(settings, user_home=Path.home(), broker_timeout_s=args.timeout)
    if args.json:
        print(json.dumps(status, indent=1, default=str))
    else:
        print(render(status))
    return 0

"""``hivemind skills list|show|retire`` (read the skills topic) and ``hivemind codify``
(run the codify job until Ctrl-C / SIGTERM)."""

from __future__ import annotations

import argparse
import json
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("skills", help="list, show or retire published skills")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    ls = verbs.add_parser("list", help="live skills (latest version) from the skills topic")
    ls.add_argument("--workspace", help="one workspace (default: all)")
    ls.add_argument("--json", action="store_true", help="one JSON object per line")
    ls.set_defaults(run=run_list)
    show = verbs.add_parser("show", help="print a skill's SKILL.md as sync writes it (provenance on stderr)")
    show.add_argument("name")
    show.add_argument("--workspace", help="default: HIVEMIND_WORKSPACE_ID")
    show.set_defaults(run=run_show)
    retire = verbs.add_parser("retire", help="retire a skill (tombstone; agents remove it)")
    retire.add_argument("name")
    retire.add_argument("--workspace", help="default: HIVEMIND_WORKSPACE_ID")
    retire.add_argument("--reason", default="retired by a human", help="recorded as a header")
    retire.set_defaults(run=run_retire)
    p.set_defaults(run=lambda args, settings: p.print_help() or 2)

    c = sub.add_parser("codify", help="run the codify job (candidates -> skills) until stopped")
    c.add_argument("--summary", action="store_true", help="print the counters as JSON on exit")
    c.set_defaults(run=run_codify)


def run_list(args, settings) -> int:
    from hivemind_kafka.sinks.skills_publisher import list_skills

    skills = list_skills(settings, args.workspace)
    if args.json:
        import msgspec

        for s in skills:
            print(msgspec.json.encode(s).decode())
        return 0
    if not skills:
        print("no skills published yet")
        return 0
    print(f"{'WORKSPACE':<16} {'NAME':<40} {'VER':>3} {'DECISION':<8} {'CODIFIER':<10} DESCRIPTION")
    for s in skills:
        p = s.provenance
        print(f"{s.workspace_id[:16]:<16} {s.name[:40]:<40} {s.version:>3} "
              f"{p.decision.value:<8} {p.codifier[:10]:<10} {s.description[:70]}")
    return 0


def run_show(args, settings) -> int:
    from hivemind_kafka.schemas.skills import render_skill_md
    from hivemind_kafka.sinks.skills_publisher import read_skill_log

    workspace = args.workspace or settings.edge.workspace_id
    state = read_skill_log(settings)
    key = (workspace, args.name)
    if key not in state:
        names = sorted(n for ws, n in state if ws == workspace and state[(ws, n)] is not None)
        print(f"no skill {args.name!r} in workspace {workspace!r}; live skills: "
              f"{', '.join(names) or '(none)'}")
        return 1
    published = state[key]
    if published is None:
        print(f"skill {args.name!r} in workspace {workspace!r} is retired")
        return 1
    # stdout is the SKILL.md sync writes, byte for byte; the provenance goes to stderr.
    sys.stdout.write(render_skill_md(published))
    skill, p = published.skill, published.skill.provenance
    print(f"# provenance: version {skill.version}, {p.decision.value} by {p.codifier}"
          f"{' / ' + p.model if p.model else ''}, candidate {p.candidate_id}, "
          f"sessions {', '.join(p.source_session_ids)}, at {p.created_at.isoformat()}",
          file=sys.stderr)
    if p.reason:
        print(f"# reason: {p.reason}", file=sys.stderr)
    return 0


def run_retire(args, settings) -> int:
    from hivemind_kafka.sinks.skills_publisher import retire_skill

    workspace = args.workspace or settings.edge.workspace_id
    if not retire_skill(settings, workspace, args.name, reason=args.reason):
        print(f"no live skill {args.name!r} in workspace {workspace!r}: nothing retired")
        return 1
    print(f"retired {workspace}/{args.name}")
    return 0


def run_codify(args, settings) -> int:
    from hivemind_kafka.streams.codifier.app import codify_summary, run_codifier

    try:
        run_codifier(settings)
    finally:
        if args.summary:
            print(json.dumps(codify_summary(), indent=2, sort_keys=True))
    return 0

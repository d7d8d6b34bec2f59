"""``hivemind install`` / ``hivemind uninstall``: the Claude Code capture hook.

``hivemind capture`` itself is dispatched by cli/main.py before argparse (hot path).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

SCOPE_HELP = ("user: ~/.claude/settings.json (default); "
              "project: <project>/.claude/settings.json")


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "install", help="register the capture hook in Claude Code's settings (idempotent)",
        description=(
            "Adds `hivemind capture` as a command hook for SessionStart, UserPromptSubmit, "
            "PreToolUse, PermissionRequest, PermissionDenied, PostToolUse, PostToolUseFailure, "
            "Stop, SubagentStop and SessionEnd, merged with your existing hooks. Records "
            "workspace, agent kind and Kafka bootstrap in $HIVEMIND_HOME/config.json, creates "
            "the skills directory, and keeps what is needed for `hivemind uninstall` to "
            "restore the file byte for byte. "
            "A symlinked settings file stays a symlink (its target is edited). Files under "
            "$HIVEMIND_HOME are made owner-only (0600, directories 0700). "
            "With --git-hooks, instead adds a post-commit hook to a git repository: each "
            "commit becomes a `committed` signal (a `git revert` commit a `reverted` one) for "
            "the Claude Code session that last edited files there (see producers/install/git_hooks.py). "
            "The hook runs in the background and never fails a commit."),
    )
    _target_args(p)
    _git_args(p)
    p.add_argument("--workspace", help="workspace id: 1 to 80 bytes of UTF-8, printable, "
                   "no space at either end (default: HIVEMIND_WORKSPACE_ID)")
    p.add_argument("--agent-kind", default=None,
                   help="agent kind recorded on events (default: HIVEMIND_EDGE_AGENT_KIND)")
    p.add_argument("--bootstrap", default=None,
                   help="Kafka bootstrap for agentd (default: HIVEMIND_BOOTSTRAP, else the "
                        "embedded broker)")
    p.add_argument("--no-agentd", action="store_true",
                   help="do not start agentd from SessionStart (run `hivemind agentd` yourself)")
    p.set_defaults(run=run_install)

    p = sub.add_parser("uninstall", help="remove the capture hook from Claude Code's settings",
                       description="Restores the settings file byte for byte when nothing "
                                   "else changed it since install; otherwise removes only "
                                   "Hivemind's entries. Keeps $HIVEMIND_HOME (the spool). "
                                   "With --git-hooks, removes Hivemind's block from the "
                                   "repository's git hooks instead.")
    _target_args(p)
    _git_args(p)
    p.set_defaults(run=run_uninstall)


def _target_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--scope", choices=["user", "project"], default="user", help=SCOPE_HELP)
    p.add_argument("--project", type=Path, default=None,
                   help="project directory for --scope project (default: current directory)")
    p.add_argument("--settings-file", type=Path, default=None,
                   help="explicit Claude Code settings file (overrides --scope)")


def _git_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--git-hooks", action="store_true",
                   help="the git hooks of --repo instead of Claude Code's settings")
    p.add_argument("--repo", type=Path, default=None,
                   help="git repository for --git-hooks (default: current directory)")


def _run_git_hooks(args: argparse.Namespace, settings, *, install: bool) -> int:
    from hivemind_kafka.producers.install.claude_code import hook_command
    from hivemind_kafka.producers.install.git_hooks import install_git_hooks, uninstall_git_hooks

    repo = (args.repo or Path.cwd()).expanduser().absolute()
    if install:
        command = hook_command()[: -len(" capture")]
        results = install_git_hooks(repo, command=command, home=settings.edge.home_path())
    else:
        results = uninstall_git_hooks(repo)
    for r in results:
        print(f"git hook {r.action}: {r.path}")
    if install:
        print("commits there now signal `committed` (reverts `reverted`) for the Claude Code "
              "session that last edited the files")
    return 0


def _settings_file(args: argparse.Namespace) -> Path:
    from hivemind_kafka.producers.install.claude_code import settings_path

    if args.settings_file:
        return args.settings_file.expanduser().absolute()
    return settings_path(args.scope, project=args.project)


def run_install(args: argparse.Namespace, settings) -> int:
    if args.git_hooks:
        return _run_git_hooks(args, settings, install=True)
    if args.workspace is not None:
        from hivemind_kafka.schemas.events import workspace_id_problem

        problem = workspace_id_problem(args.workspace)
        if problem is not None:
            print(f"install: --workspace {args.workspace[:80]!r}: {problem}", file=sys.stderr)
            return 2
    from hivemind_kafka.producers.install.claude_code import (
        hook_command,
        install_hooks,
        prepare_hot_path,
        skills_dir_for,
        tighten_home,
        write_config,
    )

    home = settings.edge.home_path()
    target = _settings_file(args)
    command = hook_command()
    result = install_hooks(target, home=home, command=command)
    skills = skills_dir_for(target)
    skills.mkdir(parents=True, exist_ok=True)
    workspace = args.workspace or settings.edge.workspace_id
    config = write_config(
        home, workspace_id=workspace, agent_kind=args.agent_kind or settings.edge.agent_kind,
        bootstrap=args.bootstrap or settings.kafka.bootstrap,
        max_field_bytes=settings.edge.max_field_bytes, agentd_autostart=not args.no_agentd)
    problems = prepare_hot_path(home)
    tightened = tighten_home(home)
    print(f"hooks    {result.action}: {target}"
          + (f" ({', '.join(result.events)})" if result.events else ""))
    print(f"command  {command}")
    print(f"skills   {skills}")
    print(f"config   {config} (workspace {workspace})")
    if tightened:
        print(f"private  {tightened} files and directories under {home} made owner-only "
              "(0600/0700)")
    if problems:
        print(f"warning  could not pre-compile {', '.join(problems)}: capture still works, "
              "a little slower")
    if result.action != "unchanged":
        print("Claude Code picks the hooks up in new sessions (restart running ones).")
    return 0


def run_uninstall(args: argparse.Namespace, settings) -> int:
    if args.git_hooks:
        return _run_git_hooks(args, settings, install=False)
    from hivemind_kafka.producers.install.claude_code import uninstall_hooks

    target = _settings_file(args)
    result = uninstall_hooks(target, home=settings.edge.home_path())
    detail = {
        "restored": "original file restored byte for byte",
        "removed": "Hivemind hooks removed, other changes kept",
        "unchanged": "no Hivemind hook found",
        "absent": "no settings file",
    }[result.action]
    print(f"hooks    {result.action}: {target} ({detail})")
    return 0

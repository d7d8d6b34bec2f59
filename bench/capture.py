"""Wall time of the Claude Code hook (``hivemind capture``) against ``python -c pass``.

Target: p50 <= 2x and p99 <= 3x the interpreter's own start-up, measured interleaved
(baseline, small payload, large payload, baseline, ...) so machine noise hits all alike.
``capture small, lock held`` runs the hook on a second home whose ``spool/.lock`` another
process holds for the whole run: the hook must not wait for it (it spools to a side file
after at most 5 ms), so its ratios must stay near the others'.
The ``session start`` cases time the SessionStart hook, which pulls the skills agentd
cached (``producers.hook.skill_pull``) into the session's project before it returns: with no
cache (nothing to pull), with 20 cached skills already on disk (the usual start: read,
compare, nothing written), and with 20 cached skills new to the project (each run in a
new project directory, created outside the timing), of which the pull writes its bound
(``PULL_MAX_WRITES``) and leaves the rest to agentd's pass for the same start.
Runs the real console script (``.venv/bin/hivemind``) the way Claude Code runs it, with
a temporary Hivemind home holding config.json and the pre-compiled redaction cache (as
``hivemind install`` leaves it), and byte code cached (``PYTHONDONTWRITEBYTECODE`` is
removed; a temporary ``PYTHONPYCACHEPREFIX`` keeps the checkout clean).

    python -m bench.capture            # 200 runs of each
    HIVEMIND_BENCH_RUNS=50 python -m bench.capture
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from hivemind_kafka.producers.hook.skill_pull import PULL_MAX_WRITES

ROOT = Path(__file__).resolve().parents[1]


def _payloads() -> dict[str, bytes]:
    small = {
        "session_id": "bench-session", "transcript_path": "/tmp/bench.jsonl",
        "cwd": str(ROOT), "permission_mode": "default", "hook_event_name": "PreToolUse",
        "tool_name": "Bash", "tool_input": {"command": "pytest -q tests/unit", "timeout": 120000},
        "tool_use_id": "toolu_01BenchBenchBenchBench01",
    }
    # A typical large result: 16 KiB of a Read of source code (capped there anyway).
    source = (ROOT / "producers" / "hook" / "spool.py").read_text()
    while len(source) < 40_000:
        source += source
    large = {
        "session_id": "bench-session", "transcript_path": "/tmp/bench.jsonl",
        "cwd": str(ROOT), "permission_mode": "default", "hook_event_name": "PostToolUse",
        "tool_name": "Read", "tool_input": {"file_path": str(ROOT / "producers" / "hook" / "spool.py")},
        "tool_response": {"type": "text", "file": {"filePath": "producers/hook/spool.py",
                                                   "content": source, "numLines": 900}},
        "tool_use_id": "toolu_01BenchBenchBenchBench02",
    }
    return {"small": json.dumps(small).encode(), "large": json.dumps(large).encode()}


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def run() -> dict[str, float]:
    runs = int(os.environ.get("HIVEMIND_BENCH_RUNS", "200"))
    python = sys.executable
    script = Path(python).parent / "hivemind"
    hook = [str(script), "capture"] if script.exists() else [python, "-m", "hivemind_kafka.cli.main", "capture"]
    tmp = Path(tempfile.mkdtemp(prefix="hivemind-bench-capture-"))
    try:
        home = tmp / "home"
        home.mkdir()
        (home / "config.json").write_text(json.dumps({
            "workspace_id": "bench", "agent_id": "cc-bench", "agent_kind": "coding",
            "max_field_bytes": 16384, "agentd_autostart": False}))
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(HIVEMIND_HOME=str(home), PYTHONPYCACHEPREFIX=str(tmp / "pycache"))
        from hivemind_kafka.producers.hook.capture import write_redactor_cache

        write_redactor_cache(str(home))
        # A second home whose spool lock another process holds for the whole run.
        held_home = tmp / "home-held"
        held_home.mkdir()
        (held_home / "config.json").write_text((home / "config.json").read_text())
        write_redactor_cache(str(held_home))
        (held_home / "spool").mkdir()
        holder = subprocess.Popen(
            [python, "-c", "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | "
             "os.O_CREAT, 0o600); fcntl.flock(fd, fcntl.LOCK_EX); print(flush=True); "
             "sys.stdin.read()", str(held_home / "spool" / ".lock")],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        assert holder.stdout is not None and holder.stdout.readline() == b"\n"
        held_env = {**env, "HIVEMIND_HOME": str(held_home)}
        files = {}
        for name, body in _payloads().items():
            files[name] = tmp / f"{name}.json"
            files[name].write_bytes(body)
        starts = {label: _session_start_home(tmp / f"start-{label}", skills)
                  for label, skills in (("empty", 0), ("unchanged", 20), ("new", 20))}
        # The hook as installed (the console script), and the same capture call without
        # the console script's entry() wrapper, which isolates what that wrapper costs.
        direct = [python, "-c", "import sys; from hivemind_kafka.cli.main import main; sys.exit(main(['capture']))"]
        cases: dict[str, tuple[list[str], Path | None, dict[str, str]]] = {
            "python -c pass": ([python, "-c", "pass"], None, env), **{
                f"capture {name}": (hook, path, env) for name, path in files.items()},
            "capture small direct": (direct, files["small"], env),
            "capture small, lock held": (hook, files["small"], held_env),
            "session start, no cache": (hook, starts["empty"].payload,
                                        {**env, "HIVEMIND_HOME": str(starts["empty"].home)}),
            "session start, 20 on disk": (hook, starts["unchanged"].payload,
                                          {**env, "HIVEMIND_HOME": str(starts["unchanged"].home)}),
            "session start, 20 new": (hook, starts["new"].payload,
                                           {**env, "HIVEMIND_HOME": str(starts["new"].home)})}
        prepare = {"session start, 20 new": starts["new"].new_project}

        def once(argv: list[str], stdin: Path | None, case_env: dict[str, str],
                 name: str = "") -> float:
            if name in prepare:
                prepare[name]()
            with open(stdin or os.devnull, "rb") as f:
                t0 = time.perf_counter()
                done = subprocess.run(argv, stdin=f, stdout=subprocess.PIPE, env=case_env)
                elapsed = time.perf_counter() - t0
            assert done.returncode == 0 and done.stdout == b"", (argv, done)
            return elapsed

        try:
            for name, (argv, stdin, case_env) in cases.items():  # warm caches, byte code
                for _ in range(3):
                    once(argv, stdin, case_env, name)
            times: dict[str, list[float]] = {name: [] for name in cases}
            for _ in range(runs):
                for name, (argv, stdin, case_env) in cases.items():
                    times[name].append(once(argv, stdin, case_env, name))
        finally:
            holder.communicate(b"", timeout=30)  # releases the lock

        from hivemind_kafka.producers.hook.spool import Spool, spool_dir

        spooled = Spool(spool_dir(home)).stats().records
        expected = runs * 3 + 9
        assert spooled == expected, f"{spooled} records spooled, expected {expected}"
        held_spool = Spool(spool_dir(held_home))
        deferred = held_spool.stats().deferred
        assert deferred == runs + 3, f"{deferred} side files, expected {runs + 3}"
        held_spool.adopt_deferred()
        seqs = [r.seq for r in held_spool.read(max_records=10**6).records]
        assert seqs == list(range(runs + 3)), "side files lost, reordered or mis-numbered"

        starts["empty"].check(runs + 3, 0)
        starts["unchanged"].check(runs + 3, 20)
        # Each run's project was new: it started empty, and the pull wrote its bound of
        # the 20 (agentd's pass for the same start writes the rest).
        starts["new"].check(runs + 3, 0, written=min(20, PULL_MAX_WRITES))

        base50 = _pct(times["python -c pass"], 0.5)
        base99 = _pct(times["python -c pass"], 0.99)
        out: dict[str, float] = {}
        print(f"{'case':<30}{'p50 ms':>10}{'p99 ms':>10}{'p50 x':>8}{'p99 x':>8}   ({runs} runs each)")
        for name, values in times.items():
            p50, p99 = _pct(values, 0.5), _pct(values, 0.99)
            key = name.replace(",", "").replace(" ", "_").replace("-", "")
            out[f"{key}_p50_ms"] = round(p50 * 1000, 2)
            out[f"{key}_p99_ms"] = round(p99 * 1000, 2)
            if name != "python -c pass":
                out[f"{key}_p50_ratio"] = round(p50 / base50, 2)
                out[f"{key}_p99_ratio"] = round(p99 / base99, 2)
            print(f"{name:<30}{p50 * 1000:>10.2f}{p99 * 1000:>10.2f}"
                  f"{p50 / base50:>8.2f}{p99 / base99:>8.2f}")
        out.update(_spool_figures(tmp / "spool-bench"))
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _SessionStartHome:
    """A Hivemind home and a git project for SessionStart runs, with ``skills`` skills in
    the pull's cache (what agentd's sync leaves), already pulled once unless reset."""

    def __init__(self, root: Path, skills: int) -> None:
        from hivemind_kafka.producers.hook.capture import write_redactor_cache

        self.home, self.project = root / "home", root / "project"
        (self.project / ".git").mkdir(parents=True)
        self.home.mkdir(parents=True)
        (self.home / "config.json").write_text(json.dumps({
            "workspace_id": "bench", "agent_id": "cc-bench", "agent_kind": "coding",
            "max_field_bytes": 16384, "agentd_autostart": False}))
        write_redactor_cache(str(self.home))
        self.skills = skills
        if skills:
            _write_bench_cache(self.home, skills)
        self.payload = root / "start.json"
        self.payload.write_text(json.dumps({
            "session_id": "bench-start", "transcript_path": "/tmp/bench.jsonl",
            "cwd": str(self.project), "hook_event_name": "SessionStart", "source": "startup",
            "model": "claude-sonnet-4-5"}))

    def new_project(self) -> Path:
        """A project the pull has never written into (a new directory, as a new clone
        is): its SessionStart payload file."""
        self.runs = getattr(self, "runs", 0) + 1
        self.project = self.payload.parent / f"project-{self.runs}"
        (self.project / ".git").mkdir(parents=True)
        payload = json.loads(self.payload.read_text())
        self.payload.write_text(json.dumps({**payload, "cwd": str(self.project)}))
        return self.payload

    def check(self, starts: int, in_scope: int, written: int | None = None) -> None:
        """Every run spooled its start; ``written`` of the cached skills (default: all)
        are on disk after the last one, whose scope (what it started with) held
        ``in_scope`` skills."""
        from hivemind_kafka.producers.hook.spool import Spool, spool_dir

        records = Spool(spool_dir(self.home)).read(max_records=10**6).records
        assert len(records) == starts, (self.home, len(records), starts)
        on_disk = list((self.project / ".claude" / "skills").glob("*/SKILL.md"))
        expected = self.skills if written is None else written
        assert len(on_disk) == expected, (self.project, len(on_disk), expected)
        scope = json.loads(records[-1].data.get("extra") or "{}").get("skills_in_scope", [])
        assert len(scope) == in_scope, scope


def _write_bench_cache(home: Path, n: int) -> None:
    """``n`` skills of ~1.5 KB vetted for the bench agent (none held out), as a sync caches."""
    from datetime import UTC, datetime

    from hivemind_kafka.producers.hook.skill_pull import write_cache
    from hivemind_kafka.producers.sync.skill_files import vet_skills
    from hivemind_kafka.schemas.holdout import is_held_out
    from hivemind_kafka.schemas.skills import Decision, PublishedSkill, Skill, SkillProvenance

    at = datetime(2026, 12, 1, tzinfo=UTC)
    names = [n for n in (f"bench-skill-{i}" for i in range(4 * n))
             if not is_held_out(n, "cc-bench")][:n]
    skills = {name: PublishedSkill(Skill(
        workspace_id="bench", name=name, version=1,
        description=f"Use when the {name} situation comes up in this repository",
        body=("Run `make check` before committing; prefer `python -m pytest -q`.\n" * 24),
        provenance=SkillProvenance(source_session_ids=["s1"], codifier="offline",
                                   decision=Decision.KEEP, created_at=at)), at)
        for name in names}
    entries, _ = vet_skills(skills, workspace_id="bench", agent_id="cc-bench")
    write_cache(str(home), entries, workspace_id="bench", agent_id="cc-bench", complete=True)


def _session_start_home(root: Path, skills: int) -> _SessionStartHome:
    return _SessionStartHome(root, skills)


def _spool_figures(root: Path, n: int = 20_000) -> dict[str, float]:
    """In-process spool throughput: locked appends of ~400 B records, then read + ack."""
    from hivemind_kafka.producers.hook.spool import Spool

    spool = Spool(root)
    record = {"event_id": "0" * 32, "kind": "tool_call", "tool_input": "x" * 300}
    t0 = time.perf_counter()
    for i in range(n):
        spool.append(record, seq_key=f"s{i % 8}")
    append_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    read = 0
    while True:
        batch = spool.read(max_records=500)
        if not batch.records:
            break
        read += len(batch.records)
        spool.ack(batch.cursor)
    read_s = time.perf_counter() - t0
    assert read == n
    figures: dict[str, float] = {"spool_append_per_s": round(n / append_s),
                                 "spool_read_ack_per_s": round(n / read_s)}
    print(f"spool: {figures['spool_append_per_s']:,} appends/s (flock + O_APPEND write each), "
          f"{figures['spool_read_ack_per_s']:,} records/s read and acked in batches of 500")
    return figures


if __name__ == "__main__":
    from bench import help_requested

    if help_requested(__doc__):
        sys.exit(0)
    run()

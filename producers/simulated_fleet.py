"""A simulated fleet of agents for the demo, the benchmarks and end-to-end tests.

Three workspaces, each with coding, support and SDR agents, replaying realistic turn
sequences through the real SDK: clean successes, sessions where a tool fails and a human
corrects the agent ("no, use X instead") before it succeeds, outcomes, sessions that are
abandoned (closed by the idle gap), subagent turns, and a few malformed records written
straight to the topic. Every workspace has a handful of recurring *lessons* (the same
failure, the same fix), which is what the codifier should turn into skills.

Deterministic for a given seed; :class:`SimulationReport` says exactly what was produced,
so tests and the demo can check the pipeline's output against it.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from schemas.events import AgentKind, EventKind


@dataclass(frozen=True)
class Lesson:
    """A recurring failure and its fix, as one workspace's agents keep meeting it."""

    ask: str
    tool: str
    failing_input: str
    failure: str
    correction: str
    working_input: str
    success: str
    outcome: str
    working_tool: str | None = None  # the fix may be another tool (escalate, not refund)


LESSONS: dict[AgentKind, list[Lesson]] = {
    AgentKind.CODING: [
        Lesson("Run the unit tests and fix what fails.", "Bash",
               '{"command": "pytest tests/"}', "bash: pytest: command not found\nexit code 127",
               "No, use `python -m pytest -x -q` instead; pytest is only installed in the venv.",
               '{"command": "python -m pytest -x -q"}', "42 passed in 3.1s", "tests_passed"),
        Lesson("Apply the pending database migrations.", "Bash",
               '{"command": "alembic upgrade head"}',
               "FAILED: Can't locate revision identified by 'a91f3c'\nexit code 1",
               "That's wrong: run `make db-reset` first, the local database is stale.",
               '{"command": "make db-reset && alembic upgrade head"}',
               "INFO  [alembic.runtime.migration] Running upgrade -> a91f3c", "change_accepted"),
        Lesson("Build the frontend bundle.", "Bash",
               '{"command": "npm run build"}',
               "Error: Node.js v18 is not supported, use >= 20\nexit code 1",
               "No, use `nvm use 20` before building; the repo pins Node 20 in .nvmrc.",
               '{"command": "nvm use 20 && npm run build"}', "built in 8.2s", "committed"),
    ],
    AgentKind.SUPPORT: [
        Lesson("Customer asks for a refund of $240 on order 88812.", "refunds.create",
               '{"order": "88812", "amount": 240}', "error: amount exceeds agent refund limit ($100)",
               "Don't retry the refund: escalate refunds above $100 with tickets.escalate to team billing.",
               '{"ticket": "88812", "team": "billing"}', "escalated to billing (ticket 88812)",
               "escalated", working_tool="tickets.escalate"),
        Lesson("Customer cannot log in after a password reset.", "auth.unlock",
               '{"user": "c-3391"}', "error: account locked by fraud rule FR-12",
               "No, instead clear the fraud flag with fraud.review first, then unlock.",
               '{"user": "c-3391", "after": "fraud.review"}', "account unlocked", "resolved"),
    ],
    AgentKind.SDR: [
        Lesson("Draft an intro email to the VP Engineering at Northwind.", "crm.lookup",
               '{"company": "northwind.io"}', "error: no account for domain northwind.io",
               "That's wrong: look the account up by its legal name, Northwind Traders, not the domain.",
               '{"company": "Northwind Traders"}', "account 4411, VP Eng: Dana Wu", "meeting_booked"),
        Lesson("Follow up with leads that opened last week's email.", "sequences.enroll",
               '{"sequence": "q4-followup", "leads": "opened"}',
               "error: sequence q4-followup is paused", "No, use sequence q4-followup-v2 instead; v1 was paused.",
               '{"sequence": "q4-followup-v2", "leads": "opened"}', "enrolled 37 leads", "replied"),
    ],
}

SUCCESS_TASKS: dict[AgentKind, list[tuple[str, str, str, str, str]]] = {
    # (prompt, tool, input, output, outcome)
    AgentKind.CODING: [
        ("Rename the helper parse_cfg to parse_config.", "Edit",
         '{"file_path": "src/config.py"}', "edited 3 lines", "change_accepted"),
        ("Show the git log of the last week.", "Bash", '{"command": "git log --since=1.week"}',
         "12 commits", ""),
    ],
    AgentKind.SUPPORT: [
        ("Where is my order 1234?", "orders.lookup", '{"order": "1234"}', "shipped 2026-11-20",
         "resolved"),
    ],
    AgentKind.SDR: [
        ("Find three fintech prospects in Berlin.", "crm.search", '{"industry": "fintech", "city": "Berlin"}',
         "3 accounts", "no_reply"),
    ],
}

AGENT_KINDS = (AgentKind.CODING, AgentKind.SUPPORT, AgentKind.SDR)
PROJECTS = {AgentKind.CODING: "webshop", AgentKind.SUPPORT: "helpdesk", AgentKind.SDR: "outbound"}


@dataclass
class SimulationReport:
    events: int = 0
    sessions: int = 0
    by_kind: Counter = field(default_factory=Counter)
    expected_close: Counter = field(default_factory=Counter)  # session_end / idle
    corrected_sessions: int = 0
    malformed_records: int = 0
    session_ids: list[str] = field(default_factory=list)
    event_ids: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FleetPlan:
    workspaces: tuple[str, ...] = ("acme", "globex", "initech")
    agents_per_kind: int = 2
    sessions: int = 300
    correction_share: float = 0.35
    abandon_share: float = 0.08
    trivial_share: float = 0.12
    malformed_records: int = 4
    seed: int = 7


def simulate(connect: Callable[..., object], plan: FleetPlan = FleetPlan(), *,
             send_raw: Callable[[bytes], None] | None = None,
             progress: Callable[[int, int], None] | None = None,
             start: datetime | None = None) -> SimulationReport:
    """Replay ``plan.sessions`` sessions through SDK fleets made by ``connect``.

    ``connect(workspace_id=, agent_id=, agent_kind=, project=)`` returns an open
    :class:`producers.sdk.Fleet`; each is closed (flushed) before returning.
    ``send_raw`` writes malformed records straight to the turns topic.
    """
    rng = random.Random(plan.seed)
    report = SimulationReport()
    fleets = {}
    for ws in plan.workspaces:
        for kind in AGENT_KINDS:
            for i in range(plan.agents_per_kind):
                agent_id = f"{ws}-{kind.value}-{i + 1}"
                fleets[(ws, kind, i)] = connect(workspace_id=ws, agent_id=agent_id,
                                                agent_kind=kind, project=PROJECTS[kind])
    keys = list(fleets)
    clock = start or datetime.now(UTC) - timedelta(minutes=2)
    try:
        for n in range(plan.sessions):
            fleet = fleets[rng.choice(keys)]
            clock += timedelta(milliseconds=rng.randint(50, 400))
            _one_session(fleet, rng, plan, report, clock)
            if progress and (n + 1) % 25 == 0:
                progress(n + 1, plan.sessions)
        if send_raw is not None:
            for raw in malformed_records()[: plan.malformed_records]:
                send_raw(raw)
                report.malformed_records += 1
    finally:
        for fleet in fleets.values():
            fleet.close()  # type: ignore[attr-defined]
    return report


def malformed_records() -> list[bytes]:
    """Bad input the pipeline must dead-letter without stopping."""
    return [
        b'{"event_id": "bad-1", "workspace_id": "acme", ',  # truncated JSON
        b'{"event_id": "bad-2", "workspace_id": "acme", "session_id": "s", "agent_id": "a",'
        b' "agent_kind": "coding", "project": "p", "seq": 0, "kind": "prompt"}',  # missing ts
        b'{"event_id": "bad-3", "workspace_id": "acme", "session_id": "s", "agent_id": "a",'
        b' "agent_kind": "coding", "project": "p", "seq": "first", "ts": "2026-11-26T10:00:00Z",'
        b' "kind": "prompt"}',  # wrong type
        b"\xff\xfe not even utf-8",
    ]


def _one_session(fleet, rng: random.Random, plan: FleetPlan, report: SimulationReport,
                 t0: datetime) -> None:
    kind: AgentKind = fleet.agent_kind
    ts = iter(t0 + timedelta(milliseconds=700 * i) for i in range(10_000))
    rec = fleet.open_session(start=False)
    report.session_ids.append(rec.session_id)
    ids = report.event_ids

    def add(method, *args, **kw):
        result = method(*args, ts=next(ts), **kw)
        report.events += 1
        ids.append(result if isinstance(result, str) else result.event_id)
        return result

    add(rec.record, EventKind.SESSION_START)
    roll = rng.random()
    if roll < plan.trivial_share:
        add(rec.prompt, "Thanks, that's all for now.")
        add(rec.response, "You're welcome!")
    elif roll < plan.trivial_share + plan.correction_share:
        lesson = rng.choice(LESSONS[kind])
        report.corrected_sessions += 1
        add(rec.prompt, lesson.ask)
        call = add(rec.tool_call, lesson.tool, lesson.failing_input)
        add(rec.tool_result, call, lesson.failure, is_error=True)
        add(rec.response, f"The {lesson.tool} call failed; retrying the same way.")
        add(rec.prompt, lesson.correction)
        call = add(rec.tool_call, lesson.working_tool or lesson.tool, lesson.working_input)
        add(rec.tool_result, call, lesson.success)
        add(rec.response, "Done: " + lesson.success.splitlines()[0])
        add(rec.outcome, lesson.outcome)
    else:
        prompt, tool, tool_input, output, outcome = rng.choice(SUCCESS_TASKS[kind])
        add(rec.prompt, prompt)
        call = add(rec.tool_call, tool, tool_input)
        if kind is AgentKind.CODING and rng.random() < 0.3:
            sub = add(rec.tool_call, "Task", '{"description": "explore the codebase"}',
                      subagent_type="Explore")
            add(rec.tool_result, sub, "found 3 call sites", subagent_type="Explore")
        add(rec.tool_result, call, output)
        add(rec.response, "Done.")
        if outcome:
            add(rec.outcome, outcome)
    add(rec.stop)  # the end of the last turn, as Claude Code sends after every turn
    if rng.random() < plan.abandon_share:
        report.expected_close["idle"] += 1
        # No session_end: the session is closed by the sessionizer's idle gap.
        fleet.flush_session(rec.session_id)
    else:
        add(rec.end)
        report.expected_close["session_end"] += 1
    report.sessions += 1


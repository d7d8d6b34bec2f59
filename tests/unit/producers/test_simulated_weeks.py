"""The demo fleet's planted truth (pure parts): what a skill does to an agent that has it,
how an agent recognises the lesson a skill teaches, and the simulated calendar."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from hivemind_kafka.cli.demo import sim_start
from hivemind_kafka.producers.sdk.simulated_fleet import (
    LESSONS,
    Exposure,
    Plant,
    WeeksPlan,
    WeeksReport,
    lessons_of_skill,
    success_chance,
)
from hivemind_kafka.schemas.events import AgentKind


def test_without_skills_a_lesson_session_fails_more_than_a_routine_one():
    plan = WeeksPlan()
    m_lesson, p_lesson = success_chance(plan, lesson="coding:0", present=set())
    m_routine, p_routine = success_chance(plan, lesson=None, present=set())
    assert m_routine == 0 and p_routine == plan.success_clean
    assert m_lesson == plan.mistake_rate and p_lesson < p_routine


def test_a_helpful_skill_lowers_only_its_own_lessons_mistake():
    plan = WeeksPlan()
    base = success_chance(plan, lesson="coding:0", present=set())
    helped = success_chance(plan, lesson="coding:0", present={"coding:0"})
    other = success_chance(plan, lesson="coding:0", present={"coding:1"})
    assert helped[0] < base[0] and helped[1] > base[1]
    assert other == base


def test_the_harmful_skill_hurts_every_session_and_chances_stay_probabilities():
    plan = WeeksPlan(plants={"support:1": Plant(success_shift=-2.0)})
    for lesson in (None, "support:0", "support:1"):
        _, p = success_chance(plan, lesson=lesson, present={"support:1"})
        assert 0 < p < 1
        assert p < success_chance(plan, lesson=lesson, present=set())[1]


def test_a_skill_merged_from_two_lessons_teaches_both_and_unrelated_text_none():
    pytest_fix = LESSONS[AgentKind.CODING][0]
    npm_fix = LESSONS[AgentKind.CODING][2]
    text = f"worked:\n```\n{pytest_fix.working_input}\n```\nalso: nvm use 20 && npm run build"
    assert lessons_of_skill(AgentKind.CODING, text) == {"coding:0", "coding:2"}
    assert npm_fix.working_input not in text  # matched through the quoted command
    assert lessons_of_skill(AgentKind.CODING, "Be careful with the database.") == set()
    # Another vertical's lesson text is not read as this vertical's lesson.
    assert lessons_of_skill(AgentKind.SDR, text) == set()


def test_true_effect_is_present_minus_held_out_mean_chance():
    report = WeeksReport(exposures=[
        Exposure("acme", "s", 1, "present", 2, 0.9), Exposure("acme", "s", 1, "present", 2, 0.7),
        Exposure("acme", "s", 1, "held_out", 2, 0.5),
        Exposure("acme", "only-present", 1, "present", 2, 0.5)])
    truth = report.true_effects()
    assert math.isclose(truth[("acme", "s", 1)][0], 0.3)
    assert truth[("acme", "s", 1)][1:] == (2, 1)
    assert math.isnan(truth[("acme", "only-present", 1)][0])


def test_sim_start_is_a_monday_and_the_weeks_end_before_now():
    now = datetime(2026, 12, 7, 5, 0, tzinfo=UTC)  # a Monday morning
    start = sim_start(now, 4)
    assert start == datetime(2026, 11, 9, tzinfo=UTC) and start.weekday() == 0
    sunday = datetime(2026, 12, 6, 23, 59, tzinfo=UTC)
    assert sim_start(sunday, 1) == datetime(2026, 11, 23, tzinfo=UTC)


class _Rec:
    def __init__(self, sid: str) -> None:
        self.session_id, self.sent = sid, []

    def outcome(self, label, ts):
        self.sent.append((label, ts))


class _Fleet:
    def __init__(self) -> None:
        self.flushed: list[str] = []

    def flush_session(self, sid: str) -> None:
        self.flushed.append(sid)


def test_late_outcomes_are_sent_only_once_simulated_time_has_passed_them():
    from datetime import timedelta

    from hivemind_kafka.producers.sdk.simulated_fleet import _send_due

    t = datetime(2026, 11, 16, tzinfo=UTC)
    fleet, early, due, future = _Fleet(), _Rec("a"), _Rec("b"), _Rec("c")
    late = [(fleet, early, "resolved", t - timedelta(hours=1)),
            (fleet, due, "escalated", t),  # exactly at the boundary: not yet
            (fleet, future, "resolved", t + timedelta(days=3))]
    report = WeeksReport()
    kept = _send_due(late, t, report)
    assert early.sent == [("resolved", t - timedelta(hours=1))] and fleet.flushed == ["a"]
    assert [entry[1] for entry in kept] == [due, future] and report.events == 1
    assert _send_due(kept, None, report) == [] and report.events == 3

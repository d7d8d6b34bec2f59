from datetime import UTC, datetime, timedelta

import pytest

from hivemind_kafka.runtime.clock import SimClock, SystemClock, clock_for
from hivemind_kafka.runtime.settings import Settings

T0 = datetime(2026, 11, 9, tzinfo=UTC)


def test_sim_clock_without_start_takes_the_first_event_time_even_in_the_past():
    clock = SimClock()
    assert clock.advance_to(T0) == T0  # weeks before the wall clock: still taken
    assert clock.now() == T0


def test_sim_clock_never_goes_back():
    clock = SimClock(T0)
    clock.advance_to(T0 + timedelta(days=2))
    assert clock.advance_to(T0 + timedelta(days=1)) == T0 + timedelta(days=2)
    with pytest.raises(ValueError, match="does not go back"):
        clock.advance(timedelta(seconds=-1))


def test_sim_clock_equal_time_is_unchanged():
    clock = SimClock(T0)
    assert clock.advance_to(T0) == T0


def test_sim_clock_refuses_naive_times():
    with pytest.raises(ValueError, match="naive"):
        SimClock(datetime(2026, 11, 9))
    with pytest.raises(ValueError, match="naive"):
        SimClock().advance_to(datetime(2026, 11, 9))


def test_sim_clock_converts_other_zones_to_utc():
    from datetime import timezone

    east = timezone(timedelta(hours=2))
    clock = SimClock(datetime(2026, 11, 9, 2, tzinfo=east))
    assert clock.now() == T0 and clock.now().tzinfo == UTC


def test_advance_moves_by_the_delta():
    clock = SimClock(T0)
    assert clock.advance(timedelta(hours=3)) == T0 + timedelta(hours=3)


def test_clock_for_the_setting():
    assert isinstance(clock_for("real"), SystemClock)
    assert isinstance(clock_for("sim"), SimClock)
    with pytest.raises(ValueError, match="real, sim"):
        clock_for("fast")


def test_clock_setting_from_env_rejects_unknown_modes():
    assert Settings.from_env({}).clock == "real"
    assert Settings.from_env({"HIVEMIND_CLOCK": "sim"}).clock == "sim"
    with pytest.raises(Exception, match="HIVEMIND_CLOCK"):
        Settings.from_env({"HIVEMIND_CLOCK": "yes"})

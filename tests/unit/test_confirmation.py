"""Confirmation: an action must hold for the required time; FakeClock only, never sleep."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from coinpilot.domain.clock import FakeClock
from coinpilot.domain.confirmation import ConfirmationState, advance, status_of
from coinpilot.domain.types import Action

FIVE_MIN = timedelta(minutes=5)


def test_new_buy_starts_the_timer_unconfirmed(clock: FakeClock) -> None:
    state, status = advance(ConfirmationState(), Action.BUY, clock.now(), FIVE_MIN)
    assert state == ConfirmationState(Action.BUY, clock.now())
    assert (status.confirmed, status.progress, status.elapsed_seconds) == (False, 0.0, 0.0)
    assert status.remaining_seconds == 300.0


def test_same_action_held_for_the_required_time_is_confirmed(clock: FakeClock) -> None:
    start = clock.now()
    state, _ = advance(ConfirmationState(), Action.SELL, start, FIVE_MIN)
    clock.advance(seconds=299)
    state, status = advance(state, Action.SELL, clock.now(), FIVE_MIN)
    assert not status.confirmed and status.remaining_seconds == pytest.approx(1.0)
    clock.advance(seconds=1)
    state, status = advance(state, Action.SELL, clock.now(), FIVE_MIN)
    assert status.confirmed and status.progress == 1.0 and status.remaining_seconds == 0.0
    assert state.since == start


def test_progress_is_the_fraction_of_required_time(clock: FakeClock) -> None:
    state, _ = advance(ConfirmationState(), Action.BUY, clock.now(), FIVE_MIN)
    clock.advance(seconds=90)
    _, status = advance(state, Action.BUY, clock.now(), FIVE_MIN)
    assert status.progress == pytest.approx(0.3)
    assert status.elapsed_seconds == pytest.approx(90.0)
    assert status.remaining_seconds == pytest.approx(210.0)


def test_change_of_action_resets_the_timer(clock: FakeClock) -> None:
    state, _ = advance(ConfirmationState(), Action.BUY, clock.now(), FIVE_MIN)
    clock.advance(seconds=280)
    state, status = advance(state, Action.SELL, clock.now(), FIVE_MIN)
    assert state == ConfirmationState(Action.SELL, clock.now())
    assert status.elapsed_seconds == 0.0 and not status.confirmed


def test_hold_clears_the_state(clock: FakeClock) -> None:
    state, _ = advance(ConfirmationState(), Action.BUY, clock.now(), FIVE_MIN)
    clock.advance(seconds=200)
    state, status = advance(state, Action.HOLD, clock.now(), FIVE_MIN)
    assert state == ConfirmationState()
    assert status.action is None and not status.confirmed and status.progress == 0.0
    clock.advance(seconds=200)
    state, status = advance(state, Action.BUY, clock.now(), FIVE_MIN)
    assert not status.confirmed and state.since == clock.now()


def test_zero_required_duration_confirms_immediately(clock: FakeClock) -> None:
    _, status = advance(ConfirmationState(), Action.BUY, clock.now(), timedelta(0))
    assert status.confirmed and status.progress == 1.0 and status.remaining_seconds == 0.0


def test_hold_is_never_confirmed_even_with_zero_duration(clock: FakeClock) -> None:
    _, status = advance(ConfirmationState(), Action.HOLD, clock.now(), timedelta(0))
    assert not status.confirmed


def test_restarted_keeps_the_action_and_restarts_the_timer(clock: FakeClock) -> None:
    state, _ = advance(ConfirmationState(), Action.BUY, clock.now(), FIVE_MIN)
    clock.advance(minutes=6)
    state, status = advance(state, Action.BUY, clock.now(), FIVE_MIN)
    assert status.confirmed
    state = state.restarted(clock.now())  # an order was just placed
    assert state == ConfirmationState(Action.BUY, clock.now())
    clock.advance(minutes=1)
    state, status = advance(state, Action.BUY, clock.now(), FIVE_MIN)
    assert not status.confirmed and status.elapsed_seconds == pytest.approx(60.0)


def test_restarting_an_empty_state_leaves_it_empty(clock: FakeClock) -> None:
    assert ConfirmationState().restarted(clock.now()) == ConfirmationState()


def test_state_survives_a_restart_through_its_stored_columns(clock: FakeClock) -> None:
    state, _ = advance(ConfirmationState(), Action.SELL, clock.now(), FIVE_MIN)
    # what the store keeps: confirm_action, confirm_since
    stored_action, stored_since = state.action, state.since
    clock.advance(minutes=5)
    revived = ConfirmationState(stored_action, stored_since)
    _, status = advance(revived, Action.SELL, clock.now(), FIVE_MIN)
    assert status.confirmed


def test_state_to_dict_round_trips(clock: FakeClock) -> None:
    state = ConfirmationState(Action.BUY, clock.now())
    assert ConfirmationState.from_dict(json.loads(json.dumps(state.to_dict()))) == state
    assert ConfirmationState.from_dict(ConfirmationState().to_dict()) == ConfirmationState()


def test_status_of_does_not_change_the_state(clock: FakeClock) -> None:
    state = ConfirmationState(Action.BUY, clock.now())
    clock.advance(minutes=2)
    status = status_of(state, clock.now(), FIVE_MIN)
    assert status.progress == pytest.approx(0.4)
    assert state == ConfirmationState(Action.BUY, clock.now() - timedelta(minutes=2))


def test_clock_moving_backwards_never_confirms_early(clock: FakeClock) -> None:
    state = ConfirmationState(Action.BUY, clock.now())
    status = status_of(state, clock.now() - timedelta(hours=1), FIVE_MIN)
    assert status.elapsed_seconds == 0.0 and not status.confirmed


def test_status_to_dict_is_json_able_with_iso_times(clock: FakeClock) -> None:
    state = ConfirmationState(Action.SELL, clock.now())
    d = json.loads(json.dumps(status_of(state, clock.now(), FIVE_MIN).to_dict()))
    assert d["action"] == "sell"
    assert datetime.fromisoformat(d["since"]) == clock.now()
    assert d["required_seconds"] == 300.0 and d["confirmed"] is False


def test_state_rejects_hold_and_half_filled_values() -> None:
    now = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(ValueError):
        ConfirmationState(Action.HOLD, now)
    with pytest.raises(ValueError):
        ConfirmationState(Action.BUY, None)
    with pytest.raises(ValueError):
        ConfirmationState(None, now)


def test_naive_times_and_negative_durations_are_rejected(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        advance(ConfirmationState(), Action.BUY, datetime(2024, 1, 1), FIVE_MIN)
    with pytest.raises(ValueError):
        advance(ConfirmationState(), Action.BUY, clock.now(), timedelta(seconds=-1))


def test_a_gap_longer_than_the_allowed_restarts_the_timer_and_an_equal_gap_keeps_it() -> None:
    from coinpilot.domain.confirmation import max_unobserved

    t0 = datetime(2024, 1, 1, tzinfo=UTC)
    gap = max_unobserved(60, 3600)
    assert gap == timedelta(hours=1) and max_unobserved(3600, 60) == timedelta(hours=2)
    state = ConfirmationState(Action.BUY, t0)
    kept, status = advance(
        state,
        Action.BUY,
        t0 + timedelta(hours=1, minutes=1),
        timedelta(minutes=30),
        last_seen=t0 + timedelta(minutes=1),
        max_gap=gap,
    )
    assert kept.since == t0 and status.confirmed
    later = t0 + timedelta(hours=2, minutes=2)
    restarted, status = advance(
        state, Action.BUY, later, timedelta(minutes=30), last_seen=t0 + timedelta(minutes=1), max_gap=gap
    )
    assert restarted.since == later and not status.confirmed

"""The consecutive-loss lock (domain/loss_lock.py): N losing exits in a row within the lookback
window lock entries for a duration after the newest; a resume clears it; a win ends the streak."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.loss_lock import leading_losses, loss_lock, window_start

NOW = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
LIM = SafetyLimits(max_consecutive_losses=3, loss_streak_lookback_hours=24, loss_streak_lock_hours=12)
LOSS, WIN = Decimal("-1"), Decimal("1")


def ago(hours: float) -> datetime:
    return NOW - timedelta(hours=hours)


def test_three_losses_in_the_window_lock_for_the_duration_after_the_newest() -> None:
    lock = loss_lock([(ago(1), LOSS), (ago(2), LOSS), (ago(3), LOSS)], NOW, LIM)
    assert lock.losses == 3 and lock.until == ago(1) + timedelta(hours=12)
    assert lock.active(NOW) and not lock.active(ago(1) + timedelta(hours=12))


def test_two_losses_do_not_lock() -> None:
    lock = loss_lock([(ago(1), LOSS), (ago(2), LOSS)], NOW, LIM)
    assert lock.losses == 2 and lock.until is None and not lock.active(NOW)


def test_a_win_ends_the_streak() -> None:
    assert not loss_lock([(ago(1), LOSS), (ago(2), WIN), (ago(3), LOSS), (ago(4), LOSS)], NOW, LIM).active(
        NOW
    )
    assert leading_losses([(ago(1), LOSS), (ago(2), Decimal(0)), (ago(3), LOSS)]) == 1


def test_losses_older_than_the_lookback_window_do_not_count() -> None:
    lock = loss_lock([(ago(1), LOSS), (ago(2), LOSS), (ago(25), LOSS)], NOW, LIM)
    assert lock.losses == 2 and not lock.active(NOW)


def test_the_lock_expires_by_itself() -> None:
    exits = [(ago(13), LOSS), (ago(14), LOSS), (ago(15), LOSS)]
    assert not loss_lock(exits, NOW, LIM).active(NOW)
    assert loss_lock(exits, ago(2), LIM).active(ago(2))


def test_a_resume_clears_the_lock_losses_before_it_no_longer_count() -> None:
    exits = [(ago(1), LOSS), (ago(2), LOSS), (ago(3), LOSS)]
    assert not loss_lock(exits, NOW, LIM, cleared_at=ago(0.5)).active(NOW)
    assert loss_lock(exits, NOW, LIM, cleared_at=ago(1.5)).losses == 1
    assert window_start(NOW, LIM, ago(1.5)) == ago(1.5)
    assert window_start(NOW, LIM, ago(30)) == ago(24)

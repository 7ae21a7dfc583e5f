"""The optional cooling exit: below a temperature for the whole confirmation period, not once."""

from datetime import UTC, datetime, timedelta

from coinpilot.domain.cooling import Reading, cooling_exit_due, history_needed_since
from coinpilot.domain.strategy_config import StrategyConfig
from coinpilot.domain.types import TemperatureLevel as T

NOW = datetime(2024, 3, 1, 12, tzinfo=UTC)
TH = 0.5  # buy and sell thresholds: score 0.1 is frozen, 0.2 cool, 0.35 warm, 0.5 hot


def readings(*pairs: tuple[int, float]) -> list[Reading]:
    """(minutes ago, score) pairs."""
    return [Reading(NOW - timedelta(minutes=m), s) for m, s in pairs]


def due(rs: list[Reading], minutes: float = 30) -> bool:
    return cooling_exit_due(rs, NOW, T.WARM, minutes, TH, TH)


def test_cool_for_the_whole_period_is_due() -> None:
    assert due(readings((40, 0.2), (30, 0.2), (20, 0.1), (10, 0.2), (0, 0.2)))


def test_one_warm_reading_inside_the_period_resets_it() -> None:
    assert not due(readings((40, 0.2), (30, 0.2), (20, 0.35), (10, 0.2), (0, 0.2)))


def test_not_yet_long_enough_is_not_due() -> None:
    assert not due(readings((40, 0.4), (25, 0.2), (10, 0.2), (0, 0.2)))


def test_leaning_to_sell_counts_as_cooled_for_a_position() -> None:
    assert due(readings((35, -0.4), (15, -0.9), (0, -0.2)))


def test_without_proof_of_the_whole_period_nothing_is_sold() -> None:
    assert not due(readings((20, 0.1), (0, 0.1)))  # history starts inside the period
    assert not due(readings((90, 0.1), (45, 0.1)))  # stale: nothing inside the period
    assert not due([])


def test_the_history_a_cooling_exit_needs_starts_at_its_period() -> None:
    on = StrategyConfig.from_dict({"cooling_exit_below": "warm", "cooling_exit_minutes": "1440"})
    assert history_needed_since(on, NOW) == NOW - timedelta(days=1)
    assert history_needed_since(StrategyConfig(), NOW) is None  # no cooling exit: nothing to keep

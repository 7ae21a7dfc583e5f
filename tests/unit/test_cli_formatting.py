"""The CLI's number formats (known answers)."""

from __future__ import annotations

from decimal import Decimal as D

from coinpilot.cli.formatting import duration, pct, to_increment, usd


def test_usd_has_symbol_two_decimals_grouping_and_a_sign_for_pnl() -> None:
    assert usd(D("1234.5")) == "$1,234.50"
    assert usd("0.005") == "$0.01"  # half up
    assert usd(D("-3.2")) == "−$3.20"
    assert usd(D("3.2"), signed=True) == "+$3.20"
    assert usd(D("0"), signed=True) == "$0.00"
    assert usd(None) == "—" and usd("abc") == "—"


def test_sizes_and_prices_follow_the_product_increment() -> None:
    assert to_increment(D("0.123456789"), D("0.00000001")) == "0.12345679"
    assert to_increment(D("64123.456789012345678901234567890"), D("0.01")) == "64,123.46"
    assert to_increment("2", "1E-8") == "2.00000000"
    assert to_increment(D("1.5"), None) == "1.5"


def test_percentages_carry_their_sign_and_durations_are_hours_and_minutes() -> None:
    assert pct(D("2.5")) == "+2.50%"
    assert pct(D("-1.254")) == "−1.25%"
    assert pct(0) == "0.00%"
    assert duration(0) == "0s"
    assert duration(59.2) == "1m"
    assert duration(61) == "2m"  # rounded up: never shows a cooldown as over early
    assert duration(3900) == "1h 05m"
    assert duration(90000) == "1d 1h"

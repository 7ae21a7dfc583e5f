"""Signal configuration: parsing, validation with field-named errors, data needs."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from coinpilot.domain.signal_config import (
    MacdConfig,
    MaCrossoverConfig,
    RsiConfig,
    SignalConfig,
    SignalConfigError,
    required_candles,
    validate_signal_config,
    validate_thresholds,
)


def fields_of_error(data: dict[str, Any]) -> set[str]:
    with pytest.raises(SignalConfigError) as info:
        SignalConfig.from_dict(data)
    return {e.field for e in info.value.errors}


def test_default_config_is_valid() -> None:
    assert validate_signal_config(SignalConfig.default()) == []


def test_to_dict_round_trips_through_json_and_from_dict() -> None:
    cfg = SignalConfig(
        RsiConfig(weight=0.5, period=7, oversold=25.0, overbought=75.0),
        MaCrossoverConfig(weight=0.5, fast_period=5, slow_period=50, ma_type="ema"),
        MacdConfig(enabled=False),
    )
    assert SignalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg


def test_missing_keys_take_defaults() -> None:
    cfg = SignalConfig.from_dict({"rsi": {"period": 21}})
    assert cfg.rsi.period == 21
    assert cfg.rsi.weight == 0.4
    assert cfg.macd == MacdConfig()


def test_unknown_top_level_key_is_rejected() -> None:
    assert "signal_config.bollinger" in fields_of_error({"bollinger": {}})


def test_unknown_section_key_is_rejected() -> None:
    assert "signal_config.rsi.lenght" in fields_of_error({"rsi": {"lenght": 14}})


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"rsi": {"period": "14"}}, "signal_config.rsi.period"),
        ({"rsi": {"period": 14.0}}, "signal_config.rsi.period"),
        ({"rsi": {"period": True}}, "signal_config.rsi.period"),
        ({"rsi": {"enabled": 1}}, "signal_config.rsi.enabled"),
        ({"rsi": {"weight": "0.4"}}, "signal_config.rsi.weight"),
        ({"rsi": {"weight": float("nan")}}, "signal_config.rsi.weight"),
        ({"ma_crossover": {"ma_type": 1}}, "signal_config.ma_crossover.ma_type"),
        ({"macd": []}, "signal_config.macd"),
    ],
)
def test_wrong_types_are_rejected_with_their_field(data: dict[str, Any], field: str) -> None:
    assert field in fields_of_error(data)


def test_from_dict_rejects_a_non_mapping() -> None:
    with pytest.raises(SignalConfigError):
        SignalConfig.from_dict([])  # type: ignore[arg-type]


def test_integral_float_is_accepted_for_weights_and_levels() -> None:
    cfg = SignalConfig.from_dict({"rsi": {"oversold": 25, "weight": 0.4}})
    assert cfg.rsi.oversold == 25.0 and isinstance(cfg.rsi.oversold, float)


@pytest.mark.parametrize(
    ("section", "key", "bad", "good"),
    [
        ("rsi", "period", 1, 2),
        ("rsi", "period", 101, 100),
        ("ma_crossover", "slow_period", 401, 400),
        ("macd", "fast_period", 1, 2),
        ("macd", "slow_period", 201, 200),
        ("macd", "signal_period", 1, 2),
        ("macd", "signal_period", 101, 100),
    ],
)
def test_period_ranges_are_enforced_at_their_bounds(section: str, key: str, bad: int, good: int) -> None:
    assert f"signal_config.{section}.{key}" in fields_of_error({section: {key: bad}})
    SignalConfig.from_dict({section: {key: good}})


def test_ma_slow_must_be_above_fast() -> None:
    data = {"ma_crossover": {"fast_period": 30, "slow_period": 30}}
    assert "signal_config.ma_crossover.slow_period" in fields_of_error(data)


def test_macd_slow_must_be_above_fast() -> None:
    data = {"macd": {"fast_period": 26, "slow_period": 12}}
    assert "signal_config.macd.slow_period" in fields_of_error(data)


def test_unknown_ma_type_is_rejected() -> None:
    assert "signal_config.ma_crossover.ma_type" in fields_of_error({"ma_crossover": {"ma_type": "wma"}})


def test_rsi_overbought_must_be_above_oversold() -> None:
    data = {"rsi": {"oversold": 60.0, "overbought": 40.0}}
    assert "signal_config.rsi.overbought" in fields_of_error(data)


@pytest.mark.parametrize(("key", "value"), [("oversold", 0.0), ("overbought", 100.0)])
def test_rsi_levels_must_lie_strictly_inside_0_100(key: str, value: float) -> None:
    assert f"signal_config.rsi.{key}" in fields_of_error({"rsi": {key: value}})


def test_weights_of_enabled_signals_must_sum_to_one() -> None:
    data = {"rsi": {"weight": 0.5}}  # 0.5 + 0.3 + 0.3
    assert "signal_config.weights" in fields_of_error(data)


def test_weights_within_tolerance_are_accepted() -> None:
    SignalConfig.from_dict({"rsi": {"weight": 0.4009}})
    assert "signal_config.weights" in fields_of_error({"rsi": {"weight": 0.4011}})


def test_disabled_signals_do_not_count_towards_the_weight_sum() -> None:
    cfg = SignalConfig.from_dict(
        {"rsi": {"weight": 0.5}, "ma_crossover": {"weight": 0.5}, "macd": {"enabled": False}}
    )
    assert not cfg.macd.enabled


def test_at_least_one_signal_must_be_enabled() -> None:
    off = {"enabled": False}
    assert "signal_config" in fields_of_error({"rsi": off, "ma_crossover": off, "macd": off})


def test_enabled_signal_with_zero_weight_is_rejected() -> None:
    data = {"rsi": {"weight": 0.0}, "ma_crossover": {"weight": 0.5}, "macd": {"weight": 0.5}}
    assert "signal_config.rsi.weight" in fields_of_error(data)


def test_all_problems_are_reported_at_once() -> None:
    data = {"rsi": {"period": 1}, "macd": {"signal_period": 0}, "extra": 1}
    assert fields_of_error(data) >= {
        "signal_config.rsi.period",
        "signal_config.macd.signal_period",
        "signal_config.extra",
    }


def test_validate_signal_config_checks_directly_built_configs() -> None:
    cfg = replace(SignalConfig(), rsi=RsiConfig(period=0))
    assert [e.field for e in validate_signal_config(cfg)] == ["signal_config.rsi.period"]


@pytest.mark.parametrize("value", [0.0, -0.1, 1.01, float("nan"), float("inf")])
def test_thresholds_outside_zero_to_one_are_rejected(value: float) -> None:
    assert [e.field for e in validate_thresholds(value, 0.5)] == ["buy_threshold"]
    assert [e.field for e in validate_thresholds(0.5, value)] == ["sell_threshold"]


def test_threshold_of_exactly_one_is_valid() -> None:
    assert validate_thresholds(1.0, 1.0) == []


def test_threshold_must_be_a_number() -> None:
    assert [e.field for e in validate_thresholds(True, "0.5")] == [  # type: ignore[arg-type]
        "buy_threshold",
        "sell_threshold",
    ]


def test_error_message_names_every_field() -> None:
    with pytest.raises(SignalConfigError, match=r"signal_config\.rsi\.period"):
        SignalConfig.from_dict({"rsi": {"period": 0}})


def test_required_candles_covers_the_longest_enabled_signal_plus_warmup() -> None:
    cfg = SignalConfig.default()
    # MACD 26/9: 34 candles for the first histogram, plus ~ln(1e-3)/ln(25/27) = 90 warm-up.
    assert required_candles(cfg) == 34 + 90
    assert required_candles(cfg) >= 15 + 1  # RSI needs period + 1


def test_required_candles_ignores_disabled_signals() -> None:
    cfg = SignalConfig(
        RsiConfig(weight=1.0, period=5),
        MaCrossoverConfig(enabled=False),
        MacdConfig(enabled=False),
    )
    # 6 closes + ceil(ln(1e-3)/ln(0.8)) = 31 warm-up
    assert required_candles(cfg) == 6 + 31


def test_required_candles_for_sma_crossover_has_no_warmup() -> None:
    cfg = SignalConfig(
        RsiConfig(enabled=False),
        MaCrossoverConfig(weight=1.0, fast_period=10, slow_period=200),
        MacdConfig(enabled=False),
    )
    assert required_candles(cfg) == 201

"""Walk-forward optimisation: what a training run may see, determinism, grid coverage, the space.

The mechanics here do not depend on what a trial's backtest computes, so most tests use
:func:`long_only_runner` — a small real backtest of the bot's signal score (long only, one stake,
next-open fills) — to stay fast; ``test_kernel_driver_runs_a_walk_forward`` runs the kernel's own
driver.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from coinpilot.api.bot_schemas import BotCreate
from coinpilot.backtest.data import shipped_candles
from coinpilot.backtest.objectives import Figures, score
from coinpilot.backtest.optimize import OptimiseRequest, optimise
from coinpilot.backtest.result import BacktestResult, BacktestSpec
from coinpilot.backtest.search_space import GROUPS, build_space, groups_for, params_to_patch
from coinpilot.backtest.windows import walk_forward
from coinpilot.domain.bot import validate_bot_fields
from coinpilot.domain.indicators import rsi, sma
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles
from coinpilot.domain.types import Granularity
from coinpilot.exchange.replay import PRODUCTS


def long_only_runner(
    spec: BacktestSpec, candles: Candles, *, start: datetime | None = None, progress: Any = None
) -> BacktestResult:
    """Buy one stake when RSI and the SMA spread agree, sell on the opposite; decisions from ``start``."""
    cfg = spec.bot.signals
    close = candles.close
    up = (sma(close, cfg.ma_crossover.fast_period) > sma(close, cfg.ma_crossover.slow_period)).tolist()
    r = rsi(close, cfg.rsi.period).tolist()
    first = 0 if start is None else int(np.searchsorted(candles.start, int(start.timestamp())))
    stake = float(spec.bot.trade_size_usd)
    cash, size = float(spec.starting_cash), 0.0
    equity = np.empty(len(candles))
    fills = 0
    for i in range(len(candles)):
        if i >= first and i + 1 < len(candles) and r[i] == r[i]:
            buy = up[i] and r[i] < 100 * (1 - spec.bot.buy_threshold)
            sell = (not up[i]) and r[i] > 100 * spec.bot.sell_threshold
            if size == 0.0 and buy:
                size, cash, fills = stake * 0.994 / candles.open[i + 1], cash - stake, fills + 1
            elif size > 0.0 and sell:
                cash, size, fills = cash + size * candles.open[i + 1] * 0.994, 0.0, fills + 1
        equity[i] = cash + size * close[i]
    decided = slice(first, len(candles) - 1)  # the contract: decision candles only
    result = BacktestResult(
        spec=spec,
        pair=candles.pair,
        granularity_seconds=candles.granularity.seconds,
        timestamps=candles.start[decided],
        close=close[decided],
        equity=equity[decided],
        position=np.zeros(len(candles))[decided],
        warmup_candles=first,
    )
    result.meta["fills"] = fills
    return result


@pytest.fixture(scope="module")
def candles() -> Candles:
    c = shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly_2024")
    n = 900
    return Candles(
        c.pair, c.granularity, c.start[:n], c.open[:n], c.high[:n], c.low[:n], c.close[:n], c.volume[:n]
    )


def request(**changes: Any) -> OptimiseRequest:
    values: dict[str, Any] = {
        "base_fields": BotCreate(name="b", pair="BTC-USD").model_dump(),
        "limits": SafetyLimits(),
        "product": PRODUCTS["BTC-USD"],
        "trials": 6,
        "folds": 3,
        "batch_size": 4,
        "groups": ("thresholds", "periods"),
        "runner": long_only_runner,
    }
    return OptimiseRequest(**{**values, **changes})


def _iso(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def test_training_runs_never_receive_their_folds_test_candles(candles: Candles) -> None:
    calls: list[tuple[str, datetime, datetime]] = []

    def recording(spec: BacktestSpec, c: Candles, *, start: datetime, progress: Any = None) -> BacktestResult:
        calls.append((spec.label, start, _iso(int(c.start[-1]))))
        return long_only_runner(spec, c, start=start)

    report = optimise(request(runner=recording), candles)
    folds = walk_forward(len(candles), folds=3)
    by_fold = {f.number: f for f in folds}
    trains = [c for c in calls if c[0].endswith("train")]
    tests = [c for c in calls if c[0].endswith("test")]
    assert len(trains) == 3 * 6 and len(tests) == 3
    for label, start, last in calls:
        f = by_fold[int(label.split()[1])]
        if label.endswith("train"):
            assert start == _iso(int(candles.start[f.train_start]))
            assert last == _iso(int(candles.start[f.train_end - 1]))
            assert last < _iso(int(candles.start[f.test_start]))  # nothing of the test window
        else:
            assert start == _iso(int(candles.start[f.test_start]))
            assert last == _iso(int(candles.start[f.test_end - 1]))
    # Every test window was scored with the parameters its own training chose.
    assert [w["out_of_sample"]["candles"] for w in report["windows"]] == [f.test_len - 1 for f in folds]


def _without_time(report: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report.items() if k != "elapsed_seconds"}


def test_the_same_seed_gives_the_same_report_and_another_seed_another(candles: Candles) -> None:
    first = optimise(request(seed=7), candles)
    again = optimise(request(seed=7), candles)
    other = optimise(request(seed=8), candles)
    assert _without_time(first) == _without_time(again)
    assert [w["params"] for w in first["windows"]] != [w["params"] for w in other["windows"]]


def test_the_grid_sampler_tries_every_point_of_its_grid_once_per_window(candles: Candles) -> None:
    seen: list[tuple[str, float, float]] = []

    def recording(spec: BacktestSpec, c: Candles, *, start: datetime, progress: Any = None) -> BacktestResult:
        if spec.label.endswith("train"):
            seen.append((spec.label, spec.bot.buy_threshold, spec.bot.sell_threshold))
        return long_only_runner(spec, c, start=start)

    report = optimise(
        request(runner=recording, sampler="grid", groups=("thresholds",), grid_points=3, trials=100), candles
    )
    grid = build_space(SafetyLimits(), Granularity.ONE_HOUR, ("thresholds",)).grid(3)
    points = set(itertools.product(grid["buy_threshold"], grid["sell_threshold"]))
    assert len(points) == 9 and report["settings"]["trials_per_fold"] == 9
    for fold in ("fold 1 train", "fold 2 train", "fold 3 train"):
        tried = [(b, s) for label, b, s in seen if label == fold]
        assert sorted(tried) == sorted(points)


def test_a_dask_cluster_gives_the_local_result_for_the_same_seed(candles: Candles) -> None:
    distributed = pytest.importorskip("distributed")
    local = optimise(request(seed=3), candles)
    with (
        distributed.LocalCluster(
            n_workers=1, threads_per_worker=2, processes=False, dashboard_address=None
        ) as cluster,
    ):
        remote = optimise(request(seed=3), candles, dask_address=cluster.scheduler_address)
    assert _without_time(remote) == _without_time(local)


def test_every_point_of_the_space_passes_the_bot_validation_and_the_caps() -> None:
    import optuna

    limits = SafetyLimits(
        max_trade_usd=__import__("decimal").Decimal(10), max_tranches=2, cooldown_minutes=90
    )
    space = build_space(limits, Granularity.ONE_HOUR)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    base = BotCreate(name="b", pair="BTC-USD").model_dump()
    for _ in range(60):
        params = space.suggest(study.ask())
        patch = params_to_patch(base, params, Granularity.ONE_HOUR)
        assert validate_bot_fields(patch, limits) == [], params
        assert patch["trade_size_usd"] <= 10 and patch["max_tranches"] <= 2
        assert patch["cooldown_minutes"] >= 90  # never below the safety floor (it would not apply)


def test_profit_with_a_drawdown_cap_ranks_every_capped_run_below_every_feasible_one() -> None:
    safe_loss = Figures(-30.0, 10.0, -1.0, -1.0, 4, 100)
    big_gain_deep = Figures(80.0, 25.0, 2.0, 3.0, 4, 100)
    deeper = Figures(80.0, 40.0, 2.0, 3.0, 4, 100)
    assert (
        score(safe_loss, "profit-dd", 20)
        > score(big_gain_deep, "profit-dd", 20)
        > score(deeper, "profit-dd", 20)
    )
    assert score(big_gain_deep, "profit") == 80.0


def test_bad_requests_are_refused_with_what_to_change(candles: Candles) -> None:
    with pytest.raises(ValueError, match="objective must be one of"):
        optimise(request(objective="wealth"), candles)
    with pytest.raises(ValueError, match="unknown parameter group"):
        optimise(request(groups=("luck",)), candles)


def test_kernel_driver_runs_a_walk_forward_scored_out_of_sample(candles: Candles) -> None:
    report = optimise(request(runner=None, trials=2, folds=2, groups=("thresholds",)), candles)
    folds = walk_forward(len(candles), folds=2)
    assert [w["out_of_sample"]["candles"] for w in report["windows"]] == [f.test_len - 1 for f in folds]
    assert report["out_of_sample"]["candles"] == sum(f.test_len - 1 for f in folds)
    assert set(report["suggested"]["params"]) == {"buy_threshold", "sell_threshold"}


@pytest.mark.slow
def test_local_processes_give_the_serial_result_for_the_same_seed(candles: Candles) -> None:
    serial = optimise(request(seed=4), candles)
    parallel = optimise(request(seed=4), candles, jobs=2)
    assert _without_time(parallel) == _without_time(serial)


def test_searched_weights_share_one_between_the_signals_the_bot_uses_and_turn_none_on() -> None:
    base = BotCreate(
        name="b", pair="BTC-USD", signal_config={"rsi": {"weight": 0.5}, "ma_crossover": {"weight": 0.5},
                                                 "macd": {"enabled": False}}
    ).model_dump()  # fmt: skip
    params = {"rsi.weight": 0.3, "ma_crossover.weight": 0.9, "macd.weight": 0.6}
    signals = params_to_patch(base, params, Granularity.ONE_HOUR)["signal_config"]
    assert signals["macd"]["enabled"] is False
    assert (signals["rsi"]["weight"], signals["ma_crossover"]["weight"]) == (0.25, 0.75)
    assert validate_bot_fields({"signal_config": signals}, SafetyLimits()) == []


def test_a_trial_runs_the_stop_a_person_applying_it_would_store() -> None:
    """A searched strategy stop is the bot's stop (one stop, not two), in the trial's BotConfig as
    in the bot the edit path stores; the API and the optimiser read bot fields with one helper."""
    from decimal import Decimal

    from coinpilot.api import backtest_inputs
    from coinpilot.backtest import trials
    from coinpilot.domain.bot import bot_config_from_fields
    from coinpilot.engine.bots.admin import normalise

    base = BotCreate(name="b", pair="BTC-USD", stop_loss_pct="5").model_dump()
    patch = params_to_patch(base, {"strategy.stop_loss_pct": 2.5}, Granularity.ONE_HOUR)
    stored = normalise({**base, **patch})
    tried = bot_config_from_fields({**base, **patch})
    assert tried.stop_loss_pct == stored["stop_loss_pct"] == Decimal("2.5")
    assert tried.strategy.stop_loss_pct == Decimal("2.5")
    assert trials.bot_config_from_fields is backtest_inputs.bot_config_from_fields is bot_config_from_fields


def test_the_cooling_period_is_searched_in_candles_only_for_a_bot_with_a_cooling_exit(
    candles: Candles,
) -> None:
    strategy = {"cooling_exit_below": "warm", "cooling_exit_minutes": "30"}
    cooling = BotCreate(name="b", pair="BTC-USD", strategy=strategy).model_dump()
    plain = BotCreate(name="b", pair="BTC-USD").model_dump()
    assert groups_for(cooling) == (*GROUPS, "cooling") and groups_for(plain) == GROUPS
    space = build_space(SafetyLimits(), Granularity.ONE_HOUR, ("cooling",))
    assert space.names == ["cooling_candles"]
    for n in space.grid(5)["cooling_candles"]:
        patch = params_to_patch(cooling, {"cooling_candles": n}, Granularity.ONE_HOUR)
        assert patch["strategy"]["cooling_exit_minutes"] == str(60 * int(n))
        assert patch["strategy"]["cooling_exit_below"] == "warm"  # the level stays the bot's
        assert validate_bot_fields(patch, SafetyLimits()) == [], n
    stop = params_to_patch(plain, {"strategy.stop_loss_pct": 10.0}, Granularity.ONE_HOUR)["strategy"]
    assert stop["stop_loss_pct"] == "10"  # as a person types it, not 1E+1
    # Daily candles: at most a week, the longest period a bot accepts.
    assert build_space(SafetyLimits(), Granularity.ONE_DAY, ("cooling",)).params[0].high == 7
    with pytest.raises(ValueError, match="this bot has none"):
        optimise(request(groups=("cooling",)), candles)
    report = optimise(
        request(runner=None, trials=2, folds=2, groups=("cooling",), base_fields=cooling), candles
    )
    assert set(report["suggested"]["params"]) == {"cooling_candles"}

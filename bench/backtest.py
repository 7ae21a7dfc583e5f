"""Benchmark: the backtester and the walk-forward optimiser, with references measured in the same run.

Figures, not pass/fail. Prints candles per second and the ratios for:

* the kernel driver (:func:`coinpilot.backtest.engine.run_backtest`: signals, confirmation,
  every safety rule, cooldown, tranches, ladder, stops, in simulated time) on one core, twice:
  "first" = the first run of that series in this process (after a 5,000-candle warm-up run;
  its arrays are page-faulted in fresh) and "warm" = the same series run again;
* the plain reference loop of the same strategy without safety, confirmation or tranches
  (``bench/backtest_reference.py``: NumPy indicators, a pure-Python position loop);
* backtrader and freqtrade, each installed by this script into a separate virtual environment
  (``bench/.refvenv``, ``bench/.ftvenv``; not project dependencies; ``--no-refs`` skips both, and a
  failed install or run is reported and skipped), over one year of the long series' minutes.
  freqtrade runs offline through ``bench/freqtrade_reference.py`` (a static market list in place
  of the exchange's, the candles in its own data format, its ``backtesting`` command) with the
  reference loop's scoring (``bench/freqtrade_strategy``); its trade loop is timed apart from its
  indicators and from its whole process. backtrader (``bench/backtrader_reference.py``) rebuilds
  the reference loop's score from its own indicators and trades by the same rules; its round trips
  and final value are printed beside the reference loop's on that year and on the shipped
  1-minute file (they agree to rounding);

and, separately: the whole-process time of a one-year backtest of 1-minute candles through the
CLI (``coinpilot backtest``, start-up included), a 200-trial walk-forward optimisation (50 trials
in each of 4 windows, plus the 4 out-of-sample runs) over one year of hourly candles on 2
processes, and the peak resident memory of the 1,000,000-candle run (a child process,
``resource.getrusage``).

Data: the shipped 1-minute (Coinbase BTC-USD, 27,950 candles) and 1-hour (Coinbase BTC-USD
2017–2019, 16,836) files, and a ~1,000,000-candle 1-minute series made by concatenating the
shipped 1-minute file and the two Binance 1-minute files of ``/work/shared/data`` (read by this
bench only), repeated until 1,000,000 candles: each appended segment is shifted in time to start
one minute after the previous segment's last candle (the gaps inside a file are kept) and its
prices are scaled so its first open equals the previous segment's last close (returns unchanged).

Strategy everywhere: RSI 14, SMA 10/20, MACD 12/26/9 (weights 0.4/0.3/0.3), buy at +0.3, sell at
-0.3, 0.6 % fee, $100 stake, long only.

Run: ``.venv/bin/python bench/backtest.py`` (``--quick`` for smaller data, ``--no-refs``).
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
from backtest_reference import ReferenceResult, run_reference  # noqa: E402
from backtest_references import BacktraderRun, time_backtrader, time_freqtrade  # noqa: E402
from coinpilot.backtest.data import read_csv, shipped_candles  # noqa: E402
from coinpilot.domain.market import Candles  # noqa: E402
from coinpilot.domain.signal_config import SignalConfig  # noqa: E402
from coinpilot.domain.signals import MA_FULL_SCALE_SIGMAS, MACD_FULL_SCALE_SIGMAS  # noqa: E402
from coinpilot.domain.types import Granularity  # noqa: E402

HERE = Path(__file__).resolve().parent
SHARED = Path("/work/shared/data")
SIGNALS = {
    "rsi": {"weight": 0.4, "period": 14},
    "ma_crossover": {"weight": 0.3, "fast_period": 10, "slow_period": 20},
    "macd": {"weight": 0.3},
}
# The trading rules every reference runs (the kernel's, with its safety limits, are in kernel_spec).
REFERENCE_RULES = {
    "buy_threshold": 0.3,
    "sell_threshold": 0.3,
    "stake": 100.0,
    "fee_rate": 0.006,
    "cash": 1000.0,
}
YEAR_MINUTES = 525_600
YEAR_HOURS = 8_760


# --------------------------------------------------------------------------- data
def _concat(parts: list[Candles], pair: str) -> Candles:
    starts, o, h, lo, c, v = [], [], [], [], [], []
    next_start = int(parts[0].start[0])
    last_close = float(parts[0].open[0])
    for p in parts:
        shift = next_start - int(p.start[0])
        scale = last_close / float(p.open[0])
        starts.append(p.start + shift)
        for dst, src in ((o, p.open), (h, p.high), (lo, p.low), (c, p.close)):
            dst.append(src * scale)
        v.append(p.volume)
        next_start = int(starts[-1][-1]) + 60
        last_close = float(c[-1][-1])
    return Candles(
        pair,
        Granularity.ONE_MINUTE,
        np.concatenate(starts),
        np.concatenate(o),
        np.concatenate(h),
        np.concatenate(lo),
        np.concatenate(c),
        np.concatenate(v),
    )


def minute_files() -> list[Candles]:
    files = [shipped_candles("BTC-USD", Granularity.ONE_MINUTE)]
    for name in ("binance_BTC-USDT_1m.csv.gz", "binance_ETH-USDT_1m.csv.gz"):
        path = SHARED / name
        if path.exists():
            files.append(read_csv(path, "BTC-USD", Granularity.ONE_MINUTE))
    return files


def long_minute_series(n: int) -> Candles:
    """``n`` continuous 1-minute candles from the 1-minute files, repeated (see the module doc)."""
    files = minute_files()
    parts: list[Candles] = []
    total = 0
    while total < n:
        for f in files:
            parts.append(f)
            total += len(f)
            if total >= n:
                break
    series = _concat(parts, "BTC-USD")
    return _head(series, n)


def _head(c: Candles, n: int) -> Candles:
    return Candles(
        c.pair, c.granularity, c.start[:n], c.open[:n], c.high[:n], c.low[:n], c.close[:n], c.volume[:n]
    )


def write_csv(c: Candles, path: Path) -> None:
    with gzip.open(path, "wt", encoding="utf-8") as f:
        f.write("timestamp,open,high,low,close,volume\n")
        for row in zip(
            c.start.tolist(),
            c.open.tolist(),
            c.high.tolist(),
            c.low.tolist(),
            c.close.tolist(),
            c.volume.tolist(),
            strict=True,
        ):
            f.write("{},{:.8f},{:.8f},{:.8f},{:.8f},{:.8f}\n".format(*row))


# --------------------------------------------------------------------------- kernel
def kernel_spec(granularity: Granularity):  # type: ignore[no-untyped-def]
    from coinpilot.backtest.result import BacktestSpec
    from coinpilot.domain.bot import BotConfig
    from coinpilot.domain.limits import SafetyLimits
    from coinpilot.domain.strategy import StrategyConfig
    from coinpilot.exchange.replay import PRODUCTS

    cfg = BotConfig(
        pair="BTC-USD",
        signals=SignalConfig.from_dict(SIGNALS),
        buy_threshold=0.3,
        sell_threshold=0.3,
        confirmation_minutes=0,
        trade_size_usd=Decimal(100),
        cooldown_minutes=0,
        max_tranches=1,
        granularity=granularity,
        strategy=StrategyConfig.from_dict({"take_profit_ladder": [], "stop_loss_pct": None}),
    )
    limits = SafetyLimits(
        max_trade_usd=Decimal(100),
        max_daily_trades=100,
        max_daily_trades_per_bot=50,
        cooldown_minutes=0,
        max_position_usd_per_bot=Decimal(1000),
        max_total_exposure_usd=Decimal(5000),
        daily_loss_limit_usd=Decimal(500),
        daily_loss_limit_per_position_usd=Decimal(500),
        weekly_loss_limit_per_position_usd=Decimal(1000),
        max_consecutive_losses=10,
        min_reserved_balance_usd=Decimal(0),
    )
    return BacktestSpec(
        bot=cfg,
        limits=limits,
        product=PRODUCTS["BTC-USD"],
        starting_cash=Decimal(100_000),
        strategy_raw={"take_profit_ladder": [], "stop_loss_pct": None},
    )


def kernel_available() -> bool:
    try:
        import coinpilot.backtest.engine  # noqa: F401
    except ImportError:
        return False
    return True


def time_kernel(c: Candles) -> tuple[tuple[float, float], tuple[float, float], int]:
    """Kernel runs over ``c``: ((wall, CPU) seconds of the first run in this process, (wall, CPU)
    of the same run again, warm), fills.

    First = after a 5,000-candle run (imports and caches warm, but every array of this size
    still freshly page-faulted in); warm = the same series once more. CPU time is reported
    beside wall time because this machine is shared: under load the wall clock measures the
    other processes too."""
    from coinpilot.backtest.engine import run_backtest

    spec = kernel_spec(c.granularity)
    run_backtest(spec, _head(c, min(len(c), 5000)))
    timings = []
    for _ in range(2):
        wall, cpu = time.perf_counter(), time.process_time()
        result = run_backtest(spec, c)
        timings.append((time.perf_counter() - wall, time.process_time() - cpu))
    return timings[0], timings[1], len(result.fills)


def time_reference(c: Candles) -> tuple[float, float, int]:
    cfg = SignalConfig.from_dict(SIGNALS)
    run_reference(_head(c, min(len(c), 5000)), cfg)
    wall, cpu = time.perf_counter(), time.process_time()
    r = run_reference(c, cfg)
    return time.perf_counter() - wall, time.process_time() - cpu, r.trades


# --------------------------------------------------------------------------- third-party references
def backtrader_settings() -> dict[str, Any]:
    """The settings of ``bench/backtrader_reference.py``: the signal configuration with its defaults
    filled in, the scoring's full-scale constants and the reference loop's trading rules."""
    cfg = SignalConfig.from_dict(SIGNALS)
    if not (cfg.rsi.enabled and cfg.ma_crossover.enabled and cfg.macd.enabled):
        raise ValueError("bench/backtrader_reference.py scores with all three signals enabled")
    return {
        **cfg.to_dict(),
        "ma_full_scale_sigmas": MA_FULL_SCALE_SIGMAS,
        "macd_full_scale_sigmas": MACD_FULL_SCALE_SIGMAS,
        **REFERENCE_RULES,
    }


def reference_on(csv_path: Path) -> ReferenceResult:
    """The reference loop over the candles of ``csv_path`` as read back from it (the values the
    third-party references read), with the rules they are given."""
    candles = read_csv(csv_path, "BTC-USD", Granularity.ONE_MINUTE)
    return run_reference(candles, SignalConfig.from_dict(SIGNALS), **REFERENCE_RULES)


def backtrader_cross_check(label: str, run: BacktraderRun, ref: ReferenceResult) -> None:
    """backtrader's round trips and final value beside the reference loop's on the same candles."""
    gap = run.final_value - ref.final_equity
    if run.fills != ref.trades:
        verdict = "DIFFERENT fills: the two scorings disagree (not expected; compare them bar by bar)"
    elif abs(gap) > 1e-6:
        verdict = "same fills but different values (not expected: compare the fee arithmetic)"
    else:
        verdict = (
            f"agree; final values {gap:+.1e} apart (rounding: backtrader books a buy as size × price plus "
            "commission, the reference as the stake)"
        )
    print(
        f"  backtrader vs reference loop, {label} ({run.candles:,} candles): {run.round_trips} vs "
        f"{ref.trades // 2} round trips ({run.fills} vs {ref.trades} fills), final value "
        f"{run.final_value:,.6f} vs {ref.final_equity:,.6f}: {verdict}",
        flush=True,
    )


def third_party_references(csv_path: Path, kernel_rate: tuple[float, float] | None) -> None:
    """backtrader and freqtrade over the year of minutes in ``csv_path``, with the kernel's rate on
    the long series beside them (``kernel_rate``: wall, CPU candles/s), and backtrader's trades
    checked against the reference loop's on that year and on the shipped 1-minute file."""
    year_ref = reference_on(csv_path)
    label = "backtrader (1 year of minutes)"
    bt_run = time_backtrader(csv_path, backtrader_settings())
    if bt_run:
        n = bt_run.candles
        line = f"{label:>34}: {n / bt_run.wall:>12,.0f} candles/s wall {n / bt_run.cpu:>10,.0f}/s CPU"
        if kernel_rate:
            line += f"; kernel/backtrader {kernel_rate[1] * bt_run.cpu / n:.0f}x (CPU)"
        print(line, flush=True)
        backtrader_cross_check("1 year of minutes", bt_run, year_ref)
    with tempfile.TemporaryDirectory() as tmp:
        shipped_csv = Path(tmp) / "shipped_1m.csv.gz"
        write_csv(shipped_candles("BTC-USD", Granularity.ONE_MINUTE), shipped_csv)
        bt_run = time_backtrader(shipped_csv, backtrader_settings())
        if bt_run:
            backtrader_cross_check("shipped 1-minute file", bt_run, reference_on(shipped_csv))
    settings = {"signals": SIGNALS, "buy_threshold": 0.3, "sell_threshold": 0.3, "stake": 100, "wallet": 1000}
    ft = time_freqtrade(csv_path, settings, fee=0.006)
    if ft is None:
        print(f"{'freqtrade (1 year of minutes)':>34}: not run (above: why)", flush=True)
        return
    label = "freqtrade (1 year of minutes)"
    n = ft.candles
    line = (
        f"{label:>34}: trade loop {n / ft.loop_wall:>8,.0f}/s wall {n / ft.loop_cpu:>8,.0f}/s CPU; "
        f"indicators + loop {n / ft.analysed_cpu:,.0f}/s CPU ({ft.analysed_cpu:.1f} s)"
    )
    if kernel_rate:
        line += f"; kernel/freqtrade {kernel_rate[1] * ft.analysed_cpu / n:.0f}x (CPU, with indicators)"
    print(line, flush=True)
    print(
        f"  freqtrade: {n:,} candles looped ({year_ref.candles:,} given; it fills gaps with flat candles), "
        f"{ft.trades} round trips, final balance {ft.final_balance:,.2f} of 1,000; the reference loop on the "
        f"given candles: {year_ref.trades} fills, {year_ref.final_equity:,.2f}",
        flush=True,
    )
    print(
        f"  freqtrade: whole `freqtrade backtesting` process {ft.process_wall:.1f} s wall, "
        f"{ft.process_cpu:.1f} s CPU (offline: a static market list replaces the exchange's; "
        f"{ft.network_attempts} connection attempts refused)",
        flush=True,
    )


# --------------------------------------------------------------------------- whole process, optimise, RSS
def whole_process(csv_path: Path) -> float | None:
    """Wall time of ``coinpilot backtest`` over ``csv_path`` in a new process (start-up, data
    loading and checking, the run, the report). The CLI checks the bot against the default safety
    limits, so this run uses a $25 stake (the default maximum trade)."""
    import json

    config = csv_path.with_name("bench_bot.json")
    config.write_text(
        json.dumps(
            {
                "name": "bench",
                "pair": "BTC-USD",
                "granularity": "ONE_MINUTE",
                "signal_config": SIGNALS,
                "buy_threshold": 0.3,
                "sell_threshold": 0.3,
                "confirmation_minutes": 0,
                "cooldown_minutes": 0,
                "trade_size_usd": 25,
                "max_tranches": 1,
                "stop_loss_pct": None,
                "strategy": {"take_profit_ladder": [], "stop_loss_pct": None},
            }
        ),
        encoding="utf-8",
    )
    exe = str(Path(sys.executable).parent / "coinpilot")
    cmd = [exe, "backtest", "--config", str(config), "--data", str(csv_path), "--granularity", "1m"]
    env = {**os.environ, "COINPILOT_HOME": tempfile.mkdtemp(prefix="cp-bench-")}
    started, cpu = time.perf_counter(), _children_cpu()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=3600)
    seconds = time.perf_counter() - started
    print(f"  whole process CPU (user + system): {_children_cpu() - cpu:.2f} s")
    if proc.returncode != 0:
        print(
            f"  `{' '.join(cmd[1:5])} …` failed ({proc.returncode}): "
            f"{(proc.stderr or proc.stdout).strip()[-300:]}"
        )
        return None
    return seconds


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def optimise_year(trials_per_window: int, windows: int, jobs: int) -> float:
    from coinpilot.api.bot_schemas import BotCreate
    from coinpilot.backtest.optimize import OptimiseRequest, optimise
    from coinpilot.domain.limits import SafetyLimits
    from coinpilot.exchange.replay import PRODUCTS

    c = shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly")
    c = Candles(
        c.pair, c.granularity, *(a[-YEAR_HOURS:] for a in (c.start, c.open, c.high, c.low, c.close, c.volume))
    )
    request = OptimiseRequest(
        base_fields=BotCreate(name="bench", pair="BTC-USD").model_dump(),
        limits=SafetyLimits(),
        product=PRODUCTS["BTC-USD"],
        trials=trials_per_window,
        folds=windows,
        seed=1,
    )
    started, cpu, own = time.perf_counter(), _children_cpu(), time.process_time()
    report = optimise(request, c, jobs=jobs)
    seconds = time.perf_counter() - started
    used = _children_cpu() - cpu + time.process_time() - own
    print(
        f"  CPU used by the optimiser and its workers: {used:.1f} s (over {jobs} cores: {used / jobs:.1f} s)"
    )
    oos = report["out_of_sample"]
    print(f"  out-of-sample return {oos['compounded_return_pct']:+.2f}%, {oos['fills']} fills")
    return seconds


def rss_child(n: int) -> None:
    c = long_minute_series(n)
    from coinpilot.backtest.engine import run_backtest

    run_backtest(kernel_spec(c.granularity), c)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="100k-candle long series, 40-trial optimisation")
    ap.add_argument("--no-refs", action="store_true", help="skip backtrader and freqtrade")
    ap.add_argument("--rss-child", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return
    print(
        f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} (1/5/15 min), "
        f"{os.cpu_count()} cores"
    )
    n_long = 100_000 if args.quick else 1_000_000
    datasets = {
        "shipped 1-minute": shipped_candles("BTC-USD", Granularity.ONE_MINUTE),
        "shipped 1-hour": shipped_candles("BTC-USD", Granularity.ONE_HOUR, "hourly"),
        f"{n_long:,} 1-minute (concatenated)": long_minute_series(n_long),
    }
    print(
        f"long series: {len(minute_files())} 1-minute files concatenated in a loop, each segment shifted to "
        "start 1 min after the previous and scaled so its first open = the previous last close"
    )
    have_kernel = kernel_available()
    if not have_kernel:
        print("kernel driver (coinpilot.backtest.engine) not installed: kernel figures skipped")
    kernel_rate: tuple[float, float] | None = None  # the long series' (wall, CPU) candles/s
    for name, c in datasets.items():
        ref_s, ref_cpu, ref_trades = time_reference(c)
        line = (
            f"{name:>34}: reference {len(c) / ref_s:>10,.0f}/s wall {len(c) / ref_cpu:>10,.0f}/s CPU "
            f"({ref_trades} trades)"
        )
        if have_kernel:
            (f_s, f_cpu), (k_s, k_cpu), k_fills = time_kernel(c)
            line += (
                f" | kernel first {len(c) / f_s:>10,.0f}/s wall {len(c) / f_cpu:>10,.0f}/s CPU, "
                f"warm {len(c) / k_s:>10,.0f}/s wall {len(c) / k_cpu:>10,.0f}/s CPU ({k_fills} fills)"
            )
            line += f"; kernel (warm)/reference {ref_cpu / k_cpu:.2f}x (CPU)"
            kernel_rate = (len(c) / k_s, len(c) / k_cpu)  # warm
        print(line, flush=True)

    year = long_minute_series(YEAR_MINUTES)
    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "year_1m.csv.gz"
        write_csv(year, csv_path)
        if not args.no_refs:
            third_party_references(csv_path, kernel_rate)
        if have_kernel:
            seconds = whole_process(csv_path)
            if seconds is not None:
                print(
                    f"whole process, 1 year of 1-minute candles (525,600) through the CLI: {seconds:.2f} s "
                    "(target < 2 s)"
                )
    trials, windows = (10, 4) if args.quick else (50, 4)
    if have_kernel:
        seconds = optimise_year(trials, windows, jobs=2)
        print(
            f"walk-forward optimisation, {trials * windows} trials ({trials} per window × {windows} windows) "
            f"over one year of hourly candles, 2 processes: {seconds:.1f} s (target < 30 s)"
        )
        proc = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(n_long)], capture_output=True, text=True
        )
        if proc.returncode == 0:
            print(
                f"peak RSS of the {n_long:,}-candle run: {float(proc.stdout.split()[-1]):.0f} MB "
                "(target < 500 MB)"
            )
        else:
            print(f"peak RSS run failed: {proc.stderr.strip()[-300:]}")
    print(f"load after: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""freqtrade's backtesting of the bench strategy, offline: the driver ``bench/backtest.py`` runs in
freqtrade's own virtual environment (``bench/.ftvenv``; freqtrade is not a project dependency).

freqtrade's backtesting starts by loading the exchange's market list through ccxt, over the
network, which this machine does not reach. This driver replaces that one step
(``freqtrade.exchange.Exchange.reload_markets``) with a static spot market, Binance BTC/USDT (the
market's rules are all freqtrade needs from the exchange in a backtest: the data comes from the
data directory and the fee from the command line), and makes every other network connection fail
loudly rather than hang, so a run that quietly went online cannot be mistaken for an offline one.
The rest is freqtrade's own command line, ``freqtrade backtesting``, unchanged.

Two steps, each a process of its own so the second one's wall time is freqtrade's whole process:

* ``prepare CSV WORKDIR SETTINGS_JSON``: writes the candles of the gzipped CSV
  (``timestamp,open,high,low,close,volume``) into ``WORKDIR/data`` in freqtrade's own feather format
  (through freqtrade's data handler), and the freqtrade config (1-minute timeframe, one trade at a
  time, the stake, a dry-run wallet, the strategy's signal settings); prints the candle count and
  the ``--timerange`` covering them.
* ``run WORKDIR TIMERANGE FEE``: ``freqtrade backtesting`` with the strategy of
  ``bench/freqtrade_strategy``, timed inside: the indicators and signals plus the trade loop
  (``Backtesting.backtest_one_strategy``) and the trade loop alone (``Backtesting.backtest``),
  wall and CPU. Prints one ``FREQTRADE_TIMING`` line for ``bench/backtest.py`` to read.
"""

from __future__ import annotations

import json
import socket
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
PAIR = "BTC/USDT"
EXCHANGE = "binance"
MARKET: dict[str, Any] = {
    "id": "BTCUSDT",
    "symbol": PAIR,
    "base": "BTC",
    "quote": "USDT",
    "settle": None,
    "baseId": "BTC",
    "quoteId": "USDT",
    "settleId": None,
    "type": "spot",
    "spot": True,
    "margin": False,
    "swap": False,
    "future": False,
    "option": False,
    "active": True,
    "contract": False,
    "linear": None,
    "inverse": None,
    "contractSize": None,
    "taker": 0.006,
    "maker": 0.006,
    "precision": {"amount": 1e-08, "price": 0.01},
    "limits": {
        "amount": {"min": 1e-08, "max": 10_000.0},
        "price": {"min": 0.01, "max": 10_000_000.0},
        "cost": {"min": 1.0, "max": None},
        "leverage": {"min": None, "max": None},
    },
    "info": {},
}


def prepare(csv_path: Path, workdir: Path, settings: dict[str, Any]) -> None:
    import pandas as pd
    from freqtrade.data.history import get_datahandler
    from freqtrade.enums import CandleType

    df = pd.read_csv(csv_path)
    df["date"] = pd.to_datetime(df.pop("timestamp"), unit="s", utc=True)
    df = df[["date", "open", "high", "low", "close", "volume"]]
    datadir = workdir / "data"
    datadir.mkdir(parents=True, exist_ok=True)
    (workdir / "user_data").mkdir(exist_ok=True)
    get_datahandler(datadir, "feather").ohlcv_store(PAIR, "1m", df, CandleType.SPOT)
    config = {
        "max_open_trades": 1,
        "stake_currency": "USDT",
        "stake_amount": settings["stake"],
        "tradable_balance_ratio": 1.0,
        "dry_run": True,
        "dry_run_wallet": settings["wallet"],
        "timeframe": "1m",
        "trading_mode": "spot",
        "dataformat_ohlcv": "feather",
        "entry_pricing": {"price_side": "other", "use_order_book": False, "price_last_balance": 0.0},
        "exit_pricing": {"price_side": "other", "use_order_book": False},
        "exchange": {
            "name": EXCHANGE,
            "key": "",
            "secret": "",
            "pair_whitelist": [PAIR],
            "pair_blacklist": [],
        },
        "pairlists": [{"method": "StaticPairList"}],
        "backtest_cache": "none",
        "export": "none",
        "internals": {},
        "coinpilot_reference": {
            "signals": settings["signals"],
            "buy_threshold": settings["buy_threshold"],
            "sell_threshold": settings["sell_threshold"],
        },
    }
    (workdir / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    first, last = int(df["date"].iloc[0].timestamp()), int(df["date"].iloc[-1].timestamp())
    print(len(df), f"{first}-{last + 60}")


def _offline(timing: dict[str, float]) -> None:
    """Any outbound connection or name lookup raises, and is counted in ``timing`` (freqtrade
    could catch the error and go on): the run must not depend on the network."""
    timing["network_attempts"] = 0

    def refuse(*args: object, **kwargs: object) -> Any:
        timing["network_attempts"] += 1
        raise OSError("freqtrade bench runs offline: network access attempted")

    socket.socket.connect = refuse  # type: ignore[method-assign]
    socket.socket.connect_ex = refuse  # type: ignore[method-assign]
    socket.getaddrinfo = refuse
    socket.create_connection = refuse


def _patch_markets() -> None:
    from freqtrade.exchange import Exchange
    from freqtrade.util import dt_ts

    def reload_markets(self: Exchange, force: bool = False, *, load_leverage_tiers: bool = True) -> None:
        if self._last_markets_refresh > 0:
            return
        for api in (self._api_async, self._api):
            api.set_markets({PAIR: dict(MARKET)})
        self._markets = self._api_async.markets
        self._last_markets_refresh = dt_ts()

    Exchange.reload_markets = reload_markets  # type: ignore[method-assign]


def _patch_timers(timing: dict[str, float]) -> None:
    from freqtrade.optimize.backtesting import Backtesting

    one_strategy, loop, as_lists = (
        Backtesting.backtest_one_strategy,
        Backtesting.backtest,
        Backtesting._get_ohlcv_as_lists,
    )

    def timed_one_strategy(self: Backtesting, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = one_strategy(self, *args, **kwargs)
        timing["analysed_wall"] = time.perf_counter() - wall
        timing["analysed_cpu"] = time.process_time() - cpu
        return out

    def timed_loop(self: Backtesting, *args: Any, **kwargs: Any) -> Any:
        wall, cpu = time.perf_counter(), time.process_time()
        out = loop(self, *args, **kwargs)
        timing["loop_wall"] = time.perf_counter() - wall
        timing["loop_cpu"] = time.process_time() - cpu
        timing["trades"] = len(out["results"])
        timing["final_balance"] = float(out["final_balance"])
        return out

    def counted_as_lists(self: Backtesting, processed: dict[str, Any]) -> dict[str, Any]:
        data = as_lists(self, processed)
        timing["candles"] = sum(len(rows) for rows in data.values())
        return data

    Backtesting.backtest_one_strategy = timed_one_strategy  # type: ignore[method-assign]
    Backtesting.backtest = timed_loop  # type: ignore[method-assign]
    Backtesting._get_ohlcv_as_lists = counted_as_lists  # type: ignore[method-assign]


def run(workdir: Path, timerange: str, fee: str) -> int:
    from freqtrade.main import main as freqtrade_main

    sys.path[:0] = [str(HERE), str(HERE.parent / "src")]  # the strategy imports the bench scoring
    timing: dict[str, float] = {}
    _offline(timing)
    _patch_markets()
    _patch_timers(timing)
    argv = [
        "backtesting",
        "--config", str(workdir / "config.json"),
        "--userdir", str(workdir / "user_data"),
        "--datadir", str(workdir / "data"),
        "--strategy-path", str(HERE / "freqtrade_strategy"),
        "--strategy", "CoinpilotReference",
        "--timerange", timerange,
        "--fee", fee,
        "--cache", "none",
        "--export", "none",
    ]  # fmt: skip
    code = 0
    try:
        freqtrade_main(argv)
    except SystemExit as exc:
        code = int(exc.code or 0)
    if code or "loop_wall" not in timing:
        print(f"freqtrade backtesting failed (exit {code}, timings {timing})", file=sys.stderr)
        return code or 1
    print(
        "FREQTRADE_TIMING "
        + " ".join(
            f"{key}={timing[key]}"
            for key in (
                "candles",
                "loop_wall",
                "loop_cpu",
                "analysed_wall",
                "analysed_cpu",
                "trades",
                "final_balance",
                "network_attempts",
            )
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["prepare"] and len(sys.argv) == 5:
        prepare(Path(sys.argv[2]), Path(sys.argv[3]), json.loads(sys.argv[4]))
    elif sys.argv[1:2] == ["run"] and len(sys.argv) == 5:
        sys.exit(run(Path(sys.argv[2]), sys.argv[3], sys.argv[4]))
    elif len(sys.argv) == 1:  # `make bench` runs every bench file alone: nothing to do here
        print("freqtrade_reference.py: run by bench/backtest.py inside bench/.ftvenv (see its doc)")
    else:
        sys.exit(__doc__)

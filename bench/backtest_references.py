"""The third-party references of ``bench/backtest.py``: backtrader and freqtrade, each installed into
a virtual environment of its own under ``bench/`` and run in a child process.

Neither is a project dependency, so neither may stop the bench: a failed install, a failed run or a
run past its time limit is printed and returns ``None``. backtrader's strategy is the short script
below; freqtrade's is ``bench/freqtrade_strategy`` (the plain reference loop's scoring), run offline
by ``bench/freqtrade_reference.py`` (its module doc says how).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REFVENV = HERE / ".refvenv"
FTVENV = HERE / ".ftvenv"
# The driver replaces one method of freqtrade's exchange class and times two of its backtesting
# methods, so the version is pinned: a new one is taken by changing this line and re-running.
FREQTRADE = "freqtrade==2026.9"
INSTALL_TIMEOUT_S = 900
RUN_TIMEOUT_S = 3600

BACKTRADER_SCRIPT = r"""
import sys, time, csv, gzip, datetime
import backtrader as bt
path = sys.argv[1]
class S(bt.Strategy):
    def __init__(self):
        self.rsi = bt.indicators.RSI(self.data.close, period=14)
        self.cross = bt.indicators.CrossOver(bt.indicators.SMA(period=10), bt.indicators.SMA(period=20))
        self.macd = bt.indicators.MACDHisto(self.data.close)
    def next(self):
        rsi = max(-1, min(1, (50 - self.rsi[0]) / 20))
        cross = 1 if self.cross[0] > 0 else -1 if self.cross[0] < 0 else 0
        score = 0.4 * rsi + 0.3 * cross + 0.3 * (1 if self.macd.histo[0] > 0 else -1)
        if not self.position and score >= 0.3:
            self.buy(size=100 / self.data.close[0])
        elif self.position and score <= -0.3:
            self.close()
rows = list(csv.reader(gzip.open(path, "rt")))[1:]
import pandas as pd
cols = ["t", "open", "high", "low", "close", "volume"]
df = pd.DataFrame([[float(x) for x in r] for r in rows], columns=cols)
df.index = pd.to_datetime(df.t, unit="s"); df = df.drop(columns="t")
cerebro = bt.Cerebro(stdstats=False)
cerebro.adddata(bt.feeds.PandasData(dataname=df))
cerebro.addstrategy(S)
cerebro.broker.setcash(1_000_000); cerebro.broker.setcommission(commission=0.006)
started = time.perf_counter(); cerebro.run(); print(len(df), time.perf_counter() - started)
"""


def ensure_refvenv(packages: list[str], venv: Path = REFVENV) -> Path | None:
    """The python of ``venv`` with ``packages`` installed (created on first use), or ``None``."""
    py = venv / "bin" / "python"
    try:
        if not py.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True)
        subprocess.run(
            [str(py), "-m", "pip", "install", "--quiet", *packages],
            check=True,
            capture_output=True,
            timeout=INSTALL_TIMEOUT_S,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        out = getattr(exc, "stderr", b"") or b""
        print(f"  could not install {', '.join(packages)} into {venv}: {exc} {out.decode()[-300:]}")
        return None
    return py


def time_backtrader(csv_path: Path) -> tuple[float, int] | None:
    py = ensure_refvenv(["backtrader", "pandas"])
    if py is None:
        return None
    script = REFVENV / "bt_bench.py"
    script.write_text(BACKTRADER_SCRIPT, encoding="utf-8")
    try:
        proc = subprocess.run(
            [str(py), str(script), str(csv_path)], capture_output=True, text=True, timeout=RUN_TIMEOUT_S
        )
    except subprocess.TimeoutExpired:
        print(f"  backtrader: no result within {RUN_TIMEOUT_S} s")
        return None
    if proc.returncode != 0:
        print(f"  backtrader failed: {proc.stderr.strip()[-300:]}")
        return None
    n, seconds = proc.stdout.split()[-2:]
    return float(seconds), int(n)


@dataclass(frozen=True)
class FreqtradeTiming:
    """One freqtrade backtest. ``candles``: the rows its trade loop went through (freqtrade fills
    gaps in the data with flat candles, so this can exceed the input's count); ``loop_*``: its
    trade loop (``Backtesting.backtest``: signals shifted and turned into lists, then the loop);
    ``analysed_*``: indicators and signals plus the loop; ``process_*``: the whole
    ``freqtrade backtesting`` process (imports, configuration, data loading, report)."""

    candles: int
    loop_wall: float
    loop_cpu: float
    analysed_wall: float
    analysed_cpu: float
    process_wall: float
    process_cpu: float
    trades: int
    final_balance: float
    network_attempts: int  # connections the driver refused (it runs offline): 0 expected


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _run(cmd: list[str], what: str) -> str | None:
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        print(f"  freqtrade {what}: no result within {RUN_TIMEOUT_S} s")
        return None
    if proc.returncode != 0:
        print(f"  freqtrade {what} failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-400:]}")
        return None
    return proc.stdout


def time_freqtrade(csv_path: Path, settings: dict[str, Any], fee: float) -> FreqtradeTiming | None:
    """freqtrade's backtesting of the candles in ``csv_path`` (``settings``: the driver's
    ``prepare`` keys), offline, in ``bench/.ftvenv``; ``None`` (said why) when it cannot run."""
    py = ensure_refvenv([FREQTRADE], FTVENV)
    if py is None:
        return None
    driver = str(HERE / "freqtrade_reference.py")
    with tempfile.TemporaryDirectory(prefix="cp-bench-ft-") as workdir:
        out = _run([str(py), driver, "prepare", str(csv_path), workdir, json.dumps(settings)], "data")
        if out is None:
            return None
        timerange = out.split()[-1]
        started, cpu = time.perf_counter(), _children_cpu()
        out = _run([str(py), driver, "run", workdir, timerange, repr(fee)], "backtesting")
        process_wall, process_cpu = time.perf_counter() - started, _children_cpu() - cpu
    if out is None:
        return None
    line = next((x for x in out.splitlines() if x.startswith("FREQTRADE_TIMING ")), None)
    if line is None:
        print(f"  freqtrade printed no timing: {out.strip()[-300:]}")
        return None
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    return FreqtradeTiming(
        candles=int(fields["candles"]),
        loop_wall=float(fields["loop_wall"]),
        loop_cpu=float(fields["loop_cpu"]),
        analysed_wall=float(fields["analysed_wall"]),
        analysed_cpu=float(fields["analysed_cpu"]),
        process_wall=process_wall,
        process_cpu=process_cpu,
        trades=int(fields["trades"]),
        final_balance=float(fields["final_balance"]),
        network_attempts=int(fields["network_attempts"]),
    )

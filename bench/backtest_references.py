"""The third-party references of ``bench/backtest.py``: backtrader and freqtrade, each installed into
a virtual environment of its own under ``bench/`` and run in a child process.

Neither is a project dependency, so neither may stop the bench: a failed install, a failed run or a
run past its time limit is printed and returns ``None``. Both trade on the plain reference loop's
score (``bench/backtest_reference.py``): backtrader's strategy is ``bench/backtrader_reference.py``
(the score rebuilt from backtrader's indicators with the reference's formulas); freqtrade's is
``bench/freqtrade_strategy`` (the reference's scoring imported), run offline by
``bench/freqtrade_reference.py`` (its module doc says how).
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


@dataclass(frozen=True)
class BacktraderRun:
    """One backtrader run of ``bench/backtrader_reference.py``: ``wall``/``cpu``: seconds of its
    ``cerebro.run()`` (data preloading, indicators, the loop); ``final_value``: cash plus the
    position at the last close."""

    candles: int
    wall: float
    cpu: float
    fills: int
    round_trips: int
    final_value: float


def time_backtrader(csv_path: Path, settings: dict[str, Any]) -> BacktraderRun | None:
    """backtrader over the candles of ``csv_path`` with ``settings`` (the strategy's keys: see
    ``bench/backtrader_reference.py``), in ``bench/.refvenv``; ``None`` (said why) when it cannot run."""
    py = ensure_refvenv(["backtrader", "pandas"])
    if py is None:
        return None
    script = str(HERE / "backtrader_reference.py")
    try:
        proc = subprocess.run(
            [str(py), script, str(csv_path), json.dumps(settings)],
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired:
        print(f"  backtrader: no result within {RUN_TIMEOUT_S} s")
        return None
    line = next((x for x in proc.stdout.splitlines() if x.startswith("BACKTRADER_RESULT ")), None)
    if proc.returncode != 0 or line is None:
        print(f"  backtrader failed ({proc.returncode}): {(proc.stderr or proc.stdout).strip()[-300:]}")
        return None
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    return BacktraderRun(
        candles=int(fields["candles"]),
        wall=float(fields["wall"]),
        cpu=float(fields["cpu"]),
        fills=int(fields["fills"]),
        round_trips=int(fields["round_trips"]),
        final_value=float(fields["final_value"]),
    )


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

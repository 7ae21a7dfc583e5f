"""Backtests requested over the API run here, one at a time per server, in one daemon thread.

One at a time because a backtest is CPU-bound Python: two at once on the same cores finish no
sooner than one after the other, and the API and the bot loop keep the cores they need. Further
requests wait in a queue (their status says ``queued``). Progress (0-1) is kept in memory while
a run is going and written to the row when it starts and ends; the finished report (JSON and
chart data) is stored in ``backtest_runs``. Runs live in this process: when the server stops,
the running one is cancelled at its next progress report, and any run a previous process left
unfinished is marked failed when the runner starts.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.backtest.data import CandleDataError
from coinpilot.backtest.result import BacktestResult, BacktestSpec
from coinpilot.domain.clock import Clock
from coinpilot.domain.market import Candles
from coinpilot.store.db import session_scope
from coinpilot.store.repos import backtests as repo

log = logging.getLogger(__name__)

Driver = Callable[..., BacktestResult]  # run_backtest(spec, candles, *, progress=...)
STOPPED_MESSAGE = "the server stopped before this backtest finished; request it again"


class Cancelled(Exception):
    """Raised from the progress callback to end a run when the server stops."""


@dataclass(frozen=True)
class Job:
    run_id: int
    spec: BacktestSpec
    load: Callable[[], Candles]  # the candles, loaded in the runner's thread


def default_driver() -> Driver:
    from coinpilot.backtest.engine import run_backtest

    driver: Driver = run_backtest
    return driver


class BacktestRunner:
    def __init__(self, sessions: sessionmaker[Session], clock: Clock, driver: Driver | None = None) -> None:
        self._sessions = sessions
        self._clock = clock
        self._driver = driver
        self._jobs: queue.Queue[Job | None] = queue.Queue()
        self._progress: dict[int, float] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        with session_scope(sessions) as s:
            repo.fail_unfinished(s, clock.now(), STOPPED_MESSAGE)

    def submit(self, job: Job) -> None:
        if self._stopping.is_set():
            raise RuntimeError("the server is stopping")
        with self._lock:
            self._progress[job.run_id] = 0.0
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name="backtests", daemon=True)
                self._thread.start()
        self._jobs.put(job)

    def progress(self, run_id: int) -> float | None:
        """0-1 while the run is queued or going in this process; None otherwise."""
        with self._lock:
            return self._progress.get(run_id)

    def stop(self, timeout: float = 5.0) -> None:
        self._stopping.set()
        self._jobs.put(None)
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            job = self._jobs.get()
            try:
                if job is None or self._stopping.is_set():
                    if job is not None:
                        self._finish_failed(job.run_id, STOPPED_MESSAGE)
                    if job is None:
                        return
                    continue
                self._run(job)
            finally:
                self._jobs.task_done()

    def _run(self, job: Job) -> None:
        from coinpilot.backtest import metrics, report, report_html

        with session_scope(self._sessions) as s:
            repo.mark_running(s, job.run_id, self._clock.now())
        try:
            candles = job.load()
            total = len(candles)

            def progress(done: float, of: float | None = None) -> None:
                if self._stopping.is_set():
                    raise Cancelled
                fraction = done / of if of else (done / total if done > 1 and total else done)
                with self._lock:
                    self._progress[job.run_id] = max(0.0, min(1.0, float(fraction)))

            driver = self._driver or default_driver()
            result = driver(job.spec, candles, progress=progress)
            figures = metrics.compute(result)
            data = report.to_dict(result, figures)
            chart = report_html.chart_data(result, figures)
            with session_scope(self._sessions) as s:
                repo.mark_done(s, job.run_id, self._clock.now(), data["summary"], data, chart)
        except Cancelled:
            self._finish_failed(job.run_id, STOPPED_MESSAGE)
        except CandleDataError as exc:
            self._finish_failed(job.run_id, str(exc))
        except Exception as exc:  # a run's failure is the run's status, never the server's
            log.exception("backtest %s failed", job.run_id)
            self._finish_failed(job.run_id, f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self._progress.pop(job.run_id, None)

    def _finish_failed(self, run_id: int, message: str) -> None:
        with session_scope(self._sessions) as s:
            repo.mark_failed(s, run_id, self._clock.now(), " ".join(message.split()))


_CREATE_LOCK = threading.Lock()


def runner_for(app_state: Any, sessions: sessionmaker[Session], clock: Clock) -> BacktestRunner:
    """The app's runner, made on first use (an app that never backtests starts no thread)."""
    with _CREATE_LOCK:
        runner: BacktestRunner | None = getattr(app_state, "backtests", None)
        if runner is None:
            runner = BacktestRunner(sessions, clock, getattr(app_state, "backtest_driver", None))
            app_state.backtests = runner
        return runner

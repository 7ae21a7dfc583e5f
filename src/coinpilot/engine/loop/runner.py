"""A stoppable background loop: runs a job every interval, survives the job's errors.

Used for the bot scheduler and order sync. Wall-clock waiting lives here only; the jobs it runs
take their notion of "now" from the injected clock, so tests call the jobs directly.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger("coinpilot.engine")


class PeriodicRunner:
    def __init__(self, name: str, job: Callable[[], object], interval_seconds: float) -> None:
        self.name = name
        self._job = job
        self._interval = interval_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        self.failures = 0

    def start(self) -> PeriodicRunner:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name=self.name, daemon=True)
            self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._job()
                self.runs += 1
            except Exception:  # a failing job must never kill the loop
                self.failures += 1
                log.exception("%s: job failed", self.name)
            self._stop.wait(self._interval)

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

"""Alert delivery: de-duplicated, rate-limited, retried in a background thread.

Why this shape:

- ``notify`` only decides (de-duplication and rate limit, on the injected clock) and puts the
  alert on a bounded queue; it never waits for a network. A receiver that hangs or is down
  therefore slows nothing but the delivery thread — never an order, the engine or a request.
- De-duplication: an alert whose ``key`` was accepted within ``dedupe_seconds`` is dropped, so
  an outage that fails every bot every minute sends one alert, not hundreds.
- Rate limit: at most ``max_per_window`` alerts per ``window_seconds``; the rest are counted and
  the next alert that goes out says how many were held back.
- Delivery failures are retried with exponential back-off (``retries`` times) by the thread; a
  full queue drops the newest alert and counts it (losing an alert beats blocking trading).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from coinpilot.domain.clock import Clock

log = logging.getLogger("coinpilot.alerts")

SEVERITIES = ("info", "success", "warning", "failure")


@dataclass(frozen=True)
class Alert:
    kind: str  # order_failed, trading_state, daily_loss, position_drift, exchange_unreachable, ...
    key: str  # de-duplication key: one alert per key within the window
    title: str
    body: str
    severity: str = "warning"  # Apprise notify type: info, success, warning, failure

    def __post_init__(self) -> None:
        if self.severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {SEVERITIES}, not {self.severity!r}")


# Sends one alert; returns True when the receiver took it. Raising counts as a failure.
Sender = Callable[[Alert], bool]


def apprise_sender(urls: Sequence[str]) -> Sender:
    """A sender delivering to every Apprise URL (e.g. ``json://127.0.0.1:9000/``)."""
    import apprise

    apobj = apprise.Apprise()
    for url in urls:
        if not apobj.add(url):
            raise ValueError("alerts.urls: an entry is not a valid Apprise URL")  # URL not echoed: secrets

    def send(alert: Alert) -> bool:
        return bool(apobj.notify(title=alert.title, body=alert.body, notify_type=alert.severity))

    return send


@dataclass
class DispatchStats:
    queued: int = 0
    sent: int = 0
    duplicates: int = 0
    rate_limited: int = 0
    dropped_full: int = 0
    failed: int = 0  # given up after every retry
    attempts: int = 0
    kinds: list[str] = field(default_factory=list)  # kinds accepted, in order (for status/tests)


class AlertDispatcher:
    def __init__(
        self,
        sender: Sender,
        clock: Clock,
        *,
        dedupe_seconds: float = 3600.0,
        max_per_window: int = 20,
        window_seconds: float = 3600.0,
        retries: int = 4,
        backoff_seconds: float = 2.0,
        queue_size: int = 500,
    ) -> None:
        self._send = sender
        self._clock = clock
        self.dedupe = timedelta(seconds=dedupe_seconds)
        self.window = timedelta(seconds=window_seconds)
        self.max_per_window = max_per_window
        self.retries = retries
        self.backoff_seconds = backoff_seconds
        self._queue: queue.Queue[Alert] = queue.Queue(maxsize=queue_size)
        self._lock = threading.Lock()
        self._last_by_key: dict[str, datetime] = {}
        self._accepted: deque[datetime] = deque()
        self._held_back = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._idle = threading.Condition()
        self._busy = 0
        self.stats = DispatchStats()

    # ---- deciding (caller's thread; never blocks) --------------------------------------------
    def notify(self, alert: Alert) -> bool:
        """Queue ``alert`` unless it is a duplicate or over the rate limit. Never blocks."""
        now = self._clock.now()
        with self._lock:
            last = self._last_by_key.get(alert.key)
            if last is not None and now - last < self.dedupe:
                self.stats.duplicates += 1
                return False
            while self._accepted and now - self._accepted[0] >= self.window:
                self._accepted.popleft()
            if len(self._accepted) >= self.max_per_window:
                self.stats.rate_limited += 1
                self._held_back += 1
                return False
            if self._held_back:
                body = f"{alert.body}\n({self._held_back} more alert(s) were held back by the rate limit)"
                alert = Alert(alert.kind, alert.key, alert.title, body, alert.severity)
            with self._idle:
                self._busy += 1  # before the put: the thread may deliver it at once
            try:
                self._queue.put_nowait(alert)
            except queue.Full:
                with self._idle:
                    self._busy -= 1
                self.stats.dropped_full += 1
                return False
            self._held_back = 0
            self._last_by_key[alert.key] = now
            self._accepted.append(now)
            self.stats.queued += 1
            self.stats.kinds.append(alert.kind)
            self._forget_old_keys(now)
            return True

    def _forget_old_keys(self, now: datetime) -> None:
        if len(self._last_by_key) > 10_000:
            self._last_by_key = {k: t for k, t in self._last_by_key.items() if now - t < self.dedupe}

    # ---- delivering (background thread) -------------------------------------------------------
    def start(self) -> AlertDispatcher:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="alert-delivery", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the thread (alerts still queued are abandoned after ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def wait_idle(self, timeout: float) -> bool:
        """True once every queued alert was delivered or given up (tests, shutdown)."""
        with self._idle:
            return self._idle.wait_for(lambda: self._busy == 0, timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                alert = self._queue.get(timeout=0.2)
            except queue.Empty:
                continue
            try:
                self._deliver(alert)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, alert: Alert) -> None:
        delay = self.backoff_seconds
        for attempt in range(self.retries + 1):
            self.stats.attempts += 1
            try:
                if self._send(alert):
                    self.stats.sent += 1
                    return
                problem = "the receiver refused it"
            except Exception as exc:  # a broken receiver must not end the thread
                problem = f"{type(exc).__name__}: {exc}"
            if attempt < self.retries:
                log.warning("alert %s not delivered (%s); retrying in %.1f s", alert.kind, problem, delay)
                if self._stop.wait(delay):
                    break
                delay *= 2
        self.stats.failed += 1
        log.error("alert %s given up after %d attempts: %s", alert.kind, self.retries + 1, alert.title)

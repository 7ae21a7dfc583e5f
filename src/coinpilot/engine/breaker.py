"""Circuit breaker for exchange health: repeated failures across bots stop trading, and say why.

One bot's failure is that bot's problem (recorded on it, with back-off). But when the exchange
itself is unhealthy — ``threshold`` transient failures (ExchangeUnavailable: timeouts, 429s,
5xx) from any bots or shared fetches within ``window_seconds`` — placing more orders is
pointless at best and dangerous at worst (unknown order outcomes pile up). The breaker then
engages the persisted emergency stop with a reason naming the count, the window and the last
error, so a person sees why and releases it explicitly once the exchange is healthy.

Each shared fetch counts once (one failed batched quote call is one failure, not one per bot).
The window uses the clock it is given: the engine passes the wall clock, not the replay clock,
because exchange health is measured in real seconds.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from datetime import datetime, timedelta

from coinpilot.domain.clock import Clock

log = logging.getLogger("coinpilot.engine")

DEFAULT_THRESHOLD = 5
DEFAULT_WINDOW_SECONDS = 60.0

Trip = Callable[[str], object]


class CircuitBreaker:
    def __init__(
        self,
        trip: Trip,
        clock: Clock,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
    ) -> None:
        if threshold < 1 or window_seconds <= 0:
            raise ValueError("threshold must be >= 1 and window_seconds > 0")
        self._trip = trip
        self._clock = clock
        self.threshold = threshold
        self.window = timedelta(seconds=window_seconds)
        self._failures: deque[tuple[datetime, str]] = deque()
        self._lock = threading.Lock()
        self.tripped_at: datetime | None = None
        self.reason: str | None = None
        self.trips = 0

    def record_failure(self, source: str, error: BaseException | str) -> bool:
        """Count one exchange failure; returns True when this failure tripped the breaker."""
        message = error if isinstance(error, str) else _describe(error)
        now = self._clock.now()
        with self._lock:
            self._failures.append((now, f"{source}: {message}"))
            self._expire(now)
            if len(self._failures) < self.threshold:
                return False
            if self.tripped_at is not None and now - self.tripped_at < self.window:
                return False  # already tripped for this burst
            count = len(self._failures)
            last = self._failures[-1][1]
            self._failures.clear()
            self.tripped_at = now
            self.trips += 1
            self.reason = (
                f"circuit breaker: {count} exchange failures within "
                f"{self.window.total_seconds():g} s (last: {last})"
            )[:480]
            reason = self.reason
        log.error("%s; trading is stopped until a person releases the emergency stop", reason)
        try:
            self._trip(reason)
        except Exception:  # the breaker must never take the loop down with it
            log.exception("circuit breaker could not stop trading")
        return True

    def recent_failures(self) -> int:
        with self._lock:
            self._expire(self._clock.now())
            return len(self._failures)

    def _expire(self, now: datetime) -> None:
        while self._failures and now - self._failures[0][0] > self.window:
            self._failures.popleft()


def _describe(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None)
    code = getattr(exc, "code", None)
    if reason:
        return f"{code}: {reason}" if code else str(reason)
    return f"{type(exc).__name__}: {exc}"

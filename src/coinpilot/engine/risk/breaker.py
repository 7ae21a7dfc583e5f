"""The exchange breaker: repeated failed cycles move trading to REDUCING, and say why.

One bot's failure is that bot's problem (recorded on it, with back-off). But when the exchange
itself is unhealthy — ``threshold`` failed *cycles* (ExchangeUnavailable: timeouts, 429s, 5xx)
within ``window_seconds`` — placing more entries is pointless at best and dangerous at worst
(unknown order outcomes pile up). The breaker then moves the trading state ACTIVE -> REDUCING
with a reason naming the count, the window and the last error: buys stop, every bot's
stop-loss and exits keep working.

Failures are counted per cycle, not per pair or bot: a few seconds of 503s that fail every
pair of one cycle are one failure (:meth:`CircuitBreaker.cycle`). A failure outside a cycle
counts on its own.

Unlike the loss breakers, this one may undo its own trip: once the exchange has answered
normally for ``recover_after_seconds`` (default 10 min) since the last failure, it moves its own
REDUCING back to ACTIVE and says so. If a person changed the state meanwhile, theirs stands.

The window uses the clock it is given: the engine passes the wall clock, not the replay clock,
because exchange health is measured in real seconds.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from coinpilot.domain.clock import Clock

log = logging.getLogger("coinpilot.engine")

DEFAULT_THRESHOLD = 5
DEFAULT_WINDOW_SECONDS = 60.0
DEFAULT_RECOVER_AFTER_SECONDS = 600.0

Trip = Callable[[str], object]
Recover = Callable[[str], object]


@dataclass
class CycleHealth:
    """What one cycle saw of the exchange: its failures, and whether anything answered."""

    failures: list[str] = field(default_factory=list)
    answered: bool = False


class CircuitBreaker:
    def __init__(
        self,
        trip: Trip,
        clock: Clock,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        window_seconds: float = DEFAULT_WINDOW_SECONDS,
        recover: Recover | None = None,
        recover_after_seconds: float = DEFAULT_RECOVER_AFTER_SECONDS,
    ) -> None:
        if threshold < 1 or window_seconds <= 0 or recover_after_seconds <= 0:
            raise ValueError("threshold must be >= 1, window_seconds and recover_after_seconds > 0")
        self._trip = trip
        self._recover = recover
        self._clock = clock
        self.threshold = threshold
        self.window = timedelta(seconds=window_seconds)
        self.recover_after = timedelta(seconds=recover_after_seconds)
        self._failures: deque[tuple[datetime, str]] = deque()
        self._lock = threading.Lock()
        self._local = threading.local()
        self.tripped_at: datetime | None = None
        self.last_failure_at: datetime | None = None
        self.reason: str | None = None
        self.trips = 0
        self.recoveries = 0

    # ---- cycles ------------------------------------------------------------------------
    @contextmanager
    def cycle(self) -> Iterator[CycleHealth]:
        """Failures recorded (in this thread) inside the block count as one failure. A block
        without failures in which the exchange answered (``health.answered = True``) is a
        normal answer, which may end a trip (see the module docstring)."""
        outer: CycleHealth | None = getattr(self._local, "health", None)
        if outer is not None:  # nested: the outer cycle counts
            yield outer
            return
        health = CycleHealth()
        self._local.health = health
        try:
            yield health
        finally:
            self._local.health = None
        if health.failures:
            more = (
                f" (+{len(health.failures) - 1} more in the same cycle)" if len(health.failures) > 1 else ""
            )
            self._count(health.failures[-1] + more)
        elif health.answered:
            self.record_success()

    def record_failure(self, source: str, error: BaseException | str) -> bool:
        """Count one exchange failure (or note it in the current cycle); True when it tripped."""
        message = f"{source}: {error if isinstance(error, str) else _describe(error)}"
        health: CycleHealth | None = getattr(self._local, "health", None)
        if health is not None:
            health.failures.append(message)
            return False
        return self._count(message)

    def _count(self, message: str) -> bool:
        now = self._clock.now()
        with self._lock:
            self.last_failure_at = now
            self._failures.append((now, message))
            self._expire(now)
            if len(self._failures) < self.threshold:
                return False
            if self.tripped_at is not None and now - self.tripped_at < self.window:
                return False  # already tripped for this burst
            count = len(self._failures)
            self._failures.clear()
            self.tripped_at = now
            self.trips += 1
            self.reason = (
                f"exchange breaker: {count} failed cycles within "
                f"{self.window.total_seconds():g} s (last: {message})"
            )[:480]
            reason = self.reason
        log.error("%s; trading is REDUCING (exits only)", reason)
        try:
            self._trip(reason)
        except Exception:  # the breaker must never take the loop down with it
            log.exception("the exchange breaker could not change the trading state")
        return True

    def record_success(self) -> bool:
        """The exchange answered normally. True when this ended a trip (back to ACTIVE)."""
        now = self._clock.now()
        with self._lock:
            if self.tripped_at is None:
                return False
            quiet_since = max(self.tripped_at, self.last_failure_at or self.tripped_at)
            if now - quiet_since < self.recover_after:
                return False
            quiet = (now - quiet_since).total_seconds()
            self.tripped_at = None
            self.reason = None
            self.recoveries += 1
        reason = (
            f"exchange breaker: the exchange answered normally for {quiet:g} s since the last "
            "failure; trading is ACTIVE again"
        )
        log.warning("%s", reason)
        if self._recover is not None:
            try:
                self._recover(reason)
            except Exception:
                log.exception("the exchange breaker could not restore the trading state")
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

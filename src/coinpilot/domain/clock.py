"""The injected clock: every "now" in Coinpilot comes from one of these, never from datetime.now().

Tests use :class:`FakeClock` and advance it; the demo uses :class:`AcceleratedClock` to replay
history faster than real time; production uses :class:`SystemClock`.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """Current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock that moves only when told to. Thread-safe."""

    def __init__(self, start: datetime | None = None) -> None:
        start = start or datetime(2024, 1, 1, tzinfo=UTC)
        if start.tzinfo is None:
            raise ValueError("FakeClock needs a timezone-aware start")
        self._now = start.astimezone(UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, seconds: float = 0.0, **kwargs: float) -> datetime:
        with self._lock:
            self._now += timedelta(seconds=seconds, **kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when.astimezone(UTC)


class AcceleratedClock:
    """Simulated time that runs ``speed`` times faster than the wall clock from ``start``.

    With ``wall_anchor`` (unix seconds) the simulated clock is pinned to a wall-clock instant, so
    several processes (server, CLI, workers) that share the anchor agree on "now".
    """

    def __init__(self, start: datetime, speed: float, wall_anchor: float | None = None) -> None:
        if start.tzinfo is None:
            raise ValueError("AcceleratedClock needs a timezone-aware start")
        if speed <= 0:
            raise ValueError("speed must be positive")
        self._start = start.astimezone(UTC)
        self._speed = speed
        self._anchor = time.time() if wall_anchor is None else wall_anchor

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def start(self) -> datetime:
        return self._start

    @property
    def wall_anchor(self) -> float:
        return self._anchor

    def now(self) -> datetime:
        elapsed = max(0.0, time.time() - self._anchor) * self._speed
        return self._start + timedelta(seconds=elapsed)


def ensure_utc(value: datetime) -> datetime:
    """Reject naive datetimes; normalise aware ones to UTC."""
    if value.tzinfo is None:
        raise ValueError("naive datetime: Coinpilot uses timezone-aware UTC everywhere")
    return value.astimezone(UTC)

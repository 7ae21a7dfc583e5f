"""One overview computed for every dashboard polling within a second (read-only).

Fifty open dashboards polling the overview would each run the same statements at nearly the
same moment. The first request computes it; requests arriving while it is computed wait for it
(single flight); answers are reused for ``ttl`` seconds. Any state-changing request through the
API (POST, PATCH, PUT, DELETE) clears it, so a person's own action shows on the next refresh;
changes made by the engine show within ``ttl`` (well inside the 5 s poll).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any


class SharedAnswer:
    def __init__(self, ttl: float = 1.0) -> None:
        self._ttl = ttl
        self._lock = threading.Lock()
        self._value: Any = None
        self._expires = 0.0
        self._generation = 0

    def get(self, compute: Callable[[], Any]) -> Any:
        with self._lock:  # single flight: one computation at a time, shared by the waiters
            if self._value is not None and time.monotonic() < self._expires:
                return self._value
            generation = self._generation
            value = compute()
            if generation == self._generation:  # not invalidated while computing
                self._value = value
                self._expires = time.monotonic() + self._ttl
            return value

    def invalidate(self) -> None:
        self._generation += 1
        self._value = None
        self._expires = 0.0

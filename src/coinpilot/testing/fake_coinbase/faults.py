"""Fault injection: each fault targets a path regex (and optionally a method) and fires
``count`` times (None = until cleared, or until ``seconds`` pass for an outage)."""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Literal

FaultKind = Literal["429", "500", "503", "slow", "drop", "garbage", "stale", "outage"]
KINDS: tuple[str, ...] = ("429", "500", "503", "slow", "drop", "garbage", "stale", "outage")


@dataclass
class Fault:
    """``slow``: sleep ``seconds`` then answer normally; ``drop``: process the request (an order
    IS created) then close the connection without a response; ``garbage``: process the request, then
    answer 200 with an HTML body; ``stale``: order reads show OPEN
    with nothing filled while the fill is younger than ``seconds``; ``outage``: 503 for every
    matching request during ``seconds`` from injection."""

    kind: FaultKind
    path: str = ".*"
    method: str | None = None
    count: int | None = 1
    seconds: float = 0.0
    fired: int = 0
    created: float = field(default_factory=time.monotonic)

    def matches(self, method: str, path: str) -> bool:
        if self.method and self.method.upper() != method:
            return False
        return re.search(self.path, path) is not None

    @property
    def exhausted(self) -> bool:
        if self.kind == "outage" and time.monotonic() - self.created >= self.seconds:
            return True
        return self.count is not None and self.fired >= self.count


class FaultPlan:
    def __init__(self) -> None:
        self._faults: list[Fault] = []
        self._lock = threading.Lock()

    def add(self, fault: Fault) -> Fault:
        if fault.kind not in KINDS:
            raise ValueError(f"unknown fault kind {fault.kind!r}; use one of {KINDS}")
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        with self._lock:
            self._faults.clear()

    def take(self, method: str, path: str, kinds: tuple[str, ...]) -> Fault | None:
        """The first live fault of one of ``kinds`` matching the request; counts it as fired."""
        with self._lock:
            self._faults = [f for f in self._faults if not f.exhausted]
            for f in self._faults:
                if f.kind in kinds and f.matches(method, path):
                    f.fired += 1
                    return f
        return None

    def active(self) -> list[Fault]:
        with self._lock:
            return [f for f in self._faults if not f.exhausted]

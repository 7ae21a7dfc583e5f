"""Process-level measurements for ``GET /metrics``: what only this process can see.

Each :class:`Telemetry` owns its *own* Prometheus registry (never the global one), so two
servers in one test run, or a test and the server it drives, never share a counter. What the
database knows (orders by final state, positions, bots, refusals) is read from the database at
scrape time by :mod:`coinpilot.api.metrics`, so a restart cannot reset those figures to lies;
this module holds only what happens in flight: exchange requests and their latency, order
acknowledgement and fill latency, engine cycle and protection-pass time, database errors.

It imports nothing from Coinpilot, so every layer may report into it without an import cycle.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
FILL_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class Telemetry:
    """The in-flight metrics of one process, registered on a private registry."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self.exchange_requests = Counter(
            "coinpilot_exchange_requests",
            "Exchange HTTP requests by endpoint and outcome (HTTP status, 'timeout' or 'error'); "
            "429s are counted under their own status",
            ["endpoint", "status"],
            registry=r,
        )
        self.exchange_latency = Histogram(
            "coinpilot_exchange_request_seconds",
            "Exchange request latency by endpoint",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.order_ack_latency = Histogram(
            "coinpilot_order_ack_seconds",
            "From sending an order to the exchange's acknowledgement",
            ["mode", "side"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.order_fill_latency = Histogram(
            "coinpilot_order_fill_seconds",
            "From the trade row's creation to its fills being recorded (injected clock)",
            ["mode", "side"],
            buckets=FILL_BUCKETS,
            registry=r,
        )
        self.engine_cycle = Histogram(
            "coinpilot_engine_cycle_seconds",
            "One engine cycle: evaluate RUNNING bots and act on their decisions",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.protection_pass = Histogram(
            "coinpilot_protection_pass_seconds",
            "One protection pass: stops and take-profits of held positions not evaluated in the cycle",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.database_errors = Counter(
            "coinpilot_database_errors",
            "Errors raised by the database driver, by exception type",
            ["error"],
            registry=r,
        )
        self.limiter_headroom = Gauge(
            "coinpilot_rate_limiter_tokens",
            "Requests the client-side rate limiter would allow right now without waiting",
            registry=r,
        )
        self.limiter_headroom.set_function(self._headroom)
        self._headroom_source: Callable[[], float] | None = None
        self._lock = threading.Lock()
        self._last_exchange_ok: float | None = None
        self._last_exchange_failure: float | None = None
        self._last_failure_reason = ""

    # ---- exchange -------------------------------------------------------------------------
    def watch_limiter(self, available: Callable[[], float]) -> None:
        """Report the rate limiter's tokens (negative: callers are queued)."""
        self._headroom_source = available

    def _headroom(self) -> float:
        source = self._headroom_source
        return float(source()) if source is not None else float("nan")  # no limiter: paper exchange

    def exchange_request(self, endpoint: str, status: str, seconds: float) -> None:
        self.exchange_requests.labels(endpoint, status).inc()
        self.exchange_latency.labels(endpoint).observe(max(0.0, seconds))
        with self._lock:
            if status.isdigit() and int(status) < 500 and status != "429":
                self._last_exchange_ok = time.monotonic()
            else:
                self._last_exchange_failure = time.monotonic()
                self._last_failure_reason = f"{endpoint}: {status}"

    def exchange_health(self) -> tuple[bool, str]:
        """(reachable, why) from the latest exchange requests; reachable when nothing failed
        since the last success (or nothing was asked yet)."""
        with self._lock:
            ok, bad, reason = self._last_exchange_ok, self._last_exchange_failure, self._last_failure_reason
        if bad is None or (ok is not None and ok >= bad):
            return True, "no failed request since the last success"
        ago = time.monotonic() - bad
        return False, f"last request failed {ago:.0f} s ago ({reason})"

    # ---- orders ---------------------------------------------------------------------------
    def order_acknowledged(self, mode: str, side: str, seconds: float) -> None:
        self.order_ack_latency.labels(mode, side).observe(max(0.0, seconds))

    def order_filled(self, mode: str, side: str, seconds: float) -> None:
        self.order_fill_latency.labels(mode, side).observe(max(0.0, seconds))

    # ---- engine and database --------------------------------------------------------------
    def database_error(self, error: str) -> None:
        self.database_errors.labels(error).inc()

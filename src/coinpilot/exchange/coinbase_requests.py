"""Request plumbing of the Coinbase adapter: every SDK call goes through ``_call`` here.

Split out of ``coinbase.py`` so the adapter module holds what it asks Coinbase (orders,
accounts) while this one holds how a request is made: the client-side rate limiter, retries of
429/5xx/timeouts/connection errors with exponential backoff + jitter (a 429's Retry-After wins),
the per-thread single-attempt mode, the server Date header and clock-skew checks, and the
mapping of HTTP failures to the adapter's errors. The attributes are set by
:class:`coinpilot.exchange.coinbase.CoinbaseExchange`'s constructor.
"""

from __future__ import annotations

import contextlib
import email.utils
import multiprocessing
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import requests
from coinbase.rest import RESTClient

from coinpilot.domain.clock import Clock
from coinpilot.exchange import coinbase_errors as errs
from coinpilot.exchange.base import AuthenticationFailed, CallCounter, ExchangeError
from coinpilot.exchange.coinbase_clock import time_endpoint_skew
from coinpilot.exchange.ratelimit import TokenBucket

T = TypeVar("T")


class CoinbaseRequests:
    """Rate-limited, retried SDK calls and the clock checks that explain a refused token."""

    _client: RESTClient
    _wall: Clock
    _sleep: Callable[[float], None]
    _max_attempts: int
    _local: threading.local
    _backoff_base: float
    _backoff_max: float
    _jitter: Callable[[], float]
    _limiter: TokenBucket
    calls: CallCounter
    server_time_offset: float | None
    request_observer: Callable[[str, str, float], None] | None

    def rate_limiter_tokens(self) -> float:
        """Requests the client-side limiter allows now without waiting (metrics headroom)."""
        return self._limiter.available

    @property
    def authenticated(self) -> bool:
        return bool(self._client.is_authenticated)

    # ---- plumbing ---------------------------------------------------------------------------
    def _record_date(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        header = response.headers.get("Date")
        if header:
            try:
                server = email.utils.parsedate_to_datetime(header)
            except (TypeError, ValueError):
                return
            self.server_time_offset = (server - self._wall.now()).total_seconds()

    def clock_skew(self) -> tuple[float | None, float | None]:
        """(Coinbase minus local seconds from its time endpoint, from the last Date header)."""
        return time_endpoint_skew(self._client.get_unix_time, self._wall.now), self.server_time_offset

    def _auth_failure(self, exc: requests.HTTPError) -> AuthenticationFailed:
        """A refused token blames the clock when the clock is off, else the key."""
        if errs.status_of(exc) == 401:
            endpoint, header = self.clock_skew()
            skew = errs.skew_of(endpoint, header)
            if skew is not None and abs(skew) > errs.CLOCK_SKEW_LIMIT_SECONDS:
                return errs.clock_skew_error(endpoint, header)
        return errs.auth_error(exc)

    def _backoff(self, attempt: int) -> float:
        base = min(self._backoff_max, self._backoff_base * 2 ** (attempt - 1))
        return float(base / 2 + base / 2 * self._jitter())

    def _call(
        self,
        what: str,
        fn: Callable[..., T],
        *args: Any,
        not_found: type[ExchangeError] | None = None,
        **kwargs: Any,
    ) -> T:
        last = ""
        attempts = getattr(self._local, "attempts", None) or self._max_attempts
        for attempt in range(1, attempts + 1):
            retry_after = 0.0
            self._limiter.acquire()
            self.calls.hit(what)
            started = time.perf_counter()
            outcome = "error"
            try:
                result = fn(*args, **kwargs)
                outcome = "200"
                return result
            except requests.HTTPError as exc:
                status = errs.status_of(exc)
                outcome = str(status)
                if status in (401, 403):
                    raise self._auth_failure(exc) from None
                if status == 404 and not_found is not None:
                    _, message = errs.body_code(exc)
                    raise not_found(
                        f"{what}: Coinbase says not found ({message})", code="NOT_FOUND"
                    ) from None
                if not errs.is_retryable_status(status):
                    raise errs.client_error(exc, what) from None
                last = f"HTTP {status}"
                retry_after = errs.retry_after_seconds(exc)
            except requests.exceptions.SSLError as exc:
                raise errs.unavailable(what, attempt, f"TLS error: {exc}") from None
            except (requests.RequestException, ValueError) as exc:
                # timeouts, dropped connections, truncated or non-JSON bodies: outcome unknown
                last = type(exc).__name__
                outcome = "timeout" if isinstance(exc, requests.Timeout) else "error"
            except multiprocessing.AuthenticationError:
                raise AuthenticationFailed(
                    "no Coinbase API key configured: " + errs.AUTH_ADVICE, code="NO_KEY"
                ) from None
            finally:
                if self.request_observer is not None:
                    self.request_observer(what, outcome, time.perf_counter() - started)
            if attempt < attempts:
                # a 429's Retry-After wins over our backoff (bounded by backoff_max)
                self._sleep(max(self._backoff(attempt), min(retry_after, self._backoff_max)))
        raise errs.unavailable(what, attempts, last)

    @contextlib.contextmanager
    def single_attempt(self) -> Iterator[None]:
        """Calls made in this block (this thread) try once: a request someone waits for answers
        within one timeout; the order sync makes the later attempts in the background."""
        previous = getattr(self._local, "attempts", None)
        self._local.attempts = 1
        try:
            yield
        finally:
            self._local.attempts = previous

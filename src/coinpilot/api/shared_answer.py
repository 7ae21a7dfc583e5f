"""One overview computed for every dashboard polling within a second (read-only), never waited for
by a poller that can be given the last one.

Fifty open dashboards polling the overview would each run the same statements at nearly the
same moment. The answer (already encoded: encoding 200 rows per request costs more than the
statements) is shared:

* younger than ``ttl`` (1 s): served as it is;
* between ``ttl`` and ``max_age`` (2 s): served as it is, while ONE rebuild runs in the
  background (started by the first request to see it old), so no poller waits behind a rebuild
  it does not need;
* older than ``max_age`` because rebuilds are slow (one is running, or one just ended with an
  answer already that old: a loaded machine): served marked stale (never as fresh) while the
  next rebuild runs, up to ``stale_limit`` (10 s);
* otherwise (none, cleared, or old on a quiet server with no rebuild running): the request
  computes a new one, and requests arriving meanwhile wait for that one (single flight).

Every answer carries its age in the headers ``X-Answer-Age-Seconds`` and ``X-Answer-Stale`` (the
body is encoded and gzipped once per build, so nothing per request touches it), which the
dashboard shows. Any state-changing request through the API clears it, so a person's own action shows on
the next refresh; changes made by the engine show within ``max_age`` (well inside the 5 s poll).
"""

from __future__ import annotations

import gzip
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from starlette.responses import Response

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Built:
    body: bytes  # the answer, encoded
    extra: Any = None  # what else the build yields for other readers (the overview's rows by bot)
    gzipped: bytes | None = None  # the body gzipped once per build (see ``packed``)


@dataclass(frozen=True)
class Served:
    built: Built
    age_seconds: float
    stale: bool = False  # older than max_age: shown as such, never as fresh

    @property
    def extra(self) -> Any:
        return self.built.extra


class SharedAnswer:
    def __init__(
        self,
        ttl: float = 1.0,
        max_age: float = 2.0,
        stale_limit: float = 10.0,
        monotonic: Callable[[], float] = time.monotonic,
        background: bool = True,
    ) -> None:
        if not 0 < ttl <= max_age <= stale_limit:
            raise ValueError("need 0 < ttl <= max_age <= stale_limit")
        self._ttl = ttl
        self._max_age = max_age
        self._stale_limit = stale_limit
        self._monotonic = monotonic
        self._background = background
        self._state = threading.Lock()  # guards the fields below; never held while computing
        self._single_flight = threading.Lock()  # one computation at a time
        self._built: Built | None = None
        self._built_at = 0.0  # when the reads of the stored answer started
        self._stored_at = 0.0  # when it was stored
        self._generation = 0
        self._refreshing = False

    def peek(self, compute: Callable[[], Built]) -> Served | None:
        """The answer if it can be served without waiting (starting one background rebuild when
        it is past ``ttl``), else None: then call :meth:`get` (which may compute; off the event
        loop)."""
        start: int | None = None
        with self._state:
            if self._built is None:
                return None
            now = self._monotonic()
            age = now - self._built_at
            if age >= self._max_age:
                # Old because the rebuilds are slow (one runs, or one just ended), not because
                # nobody asked: waiting would not give a newer one sooner. Served marked stale.
                slow = self._refreshing or now - self._stored_at < self._ttl
                if not (slow and age < self._stale_limit and self._background):
                    return None
                served = Served(self._built, age, stale=True)
            else:
                served = Served(self._built, max(age, 0.0))
            if age >= self._ttl and not self._refreshing:
                if not self._background:
                    return None
                self._refreshing = True
                start = self._generation
        if start is not None:
            threading.Thread(target=self._refresh, args=(compute, start), daemon=True).start()
        return served

    def get(self, compute: Callable[[], Built]) -> Served:
        """A servable answer, computing it if there is none (single flight)."""
        with self._single_flight:
            with self._state:  # built by another request while this one waited?
                if self._built is not None:
                    age = self._monotonic() - self._built_at
                    if age < self._ttl:
                        return Served(self._built, max(age, 0.0))
                generation = self._generation
            started = self._monotonic()  # the answer is as old as the reads it starts with
            built = compute()
            self._store(built, generation, started)
            return Served(built, max(self._monotonic() - started, 0.0))

    def _refresh(self, compute: Callable[[], Built], generation: int) -> None:
        try:
            with self._single_flight:
                with self._state:  # a request computed one while this waited: nothing to do
                    if self._built is not None and self._monotonic() - self._built_at < self._ttl:
                        return
                started = self._monotonic()
                self._store(compute(), generation, started)
        except Exception:  # the next request past max_age computes in the open and reports it
            log.exception("rebuilding the shared overview failed")
        finally:
            with self._state:
                self._refreshing = False

    def _store(self, built: Built, generation: int, built_at: float) -> None:
        with self._state:
            if generation == self._generation:  # not cleared while computing
                self._built = built
                self._built_at = built_at
                self._stored_at = self._monotonic()

    def invalidate(self) -> None:
        with self._state:
            self._generation += 1
            self._built = None


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)  # money leaves as text, never as a float
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


def encode_json(value: Any) -> bytes:
    """The answer as JSON bytes, encoded once per build instead of once per poller."""
    return json.dumps(
        value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=_plain
    ).encode()


GZIP_FROM_BYTES = 4096


def packed(body: bytes, extra: Any = None) -> Built:
    """A build's answer with its gzipped copy (fast level; run where the build runs, off the
    event loop): the overview is ~330 KB at 200 bots and ~10 KB gzipped."""
    gzipped = gzip.compress(body, compresslevel=1) if len(body) >= GZIP_FROM_BYTES else None
    return Built(body, extra, gzipped)


def json_response(accept_encoding: str, built: Built, headers: dict[str, str] | None = None) -> Response:
    """The encoded answer, gzipped for clients that accept it."""
    out = {"Vary": "Accept-Encoding", **(headers or {})}
    if built.gzipped is not None and "gzip" in accept_encoding.lower():
        out["Content-Encoding"] = "gzip"
        return Response(built.gzipped, media_type="application/json", headers=out)
    return Response(built.body, media_type="application/json", headers=out)


def age_headers(served: Served) -> dict[str, str]:
    """How old the shared answer is (the dashboard shows it)."""
    return {
        "X-Answer-Age-Seconds": f"{served.age_seconds:.3f}",
        "X-Answer-Stale": "true" if served.stale else "false",
    }

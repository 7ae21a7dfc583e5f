"""Production adapter: Coinbase Advanced Trade through the official SDK (coinbase-advanced-py).

Facts checked against the installed SDK 1.8.4 source:
- ``RESTClient.__init__`` (RESTBase) creates ONE ``requests.Session`` as ``client.session`` and
  every call goes through ``self.session.request(..., timeout=self.timeout)``; so TLS trust
  (``session.verify`` + ``trust_env=False``) and the Date-header hook are set on that session.
- URLs are ``https://{base_url}{path}``; the JWT (ES256/EdDSA) is rebuilt per request.
- 4xx/5xx raise ``requests.HTTPError``; responses are typed objects (we only use ``to_dict()``).
- The SDK does not retry; this adapter retries 429/5xx/timeouts/connection errors with
  exponential backoff + jitter (``coinbase_requests.py``). Order creation is retried with the
  SAME client_order_id: Coinbase answers a replay with the existing order, so a retry cannot double an order.

This module holds the construction (guards, key check, TLS trust) and the order/account calls;
the request plumbing is in ``coinbase_requests.py`` and the market-data reads in
``coinbase_market.py`` (base classes of :class:`CoinbaseExchange`).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from coinbase import jwt_generator
from coinbase.rest import RESTClient

from coinpilot.config import Settings, is_loopback_host, running_under_test
from coinpilot.domain.clock import Clock, SystemClock
from coinpilot.domain.exchange_values import (
    Balance,
    FeeRates,
    FillReport,
    OrderAck,
    OrderRequest,
    OrderSnapshot,
)
from coinpilot.domain.market import Product
from coinpilot.domain.types import Side, TradingMode, quantize_down
from coinpilot.exchange import coinbase_errors as errs
from coinpilot.exchange.base import (
    AuthenticationFailed,
    CallCounter,
    ExchangeError,
    OrderNotFound,
    OrderRejected,
    ProductionGuardError,
)
from coinpilot.exchange.coinbase_market import MAX_CANDLES_PER_REQUEST, CoinbaseMarketData
from coinpilot.exchange.coinbase_parse import parse_decimal, parse_fill, parse_order
from coinpilot.exchange.ratelimit import TokenBucket

# How far around a trade's creation its order is looked for (covers clock skew and a slow send).
FIND_ORDER_MARGIN = timedelta(hours=1)


def _rfc3339(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def guard_base_url(base_url: str) -> None:
    """Under test, only a loopback stand-in may be contacted: checked before any client exists."""
    if running_under_test() and not is_loopback_host(base_url):
        raise ProductionGuardError(
            f"refusing to talk to {base_url!r} under test: point COINPILOT_COINBASE_BASE_URL at "
            "a loopback stand-in (127.0.0.1:PORT)"
        )


class CoinbaseExchange(CoinbaseMarketData):
    """Implements :class:`coinpilot.exchange.base.Exchange` in PRODUCTION mode."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str | None = None,
        api_secret: str | None = None,
        key_file: Path | str | None = None,
        timeout: float = 10.0,
        max_requests_per_second: float = 20.0,
        ca_cert: Path | str | None = None,
        clock: Clock | None = None,
        wall_clock: Clock | None = None,
        sleep: Callable[[float], None] = time.sleep,
        max_attempts: int = 4,
        backoff_base: float = 0.25,
        backoff_max: float = 4.0,
        jitter: Callable[[], float] = random.random,
        limiter: TokenBucket | None = None,
    ) -> None:
        guard_base_url(base_url)  # before anything that could open a connection
        if ca_cert is not None and not is_loopback_host(base_url):
            raise ProductionGuardError("a custom CA certificate is only allowed for loopback")
        try:
            if key_file is not None:
                # api_key/api_secret passed explicitly as None: the SDK's defaults read COINBASE_API_KEY
                # at import time and would clash with key_file.
                client = RESTClient(
                    api_key=None, api_secret=None, key_file=str(key_file), base_url=base_url, timeout=timeout
                )
            else:
                client = RESTClient(
                    api_key=api_key,
                    api_secret=api_secret,
                    base_url=base_url,
                    timeout=timeout,
                )
        except Exception as exc:  # the SDK raises bare Exception for bad key input
            raise AuthenticationFailed(f"{errs.AUTH_ADVICE} ({exc})", code="BAD_KEY") from None
        if client.is_authenticated:
            try:  # fail at start-up, not at the first order, when the secret is malformed
                jwt_generator.build_rest_jwt("GET check", client.api_key, client.api_secret)
            except Exception as exc:
                raise AuthenticationFailed(f"{errs.AUTH_ADVICE} ({exc})", code="BAD_KEY") from None
        if ca_cert is not None:
            client.session.verify = str(ca_cert)
            client.session.trust_env = False  # else REQUESTS_CA_BUNDLE would override verify
        client.session.hooks["response"].append(self._record_date)
        self._client = client
        self.base_url = base_url
        self._clock = clock or SystemClock()
        self._wall = wall_clock or SystemClock()
        self._sleep = sleep
        self._max_attempts = max(1, max_attempts)
        self._local = threading.local()  # per-thread attempt limit (see single_attempt)
        self._backoff_base = backoff_base
        self._backoff_max = backoff_max
        self._jitter = jitter
        # Coinbase allows ~30/s on private endpoints but only ~10/s on public ones.
        rate = max_requests_per_second if client.is_authenticated else min(max_requests_per_second, 10.0)
        self._limiter = limiter or TokenBucket(rate, sleep=sleep)
        self._products: dict[str, Product] = {}
        self.calls = CallCounter()
        self.server_time_offset: float | None = None  # server Date minus local wall clock
        # Told about every HTTP attempt (endpoint, status or 'timeout'/'error', seconds): metrics.
        self.request_observer: Callable[[str, str, float], None] | None = None

    @classmethod
    def from_settings(cls, settings: Settings, **kwargs: Any) -> CoinbaseExchange:
        ca = getattr(settings, "coinbase_ca_cert", None)
        return cls(
            base_url=settings.coinbase_base_url,
            api_key=settings.coinbase_api_key.get_secret_value()
            if settings.coinbase_api_key and not settings.coinbase_key_file
            else None,
            api_secret=settings.coinbase_api_secret.get_secret_value()
            if settings.coinbase_api_secret and not settings.coinbase_key_file
            else None,
            key_file=settings.coinbase_key_file,
            timeout=settings.coinbase_timeout_seconds,
            max_requests_per_second=settings.coinbase_max_requests_per_second,
            ca_cert=kwargs.pop("ca_cert", ca),
            **kwargs,
        )

    @property
    def mode(self) -> TradingMode:
        return TradingMode.PRODUCTION

    # ---- orders --------------------------------------------------------------------------
    def place_market_order(self, request: OrderRequest) -> OrderAck:
        product = self.cached_product(request.pair)
        sizes: dict[str, str] = {}
        if request.quote_size is not None:
            size, code = quantize_down(request.quote_size, product.quote_increment), "QUOTE"
            sizes["quote_size"] = format(size, "f")
        else:
            assert request.base_size is not None
            size, code = quantize_down(request.base_size, product.base_increment), "BASE"
            sizes["base_size"] = format(size, "f")
        if size <= 0:
            raise errs.order_rejected(
                {
                    "error": f"PREVIEW_INVALID_{code}_SIZE_TOO_SMALL",
                    "message": "size rounds down to zero at the product's increment",
                }
            )
        fn = self._client.market_order_buy if request.side == Side.BUY else self._client.market_order_sell
        resp = self._call(
            "place order",
            fn,
            request.client_order_id,
            request.pair,
            quote_size=sizes.get("quote_size"),
            base_size=sizes.get("base_size"),
        ).to_dict()
        if resp.get("success") is None:  # not Coinbase's shape: the order may exist
            raise errs.unavailable("place order", 1, f"unexpected response {sorted(resp)}")
        if not resp.get("success"):
            raise errs.order_rejected(resp.get("error_response"))
        ok = resp.get("success_response") or {}
        if not ok.get("order_id"):
            raise ExchangeError(
                "Coinbase accepted the order but sent no order id", code="MALFORMED_RESPONSE", detail=resp
            )
        return OrderAck(
            str(ok["order_id"]),
            str(ok.get("client_order_id") or request.client_order_id),
            request.pair,
            request.side,
        )

    def get_order(self, order_id: str) -> OrderSnapshot:
        resp = self._call("get order", self._client.get_order, order_id, not_found=OrderNotFound)
        return parse_order(resp.to_dict()["order"])

    def get_orders(self, order_ids: Sequence[str]) -> list[OrderSnapshot]:
        out: list[OrderSnapshot] = []
        for i in range(0, len(order_ids), 100):
            cursor: str | None = None
            while True:
                d = self._call(
                    "list orders",
                    self._client.list_orders,
                    order_ids=list(order_ids[i : i + 100]),
                    cursor=cursor,
                ).to_dict()
                out.extend(parse_order(o) for o in d.get("orders") or [])
                cursor = d.get("cursor") or None
                if not d.get("has_next") or not cursor:
                    break
        return out

    def find_order(self, pair: str, client_order_id: str, around: datetime) -> OrderSnapshot | None:
        """List the product's orders in a window around the trade's creation and match the
        client_order_id (the single-order look-up by client id is deprecated)."""
        start, end = around - FIND_ORDER_MARGIN, around + FIND_ORDER_MARGIN
        cursor: str | None = None
        while True:
            d = self._call(
                "list orders",
                self._client.list_orders,
                product_ids=[pair],
                start_date=_rfc3339(start),
                end_date=_rfc3339(end),
                cursor=cursor,
            ).to_dict()
            for o in d.get("orders") or []:
                if str(o.get("client_order_id") or "") == client_order_id:
                    return parse_order(o)
            cursor = d.get("cursor") or None
            if not d.get("has_next") or not cursor:
                return None

    def get_fills(self, order_id: str) -> list[FillReport]:
        fills: list[FillReport] = []
        cursor: str | None = None
        while True:
            d = self._call("get fills", self._client.get_fills, order_ids=[order_id], cursor=cursor).to_dict()
            fills.extend(parse_fill(f) for f in d.get("fills") or [])
            cursor = d.get("cursor") or None
            if not cursor:
                return fills

    def cancel_orders(self, order_ids: Sequence[str]) -> dict[str, bool]:
        if not order_ids:
            return {}
        d = self._call("cancel orders", self._client.cancel_orders, list(order_ids)).to_dict()
        return {str(r.get("order_id")): bool(r.get("success")) for r in d.get("results") or []}

    def get_balances(self, currencies: Sequence[str] | None = None) -> dict[str, Balance]:
        """Coinbase cannot filter accounts by currency: page through all, return those asked."""
        wanted = None if currencies is None else set(currencies)
        totals: dict[str, Balance] = {}
        cursor: str | None = None
        while True:
            d = self._call("list accounts", self._client.get_accounts, limit=250, cursor=cursor).to_dict()
            for a in d.get("accounts") or []:
                cur = str(a["currency"])
                prev = totals.get(cur, Balance(cur, Decimal(0)))
                totals[cur] = Balance(
                    cur,
                    prev.available + parse_decimal((a.get("available_balance") or {}).get("value")),
                    prev.hold + parse_decimal((a.get("hold") or {}).get("value")),
                )
            cursor = d.get("cursor") or None
            if not d.get("has_next") or not cursor:
                return totals if wanted is None else {c: b for c, b in totals.items() if c in wanted}

    def get_fee_rates(self) -> FeeRates:
        d = self._call("fee tier", self._client.get_transaction_summary).to_dict()
        tier = d.get("fee_tier") or {}
        return FeeRates(
            maker=parse_decimal(tier.get("maker_fee_rate")),
            taker=parse_decimal(tier.get("taker_fee_rate")),
            tier=str(tier.get("pricing_tier") or ""),
        )

    def get_key_permissions(self) -> dict[str, Any]:
        return dict(self._call("key permissions", self._client.get_api_key_permissions).to_dict())


__all__ = [
    "MAX_CANDLES_PER_REQUEST",
    "CoinbaseExchange",
    "OrderRejected",
    "guard_base_url",
]

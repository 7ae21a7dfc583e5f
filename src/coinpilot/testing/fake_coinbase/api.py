"""The /api/v3/brokerage endpoints: request in, (status, JSON body) out, Coinbase's shapes."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from coinpilot.testing.fake_coinbase.auth import RegisteredKey
from coinpilot.testing.fake_coinbase.market import (
    GRANULARITY_SECONDS,
    MAX_CANDLES,
    candle_json,
    candle_starts,
    fmt,
)
from coinpilot.testing.fake_coinbase.state import ExchangeState, OrderFailure

PREFIX = "/api/v3/brokerage"
# Stands in for the caller on public endpoints (/market/..., /time): may read, never trade.
PUBLIC_KEY = RegisteredKey("public", Ed25519PrivateKey.generate().public_key(), can_trade=False)
Response = tuple[int, Any]


def error(status: int, code: str, message: str) -> Response:
    return status, {"error": code, "error_details": message, "message": message}


class BrokerageApi:
    def __init__(self, state: ExchangeState) -> None:
        self.state = state

    def handle(
        self,
        method: str,
        path: str,
        query: dict[str, list[str]],
        body: dict[str, Any],
        key: RegisteredKey,
        stale_seconds: float | None,
    ) -> Response:
        route = path[len(PREFIX) :]
        st = self.state
        st.advance()
        if method == "POST" and not key.can_trade:
            return 403, {
                "error": "PERMISSION_DENIED",
                "error_details": "Missing required scopes",
                "message": "Missing required scopes",
            }
        if key is PUBLIC_KEY:
            return self.public(method, route, query)
        if method == "GET":
            if route == "/accounts":
                return self.accounts(query)
            if route == "/products":
                with st.lock:
                    items = [p.to_json() for p in st.products.values()]
                return 200, {"products": items, "num_products": len(items)}
            m = re.fullmatch(r"/products/([^/]+)/candles", route)
            if m:
                return self.candles(m.group(1), query)
            m = re.fullmatch(r"/products/([^/]+)", route)
            if m:
                with st.lock:
                    p = st.products.get(m.group(1))
                    return (200, p.to_json()) if p else error(404, "NOT_FOUND", "product not found")
            if route == "/best_bid_ask":
                return self.best_bid_ask(query)
            if route == "/orders/historical/batch":
                return self.list_orders(query, stale_seconds)
            if route == "/orders/historical/fills":
                wanted = set(query.get("order_ids", []))
                with st.lock:
                    fills = [
                        f.to_json(o.quote_size is not None)
                        for o in st.orders.values()
                        if not wanted or o.order_id in wanted
                        for f in o.fills
                    ]
                return 200, {"fills": fills, "cursor": ""}
            m = re.fullmatch(r"/orders/historical/([^/]+)", route)
            if m:
                with st.lock:
                    o = st.orders.get(m.group(1))
                    if o is None:
                        return error(404, "NOT_FOUND", "order with this orderID was not found")
                    return 200, {"order": o.to_json(self._is_stale(o, stale_seconds))}
            if route == "/transaction_summary":
                return 200, self.transaction_summary()
            if route == "/key_permissions":
                return 200, {
                    "can_view": key.can_view,
                    "can_trade": key.can_trade,
                    "can_transfer": key.can_transfer,
                    "portfolio_uuid": "fake-portfolio",
                    "portfolio_type": "DEFAULT",
                }
        if method == "POST":
            if route == "/orders":
                return self.create_order(body)
            if route == "/orders/batch_cancel":
                results = []
                for oid in body.get("order_ids") or []:
                    ok, reason = st.cancel(str(oid))
                    results.append({"success": ok, "failure_reason": reason, "order_id": oid})
                return 200, {"results": results}
        return error(404, "NOT_FOUND", f"no route for {method} {path}")

    def public(self, method: str, route: str, query: dict[str, list[str]]) -> Response:
        """Unauthenticated market data under /market/ and the server time."""
        st = self.state
        if method != "GET":
            return error(404, "NOT_FOUND", "public endpoints are read-only")
        if route == "/time":
            now = datetime.now(UTC) + timedelta(seconds=st.clock_offset)
            return 200, {
                "iso": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                "epochSeconds": str(int(now.timestamp())),
                "epochMillis": str(int(now.timestamp() * 1000)),
            }
        if route == "/market/product_book":
            pid = (query.get("product_id") or [""])[0]
            books = self.best_bid_ask({"product_ids": [pid]})[1]["pricebooks"]
            if not books:
                return error(404, "NOT_FOUND", "product not found")
            book = books[0]
            bid, ask = Decimal(book["bids"][0]["price"]), Decimal(book["asks"][0]["price"])
            return 200, {
                "pricebook": book,
                "last": fmt((bid + ask) / 2),
                "mid_market": fmt((bid + ask) / 2),
                "spread_bps": "0",
                "spread_absolute": fmt(ask - bid),
            }
        if route == "/market/products":
            with st.lock:
                items = [p.to_json() for p in st.products.values()]
            return 200, {"products": items, "num_products": len(items)}
        m = re.fullmatch(r"/market/products/([^/]+)/candles", route)
        if m:
            return self.candles(m.group(1), query)
        m = re.fullmatch(r"/market/products/([^/]+)", route)
        if m:
            with st.lock:
                p = st.products.get(m.group(1))
                return (200, p.to_json()) if p else error(404, "NOT_FOUND", "product not found")
        return error(404, "NOT_FOUND", f"no public route {route}")

    @staticmethod
    def _is_stale(order: Any, stale_seconds: float | None) -> bool:
        if stale_seconds is None or order.filled_at is None:
            return False
        return bool(datetime.now(UTC).timestamp() - order.filled_at < stale_seconds)

    def accounts(self, query: dict[str, list[str]]) -> Response:
        st = self.state
        limit = int((query.get("limit") or ["49"])[0])
        start = int((query.get("cursor") or ["0"])[0] or 0)
        with st.lock:
            currencies = sorted(st.account_ids)
            page = currencies[start : start + limit]
            accounts = [
                {
                    "uuid": st.account_ids[c],
                    "name": f"{c} Wallet",
                    "currency": c,
                    "available_balance": {"value": fmt(st.balances[c]), "currency": c},
                    "default": True,
                    "active": True,
                    "created_at": "2024-01-01T00:00:00Z",
                    "updated_at": "2024-01-01T00:00:00Z",
                    "deleted_at": None,
                    "type": "ACCOUNT_TYPE_CRYPTO" if c != "USD" else "ACCOUNT_TYPE_FIAT",
                    "ready": True,
                    "hold": {"value": fmt(st.holds[c]), "currency": c},
                    "retail_portfolio_id": "fake-portfolio",
                    "platform": "ACCOUNT_PLATFORM_CONSUMER",
                }
                for c in page
            ]
        has_next = start + limit < len(currencies)
        return 200, {
            "accounts": accounts,
            "has_next": has_next,
            "cursor": str(start + limit) if has_next else "",
            "size": len(accounts),
        }

    def list_orders(self, query: dict[str, list[str]], stale_seconds: float | None) -> Response:
        """Like Coinbase: filter by ``order_ids``, ``product_ids`` and the creation window
        ``start_date`` / ``end_date`` (RFC 3339); newest first."""
        st = self.state
        ids = query.get("order_ids", [])
        products = set(query.get("product_ids", []))
        try:
            start = _epoch(query.get("start_date", [""])[0])
            end = _epoch(query.get("end_date", [""])[0])
        except ValueError:
            return error(400, "INVALID_ARGUMENT", "start_date/end_date must be RFC 3339 times")
        with st.lock:
            found = [st.orders[i] for i in ids if i in st.orders] if ids else list(st.orders.values())
            found = [
                o
                for o in found
                if (not products or o.product_id in products)
                and (start is None or o.created >= start)
                and (end is None or o.created <= end)
            ]
            found.sort(key=lambda o: o.created, reverse=True)
            out = [o.to_json(self._is_stale(o, stale_seconds)) for o in found]
        return 200, {"orders": out, "sequence": "0", "has_next": False, "cursor": ""}

    def candles(self, product_id: str, query: dict[str, list[str]]) -> Response:
        with self.state.lock:
            product = self.state.products.get(product_id)
            price = product.price if product else None
        if price is None:
            return error(404, "NOT_FOUND", "product not found")
        gran = (query.get("granularity") or [""])[0]
        if gran not in GRANULARITY_SECONDS:
            return error(400, "INVALID_ARGUMENT", f"invalid granularity {gran!r}")
        try:
            start = int(query["start"][0])
            end = int(query["end"][0])
        except (KeyError, ValueError):
            return error(400, "INVALID_ARGUMENT", "start and end must be unix seconds")
        g = GRANULARITY_SECONDS[gran]
        if end <= start:
            return error(400, "INVALID_ARGUMENT", "end must be after start")
        if -(-(end - start) // g) > MAX_CANDLES:
            return error(
                400,
                "INVALID_ARGUMENT",
                "start and end argument is invalid - number of candles requested "
                f"should be less than {MAX_CANDLES}",
            )
        return 200, {"candles": [candle_json(price, t, g) for t in candle_starts(start, end, g)]}

    def best_bid_ask(self, query: dict[str, list[str]]) -> Response:
        ids = query.get("product_ids") or []
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        with self.state.lock:
            products = (
                [self.state.products[i] for i in ids if i in self.state.products]
                if ids
                else list(self.state.products.values())
            )
            books = [
                {
                    "product_id": p.product_id,
                    "bids": [{"price": fmt(p.bid), "size": "1.5"}],
                    "asks": [{"price": fmt(p.ask), "size": "2.5"}],
                    "time": now,
                }
                for p in products
            ]
        return 200, {"pricebooks": books}

    def transaction_summary(self) -> dict[str, Any]:
        st = self.state
        return {
            "total_volume": 0,
            "total_fees": 0,
            "fee_tier": {
                "pricing_tier": st.pricing_tier,
                "usd_from": "0",
                "usd_to": "1000",
                "taker_fee_rate": fmt(st.taker_fee_rate),
                "maker_fee_rate": fmt(st.maker_fee_rate),
                "aop_from": "",
                "aop_to": "",
            },
            "margin_rate": None,
            "goods_and_services_tax": None,
            "advanced_trade_only_volume": 0,
            "advanced_trade_only_fees": 0,
            "coinbase_pro_volume": 0,
            "coinbase_pro_fees": 0,
            "total_balance": "0",
            "has_promo_fee": False,
        }

    def create_order(self, body: dict[str, Any]) -> Response:
        coid = str(body.get("client_order_id") or "")
        product_id = str(body.get("product_id") or "")
        side = str(body.get("side") or "")
        config = (body.get("order_configuration") or {}).get("market_market_ioc")
        if not coid or config is None:
            return error(400, "INVALID_ARGUMENT", "client_order_id and market_market_ioc required")
        try:
            order = self.state.create_market_order(
                coid, product_id, side, config.get("quote_size"), config.get("base_size")
            )
        except OrderFailure as f:
            return 200, {
                "success": False,
                "failure_reason": "UNKNOWN_FAILURE_REASON",
                "order_id": "",
                "error_response": {
                    "error": f.error,
                    "message": f.message,
                    "error_details": f.message,
                    "preview_failure_reason": f.preview or "UNKNOWN_PREVIEW_FAILURE_REASON",
                    "new_order_failure_reason": f.new_order or "UNKNOWN_FAILURE_REASON",
                },
                "order_configuration": body.get("order_configuration"),
            }
        return 200, {
            "success": True,
            "success_response": {
                "order_id": order.order_id,
                "product_id": order.product_id,
                "side": order.side,
                "client_order_id": order.client_order_id,
            },
            "order_configuration": {
                "market_market_ioc": {
                    k: fmt(v)
                    for k, v in (("quote_size", order.quote_size), ("base_size", order.base_size))
                    if v is not None
                }
            },
        }


def dumps(body: Any) -> bytes:
    """Compact JSON like Coinbase's (the SDK's 403 check depends on no spaces)."""
    return json.dumps(body, separators=(",", ":"), default=_default).encode()


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def _epoch(text: str) -> float | None:
    """Seconds since the epoch of an RFC 3339 time, or None for an empty parameter."""
    if not text:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()

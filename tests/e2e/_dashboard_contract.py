"""The documented summary JSON as a fixture, and a routed origin that serves it with the static files.

Split out of the dashboard tests: the contract tests render this fixture (every field, including
nulls and production mode) without a server, through Playwright routing.
"""

from __future__ import annotations

import json
from typing import Any

from tests.e2e._dashboard import STATIC

FAKE_ORIGIN = "http://coinpilot.test"

CONTRACT_SUMMARY: dict[str, Any] = {
    "generated_at": "2024-03-01T12:00:00+00:00",
    "mode": "production",
    "trading": {
        "trading_state": "HALTED",
        "trading_state_reason": "exchange outage",
        "state": "HALTED",
        "reason": "exchange outage",
        "by": "alice",
        "since": "2024-03-01T11:59:00+00:00",
    },
    "safety": {
        "trades_today": 3,
        "max_daily_trades": 30,
        "realized_pnl_today": "-12.5",
        "daily_loss_limit_usd": "50",
        "max_trade_usd": "25",
    },
    "totals": {
        "bots": 2,
        "running": 1,
        "realized_pnl": "1234567.895",
        "unrealized_pnl": "-0.05",
        "exposure": "43.26",
    },
    "bots": [
        {
            "id": 1,
            "name": "btc-demo",
            "pair": "BTC-USD",
            "status": "RUNNING",
            "status_reason": None,
            "buy_threshold": 0.3,
            "sell_threshold": 0.3,
            "score": 0.42,
            "action": "buy",
            "price": "43210.50",
            "temperature": {
                "level": "warm",
                "emoji": "🌤️",
                "ratio": 0.7,
                "distance_to_action": 0.08,
                "leaning": "buy",
            },
            "confirmation": {
                "action": "buy",
                "since": "2024-03-01T11:58:00+00:00",
                "required_seconds": 300,
                "elapsed_seconds": 120,
                "progress": 0.4,
                "remaining_seconds": 180,
                "confirmed": False,
            },
            "signals": [
                {
                    "name": "rsi",
                    "status": "ok",
                    "value": 28.1,
                    "score": 0.6,
                    "weight": 0.4,
                    "effective_weight": 0.4,
                    "contribution": 0.24,
                    "detail": {},
                }
            ],
            "last_evaluated_at": "2024-03-01T12:00:00+00:00",
            "last_error": None,
            "position": {
                "status": "BUILDING",
                "base_size": "0.00100000",
                "avg_entry_price": "43000",
                "cost": "43.26",
                "unrealized_pnl": "-0.05",
                "realized_pnl": "0",
                "tranches": 1,
                "max_tranches": 3,
            },
            "last_trade": {
                "id": 7,
                "side": "buy",
                "intent": "entry",
                "status": "SETTLED",
                "created_at": "2024-03-01T11:50:00+00:00",
                "filled_value": "24.85",
                "mode": "production",
            },
            "cooldown_remaining_seconds": 540,
        },
        {
            "id": 2,
            "name": "eth-fresh",
            "pair": "ETH-USD",
            "status": "STOPPED",
            "status_reason": "created",
            "buy_threshold": 0.4,
            "sell_threshold": 0.35,
            "score": None,
            "action": None,
            "price": None,
            "temperature": None,
            # the API sends an idle confirmation (action null) rather than null
            "confirmation": {
                "action": None,
                "since": None,
                "required_seconds": 300.0,
                "elapsed_seconds": 0.0,
                "progress": 0.0,
                "remaining_seconds": 300.0,
                "confirmed": False,
            },
            "signals": [],
            "last_evaluated_at": None,
            "last_error": "candles unavailable: <b>not html</b>",
            "position": None,
            "last_trade": None,
            "cooldown_remaining_seconds": 0,
        },
    ],
    "recent_trades": [
        {
            "id": 7,
            "bot_id": 1,
            "bot_name": "btc-demo",
            "pair": "BTC-USD",
            "side": "buy",
            "intent": "entry",
            "status": "SETTLED",
            "mode": "production",
            "created_at": "2024-03-01T11:50:00+00:00",
            "requested_quote_size": "25",
            "requested_base_size": None,
            "filled_base_size": "0.00057",
            "average_fill_price": "43210.5",
            "filled_value": "24.85",
            "fees": "0.15",
        },
    ],
}
# The operations panel's endpoints (operations.js): production at the canary step.
ESCALATION = {
    "mode": "production",
    "escalated": True,
    "step_since": "2024-03-01T09:00:00+00:00",
    "reason": "production starts at the canary step",
    "step": {
        "number": 1,
        "name": "canary",
        "max_trade_usd": "10",
        "max_daily_trades": 3,
        "max_position_usd_per_bot": "20",
        "max_total_exposure_usd": "30",
        "settled_trades_to_advance": 5,
    },
    "record": {"settled_trades": 2, "failed_orders": 0, "drift_incidents": 0, "breaker_trips": 0},
    "next_step": {
        "number": 2,
        "name": "small",
        "max_trade_usd": "25",
        "max_daily_trades": 10,
        "max_position_usd_per_bot": "75",
        "max_total_exposure_usd": "150",
        "settled_trades_to_advance": 10,
    },
    "missing": ["3 more settled trade(s) at this step (have 2 of 5)"],
    "can_approve": False,
}
AUDIT = {
    "items": [
        {
            "id": 7,
            "at": "2024-03-01T11:58:00+00:00",
            "source": "change",
            "action": "bot_updated",
            "actor": "alice",
            "mode": "production",
            "bot_id": 1,
            "before": {"trade_size_usd": "10"},
            "after": {"trade_size_usd": "12"},
            "detail": {"bot_id": 1},
        }
    ],
    "next_before_id": None,
}
HISTORY = [{"evaluated_at": f"2024-03-01T11:{m:02d}:00+00:00", "score": (m % 7 - 3) / 5} for m in range(20)]
PRODUCTS = [
    {"product_id": "BTC-USD", "base_increment": "0.00000001", "quote_increment": "0.01"},
    {"product_id": "ETH-USD", "base_increment": "0.00000001", "quote_increment": "0.01"},
]


def serve_contract(page: Any, summary: dict[str, Any]) -> list[str]:
    """Route the fake origin: static files from disk, the API from fixtures. Returns API paths hit."""
    hits: list[str] = []

    def handle(route: Any) -> None:
        path = route.request.url[len(FAKE_ORIGIN) :].split("?")[0]
        if path.startswith("/api/"):
            hits.append(path)
            if path == "/api/v1/bots/status/summary":
                route.fulfill(status=200, content_type="application/json", body=json.dumps(summary))
            elif path == "/api/v1/escalation":
                route.fulfill(status=200, content_type="application/json", body=json.dumps(ESCALATION))
            elif path == "/api/v1/audit":
                route.fulfill(status=200, content_type="application/json", body=json.dumps(AUDIT))
            elif path.endswith("/signal-history"):
                route.fulfill(status=200, content_type="application/json", body=json.dumps(HISTORY))
            elif path == "/api/v1/market/products":
                route.fulfill(status=200, content_type="application/json", body=json.dumps(PRODUCTS))
            else:
                route.fulfill(status=404, content_type="application/json", body='{"detail": "no"}')
            return
        # the app serves index.html at / and the assets under /static/
        file = STATIC / ("index.html" if path == "/" else path.removeprefix("/static/"))
        if not file.is_file():
            route.fulfill(status=404, body="not found")
            return
        types = {".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml"}
        route.fulfill(
            status=200,
            content_type=types.get(file.suffix, "application/octet-stream"),
            body=file.read_bytes(),
        )

    page.route(f"{FAKE_ORIGIN}/**", handle)
    return hits

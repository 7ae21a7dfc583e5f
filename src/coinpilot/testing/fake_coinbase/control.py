"""``/__control__/…``: the test-side API over HTTP, for a stand-in running as a subprocess.

POST bodies are JSON. Routes: GET state; POST price {product_id, price, spread?};
POST balance {currency, amount}; POST fault {kind, path?, method?, count?, seconds?};
POST clear_faults; POST fills {delay?, partial_fills?, style?}; POST fail_next {reject_reason?};
POST key {name, public_pem | privateKey}; POST fees {taker, maker, tier?};
POST clock {offset_seconds}.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from coinpilot.testing.keys import public_pem_from_private

if TYPE_CHECKING:
    from coinpilot.testing.fake_coinbase.server import FakeCoinbase


def snapshot(fake: FakeCoinbase) -> dict[str, Any]:
    orders = fake.all_orders()
    with fake.state.lock:
        attempts = dict(fake.state.create_attempts)
    return {
        "orders": [o.to_json() for o in orders],
        "orders_per_client_id": {
            coid: sum(1 for o in orders if o.client_order_id == coid) for coid in attempts
        },
        "create_attempts": attempts,
        "balances": {c: {"available": str(a), "hold": str(h)} for c, (a, h) in fake.balances().items()},
        "faults": [{"kind": f.kind, "path": f.path, "fired": f.fired} for f in fake.faults.active()],
    }


def handle_control(fake: FakeCoinbase, method: str, path: str, raw: bytes) -> tuple[int, Any]:
    route = path[len("/__control__/") :]
    try:
        body: dict[str, Any] = json.loads(raw or b"{}") if method == "POST" else {}
        if method == "GET" and route == "state":
            return 200, snapshot(fake)
        if method != "POST":
            return 405, {"error": "use POST"}
        if route == "price":
            fake.set_price(body["product_id"], str(body["price"]), body.get("spread"))
        elif route == "balance":
            fake.set_balance(body["currency"], str(body["amount"]))
        elif route == "fault":
            fake.inject(
                body["kind"],
                body.get("path", ".*"),
                method=body.get("method"),
                count=body.get("count", 1),
                seconds=float(body.get("seconds", 0)),
            )
        elif route == "clear_faults":
            fake.clear_faults()
        elif route == "fills":
            fake.set_fill_behaviour(body.get("delay"), body.get("partial_fills"), body.get("style"))
        elif route == "fail_next":
            fake.fail_next_order(body.get("reject_reason", "REJECT_REASON_UNSPECIFIED"))
        elif route == "key":
            pem = body.get("public_pem") or public_pem_from_private(body["privateKey"])
            fake.add_key(body["name"], pem)
        elif route == "clock":
            fake.set_clock_offset(float(body["offset_seconds"]))
        elif route == "fees":
            fake.set_fees(str(body["taker"]), str(body["maker"]), body.get("tier", "Advanced 1"))
        else:
            return 404, {"error": f"unknown control route {route!r}"}
    except (KeyError, ValueError, TypeError) as exc:
        return 400, {"error": f"bad control request: {exc}"}
    return 200, {"ok": True}

"""How far Coinbase's clock is from ours, for errors that say what to do.

Coinbase refuses a signed request whose JWT (valid 120 s from ``nbf``) lies outside its own
clock's window, with the same 401 as a wrong key. So when a token is refused, the adapter asks
Coinbase's public time endpoint (no signature needed, sub-second) and compares the response Date
header (1 s resolution) before deciding whether to blame the key or the clock.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from coinpilot.exchange.coinbase_parse import parse_decimal


def time_endpoint_skew(get_time: Callable[[], Any], now: Callable[[], datetime]) -> float | None:
    """Coinbase's time minus ours (seconds), measured at the middle of the round trip; None
    when the endpoint cannot be read."""
    try:
        before = now()
        body = get_time()
        after = now()
        data = body.to_dict() if hasattr(body, "to_dict") else dict(body)
    except Exception:
        return None
    # The SDK's typed response gives snake_case keys; the wire JSON is camelCase.
    millis = parse_decimal(data.get("epoch_millis") or data.get("epochMillis"))
    epoch = data.get("epoch_seconds") or data.get("epochSeconds")
    seconds = float(millis) / 1000 if millis > 0 else float(parse_decimal(epoch))
    if seconds <= 0:
        return None
    middle = before + (after - before) / 2
    return round(seconds - middle.timestamp(), 3)

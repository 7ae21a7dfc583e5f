"""Coinbase failures turned into Coinpilot's exchange errors, with reasons a user can act on."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import requests

from coinpilot.exchange.base import AuthenticationFailed, ExchangeError, ExchangeUnavailable, OrderRejected

REJECTION_ADVICE: dict[str, str] = {
    "INSUFFICIENT_FUND": (
        "Coinbase says the account does not hold enough funds for this order: lower the order "
        "size or add funds (holds from open orders count against the balance)."
    ),
    "PREVIEW_INSUFFICIENT_FUND": (
        "Coinbase says the account does not hold enough funds for this order: lower the order "
        "size or add funds."
    ),
    "INVALID_SIZE_PRECISION": (
        "The order size has more decimals than the product allows: round it down to the "
        "product's base/quote increment."
    ),
    "PREVIEW_INVALID_SIZE_PRECISION": (
        "The order size has more decimals than the product allows: round it down to the "
        "product's base/quote increment."
    ),
    "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL": (
        "The order amount is below the product's minimum quote size: raise the trade amount "
        "(see the product's quote_min_size)."
    ),
    "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL": (
        "The quantity to sell is below the product's minimum base size: the position is too "
        "small to sell on its own; buy more or leave it."
    ),
    "INVALID_PRODUCT_ID": (
        "Coinbase does not know this trading pair: check the pair name (e.g. BTC-USD) and that "
        "it is listed for your account."
    ),
    "ORDER_ENTRY_DISABLED": (
        "Trading is disabled for this product right now: wait until Coinbase re-enables it."
    ),
    "PREVIEW_ORDER_ENTRY_DISABLED": (
        "Trading is disabled for this product right now: wait until Coinbase re-enables it."
    ),
    "UNKNOWN_FAILURE_REASON": (
        "Coinbase refused the order without giving a reason: check the product status and "
        "your account on Coinbase, then try again later."
    ),
}

AUTH_ADVICE = (
    "Coinbase refused the API key: check the key name (organizations/.../apiKeys/...) and the "
    "private key/secret (COINPILOT_COINBASE_API_KEY/_API_SECRET or COINPILOT_COINBASE_KEY_FILE), "
    "and that the key is active with 'view' and 'trade' permissions for this portfolio."
)
SCOPE_ADVICE = (
    "The API key lacks a permission Coinbase requires for this call: edit the key on Coinbase "
    "and enable 'view' and 'trade' (never 'transfer')."
)

_UNHELPFUL = {
    "",
    "UNKNOWN_FAILURE_REASON",
    "UNKNOWN_PREVIEW_FAILURE_REASON",
    "UNKNOWN_NEW_ORDER_FAILURE_REASON",
    "UNKNOWN",
}


def rejection_code(error_response: Mapping[str, Any]) -> str:
    """The most specific code in Coinbase's error_response (error, then preview, then new-order)."""
    for field in ("error", "preview_failure_reason", "new_order_failure_reason"):
        value = str(error_response.get(field) or "")
        if value not in _UNHELPFUL:
            return value
    return "UNKNOWN_FAILURE_REASON"


def order_rejected(error_response: Mapping[str, Any] | None) -> OrderRejected:
    err = dict(error_response or {})
    code = rejection_code(err)
    advice = REJECTION_ADVICE.get(code)
    message = str(err.get("message") or err.get("error_details") or "").strip()
    if advice is None:
        advice = (
            f"Coinbase rejected the order ({code}"
            + (f": {message}" if message else "")
            + "): no order was placed; check the order and your account, then try again."
        )
    elif message:
        advice = f"{advice} (Coinbase: {message})"
    return OrderRejected(advice, code=code, detail=err)


def status_of(exc: requests.HTTPError) -> int:
    return exc.response.status_code if exc.response is not None else 0


def is_retryable_status(status: int) -> bool:
    return status == 429 or 500 <= status < 600


def retry_after_seconds(exc: requests.HTTPError) -> float:
    """Seconds from a Retry-After header (numeric form only); 0 when absent or unusable."""
    value = exc.response.headers.get("Retry-After") if exc.response is not None else None
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0


def body_code(exc: requests.HTTPError) -> tuple[str, str]:
    """(error code, message) from a JSON error body; HTML/plain bodies give ("", text)."""
    if exc.response is None:
        return "", str(exc)
    try:
        data = exc.response.json()
    except ValueError:
        return "", exc.response.text[:200]
    if not isinstance(data, dict):
        return "", str(data)[:200]
    return str(data.get("error") or ""), str(data.get("message") or data.get("error_details") or "")


# Coinbase's JWTs are valid for 120 s from their ``nbf``; beyond ~30 s of skew requests start
# failing (and a token signed by a clock that runs behind arrives already expired).
CLOCK_SKEW_LIMIT_SECONDS = 30.0


def _skew_text(seconds: float | None) -> str:
    return "unknown" if seconds is None else f"{seconds:+.0f} s"


def skew_of(time_endpoint: float | None, date_header: float | None) -> float | None:
    """The skew to act on: the time endpoint's (sub-second) when known, else the Date header's."""
    return time_endpoint if time_endpoint is not None else date_header


def clock_skew_error(time_endpoint: float | None, date_header: float | None) -> AuthenticationFailed:
    """A token refused because this computer's clock is off: say by how much and what to do."""
    skew = skew_of(time_endpoint, date_header) or 0.0
    direction = "behind" if skew > 0 else "ahead of"
    return AuthenticationFailed(
        f"Coinbase refused the signed request because this computer's clock is {abs(skew):.0f} s "
        f"{direction} Coinbase's (Coinbase minus local: {_skew_text(time_endpoint)} from its time "
        f"endpoint, {_skew_text(date_header)} from the response Date header). Signed requests are "
        f"only accepted within about {CLOCK_SKEW_LIMIT_SECONDS:.0f} s: synchronise the clock with NTP "
        "(e.g. 'sudo timedatectl set-ntp true', or 'chronyc makestep') and retry; the key itself "
        "was not refused.",
        code="CLOCK_SKEW",
        detail={"time_endpoint_skew_seconds": time_endpoint, "date_header_skew_seconds": date_header},
    )


def auth_error(exc: requests.HTTPError) -> AuthenticationFailed:
    status = status_of(exc)
    if status == 403:
        return AuthenticationFailed(SCOPE_ADVICE, code="PERMISSION_DENIED")
    return AuthenticationFailed(AUTH_ADVICE, code="UNAUTHENTICATED")


def client_error(exc: requests.HTTPError, what: str) -> ExchangeError:
    status = status_of(exc)
    code, message = body_code(exc)
    return ExchangeError(
        f"Coinbase refused {what} (HTTP {status} {code or ''}): {message or 'no details'}".replace("  ", " "),
        code=code or f"HTTP_{status}",
        detail={"status": status},
    )


def unavailable(what: str, attempts: int, last: str) -> ExchangeUnavailable:
    return ExchangeUnavailable(
        f"Coinbase did not answer {what} after {attempts} attempts ({last}); the outcome is "
        "unknown: Coinpilot will check again before doing anything else.",
        code="EXCHANGE_UNAVAILABLE",
        detail={"attempts": attempts, "last_error": last},
    )

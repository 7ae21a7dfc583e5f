"""``coinpilot exchange check``: prove the keys work before trading, without placing an order.

Read-only calls only: the clock first (Coinbase's public time endpoint, then the Date headers),
then key permissions, accounts, one product, the fee tier. Coinbase JWTs live 120 s, so a skew of
more than ~30 s makes every signed request fail with the same refusal as a bad key: the clock is
checked first so that a wrong clock is never reported as a wrong key.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from coinpilot.domain.exchange_values import FeeRates
from coinpilot.domain.market import Product
from coinpilot.exchange.base import AuthenticationFailed, ExchangeError
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.exchange.coinbase_errors import CLOCK_SKEW_LIMIT_SECONDS, clock_skew_error

MAX_SKEW_SECONDS = CLOCK_SKEW_LIMIT_SECONDS


@dataclass(frozen=True)
class CheckReport:
    key_valid: bool
    can_view: bool | None = None
    can_trade: bool | None = None
    can_transfer: bool | None = None
    account_count: int = 0
    product: Product | None = None
    fee_rates: FeeRates | None = None
    clock_skew_seconds: float | None = None
    problems: list[str] = field(default_factory=list)
    key_checked: bool = True  # False when the clock is too far off for a signed request

    @property
    def clock_ok(self) -> bool:
        return self.clock_skew_seconds is None or abs(self.clock_skew_seconds) <= MAX_SKEW_SECONDS

    @property
    def ok(self) -> bool:
        return self.key_valid and not self.problems

    def lines(self) -> list[str]:
        out = []
        if self.clock_skew_seconds is not None:
            verdict = "OK" if self.clock_ok else "TOO FAR OFF"
            out.append(f"clock: {self.clock_skew_seconds:+.1f} s from Coinbase's ({verdict})")
        if not self.key_checked:
            out.append("API key: not checked (fix the clock first)")
        else:
            out.append(f"API key: {'valid' if self.key_valid else 'REFUSED'}")
        if self.can_view is not None:
            out.append(
                f"permissions: view={self.can_view} trade={self.can_trade} transfer={self.can_transfer}"
            )
        out.append(f"accounts: {self.account_count}")
        if self.product is not None:
            p = self.product
            out.append(
                f"product {p.product_id}: {'tradable' if p.tradable else 'NOT tradable'}, "
                f"min order {p.quote_min_size} {p.quote_currency}"
            )
        if self.fee_rates is not None:
            out.append(
                f"fees: taker {self.fee_rates.taker} maker {self.fee_rates.maker} ({self.fee_rates.tier})"
            )
        out.extend(f"PROBLEM: {p}" for p in self.problems)
        out.append("result: OK" if self.ok else "result: NOT READY")
        return out


def run_exchange_check(exchange: CoinbaseExchange, pair: str = "BTC-USD") -> CheckReport:
    """Run the read-only checks; never raises for exchange problems, reports them instead."""
    problems: list[str] = []
    endpoint_skew, _ = exchange.clock_skew()
    if endpoint_skew is not None and abs(endpoint_skew) > MAX_SKEW_SECONDS:
        problem = clock_skew_error(endpoint_skew, exchange.server_time_offset).reason
        return CheckReport(
            key_valid=False, clock_skew_seconds=endpoint_skew, problems=[problem], key_checked=False
        )
    perms: dict[str, object] = {}
    try:
        perms = exchange.get_key_permissions()
    except AuthenticationFailed as exc:
        return CheckReport(key_valid=False, problems=[exc.reason])
    except ExchangeError as exc:
        problems.append(f"key permissions unavailable: {exc.reason}")
    can_view = perms.get("can_view")
    can_trade = perms.get("can_trade")
    can_transfer = perms.get("can_transfer")
    if perms and not can_trade:
        problems.append("the key cannot trade: enable the 'trade' permission on Coinbase")
    if can_transfer:
        problems.append("the key can transfer funds: create a key without 'transfer'")

    accounts = 0
    try:
        accounts = len(exchange.get_balances())
    except AuthenticationFailed as exc:
        return CheckReport(key_valid=False, problems=[exc.reason])
    except ExchangeError as exc:
        problems.append(f"accounts: {exc.reason}")

    product = None
    try:
        product = exchange.get_product(pair)
        if not product.tradable:
            problems.append(f"{pair} is not tradable right now (status {product.status})")
    except ExchangeError as exc:
        problems.append(f"product {pair}: {exc.reason}")

    fees = None
    try:
        fees = exchange.get_fee_rates()
    except ExchangeError as exc:
        problems.append(f"fee tier: {exc.reason}")

    # Either measure out of bounds is a problem; report the larger one.
    measured = [m for m in (endpoint_skew, exchange.server_time_offset) if m is not None]
    skew = max(measured, key=abs) if measured else None
    if skew is not None and abs(skew) > MAX_SKEW_SECONDS:
        problems.append(
            f"this computer's clock is {skew:+.0f} s off Coinbase's: synchronise it (NTP), "
            "or Coinbase will refuse the signed requests"
        )
    return CheckReport(
        key_valid=True,
        can_view=bool(can_view) if perms else None,
        can_trade=bool(can_trade) if perms else None,
        can_transfer=bool(can_transfer) if perms else None,
        account_count=accounts,
        product=product,
        fee_rates=fees,
        clock_skew_seconds=skew,
        problems=problems,
    )

"""The Coinbase adapter reports every HTTP attempt to the metrics: 429s and timeouts apart from
successes, with their latency, and the rate limiter's headroom; /ready names the exchange when
its requests fail."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from coinpilot.domain.exchange_values import OrderRequest
from coinpilot.domain.types import Side
from coinpilot.exchange.base import ExchangeUnavailable
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.telemetry import Telemetry
from coinpilot.testing.fake_coinbase import FakeCoinbase
from coinpilot.testing.keys import generate_ec_key


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_fill_behaviour(delay=0)
        yield server


@pytest.fixture
def wired(fake: FakeCoinbase) -> tuple[CoinbaseExchange, Telemetry]:
    key = generate_ec_key()
    fake.add_key(key.name, key.public_pem)
    ex = CoinbaseExchange(
        base_url=fake.base_url,
        api_key=key.name,
        api_secret=key.private_key,
        ca_cert=fake.cert_path,
        timeout=0.5,
        sleep=lambda _s: None,
        max_requests_per_second=1000,
    )
    telemetry = Telemetry()
    ex.request_observer = telemetry.exchange_request
    telemetry.watch_limiter(ex.rate_limiter_tokens)
    return ex, telemetry


def sample(t: Telemetry, name: str, **labels: str) -> float | None:
    return t.registry.get_sample_value(name, labels)


def test_429s_are_counted_apart_from_the_success_that_followed(fake, wired) -> None:
    ex, t = wired
    fake.inject("429", "/orders$", method="POST", count=2)
    ex.place_market_order(OrderRequest("m-1", "BTC-USD", Side.BUY, quote_size=Decimal("10")))
    assert sample(t, "coinpilot_exchange_requests_total", endpoint="place order", status="429") == 2
    assert sample(t, "coinpilot_exchange_requests_total", endpoint="place order", status="200") == 1
    assert sample(t, "coinpilot_exchange_request_seconds_count", endpoint="place order") == 3
    assert t.exchange_health()[0] is True
    tokens = sample(t, "coinpilot_rate_limiter_tokens")
    assert tokens is not None and 0 < tokens <= 1000


def test_an_exchange_that_stops_answering_is_reported_unreachable(fake, wired) -> None:
    ex, t = wired
    ex.get_balances()
    fake.inject("503", ".*", count=None)
    with pytest.raises(ExchangeUnavailable):
        ex.get_balances()
    assert sample(t, "coinpilot_exchange_requests_total", endpoint="list accounts", status="503") == 4
    reachable, why = t.exchange_health()
    assert reachable is False and "list accounts: 503" in why

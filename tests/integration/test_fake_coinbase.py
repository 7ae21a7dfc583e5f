"""The Coinbase stand-in, driven through the real coinbase-advanced-py SDK over HTTPS loopback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import jwt
import pytest
import requests
from coinbase.rest import RESTClient
from cryptography.hazmat.primitives import serialization

from coinpilot.testing.fake_coinbase import FakeCoinbase
from coinpilot.testing.keys import TestKey, generate_ec_key, generate_ed25519_key


@pytest.fixture
def fake() -> Iterator[FakeCoinbase]:
    with FakeCoinbase() as server:
        server.set_fill_behaviour(delay=0.02)
        yield server


@pytest.fixture
def key(fake: FakeCoinbase) -> TestKey:
    k = generate_ec_key()
    fake.add_key(k.name, k.public_pem)
    return k


def sdk(fake: FakeCoinbase, key: TestKey, timeout: float = 2.0) -> RESTClient:
    client = RESTClient(api_key=key.name, api_secret=key.private_key, base_url=fake.base_url, timeout=timeout)
    client.session.verify = str(fake.cert_path)
    client.session.trust_env = False
    return client


def wait_done(client: RESTClient, order_id: str) -> dict:
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        order = client.get_order(order_id).to_dict()["order"]
        if order["status"] in ("FILLED", "FAILED", "CANCELLED"):
            return order
        time.sleep(0.01)
    raise AssertionError("order never finished")


@pytest.mark.parametrize("make_key", [generate_ec_key, generate_ed25519_key])
def test_accepts_ec_and_ed25519_keys(fake: FakeCoinbase, make_key) -> None:
    k = make_key()
    fake.add_key(k.name, k.public_pem)
    accounts = sdk(fake, k).get_accounts().to_dict()["accounts"]
    usd = next(a for a in accounts if a["currency"] == "USD")
    assert usd["available_balance"] == {"value": "10000", "currency": "USD"}


def test_unregistered_key_gets_401_plain_text(fake: FakeCoinbase) -> None:
    with pytest.raises(requests.HTTPError) as info:
        sdk(fake, generate_ec_key()).get_accounts()
    assert info.value.response.status_code == 401
    assert info.value.response.headers["Content-Type"].startswith("text/plain")


def _token(key: TestKey, uri: str, nbf: int, exp: int) -> str:
    private = serialization.load_pem_private_key(key.private_key.encode(), password=None)
    claims = {"sub": key.name, "iss": "cdp", "nbf": nbf, "exp": exp, "uri": uri}
    return jwt.encode(claims, private, algorithm="ES256", headers={"kid": key.name, "nonce": "n"})


def test_expired_and_wrong_uri_tokens_get_401(fake: FakeCoinbase, key: TestKey) -> None:
    path = "/api/v3/brokerage/accounts"
    now = int(time.time())
    url = f"https://{fake.base_url}{path}"
    cases = {
        "expired": _token(key, f"GET {fake.base_url}{path}", now - 300, now - 180),
        "other path": _token(key, f"GET {fake.base_url}/api/v3/brokerage/orders", now, now + 120),
        "query in uri": _token(key, f"GET {fake.base_url}{path}?limit=1", now, now + 120),
    }
    for name, token in cases.items():
        r = requests.get(
            url, headers={"Authorization": f"Bearer {token}"}, json={}, verify=str(fake.cert_path)
        )
        assert r.status_code == 401, name
    good = _token(key, f"GET {fake.base_url}{path}", now, now + 120)
    r = requests.get(
        url + "?limit=1",
        headers={"Authorization": f"Bearer {good}"},
        json={},
        verify=str(fake.cert_path),
    )
    assert r.status_code == 200
    assert r.json()["has_next"] is True


def test_server_clock_offset_makes_sdk_token_expired(fake: FakeCoinbase, key: TestKey) -> None:
    fake.keys.clock_offset = 300
    with pytest.raises(requests.HTTPError) as info:
        sdk(fake, key).get_accounts()
    assert info.value.response.status_code == 401


def test_replayed_client_order_id_returns_original_order(fake: FakeCoinbase, key: TestKey) -> None:
    client = sdk(fake, key)
    first = client.market_order_buy("coid-1", "BTC-USD", quote_size="100").to_dict()
    second = client.market_order_buy("coid-1", "BTC-USD", quote_size="100").to_dict()
    assert first["success"] and second["success"]
    assert first["success_response"]["order_id"] == second["success_response"]["order_id"]
    assert fake.order_count("coid-1") == 1
    assert fake.state.create_attempts["coid-1"] == 2


def test_quote_buy_fee_is_inside_quote_size_and_balances_move(fake: FakeCoinbase, key: TestKey) -> None:
    client = sdk(fake, key)
    fake.set_price("BTC-USD", "40000", spread="0")
    oid = client.market_order_buy("b1", "BTC-USD", quote_size="100.00").success_response["order_id"]
    order = wait_done(client, oid)
    assert order["status"] == "FILLED"
    assert Decimal(order["filled_value"]) + Decimal(order["total_fees"]) == Decimal("100")
    usd, _ = fake.balances()["USD"]
    btc, _ = fake.balances()["BTC"]
    assert usd == Decimal("9900")
    assert btc == Decimal(order["filled_size"]) > 0


def test_partial_fills_are_reported_per_fill(fake: FakeCoinbase, key: TestKey) -> None:
    fake.set_fill_behaviour(delay=0.03, partial_fills=3)
    fake.set_balance("ETH", "2")
    client = sdk(fake, key)
    oid = client.market_order_sell("s1", "ETH-USD", base_size="1.5").success_response["order_id"]
    order = wait_done(client, oid)
    fills = client.get_fills(order_ids=[oid]).to_dict()["fills"]
    assert order["number_of_fills"] == "3" and len(fills) == 3
    assert sum(Decimal(f["size"]) for f in fills) == Decimal("1.5")
    assert fake.balances()["ETH"] == (Decimal("0.5"), Decimal(0))


def test_failed_order_reports_reject_reason_and_releases_hold(fake: FakeCoinbase, key: TestKey) -> None:
    fake.fail_next_order("HOLD_FAILURE")
    client = sdk(fake, key)
    oid = client.market_order_buy("f1", "BTC-USD", quote_size="50").success_response["order_id"]
    order = wait_done(client, oid)
    assert (order["status"], order["reject_reason"]) == ("FAILED", "HOLD_FAILURE")
    assert fake.balances()["USD"] == (Decimal("10000"), Decimal(0))


@pytest.mark.parametrize(
    ("kwargs", "field", "code"),
    [
        ({"product_id": "BTC-USD", "quote_size": "10.001"}, "error", "INVALID_SIZE_PRECISION"),
        (
            {"product_id": "BTC-USD", "quote_size": "0.50"},
            "preview_failure_reason",
            "PREVIEW_INVALID_QUOTE_SIZE_TOO_SMALL",
        ),
        ({"product_id": "BTC-USD", "quote_size": "20000"}, "error", "INSUFFICIENT_FUND"),
        ({"product_id": "NOPE-USD", "quote_size": "10"}, "error", "INVALID_PRODUCT_ID"),
    ],
)
def test_business_failures_are_http_200_with_error_response(
    fake: FakeCoinbase, key: TestKey, kwargs: dict, field: str, code: str
) -> None:
    resp = sdk(fake, key).market_order_buy("x", **kwargs).to_dict()
    assert resp["success"] is False
    assert resp["error_response"][field] == code
    assert fake.all_orders() == []


def test_base_size_below_minimum_fails(fake: FakeCoinbase, key: TestKey) -> None:
    fake.set_balance("ETH", "1")
    resp = sdk(fake, key).market_order_sell("x", "ETH-USD", base_size="0.00001").to_dict()
    assert resp["error_response"]["preview_failure_reason"] == "PREVIEW_INVALID_BASE_SIZE_TOO_SMALL"


def test_candles_are_newest_first_and_capped_at_350(fake: FakeCoinbase, key: TestKey) -> None:
    client = sdk(fake, key)
    start = 1_700_000_000 - 1_700_000_000 % 3600
    candles = client.get_candles("BTC-USD", str(start), str(start + 10 * 3600), "ONE_HOUR")
    starts = [int(c["start"]) for c in candles.to_dict()["candles"]]
    assert starts == [start + i * 3600 for i in range(9, -1, -1)]
    with pytest.raises(requests.HTTPError) as info:
        client.get_candles("BTC-USD", str(start), str(start + 351 * 60), "ONE_MINUTE")
    assert info.value.response.status_code == 400
    assert "INVALID_ARGUMENT" in info.value.response.text


def test_unknown_order_is_404(fake: FakeCoinbase, key: TestKey) -> None:
    with pytest.raises(requests.HTTPError) as info:
        sdk(fake, key).get_order("missing")
    assert info.value.response.status_code == 404
    assert "NOT_FOUND" in info.value.response.text


def test_batch_cancel_cancels_unfilled_orders_only(fake: FakeCoinbase, key: TestKey) -> None:
    fake.set_fill_behaviour(delay=30)
    client = sdk(fake, key)
    oid = client.market_order_buy("c1", "BTC-USD", quote_size="10").success_response["order_id"]
    results = client.cancel_orders([oid, "missing"]).to_dict()["results"]
    assert [r["success"] for r in results] == [True, False]
    assert client.get_order(oid).to_dict()["order"]["status"] == "CANCELLED"
    assert fake.balances()["USD"] == (Decimal("10000"), Decimal(0))


def test_429_fault_has_html_body_and_rate_limit_headers(fake: FakeCoinbase, key: TestKey) -> None:
    fake.inject("429", "/accounts", count=1)
    client = sdk(fake, key)
    with pytest.raises(requests.HTTPError) as info:
        client.get_accounts()
    resp = info.value.response
    assert resp.status_code == 429 and "<html>" in resp.text
    assert resp.headers["x-ratelimit-remaining"] == "0"
    assert client.get_accounts().to_dict()["size"] == 4  # count exhausted (USD, BTC, ETH, SOL)


def test_dropped_connection_still_creates_the_order(fake: FakeCoinbase, key: TestKey) -> None:
    fake.inject("drop", "/orders$", method="POST")
    with pytest.raises(requests.ConnectionError):
        sdk(fake, key).market_order_buy("d1", "BTC-USD", quote_size="10")
    assert fake.order_count("d1") == 1


def test_outage_returns_503_until_it_ends(fake: FakeCoinbase, key: TestKey) -> None:
    fake.outage(0.2)
    client = sdk(fake, key)
    with pytest.raises(requests.HTTPError) as info:
        client.get_accounts()
    assert info.value.response.status_code == 503
    time.sleep(0.25)
    assert client.get_accounts().to_dict()["size"] == 4  # USD, BTC, ETH, SOL


def test_slow_fault_exceeds_client_timeout(fake: FakeCoinbase, key: TestKey) -> None:
    fake.inject("slow", "/transaction_summary", seconds=0.6)
    with pytest.raises(requests.Timeout):
        sdk(fake, key, timeout=0.2).get_transaction_summary()


def test_stale_reads_show_open_after_fill(fake: FakeCoinbase, key: TestKey) -> None:
    client = sdk(fake, key)
    oid = client.market_order_buy("st", "BTC-USD", quote_size="10").success_response["order_id"]
    wait_done(client, oid)
    fake.inject("stale", "/orders/historical", count=1, seconds=60)
    assert client.get_order(oid).to_dict()["order"]["status"] == "OPEN"
    assert client.get_order(oid).to_dict()["order"]["status"] == "FILLED"


def test_key_without_trade_scope_gets_403(fake: FakeCoinbase) -> None:
    k = generate_ec_key()
    fake.add_key(k.name, k.public_pem, can_trade=False)
    with pytest.raises(requests.HTTPError) as info:
        sdk(fake, k).market_order_buy("p", "BTC-USD", quote_size="10")
    assert info.value.response.status_code == 403
    assert "Missing Required Scopes" in str(info.value)


def test_runs_as_subprocess_with_control_endpoint(tmp_path: Path) -> None:
    k = generate_ed25519_key()
    key_file = k.write_key_file(tmp_path / "key.json")
    state = tmp_path / "state.json"
    state.write_text(json.dumps({"balances": {"USD": "250"}, "prices": {"BTC-USD": "60000"}}))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "coinpilot.testing.fake_coinbase",
            "--port",
            "0",
            "--key-file",
            str(key_file),
            "--state",
            str(state),
            "--workdir",
            str(tmp_path / "w"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ},
    )
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        client = RESTClient(key_file=str(key_file), base_url=info["base_url"], timeout=5)
        client.session.verify = info["cert_path"]
        client.session.trust_env = False
        assert client.get_product("BTC-USD").to_dict()["price"] == "60000"
        control = f"https://{info['base_url']}/__control__"
        r = requests.post(
            f"{control}/price",
            json={"product_id": "BTC-USD", "price": "61000"},
            verify=info["cert_path"],
        )
        assert r.status_code == 200
        assert client.get_product("BTC-USD").to_dict()["price"] == "61000"
        client.market_order_buy("sp", "BTC-USD", quote_size="100")
        snap = requests.get(f"{control}/state", verify=info["cert_path"]).json()
        assert snap["orders_per_client_id"] == {"sp": 1}
        assert Decimal(snap["balances"]["USD"]["available"]) == Decimal("150")
    finally:
        proc.terminate()
        proc.wait(timeout=5)


def test_process_helper_drives_subprocess_and_coinpilot_settings(tmp_path: Path) -> None:
    from coinpilot.config import load_settings
    from coinpilot.domain.exchange_values import OrderRequest
    from coinpilot.domain.types import Side
    from coinpilot.exchange.base import ExchangeUnavailable
    from coinpilot.exchange.coinbase import CoinbaseExchange
    from coinpilot.testing.fake_coinbase import FakeCoinbaseProcess

    k = generate_ec_key()
    key_file = k.write_key_file(tmp_path / "key.json")
    with FakeCoinbaseProcess(tmp_path / "fake", keys=[k], state={"fill_delay": 0}) as proc:
        env = proc.coinpilot_env(key_file)
        settings = load_settings(
            coinbase_base_url=env["COINPILOT_COINBASE_BASE_URL"],
            coinbase_key_file=Path(env["COINPILOT_COINBASE_KEY_FILE"]),
            coinbase_ca_cert=Path(env["COINPILOT_COINBASE_CA_CERT"]),
            coinbase_timeout_seconds=0.5,
        )
        ex = CoinbaseExchange.from_settings(settings, sleep=lambda s: None, max_attempts=2)
        proc.inject("drop", "/orders$", method="POST", count=None)
        with pytest.raises(ExchangeUnavailable):
            ex.place_market_order(OrderRequest("pp-1", "BTC-USD", Side.BUY, quote_size=Decimal("10")))
        assert proc.order_count("pp-1") == 1  # created although no answer came back
        proc.clear_faults()
        ack = ex.place_market_order(OrderRequest("pp-1", "BTC-USD", Side.BUY, quote_size=Decimal("10")))
        assert ack.order_id == proc.state()["orders"][0]["order_id"]
        assert proc.order_count("pp-1") == 1

"""Under test, the Coinbase adapter refuses any non-loopback host before opening a connection."""

from __future__ import annotations

import os
import socket
import subprocess
import sys

import pytest

from coinpilot.config import COINBASE_PRODUCTION_HOST, load_settings
from coinpilot.exchange.base import ProductionGuardError
from coinpilot.exchange.coinbase import CoinbaseExchange
from coinpilot.testing.keys import generate_ec_key


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records (and blocks) every outgoing connection or DNS lookup attempt in this process."""
    attempts: list[object] = []

    def refuse(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("network disabled by test")

    monkeypatch.setattr(socket.socket, "connect", lambda self, addr: refuse(addr))
    monkeypatch.setattr(socket.socket, "connect_ex", lambda self, addr: refuse(addr))
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


@pytest.mark.parametrize(
    "base_url", ["api.coinbase.com", "10.1.2.3:443", "example.invalid", "127.0.0.1.nip.io:8443"]
)
def test_non_loopback_host_is_refused_without_connecting(connections: list[object], base_url: str) -> None:
    key = generate_ec_key()
    with pytest.raises(ProductionGuardError, match="loopback"):
        CoinbaseExchange(base_url=base_url, api_key=key.name, api_secret=key.private_key)
    assert connections == []


def test_default_settings_point_at_coinbase_and_are_refused(connections: list[object]) -> None:
    key = generate_ec_key()
    settings = load_settings(
        trading_mode="production", coinbase_api_key=key.name, coinbase_api_secret=key.private_key
    )
    with pytest.raises(ProductionGuardError):
        CoinbaseExchange.from_settings(settings)
    assert connections == []


@pytest.mark.parametrize("base_url", ["127.0.0.1:9", "localhost:9", "[::1]:9"])
def test_loopback_host_is_allowed_and_construction_does_not_connect(
    connections: list[object], base_url: str
) -> None:
    key = generate_ec_key()
    exchange = CoinbaseExchange(base_url=base_url, api_key=key.name, api_secret=key.private_key)
    assert exchange.base_url == base_url
    assert connections == []


def test_guard_applies_in_subprocess_marked_under_test() -> None:
    code = (
        "from coinpilot.exchange.coinbase import CoinbaseExchange\n"
        "from coinpilot.exchange.base import ProductionGuardError\n"
        "try:\n"
        "    CoinbaseExchange(base_url='api.coinbase.com')\n"
        "except ProductionGuardError:\n"
        "    print('refused')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "COINPILOT_UNDER_TEST"}
    env["COINPILOT_UNDER_TEST"] = "1"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "refused", out.stderr


@pytest.mark.parametrize(
    "base_url",
    [
        f"{COINBASE_PRODUCTION_HOST}\\@127.0.0.1",
        f"{COINBASE_PRODUCTION_HOST}\\@127.0.0.1:8443",
        f"{COINBASE_PRODUCTION_HOST}@127.0.0.1",
        f"127.0.0.1@{COINBASE_PRODUCTION_HOST}",
        f"127.0.0.1:1@{COINBASE_PRODUCTION_HOST}",
        f"{COINBASE_PRODUCTION_HOST}/@127.0.0.1",
        f"{COINBASE_PRODUCTION_HOST}#127.0.0.1",
        f"https://{COINBASE_PRODUCTION_HOST}\\@localhost",
        "127.0.0.1:9\n",
    ],
)
def test_base_url_read_differently_by_url_parsers_is_refused_without_connecting(
    connections: list[object], base_url: str
) -> None:
    key = generate_ec_key()
    with pytest.raises(ProductionGuardError, match="loopback"):
        CoinbaseExchange(base_url=base_url, api_key=key.name, api_secret=key.private_key)
    assert connections == []

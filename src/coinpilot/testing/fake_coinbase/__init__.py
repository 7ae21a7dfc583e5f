"""A local Coinbase Advanced Trade stand-in for tests: real REST protocol, TLS, JWT checks,
delayed fills, idempotent client_order_id and fault injection. Never the real exchange."""

from coinpilot.testing.fake_coinbase.faults import Fault
from coinpilot.testing.fake_coinbase.market import FakeProduct, synthetic_close
from coinpilot.testing.fake_coinbase.process import FakeCoinbaseProcess
from coinpilot.testing.fake_coinbase.server import FakeCoinbase
from coinpilot.testing.fake_coinbase.state import FakeFill, FakeOrder

__all__ = [
    "FakeCoinbase",
    "FakeCoinbaseProcess",
    "FakeFill",
    "FakeOrder",
    "FakeProduct",
    "Fault",
    "synthetic_close",
]

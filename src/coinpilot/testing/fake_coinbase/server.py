"""The stand-in HTTPS server: TLS on 127.0.0.1, JWT on every /api call, faults, a control API.

Start it in-process (``with FakeCoinbase() as fake: ...``) or as a process
(``python -m coinpilot.testing.fake_coinbase``). The control endpoint ``/__control__/…`` lives
outside /api and needs no JWT: it exists only for tests driving a subprocess.
"""

from __future__ import annotations

import email.utils
import json
import ssl
import tempfile
import threading
import time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from coinpilot.testing.fake_coinbase.api import PREFIX, PUBLIC_KEY, BrokerageApi, dumps, error
from coinpilot.testing.fake_coinbase.auth import AuthError, KeyRing, RegisteredKey
from coinpilot.testing.fake_coinbase.certs import generate_certificate
from coinpilot.testing.fake_coinbase.faults import Fault, FaultKind, FaultPlan
from coinpilot.testing.fake_coinbase.market import FakeProduct
from coinpilot.testing.fake_coinbase.state import ExchangeState, FakeOrder

RATE_LIMIT_HTML = b"<html><head><title>429 Too Many Requests</title></head><body><h1>429 Too Many Requests</h1></body></html>"  # noqa: E501


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Keep-alive + Nagle + delayed ACK would stall every small response by ~40 ms.
    disable_nagle_algorithm = True
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def date_time_string(self, timestamp: float | None = None) -> str:
        now = time.time() if timestamp is None else timestamp
        return email.utils.formatdate(now + self.server.fake.date_offset, usegmt=True)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def _send(
        self, status: int, body: bytes, content_type: str, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, body: Any) -> None:
        self._send(status, dumps(body), "application/json")

    def _dispatch(self, method: str) -> None:
        fake = self.server.fake
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""  # the SDK sends {} even on GET
        url = urlsplit(self.path)
        path, query = url.path, parse_qs(url.query, keep_blank_values=True)
        if path.startswith("/__control__/"):
            self._json(*fake.control(method, path, raw))
            return
        fake.record_request(method, path)
        plan = fake.faults
        if not path.startswith("/api/"):
            self._json(*error(404, "NOT_FOUND", "not found"))
            return
        fault = plan.take(method, path, ("outage", "429", "500", "503", "slow", "drop", "garbage"))
        if fault is not None and fault.kind == "slow":
            time.sleep(fault.seconds)
        elif fault is not None and fault.kind == "429":
            reset = str(int(time.time()) + 1)
            self._send(
                429,
                RATE_LIMIT_HTML,
                "text/html",
                {
                    "x-ratelimit-limit": "30",
                    "x-ratelimit-remaining": "0",
                    "x-ratelimit-reset": reset,
                    "Retry-After": "1",
                },
            )
            return
        elif fault is not None and fault.kind in ("500", "503", "outage"):
            status = 500 if fault.kind == "500" else 503
            self._json(*error(status, "INTERNAL" if status == 500 else "UNAVAILABLE", "injected failure"))
            return
        public = path == PREFIX + "/time" or path.startswith(PREFIX + "/market/")
        try:
            key = (
                PUBLIC_KEY
                if public
                else fake.keys.verify(
                    self.headers.get("Authorization"), method, self.headers.get("Host", ""), path
                )
            )
        except AuthError as exc:
            self._send(401, f"Unauthorized: {exc}\n".encode(), "text/plain; charset=utf-8")
            return
        try:
            body = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            self._json(*error(400, "INVALID_ARGUMENT", "body is not JSON"))
            return
        stale = (
            plan.take(method, path, ("stale",)) if path.startswith(PREFIX + "/orders/historical") else None
        )
        status, payload = fake.api.handle(
            method,
            path,
            query,
            body if isinstance(body, dict) else {},
            key,
            stale.seconds if stale else None,
        )
        if fault is not None and fault.kind == "garbage":
            self._send(200, b"<html><body>upstream says hello</body></html>", "text/html")
            return
        if fault is not None and fault.kind == "drop":
            self.close_connection = True  # processed (an order exists) but no answer
            return
        self._json(status, payload)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    fake: FakeCoinbase

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # clients that time out or vanish are part of the test plan


class FakeCoinbase:
    """A Coinbase Advanced Trade stand-in speaking the real REST protocol over HTTPS."""

    def __init__(self, port: int = 0, workdir: Path | None = None) -> None:
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="fake-coinbase-")
        self.workdir = workdir or Path(self._tmp.name)  # type: ignore[union-attr]
        self.cert_path, self._key_path = generate_certificate(self.workdir)
        self.state = ExchangeState()
        self.keys = KeyRing()
        self.faults = FaultPlan()
        self.api = BrokerageApi(self.state)
        self.date_offset = 0.0
        self.requests: list[tuple[str, str]] = []
        self._req_lock = threading.Lock()
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.add_product(FakeProduct("BTC-USD", Decimal("50000.00")))
        self.add_product(FakeProduct("ETH-USD", Decimal("3000.00"), base_min_size=Decimal("0.0001")))
        # Large minimums, like many real products: a sale below 0.001 SOL can never be placed.
        self.add_product(
            FakeProduct(
                "SOL-USD", Decimal("150.00"), base_increment=Decimal("0.0001"), base_min_size=Decimal("0.001")
            )
        )
        self.state.set_balance("USD", "10000")

    # ---- lifecycle ---------------------------------------------------------------------
    def start(self) -> FakeCoinbase:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self._key_path)
        server = _Server(("127.0.0.1", self._requested_port), _Handler)
        server.fake = self
        server.socket = ctx.wrap_socket(server.socket, server_side=True, do_handshake_on_connect=False)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-coinbase",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def close(self) -> None:
        self.stop()
        if self._tmp is not None:
            self._tmp.cleanup()

    def __enter__(self) -> FakeCoinbase:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def port(self) -> int:
        assert self._server is not None, "server not started"
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """What the SDK's ``base_url`` must be: a bare host:port."""
        return f"127.0.0.1:{self.port}"

    # ---- test-side configuration ----------------------------------------------------------------
    def add_key(
        self, name: str, public_pem: str, *, can_view: bool = True, can_trade: bool = True
    ) -> RegisteredKey:
        return self.keys.add(name, public_pem, can_view=can_view, can_trade=can_trade)

    def add_product(self, product: FakeProduct) -> None:
        self.state.add_product(product)

    def set_price(self, product_id: str, price: Decimal | str, spread: Decimal | str | None = None) -> None:
        self.state.set_price(product_id, price, spread)

    def set_balance(self, currency: str, amount: Decimal | str) -> None:
        self.state.set_balance(currency, amount)

    def set_fees(self, taker: Decimal | str, maker: Decimal | str, tier: str = "Advanced 1") -> None:
        with self.state.lock:
            self.state.taker_fee_rate = Decimal(str(taker))
            self.state.maker_fee_rate = Decimal(str(maker))
            self.state.pricing_tier = tier

    def set_clock_offset(self, seconds: float) -> None:
        """Coinbase's clock ``seconds`` away from ours: its time endpoint, its Date header and its
        token check (a 120 s JWT signed by us is then outside its validity window)."""
        self.keys.clock_offset = seconds
        self.date_offset = seconds
        with self.state.lock:
            self.state.clock_offset = seconds

    def set_fill_behaviour(
        self, delay: float | None = None, partial_fills: int | None = None, style: str | None = None
    ) -> None:
        """``style``: "rounded" (cents and base increments) or "raw" (16-decimal values)."""
        if style is not None and style not in ("rounded", "raw"):
            raise ValueError(f"style must be 'rounded' or 'raw', got {style!r}")
        with self.state.lock:
            if style is not None:
                self.state.style = style
            if delay is not None:
                self.state.fill_delay = delay
            if partial_fills is not None:
                self.state.partial_fills = partial_fills

    def fail_next_order(self, reject_reason: str = "REJECT_REASON_UNSPECIFIED") -> None:
        """The next accepted order ends FAILED with ``reject_reason`` (after the fill delay)."""
        with self.state.lock:
            self.state.fail_next.append(reject_reason)

    def inject(
        self,
        kind: FaultKind,
        path: str = ".*",
        *,
        method: str | None = None,
        count: int | None = 1,
        seconds: float = 0.0,
    ) -> Fault:
        return self.faults.add(Fault(kind, path, method, count, seconds))

    def outage(self, seconds: float, path: str = ".*") -> Fault:
        return self.inject("outage", path, count=None, seconds=seconds)

    def clear_faults(self) -> None:
        self.faults.clear()

    # ---- inspection ------------------------------------------------------------------------------
    def record_request(self, method: str, path: str) -> None:
        with self._req_lock:
            self.requests.append((method, path))

    def request_count(self, path_suffix: str = "", method: str | None = None) -> int:
        with self._req_lock:
            return sum(
                1 for m, p in self.requests if p.endswith(path_suffix) and (method is None or m == method)
            )

    def orders_for(self, client_order_id: str) -> list[FakeOrder]:
        return self.state.orders_for_client_id(client_order_id)

    def order_count(self, client_order_id: str) -> int:
        return len(self.orders_for(client_order_id))

    def all_orders(self) -> list[FakeOrder]:
        with self.state.lock:
            self.state.advance()
            return list(self.state.orders.values())

    def balances(self) -> dict[str, tuple[Decimal, Decimal]]:
        """currency -> (available, hold)."""
        with self.state.lock:
            self.state.advance()
            return {c: (self.state.balances[c], self.state.holds[c]) for c in self.state.balances}

    def info(self) -> dict[str, Any]:
        return {"port": self.port, "base_url": self.base_url, "cert_path": str(self.cert_path)}

    # ---- control endpoint (subprocess mode) --------------------------------------------------
    def control(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        from coinpilot.testing.fake_coinbase.control import handle_control

        return handle_control(self, method, path, raw)

"""Browser and live-server fixtures for the dashboard tests.

The live server is the real application (``coinpilot.api.app.create_app``) run by uvicorn in a
thread on a free 127.0.0.1 port, with a temporary COINPILOT_HOME and a fresh migrated database
(``db_url`` from tests/conftest.py). The browser is Debian's Chromium driven by Playwright;
browser tests are skipped, with the reason, when it is not installed. Browsers are never
downloaded.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e._procs import ProcessGroup

CHROMIUM = "/usr/bin/chromium"  # Debian's package; CI installs it via `make browser-deps`
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
API_TOKEN = "e2e-test-token-0123456789-abcdefghijklmnop"


def _require_chromium() -> None:
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or `make browser-deps`)")


class LiveServer:
    """The real app in a uvicorn thread; ``stop()``/``start()`` simulate the API going away."""

    def __init__(self, settings: Any) -> None:
        self.settings = settings
        self.services: Any = None  # built at the first start, kept across restarts
        self.port = 0
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        import uvicorn

        from coinpilot.api.app import create_app

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.port))  # port 0 first time; the same port on restart
        self.port = sock.getsockname()[1]
        if self.services is None:
            from coinpilot.services import build_services

            self.services = build_services(self.settings)
        config = uvicorn.Config(
            create_app(self.settings, self.services),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, daemon=True, name="e2e-uvicorn"
        )
        self._thread.start()
        deadline = time.monotonic() + 15
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the live server did not start")
            time.sleep(0.02)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=15)
            self._server = None
            self._thread = None

    # --- API helpers for arranging server-side state ---
    def request(
        self, method: str, path: str, *, token: str | None = API_TOKEN, **kwargs: Any
    ) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=15, **kwargs)

    def post(self, path: str, **kwargs: Any) -> Any:
        resp = self.request("POST", path, **kwargs)
        assert resp.status_code < 300, f"POST {path}: {resp.status_code} {resp.text}"
        return resp.json() if resp.content else None

    def summary(self) -> dict[str, Any]:
        resp = self.request("GET", "/bots/status/summary", token=None)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def create_bot(self, name: str, pair: str) -> int:
        bot = self.post("/bots", json={"name": name, "pair": pair})
        return int(bot["id"])


@pytest.fixture
def live_server(tmp_path: Path, db_url: str) -> Iterator[LiveServer]:
    """A running dashboard + API over a fresh database, in mock mode, with a known API token."""
    pytest.importorskip("uvicorn")
    try:
        from coinpilot.api.app import create_app  # noqa: F401
    except ImportError as exc:
        pytest.skip(f"coinpilot.api.app.create_app is not available: {exc}")
    from coinpilot.config import Settings

    home = tmp_path / "home"
    home.mkdir()
    # Paper orders fill at once, so a test settles a trade with one sync (no waiting).
    settings = Settings(home=home, database_url=db_url, api_token=API_TOKEN, paper_fill_delay_seconds=0)
    server = LiveServer(settings)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        if server.services is not None:
            server.services.close()


@pytest.fixture
def procs() -> Iterator[ProcessGroup]:
    """The test's subprocesses (servers, the Coinbase stand-in); all killed at teardown."""
    group = ProcessGroup()
    try:
        yield group
    finally:
        group.close()


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where browser tests save screenshots: $COINPILOT_TEST_ARTIFACTS, else pytest's temp dir
    (printed in the summary of a failing run: ``.../dashboard-artifacts0``)."""
    configured = os.environ.get("COINPILOT_TEST_ARTIFACTS")
    if configured:
        path = Path(configured)
        path.mkdir(parents=True, exist_ok=True)
        return path
    return tmp_path_factory.mktemp("dashboard-artifacts")


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    _require_chromium()
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


@dataclass
class PageLog:
    """What the page said and asked for while a test ran."""

    errors: list[str] = field(default_factory=list)
    requests: list[tuple[float, str, str]] = field(default_factory=list)  # (t, method, url)
    dialogs: list[str] = field(default_factory=list)

    def summary_gets(self) -> list[float]:
        return [t for t, m, u in self.requests if m == "GET" and "/api/v1/bots/status/summary" in u]

    def posts(self) -> list[str]:
        return [u for _, m, u in self.requests if m == "POST"]


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context and page; console errors, requests and dialogs are logged."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    log = PageLog()
    pg.on("console", lambda m: log.errors.append(f"console: {m.text}") if m.type == "error" else None)
    pg.on("pageerror", lambda e: log.errors.append(f"pageerror: {e}"))
    pg.on("request", lambda r: log.requests.append((time.monotonic(), r.method, r.url)))
    pg.log = log  # type: ignore[attr-defined]
    try:
        yield pg
    finally:
        context.close()

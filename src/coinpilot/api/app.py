"""FastAPI application factory: API under /api/v1, dashboard at /, OpenAPI docs at /docs."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from coinpilot import __version__
from coinpilot.api import bot_actions, bots, form_pages, health, market, pages
from coinpilot.api.browser import BrowserGuard, install_local_docs
from coinpilot.api.errors import install_error_handlers
from coinpilot.api.shared_answer import SharedAnswer
from coinpilot.config import Settings
from coinpilot.security import load_or_create_token
from coinpilot.services import Services, build_services

log = logging.getLogger("coinpilot.api")
STATIC_DIR = Path(__file__).resolve().parent.parent / "web" / "static"

BackgroundStarter = Callable[[Services], Callable[[], None]]


class FreshOverviewAfterWrites:
    """A person's own action shows on the next refresh: writes clear the shared overview (before
    and after the write). Pure ASGI, so reads (every poll) pay nothing for it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        shared = scope["app"].state.overview_answer
        shared.invalidate()
        try:
            await self.app(scope, receive, send)
        finally:
            shared.invalidate()


def create_app(
    settings: Settings,
    services: Services | None = None,
    background: BackgroundStarter | None = None,
) -> FastAPI:
    """Build the app. ``background`` starts engine threads and returns their stopper."""
    services = services or build_services(settings)
    token, _created = load_or_create_token(
        settings.home, settings.api_token.get_secret_value() if settings.api_token else None
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = background(services) if background else None
        try:
            yield
        finally:
            if stop:
                stop()
            runs = getattr(app.state, "backtests", None)
            if runs is not None:
                runs.stop()

    app = FastAPI(
        title="Coinpilot",
        version=__version__,
        description="Safety-first trading bots for Coinbase Advanced Trade. State-changing "
        "endpoints need `Authorization: Bearer <token>`.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.add_middleware(BrowserGuard, allowed_hosts=settings.allowed_hosts)
    install_local_docs(app)
    app.state.services = services
    app.state.overview_answer = SharedAnswer(ttl=1.0, max_age=2.0)
    app.add_middleware(FreshOverviewAfterWrites)

    app.state.api_token = token
    install_error_handlers(app)
    for module in (health, pages, bots, bot_actions, market):
        app.include_router(module.router, prefix="/api/v1")
    _include_optional_routers(app)
    _include_monitoring(app, services)

    if STATIC_DIR.is_dir():
        app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

        @app.get("/", include_in_schema=False)
        def dashboard() -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html")

        # Before the deep links: /bots/new is a page of its own, not bot "new".
        form_pages.register_pages(app, STATIC_DIR)

        # Deep links into the single-page dashboard: the page reads the path and shows it.
        @app.get("/bots/{bot_id}", include_in_schema=False)
        def bot_page(bot_id: int) -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html")

        @app.get("/trades/{trade_id}", include_in_schema=False)
        def trade_page(trade_id: int) -> FileResponse:
            return FileResponse(STATIC_DIR / "index.html")

    return app


def _include_optional_routers(app: FastAPI) -> None:
    from coinpilot.api import analytics, backtests, operations, trading

    for router in trading.routers:
        app.include_router(router, prefix="/api/v1")
    app.include_router(analytics.router, prefix="/api/v1")
    app.include_router(operations.router, prefix="/api/v1")
    app.include_router(backtests.router, prefix="/api/v1")


def _include_monitoring(app: FastAPI, services: Services) -> None:
    """/metrics, /health and /ready at the root (where scrapers and probes look), logs under the API."""
    from coinpilot.api import metrics, probes

    metrics.install_metrics(services)
    app.include_router(metrics.router)
    app.include_router(probes.router)
    app.include_router(probes.logs_router, prefix="/api/v1")

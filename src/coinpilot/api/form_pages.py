"""Dashboard pages beside the overview: the bot form and analytics.

Each page is a static HTML file with its own script (no inline code, so a strict CSP holds);
the overview's single-page app links to them. They check a token with ``/api/v1/auth/check``.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse


def register_pages(app: FastAPI, static_dir: Path) -> None:
    """``/bots/new``, ``/bots/{id}/edit`` and ``/analytics``."""

    @app.get("/bots/new", include_in_schema=False)
    def new_bot_page() -> FileResponse:
        return FileResponse(static_dir / "bot_form.html")

    @app.get("/bots/{bot_id}/edit", include_in_schema=False)
    def edit_bot_page(bot_id: int) -> FileResponse:
        return FileResponse(static_dir / "bot_form.html")

    @app.get("/analytics", include_in_schema=False)
    def analytics_page() -> FileResponse:
        return FileResponse(static_dir / "analytics.html")

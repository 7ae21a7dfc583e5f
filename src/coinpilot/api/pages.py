"""Dashboard pages beside the overview (bot form, analytics) and the token check they use.

Each page is a static HTML file with its own script (no inline code, so a strict CSP holds);
the overview's single-page app can link or route to them.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.responses import FileResponse

from coinpilot.api.deps import require_token

router = APIRouter(tags=["auth"])


@router.post(
    "/auth/check",
    summary="Answer 200 when the bearer token is right (changes nothing)",
    dependencies=[Depends(require_token)],
)
def check_token() -> dict[str, bool]:
    return {"ok": True}


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

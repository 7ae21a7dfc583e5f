"""Analytics and CSV export endpoints (read-only)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from coinpilot.api.deps import get_services
from coinpilot.api.errors import NotFound
from coinpilot.api.strict_types import MAX_ID, BotIdPath
from coinpilot.domain.types import TradingMode
from coinpilot.services import Services
from coinpilot.store import bots as bot_repo
from coinpilot.store.repos import analytics as reads
from coinpilot.views import analytics_report

router = APIRouter(tags=["analytics"])


@router.get("/analytics", summary="Performance per mode (mock and production side by side, never summed)")
def analytics(
    bot_id: int | None = Query(default=None, ge=1, le=MAX_ID), services: Services = Depends(get_services)
) -> dict[str, Any]:
    with services.sessions() as s:
        if bot_id is not None and bot_repo.get_bot(s, bot_id) is None:
            raise NotFound(f"bot {bot_id}")
        return analytics_report.report(s, bot_id)


@router.get("/analytics/signal-accuracy/{bot_id}", summary="How often each signal's direction was right")
def signal_accuracy(
    bot_id: BotIdPath,
    horizon: int = Query(default=3, ge=1, le=500, description="candles ahead"),
    evaluations: int = Query(default=500, ge=1, le=5000, description="newest stored evaluations to judge"),
    services: Services = Depends(get_services),
) -> dict[str, Any]:
    with services.sessions() as s:
        bot = bot_repo.get_bot(s, bot_id)
        if bot is None:
            raise NotFound(f"bot {bot_id}")
        return analytics_report.bot_signal_accuracy(
            s, services.market, bot, services.clock.now(), horizon, evaluations
        )


def csv_stream(header: tuple[str, ...], rows: Iterator[list[str]]) -> Iterator[str]:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(header)
    yield buf.getvalue()
    for row in rows:
        buf.seek(0)
        buf.truncate()
        writer.writerow(row)
        yield buf.getvalue()


def _export(services: Services, what: str, mode: TradingMode) -> StreamingResponse:
    header, read = (
        (reads.TRADE_COLUMNS, reads.trade_rows) if what == "trades" else (reads.FILL_COLUMNS, reads.fill_rows)
    )

    def body() -> Iterator[str]:
        with services.sessions() as s:
            yield from csv_stream(header, read(s, mode))

    return StreamingResponse(
        body(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="coinpilot-{what}-{mode.value}.csv"'},
    )


@router.get("/export/trades.csv", summary="Every trade of one mode as CSV")
def export_trades(
    mode: TradingMode | None = Query(default=None, description="default: the server's mode"),
    services: Services = Depends(get_services),
) -> StreamingResponse:
    return _export(services, "trades", mode or services.mode)


@router.get("/export/fills.csv", summary="Every fill of one mode as CSV")
def export_fills(
    mode: TradingMode | None = Query(default=None, description="default: the server's mode"),
    services: Services = Depends(get_services),
) -> StreamingResponse:
    return _export(services, "fills", mode or services.mode)

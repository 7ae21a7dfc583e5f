"""``GET /metrics``: Prometheus text format from this process's private registry.

Figures the database holds are read from it at scrape time (:class:`DatabaseCollector`), never
counted in memory, so a restart cannot reset them: orders by final state are the trade rows;
positions, exposure and unrealised P&L come from the position rows and the current best bid;
safety refusals are the refused rows of the audit table, by reason. Each scrape reads the
grouped trade counts, the bots, the open positions and only the audit rows added since the last
scrape, so its cost does not grow with the audit history. Scrapes never touch the order path.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from fastapi import APIRouter, Depends
from fastapi.responses import Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from coinpilot.api.deps import get_services
from coinpilot.domain.types import BotStatus, TemperatureLevel, TradeStatus
from coinpilot.services import Services
from coinpilot.store.bots import bot_label
from coinpilot.store.models import Bot, BotRuntime, Position, SafetyAudit, Trade

log = logging.getLogger("coinpilot.api")
router = APIRouter(tags=["monitoring"])
FINAL = [s for s in TradeStatus if s.is_final]
IN_FLIGHT = [s for s in TradeStatus if not s.is_final]


def trading_state_label(state: dict[str, Any]) -> str:
    """ACTIVE, REDUCING or HALTED, as this process's mode sees it."""
    return str(state.get("state") or "unknown").upper()


def sync_lag_seconds(services: Services, s: Any, now: datetime) -> float:
    """Wall seconds the most overdue unfinished order of this mode has waited for order sync
    (an accelerated replay clock is scaled back to wall time)."""
    oldest = s.scalar(
        sa.select(sa.func.min(Trade.next_sync_at)).where(
            Trade.mode == services.mode, Trade.status.in_(IN_FLIGHT), Trade.next_sync_at <= now
        )
    )
    if oldest is None:
        return 0.0
    speed = float(getattr(services.clock, "speed", 1.0) or 1.0)
    return float(max(0.0, (now - oldest).total_seconds() / speed))


class DatabaseCollector(Collector):
    """Reads the database-backed metrics at each scrape."""

    def __init__(self, services: Services) -> None:
        self._services = services
        self._lock = threading.Lock()
        self._audit_seen = 0  # highest safety_audit id already counted
        self._refusals: Counter[tuple[str, str]] = Counter()

    def describe(self) -> Iterator[Metric]:
        """Nothing to pre-declare: registering must not read the database."""
        return iter(())

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("coinpilot_database_up", "1 when the last scrape could read the database")
        try:
            metrics = list(self._read())
        except Exception as exc:  # a scrape must answer even when the database does not
            log.warning("metrics: database read failed: %s", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from metrics

    def _read(self) -> Iterator[Metric]:
        svc = self._services
        now = svc.clock.now()
        mode = svc.mode.value
        with svc.sessions() as s:
            yield from self._orders(s)
            yield self._refusal_counts(s)
            yield from self._bots(s)
            yield from self._positions(s, mode)
            lag = GaugeMetricFamily(
                "coinpilot_order_sync_lag_seconds",
                "How long (wall seconds) the most overdue unfinished order has waited for order sync",
                labels=["mode"],
            )
            lag.add_metric([mode], sync_lag_seconds(svc, s, now))
            yield lag
        state = GaugeMetricFamily(
            "coinpilot_trading_state", "1 for the current trading state", labels=["mode", "state"]
        )
        state.add_metric([mode, trading_state_label(svc.control.state())], 1)
        yield state

    @staticmethod
    def _orders(s: Any) -> Iterator[Metric]:
        final = CounterMetricFamily(
            "coinpilot_orders",
            "Orders that reached a final state (the trade rows), by mode, side and state",
            labels=["mode", "side", "state"],
        )
        flight = GaugeMetricFamily(
            "coinpilot_orders_in_flight",
            "Unfinished orders by mode, side and state",
            labels=["mode", "side", "state"],
        )
        rows = s.execute(
            sa.select(Trade.mode, Trade.side, Trade.status, sa.func.count()).group_by(
                Trade.mode, Trade.side, Trade.status
            )
        ).all()
        for m, side, status, n in rows:
            target = final if TradeStatus(status).is_final else flight
            target.add_metric([str(m), str(side), str(status)], n)
        yield final
        yield flight

    def _refusal_counts(self, s: Any) -> Metric:
        with self._lock:
            rows = s.execute(
                sa.select(SafetyAudit.id, SafetyAudit.mode, SafetyAudit.reasons)
                .where(SafetyAudit.id > self._audit_seen, SafetyAudit.allowed.is_(False))
                .order_by(SafetyAudit.id)
            ).all()
            for audit_id, m, reasons in rows:
                self._audit_seen = max(self._audit_seen, audit_id)
                for r in reasons or [{"code": "unknown"}]:
                    code = r.get("code", "unknown") if isinstance(r, dict) else str(r)
                    self._refusals[(str(m), str(code))] += 1
            family = CounterMetricFamily(
                "coinpilot_safety_refusals",
                "Orders the safety service refused, by reason",
                labels=["mode", "reason"],
            )
            for (m, code), n in sorted(self._refusals.items()):
                family.add_metric([m, code], n)
            return family

    @staticmethod
    def _bots(s: Any) -> Iterator[Metric]:
        """Live bots by status and temperature, and archived bots as a count of their own.

        An archived bot's row stays STOPPED, but it has left the overview, the bot lists and the
        engine for good: counted as STOPPED it would inflate what a person sees (and alerts on),
        and an ARCHIVED status label would still be added into every ``sum(coinpilot_bots)``.
        So ``coinpilot_bots`` sums to the bot list, and ``coinpilot_archived_bots`` says how many
        were archived."""
        family = GaugeMetricFamily(
            "coinpilot_bots",
            "Live (not archived) bots by status and latest temperature",
            labels=["status", "temperature"],
        )
        rows = s.execute(
            sa.select(Bot.status, BotRuntime.last_temperature, sa.func.count())
            .select_from(Bot)
            .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
            .where(Bot.archived_at.is_(None))
            .group_by(Bot.status, BotRuntime.last_temperature)
        ).all()
        counts = {(str(st), str(t) if t else "unknown"): n for st, t, n in rows}
        for st in BotStatus:
            for t in [*(str(level) for level in TemperatureLevel), "unknown"]:
                family.add_metric([str(st), t], counts.get((str(st), t), 0))
        yield family
        archived = GaugeMetricFamily(
            "coinpilot_archived_bots", "Bots archived (kept for their trade history; never run again)"
        )
        archived.add_metric(
            [], s.scalar(sa.select(sa.func.count()).select_from(Bot).where(Bot.archived_at.is_not(None)))
        )
        yield archived

    def _positions(self, s: Any, mode: str) -> Iterator[Metric]:
        labels = ["bot", "pair", "mode"]
        size = GaugeMetricFamily(
            "coinpilot_position_base_size", "Open position size (base currency)", labels=labels
        )
        cost = GaugeMetricFamily(
            "coinpilot_position_cost_usd", "Open position cost basis incl. entry fees", labels=labels
        )
        unreal = GaugeMetricFamily(
            "coinpilot_position_unrealized_pnl_usd", "Unrealised P&L at the best bid", labels=labels
        )
        realized = GaugeMetricFamily(
            "coinpilot_position_realized_pnl_usd", "Realised P&L of the position row", labels=labels
        )
        opened = GaugeMetricFamily("coinpilot_open_positions", "Positions holding coins", labels=["mode"])
        exposure = GaugeMetricFamily("coinpilot_exposure_usd", "Sum of open positions' cost", labels=["mode"])
        rows = s.execute(
            sa.select(
                Bot.name,
                Bot.id,
                Bot.archived_at,
                Position.pair,
                Position.mode,
                Position.base_size,
                Position.cost,
                Position.realized_pnl,
                BotRuntime.last_price,
            )
            .join(Bot, Bot.id == Position.bot_id)
            .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
        ).all()
        marks = self._marks({r.pair for r in rows if r.base_size > 0})
        open_count: Counter[str] = Counter()
        exposure_sum: dict[str, Decimal] = {}
        for name, bot_id, archived_at, pair, m, base, basis, real, last_price in rows:
            # An archived bot may share name and pair with the live one: its own label.
            key = [bot_label(name, bot_id, archived_at), pair, str(m)]
            realized.add_metric(key, float(real))
            if base <= 0:
                continue
            open_count[str(m)] += 1
            exposure_sum[str(m)] = exposure_sum.get(str(m), Decimal(0)) + basis
            size.add_metric(key, float(base))
            cost.add_metric(key, float(basis))
            mark = marks.get(pair) or last_price
            if mark is not None:
                unreal.add_metric(key, float(base * mark - basis))
        for m in sorted({mode, *open_count}):
            opened.add_metric([m], open_count.get(m, 0))
            exposure.add_metric([m], float(exposure_sum.get(m, Decimal(0))))
        yield from (opened, exposure, size, cost, unreal, realized)

    def _marks(self, pairs: set[str]) -> dict[str, Decimal]:
        if not pairs:
            return {}
        try:
            quotes = self._services.market.get_best_bid_ask(sorted(pairs))
        except Exception as exc:  # unrealised P&L falls back to the last evaluated price
            log.info("metrics: best bid unavailable: %s", exc)
            return {}
        return {pair: q.bid for pair, q in quotes.items()}


def install_metrics(services: Services) -> None:
    """Register the database collector once per services container."""
    if services.extras.get("metrics_collector") is None:
        collector = DatabaseCollector(services)
        services.telemetry.registry.register(collector)
        services.extras["metrics_collector"] = collector


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(services: Services = Depends(get_services)) -> Response:
    install_metrics(services)
    return Response(generate_latest(services.telemetry.registry), media_type=CONTENT_TYPE_LATEST)

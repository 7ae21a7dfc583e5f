"""What to alert on, found by reading the database every ``check_interval_seconds``.

Why poll instead of calling alerts from the places that change things: the order path, order
sync and every control command stay exactly as fast and as simple as before (an alert can never
block or fail a trade), and a change made by any process — the server, a CLI command, another
worker, a breaker — is seen the same way. The cost is a delay of one check interval.

Triggers (each with a de-duplication key, see :mod:`.dispatch`):

- an order failed (per bot and failure code);
- the trading state changed, by a person or a breaker (every control event but the plain audit
  entries listed in ``AUDIT_ONLY``);
- the day's realised loss reached 50%, 80% or 100% of the daily limit (each level once a day);
- position drift reported by the drift monitor;
- the exchange unreachable for longer than ``unreachable_minutes`` (through ``probe``);
- a bot in ERROR;
- a trade needing attention: marked so by the order sync, or unfinished for longer than
  ``attention_minutes``;
- start-up reconciliation found something unexpected (:meth:`AlertWatcher.reconciliation`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.alerts.dispatch import Alert, AlertDispatcher
from coinpilot.domain.clock import Clock
from coinpilot.domain.safety import day_start
from coinpilot.domain.types import BotStatus, TradeStatus, TradingMode
from coinpilot.store.db import read_session
from coinpilot.store.models import Bot, ControlEvent, Trade

log = logging.getLogger("coinpilot.alerts")

LOSS_LEVELS = (100, 80, 50)  # percent of the daily loss limit, highest first
DRIFT_PREFIX = "position drift:"
# Control events that record a change for the audit trail but are no trading-state change.
AUDIT_ONLY = frozenset(
    {
        "bot_created",
        "bot_updated",
        "bot_deleted",
        "bot_started",
        "bot_stopped",
        "bot_paused",
        "bot_resumed",
        "manual_trade",
        "token_created",
        "token_revoked",
        "optimisation_applied",
        "limits_changed",
        "position_drift",  # alerted from the bots' drift report, with the figures
    }
)
FAILED_OVERLAP = timedelta(minutes=2)
SEVERE_ACTIONS = frozenset({"emergency_stop", "state_halted", "state_reducing", "escalation_dropped"})
NON_FINAL = (TradeStatus.PENDING, TradeStatus.OPEN, TradeStatus.FILLED)

Probe = Callable[[], object]  # a cheap read-only exchange call; raising means unreachable


class AlertWatcher:
    def __init__(
        self,
        sessions: sessionmaker[Session],
        clock: Clock,
        mode: TradingMode,
        dispatcher: AlertDispatcher,
        *,
        daily_loss_limit: Decimal,
        probe: Probe | None = None,
        unreachable_minutes: float = 5.0,
        attention_minutes: float = 10.0,
    ) -> None:
        self._sf = sessions
        self._clock = clock
        self._mode = TradingMode(mode)
        self._out = dispatcher
        self._daily_loss_limit = daily_loss_limit
        self._probe = probe
        self._unreachable = timedelta(minutes=unreachable_minutes)
        self._attention = timedelta(minutes=attention_minutes)
        self._since = clock.now()  # failures before the watcher started are not news
        self._last_event_id: int | None = None
        self._loss_levels_sent: dict[datetime, set[int]] = {}
        self._unreachable_since: datetime | None = None

    def check(self) -> int:
        """Run every trigger once; returns how many alerts were queued. Never raises: a broken
        trigger is logged and the others still run."""
        queued = 0
        for trigger in (
            self._control_events,
            self._failed_orders,
            self._daily_loss,
            self._drift,
            self._bot_errors,
            self._attention_trades,
            self._exchange,
        ):
            try:
                for alert in trigger():
                    queued += bool(self._out.notify(alert))
            except Exception:
                log.exception("alert trigger %s failed", trigger.__name__)
        return queued

    def reconciliation(self, report: Any) -> bool:
        """Alert when start-up reconciliation found something unexpected: orders that failed,
        errors, or trades still unresolved afterwards."""
        failed, errors, waiting = report.failed, list(report.errors), report.waiting
        if not (failed or errors or waiting):
            return False
        body = (
            f"Start-up reconciliation ({self._mode.value}): {failed} trade(s) failed, "
            f"{waiting} still unresolved, {len(errors)} error(s)."
            + (f" First error: {errors[0]}" if errors else "")
            + " Check `coinpilot trades` before trading on."
        )
        return self._out.notify(
            Alert(
                "reconciliation",
                f"reconciliation:{self._clock.now():%Y%m%d%H%M%S}",
                "Coinpilot: reconciliation found something unexpected",
                body,
                "warning",
            )
        )

    # ---- triggers ---------------------------------------------------------------------------
    def _control_events(self) -> list[Alert]:
        with read_session(self._sf) as s:
            if self._last_event_id is None:  # history is not news: start after the newest
                self._last_event_id = int(s.scalar(sa.select(sa.func.max(ControlEvent.id))) or 0)
                return []
            events = list(
                s.scalars(
                    sa.select(ControlEvent)
                    .where(ControlEvent.id > self._last_event_id, ControlEvent.mode == self._mode)
                    .order_by(ControlEvent.id)
                )
            )
        if events:
            self._last_event_id = events[-1].id
        alerts = []
        for e in events:
            if e.action in AUDIT_ONLY:
                continue
            detail = e.detail or {}
            reason = str(detail.get("reason") or detail.get("reasons") or "")[:300]
            by = "a breaker" if "breaker" in e.actor else e.actor
            alerts.append(
                Alert(
                    "trading_state",
                    f"state:{e.action}:{e.actor}:{reason}",
                    f"Coinpilot: {e.action.replace('_', ' ')} ({self._mode.value})",
                    f"{e.action.replace('_', ' ')} by {by} at {e.at:%Y-%m-%d %H:%M:%S} UTC"
                    + (f": {reason}" if reason else ""),
                    "failure"
                    if e.action in ("emergency_stop", "state_halted", "state_reducing")
                    else "warning",
                )
            )
        return alerts

    def _failed_orders(self) -> list[Alert]:
        # Overlap the previous check a little: a trade failed just before it may have committed
        # just after it. Seeing it twice is harmless (de-duplicated); missing it is not.
        since, self._since = self._since, self._clock.now() - FAILED_OVERLAP
        with read_session(self._sf) as s:
            rows = s.execute(
                sa.select(
                    Trade.id, Trade.bot_id, Trade.pair, Trade.side, Trade.failure_code, Trade.failure_reason
                )
                .where(
                    Trade.mode == self._mode,
                    Trade.status == TradeStatus.FAILED,
                    sa.func.coalesce(Trade.closed_at, Trade.updated_at) >= since,
                )
                .order_by(Trade.id)
            ).all()
        return [
            Alert(
                "order_failed",
                f"order_failed:{bot_id}:{code}",
                f"Coinpilot: {side} order failed on {pair}",
                f"Trade {trade_id} ({pair}, {side}) failed: {code or 'unknown'} — "
                f"{reason or 'no reason given'}",
                "failure",
            )
            for trade_id, bot_id, pair, side, code, reason in rows
        ]

    def _daily_loss(self) -> list[Alert]:
        if self._daily_loss_limit <= 0:
            return []
        today = day_start(self._clock.now())
        with read_session(self._sf) as s:
            values = s.scalars(
                sa.select(Trade.realized_pnl).where(
                    Trade.mode == self._mode, Trade.realized_at >= today, Trade.realized_pnl.is_not(None)
                )
            ).all()
        loss = -sum((v for v in values if v is not None), Decimal(0))
        sent = self._loss_levels_sent.setdefault(today, set())
        for old in [d for d in self._loss_levels_sent if d != today]:
            del self._loss_levels_sent[old]
        reached = [lvl for lvl in LOSS_LEVELS if loss >= self._daily_loss_limit * lvl / 100]
        if not reached or reached[0] in sent:
            return []
        level = reached[0]
        sent.update(reached)  # a lower level crossed on the way is not news any more
        return [
            Alert(
                "daily_loss",
                f"daily_loss:{today:%Y-%m-%d}:{level}",
                f"Coinpilot: {level}% of the daily loss limit ({self._mode.value})",
                f"Realised loss today is ${loss:.2f} of the ${self._daily_loss_limit} daily limit ({level}%)."
                + (" The emergency stop engages at the limit." if level == 100 else ""),
                "failure" if level == 100 else "warning",
            )
        ]

    def _drift(self) -> list[Alert]:
        with read_session(self._sf) as s:
            rows = s.execute(
                sa.select(Bot.id, Bot.name, Bot.status_reason).where(
                    Bot.status_reason.like(f"{DRIFT_PREFIX}%")
                )
            ).all()
        return [
            Alert(
                "position_drift",
                f"drift:{bot_id}:{reason}",
                f"Coinpilot: position drift on {name}",
                str(reason),
                "failure",
            )
            for bot_id, name, reason in rows
        ]

    def _bot_errors(self) -> list[Alert]:
        with read_session(self._sf) as s:
            rows = s.execute(
                sa.select(Bot.id, Bot.name, Bot.status_reason).where(Bot.status == BotStatus.ERROR)
            ).all()
        return [
            Alert(
                "bot_error",
                f"bot_error:{bot_id}:{reason}",
                f"Coinpilot: bot {name} is in ERROR",
                f"Bot {name} stopped with an error: {reason or 'no reason recorded'}",
                "failure",
            )
            for bot_id, name, reason in rows
        ]

    def _attention_trades(self) -> list[Alert]:
        cutoff = self._clock.now() - self._attention
        with read_session(self._sf) as s:
            rows = s.execute(
                sa.select(Trade.id, Trade.pair, Trade.status, Trade.last_error, Trade.attention_reason).where(
                    Trade.mode == self._mode,
                    Trade.status.in_(NON_FINAL),
                    # marked by the order sync, or simply unfinished for too long
                    sa.or_(Trade.attention_reason.is_not(None), Trade.created_at < cutoff),
                )
            ).all()
        minutes = self._attention.total_seconds() / 60
        return [
            Alert(
                "trade_attention",
                f"attention:{trade_id}",
                f"Coinpilot: trade {trade_id} needs attention",
                (
                    f"Trade {trade_id} ({pair}): {marked}"
                    if marked
                    else f"Trade {trade_id} ({pair}) is still {TradeStatus(status).value} "
                    f"after {minutes:g} minutes"
                )
                + (f"; last error: {err}" if err else "")
                + ". See the runbook on stuck orders.",
                "warning",
            )
            for trade_id, pair, status, err, marked in rows
        ]

    def _exchange(self) -> list[Alert]:
        if self._probe is None:
            return []
        now = self._clock.now()
        try:
            self._probe()
        except Exception as exc:
            if self._unreachable_since is None:
                self._unreachable_since = now
            down = now - self._unreachable_since
            if down < self._unreachable:
                return []
            return [
                Alert(
                    "exchange_unreachable",
                    f"exchange_unreachable:{self._unreachable_since.isoformat()}",
                    "Coinpilot: the exchange is unreachable",
                    f"No answer from the exchange for {down.total_seconds() / 60:.0f} minutes "
                    f"(last error: {type(exc).__name__}: {str(exc)[:200]}).",
                    "failure",
                )
            ]
        self._unreachable_since = None
        return []

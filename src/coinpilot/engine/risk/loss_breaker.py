"""The daily loss breaker: realised P&L today plus unrealised at the bid, checked after every
settlement and on every engine tick; reaching the limit moves trading ACTIVE -> REDUCING.

Before, the limit was only looked at when the next buy was checked, on realised P&L alone, dated
by settlement: a loss could sit past the limit while nothing tripped, and an open position
losing money counted for nothing. The rule itself is :func:`coinpilot.domain.daily_loss.daily_loss`;
this module gathers its inputs. REDUCING keeps every stop-loss and exit working; only a person
sets ACTIVE again (a loss breaker never recovers by itself).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.clock import Clock
from coinpilot.domain.daily_loss import DailyLoss, daily_loss
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import BestBidAsk
from coinpilot.domain.safety import day_start
from coinpilot.domain.trading_state import LOSS_BREAKER, TradingState
from coinpilot.domain.types import TradingMode
from coinpilot.engine.risk.control import ControlService
from coinpilot.exchange.base import MarketData
from coinpilot.store.db import read_session
from coinpilot.store.repos import control as control_repo
from coinpilot.store.repos import positions as position_repo
from coinpilot.store.repos import trades as trade_repo

log = logging.getLogger("coinpilot.engine")


class DailyLossBreaker:
    def __init__(
        self,
        session_factory: sessionmaker[Session],
        market: MarketData,
        control: ControlService,
        clock: Clock,
        mode: TradingMode,
        limits: SafetyLimits,
    ) -> None:
        self._sf = session_factory
        self._market = market
        self._control = control
        self._clock = clock
        self._mode = TradingMode(mode)
        self._limits = limits
        self.last: DailyLoss | None = None

    def check(self, quotes: Mapping[str, BestBidAsk] | None = None) -> bool:
        """Evaluate the rule now; True when it moved trading to REDUCING. Only while ACTIVE."""
        now = self._clock.now()
        with read_session(self._sf) as s:
            if (
                control_repo.effective_state(control_repo.read_state(s, now), self._mode)
                is not TradingState.ACTIVE
            ):
                return False
            realised = trade_repo.realized_since(s, self._mode, day_start(now))
            held = [
                (p.pair, p.base_size, p.cost)
                for p in position_repo.positions_for_mode(s, self._mode)
                if p.base_size > 0
            ]
        books = dict(quotes or {})
        missing = sorted({pair for pair, _, _ in held} - set(books))
        if missing:
            try:
                books.update(self._market.get_best_bid_ask(missing))
            except Exception as exc:  # unmarked positions are left out: the rule trips later, never wrongly
                log.warning("daily loss breaker: no bid for %s (%s)", ", ".join(missing), exc)
        marks = [(size, cost, books[pair].bid) for pair, size, cost in held if pair in books]
        loss = daily_loss(realised, marks, self._limits.daily_loss_limit_usd)
        self.last = loss
        if not loss.reached:
            return False
        return self._control.breaker_trip(
            LOSS_BREAKER,
            loss.describe(),
            {
                "realised_today": loss.realised_today,
                "unrealised": loss.unrealised,
                "limit": loss.limit,
                "unmarked_pairs": sorted({pair for pair, _, _ in held} - set(books)),
            },
        )

    def check_quietly(self) -> None:
        """For hooks (after a settlement, every tick): never raises."""
        try:
            self.check()
        except Exception:
            log.exception("daily loss breaker check failed")

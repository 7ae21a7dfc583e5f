"""The bots one bot-loop cycle works on, read in a handful of queries.

Split from the scheduler so its database reads sit together: which bots are due (or hold a position
to protect), each bot with its parsed configuration, and the :class:`BotView` the trading
decision needs. Parsing a bot's configuration is cached per bot until its ``updated_at`` changes.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.bot import BotConfig
from coinpilot.domain.cooling import Reading, cooling_exit_due
from coinpilot.domain.decision import BotView, effective_strategy
from coinpilot.domain.strategy import StrategyConfig
from coinpilot.domain.types import BotStatus, TradingMode
from coinpilot.engine.loop import bot_loop
from coinpilot.store import bots as bot_repo
from coinpilot.store.models import Bot, BotRuntime, Evaluation
from coinpilot.store.repos import positions as position_repo


@dataclass
class LoadedBot:
    bot: Bot
    config: BotConfig
    strategy: StrategyConfig


class ConfigCache:
    """Each bot's parsed configuration and effective strategy, kept until its ``updated_at`` changes."""

    def __init__(self) -> None:
        self._entries: dict[int, tuple[datetime, BotConfig, StrategyConfig]] = {}

    def resolve(self, bot: Bot) -> tuple[BotConfig, StrategyConfig]:
        """The bot's configuration and strategy; parsed again only when the bot has changed."""
        cached = self._entries.get(bot.id)
        if cached is not None and cached[0] == bot.updated_at:
            return cached[1], cached[2]
        cfg = bot_repo.bot_config(bot)
        strategy = effective_strategy(bot.strategy, cfg)
        self._entries[bot.id] = (bot.updated_at, cfg, strategy)
        return cfg, strategy

    def is_current(self, bot_id: int, updated_at: datetime) -> bool:
        """Whether the cached parse of this bot is for its ``updated_at`` (no reparse needed)."""
        cached = self._entries.get(bot_id)
        return cached is not None and cached[0] == updated_at

    def config(self, bot_id: int) -> BotConfig:
        """The last resolved configuration of a bot (KeyError when it was never resolved)."""
        return self._entries[bot_id][1]

    def strategy(self, bot_id: int) -> StrategyConfig:
        """The last resolved strategy of a bot (KeyError when it was never resolved)."""
        return self._entries[bot_id][2]


def due_bot_ids(sessions: sessionmaker[Session], now: datetime) -> list[int]:
    """RUNNING bots whose next evaluation time has come (or was never set), by id."""
    with sessions() as s:
        rows = s.execute(
            sa.select(Bot.id)
            .outerjoin(BotRuntime, BotRuntime.bot_id == Bot.id)
            .where(Bot.status == BotStatus.RUNNING)
            .where(sa.or_(BotRuntime.next_evaluation_at.is_(None), BotRuntime.next_evaluation_at <= now))
            .order_by(Bot.id)
        ).all()
    return [r[0] for r in rows]


def load_running(
    sessions: sessionmaker[Session], ids: list[int], cache: ConfigCache, failures: dict[int, BaseException]
) -> dict[int, LoadedBot]:
    """The bots still RUNNING among ``ids``, detached, with their configuration.

    A bot whose configuration does not parse is added to ``failures`` instead.
    """
    out: dict[int, LoadedBot] = {}
    with sessions() as s:
        bots = s.scalars(sa.select(Bot).where(Bot.id.in_(ids))).unique().all()
        for bot in bots:
            if bot.status != BotStatus.RUNNING:
                continue  # stopped/paused since it was found due
            try:
                cfg, strategy = cache.resolve(bot)
            except Exception as exc:
                failures[bot.id] = ValueError(f"invalid bot configuration: {exc}")
                continue
            s.expunge(bot)
            out[bot.id] = LoadedBot(bot, cfg, strategy)
    return out


def load_views(
    sessions: sessionmaker[Session],
    mode: TradingMode,
    ids: list[int],
    statuses: tuple[BotStatus, ...],
    cache: ConfigCache,
    now: datetime | None = None,
) -> dict[int, BotView]:
    """What the trading decision sees of each bot in ``ids`` with one of ``statuses``."""
    out: dict[int, BotView] = {}
    with sessions() as s:
        bots = {
            b.id: b
            for b in s.scalars(sa.select(Bot).where(Bot.id.in_(ids), Bot.status.in_(statuses))).unique()
        }
        positions = bot_loop.load_positions(s, mode, bots)
        open_ids = bot_loop.bots_with_open_trades(s, mode, bots)
        opened = {b: p.opened_at for b, p in positions.items() if p.base_size > 0 and p.opened_at is not None}
        rungs = bot_loop.rungs_taken(s, mode, opened)
        for bot_id, bot in bots.items():
            config, strategy = cache.resolve(bot)
            pos = positions.get(bot_id)
            cooled = (
                now is not None
                and strategy.cooling_exit_below is not None
                and bot_id in opened
                and _cooled(s, bot_id, config, strategy, now)
            )
            out[bot_id] = BotView(
                bot_id=bot_id,
                pair=bot.pair,
                status=BotStatus(bot.status),
                config=config,
                position=position_repo.to_state(pos),
                position_opened_at=pos.opened_at if pos is not None else None,
                high_water=bot.runtime.high_water_price if bot.runtime else None,
                rungs_taken=rungs.get(bot_id, frozenset()),
                has_open_trade=bot_id in open_ids,
                cooled=cooled,
                protection_off=bool(bot.runtime.protection_off) if bot.runtime else False,
            )
    return out


def _cooled(s: Session, bot_id: int, config: BotConfig, strategy: StrategyConfig, now: datetime) -> bool:
    """Whether the bot's cooling exit is due: its evaluations over the period, plus the last
    one before it (the period must be proven from its start)."""
    assert strategy.cooling_exit_below is not None
    minutes = float(strategy.cooling_exit_minutes)
    start = now - timedelta(minutes=minutes)
    inside = s.execute(
        sa.select(Evaluation.evaluated_at, Evaluation.score)
        .where(Evaluation.bot_id == bot_id, Evaluation.evaluated_at > start, Evaluation.evaluated_at <= now)
        .order_by(Evaluation.evaluated_at)
    ).all()
    before = s.execute(
        sa.select(Evaluation.evaluated_at, Evaluation.score)
        .where(Evaluation.bot_id == bot_id, Evaluation.evaluated_at <= start)
        .order_by(Evaluation.evaluated_at.desc())
        .limit(1)
    ).all()
    readings = [Reading(at, score) for at, score in [*before, *inside]]
    return cooling_exit_due(
        readings, now, strategy.cooling_exit_below, minutes, config.buy_threshold, config.sell_threshold
    )

"""Market data and scores for one bot-loop cycle.

Split from the scheduler so the batching rules sit together: candles are fetched once per
(pair, granularity, window) however many bots share them, quotes for every pair in one call, and
all bots are scored at once, falling back to one by one so a bad configuration fails only its bot.
Nothing here touches the database.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from coinpilot.domain.market import BestBidAsk, Candles
from coinpilot.domain.signal_config import required_candles
from coinpilot.domain.signals import Evaluation, evaluate, evaluate_many
from coinpilot.engine.loop.due_bots import LoadedBot
from coinpilot.engine.loop.failures import failure_message
from coinpilot.exchange.base import MarketData

log = logging.getLogger("coinpilot.engine")

OnExchangeFailure = Callable[[str, BaseException], None]


def fetch_candles(
    market: MarketData,
    loaded: dict[int, LoadedBot],
    now: datetime,
    failures: dict[int, BaseException],
    on_exchange_failure: OnExchangeFailure,
) -> dict[int, Candles]:
    """Each bot's candles, one fetch per (pair, granularity, window); a failed fetch fails its bots."""
    windows: dict[tuple[str, Any, int], list[int]] = {}
    for bot_id, item in loaded.items():
        need = required_candles(item.config.signals)
        windows.setdefault((item.config.pair, item.config.granularity, need), []).append(bot_id)
    candles: dict[int, Candles] = {}
    for (pair, gran, need), members in windows.items():
        start = now - timedelta(seconds=gran.seconds * (need + 2))
        try:
            got = market.get_candles(pair, gran, start, now)
        except Exception as exc:
            on_exchange_failure(f"candles {pair}", exc)
            for b in members:
                failures[b] = exc
            continue
        for b in members:
            candles[b] = got
    return candles


def fetch_quotes(
    market: MarketData, pairs: list[str], on_exchange_failure: OnExchangeFailure
) -> dict[str, BestBidAsk]:
    """Best bid/ask for every pair in one call; none at all (so no orders) when that call fails."""
    if not pairs:
        return {}
    try:
        return market.get_best_bid_ask(pairs)
    except Exception as exc:
        on_exchange_failure("best bid/ask", exc)
        log.warning("quotes unavailable this cycle (no orders placed): %s", failure_message(exc))
        return {}


def score_all(
    order: list[int],
    loaded: dict[int, LoadedBot],
    candles: dict[int, Candles],
    failures: dict[int, BaseException],
) -> dict[int, Evaluation]:
    """Scores for the bots in ``order`` at once; if the batch fails, one by one so only the bad ones fail."""
    items = [
        (
            candles[b],
            loaded[b].config.signals,
            loaded[b].config.buy_threshold,
            loaded[b].config.sell_threshold,
        )
        for b in order
    ]
    try:
        return dict(zip(order, evaluate_many(items), strict=True))
    except Exception:
        out: dict[int, Evaluation] = {}
        for b, item in zip(order, items, strict=True):
            try:
                out[b] = evaluate(*item)
            except Exception as exc:
                failures[b] = exc
        return out

"""A bot's failed evaluation or trade, as the bot loop records it.

Kept apart from the scheduler so the back-off and ERROR rules sit in one place: each failure in a
row doubles the wait before the bot's next evaluation (capped at :data:`MAX_BACKOFF_SECONDS`), and
:data:`MAX_ERRORS_BEFORE_ERROR_STATUS` in a row move a RUNNING bot to ERROR.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.orm import Session, sessionmaker

from coinpilot.domain.types import BotStatus
from coinpilot.store.db import session_scope
from coinpilot.store.models import Bot, BotRuntime

log = logging.getLogger("coinpilot.engine")

MAX_ERRORS_BEFORE_ERROR_STATUS = 5
MAX_BACKOFF_SECONDS = 3600.0


def failure_message(exc: BaseException) -> str:
    """The readable reason of a failure: an exception's ``reason`` when it has one."""
    reason = getattr(exc, "reason", None)
    return str(reason) if reason else f"{type(exc).__name__}: {exc}"


def record_failures(
    sessions: sessionmaker[Session], now: datetime, interval: float, failures: dict[int, BaseException]
) -> None:
    """Error count, last error, back-off and (after too many in a row) ERROR status: one transaction."""
    with session_scope(sessions) as s:
        for bot_id, exc in failures.items():
            message = failure_message(exc)
            log.warning("bot %s evaluation failed: %s", bot_id, message)
            bot = s.get(Bot, bot_id)
            if bot is None:
                continue
            rt = bot.runtime
            if rt is None:
                rt = BotRuntime(bot_id=bot_id, consecutive_errors=0)
                bot.runtime = rt
            rt.consecutive_errors = (rt.consecutive_errors or 0) + 1
            rt.last_error = message[:1000]
            # Nobody saw the signal hold while the bot failed: its confirmation starts over.
            rt.confirm_action = None
            rt.confirm_since = None
            backoff = min(MAX_BACKOFF_SECONDS, interval * (2 ** min(rt.consecutive_errors, 12)))
            rt.next_evaluation_at = now + timedelta(seconds=backoff)
            if rt.consecutive_errors >= MAX_ERRORS_BEFORE_ERROR_STATUS and bot.status == BotStatus.RUNNING:
                bot.status = BotStatus.ERROR
                bot.status_reason = f"{rt.consecutive_errors} evaluations failed in a row: {message}"[:500]
                bot.updated_at = now

"""Safety rules: every trade, manual or automatic, is checked here before its row is written.

``validate`` runs every check and returns *all* reasons for a refusal, not the first. Each check
runs in its own try/except: an exception inside a check refuses the trade with code
``CHECK_ERROR`` naming the check (fail closed). ``Decision.checks`` lists the checks that applied.

Policy
------
- The trading state (:mod:`coinpilot.domain.trading_state`): ACTIVE allows everything within
  the limits; REDUCING only sells (every buy refused); HALTED only a SELL with intent
  EMERGENCY_CLOSE (a person's kill switch).
- Bot status blocks entries only: engine entries (intent ENTRY) need a RUNNING bot; a MANUAL
  buy is refused while the bot is in ERROR (fix the error first). Every exit (automatic stop-loss,
  trailing stop, take-profit, signal exit, manual sell, EMERGENCY_CLOSE) is allowed whatever the
  status: a bot that is PAUSED, STOPPED or in ERROR still protects the position it holds.
- Risk-reducing exits (side SELL of an existing position, any intent) bypass the cooldown, the
  daily trade counts, the tranche, position and exposure limits, the consecutive-loss and the
  daily/weekly loss limits, the reserved balance and our own min/max trade size: refusing an
  exit can only leave more money at risk, and an exit can never exceed the position, which the
  position limit already capped when it was bought. Exits are NOT exempt from: the product's
  minimum sizes, selling more than the bot's position or the available balance, a non-final
  trade already open for the bot, and the trading state (HALTED refuses all but EMERGENCY_CLOSE).
- Buys must respect every limit. "At the limit" is allowed: notional == max_trade_usd, the
  max_daily_trades-th trade of the day, the max_tranches-th tranche, a position or total exposure
  reaching exactly its maximum, a balance left at exactly the reserve, a cooldown elapsed exactly.
- Loss limits trip when reached: realised P&L today <= -daily_loss_limit_usd refuses the buy
  and sets ``reduce_trading`` (the daily loss breaker: ACTIVE -> REDUCING; the engine also
  checks it after every settlement and tick, with unrealised P&L); while the consecutive-loss
  lock holds (max_consecutive_losses losing exits in a row within the lookback window, see
  :mod:`coinpilot.domain.loss_lock`) buys are refused until it expires or a person resumes the
  bot; this week's P&L of the position <=
  -weekly_loss_limit_per_position_usd refuses the buy; so does today's P&L of the position <=
  -daily_loss_limit_per_position_usd.
- The cooldown after the bot's last fill is max(limits.cooldown_minutes, the bot's own cooldown);
  the tranche limit is min(limits.max_tranches, the bot's max_tranches).
- Temperature: with ``limits.min_entry_temperature`` set, a buy (engine or manual) needs the
  bot at least that warm on the buy side; an unknown temperature refuses the buy (fail closed).
  Exits never wait for temperature.
- Unknown balances fail closed: a buy without a known quote balance, or a sell without a known
  base balance, is refused.
"""

from __future__ import annotations

from coinpilot.domain.evolve import build
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.rules import CHECKS
from coinpilot.domain.safety_types import (
    Decision,
    Reason,
    SafetyContext,
    SafetyRequest,
    day_start,
    week_start,
)

__all__ = [
    "Decision",
    "Reason",
    "SafetyContext",
    "SafetyRequest",
    "day_start",
    "validate",
    "week_start",
]

# The checks live in :mod:`coinpilot.domain.rules` (one per module); ``CHECKS`` is read from this module's
# namespace at every call, so a test may replace ``safety.CHECKS``.


def validate(request: SafetyRequest, context: SafetyContext, limits: SafetyLimits) -> Decision:
    """Run every check; allowed only when no check gives a reason. Never raises."""
    reasons: list[Reason] = []
    applied: list[str] = []
    for name, check in CHECKS:
        try:
            result = check(request, context, limits)
        except Exception as exc:  # fail closed: a broken check is a refusal
            applied.append(name)
            reasons.append(
                Reason(
                    "CHECK_ERROR",
                    f"Safety check '{name}' failed ({type(exc).__name__}: {exc}); "
                    "the trade is refused. Check the request and the bot's data.",
                )
            )
            continue
        if result is None:
            continue
        applied.append(name)
        if result:
            reasons.extend(result)
    return build(
        Decision,
        allowed=not reasons,
        reasons=tuple(reasons),
        checks=tuple(applied),
        reduce_trading=any(r.code == "DAILY_LOSS_LIMIT" for r in reasons),
    )

"""The whole bot loop over scripted prices with a fake clock: evaluate → confirm → decide →
safety → execute → sync → settle, and the exact sequence of tranches and exits it produces."""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa

from coinpilot.domain.types import TradeIntent, TradeStatus, TradingMode, quantize_down
from coinpilot.store.models import BotRuntime, Position, SafetyAudit, Trade
from tests.integration._engine import add_bot, make_rig
from tests.integration._fakes import SATOSHI, TEST_LIMITS, enable_trading

D = Decimal
PAIR = "BTC-USD"
LADDER_STRATEGY = {
    "sizing": "fixed",
    "dca_step_pct": "2",
    "take_profit_ladder": [["10", "30"], ["20", "50"]],
    "stop_loss_pct": "5",
    "exit_on_sell_signal": True,
}


def _trades(sf, bot_id):
    with sf() as s:
        return list(s.scalars(sa.select(Trade).where(Trade.bot_id == bot_id).order_by(Trade.id)))


def _position(sf, bot_id):
    with sf() as s:
        return s.scalars(sa.select(Position).where(Position.bot_id == bot_id)).first()


def test_scripted_prices_produce_the_exact_sequence_of_tranches_and_exits(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    bot = add_bot(sf, clock, PAIR, strategy=LADDER_STRATEGY, confirmation_minutes=2)
    enable_trading(sf, clock)
    m = rig.market

    script = [
        # (price, regime): one engine cycle per minute; BUY needs 2 minutes of confirmation
        ("100", "buy"),  # confirmation starts
        ("100", "buy"),  # 1 min: not yet
        ("100", "buy"),  # 2 min: confirmed -> tranche 1 at 100, confirmation restarts
        ("99", "buy"),  # 1 min since restart
        ("97.5", "buy"),  # confirmed, 2.5% below the last entry -> tranche 2 (DCA)
        ("97", "buy"),
        ("96.9", "buy"),  # confirmed, but not 2% below 97.5: no order, confirmation kept
        ("95", "buy"),  # 2.6% below 97.5 -> tranche 3
        ("95", "buy"),
        ("94.9", "buy"),  # confirmed, far enough below, but 3 tranches is the maximum
        ("108.5", "hold"),  # +10% over the average entry -> first take-profit rung (30%)
        ("109", "hold"),  # rung 1 already taken: nothing
        ("118", "hold"),  # +20% -> second rung (50%)
        ("118", "hold"),  # the 20% runner stays
        ("118", "sell"),  # SELL starts confirming
        ("118", "sell"),
        ("118", "sell"),  # confirmed SELL -> sell everything left
        ("100", "buy"),  # a new cycle
        ("100", "buy"),
        ("100", "buy"),  # tranche 1 of cycle 2
        ("111", "hold"),  # the ladder starts again in the new cycle: rung 1
        ("94", "hold"),  # below avg * 0.95 -> stop-loss sells everything
        ("94", "hold"),
    ]
    for price, regime in script:
        m.set(PAIR, price, regime)
        rig.tick()

    trades = _trades(sf, bot)
    got = [(t.intent, t.side.value, t.requested_quote_size or t.requested_base_size) for t in trades]
    intents = [g[0] for g in got]
    assert intents == [
        TradeIntent.ENTRY,
        TradeIntent.ENTRY,
        TradeIntent.ENTRY,
        TradeIntent.TAKE_PROFIT,
        TradeIntent.TAKE_PROFIT,
        TradeIntent.SIGNAL_EXIT,
        TradeIntent.ENTRY,
        TradeIntent.TAKE_PROFIT,
        TradeIntent.STOP_LOSS,
    ]
    assert all(t.status == TradeStatus.SETTLED for t in trades)
    # Entries: $20 tranches filled at the scripted ask.
    assert [t.average_fill_price for t in trades if t.intent == TradeIntent.ENTRY] == [
        D("100"),
        D("97.5"),
        D("95"),
        D("100"),
    ]
    assert all(t.requested_quote_size == D("20") for t in trades if t.intent == TradeIntent.ENTRY)
    # Ladder sizes are fractions of the base bought in the cycle; the signal exit sells the rest.
    bought = sum((t.filled_base_size for t in trades[:3]), D(0))
    assert trades[3].requested_base_size == quantize_down(bought * D("0.3"), SATOSHI)
    assert trades[4].requested_base_size == quantize_down(bought * D("0.5"), SATOSHI)
    assert trades[5].requested_base_size == bought - trades[3].filled_base_size - trades[4].filled_base_size
    assert [t.signal_snapshot["rung"] for t in (trades[3], trades[4], trades[7])] == [0, 1, 0]
    bought2 = trades[6].filled_base_size
    assert trades[7].requested_base_size == quantize_down(bought2 * D("0.3"), SATOSHI)
    assert trades[8].requested_base_size == bought2 - trades[7].filled_base_size
    # Exits fill at the bid of the step that triggered them.
    assert [t.average_fill_price for t in trades[3:6]] == [D("108.49"), D("117.99"), D("117.99")]
    assert trades[8].average_fill_price == D("93.99") and trades[8].realized_pnl < 0
    pos = _position(sf, bot)
    assert pos is not None and pos.base_size == 0 and pos.cost == 0
    # Each trade carries the evaluation and confirmation that caused it.
    assert trades[0].signal_snapshot["action"] == "buy" and trades[0].confirmation_snapshot["confirmed"]
    assert trades[5].confirmation_snapshot["action"] == "sell"


def test_trailing_stop_sells_after_the_price_falls_from_its_high_since_entry(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    strategy = {"take_profit_ladder": [], "stop_loss_pct": None, "trailing_stop_pct": "5"}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=0)
    enable_trading(sf, clock)
    for price, regime in [
        ("100", "buy"),
        ("110", "hold"),
        ("120", "hold"),
        ("115", "hold"),
        ("113.9", "hold"),
    ]:
        rig.market.set(PAIR, price, regime)
        rig.tick()
    trades = _trades(sf, bot)
    assert [t.intent for t in trades] == [TradeIntent.ENTRY, TradeIntent.TRAILING_STOP]
    assert trades[1].average_fill_price == D("113.89")  # 5.1% under the 119.99 high bid
    rig.tick()  # the next evaluation sees the position flat
    with sf() as s:
        assert s.get(BotRuntime, bot).high_water_price is None  # cleared once flat


def test_a_confirmed_signal_places_one_order_then_needs_a_full_new_confirmation(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    strategy = {"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=3, max_tranches=3)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    created = []
    for _ in range(10):  # BUY stays confirmed-worthy for 10 minutes
        rig.tick()
        created.append(len(_trades(sf, bot)))
    # First order once 3 minutes have passed, then one per full 3-minute confirmation.
    assert created == [0, 0, 0, 1, 1, 1, 2, 2, 2, 3]
    assert len(_trades(sf, bot)) == 3


def test_a_bot_with_an_unfinished_trade_places_no_new_order(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS, fill_delay_seconds=10_000)  # the order never fills
    strategy = {"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    for _ in range(5):
        rig.tick()
    trades = _trades(sf, bot)
    assert len(trades) == 1 and trades[0].status == TradeStatus.OPEN
    assert rig.exchange.create_calls == 1


def test_cooldown_after_a_fill_delays_the_next_entry_and_is_refused_by_safety(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    strategy = {"dca_step_pct": "0", "take_profit_ladder": [], "stop_loss_pct": None}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=1, cooldown_minutes=10)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    for _ in range(16):
        rig.tick()
    trades = _trades(sf, bot)
    assert len(trades) == 2
    with sf() as s:
        first = s.get(Trade, trades[0].id)
        first_fill = max(f.time for f in first.fills)
        refusals = list(
            s.scalars(sa.select(SafetyAudit).where(SafetyAudit.bot_id == bot, SafetyAudit.allowed.is_(False)))
        )
    assert (trades[1].created_at - first_fill).total_seconds() >= 600
    assert refusals and all(r.reasons[0]["code"] == "COOLDOWN" for r in refusals)


def test_consecutive_losing_exits_lock_entries_until_a_person_resumes_the_bot(session_factory, clock):
    from coinpilot.domain.types import BotStatus
    from coinpilot.engine.bots import control as bot_control
    from coinpilot.store.models import Bot

    sf = session_factory
    limits = TEST_LIMITS.__class__(**{**TEST_LIMITS.__dict__, "max_consecutive_losses": 2})
    rig = make_rig(sf, clock, limits)
    strategy = {"take_profit_ladder": [], "stop_loss_pct": "5"}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=0)
    enable_trading(sf, clock)
    for price, regime in [("100", "buy"), ("90", "hold"), ("100", "buy"), ("90", "hold"), ("100", "buy")]:
        rig.market.set(PAIR, price, regime)
        rig.tick()
    trades = _trades(sf, bot)
    assert [t.intent for t in trades] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS] * 2
    with sf() as s:
        assert s.get(Bot, bot).status == BotStatus.RUNNING
        refusal = s.scalars(
            sa.select(SafetyAudit).where(SafetyAudit.bot_id == bot, SafetyAudit.allowed.is_(False))
        ).first()
        assert refusal.reasons[0]["code"] == "CONSECUTIVE_LOSSES"
    with sf() as s, s.begin():
        bot_control.start(s, s.get(Bot, bot), now=clock.now(), actor="test", mode=TradingMode.MOCK)
    rig.tick()
    assert [t.intent for t in _trades(sf, bot)][-1] == TradeIntent.ENTRY  # a resumed bot trades again


def test_paused_bot_still_takes_its_stop_loss(session_factory, clock):
    sf = session_factory
    rig = make_rig(sf, clock, TEST_LIMITS)
    strategy = {"take_profit_ladder": [], "stop_loss_pct": "5"}
    bot = add_bot(sf, clock, PAIR, strategy=strategy, confirmation_minutes=0)
    enable_trading(sf, clock)
    rig.market.set(PAIR, "100", "buy")
    rig.tick()
    with sf() as s, s.begin():
        from coinpilot.domain.types import BotStatus
        from coinpilot.store.models import Bot

        s.get(Bot, bot).status = BotStatus.PAUSED
    rig.market.set(PAIR, "90", "buy")
    rig.scheduler.run_once()  # a paused bot is not evaluated (no entry), but protected: stop-loss
    rig.clock.advance(1)
    rig.sync.sync_once()
    trades = _trades(sf, bot)
    assert [t.intent for t in trades] == [TradeIntent.ENTRY, TradeIntent.STOP_LOSS]
    assert _position(sf, bot).base_size == 0
    assert trades[1].mode == TradingMode.MOCK

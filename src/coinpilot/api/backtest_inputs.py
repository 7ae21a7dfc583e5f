"""From what a person asks for (a stored bot or a file of bot fields, a pair or a data file, a
period) to a :class:`BacktestSpec` and its candles: shared by ``coinpilot backtest`` and the API,
so both validate the same way and a backtest of a bot uses exactly the limits and paper costs
its live run would.

Bot fields go through the same two gates as creating a bot over the API: the strict request
model (types: ``"0.5"`` is not a number, unknown fields are refused) and
:func:`coinpilot.domain.bot.validate_bot_fields` (the rules). Every problem names its field.
"""

from __future__ import annotations

import dataclasses
import json
import tomllib
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import Field, ValidationError

from coinpilot.api.bot_schemas import BotCreate
from coinpilot.api.field_errors import FieldValidationError
from coinpilot.backtest.data import CandleDataError, read_file, shipped_candles, window
from coinpilot.backtest.result import BacktestSpec
from coinpilot.domain.bot import BotConfig, bot_config_from_fields, validate_bot_fields
from coinpilot.domain.limits import SafetyLimits
from coinpilot.domain.market import Candles, Product
from coinpilot.domain.signal_config import FieldError
from coinpilot.domain.types import Granularity

MAX_STARTING_CASH = Decimal(10) ** 12


class BacktestBotFields(BotCreate):
    """A bot's fields for a backtest: as for creating a bot, but a name is optional."""

    name: str = Field(default="backtest", min_length=1, max_length=64)


def pydantic_field_errors(exc: ValidationError) -> list[FieldError]:
    return [
        FieldError(".".join(str(p) for p in e["loc"]) or "body", str(e["msg"]))
        for e in exc.errors(include_url=False)
    ]


def bot_from_fields(values: dict[str, Any], limits: SafetyLimits) -> tuple[BotConfig, dict[str, Any] | None]:
    """A validated :class:`BotConfig` and the strategy JSON as given (for the stop fallbacks);
    raises :class:`FieldValidationError` naming every bad field."""
    try:
        model = BacktestBotFields.model_validate(values)
    except ValidationError as exc:
        raise FieldValidationError(pydantic_field_errors(exc)) from None
    fields = model.model_dump()
    errors = validate_bot_fields(fields, limits)
    if errors:
        raise FieldValidationError(errors)
    return bot_config_from_fields(fields), fields.get("strategy")


def read_config_file(path: Path) -> dict[str, Any]:
    """Bot fields from a JSON or TOML file (by suffix; JSON otherwise)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise FieldValidationError(
            [FieldError("config", f"{path}: cannot read ({exc.strerror or exc})")]
        ) from None
    try:
        data = tomllib.loads(text) if path.suffix.lower() == ".toml" else json.loads(text)
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise FieldValidationError(
            [FieldError("config", f"{path}: not valid {path.suffix[1:] or 'JSON'}: {exc}")]
        ) from None
    if not isinstance(data, dict):
        raise FieldValidationError([FieldError("config", f"{path}: must hold an object of bot fields")])
    # TOML floats for money fields come in as float; the strict model wants numbers for money
    for key in ("trade_size_usd", "stop_loss_pct", "take_profit_pct"):
        if isinstance(data.get(key), float):
            data[key] = Decimal(repr(data[key]))
    return data


def product_for(pair: str) -> tuple[Product, str | None]:
    """The product's increments and minimums: the replay's copy of Coinbase's for the shipped
    pairs; for any other pair a generic one (8 base decimals, cents, $1 minimum), with a note."""
    from coinpilot.exchange.replay import PRODUCTS

    if pair in PRODUCTS:
        return PRODUCTS[pair], None
    base, _, quote = pair.partition("-")
    generic = Product(
        product_id=pair,
        base_currency=base,
        quote_currency=quote,
        base_increment=Decimal("0.00000001"),
        quote_increment=Decimal("0.01"),
        base_min_size=Decimal("0.00000001"),
        quote_min_size=Decimal("1"),
        price_increment=Decimal("0.01"),
    )
    return generic, f"no product rules known for {pair}: using 8 base decimals, cent prices, $1 minimum"


def with_granularity(bot: BotConfig, granularity: Granularity | None) -> BotConfig:
    return (
        bot
        if granularity is None or granularity == bot.granularity
        else dataclasses.replace(bot, granularity=granularity)
    )


def make_spec(
    bot: BotConfig,
    strategy_raw: dict[str, Any] | None,
    limits: SafetyLimits,
    *,
    fee_rate: Decimal,
    slippage_bps: Decimal,
    starting_cash: Decimal,
    label: str,
) -> tuple[BacktestSpec, str | None]:
    if not starting_cash.is_finite() or not Decimal(0) < starting_cash <= MAX_STARTING_CASH:
        raise FieldValidationError(
            [FieldError("starting_cash", f"must be a positive amount up to {MAX_STARTING_CASH:,}")]
        )
    product, note = product_for(bot.pair)
    spec = BacktestSpec(
        bot=bot,
        limits=limits,
        product=product,
        starting_cash=starting_cash,
        fee_rate=fee_rate,
        slippage_bps=slippage_bps,
        strategy_raw=strategy_raw,
        label=label,
    )
    return spec, note


def load_candles(
    pair: str,
    granularity: Granularity,
    *,
    data_file: Path | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
) -> tuple[Candles, Candles]:
    """(all candles of the source, the ``[start, end)`` window of them); the whole series is
    kept so the look-ahead check can prepend real history. Raises :class:`CandleDataError`."""
    full = read_file(data_file, pair, granularity) if data_file else shipped_candles(pair, granularity)
    picked = window(full, start, end)
    if len(picked) == 0:
        first, last = full.start[0], full.start[-1]
        raise CandleDataError(
            f"no candles between {_iso(start)} and {_iso(end)}; the data covers "
            f"{datetime.fromtimestamp(int(first), UTC):%Y-%m-%d %H:%M} to "
            f"{datetime.fromtimestamp(int(last), UTC):%Y-%m-%d %H:%M} UTC"
        )
    return full, picked


def warmup_candles(bot: BotConfig) -> int:
    """Candles of history the driver needs before its first decision (its default start)."""
    from coinpilot.domain.signal_config import required_candles

    return required_candles(bot.signals) + 1


def with_history(full: Candles, picked: Candles, history: int) -> Candles:
    """``picked`` preceded by up to ``history`` candles of ``full`` from before it, so the first
    decision falls on the period's first candle when the data reaches back far enough (else the
    period's own first candles warm the signals up)."""
    if len(picked) == 0:
        return picked
    lo = int(np.searchsorted(full.start, int(picked.start[0]), side="left"))
    begin = max(0, lo - history)
    s = slice(begin, lo + len(picked))
    return Candles(
        full.pair,
        full.granularity,
        full.start[s],
        full.open[s],
        full.high[s],
        full.low[s],
        full.close[s],
        full.volume[s],
    )


def _iso(value: datetime | None) -> str:
    return "the start" if value is None else value.isoformat()


def parse_when(raw: str | None, name: str) -> datetime | None:
    """``2019-01-01`` or any ISO 8601 time; naive means UTC."""
    if raw is None or raw == "":
        return None
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise FieldValidationError(
            [FieldError(name, f"{raw!r} is not a date (use 2019-01-31 or ISO 8601)")]
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

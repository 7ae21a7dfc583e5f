"""Signal scores, their weighted aggregate, and the action they ask for.

Sign convention everywhere: +1 = strong buy, -1 = strong sell, 0 = neutral.

Score mappings (each clamped to [-1, +1]):

* ``rsi``: value = Wilder RSI (0..100). With ``mid = (oversold + overbought) / 2``:
  below mid, ``score = (mid - rsi) / (mid - oversold)``; above mid,
  ``score = -(rsi - mid) / (overbought - mid)``. So RSI at the oversold line is +1 (buy), at
  the midpoint 0, at the overbought line -1 (sell). Flat prices give RSI 50.
* ``ma_crossover``: value = relative spread ``(fast_ma - slow_ma) / slow_ma``. It is divided by
  ``MA_FULL_SCALE_SIGMAS`` times the volatility ``sigma`` (population standard deviation of the
  last ``slow_period`` one-candle returns ``close[t] / close[t-1] - 1``):
  ``score = spread / (MA_FULL_SCALE_SIGMAS * sigma)``. Fast above slow is bullish (+).
* ``macd``: value = histogram / last close (the MACD histogram as a fraction of price);
  ``score = value / (MACD_FULL_SCALE_SIGMAS * sigma)`` with ``sigma`` over the last
  ``slow_period`` returns. A histogram above zero (MACD line above its signal) is bullish (+).

Dividing by price makes the scores independent of the coin's price level (a $0.50 coin and BTC
score alike); dividing by the coin's own recent volatility makes them comparable across coins and
candle sizes (on the shipped BTC/ETH history, 1-minute and 1-hour alike, about 95% of
``|spread| / sigma`` lie below 4 and of ``|histogram/close| / sigma`` below 0.65, hence the full
scales). When ``sigma`` is 0 (no movement at all) these two scores are 0.

Aggregation: signals with too few candles (or non-finite results) are reported as
``insufficient_data`` and left out; ``coverage`` is the share of the enabled weight whose
signals have data. Only when ``coverage >= cfg.min_data_weight`` (default 1: every enabled
signal) are the weights of the usable signals renormalised to sum to 1 (``effective_weight``)
and ``score = sum(score_i * effective_weight_i)``. Below it (or with nothing usable) the score
is 0, the action HOLD and ``sufficient`` False, while the breakdown still lists each signal's
value and score and which ones lack data: 15 candles of a fall must not turn RSI alone into
full conviction. Disabled signals are not listed.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from coinpilot.domain.indicators import FloatArray, ema_last, macd_last, rsi_last, sma_last
from coinpilot.domain.market import Candles
from coinpilot.domain.signal_config import (
    FieldError,
    MacdConfig,
    MaCrossoverConfig,
    RsiConfig,
    SignalConfig,
    SignalConfigError,
    ma_min_candles,
    macd_min_candles,
    rsi_min_candles,
    validate_signal_config,
    validate_thresholds,
)
from coinpilot.domain.types import Action

STATUS_OK = "ok"
STATUS_INSUFFICIENT = "insufficient_data"
SIGNAL_NAMES = ("rsi", "ma_crossover", "macd")
MA_FULL_SCALE_SIGMAS = 4.0
MACD_FULL_SCALE_SIGMAS = 0.65
COVERAGE_TOLERANCE = 1e-9  # weights are floats summing to 1 within WEIGHT_TOLERANCE


@dataclass(frozen=True)
class SignalResult:
    name: str
    status: str  # "ok" | "insufficient_data"
    value: float | None
    score: float | None
    weight: float  # as configured
    effective_weight: float  # after renormalising over the signals with enough data
    contribution: float  # score * effective_weight (0 when insufficient)
    detail: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "value": self.value,
            "score": self.score,
            "weight": self.weight,
            "effective_weight": self.effective_weight,
            "contribution": self.contribution,
            "detail": dict(self.detail),
        }


@dataclass(frozen=True)
class Evaluation:
    score: float
    action: Action
    signals: tuple[SignalResult, ...]
    price: float | None
    candle_time: datetime | None
    sufficient: bool  # enough of the enabled weight had data (cfg.min_data_weight) to act on
    coverage: float = 1.0  # share of the enabled signals' weight that had enough data

    def breakdown(self) -> list[dict[str, Any]]:
        """JSON-able per-signal breakdown (stored in ``bot_runtime.last_breakdown``)."""
        return [s.to_dict() for s in self.signals]


def decide_action(score: float, buy_threshold: float, sell_threshold: float) -> Action:
    """BUY when ``score >= buy_threshold``, SELL when ``score <= -sell_threshold``, else HOLD."""
    problems = validate_thresholds(buy_threshold, sell_threshold)
    if problems:
        raise SignalConfigError(problems)
    if score >= buy_threshold:
        return Action.BUY
    if score <= -sell_threshold:
        return Action.SELL
    return Action.HOLD


# --------------------------------------------------------------------------- scoring
def rsi_score(value: FloatArray, oversold: float, overbought: float) -> FloatArray:
    """Map RSI to [-1, +1]: oversold -> +1, midpoint -> 0, overbought -> -1 (linear, clamped)."""
    mid = (oversold + overbought) / 2.0
    below = (mid - value) / (mid - oversold)
    above = (mid - value) / (overbought - mid)
    return np.clip(np.where(value <= mid, below, above), -1.0, 1.0)


def scaled_score(value: FloatArray, sigma: FloatArray, full_scale_sigmas: float) -> FloatArray:
    """``value / (full_scale_sigmas * sigma)`` clamped to [-1, +1]; 0 where ``sigma`` is 0."""
    with np.errstate(divide="ignore", invalid="ignore"):
        raw = value / (full_scale_sigmas * sigma)
    return np.where(sigma > 0.0, np.clip(raw, -1.0, 1.0), np.where(np.isnan(sigma), np.nan, 0.0))


def return_volatility(close: FloatArray, window: int) -> FloatArray:
    """Population std of the last ``window`` one-candle simple returns of each row."""
    tail = close[..., -(window + 1) :]
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = tail[..., 1:] / tail[..., :-1] - 1.0
    return np.asarray(returns.std(axis=-1), dtype=np.float64)


_Raw = tuple[float, float, dict[str, float]]  # value, score, detail


def _rsi_batch(close: FloatArray, c: RsiConfig) -> list[_Raw | None]:
    value = rsi_last(close, c.period)
    score = rsi_score(value, c.oversold, c.overbought)
    return [
        _pack(v, s, {"rsi": v, "oversold": c.oversold, "overbought": c.overbought})
        for v, s in zip(value.tolist(), score.tolist(), strict=True)
    ]


def _ma_batch(close: FloatArray, c: MaCrossoverConfig) -> list[_Raw | None]:
    if c.ma_type == "ema":
        fast, slow = ema_last(close, c.fast_period), ema_last(close, c.slow_period)
    else:
        fast, slow = sma_last(close, c.fast_period), sma_last(close, c.slow_period)
    with np.errstate(divide="ignore", invalid="ignore"):
        spread = (fast - slow) / slow
    sigma = return_volatility(close, c.slow_period)
    score = scaled_score(spread, sigma, MA_FULL_SCALE_SIGMAS)
    out: list[_Raw | None] = []
    for f, sl, sp, sg, s in zip(
        fast.tolist(), slow.tolist(), spread.tolist(), sigma.tolist(), score.tolist(), strict=True
    ):
        out.append(_pack(sp, s, {"fast_ma": f, "slow_ma": sl, "spread": sp, "volatility": sg}))
    return out


def _macd_batch(close: FloatArray, c: MacdConfig) -> list[_Raw | None]:
    line, sig, hist = macd_last(close, c.fast_period, c.slow_period, c.signal_period)
    last = close[..., -1]
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = hist / last
    sigma = return_volatility(close, c.slow_period)
    score = scaled_score(rel, sigma, MACD_FULL_SCALE_SIGMAS)
    out: list[_Raw | None] = []
    for ln, sg, h, r, vol, s in zip(
        line.tolist(),
        sig.tolist(),
        hist.tolist(),
        rel.tolist(),
        sigma.tolist(),
        score.tolist(),
        strict=True,
    ):
        detail = {"macd": ln, "signal": sg, "histogram": h, "histogram_pct": r, "volatility": vol}
        out.append(_pack(r, s, detail))
    return out


def _pack(value: float, score: float, detail: dict[str, float]) -> _Raw | None:
    """None (insufficient) unless every number is finite: NaN never reaches a score."""
    if not all(math.isfinite(x) for x in (value, score, *detail.values())):
        return None
    return (float(value), float(score), detail)


_Spec = tuple[str, Callable[[Any], int], Callable[[FloatArray, Any], list[_Raw | None]]]
_SPECS: tuple[_Spec, ...] = (
    ("rsi", rsi_min_candles, _rsi_batch),
    ("ma_crossover", ma_min_candles, _ma_batch),
    ("macd", macd_min_candles, _macd_batch),
)


# --------------------------------------------------------------------------- evaluation
def evaluate(candles: Candles, cfg: SignalConfig, buy_threshold: float, sell_threshold: float) -> Evaluation:
    """Score ``candles`` (oldest first) with ``cfg`` and decide the action."""
    return evaluate_many([(candles, cfg, buy_threshold, sell_threshold)])[0]


def evaluate_many(
    items: Sequence[tuple[Candles, SignalConfig, float, float]],
) -> list[Evaluation]:
    """Evaluate many bots at once; bots with equal candle counts and periods share array maths.

    Raises :class:`SignalConfigError` (fail closed) when any config or threshold is invalid.
    """
    for _, cfg, buy, sell in items:
        problems: list[FieldError] = validate_signal_config(cfg) + validate_thresholds(buy, sell)
        if problems:
            raise SignalConfigError(problems)

    raw: list[dict[str, _Raw | None]] = [{} for _ in items]
    for name, min_candles, batch in _SPECS:
        groups: dict[tuple[int, Any], list[int]] = defaultdict(list)
        for i, (candles, cfg, _, _) in enumerate(items):
            section = getattr(cfg, name)
            if section.enabled:
                groups[(len(candles), section)].append(i)
        for (length, section), idx in groups.items():
            if length < min_candles(section):
                for i in idx:
                    raw[i][name] = None
                continue
            if len(idx) == 1:
                close = np.asarray(items[idx[0]][0].close, dtype=np.float64)[None, :]
            else:
                close = np.stack([np.asarray(items[i][0].close, dtype=np.float64) for i in idx])
            for i, result in zip(idx, batch(close, section), strict=True):
                raw[i][name] = result

    return [_aggregate(candles, cfg, buy, sell, raw[i]) for i, (candles, cfg, buy, sell) in enumerate(items)]


def _aggregate(
    candles: Candles,
    cfg: SignalConfig,
    buy_threshold: float,
    sell_threshold: float,
    raw: dict[str, _Raw | None],
) -> Evaluation:
    usable = sum(getattr(cfg, n).weight for n in SIGNAL_NAMES if n in raw and raw[n] is not None)
    enabled = sum(getattr(cfg, n).weight for n in SIGNAL_NAMES if n in raw)
    coverage = usable / enabled if enabled > 0.0 else 0.0
    covered = usable > 0.0 and coverage >= cfg.min_data_weight - COVERAGE_TOLERANCE
    results: list[SignalResult] = []
    total = 0.0
    for name in SIGNAL_NAMES:
        if name not in raw:
            continue
        weight = float(getattr(cfg, name).weight)
        item = raw[name]
        if item is None or usable <= 0.0:
            results.append(SignalResult(name, STATUS_INSUFFICIENT, None, None, weight, 0.0, 0.0, {}))
            continue
        value, score, detail = item
        effective = weight / usable if covered else 0.0
        contribution = score * effective
        total += contribution
        results.append(SignalResult(name, STATUS_OK, value, score, weight, effective, contribution, detail))
    sufficient = covered
    score = min(1.0, max(-1.0, total)) if sufficient else 0.0
    action = decide_action(score, buy_threshold, sell_threshold) if sufficient else Action.HOLD
    last_time = datetime.fromtimestamp(int(candles.start[-1]), UTC) if len(candles) else None
    return Evaluation(
        score=score,
        action=action,
        signals=tuple(results),
        price=candles.last_close,
        candle_time=last_time,
        sufficient=sufficient,
        coverage=coverage,
    )

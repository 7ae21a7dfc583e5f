"""Look-ahead and history-dependence checks a person runs on their own configuration.

A backtest that peeks at the future (an indicator centred on the candle, a fill at the close the
decision was made on, a day boundary computed from the last candle of the data) looks brilliant
and loses money live. These checks treat the backtest as a black box and test two promises:

1. **No look-ahead**: every candle after a cut point is perturbed (each one's prices scaled by its
   own random factor, so highs stay highs) except the open right at the cut candle's close (the
   price a decision made then sees and fills at); no decision made up to that close may change.
   A decision is compared by when it was made, its side, intent, reason, tranche and rung; a fill
   executed by then is compared whole (price, size, fee) as well. Cuts are made in the middle and
   on candles the plain run decided on: a leak of a single candle changes only a decision made
   right at the cut, so cutting where decisions are is what catches it.
2. **No history dependence**: candles are prepended before the start, and the run still makes
   its first decision on the same candle (the driver's ``start``); no decision may change.

The check runs the configuration a few more times (one per cut, one with history); a difference
is reported with the first decisions that changed, so the person can see where.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from coinpilot.backtest.result import BacktestFill, BacktestRefusal, BacktestResult
from coinpilot.domain.market import Candles

# run(candles, start): the backtest of ``candles`` whose first decision is made on the candle
# starting at ``start`` (None: the driver's default, after its warm-up); earlier candles are
# history for the indicators only.
Runner = Callable[[Candles, datetime | None], BacktestResult]

Decision = tuple[object, ...]


@dataclass(frozen=True)
class CheckOutcome:
    name: str
    compared: int  # decisions compared
    differences: list[str] = field(default_factory=list)
    note: str = ""

    @property
    def passed(self) -> bool:
        return not self.differences


@dataclass(frozen=True)
class LookaheadReport:
    future: CheckOutcome
    history: CheckOutcome

    @property
    def passed(self) -> bool:
        return self.future.passed and self.history.passed

    def to_dict(self) -> dict[str, object]:
        return {
            "passed": self.passed,
            **{
                o.name: {
                    "passed": o.passed,
                    "compared": o.compared,
                    "differences": o.differences,
                    "note": o.note,
                }
                for o in (self.future, self.history)
            },
        }


def _decided(f: BacktestFill) -> datetime:
    return f.decided_at or f.at


def decision_key(f: BacktestFill) -> Decision:
    return (_decided(f), f.side.value, f.intent.value, f.reason, f.tranche, f.rung)


def fill_key(f: BacktestFill) -> Decision:
    return (*decision_key(f), f.at, f.price, f.base_size, f.fee)


def refusal_key(r: BacktestRefusal) -> Decision:
    return (r.at, r.side.value, r.intent.value, r.codes)


def _describe(key: Decision) -> str:
    when = key[0].isoformat() if isinstance(key[0], datetime) else str(key[0])
    return f"{when} {' '.join(str(k) for k in key[1:] if k is not None)}"


def _diff(kind: str, a: Sequence[Decision], b: Sequence[Decision], limit: int = 5) -> list[str]:
    """What differs between two decision lists, first differences first."""
    out: list[str] = []
    for i in range(max(len(a), len(b))):
        x = a[i] if i < len(a) else None
        y = b[i] if i < len(b) else None
        if x != y:
            before = _describe(x) if x is not None else "none"
            after = _describe(y) if y is not None else "none"
            out.append(f"{kind} #{i + 1}: {before} became {after}")
            if len(out) >= limit:
                break
    return out


def perturb_after(candles: Candles, cut: int, seed: int = 12) -> Candles:
    """A copy whose candles after index ``cut`` have their prices scaled by a random factor in
    [0.8, 1.25] (one per candle, so each stays a valid candle), except the open of candle
    ``cut + 1``: that is the price at the instant candle ``cut`` closes, which a decision made
    then may see (it is where its order fills)."""
    rng = np.random.default_rng(seed)
    factor = np.ones(len(candles))
    tail = len(candles) - cut - 1
    if tail > 0:
        factor[cut + 1 :] = np.exp(rng.uniform(np.log(0.8), np.log(1.25), tail))
    open_ = candles.open * factor
    high, low, close = candles.high * factor, candles.low * factor, candles.close * factor
    if tail > 0:
        k = cut + 1
        open_[k] = candles.open[k]
        high[k] = max(high[k], open_[k], close[k])
        low[k] = min(low[k], open_[k], close[k])
    return Candles(
        candles.pair,
        candles.granularity,
        candles.start.copy(),
        open_,
        high,
        low,
        close,
        candles.volume.copy(),
    )


def slice_candles(c: Candles, lo: int, hi: int | None = None) -> Candles:
    s = slice(lo, hi)
    return Candles(c.pair, c.granularity, c.start[s], c.open[s], c.high[s], c.low[s], c.close[s], c.volume[s])


def _utc(ts: int) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _future_at(
    run: Runner, candles: Candles, cut: int, base: BacktestResult, seed: int
) -> tuple[int, list[str]]:
    """Decisions compared and differences for one cut (see :func:`check_future`)."""
    other = run(perturb_after(candles, cut, seed), None)
    cut_close = _utc(int(candles.start[cut]) + candles.granularity.seconds)  # decisions on `cut`
    # ... are made at its close and fill at the next open, which is not perturbed

    def decided(r: BacktestResult) -> list[Decision]:
        return [decision_key(f) for f in r.fills if _decided(f) <= cut_close]

    def executed(r: BacktestResult) -> list[Decision]:
        return [fill_key(f) for f in r.fills if f.at <= cut_close]

    def refused(r: BacktestResult) -> list[Decision]:
        return [refusal_key(x) for x in r.refusals if x.at <= cut_close]

    where = f"after {cut_close.isoformat()} perturbed, "
    diffs = (
        _diff(where + "decision", decided(base), decided(other))
        + _diff(where + "fill", executed(base), executed(other))
        + _diff(where + "refusal", refused(base), refused(other))
    )
    return len(decided(base)) + len(refused(base)), diffs


def decision_candles(result: BacktestResult, candles: Candles) -> list[int]:
    """Indices of the candles on whose close ``result`` made a decision (sorted, unique)."""
    times = np.asarray(sorted({int(_decided(f).timestamp()) for f in result.fills}), dtype=np.int64)
    index = np.searchsorted(candles.start, times - candles.granularity.seconds, side="left")
    return sorted({int(k) for k in index if 0 <= k < len(candles) - 1})


def future_cuts(result: BacktestResult, candles: Candles, middle: int, limit: int = 4) -> list[int]:
    """Where to cut: the middle of the series, and up to ``limit`` candles (evenly spread) on which
    a decision was made, since a leak of one candle shows only in a decision made right there."""
    chosen = decision_candles(result, candles)
    if len(chosen) > limit:
        chosen = [chosen[round(k * (len(chosen) - 1) / (limit - 1))] for k in range(limit)]
    return sorted({middle, *chosen})


def check_future(
    run: Runner, candles: Candles, cuts: int | Sequence[int], base: BacktestResult | None = None
) -> CheckOutcome:
    """For each cut, perturb every candle after it; decisions up to its close must not change."""
    chosen = [cuts] if isinstance(cuts, int) else list(cuts)
    for cut in chosen:
        if not 0 <= cut < len(candles) - 1:
            raise ValueError(f"a cut must leave candles on both sides (0 <= cut < {len(candles) - 1})")
    base = base or run(candles, None)
    compared, diffs = 0, []
    for n, cut in enumerate(chosen):
        count, found = _future_at(run, candles, cut, base, seed=12 + n)
        compared += count
        diffs.extend(found)
    return CheckOutcome(
        "future",
        compared,
        diffs,
        f"{len(chosen)} cut{'s' if len(chosen) != 1 else ''}: the candles after each perturbed",
    )


def check_history(
    run: Runner, candles: Candles, extra: int, base: BacktestResult | None = None
) -> CheckOutcome:
    """Run the candles from index ``extra`` on, then the whole series trading from the same
    first decision candle (so the ``extra`` candles before are history only); no decision may
    change."""
    if not 0 < extra < len(candles) - 1:
        raise ValueError("the extra history must leave candles to trade on")
    short = slice_candles(candles, extra)
    base = base or run(short, None)
    first = min(base.warmup_candles, len(short) - 1)  # the shorter run's first decision candle
    start = _utc(int(short.start[first]))
    longer = run(candles, start)
    after = _utc(int(short.start[first]) + candles.granularity.seconds)  # its close

    def decided(r: BacktestResult) -> list[Decision]:
        return [decision_key(f) for f in r.fills if _decided(f) >= after]

    def refused(r: BacktestResult) -> list[Decision]:
        return [refusal_key(x) for x in r.refusals if x.at >= after]

    diffs = _diff("decision", decided(base), decided(longer)) + _diff(
        "refusal", refused(base), refused(longer)
    )
    return CheckOutcome(
        "history",
        len(decided(base)) + len(refused(base)),
        diffs,
        f"{extra} more candles of history; decisions compared from {after.isoformat()}",
    )


def check(run: Runner, candles: Candles, *, extra: int | None = None) -> LookaheadReport:
    """Both checks. The future check cuts in the middle of the series and at up to four candles
    the plain run made a decision on; ``extra`` (default a quarter of the series) candles become
    the prepended history of the second check."""
    n = len(candles)
    if n < 8:
        raise ValueError(f"{n} candles are too few for the look-ahead check; use at least 8")
    extra = extra if extra is not None else max(1, n // 4)
    base = run(candles, None)
    middle = (base.warmup_candles + n) // 2 if base.warmup_candles < n - 2 else n // 2
    cuts = future_cuts(base, candles, min(middle, n - 2))
    return LookaheadReport(check_future(run, candles, cuts, base), check_history(run, candles, extra))

"""Walk-forward windows: train on the past, test on the future, never on the same candle twice.

A parameter search reports in-sample figures that flatter it; only results on candles the search
never saw estimate live behaviour. :func:`walk_forward` cuts a series into consecutive
(train, test) windows over candle indices. Test windows follow each other without overlap, and
each test window starts exactly where its train window ends, so no test candle was ever trained on
in the same fold.

- ``rolling``: every train window has the same length and slides forward by one test length.
- ``anchored``: every train window starts at the first candle and grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

WalkForwardMode = Literal["rolling", "anchored"]


@dataclass(frozen=True)
class Fold:
    """Candle index ranges ``[train_start, train_end)`` and ``[test_start, test_end)``."""

    number: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int

    @property
    def train_len(self) -> int:
        return self.train_end - self.train_start

    @property
    def test_len(self) -> int:
        return self.test_end - self.test_start


def walk_forward(
    n_candles: int,
    *,
    folds: int,
    train_fraction: float = 0.7,
    mode: WalkForwardMode = "rolling",
) -> list[Fold]:
    """``folds`` consecutive train/test windows covering ``n_candles``.

    The series is split so that ``folds`` test windows of equal length follow one initial train
    window; ``train_fraction`` is the share of one fold (train + test) that is training data in
    rolling mode, and of the first fold in anchored mode. Raises ``ValueError`` with what to change
    when the series is too short to give every window at least one candle.
    """
    if folds < 1:
        raise ValueError("folds must be at least 1")
    if not 0 < train_fraction < 1:
        raise ValueError("train_fraction must be between 0 and 1 (exclusive)")
    if mode not in ("rolling", "anchored"):
        raise ValueError("mode must be 'rolling' or 'anchored'")
    # train + folds * test = n, train = test * r / (1 - r)
    ratio = train_fraction / (1 - train_fraction)
    test_len = int(n_candles // (folds + ratio))
    train_len = n_candles - folds * test_len if test_len else 0
    if test_len < 1 or train_len < 1:
        raise ValueError(
            f"{n_candles} candles are too few for {folds} walk-forward folds; use fewer folds or more data"
        )
    out = []
    for k in range(folds):
        test_start = train_len + k * test_len
        test_end = n_candles if k == folds - 1 else test_start + test_len
        train_start = 0 if mode == "anchored" else test_start - train_len
        out.append(Fold(k + 1, train_start, test_start, test_start, test_end))
    return out

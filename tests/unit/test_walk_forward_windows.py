"""Walk-forward folds: test windows never overlap, never touch their own training data."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from coinpilot.backtest.windows import walk_forward


def test_rolling_folds_by_hand() -> None:
    folds = walk_forward(100, folds=3, train_fraction=0.5)
    assert [(f.train_start, f.train_end, f.test_start, f.test_end) for f in folds] == [
        (0, 25, 25, 50),
        (25, 50, 50, 75),
        (50, 75, 75, 100),
    ]


def test_anchored_folds_start_at_zero_and_grow() -> None:
    folds = walk_forward(100, folds=3, train_fraction=0.5, mode="anchored")
    assert [(f.train_start, f.train_end) for f in folds] == [(0, 25), (0, 50), (0, 75)]


@given(
    n=st.integers(min_value=2, max_value=200_000),
    k=st.integers(min_value=1, max_value=24),
    r=st.floats(min_value=0.05, max_value=0.95),
    mode=st.sampled_from(["rolling", "anchored"]),
)
def test_folds_never_overlap_and_never_test_on_training_data(n: int, k: int, r: float, mode: str) -> None:
    try:
        folds = walk_forward(n, folds=k, train_fraction=r, mode=mode)  # type: ignore[arg-type]
    except ValueError:
        return
    assert len(folds) == k
    for f in folds:
        assert 0 <= f.train_start < f.train_end == f.test_start < f.test_end <= n
    for a, b in itertools.pairwise(folds):
        assert a.test_end == b.test_start  # consecutive, no overlap, no hole
    assert folds[-1].test_end == n
    if mode == "rolling":
        assert len({f.train_len for f in folds}) == 1


def test_too_little_data_says_what_to_change() -> None:
    with pytest.raises(ValueError, match="use fewer folds or more data"):
        walk_forward(3, folds=5)

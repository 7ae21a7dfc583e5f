"""The exact bulk decimal parser: the same doubles as ``float()``, or ``None`` — never another value."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from coinpilot.backtest import data
from coinpilot.backtest.plain_decimals import parse_plain_decimals

HEADER = b"timestamp,open,high,low,close,volume\n"


def _parse(cells: list[str], width: int) -> np.ndarray | None:
    """The parsed cells as a ``(rows, width)`` table, as written (the parser returns columns)."""
    rows = [",".join(cells[i : i + width]) for i in range(0, len(cells), width)]
    raw = HEADER + "".join(r + "\n" for r in rows).encode()
    columns = parse_plain_decimals(raw, len(HEADER), width)
    if columns is not None:
        assert columns.shape == (width, len(rows)) and columns.dtype == np.float64
        return columns.T
    return None


def _expected(cells: list[str], width: int) -> np.ndarray:
    return np.array([float(c) for c in cells], dtype=np.float64).reshape(-1, width)


# Plain decimals the parser must read: up to 15 digits with at most one point anywhere
# (leading, trailing, none), leading zeros, long fractions, values that round.
_digits = st.text(alphabet="0123456789", min_size=0, max_size=15)
plain_decimal = st.builds(
    lambda whole, frac, point: whole + "." + frac if point else whole + frac, _digits, _digits, st.booleans()
).filter(lambda s: any(ch.isdigit() for ch in s) and len(s.replace(".", "")) <= 15 and len(s) <= 16)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 4), st.lists(plain_decimal, min_size=1, max_size=60))
def test_plain_decimals_are_read_as_float_reads_them(width: int, cells: list[str]) -> None:
    cells = cells[: len(cells) - len(cells) % width] or cells[:1] * width
    table = _parse(cells, width)
    assert table is not None
    assert table.dtype == np.float64
    assert np.array_equal(table, _expected(cells, width))
    assert [v.hex() for v in table.ravel().tolist()] == [float(c).hex() for c in cells]  # bit for bit


# Anything a cell may hold: a result must equal float(), or the parser must decline.
any_cell = st.text(alphabet="0123456789.+-eE x", min_size=0, max_size=20)


@settings(max_examples=300, deadline=None)
@given(st.lists(any_cell, min_size=2, max_size=40).filter(lambda c: len(c) % 2 == 0))
def test_any_other_cell_is_declined_never_misread(cells: list[str]) -> None:
    table = _parse(cells, 2)
    if table is not None:
        assert [v.hex() for v in table.ravel().tolist()] == [float(c).hex() for c in cells]


@pytest.mark.parametrize(
    "cell",
    [
        "",  # empty
        ".",  # a lone point
        "1.2.3",  # two points
        "-1.5",  # a sign
        "+2",
        "1e5",  # an exponent
        " 7",  # a space
        "12345678901234567",  # longer than 16 characters
        "9007199254740993",  # a mantissa past 2**53: not exactly representable
        "nan",
    ],
)
def test_cells_outside_the_exact_path_are_declined(cell: str) -> None:
    assert _parse(["1", cell], 2) is None


def test_the_largest_exact_mantissas_are_read() -> None:
    cells = ["9007199254740992", "90071992547409.9", ".900719925474099", "0.00000000000001"]
    table = _parse(cells, 2)
    assert table is not None and np.array_equal(table, _expected(cells, 2))


@pytest.mark.parametrize(
    "body",
    [b"1,2\n3\n", b"1,2\n\n3,4\n", b"1,2,3\n4,5,6\n", b"1,2\n3,4", b"1\n2,3\n"],
    ids=["short row", "blank line", "wide rows", "no final newline", "ragged"],
)
def test_rows_that_are_not_width_cells_are_declined(body: bytes) -> None:
    assert parse_plain_decimals(HEADER + body, len(HEADER), 2) is None


def test_rows_across_many_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from coinpilot.backtest import plain_decimals

    monkeypatch.setattr(plain_decimals, "_BLOCK_BYTES", 64)
    cells = [f"{i}.{i * 7 % 1000:03d}" for i in range(3000)]
    table = _parse(cells, 3)
    assert table is not None and np.array_equal(table, _expected(cells, 3))


SHIPPED = sorted((Path(data.__file__).parent.parent / "data").glob("coinbase_*.csv.gz"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_the_shipped_files_take_the_exact_path(path: Path) -> None:
    raw = gzip.decompress(path.read_bytes())
    start = raw.index(b"\n") + 1
    width = raw[:start].count(b",") + 1
    columns = parse_plain_decimals(raw, start, width)
    assert columns is not None
    cells = [c for line in raw[start:].decode().splitlines() for c in line.split(",")]
    assert np.array_equal(columns.T.ravel(), np.array([float(c) for c in cells]))

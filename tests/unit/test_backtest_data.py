"""Backtest data: bad rows refused by number and reason, gaps found, windows cut exactly."""

from __future__ import annotations

import csv
import gzip
import io
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from coinpilot.backtest import data
from coinpilot.backtest.data import (
    CandleDataError,
    _plainly_valid,
    find_gaps,
    read_file,
    shipped_candles,
    validate_candles,
    window,
)
from coinpilot.domain.market import Candles
from coinpilot.domain.types import Granularity

H = Granularity.ONE_HOUR
HEADER = "timestamp,open,high,low,close,volume\n"


def _write(tmp_path: Path, rows: list[str], name: str = "c.csv", header: str = HEADER) -> Path:
    p = tmp_path / name
    p.write_text(header + "".join(r + "\n" for r in rows))
    return p


GOOD = [f"{3600 * i},10,11,9,10.5,1" for i in range(1, 6)]


def test_valid_csv_loads(tmp_path: Path) -> None:
    c = read_file(_write(tmp_path, GOOD), "BTC-USD", H)
    assert len(c) == 5
    assert c.start[0] == 3600 and c.close[-1] == 10.5


def test_columns_in_any_order_and_iso_and_millisecond_times(tmp_path: Path) -> None:
    rows = ["2024-01-01T00:00:00Z,1,10,11,9,10", "1704070800000,1,10,11,9,10"]
    c = read_file(_write(tmp_path, rows, header="timestamp,volume,open,high,low,close\n"), "BTC-USD", H)
    assert list(c.start) == [1704067200, 1704070800]


def test_gzip_csv_loads(tmp_path: Path) -> None:
    p = tmp_path / "c.csv.gz"
    p.write_bytes(gzip.compress((HEADER + "\n".join(GOOD)).encode()))
    assert len(read_file(p, "BTC-USD", H)) == 5


@pytest.mark.parametrize(
    ("row_index", "bad_row", "fragment"),
    [
        (2, "10800,10,11,9,nan,1", "row 3: close is nan"),
        (2, "10800,0,11,9,10,1", "row 3: open 0 is not a positive price"),
        (2, "10800,10,8,9,8.5,1", "row 3: high 8 is below low 9"),
        (2, "10800,12,11,9,10,1", "row 3: open 12 is outside"),
        (2, "7200,10,11,9,10,1", "row 3: duplicate timestamp"),
        (2, "3600,10,11,9,10,1", "row 3: timestamp"),
        (2, "10800,10,11,9,10,-1", "row 3: volume -1 is negative"),
        (2, "10800,ten,11,9,10,1", "row 3: open 'ten' is not a number"),
        (2, "10830,10,11,9,10,1", "not a multiple of the ONE_HOUR granularity"),
    ],
)
def test_bad_rows_are_refused_naming_the_row(
    tmp_path: Path, row_index: int, bad_row: str, fragment: str
) -> None:
    rows = [f"{3600 * i},10,11,9,10,1" for i in range(1, 6)]
    rows[row_index] = bad_row
    with pytest.raises(CandleDataError) as err:
        read_file(_write(tmp_path, rows), "BTC-USD", H)
    assert fragment in str(err.value)
    assert "c.csv" in str(err.value)


def test_unsorted_file_is_refused_with_the_fix(tmp_path: Path) -> None:
    rows = ["7200,10,11,9,10,1", "3600,10,11,9,10,1"]
    with pytest.raises(CandleDataError, match=r"row 2: .*earlier than the row before it; sort the file"):
        read_file(_write(tmp_path, rows), "BTC-USD", H)


def test_missing_column_and_missing_file_and_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CandleDataError, match="missing column"):
        read_file(_write(tmp_path, ["1,2,3"], header="timestamp,open,close\n"), "BTC-USD", H)
    with pytest.raises(CandleDataError, match="cannot read"):
        read_file(tmp_path / "nope.csv", "BTC-USD", H)
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(CandleDataError, match="empty"):
        read_file(tmp_path / "empty.csv", "BTC-USD", H)
    with pytest.raises(CandleDataError, match="no candles"):
        read_file(_write(tmp_path, []), "BTC-USD", H)


def test_gaps_are_found_not_filled(tmp_path: Path) -> None:
    rows = ["3600,10,11,9,10,1", "7200,10,11,9,10,1", "18000,10,11,9,10,1", "21600,10,11,9,10,1"]
    c = read_file(_write(tmp_path, rows), "BTC-USD", H)
    gaps = find_gaps(c)
    assert len(c) == 4
    assert [(g.after.hour, g.before.hour, g.missing) for g in gaps] == [(2, 5, 2)]


def test_window_is_half_open(tmp_path: Path) -> None:
    c = read_file(_write(tmp_path, GOOD), "BTC-USD", H)
    w = window(c, datetime.fromtimestamp(7200, UTC), datetime.fromtimestamp(14400, UTC))
    assert list(w.start) == [7200, 10800]


def test_shipped_data_loads_and_aggregates() -> None:
    hourly = shipped_candles("BTC-USD", H)
    assert len(hourly) > 16000
    six = shipped_candles("BTC-USD", Granularity.SIX_HOUR)
    assert set((six.start % 21600).tolist()) == {0}
    minute = shipped_candles("BTC-USD", Granularity.ONE_MINUTE)
    assert minute.granularity is Granularity.ONE_MINUTE and len(minute) > 27000


def test_unknown_shipped_pair_names_what_exists() -> None:
    with pytest.raises(CandleDataError, match="shipped pairs: BTC-USD, ETH-USD"):
        shipped_candles("DOGE-USD", H)
    with pytest.raises(CandleDataError, match="no shipped data for ETH-USD"):
        shipped_candles("ETH-USD", Granularity.ONE_MINUTE)


# --------------------------------------------------------------------------- the bulk parser
# ``read_csv`` parses a plain numeric file in one pass in C and falls back to the row-by-row
# parser for anything else; both must give exactly the same candles and the same errors.
def _row_by_row(path: Path, granularity: Granularity) -> Candles:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    reader = csv.reader(io.StringIO(raw.decode("utf-8-sig")))
    header = next(reader)
    return data._rows_to_candles(reader, header, "BTC-USD", granularity, str(path))


def _same(a: Candles, b: Candles) -> None:
    for name in ("start", "open", "high", "low", "close", "volume"):
        x, y = getattr(a, name), getattr(b, name)
        assert x.dtype == y.dtype and np.array_equal(x, y), name


SHIPPED = sorted((Path(data.__file__).parent.parent / "data").glob("coinbase_*.csv.gz"))


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_bulk_parser_matches_the_row_parser_on_the_shipped_files(path: Path) -> None:
    granularity = Granularity.ONE_MINUTE if "_1m" in path.name else H
    raw = gzip.decompress(path.read_bytes())
    assert data._numeric_csv_fast(raw, "BTC-USD", granularity) is not None  # the bulk path ran
    _same(read_file(path, "BTC-USD", granularity), _row_by_row(path, granularity))


def test_bulk_parser_matches_on_millisecond_times_reordered_columns_and_crlf(tmp_path: Path) -> None:
    header = "Volume,timestamp,Open,High,Low,Close\n"
    rows = [f"0.{i:09d},{(1704067200 + 3600 * i) * 1000}, 10.25,11.5,9.125,10.1" for i in range(1, 51)]
    path = tmp_path / "ms.csv"
    path.write_bytes((header + "".join(r + "\r\n" for r in rows)).encode())
    assert data._numeric_csv_fast(path.read_bytes(), "BTC-USD", H) is not None
    fast = read_file(path, "BTC-USD", H)
    _same(fast, _row_by_row(path, H))
    assert fast.start[0] == 1704070800 and fast.volume[0] == 0.000000001 and fast.close[0] == 10.1


@pytest.mark.parametrize(
    ("bad_row", "fragment"),
    [
        ("600060,10,11,9,ten,1", "row 1001: close 'ten' is not a number"),
        ("600060,10,11,9,10", "row 1001: 5 values, expected 6"),
        ("600060.5,10,11,9,10,1", "row 1001: timestamp '600060.5' is not a whole second"),
        ("600060,10,11,9,,1", "row 1001: close '' is not a number"),
        ("600060,10,11,9,0x10,1", "row 1001: close '0x10' is not a number"),
        ("600060,10,8,9,8.5,1", "row 1001: high 8 is below low 9"),
    ],
)
def test_a_bad_value_deep_in_a_large_file_is_reported_with_its_row(
    tmp_path: Path, bad_row: str, fragment: str
) -> None:
    rows = [f"{60 * i},10,11,9,10,1" for i in range(1, 3001)]
    rows[1000] = bad_row
    with pytest.raises(CandleDataError) as err:
        read_file(_write(tmp_path, rows, name="big.csv"), "BTC-USD", Granularity.ONE_MINUTE)
    assert fragment in str(err.value) and "big.csv" in str(err.value)


def test_blank_lines_and_extra_cells_still_load_through_the_row_parser(tmp_path: Path) -> None:
    rows = ["3600,10,11,9,10,1", "", "7200,10,11,9,10,1,extra"]
    path = _write(tmp_path, rows)
    assert data._numeric_csv_fast(path.read_bytes(), "BTC-USD", H) is None
    assert list(read_file(path, "BTC-USD", H).start) == [3600, 7200]


@pytest.mark.parametrize(
    ("column", "value"),
    [
        ("open", np.inf),
        ("high", np.nan),
        ("low", -np.inf),
        ("close", 0.0),
        ("close", 11.5),  # above the high
        ("close", 8.5),  # below the low
        ("open", 8.5),
        ("volume", np.nan),
        ("volume", np.inf),
        ("volume", -1.0),
        ("start", 3600 * 2),  # a duplicate of the row before
        ("start", 3600 * 3 + 30),  # off the hourly grid
    ],
)
def test_the_quick_check_passes_no_defect_the_row_checks_refuse(column: str, value: float) -> None:
    n = 6
    arrays = {
        "start": 3600 * np.arange(1, n + 1, dtype=np.int64),
        "open": np.full(n, 10.0),
        "high": np.full(n, 11.0),
        "low": np.full(n, 9.0),
        "close": np.full(n, 10.0),
        "volume": np.ones(n),
    }
    good = Candles("BTC-USD", H, *arrays.values())
    assert _plainly_valid(good)
    validate_candles(good, "good")
    arrays[column] = arrays[column].copy()
    arrays[column][2] = value
    bad = Candles("BTC-USD", H, *arrays.values())
    assert not _plainly_valid(bad)
    with pytest.raises(CandleDataError, match="row 3"):
        validate_candles(bad, "bad")


def test_gzip_is_read_whole_by_either_inflater(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two gzip members (``cat a.gz b.gz``) are one file to both ISA-L and zlib; a cut file is refused."""
    import builtins

    first, second = b"timestamp,open,high,low,close,volume\n3600,10,11,9,10,1\n", b"7200,10,11,9,10,1\n"
    joined = gzip.compress(first) + gzip.compress(second)
    assert data.gunzip(joined) == first + second
    with pytest.raises(EOFError):
        data.gunzip(joined[:-5])
    path = tmp_path / "two.csv.gz"
    path.write_bytes(joined)
    assert list(read_file(path, "BTC-USD", H).start) == [3600, 7200]
    real_import = builtins.__import__

    def no_isal(name: str, *args: object, **kwargs: object) -> object:
        if name.startswith("isal"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_isal)
    assert data.gunzip(joined) == first + second
    assert list(read_file(path, "BTC-USD", H).start) == [3600, 7200]

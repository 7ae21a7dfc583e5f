"""Candles for a backtest: loaded from the shipped files or any CSV/Parquet, checked before use.

A backtest is only as honest as its data. Every series a backtest reads passes
:func:`validate_candles`, which refuses what would silently distort a result — unsorted or
duplicate timestamps, NaN or non-positive prices, a high below the low, an open or close outside
the candle's range — and names the first offending row (1-based, counting data rows, as a person
sees it in a spreadsheet). Missing candles are not an error (exchanges skip minutes without
trades), but they are found and reported as :class:`Gap` so the report can say how much of the
period had no data; nothing is interpolated.
"""

from __future__ import annotations

import csv
import io
import math
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from coinpilot.backtest.plain_decimals import parse_plain_decimals
from coinpilot.domain.market import Candles
from coinpilot.domain.types import Granularity

COLUMNS = ("timestamp", "open", "high", "low", "close", "volume")

# A Unix timestamp in milliseconds is larger than any seconds value before year 5138.
_MS_THRESHOLD = 100_000_000_000


# Bytes a plain decimal CSV body is made of; anything else sends the file to the row-by-row parser.
_PLAIN_NUMBER_OCTETS = b"0123456789.,+-eE \t\n"


class CandleDataError(ValueError):
    """The data cannot be backtested as it is; the message names the file and row and says why."""


@dataclass(frozen=True)
class Gap:
    """Missing candles between two present ones: ``missing`` bars after the candle at ``after``."""

    after: datetime
    before: datetime
    missing: int

    def to_dict(self) -> dict[str, object]:
        return {"after": self.after.isoformat(), "before": self.before.isoformat(), "missing": self.missing}


def _parse_time(raw: str, where: str) -> int:
    text = raw.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError as exc:
            raise CandleDataError(f"{where}: timestamp {raw!r} is neither Unix time nor ISO 8601") from exc
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return int(parsed.timestamp())
    if not math.isfinite(value):
        raise CandleDataError(f"{where}: timestamp {raw!r} is not a number")
    if value >= _MS_THRESHOLD:
        value /= 1000.0
    if value != int(value):
        raise CandleDataError(f"{where}: timestamp {raw!r} is not a whole second")
    return int(value)


def _parse_float(raw: str, column: str, where: str) -> float:
    try:
        return float(raw)
    except ValueError as exc:
        raise CandleDataError(f"{where}: {column} {raw!r} is not a number") from exc


def _rows_to_candles(
    rows: Iterable[list[str]], header: list[str], pair: str, granularity: Granularity, source: str
) -> Candles:
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise CandleDataError(
            f"{source}: missing column(s) {', '.join(missing)}; the header must name {', '.join(COLUMNS)}"
        )
    index = [names.index(c) for c in COLUMNS]
    starts: list[int] = []
    values: list[list[float]] = [[], [], [], [], []]
    for n, row in enumerate(rows, start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        where = f"{source}: row {n}"
        if len(row) < len(names):
            raise CandleDataError(f"{where}: {len(row)} values, expected {len(names)}")
        starts.append(_parse_time(row[index[0]], where))
        for k, column in enumerate(COLUMNS[1:]):
            values[k].append(_parse_float(row[index[k + 1]], column, where))
    candles = Candles(
        pair,
        granularity,
        np.asarray(starts, dtype=np.int64),
        *(np.asarray(v, dtype=np.float64) for v in values),
    )
    validate_candles(candles, source)
    return candles


def read_csv(path: Path, pair: str, granularity: Granularity) -> Candles:
    """A CSV (optionally gzip-compressed) with a header naming the six columns, in any order."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise CandleDataError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    if raw[:2] == b"\x1f\x8b":
        raw = gunzip(raw)
    fast = _numeric_csv_fast(raw, pair, granularity)
    if fast is not None:
        validate_candles(fast, str(path))
        return fast
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CandleDataError(f"{path}: not UTF-8 text (is it a CSV file?)") from exc
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if header is None:
        raise CandleDataError(f"{path}: the file is empty")
    return _rows_to_candles(reader, header, pair, granularity, str(path))


def gunzip(raw: bytes) -> bytes:
    """A gzip file's content, by ISA-L when ``isal`` is installed (a dependency), else by zlib.

    A year of minutes is 43 MB of text: zlib inflates it in about 0.2 s, ISA-L in under 0.1 s,
    a tenth of the whole backtest. Both read every member of a multi-member file and refuse a
    truncated one (``EOFError``), so the result never depends on which one ran.
    """
    try:
        from isal import igzip

        return bytes(igzip.decompress(raw))  # type: ignore[no-untyped-call,unused-ignore]
    except ImportError:  # only where no isal wheel could be installed
        import gzip

        return gzip.decompress(raw)


def _numeric_csv_fast(raw: bytes, pair: str, granularity: Granularity) -> Candles | None:
    """The whole file parsed in bulk when every cell is a plain number; ``None`` means "ask the slow path".

    A year of minutes is half a million rows, and parsing them cell by cell in Python took far
    longer than the backtest itself. Plain decimals (digits and a point) are read exactly by
    :mod:`coinpilot.backtest.plain_decimals`; other numbers (signs, exponents, spaces) by NumPy.
    This path accepts only what it can check in bulk — ASCII, no quotes, no blank lines, exactly
    one value per header column on every row, Unix timestamps that are whole seconds (or
    milliseconds) — and returns ``None`` for anything else, so the row-by-row parser runs and
    names the file, the row and the reason exactly as before. It never reports an error itself;
    the values it returns are the ones ``float()`` gives, so both paths agree.
    """
    if raw[:3] == b"\xef\xbb\xbf":
        raw = raw[3:]
    if b"\r" in raw:
        raw = raw.replace(b"\r\n", b"\n")
    split = raw.find(b"\n")
    if split < 0:
        return None
    names = [h.strip().lower() for h in raw[:split].decode("ascii", errors="replace").split(",")]
    if any(c not in names for c in COLUMNS) or len(set(names)) != len(names):
        return None
    width = len(names)
    if len(raw) == split + 1:
        return None
    if not raw.endswith(b"\n"):
        raw += b"\n"  # every row ends with a newline from here on
    columns = parse_plain_decimals(raw, split + 1, width)
    if columns is None:
        columns = _general_numeric_columns(raw[split + 1 :], width)
    if columns is None:
        return None
    index = [names.index(c) for c in COLUMNS]
    stamps = columns[index[0]]
    if not np.all(np.isfinite(stamps)):
        return None
    seconds = np.where(stamps >= _MS_THRESHOLD, stamps / 1000.0, stamps)
    if np.any(seconds != np.floor(seconds)):
        return None
    return Candles(
        pair,
        granularity,
        seconds.astype(np.int64),
        *(np.ascontiguousarray(columns[i]) for i in index[1:]),
    )


def _general_numeric_columns(body: bytes, width: int) -> np.ndarray | None:
    """``body``'s ``(width, rows)`` columns by NumPy's float parser (signs, exponents, spaces)."""
    if body.translate(None, _PLAIN_NUMBER_OCTETS):  # letters (nan, hex, ISO dates), quotes, \r: slow way
        return None
    octets = np.frombuffer(body, dtype=np.uint8)
    ends = np.flatnonzero(octets == 0x0A)
    rows = ends.size
    if ends[0] == 0 or np.any(np.diff(ends) < 2):  # a blank line
        return None
    commas = np.flatnonzero(octets == 0x2C)
    if commas.size != rows * (width - 1):
        return None
    # Commas before each line end: exactly width - 1 more per row, or a row is ragged.
    if np.any(np.searchsorted(commas, ends) != np.arange(1, rows + 1) * (width - 1)):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            flat = np.fromstring(body.replace(b"\n", b","), dtype=np.float64, sep=",")
    except (ValueError, DeprecationWarning):
        return None
    if flat.size != rows * width:
        return None
    return flat.reshape(rows, width).T


def read_parquet(path: Path, pair: str, granularity: Granularity) -> Candles:
    """A Parquet file with the six columns; needs ``pyarrow`` (``pip install pyarrow``)."""
    try:
        import pyarrow.parquet as pq  # type: ignore[import-not-found,unused-ignore]
    except ImportError as exc:
        raise CandleDataError(
            f"{path}: reading Parquet needs pyarrow; install it with `pip install pyarrow` or convert to CSV"
        ) from exc
    table = pq.read_table(path)
    header = [str(name) for name in table.column_names]
    columns = [[str(v) for v in table.column(i).to_pylist()] for i in range(len(header))]
    rows = [list(r) for r in zip(*columns, strict=True)]
    return _rows_to_candles(rows, header, pair, granularity, str(path))


def read_file(path: Path, pair: str, granularity: Granularity) -> Candles:
    suffixes = "".join(path.suffixes).lower()
    if suffixes.endswith(".parquet") or suffixes.endswith(".pq"):
        return read_parquet(path, pair, granularity)
    return read_csv(path, pair, granularity)


def validate_candles(c: Candles, source: str) -> None:
    """Refuse data a backtest must not run on, naming the first bad row (1-based data rows)."""
    n = len(c)
    if n == 0:
        raise CandleDataError(f"{source}: no candles")
    if _plainly_valid(c):
        return

    def first(mask: np.ndarray) -> int | None:
        hits = np.flatnonzero(mask)
        return int(hits[0]) if hits.size else None

    prices = {"open": c.open, "high": c.high, "low": c.low, "close": c.close}
    for name, arr in (*prices.items(), ("volume", c.volume)):
        bad = first(~np.isfinite(arr))
        if bad is not None:
            raise CandleDataError(
                f"{source}: row {bad + 1}: {name} is {float(arr[bad])}, not a finite number"
            )
    for name, arr in prices.items():
        bad = first(arr <= 0)
        if bad is not None:
            raise CandleDataError(f"{source}: row {bad + 1}: {name} {arr[bad]:g} is not a positive price")
    bad = first(c.volume < 0)
    if bad is not None:
        raise CandleDataError(f"{source}: row {bad + 1}: volume {c.volume[bad]:g} is negative")
    bad = first(c.high < c.low)
    if bad is not None:
        raise CandleDataError(f"{source}: row {bad + 1}: high {c.high[bad]:g} is below low {c.low[bad]:g}")
    for name, arr in (("open", c.open), ("close", c.close)):
        bad = first((arr > c.high) | (arr < c.low))
        if bad is not None:
            raise CandleDataError(
                f"{source}: row {bad + 1}: {name} {arr[bad]:g} is outside the candle's range "
                f"{c.low[bad]:g}–{c.high[bad]:g}"
            )
    if n > 1:
        steps = np.diff(c.start)
        bad = first(steps == 0)
        if bad is not None:
            raise CandleDataError(
                f"{source}: row {bad + 2}: duplicate timestamp {_iso(int(c.start[bad + 1]))}"
            )
        bad = first(steps < 0)
        if bad is not None:
            raise CandleDataError(
                f"{source}: row {bad + 2}: timestamp {_iso(int(c.start[bad + 1]))} is earlier than the row "
                f"before it; sort the file oldest first"
            )
        g = c.granularity.seconds
        bad = first(steps % g != 0)
        if bad is not None:
            raise CandleDataError(
                f"{source}: row {bad + 2}: {int(steps[bad])} s after the previous candle, not a multiple of "
                f"the {c.granularity.value} granularity ({g} s); pass the right --granularity"
            )


def _plainly_valid(c: Candles) -> bool:
    """Every check of :func:`validate_candles` at once, by reductions and few temporaries:
    True only if all pass (otherwise the checks one by one name the first bad row). NaN fails
    every comparison, so a NaN anywhere makes this False."""
    with np.errstate(invalid="ignore"):
        for arr in (c.open, c.high, c.low, c.close):
            if not (arr.min() > 0 and arr.max() < np.inf):
                return False
        if not (c.volume.min() >= 0 and c.volume.max() < np.inf):
            return False
        if (c.high < c.low).any() or (c.open > c.high).any() or (c.open < c.low).any():
            return False
        if (c.close > c.high).any() or (c.close < c.low).any():
            return False
    if len(c) > 1:
        steps = np.diff(c.start)
        if steps.min() <= 0:
            return False
        g = c.granularity.seconds
        odd = steps[steps != g]  # gaps (few): whole numbers of bars?
        if (odd % g).any():
            return False
    return True


def find_gaps(c: Candles) -> list[Gap]:
    """Runs of missing candles (the data is valid, so every step is a whole number of bars)."""
    if len(c) < 2:
        return []
    g = c.granularity.seconds
    steps = np.diff(c.start)
    idx = np.flatnonzero(steps > g)
    return [
        Gap(
            datetime.fromtimestamp(int(c.start[i]), UTC),
            datetime.fromtimestamp(int(c.start[i + 1]), UTC),
            int(steps[i] // g) - 1,
        )
        for i in idx
    ]


def window(c: Candles, start: datetime | None, end: datetime | None) -> Candles:
    """Candles whose start lies in ``[start, end)``; either bound may be open."""
    lo = 0 if start is None else int(np.searchsorted(c.start, int(start.timestamp()), side="left"))
    hi = len(c) if end is None else int(np.searchsorted(c.start, int(end.timestamp()), side="left"))
    sl = slice(lo, hi)
    return Candles(
        c.pair, c.granularity, c.start[sl], c.open[sl], c.high[sl], c.low[sl], c.close[sl], c.volume[sl]
    )


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def shipped_candles(pair: str, granularity: Granularity | None = None, source: str | None = None) -> Candles:
    """A pair's shipped Coinbase history (``coinpilot.data``), aggregated to ``granularity``.

    Without ``source``, the first shipped source that holds ``pair`` at a granularity no coarser
    than the one asked for is used (the hourly 2017–2019 files unless minutes are asked for).
    """
    from coinpilot.exchange.replay import SOURCES, _load_file, aggregate

    names = [source] if source else list(SOURCES)
    for name in names:
        files = SOURCES.get(name)
        if files is None:
            raise CandleDataError(f"unknown shipped data source {name!r}; choose one of {sorted(SOURCES)}")
        if pair not in files:
            continue
        file, stored = files[pair]
        want = granularity or stored
        if want.seconds < stored.seconds or want.seconds % stored.seconds:
            continue
        s = aggregate(_load_file(file, stored), want)
        candles = Candles(pair, want, s.start, s.open, s.high, s.low, s.close, s.volume)
        validate_candles(candles, f"shipped {pair} ({name})")
        return candles
    available = sorted({p for files in SOURCES.values() for p in files})
    raise CandleDataError(
        f"no shipped data for {pair} at {granularity.value if granularity else 'any granularity'}; "
        f"shipped pairs: {', '.join(available)} (or pass --data FILE)"
    )

"""An exact bulk parser for CSV bodies made only of plain decimals (``18568.85000000``, ``1606070760``).

A year of minute candles is three million cells; NumPy's text parsers take over half a second on
them, longer than the backtest. Every cell of such a file is a short run of digits with at most
one decimal point, and for those the correctly rounded double can be computed without a general
float parser: the digits form an integer mantissa ``m`` with ``f`` digits after the point, and
when ``m <= 2**53`` and ``f <= 22`` both ``m`` and ``10**f`` are exact doubles, so the one IEEE
division ``m / 10**f`` is correctly rounded — the same double ``float(text)`` gives (Clinger's
fast path). The digits are read eight bytes at a time (SWAR: three multiply-and-shift steps turn
eight ASCII digits into their value), a block of rows at a time so the temporaries stay small.

Anything else — signs, exponents, spaces, cells longer than 16 characters, a mantissa past
``2**53``, an empty cell, two points in a cell, a ragged row — makes :func:`parse_plain_decimals`
return ``None`` and the caller uses a general parser; this module never guesses and never raises.
"""

from __future__ import annotations

import numpy as np

# What a plain decimal body is made of.
_PLAIN_OCTETS = b"0123456789.,\n"
_COMMA = 0x2C
_NEWLINE = 0x0A
# The longest cell read: two little-endian 64-bit words.
_MAX_CELL = 16
# Rows are parsed in blocks of about this many bytes, so the per-cell temporaries (eight bytes
# each) stay in cache instead of costing fresh pages for every step.
_BLOCK_BYTES = 1 << 20
_EXACT_MANTISSA = 2**53

_U = np.uint64
_ALL = (1 << 64) - 1
# Digits have bit 4 of their byte set ('0' is 0x30), the point does not ('.' is 0x2E).
_BIT4 = _U(0x1010101010101010)
# A cell of n characters, right-aligned in a 16-byte window read as two little-endian words:
# _KEEP_FIRST[n] / _KEEP_SECOND[n] keep its bytes in the first / second word and clear the rest.
_KEEP_SECOND = np.array([_ALL ^ (_ALL >> (8 * min(n, 8))) for n in range(_MAX_CELL + 1)], dtype=np.uint64)
_KEEP_FIRST = np.array([_ALL ^ (_ALL >> (8 * max(n - 8, 0))) for n in range(_MAX_CELL + 1)], dtype=np.uint64)
_POW10 = np.array([float(10**k) for k in range(_MAX_CELL + 1)], dtype=np.float64)  # all exact


def parse_plain_decimals(raw: bytes, start: int, width: int) -> np.ndarray | None:
    """The columns of the rows in ``raw[start:]``: a ``(width, rows)`` float64 array, or ``None``.

    ``raw[start:]`` must end with a newline and ``start`` must be at least 16 (a header precedes
    the body: the first cells are read with the bytes before them, which are then masked off).
    Each value is exactly ``float(cell)``. Columns, not rows, because a candle series holds one
    contiguous array per column: they are filled in place, with no table to copy them out of.
    """
    if start < _MAX_CELL or not raw.endswith(b"\n") or len(raw) <= start:
        return None
    # Bytes outside the plain set anywhere in the body (the header's letters are allowed).
    if len(raw.translate(None, _PLAIN_OCTETS)) != len(raw[:start].translate(None, _PLAIN_OCTETS)):
        return None
    octets = np.frombuffer(raw, dtype=np.uint8)
    # Every byte offset read as the 16 bytes starting there.
    windows = np.ndarray((len(raw) - _MAX_CELL + 1,), dtype=f"V{_MAX_CELL}", buffer=raw, strides=(1,))
    separators = np.full(width, _COMMA, dtype=np.uint8)
    separators[-1] = _NEWLINE
    columns = np.empty((width, raw.count(b"\n", start)), dtype=np.float64)
    done = 0
    begin = start
    while begin < len(raw):
        end = raw.find(b"\n", min(begin + _BLOCK_BYTES, len(raw)) - 1) + 1  # a block ends a row
        values = _parse_block(octets, windows, begin, end, separators)
        if values is None:
            return None
        rows = values.size // width
        columns[:, done : done + rows] = values.reshape(rows, width).T
        done += rows
        begin = end
    return columns


def _parse_block(
    octets: np.ndarray, windows: np.ndarray, begin: int, end: int, separators: np.ndarray
) -> np.ndarray | None:
    """The cells of the whole rows in ``[begin, end)``, in reading order, or ``None``."""
    block = octets[begin:end]
    ends = np.flatnonzero(block < 0x2E)  # ',' and '\n' are the only plain bytes below '.'
    width = separators.size
    if ends.size % width or not np.all(block[ends].reshape(-1, width) == separators):
        return None  # a ragged row or a blank line
    ends += begin
    lengths = np.diff(ends, prepend=begin - 1) - 1
    if lengths.min() < 1 or lengths.max() > _MAX_CELL:
        return None
    # Each cell right-aligned in two words, [:, 0] its first characters; the bytes before the cell
    # are cleared (a 0 byte reads as the digit 0, which does not change the value). The words are
    # read little-endian whatever the machine (a no-op where it is little-endian already).
    cells = windows[ends - _MAX_CELL].view("<u8").astype(np.uint64, copy=False).reshape(-1, 2)
    keep = np.empty_like(cells)
    np.take(_KEEP_FIRST, lengths, out=keep[:, 0])
    np.take(_KEEP_SECOND, lengths, out=keep[:, 1])
    cells &= keep
    point = ~cells & keep & _BIT4  # bit 4 of the point's byte, in the word that holds it
    if np.any(point & (point - _U(1))):
        return None  # two points in one word
    in_first = point[:, 0] != 0
    in_second = point[:, 1] != 0
    if np.any(in_first & in_second):
        return None  # two points in one cell
    pointed = in_first | in_second
    if np.any(pointed & (lengths < 2)):
        return None  # a lone point is not a number
    # Digits after the point: with the point at byte j its bit is 2**(8j + 4), whose exponent
    # e = 8j + 5 gives 7 - j = (61 - e) // 8 in the second word; the first word's bit scaled by
    # 2**-64 gives 15 - j by the same formula (one point per cell, so the sum is one bit).
    _, exponent = np.frexp(point[:, 1].astype(np.float64) + point[:, 0].astype(np.float64) * 2.0**-64)
    fraction = np.where(pointed, (61 - exponent) // 8, 0)
    # Drop the point: the characters before it move one byte later (the last one of the first
    # word into the second word's byte 0 when the point is in the second word).
    point_byte = point >> _U(4)  # bit 8j
    before = (point_byte - _U(1)) & -(point_byte != 0).astype(np.uint64)
    before[:, 0] |= -in_second.astype(np.uint64)
    carry = (cells[:, 0] >> _U(56)) & -in_second.astype(np.uint64)
    digits = (cells & ~(before | point_byte * _U(0xFF))) | ((cells & before) << _U(8))
    digits[:, 1] |= carry
    values = _eight_digits(digits)
    mantissa = values[:, 0] * _U(100_000_000) + values[:, 1]
    if mantissa.max() > _U(_EXACT_MANTISSA):
        return None
    return np.asarray(mantissa.astype(np.float64) / _POW10[fraction], dtype=np.float64)


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """Eight ASCII digits (first character in the lowest byte; 0 bytes count as 0) to their value."""
    word = ((word & _U(0x0F0F0F0F0F0F0F0F)) * _U(2561)) >> _U(8)
    word = ((word & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    return ((word & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)

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
_ASCII_ZEROS = _U(0x3030303030303030)
# Digits have bit 4 of their byte set ('0' is 0x30), the point does not ('.' is 0x2E).
_BIT4 = _U(0x1010101010101010)
# _KEEP_HIGH[n] keeps the 8 - n most significant bytes of a word (its last 8 - n characters).
_KEEP_HIGH = np.array([((1 << 64) - 1) >> (8 * n) << (8 * n) for n in range(9)], dtype=np.uint64)
_POW10_INT = np.array([10**k for k in range(_MAX_CELL + 2)], dtype=np.int64)
_POW10_FLOAT = np.array([float(10**k) for k in range(_MAX_CELL + 1)], dtype=np.float64)  # all exact


def parse_plain_decimals(raw: bytes, start: int, width: int) -> np.ndarray | None:
    """The rows of ``raw[start:]`` as a ``(rows, width)`` float64 table, or ``None`` if not plain.

    ``raw[start:]`` must end with a newline and ``start`` must be at least 16 (a header precedes
    the body: the first cells are read with the bytes before them, which are then masked off).
    Each value is exactly ``float(cell)``.
    """
    if start < _MAX_CELL or not raw.endswith(b"\n") or len(raw) <= start:
        return None
    # Bytes outside the plain set anywhere in the body (the header's letters are allowed).
    if len(raw.translate(None, _PLAIN_OCTETS)) != len(raw[:start].translate(None, _PLAIN_OCTETS)):
        return None
    octets = np.frombuffer(raw, dtype=np.uint8)
    # Every byte offset read as the little-endian word of the eight bytes starting there.
    words = np.ndarray((len(raw) - 7,), dtype="<u8", buffer=raw, strides=(1,))
    blocks: list[np.ndarray] = []
    begin = start
    while begin < len(raw):
        end = raw.find(b"\n", min(begin + _BLOCK_BYTES, len(raw)) - 1) + 1  # a block ends a row
        values = _parse_block(octets, words, begin, end, width)
        if values is None:
            return None
        blocks.append(values)
        begin = end
    table = np.concatenate(blocks) if len(blocks) > 1 else blocks[0]
    return table.reshape(-1, width)


def _parse_block(
    octets: np.ndarray, words: np.ndarray, begin: int, end: int, width: int
) -> np.ndarray | None:
    """The cells of the whole rows in ``[begin, end)``, in reading order, or ``None``."""
    block = octets[begin:end]
    ends = np.flatnonzero((block == _COMMA) | (block == _NEWLINE))
    if ends.size % width:
        return None
    kinds = block[ends].reshape(-1, width)
    if not (np.all(kinds[:, -1] == _NEWLINE) and np.all(kinds[:, :-1] == _COMMA)):
        return None  # a ragged row or a blank line
    ends += begin
    lengths = np.diff(ends, prepend=begin - 1) - 1
    if lengths.min() < 1 or lengths.max() > _MAX_CELL:
        return None
    # Each cell right-aligned in two words (``high`` holds its first characters); the bytes before
    # the cell are replaced by ASCII zeros, which do not change its value.
    low = words[ends - 8]
    high = words[ends - 16]
    keep = _KEEP_HIGH[np.clip(8 - lengths, 0, 8)]
    low &= keep
    low |= _ASCII_ZEROS & ~keep
    keep = _KEEP_HIGH[np.clip(16 - lengths, 0, 8)]
    high &= keep
    high |= _ASCII_ZEROS & ~keep
    point_low = ~low & _BIT4  # bit 4 of the point's byte, if the point is in this word
    point_high = ~high & _BIT4
    if np.any(point_low & (point_low - _U(1))) or np.any(point_high & (point_high - _U(1))):
        return None  # two points in one word
    in_low = point_low != 0
    in_high = point_high != 0
    if np.any(in_low & in_high):
        return None  # two points in one cell
    pointed = in_low | in_high
    if np.any(pointed & (lengths < 2)):
        return None  # a lone point is not a number
    # Digits after the point: the point's byte index j (from the cell's left in that word) comes
    # from the exponent of its single bit, 2 ** (8j + 4); then 7 - j in the low word, 15 - j high.
    _, exp_low = np.frexp(point_low.astype(np.float64))
    _, exp_high = np.frexp(point_high.astype(np.float64))
    fraction = np.where(in_low, 7 - (exp_low - 5) // 8, np.where(in_high, 15 - (exp_high - 5) // 8, 0))
    # The point read as the digit 0 ('.' & 0x0F is 14), then the eight digits of each word.
    low -= (point_low >> _U(4)) * _U(14)
    high -= (point_high >> _U(4)) * _U(14)
    digits = (_eight_digits(high) * _U(100_000_000) + _eight_digits(low)).view(np.int64)
    # Drop the point's 0: m = (d // 10**(f+1)) * 10**f + d % 10**f; without a point, m = d.
    scale = _POW10_INT[fraction]
    mantissa = (digits // _POW10_INT[fraction + pointed]) * scale + digits % scale
    if mantissa.max() > _EXACT_MANTISSA:
        return None
    return np.asarray(mantissa.astype(np.float64) / _POW10_FLOAT[fraction], dtype=np.float64)


def _eight_digits(word: np.ndarray) -> np.ndarray:
    """Eight ASCII digits (first character in the lowest byte) to their value, for each word."""
    word = ((word & _U(0x0F0F0F0F0F0F0F0F)) * _U(2561)) >> _U(8)
    word = ((word & _U(0x00FF00FF00FF00FF)) * _U(6553601)) >> _U(16)
    return ((word & _U(0x0000FFFF0000FFFF)) * _U(42949672960001)) >> _U(32)

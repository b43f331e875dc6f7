"""HKL text files ('h k l F' lines) into nanoBragg's dense structure-factor table.

Three readers give the same (hkl, F) columns: a byte-level array path for plain ASCII tables
(``_hkl_bytes``), a column path (numpy's int()/float() per token), and the line reader
(``_hkl_rows``), which runs when the others decline and names the first bad line.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np

from simulator.io import InputError, _open_text
from simulator.options import c_strtod

#: nanoBragg holds Miller indices in C ints
INDEX_LIMIT = 2**31 - 1
#: the largest structure-factor table either engine allocates (cells; 2 GB of doubles), the C
#: reference's NB_MAX_HKL_CELLS: nanoBragg itself tries, and hangs or runs out of memory
MAX_HKL_CELLS = 250_000_000
#: nanoBragg's first guesses of the index range (h_min = 1e9, h_max = -1e9, C ints): a file
#: whose indices all lie beyond them keeps them as one end of its range
_RANGE_START = 10**9
_PLAIN_INT = re.compile(r"[-+]?[0-9]+")


def read_hkl(path, fill=math.nan):
    """Read 'h k l F' lines. Returns (table, mins, maxs, count, duplicates): table is
    (hr, kr, lr) float64, unlisted entries = ``fill`` (the caller's default_F; NaN by
    default), listed ones the value read last, NaN included, as in nanoBragg.
    ``duplicates`` is (number of lines repeating an earlier reflection, the first such
    reflection) or None."""
    text = _open_text(path)
    fast = _hkl_columns(text)
    if fast is not None:
        arr, F = fast
    else:
        arr, F = _hkl_rows(text, path)
    if not len(F):
        raise InputError(f"{path}:1: no HKL entries")
    mins = np.minimum(arr.min(axis=0), _RANGE_START)
    maxs = np.maximum(arr.max(axis=0), -_RANGE_START)
    shape = tuple(int(x) for x in (maxs - mins + 1))
    cells = shape[0] * shape[1] * shape[2]
    if cells > MAX_HKL_CELLS:
        raise InputError(
            f"{path}: HKL index range too large ({cells} cells, at most {MAX_HKL_CELLS})"
        )
    idx = arr - mins
    flat = (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2]
    # the value read last wins, as nanoBragg's second pass overwrites: keep each cell's last row
    _, last_rev = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - last_rev
    table = np.full(cells, fill, dtype=np.float64)
    table[flat[last]] = F[last]
    return (
        table.reshape(shape),
        tuple(int(x) for x in mins),
        tuple(int(x) for x in maxs),
        len(F),
        _duplicates(arr, flat),
    )


def _duplicates(arr, flat):
    """(lines repeating an earlier reflection, the first of them as (h, k, l)) or None."""
    _, first = np.unique(flat, return_index=True)
    if len(first) == len(flat):
        return None
    repeated = np.ones(len(flat), dtype=bool)
    repeated[first] = False
    i = int(np.argmax(repeated))
    return len(flat) - len(first), tuple(int(x) for x in arr[i])


def _hkl_columns(text):
    """(hkl (n, 3) int64, F (n,)) of a well-formed HKL text, converted column-wise; None when any
    line is not 'h k l F' with integer indices (then ``_hkl_rows`` finds the line to name).

    Same conversions as the line reader (numpy converts each token with int() / float()), at
    a tenth of its time: the trace of one pixel reads the whole table first. Python's int() and
    float() also take '1_0' and non-ASCII digits, which nanoBragg's scanf does not: such a
    text, or an index beyond a C int, goes to the line reader.
    """
    if not text.isascii() or "_" in text:
        return None
    fast = _hkl_bytes(text)
    if fast is not None:
        return fast
    if any(len(line.split()) not in (0, 4) for line in text.splitlines()):
        return None
    toks = text.split()
    try:
        hkl = np.array([toks[0::4], toks[1::4], toks[2::4]], dtype=np.int64).T
        F = np.array(toks[3::4], dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    if hkl.size and int(np.abs(hkl).max()) > INDEX_LIMIT:
        return None
    return hkl.reshape(-1, 3), F


_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 32]] = True  # tab, newline, space
_INDEX_CHARS = np.zeros(256, dtype=bool)
_INDEX_CHARS[list(b"0123456789+-")] = True
_F_CHARS = _INDEX_CHARS.copy()
_F_CHARS[list(b".eE")] = True
_POW10 = np.array([10.0**i for i in range(23)])  # exact doubles


#: text bytes per block of the byte-level reader: its arrays take ~60 bytes per byte of text,
#: so blocks keep them near 16 MiB whatever the table's size. Read at once, the benchmarks'
#: 4.6 MB P1.hkl peaked 284 MiB above the process (a 100 MB table would need ~6 GB); in
#: 256 KiB blocks, 41 MiB for the whole read, in the same time (0.21 s).
HKL_BLOCK_BYTES = 1 << 18


def _hkl_bytes(text):
    """The column path's result for a plain ASCII table (lines of 'h k l F' separated by
    spaces, tabs and newlines), checked and converted with array operations on its bytes; None
    for anything else (the column path then decides). A 270 000-line table: ~0.1 s instead of
    ~0.45 s.

    The text is converted in blocks of whole lines (``HKL_BLOCK_BYTES``); a block the byte
    path declines hands the whole text back."""
    if any(c in text for c in "\r\x0b\x0c\x1c\x1d\x1e\x1f"):
        return None  # other line breaks and blanks: splitlines() / split() decide
    raw = text.encode("ascii")
    hkl_parts, F_parts = [], []
    begin = 0
    while begin < len(raw):
        cut = raw.find(b"\n", begin + HKL_BLOCK_BYTES)  # blocks end after a newline
        end = len(raw) if cut < 0 else cut + 1
        block = _hkl_block(raw[begin:end])
        if block is None:
            return None
        hkl_parts.append(block[0])
        F_parts.append(block[1])
        begin = end
    if not sum(len(F) for F in F_parts):
        return None  # no entries: the column path (and read_hkl's message) decide
    if len(F_parts) == 1:
        return hkl_parts[0], F_parts[0]
    return np.concatenate(hkl_parts), np.concatenate(F_parts)


def _hkl_block(raw):
    """(hkl, F) of a block of whole lines (bytes), empty arrays for a block without tokens,
    None when the byte path cannot read it.

    Index tokens must be [+-]digits (what int() and nanoBragg's %d read alike). An F token of
    at most 15 digits with an optional point and no exponent is M / 10^k with M and 10^k exact
    doubles: one division, correctly rounded, the value float() gives. Other F tokens are read
    by numpy's strtod (correctly rounded too); a token it cannot read to its end hands the
    text back."""
    b = np.frombuffer(raw, dtype=np.uint8)
    blank = _BLANK[b]
    start = ~blank
    start[1:] &= blank[:-1]  # first character of each token
    count = np.cumsum(start)
    ntok = int(count[-1]) if len(count) else 0
    if ntok == 0:
        return np.zeros((0, 3), dtype=np.int64), np.zeros(0, dtype=np.float64)
    newlines = np.flatnonzero(b == 10)
    per_line = np.diff(np.concatenate(([0], count[newlines], [ntok])))
    if not bool(np.isin(per_line, (0, 4)).all()):
        return None
    chars = np.flatnonzero(~blank)
    tok = count[chars] - 1  # token of each character
    c = b[chars]
    index = tok % 4 < 3  # every line holds 0 or 4 tokens
    if not bool(_INDEX_CHARS[c[index]].all()) or not bool(_F_CHARS[c[~index]].all()):
        return None
    first = start[chars]
    sign = (c == ord("+")) | (c == ord("-"))
    exponent = (c == ord("e")) | (c == ord("E"))
    if bool((sign & index & ~first).any()):
        return None  # a sign inside an index
    seg = np.flatnonzero(first)  # each token's first character, in ``chars``
    digit = (c >= ord("0")) & (c <= ord("9"))
    ndigits = np.add.reduceat(digit.astype(np.int64), seg)
    if int(ndigits.min()) == 0:
        return None  # '+', '-' or '.' alone
    if not bool(exponent.any()) and not bool((sign & ~first).any()) and ndigits.max() <= 15:
        point = c == ord(".")
        if int(np.add.reduceat(point.astype(np.int64), seg).max()) > 1:
            return None
        before = np.cumsum(digit)  # digits up to and including each character
        total = before[np.append(seg[1:], len(c)) - 1]  # digits up to each token's end
        weight = _POW10[total[tok] - before]  # 10^(digits to the right)
        M = np.add.reduceat(np.where(digit, (c - ord("0")) * weight, 0.0), seg)
        k = np.zeros(ntok, dtype=np.int64)
        at = np.flatnonzero(point)
        k[tok[at]] = total[tok[at]] - before[at]  # digits after the point
        values = M / _POW10[k]
        negative = c[seg] == ord("-")
        values[negative] = -values[negative]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(raw, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                return None
        if values.size != ntok:
            return None
    values = values.reshape(-1, 4)
    hkl = values[:, :3]
    if float(np.abs(hkl).max()) > INDEX_LIMIT:
        return None
    return hkl.astype(np.int64), np.ascontiguousarray(values[:, 3])


def _hkl_rows(text, path):
    """The line-by-line HKL reader: (hkl, F) or InputError naming the first bad line.

    Indices are plain integers (nanoBragg's %d would stop reading at '1.0' or '1e2'), within
    a C int; F is any number C's strtod reads."""
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != 4:
            raise InputError(f"{path}:{n}: expected 'h k l F', got {len(toks)} fields")
        F = c_strtod(toks[3])
        if F is None or not all(_PLAIN_INT.fullmatch(x) for x in toks[:3]):
            raise InputError(f"{path}:{n}: malformed line (h k l must be integers, F a number)")
        h, k, l = (int(x) for x in toks[:3])
        if max(abs(h), abs(k), abs(l)) > INDEX_LIMIT:
            raise InputError(f"{path}:{n}: Miller index out of range (beyond a C int)")
        rows.append((h, k, l, F))
    arr = np.array([r[:3] for r in rows], dtype=np.int64).reshape(-1, 3)
    F = np.array([r[3] for r in rows], dtype=np.float64)
    return arr, F

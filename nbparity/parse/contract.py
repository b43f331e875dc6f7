"""The contract grammar's fast path: a contract log's plain step lines read with array
operations, every other line left to the line reader (``nbparity.parse.legacy``), which is the
reference: the fast path gives the same records and errors, or hands the whole log to it."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nbparity.parse import legacy
from nbparity.parse.builder import _RecordBuilder
from nbparity.parse.columns import _Coded, _concat, _ranges, _StepRecords
from nbparity.parse.log import TraceLog
from nbparity.parse.precision import FULL_DIGITS
from nbparity.parse.records import (
    _ARITY_OF,
    _KEY_RE,
    _KIND_OF,
    INDEX_TOKENS,
    NO_INDEX,
    RECORD_ID,
    DuplicateRecordError,
    TraceFormatError,
)

if TYPE_CHECKING:
    from nbparity.keymap import KeyMap


# --------------------------------------------------------------------------- contract fast path
#
# A contract log is nearly all plain step lines, "TRACE_<E>_PHI: phi_tic=i mos_tic=j key v ...".
# The fast path reads the log in blocks of whole lines and finds them with array operations on
# each block's bytes (line heads compared as 8-byte words, no Python object per line); their
# value tokens are cut out of the block by pyarrow (one ``take`` over a zero-copy view whose
# elements alternate between the text around the tokens and the tokens) and read by pyarrow's
# correctly rounded string-to-double cast. Every other line (pixel lines, steps with extra
# indices, anything unusual) goes to the line-by-line reader, which also names bad lines. What a
# block leaves behind is compact (codes for names, one int or float per column and token), and
# ``TraceLog.records`` is built from it only when asked for (``_StepRecords``).

#: bytes per block (whole lines: a block ends at its last newline)
_BLOCK_BYTES = 8 << 20

# line breaks besides "\n" that str.splitlines() breaks at, in ASCII
_ASCII_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _word(token: bytes) -> np.uint64:
    """Up to 8 bytes as one little-endian integer, as _Bytes.word reads them."""
    return np.uint64(int.from_bytes(token, "little"))


_BYTE_MASKS = np.array([(1 << 8 * n) - 1 for n in range(9)], dtype=np.uint64)  # n low bytes
_TRACE, _PHI_COLON = _word(b"TRACE_"), _word(b"_PHI:")
_PHI_TIC, _MOS_TIC = _word(b"phi_tic="), _word(b"mos_tic=")
_ENGINE_RE = re.compile(r"[A-Z][A-Z0-9]*")
_MAX_ENGINE, _MAX_KEY = 8, 16  # longer names (no catalogue step key is) go line by line


class _Bytes:
    """The first ``size`` bytes of ``data`` as arrays: ``bytes[i]``, and ``word(i)`` the 8 bytes
    from offset i as one little-endian integer (zeros past the end), so a short token is
    compared in one operation."""

    def __init__(self, data: bytes, size: int | None = None):
        self.size = size = len(data) if size is None else size
        self.bytes = np.frombuffer(data, np.uint8, count=size)
        # words[i] for i <= size - 8 read the log in place; the last ones read a padded copy
        self.words = np.ndarray((max(size - 7, 0),), "<u8", data, strides=(1,))
        tail = bytes(data[max(size - 8, 0):size]) + bytes(8)
        self.tail_at = max(size - 8, 0)
        self.tail_words = np.ndarray((len(tail) - 7,), "<u8", tail, strides=(1,))

    def word(self, at: np.ndarray) -> np.ndarray:
        at = np.clip(at, 0, self.size)
        near_end = at > self.size - 8
        out = self.words[np.minimum(at, self.size - 8)] if self.words.size else \
            np.zeros(at.size, np.uint64)
        if near_end.any():
            out[near_end] = self.tail_words[at[near_end] - self.tail_at]
        return out

    def token(self, at: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The first ``length`` (0..8) bytes from ``at``, as words."""
        return self.word(at) & _BYTE_MASKS[np.clip(length, 0, 8)]

    def decimal(self, at: np.ndarray, length: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The unsigned decimal integers of ``length`` digits from ``at``, and which are valid."""
        valid = (length >= 1) & (length <= 18)  # 18 digits fit int64
        length = np.where(valid, length, 0)
        value = np.zeros(len(at), np.int64)
        for k in range(int(length.max(initial=0))):
            live = k < length
            digit = self.bytes[np.where(live, at + k, 0)].astype(np.int64) - 48
            valid &= ~live | ((digit >= 0) & (digit <= 9))
            value = np.where(live, value * 10 + digit, value)
        return value, valid


@dataclass
class _StepLines:
    """The plain step lines of a block, one entry per line in line order (codes index names)."""

    line: np.ndarray  # 0-based line index in the block
    engine: np.ndarray
    phi: np.ndarray
    mos: np.ndarray
    key: np.ndarray
    counts: np.ndarray  # how many values the line holds
    first_value: np.ndarray  # index in ``spaces`` of the space before the line's first value
    engine_names: list[str]
    key_names: list[str]  # every key of a step-shaped line, also those _KEY_RE refuses
    spaces: np.ndarray  # offsets of the block's spaces


def _line_bounds(buf: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and end (its "\\n" or the end of the log) of every line."""
    ends = np.flatnonzero(buf == 10)
    if buf.size and buf[-1] != 10:
        ends = np.append(ends, buf.size)
    return np.concatenate(([0], ends[:-1] + 1))[:ends.size], ends


def _find_step_lines(raw: _Bytes, starts: np.ndarray, ends: np.ndarray) -> _StepLines:
    """Lines "TRACE_<E>_PHI: phi_tic=<i> mos_tic=<j> <key> <values>", values without leading
    or trailing space, as the line reader would read them; engine names up to 8 characters and
    keys up to 16 (longer ones are left to the line reader)."""
    spaces = np.flatnonzero(raw.bytes == 32)
    first = np.searchsorted(spaces, starts)  # of each line's spaces; a line ends where the next
    n_spaces = np.diff(first, append=spaces.size)  # starts, or at the end of the log
    line = np.flatnonzero(n_spaces >= 4)
    s0, s1, s2, s3 = (spaces[first[line] + k] for k in range(4))  # after each head token
    start, end = starts[line], ends[line]
    engine_len, key_len = s0 - start - 11, s3 - s2 - 1  # "TRACE_" + E + "_PHI:"
    phi, phi_ok = raw.decimal(s0 + 9, s1 - s0 - 9)
    mos, mos_ok = raw.decimal(s1 + 9, s2 - s1 - 9)
    ok = ((raw.token(start, 6) == _TRACE) & (raw.token(s0 - 5, 5) == _PHI_COLON)
          & (engine_len >= 1) & (engine_len <= _MAX_ENGINE)
          & (raw.word(s0 + 1) == _PHI_TIC) & phi_ok & (raw.word(s1 + 1) == _MOS_TIC) & mos_ok
          & (key_len >= 1) & (key_len <= _MAX_KEY)
          & (s3 + 1 < end) & (raw.token(s3 + 1, 1) != 32) & (raw.bytes[end - 1] != 32))
    engine, engine_names, engine_ok = _names(raw.token(start + 6, engine_len)[ok], None,
                                             _ENGINE_RE)
    key, key_names, key_ok = _names(raw.token(s2 + 1, key_len)[ok],
                                    raw.token(s2 + 9, key_len - 8)[ok], _KEY_RE)
    named = engine_ok[engine] & key_ok[key]
    at = np.flatnonzero(ok)[named]
    counts = n_spaces[line[at]] - 3
    return _StepLines(line[at], engine[named], phi[at], mos[at], key[named], counts,
                      first[line[at]] + 3, engine_names, key_names, spaces)


def _names(low: np.ndarray, high: np.ndarray | None, pattern: re.Pattern
           ) -> tuple[np.ndarray, list[str], np.ndarray]:
    """Codes of tokens given as one or two words, their names, and which names fit ``pattern``
    (tokens hold no NUL byte, so a word's zero bytes are past the token's end)."""
    if high is None:
        codes, words = pd.factorize(low)
        pairs = [(int(w), 0) for w in words]
    else:
        low_codes, low_words = pd.factorize(low)
        high_codes, high_words = pd.factorize(high)
        codes, combined = pd.factorize(low_codes * len(high_words) + high_codes)
        pairs = [(int(low_words[c // len(high_words)]), int(high_words[c % len(high_words)]))
                 for c in combined]
    names = [(lo.to_bytes(8, "little") + hi.to_bytes(8, "little")).rstrip(b"\0").decode("latin-1")
             for lo, hi in pairs]
    fits = np.array([pattern.fullmatch(name) is not None for name in names], dtype=bool)
    return codes, names, fits


_PRINTABLE = bytes(range(32, 127)) + b"\n"
_NUMBER_CHARS = b"0123456789.eE+-"


class _StepScan:
    """What the blocks of a contract log hold: its step lines column-wise (names as codes over
    the whole log), the tokens of their values and the numbers they read as; every other line
    as (line number, text) for the line reader. Checks that name a line (a count of values
    that does not fit the key, a non-integer for an integer key) are kept for the end, where
    they are raised in the line reader's order."""

    def __init__(self):
        self.engine_codes: dict[str, int] = {}
        self.key_codes: dict[str, int] = {}
        self.columns: dict[str, list[np.ndarray]] = {
            name: [] for name in ("line", "engine", "key", "phi", "mos", "counts", "values")}
        self.tokens: list[pa.Array] = []
        self.others: list[tuple[int, str]] = []
        self.lines = 0
        self.values_ok = True  # every value a number this path reads as float() would
        self.first_bad_count: tuple | None = None  # (line, key, arity, count)
        self.first_bad_int: tuple | None = None  # (line, key, text)
        self._arity = np.zeros(0, np.int64)
        self._int_key = np.zeros(0, bool)

    def add(self, data: bytes, size: int) -> None:
        """The whole lines data[:size] (the log's last line may lack its newline)."""
        raw = _Bytes(data, size)
        starts, ends = _line_bounds(raw.bytes)
        steps = _find_step_lines(raw, starts, ends)
        base, self.lines = self.lines, self.lines + starts.size
        is_step = np.zeros(starts.size, dtype=bool)
        is_step[steps.line] = True
        other = np.flatnonzero(~is_step)
        self.others += zip((other + base + 1).tolist(),
                           (data[s:e].decode("utf-8", "surrogatepass")
                            for s, e in zip(starts[other].tolist(), ends[other].tolist())))
        engine_map = self._codes(self.engine_codes, steps.engine_names)
        key_map = self._codes(self.key_codes, steps.key_names)
        if steps.line.size == 0:
            return
        line = steps.line + (base + 1)
        key = key_map[steps.key]
        columns = self.columns
        columns["line"].append(line)
        columns["engine"].append(engine_map[steps.engine])
        columns["key"].append(key)
        columns["phi"].append(steps.phi)
        columns["mos"].append(steps.mos)
        columns["counts"].append(steps.counts)
        if not self.values_ok:
            return  # the line reader reads this log; only its other lines still matter
        tokens = _value_tokens(data, size, steps, ends)
        values = None if tokens is None else _read_numbers(tokens)
        if values is None:
            self.values_ok = False
            columns["values"].clear()
            self.tokens.clear()
            return
        columns["values"].append(values)
        self.tokens.append(tokens)
        if self.first_bad_count is None:
            bad = np.flatnonzero(self._arity[key] != steps.counts)
            if bad.size:
                i = bad[0]
                self.first_bad_count = (int(line[i]), self._key_name(key[i]),
                                        int(self._arity[key[i]]), int(steps.counts[i]))
        if self.first_bad_int is None:
            self._check_ints(tokens, steps.counts, key, line)

    def _codes(self, table: dict[str, int], names: list[str]) -> np.ndarray:
        for name in names:
            if name not in table:
                table[name] = len(table)
        if table is self.key_codes and len(self._arity) != len(table):
            self._arity = np.array([_ARITY_OF.get(k, 0) for k in table], np.int64)
            self._int_key = np.array([_KIND_OF.get(k) == "int" for k in table], dtype=bool)
        return np.array([table[name] for name in names], np.int64)

    def _key_name(self, code: int) -> str:
        return list(self.key_codes)[code]

    def _check_ints(self, tokens: pa.Array, counts: np.ndarray, key: np.ndarray,
                    line: np.ndarray) -> None:
        """Integer keys hold integers. Every token already reads as a number, so a token of
        digits and signs only is [+-]?\\d+; the regular expression runs only to name a line."""
        rows = np.flatnonzero(self._int_key[key])
        if rows.size == 0:
            return
        offsets = np.cumsum(counts) - counts
        picked = tokens.take(_ranges(offsets[rows], counts[rows]))
        if not _token_bytes(picked).translate(None, b"0123456789+-"):
            return
        for i in rows.tolist():
            text = " ".join(tokens[int(offsets[i]):int(offsets[i] + counts[i])].to_pylist())
            if not _INTS_RE.match(text):
                self.first_bad_int = (int(line[i]), self._key_name(key[i]), text)
                return


def _value_tokens(data: bytes, size: int, steps: _StepLines, ends: np.ndarray
                  ) -> pa.Array | None:
    """The step lines' value tokens (the text between single spaces), one string each, in
    line order; None if one is empty (two spaces in a row) or the block is too large for
    32-bit offsets."""
    counts, spaces = steps.counts, steps.spaces
    if size >= 2**31 - 1:
        return None
    before = _ranges(steps.first_value, counts)  # the space before each token
    start = spaces[before] + 1
    stop = spaces[np.minimum(before + 1, spaces.size - 1)]
    stop[np.cumsum(counts) - 1] = ends[steps.line]  # a line's last token ends with the line
    if (stop <= start).any():
        return None
    # a zero-copy view of the block whose elements alternate: text before a token, the token
    bounds = np.empty(2 * start.size + 1, np.int32)
    bounds[0], bounds[1::2], bounds[2::2] = 0, start, stop
    view = pa.StringArray.from_buffers(2 * start.size, pa.py_buffer(bounds),
                                       pa.py_buffer(data))
    return view.take(pa.array(np.arange(1, 2 * start.size, 2)))


def _token_bytes(tokens: pa.Array) -> bytes:
    """The characters of a string array's elements, one after the other."""
    offsets = np.frombuffer(tokens.buffers()[1], np.int32, count=len(tokens) + 1,
                            offset=tokens.offset * 4)
    return memoryview(tokens.buffers()[2])[int(offsets[0]):int(offsets[-1])].tobytes()


def _read_numbers(tokens: pa.Array) -> np.ndarray | None:
    """Each token's number, exactly as float() reads it; None if a token is not one (the line
    reader then names the line) or holds what the line reader splits differently."""
    text = _token_bytes(tokens)
    if text.translate(None, _PRINTABLE) or b"_" in text:
        return None  # other whitespace or non-ASCII; numpy reads 1_0 as 10
    if text.translate(None, _NUMBER_CHARS):  # nan, inf: one float() per token
        try:
            return np.array(tokens.to_pylist(), dtype=np.float64)
        except ValueError:
            return None
    try:  # pyarrow's cast is correctly rounded, and refuses what float() refuses
        return pc.cast(tokens, pa.float64()).to_numpy(zero_copy_only=False)
    except pa.ArrowInvalid:
        return None


_INTS_RE = re.compile(r"^[+-]?\d+(?: [+-]?\d+)*$")


def _parse_contract_fast(blocks, source: str, keymap: KeyMap | None = None
                         ) -> TraceLog | None:
    """Vectorised reading of a contract log given as blocks ``(data, size)`` of whole lines
    (UTF-8, "\\n" line breaks); None when the log needs the line-by-line reader."""
    scan = _StepScan()
    for data, size in blocks:
        scan.add(data, size)
    return _finish_contract(scan, source, keymap)


def _finish_contract(scan: _StepScan, source: str, keymap: KeyMap | None) -> TraceLog | None:
    """The log's records from its scan, checked in the line reader's order: the other lines'
    errors, then counts of values, then integers, then duplicates."""
    key_names = list(scan.key_codes)
    if keymap and (keymap.names | keymap.targets) & set(key_names):
        return None  # a key map renames step keys: the line reader applies it
    builder = _RecordBuilder(source, on_duplicate="error", keymap=keymap)
    builder.reserved_names = frozenset(key_names)
    ignored = legacy.read_lines(builder, scan.others, contract=True)
    scan.others = []
    slow_records = builder.records(exact=True)
    read = (ignored, builder.skipped_list(), builder.notes_list())
    columns = scan.columns
    if not columns["line"]:
        return TraceLog(source, slow_records, "contract", {}, *read)
    key = _concat(columns.pop("key"))
    used = np.flatnonzero(np.bincount(key, minlength=len(key_names)))
    used_kinds = {_KIND_OF.get(key_names[i]) for i in used.tolist()}
    if None in used_kinds or "word" in used_kinds or not scan.values_ok:
        return None  # engine-specific or word-valued step keys, or a value float() refuses
    if scan.first_bad_count is not None:
        line, name, arity, count = scan.first_bad_count
        raise TraceFormatError(f"{source}:{line}: key {name} takes {arity} value(s), found "
                               f"{count}")
    if scan.first_bad_int is not None:
        line, name, text = scan.first_bad_int
        raise TraceFormatError(f"{source}:{line}: key {name} expects integers, found {text!r}")
    line = _concat(columns.pop("line"))
    # Each step line belongs to the last trace_pixel line above it.
    pixel_rows = slow_records[slow_records.key == "trace_pixel"]
    firsts = np.searchsorted(line, pixel_rows.line.to_numpy())  # each pixel's first step
    if firsts.size == 0 or firsts[0] > 0:
        return None  # step lines before any trace_pixel: the line reader places them
    counts = _concat(columns.pop("counts"), np.int8)
    steps = _StepRecords(
        slow_records, line, _concat(columns.pop("engine"), np.int16), list(scan.engine_codes),
        key.astype(np.int16 if len(key_names) < 2**15 else np.int64), key_names,
        _concat(columns.pop("phi"), np.int32), _concat(columns.pop("mos"), np.int32),
        counts, _concat(columns.pop("values")), pa.chunked_array(scan.tokens, pa.string()),
        pixel_rows.slow.to_numpy(), pixel_rows.fast.to_numpy(), firsts)
    scan.tokens = []
    if steps.has_duplicates() or (slow_records.phi_tic != NO_INDEX).any():
        return _merge_checked(source, slow_records, steps.step_columns(), steps.width, read)
    return TraceLog(source, steps, "contract", {}, *read)


def _merge_checked(source: str, slow_records: pd.DataFrame, columns: dict, width: int,
                   read: tuple) -> TraceLog:
    """The general assembly (pandas concat, sort, duplicate check with its error message)."""
    for j in range(slow_records.attrs.get("width", 1), width):
        slow_records[f"v{j}"] = np.nan
    columns = {name: column.strings() if isinstance(column, _Coded) else column
               for name, column in columns.items()}
    records = pd.concat([slow_records, pd.DataFrame(columns)], ignore_index=True)
    records = records.sort_values("line", kind="stable").reset_index(drop=True)
    dup = records.duplicated(list(RECORD_ID))
    if dup.any():
        r = records[dup].iloc[0]
        where = " ".join(f"{name}={r[name]}" for name in INDEX_TOKENS if r[name] != NO_INDEX)
        raise DuplicateRecordError(f"{source}:{r.line}: duplicate record {r.key} for pixel "
                                   f"{r.slow} {r.fast}" + (f" {where}" if where else ""))
    records.attrs["width"] = width
    return TraceLog(source, records, "contract", {}, *read)


def _memory_blocks(data: bytes):
    """``data`` as blocks of whole lines for the fast path: (block, its size)."""
    start = 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + _BLOCK_BYTES) + 1
        if end <= start:  # a line longer than a block
            end = data.find(b"\n", start + _BLOCK_BYTES) + 1 or len(data)
        block = data[start:end]
        yield block, len(block)
        start = end


_TRACE_PIXEL_RE = re.compile(rb"^TRACE_[A-Z][A-Z0-9]*: trace_pixel ", re.M)
#: a number printed with at least FULL_DIGITS (15) significant digits (leading zeros aside)
_FULL_DIGITS_RE = re.compile(rb"[1-9](?:\.?[0-9]){%d}" % (FULL_DIGITS - 1))

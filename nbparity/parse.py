"""Trace readers: every trace grammar the toolkit accepts, into one tidy pandas frame.

One parser per format:

- the contract grammar (version 1): ``TRACE_<E>: key v...`` and
  ``TRACE_<E>_PHI: phi_tic=i mos_tic=j [idx=n ...] key v...`` (here: the vectorised fast path
  for its step lines; ``nbparity.legacy``: the line reader for every other line);
- legacy and ad-hoc instrumented logs (``nbparity.legacy``: the tolerant line reader; lines it
  cannot read are skipped and reported, never fatal);
- the stock nanoBragg ``-printout_pixel`` block (``parse_printout_text``, here).

Names are translated by key maps (``nbparity.keymap``), applied by the line reader only.

The frame has one row per value component::

    engine slow fast stage phi_tic mos_tic sub src thick key component value text kind
    resolution line

``value`` is float (NaN for words), ``text`` the printed token. Index columns hold -1 where
the record has no such index. ``resolution`` is half a unit in the last printed digit (0 when the
value was printed round-trip exact with ``%.17g``), with the digits inferred per log from how it
prints (``TraceLog.precision``), so the comparison can tell precision-limited records from real
failures. Errors raise ``TraceFormatError`` naming ``file:line``.

Speed: a contract log is nearly all plain step lines. ``_parse_contract_fast`` finds them with
array operations on the log's bytes (line heads compared as 8-byte words, no Python object per
line), takes their value texts from one ``str.split`` and reads their numbers with pandas' C
reader (correctly rounded, like ``float()``); every other line goes to the line-by-line reader,
which is the reference: the fast path gives the same records and errors, or hands the whole
log to it. ``TraceLog.frame`` (one row per component) is built only when asked for.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from operator import itemgetter
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity import schema

if TYPE_CHECKING:
    from nbparity.keymap import KeyMap

COLUMNS = (
    "engine", "slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick",
    "key", "component", "value", "text", "kind", "resolution", "line",
)
INDEX_TOKENS = ("phi_tic", "mos_tic", "sub", "src", "thick")
NO_INDEX = -1

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_REAL_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SPECIAL = {"nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf,
            "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}


class TraceFormatError(ValueError):
    """Unreadable or malformed input; the message starts with ``file:line``."""


class DuplicateRecordError(TraceFormatError):
    """The same (pixel, indices, key) twice in one contract log: a structural error."""


@dataclass
class TraceLog:
    """A parsed log: its records plus what the reader noticed on the way.

    ``records`` has one row per record (components in columns v0, v1, ...; ``mask`` says which
    are present); ``frame`` is the tidy one-row-per-component view of the same data.
    ``skipped``: TRACE lines the reader could not read, one dict per shape (``shape``,
    ``count``, ``example``, ``line`` = the first); ``notes``: repeated keys and alias clashes
    (``kind``, ``key``, ``lines``, ``text``); ``ambiguous``: rows of ``records`` printed more
    than once with different values (the first is kept; the comparison never passes them
    silently).
    """

    source: str
    records: pd.DataFrame
    grammar: str  # "contract", "legacy" or "printout"
    repeated: dict[str, int] = field(default_factory=dict)  # legacy repetitions, per key
    ignored_lines: int = 0
    skipped: list[dict] = field(default_factory=list)
    notes: list[dict] = field(default_factory=list)
    ambiguous: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    inferred_precision: tuple[str, int] | None = None  # legacy/printout: (label, digits)

    @cached_property
    def frame(self) -> pd.DataFrame:
        return _explode(self.records)

    def meta(self, key: str) -> str | None:
        """The first value of a meta key (e.g. ``dtype``), as printed; None if absent."""
        rows = self.records[self.records.key == key]
        return None if rows.empty else str(rows.text.iloc[0])

    @cached_property
    def _precision(self) -> tuple[str, int]:
        if self.inferred_precision is not None:
            return self.inferred_precision
        # a contract log prints %.17g: exact for its dtype
        return ("float32", 7) if self.meta("dtype") == "float32" else ("float64", 17)

    @property
    def precision(self) -> str:
        """How the log prints its reals: "float64" (round-trip or >= 15 significant digits),
        "float32" (float32 values), "%.Ng" (N significant digits), "%.Nf" (N decimals), "%g"
        (a stock printout) or "none" (a legacy log without real values)."""
        return self._precision[0]

    @property
    def precision_digits(self) -> int:
        """The significant digits the log's reals carry (inferred for legacy logs)."""
        return self._precision[1]

    @property
    def skipped_lines(self) -> int:
        return sum(item["count"] for item in self.skipped)

    @property
    def engines(self) -> list[str]:
        return sorted(self.records["engine"].unique())

    @property
    def pixels(self) -> list[tuple[int, int]]:
        slow, fast = self.records.slow.to_numpy(), self.records.fast.to_numpy()
        # records come a pixel at a time: only where the pixel changes can a new one start
        firsts = np.flatnonzero(np.concatenate((slow[:1] == slow[:1], (slow[1:] != slow[:-1])
                                                | (fast[1:] != fast[:-1]))))
        return list(dict.fromkeys(zip(slow[firsts].tolist(), fast[firsts].tolist())))


# --------------------------------------------------------------------------- tokens

def _significant_digits(token: str) -> int:
    """Significant digits a decimal token shows (trailing zeros count: they were printed)."""
    mantissa = token.lstrip("+-").split("e")[0].split("E")[0].replace(".", "")
    stripped = mantissa.lstrip("0")
    return len(stripped) if stripped else 1


def _prints_as_17g(token: str, value: float) -> bool:
    """Whether ``token`` shows every significant digit %.17g prints for its value (``2.5``,
    ``0.25``: exact), rather than a rounding of it (``0.065559``, whose double %.17g prints
    as 0.065559000000000003)."""
    if not math.isfinite(value):
        return True
    return _significant_digits(format(value, ".17g")) <= _significant_digits(token)


def _resolution(token: str, value: float, exact: bool, digits: int | None = None) -> float:
    """Half a unit in the last printed digit of ``token`` (absolute).

    ``digits``: significant digits the printing format guaranteed (``%15.10g`` → 10), where
    known; ``%g`` strips trailing zeros, so the token alone would overstate the resolution.
    """
    if exact or not math.isfinite(value):
        return 0.0
    if digits is not None and value != 0.0:
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    body = token.lstrip("+-")
    exp = 0
    if "e" in body or "E" in body:
        body, exp_text = re.split("[eE]", body)
        exp = int(exp_text)
    decimals = len(body.split(".")[1]) if "." in body else 0
    return 0.5 * 10.0 ** (exp - decimals)


def _number(token: str, where: str) -> float:
    low = token.lower()
    if low in _SPECIAL:
        return _SPECIAL[low]
    if _INT_RE.match(token) or _REAL_RE.match(token):
        return float(token)
    raise TraceFormatError(f"{where}: {token!r} is not a number")


# --------------------------------------------------------------------------- builder

RECORD_ID = ("slow", "fast", "stage", *INDEX_TOKENS, "key")


class _RecordBuilder:
    """Collects records column-wise; numbers are converted once, vectorised, at the end.

    A record is a key at a pixel and loop indices; its tokens are kept per component (None
    where a legacy log gave only some components of a vector). Also collects what the line
    reader skipped (``skip``) and noticed (``note``); ``keymap`` is the user key map the line
    reader applies, ``reserved_names`` the keys the fast path read (for alias clashes).
    """

    def __init__(self, source: str, on_duplicate: str, keymap: KeyMap | None = None):
        self.source = source
        self.on_duplicate = on_duplicate  # "error" | "first"
        self.keymap = keymap
        self.reserved_names: frozenset[str] = frozenset()
        self.cols: dict[str, list] = {c: [] for c in
                                      ("engine", *RECORD_ID, "kind", "line", "digits")}
        self.tokens: list[list[str | None]] = []
        self.factors: dict[int, float] = {}  # record -> unit factor of a key map
        self.seen: dict[tuple, int] = {}
        self.repeated: Counter[str] = Counter()
        self.skipped: dict[str, list] = {}  # shape -> [count, example, first line]
        self.notes: dict[tuple[str, str], dict] = {}
        self.ambiguous: set[int] = set()
        self.precision: tuple[str, int] | None = None
        # False where the formats are known field by field (a stock printout's %f fields):
        # each token then counts as printed
        self.infer = True
        #: the log promises %.17g (the contract): a token that is what %.17g prints is exact
        self.round_trip = False

    def skip(self, shape: str, lineno: int, text: str) -> None:
        """A line (or part of one) not read, grouped by ``shape``."""
        entry = self.skipped.get(shape)
        if entry is None:
            self.skipped[shape] = [1, text.strip()[:200], lineno]
        else:
            entry[0] += 1

    def note(self, kind: str, key: str, lines: list[int], text: str) -> None:
        self.notes.setdefault((kind, key), {"kind": kind, "key": key, "lines": lines,
                                            "text": text})

    def skipped_list(self) -> list[dict]:
        return [{"shape": shape, "count": count, "example": example, "line": line}
                for shape, (count, example, line) in sorted(self.skipped.items(),
                                                             key=lambda item: item[1][2])]

    def notes_list(self) -> list[dict]:
        out = []
        for note in sorted(self.notes.values(), key=lambda note: note["lines"][0]):
            if note["kind"] == "repeated key":
                first, again = note["lines"]
                if note["differ"]:
                    kept, other = note["values"]
                    text = (f"{note['key']}: line {again} repeats line {first} with a "
                            f"different value ({other} vs {kept}); the first is compared and "
                            f"marked ambiguous")
                else:
                    text = f"{note['key']}: line {again} repeats line {first} with the same value"
                if note["count"] > 1:
                    text += f" ({note['count']} repetitions)"
                note = {"kind": note["kind"], "key": note["key"], "lines": note["lines"],
                        "count": note["count"], "differ": note["differ"], "text": text}
            out.append(note)
        return out

    def add(self, lineno: int, engine: str, pixel: tuple[int, int], stage: str,
            indices: tuple[int, int, int, int, int], key: str, tokens: list[str],
            components: list[int] | None = None, digits: int | None = None,
            factor: float = 1.0, kind: str | None = None) -> None:
        """One record's tokens; ``kind`` overrides the kind guessed for a key outside the
        catalogue."""
        known = schema.by_name(key) if key in _KNOWN else None
        if known is not None and components is None and len(tokens) != known.arity:
            raise TraceFormatError(f"{self.source}:{lineno}: key {key} takes {known.arity} "
                                   f"value(s), found {len(tokens)}")
        record = (pixel[0], pixel[1], stage, *indices, key)
        if components is not None:
            width = known.arity if known is not None else max(components) + 1
            slots: list[str | None] = [None] * width
            for comp, token in zip(components, tokens):
                slots[comp] = token
        else:
            slots = list(tokens)
        at = self.seen.get(record)
        if at is not None:
            held = self.tokens[at]
            if components is not None and len(held) < len(slots):  # (a key outside the
                held = self.tokens[at] = held + [None] * (len(slots) - len(held))  # catalogue)
            slots += [None] * (len(held) - len(slots))
            if components is not None and all(
                    new is None or old is None for old, new in zip(held, slots)):
                self.tokens[at] = [old if old is not None else new
                                   for old, new in zip(held, slots)]
                return  # a legacy log giving another component of the same vector
            if self.on_duplicate == "error":
                where = " ".join(f"{name}={value}" for name, value in zip(INDEX_TOKENS, indices)
                                 if value != NO_INDEX)
                raise DuplicateRecordError(
                    f"{self.source}:{lineno}: duplicate record {key} for pixel {pixel[0]} "
                    f"{pixel[1]}" + (f" {where}" if where else ""))
            self._repeat(at, lineno, key, slots, factor)
            return
        self.seen[record] = len(self.tokens)
        cols = self.cols
        cols["engine"].append(engine)
        for name, value in zip(RECORD_ID, record):
            cols[name].append(value)
        cols["kind"].append(known.kind if known is not None else kind or _guess_kind(tokens))
        cols["line"].append(lineno)
        cols["digits"].append(digits)
        if factor != 1.0:
            self.factors[len(self.tokens)] = factor
        self.tokens.append(slots)

    def _repeat(self, at: int, lineno: int, key: str, slots: list, factor: float) -> None:
        """A key printed again for the same record: the first is kept (the contract's first
        evaluation: sub-pixel 0, source 0, layer 0), the repetition noted with both lines, and
        a record whose repetitions differ is marked ambiguous."""
        self.repeated[key] += 1
        first = self.tokens[at]
        same = (len(first) == len(slots) and factor == self.factors.get(at, 1.0)
                and all(_same_token(a, b) for a, b in zip(first, slots)))
        note = self.notes.get(("repeated key", key))
        if note is None:
            note = self.notes[("repeated key", key)] = {
                "kind": "repeated key", "key": key, "lines": [self.cols["line"][at], lineno],
                "count": 0, "differ": False, "values": None}
        note["count"] += 1
        if not same:
            self.ambiguous.add(at)
            if not note["differ"]:
                note.update(differ=True, lines=[self.cols["line"][at], lineno],
                            values=[" ".join(t or "-" for t in first),
                                    " ".join(t or "-" for t in slots)])

    def records(self, exact: bool) -> pd.DataFrame:
        """One row per record: ids, kind, arity, mask, v0..v{w-1}, text, resolution, line."""
        n = len(self.tokens)
        width = max((len(t) for t in self.tokens), default=1) or 1
        kinds = self.cols["kind"]
        values = np.full((n, width), np.nan)
        mask = np.zeros(n, dtype=np.int64)
        numeric_at, numeric_tokens = [], []
        for i, slots in enumerate(self.tokens):
            for j, token in enumerate(slots):
                if token is None:
                    continue
                mask[i] |= 1 << j
                if kinds[i] != "word":
                    numeric_at.append(i * width + j)
                    numeric_tokens.append(token)
        values.ravel()[numeric_at] = self._to_float(numeric_at, numeric_tokens, width)
        self._check_ints(kinds, width)
        frame = pd.DataFrame({name: self.cols[name] for name in ("engine", *RECORD_ID, "kind")})
        frame["arity"] = [len(t) for t in self.tokens]
        frame["mask"] = mask
        resolution = np.zeros(n) if exact else self._resolutions(values)
        for i, factor in self.factors.items():  # a key map's unit factor: values and their
            values[i] *= factor                   # resolution scale, the printed text stays
            resolution[i] *= abs(factor)
        for j in range(width):
            frame[f"v{j}"] = values[:, j]
        frame["text"] = [" ".join(t if t is not None else "-" for t in slots)
                         for slots in self.tokens]
        for i, factor in self.factors.items():  # the printed value, marked as scaled
            frame.at[i, "text"] += f" (x{factor:g})"
        frame["resolution"] = resolution
        frame["line"] = self.cols["line"]
        frame.attrs["width"] = width
        return frame.astype({c: "int64" for c in ("slow", "fast", *INDEX_TOKENS, "line")})

    def _line_of(self, flat_index: int, width: int) -> int:
        return self.cols["line"][flat_index // width]

    def _to_float(self, positions: list[int], tokens: list[str], width: int) -> np.ndarray:
        try:
            out = np.array(tokens, dtype=np.float64)
            if any("_" in t for t in tokens if "_" in t):  # numpy reads 1_0 as 10; we do not
                raise ValueError
            return out
        except ValueError:
            for pos, token in zip(positions, tokens):
                if not (_REAL_RE.match(token) or _INT_RE.match(token)
                        or token.lower() in _SPECIAL):
                    raise TraceFormatError(f"{self.source}:{self._line_of(pos, width)}: "
                                           f"{token!r} is not a number") from None
            raise

    def _check_ints(self, kinds: list[str], width: int) -> None:
        for i, kind in enumerate(kinds):
            if kind != "int":
                continue
            for token in self.tokens[i]:
                if token is not None and not _INT_RE.match(token):
                    raise TraceFormatError(
                        f"{self.source}:{self.cols['line'][i]}: key {self.cols['key'][i]} "
                        f"expects integers, found {token!r}")

    def _resolutions(self, values: np.ndarray) -> np.ndarray:
        """Half a unit in the last digit each real was printed with, under the log's inferred
        precision (``infer_precision``); records with a known format's digits use those."""
        real = [(i, j, t) for i, slots in enumerate(self.tokens)
                if self.cols["kind"][i] == "real" and self.cols["digits"][i] is None
                for j, t in enumerate(slots) if t is not None and t.lower() not in _SPECIAL]
        tokens, reals = [t for _, _, t in real], np.array([values[i, j] for i, j, _ in real])
        if self.infer:
            self.precision, rule = infer_precision(tokens, reals)
        else:
            rule = [_resolution(t, v, False) for t, v in zip(tokens, reals)]
        if self.round_trip:  # a contract log: a value printed as %.17g prints it is exact
            exact = [_prints_as_17g(t, v) for t, v in zip(tokens, reals.tolist())]
            rule = [0.0 if e else res for e, res in zip(exact, rule)]
            if all(exact):
                self.precision = None  # every value as %.17g prints it: the contract's
        out = np.zeros(len(self.tokens))
        for (i, _, _), res in zip(real, rule):  # a record's: its coarsest component's
            out[i] = max(out[i], res)
        for i, digits in enumerate(self.cols["digits"]):
            if digits is not None and self.cols["kind"][i] == "real":
                out[i] = max((_resolution(t, values[i, j], False, digits)
                              for j, t in enumerate(self.tokens[i]) if t is not None),
                             default=0.0)
        return out


def _same_token(a: str | None, b: str | None) -> bool:
    """Two printed values are the same value (``1.0`` and ``1`` are)."""
    if a == b:
        return True
    if a is None or b is None:
        return False
    try:
        x, y = float(a), float(b)
    except ValueError:
        return False
    return x == y or (math.isnan(x) and math.isnan(y))


#: From this many significant digits on, a log prints full precision (%.15g, %.17g): its
#: shorter tokens had trailing zeros dropped, they are not low-precision values.
FULL_DIGITS = 15
#: From this many digits on (C's %g prints 6), shorter tokens are taken at the log's digits too.
G_DIGITS = 6
#: Values printed with at least this many digits can show float32's rounding.
_F32_SHOWN = 9


def infer_precision(tokens: list[str], values: np.ndarray
                    ) -> tuple[tuple[str, int], np.ndarray]:
    """The log's print precision ``(label, significant digits)`` from its real tokens, and each
    token's resolution (half a unit in the last digit it carries) under it:

    - every token at least as long as float32 shows (9 digits) reads back from float32 (at
      least 3 of them needing more than 7 digits): "float32", 7 digits, half a float32 ulp;
    - >= 15 significant digits somewhere: "float64" (0 at 17 digits, else at the log's digits);
    - every token without exponent has the same N >= 1 decimals: fixed "%.Nf", per token;
    - otherwise "%.Dg" with D the most digits printed: at D digits when D >= 6 (C's %g drops
      trailing zeros), else per token (half a unit in its last printed digit).
    """
    if not tokens:
        return ("none", 0), np.zeros(0)  # no real values: nothing to infer
    digits = np.array([_significant_digits(t) for t in tokens])
    most = int(digits.max())
    finite = np.isfinite(values)
    scale = np.zeros(len(tokens))
    # %g and %e print 0 only for an exact zero (a tiny value shows its exponent): exact
    nonzero = finite & (values != 0)
    scale[nonzero] = np.floor(np.log10(np.abs(values[nonzero])))
    long = digits >= _F32_SHOWN
    # values with a short decimal form (1.000000000, 0.5) are float32 in any log: they do not tell
    revealing = np.array([math.isfinite(v) and float(format(v, ".7g")) != v
                          for v in values[long].tolist()], dtype=bool)
    if revealing.sum() >= 3 and _float32_printed(values[long], digits[long]):
        half_ulp = np.spacing(np.abs(values.astype(np.float32))).astype(np.float64) / 2
        return ("float32", 7), np.where(nonzero, half_ulp, 0.0)
    if most >= FULL_DIGITS:
        if most >= 17:
            return ("float64", most), np.zeros(len(tokens))
        return ("float64", most), np.where(nonzero, 0.5 * 10.0 ** (scale - most + 1), 0.0)
    plain = [t for t in tokens if "e" not in t.lower()]
    decimals = {len(t.split(".")[1]) if "." in t else 0 for t in plain}
    if len(plain) == len(tokens) and len(decimals) == 1 and decimals != {0}:
        label = f"%.{decimals.pop()}f"
        return (label, most), np.array([_resolution(t, v, False) for t, v in zip(tokens, values)])
    if most >= G_DIGITS:
        return (f"%.{most}g", most), np.where(nonzero, 0.5 * 10.0 ** (scale - most + 1), 0.0)
    return (f"%.{most}g", most), np.array([_resolution(t, v, False)
                                           for t, v in zip(tokens, values)])


def _float32_printed(values: np.ndarray, digits: np.ndarray) -> bool:
    """Whether every value is a float32 printed with its digits (a float64 log's 9+-digit
    values almost never are)."""
    with np.errstate(over="ignore", invalid="ignore"):
        single = values.astype(np.float32).astype(np.float64)
    for value, back, n in zip(values.tolist(), single.tolist(), digits.tolist()):
        if not math.isfinite(value):
            continue
        if float(format(back, f".{max(n, 1)}g")) != value:
            return False
    return True


_KNOWN = frozenset(key.name for key in schema.CATALOGUE)


def _guess_kind(tokens: list[str]) -> str:
    if tokens and all(_INT_RE.match(t) for t in tokens):
        return "int"
    if tokens and all(_REAL_RE.match(t) or t.lower() in _SPECIAL for t in tokens):
        return "real"
    return "word"


def _explode(records: pd.DataFrame) -> pd.DataFrame:
    """Record rows → one row per component (the tidy frame)."""
    width = records.attrs.get("width", 1)
    parts = []
    texts = records.text.str.split(" ")
    for j in range(width):
        present = (records["mask"].to_numpy() >> j) & 1 == 1
        if not present.any():
            continue
        part = records.loc[present, ["engine", *RECORD_ID, "kind", "resolution", "line"]].copy()
        part["component"] = j
        part["value"] = records.loc[present, f"v{j}"].to_numpy()
        part["text"] = [t[j] for t in texts[present]]
        parts.append(part)
    if not parts:
        return pd.DataFrame(columns=list(COLUMNS))
    frame = pd.concat(parts).sort_index(kind="stable")
    return frame[list(COLUMNS)].reset_index(drop=True)


def _stage_of(key: str, step_line: bool) -> str:
    if schema.is_known(key):
        return schema.by_name(key).stage
    return "phi" if step_line else "extra"


# --------------------------------------------------------------------------- contract + legacy

def parse_trace_text(text: str, source: str = "<string>", keymap: KeyMap | None = None
                     ) -> TraceLog:
    """Parse a trace log in the contract grammar, a legacy instrumented form or a stock
    printout.

    The grammar is decided by the log itself: a log holding ``trace_pixel`` records is a
    contract log (its grammar lines are strict, duplicates are structural errors); otherwise
    it is legacy (read tolerantly: lines that cannot be read are skipped and listed in
    ``TraceLog.skipped``; a key printed again for the same record keeps the first and is
    noted). ``keymap``: a user key map (``nbparity.keymap.load_keymap``) applied to every
    line, over the built-in aliases (which apply to lines outside the contract grammar).
    Contract logs take a vectorised path for their step lines (the bulk of a log); anything
    unusual falls back to the line-by-line reader, which names the offending line.
    """
    if "\x00" in text:
        raise TraceFormatError(f"{source}:1: binary data, not a trace log")
    return _parse_log(_LogText(text, None), source, keymap)


class _LogText:
    """A log as text and as UTF-8 bytes; a file arrives as bytes, a string as text, and the
    other form is made only when a reader needs it (decoding 80 MB costs a tenth of a second).
    """

    def __init__(self, text: str | None, data: bytes | None):
        self._text, self._data = text, data  # data, when given, is ASCII

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._data.decode("ascii")
        return self._text

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._text.encode("utf-8", "surrogatepass")
        return self._data

    def newline_separated(self) -> bytes:
        """The bytes with "\\n" as the only line break, lines as str.splitlines() numbers them."""
        if self._text is None and not any(b in self._data for b in _ASCII_OTHER_BREAKS):
            return self._data
        if _has_other_breaks(self.text):
            return "\n".join(self.text.splitlines()).encode("utf-8", "surrogatepass")
        return self.data


def _parse_log(log: _LogText, source: str, keymap: KeyMap | None = None) -> TraceLog:
    contract = _TRACE_PIXEL_RE.search(log.data) is not None
    if not contract and _looks_like_printout(log.text):
        return parse_printout_log(log.text, source)
    # A contract log is exact when it prints round-trip digits (%.17g); a contract-shaped log
    # written by hand or by a port with %g or %.6f is read at the precision it prints.
    exact = contract and _FULL_DIGITS_RE.search(log.data) is not None
    if exact:
        fast = _parse_contract_fast(log.newline_separated(), source, keymap)
        if fast is not None:
            return fast
    builder = _RecordBuilder(source, on_duplicate="error" if contract else "first",
                             keymap=keymap)
    builder.round_trip = contract
    ignored = _parse_lines(builder, enumerate(log.text.splitlines(), start=1), contract)
    if not builder.tokens:
        if builder.skipped:
            first = builder.skipped_list()[0]
            count = sum(c for c, _, _ in builder.skipped.values())
            raise TraceFormatError(f"{source}:{first['line']}: no TRACE_ line could be read "
                                   f"({count} skipped; first: {first['shape']})")
        raise TraceFormatError(f"{source}:1: no TRACE_ lines found (empty or not a trace log)")
    # Contract logs print values with %.17g: exact for doubles, no resolution limit.
    records = builder.records(exact=exact)
    return TraceLog(source, records, "contract" if contract else "legacy",
                    dict(builder.repeated), ignored, builder.skipped_list(),
                    builder.notes_list(), np.array(sorted(builder.ambiguous), np.int64),
                    None if exact else builder.precision)


_TRACE_PIXEL_RE = re.compile(rb"^TRACE_[A-Z][A-Z0-9]*: trace_pixel ", re.M)
#: a number printed with at least FULL_DIGITS (15) significant digits (leading zeros aside)
_FULL_DIGITS_RE = re.compile(rb"[1-9](?:\.?[0-9]){%d}" % (FULL_DIGITS - 1))


def _parse_lines(builder: _RecordBuilder, numbered_lines, contract: bool) -> int:
    """The line-by-line reader (``nbparity.legacy``); returns how many lines it ignored."""
    from nbparity import legacy  # (imports this module: loaded once this one is)

    return legacy.read_lines(builder, numbered_lines, contract)


# --------------------------------------------------------------------------- contract fast path
#
# A contract log is nearly all plain step lines, "TRACE_<E>_PHI: phi_tic=i mos_tic=j key v ...".
# The fast path finds them with array operations on the log's bytes (no Python object per line
# but the value text each record keeps), reads all their numbers in one C pass, and gives every
# other line (pixel lines, steps with extra indices, anything unusual) to the line-by-line
# reader, which also names bad lines.

# characters other than str.splitlines() breaks at besides "\n"
_OTHER_BREAKS_RE = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")
_ASCII_OTHER_BREAKS = (b"\r", b"\x0b", b"\x0c", b"\x1c", b"\x1d", b"\x1e")


def _has_other_breaks(text: str) -> bool:
    if text.isascii():  # the common case: substring tests run at memchr speed
        return any(ch in text for ch in "\r\x0b\x0c\x1c\x1d\x1e")
    return _OTHER_BREAKS_RE.search(text) is not None


def _word(token: bytes) -> np.uint64:
    """Up to 8 bytes as one little-endian integer, as _Bytes.word reads them."""
    return np.uint64(int.from_bytes(token, "little"))


_BYTE_MASKS = np.array([(1 << 8 * n) - 1 for n in range(9)], dtype=np.uint64)  # n low bytes
_TRACE, _PHI_COLON = _word(b"TRACE_"), _word(b"_PHI:")
_PHI_TIC, _MOS_TIC = _word(b"phi_tic="), _word(b"mos_tic=")
_ENGINE_RE = re.compile(r"[A-Z][A-Z0-9]*")
_MAX_ENGINE, _MAX_KEY = 8, 16  # longer names (no catalogue step key is) go line by line


class _Bytes:
    """A log's bytes as arrays: ``bytes[i]``, and ``word(i)`` the 8 bytes from offset i as one
    little-endian integer (zeros past the end), so a short token is compared in one operation."""

    def __init__(self, data: bytes | bytearray):
        self.bytes = np.frombuffer(data, np.uint8)
        self.size = size = len(data)
        # words[i] for i <= size - 8 read the log in place; the last ones read a padded copy
        self.words = np.ndarray((max(size - 7, 0),), "<u8", data, strides=(1,))
        tail = bytes(data[max(size - 8, 0):]) + bytes(8)
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
    """The plain step lines of a log, one entry per line in line order (codes index names)."""

    line: np.ndarray  # 0-based line index
    engine: np.ndarray
    phi: np.ndarray
    mos: np.ndarray
    key: np.ndarray
    counts: np.ndarray  # how many values the line holds
    values_at: np.ndarray  # byte offset of its first value
    engine_names: list[str]
    key_names: list[str]


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
    return _StepLines(line[at], engine[named], phi[at], mos[at], key[named], counts, s3[at] + 1,
                      engine_names, key_names)


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


def _split_values(data: bytes | bytearray, steps: _StepLines, n_lines: int
                  ) -> tuple[list[str], list[tuple[int, str]]]:
    """The value text of every step line, and (line number, text) of every other line. A
    bytearray is marked in place, and restored."""
    marked = data if isinstance(data, bytearray) else bytearray(data)
    view = np.frombuffer(marked, np.uint8)
    view[steps.values_at - 1] = 10  # the values: a line of their own
    try:
        pieces = marked.decode("utf-8", "surrogatepass").split("\n")
    finally:
        view[steps.values_at - 1] = 32  # the space it was
    del view, marked
    is_step = np.zeros(n_lines, dtype=bool)
    is_step[steps.line] = True
    piece_of_line = np.arange(n_lines) + np.cumsum(is_step) - is_step
    other = np.flatnonzero(~is_step)
    others = list(zip((other + 1).tolist(), _pick(pieces, piece_of_line[other])))
    return _pick(pieces, piece_of_line[steps.line] + 1), others


def _pick(items: list, at: np.ndarray) -> list:
    """``items`` at the increasing positions ``at``: one list slice per run of positions two
    apart (the values of consecutive step lines), else one itemgetter call."""
    if at.size < 2:
        return [items[i] for i in at.tolist()]
    bounds = np.concatenate(([0], np.flatnonzero(np.diff(at) != 2) + 1, [at.size])).tolist()
    if len(bounds) > at.size // 8 + 2:  # many short runs
        return list(itemgetter(*at.tolist())(items))
    picked = []
    for begin, end in zip(bounds[:-1], bounds[1:]):
        first = int(at[begin])
        picked += items[first:first + 2 * (end - begin):2]
    return picked


_PRINTABLE = bytes(range(32, 127)) + b"\n"
_NUMBER_CHARS = b"0123456789.eE+- \n"
# pandas >= 3.1 reads floats with fast_float, correctly rounded; before, only "round_trip" was
_CSV_EXACT = ({} if tuple(int(p) for p in pd.__version__.split(".")[:2]) >= (3, 1)
              else {"float_precision": "round_trip"})


def _read_values(texts: list[str], counts: np.ndarray) -> np.ndarray | None:
    """The numbers of each line's space-separated tokens, in a (line, component) array padded
    with NaN, exactly as float() reads them; None if a token is not a number or the text holds
    what the line reader splits differently (the line reader then names the line)."""
    raw = "\n".join(texts).encode("utf-8", "surrogatepass")
    if raw.translate(None, _PRINTABLE) or b"_" in raw:
        return None  # other whitespace or non-ASCII; numpy reads 1_0 as 10
    width = int(counts.max())
    if raw.translate(None, _NUMBER_CHARS) or _has_leading_plus(raw):
        return _read_values_by_token(raw, counts, width)  # nan, inf, a leading "+"
    try:
        values = pd.read_csv(io.BytesIO(raw), sep=" ", header=None, names=range(width),
                             index_col=False, dtype=np.float64, engine="c",
                             quoting=csv.QUOTE_NONE, keep_default_na=False, na_values=[""],
                             skip_blank_lines=False, low_memory=False, **_CSV_EXACT).to_numpy()
    except (ValueError, pd.errors.ParserError):
        return None
    # A number is never NaN here (no letters), so NaNs are the padding, or empty tokens
    # (two spaces in a row), which the line reader reads differently.
    if len(values) != len(counts) or (np.isnan(values).sum(axis=1) != width - counts).any():
        return None
    return values


def _has_leading_plus(raw: bytes) -> bool:
    """Whether a token starts with "+" (pandas reads those with a converter not always
    correctly rounded; "+" after an exponent's "e" is fine)."""
    if b"+" not in raw:
        return False
    buf = np.frombuffer(raw, np.uint8)
    plus = np.flatnonzero(buf == 43)
    return bool(plus[0] == 0 or np.isin(buf[plus - 1], (10, 32)).any())


def _read_values_by_token(raw: bytes, counts: np.ndarray, width: int) -> np.ndarray | None:
    """_read_values for tokens the CSV reader does not take: one float() per token."""
    if b"  " in raw:
        return None  # an empty token
    try:
        flat = np.array(raw.replace(b"\n", b" ").decode().split(" "), dtype=np.float64)
    except ValueError:
        return None
    if flat.size != counts.sum():
        return None
    values = np.full((len(counts), width), np.nan)
    values[np.repeat(np.arange(len(counts)), counts),
           np.arange(flat.size) - np.repeat(np.cumsum(counts) - counts, counts)] = flat
    return values


def _parse_contract_fast(data: bytes | bytearray, source: str, keymap: KeyMap | None = None
                         ) -> TraceLog | None:
    """Vectorised reading of a contract log (UTF-8, "\\n" line breaks; a bytearray is marked
    in place for a moment); None when the log needs the line-by-line reader."""
    raw = _Bytes(data)
    starts, ends = _line_bounds(raw.bytes)
    steps = _find_step_lines(raw, starts, ends)
    if keymap and (keymap.names | keymap.targets) & set(steps.key_names):
        return None  # a key map renames step keys: the line reader applies it
    texts, others = _split_values(data, steps, len(starts))
    builder = _RecordBuilder(source, on_duplicate="error", keymap=keymap)
    builder.reserved_names = frozenset(steps.key_names)
    ignored = _parse_lines(builder, others, contract=True)
    slow_records = builder.records(exact=True)
    read = (ignored, builder.skipped_list(), builder.notes_list())
    if steps.line.size == 0:
        return TraceLog(source, slow_records, "contract", {}, *read)
    kinds = np.array([_KIND_OF.get(k) for k in steps.key_names], dtype=object)
    used_kinds = set(kinds[np.bincount(steps.key, minlength=len(kinds)) > 0])
    if None in used_kinds or "word" in used_kinds:
        return None  # engine-specific or word-valued step keys: line by line
    values = _read_values(texts, steps.counts)
    if values is None:
        return None
    _check_arity(source, steps)
    _check_ints(source, steps, texts, kinds == "int")
    # Each step line belongs to the last trace_pixel line above it.
    pixel_rows = slow_records[slow_records.key == "trace_pixel"]
    owner = np.searchsorted(pixel_rows.line.to_numpy(), steps.line + 1) - 1
    if (owner < 0).any():
        return None  # step lines before any trace_pixel: the line reader places them
    width = max(values.shape[1], slow_records.attrs.get("width", 1))
    columns = _step_columns(steps, kinds, texts, values, width, pixel_rows, owner)
    if _has_duplicate_steps(owner, steps) or (slow_records.phi_tic != NO_INDEX).any():
        return _merge_checked(source, slow_records, columns, width, read)
    return TraceLog(source, _interleave(slow_records, columns, width), "contract", {}, *read)


def _check_arity(source: str, steps: _StepLines) -> None:
    arity = np.array([_ARITY_OF.get(k, 0) for k in steps.key_names], np.int64)[steps.key]
    bad = np.flatnonzero(arity != steps.counts)
    if bad.size:
        i = bad[0]
        raise TraceFormatError(f"{source}:{steps.line[i] + 1}: key "
                               f"{steps.key_names[steps.key[i]]} takes {arity[i]} value(s), "
                               f"found {steps.counts[i]}")


def _check_ints(source: str, steps: _StepLines, texts: list[str], int_key: np.ndarray
                ) -> None:
    """Integer keys hold integers. Every token already reads as a float, so a token of digits
    and signs only is [+-]?\\d+; the slow regex runs only to name a bad line."""
    at = np.flatnonzero(int_key[steps.key])
    if not "\n".join(_pick(texts, at)).encode().translate(None, b"0123456789+- \n"):
        return
    for i in at.tolist():
        if not _INTS_RE.match(texts[i]):
            raise TraceFormatError(f"{source}:{steps.line[i] + 1}: key "
                                   f"{steps.key_names[steps.key[i]]} expects integers, "
                                   f"found {texts[i]!r}")


_INTS_RE = re.compile(r"^[+-]?\d+(?: [+-]?\d+)*$")


def _has_duplicate_steps(owner: np.ndarray, steps: _StepLines) -> bool:
    """Whether two plain step lines share a record (pixel, phi_tic, mos_tic, key)."""
    dims = [int(owner.max()) + 1, int(steps.phi.max()) + 1, int(steps.mos.max()) + 1,
            len(steps.key_names)]
    if math.prod(dims) >= 2**62:
        return True  # cannot pack: let pandas decide
    packed = np.ravel_multi_index((owner, steps.phi, steps.mos, steps.key), dims)
    if (packed[1:] > packed[:-1]).all():
        return False  # the usual loop order: strictly increasing, no sort needed
    packed.sort()
    return bool((packed[1:] == packed[:-1]).any())


@dataclass
class _Coded:
    """A string column as codes into a few names (made into strings once, at assembly)."""

    names: list[str]
    codes: np.ndarray

    def strings(self) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.codes]


def _step_columns(steps: _StepLines, kinds: np.ndarray, texts: list[str],
                  values: np.ndarray,
                  width: int, pixel_rows: pd.DataFrame, owner: np.ndarray) -> dict:
    """The step lines' records, column by column, as the line reader would make them."""
    n = steps.line.size
    columns = {
        "engine": _Coded(steps.engine_names, steps.engine),
        "slow": pixel_rows.slow.to_numpy()[owner], "fast": pixel_rows.fast.to_numpy()[owner],
        # names no step line uses (a key the line reader got) may lack a stage or kind: ""
        "stage": _Coded([_STAGE_OF.get(k, "") for k in steps.key_names], steps.key),
        "phi_tic": steps.phi, "mos_tic": steps.mos,
        "sub": np.full(n, NO_INDEX), "src": np.full(n, NO_INDEX), "thick": np.full(n, NO_INDEX),
        "key": _Coded(steps.key_names, steps.key),
        "kind": _Coded([kind or "" for kind in kinds], steps.key),
        "arity": steps.counts, "mask": (1 << steps.counts) - 1,
    }
    for j in range(width):
        columns[f"v{j}"] = values[:, j] if j < values.shape[1] else np.full(n, np.nan)
    columns.update(text=np.array(texts, dtype=object), resolution=np.zeros(n),
                   line=steps.line + 1)
    return columns


def _interleave(slow_records: pd.DataFrame, columns: dict, width: int) -> pd.DataFrame:
    """The pixel-line records and the step records in one frame, in line order."""
    slow_lines = slow_records.line.to_numpy()
    n_slow, n = len(slow_lines), len(slow_lines) + len(columns["line"])
    at_slow = np.searchsorted(columns["line"], slow_lines) + np.arange(n_slow)
    at_step = np.ones(n, dtype=bool)
    at_step[at_slow] = False
    slow_width = slow_records.attrs.get("width", 1)
    # the column order of the general assembly: the slow records' columns, new widths last
    names = [*slow_records.columns, *(f"v{j}" for j in range(slow_width, width))]
    data = {}
    for name in names:
        step_column = columns[name]
        if isinstance(step_column, _Coded):  # the slow records' strings become names too
            codes = np.empty(n, dtype=np.int64)
            codes[at_slow] = len(step_column.names) + np.arange(n_slow)
            codes[at_step] = step_column.codes
            all_names = [*step_column.names, *slow_records[name].tolist()]
            data[name] = pd.Index(all_names).array.take(codes)
            continue
        slow_column = (slow_records[name].to_numpy(step_column.dtype) if name in slow_records
                       else np.full(n_slow, np.nan))
        merged = np.empty(n, dtype=step_column.dtype)
        merged[at_slow], merged[at_step] = slow_column, step_column
        data[name] = merged
    records = pd.DataFrame(data, copy=False)
    records.attrs["width"] = width
    return records


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


_KIND_OF = {key.name: key.kind for key in schema.CATALOGUE}
_ARITY_OF = {key.name: key.arity for key in schema.CATALOGUE}
_STAGE_OF = {key.name: key.stage for key in schema.CATALOGUE}


_NO_INDICES = (NO_INDEX,) * len(INDEX_TOKENS)


#: pixel coordinates and loop indices must fit the records' int64 columns (with room to spare)
_INT_LIMIT = 2**62


def _small_int(text: str, where: str, what: str) -> int:
    value = int(text)
    if abs(value) >= _INT_LIMIT:
        raise TraceFormatError(f"{where}: {what} {text} is out of range")
    return value


def parse_trace_file(path: str | Path, keymap: KeyMap | None = None) -> TraceLog:
    """Read and parse a log file (``keymap`` as for ``parse_trace_text``); unreadable files,
    and files too large for the memory left, raise TraceFormatError naming the file."""
    path = Path(path)
    try:
        return _parse_trace_file(path, keymap)
    except MemoryError:
        pass  # raised below, once this handler has let go of the frames that hold the buffers
    try:
        size = f" ({os.stat(path).st_size} bytes)"
    except OSError:
        size = ""
    raise TraceFormatError(f"{path}:0: out of memory while reading this log{size}")


def _parse_trace_file(path: Path, keymap: KeyMap | None) -> TraceLog:
    try:
        data = _read_file(path)
    except OSError as exc:
        raise TraceFormatError(f"{path}:0: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise TraceFormatError(f"{path}:1: binary data, not a trace log")
    if data.isascii():  # the common case: no need to decode (the fast path reads bytes)
        return _parse_log(_LogText(None, data), str(path), keymap)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # stray bytes (a banner in Latin-1) do not make a log unreadable: they are kept as lone
        # surrogates, and the line reader skips and reports the TRACE lines that hold any
        text = data.decode("utf-8", "surrogateescape")
    return parse_trace_text(text, str(path), keymap)


def _read_file(path: Path) -> bytearray:
    """The file's bytes, in a buffer of our own: the fast path marks it in place (and undoes
    that) instead of copying 80 MB."""
    with path.open("rb") as stream:
        data = bytearray(os.fstat(stream.fileno()).st_size)
        del data[stream.readinto(data):]
        data += stream.read()  # a file that grew meanwhile
    return data


# --------------------------------------------------------------------------- stock printout

_PRINTOUT_HEAD = re.compile(r"(-?\d+)\s+(-?\d+) : stol = (\S+) or (\S+)\s*$")
_PRINTOUT_FIELDS = (
    ("at", re.compile(r"^at (\S+) (\S+) (\S+)\s*$")),
    ("hkl", re.compile(r"^hkl= (\S+) (\S+) (\S+)\s+hkl0= (\S+) (\S+) (\S+)\s*$")),
    ("F", re.compile(r"^\s*F_cell=(\S+)\s+F_latt=(\S+)\s+I = (\S+)\s*$")),
    ("I/steps", re.compile(r"^I/steps\s+(\S+)\s*$")),
    ("polar", re.compile(r"^polar\s+(\S+)\s*$")),
    ("omega", re.compile(r"^omega\s+(\S+)\s*$")),
    ("capfrac", re.compile(r"^capfrac\s+(\S+)\s*$")),
    ("pixel", re.compile(r"^pixel\s+(\S+)\s*$")),
)
_CELL_ROW = re.compile(r"^([XYZ]): +(\S+) +(\S+) +(\S+)\s*$")


@dataclass
class PrintoutBlock:
    """One stock ``-printout_pixel`` block. Values as printed (metres for ``pixel_pos_m``).

    ``tokens`` keeps each field's printed text (for precision limits); ``line`` is the block's
    first line number.
    """

    fast: int
    slow: int
    stol_m_inv: float
    stol_A_inv_from_twotheta: float
    pixel_pos_m: tuple[float, float, float]
    hkl_frac: tuple[float, float, float]
    hkl_rounded: tuple[int, int, int]
    F_cell: float
    F_latt: float
    I: float
    I_over_steps: float
    polar: float
    omega: float
    capfrac: float
    pixel: float
    a_angstroms: tuple[float, float, float]
    b_angstroms: tuple[float, float, float]
    c_angstroms: tuple[float, float, float]
    tokens: dict[str, list[str]]
    line: int


def printout_pixels(text: str) -> set[tuple[int, int]]:
    """The (slow, fast) pixels of the stock printout blocks whose header ``text`` holds (an
    engine's output is checked with it before it is read)."""
    if " : stol = " not in text:
        return set()
    return {(int(m.group(2)), int(m.group(1))) for m in map(_PRINTOUT_HEAD.search,
                                                            text.splitlines()) if m}


def _looks_like_printout(text: str) -> bool:
    if " : stol = " not in text:  # (the block header's fixed text: most logs end here)
        return False
    return any(_PRINTOUT_HEAD.search(line) for line in text.splitlines()[:100000])


def parse_printout_text(text: str, source: str = "<string>") -> list[PrintoutBlock]:
    """All stock ``-printout_pixel`` blocks in ``text`` (other console output is skipped).

    The block header can follow other text on the same line (upstream prints it without a
    leading newline), so it is searched for, not anchored.
    """
    lines = text.splitlines()
    blocks: list[PrintoutBlock] = []
    i = 0
    while i < len(lines):
        head = _PRINTOUT_HEAD.search(lines[i])
        if not head:
            i += 1
            continue
        start = i + 1
        tokens: dict[str, list[str]] = {"head": head.groups()}
        for offset, (name, regex) in enumerate(_PRINTOUT_FIELDS, start=1):
            if i + offset >= len(lines):
                raise TraceFormatError(f"{source}:{i + offset + 1}: printout block truncated "
                                       f"(expected {name})")
            match = regex.match(lines[i + offset])
            if not match:
                raise TraceFormatError(f"{source}:{i + offset + 1}: expected the {name} line "
                                       f"of a printout block")
            tokens[name] = match.groups()
        cell_at = i + len(_PRINTOUT_FIELDS) + 3  # header line + column titles, then X Y Z
        rows = []
        for r in range(3):
            idx = cell_at + r
            match = _CELL_ROW.match(lines[idx]) if idx < len(lines) else None
            if not match:
                raise TraceFormatError(f"{source}:{idx + 1}: expected a cell-vector row")
            rows.append(match.groups()[1:])
        tokens["cell"] = tuple(t for row in rows for t in row)
        blocks.append(_printout_block(tokens, rows, source, start))
        i = cell_at + 3
    return blocks


def _printout_block(tokens, rows, source, line) -> PrintoutBlock:
    where = f"{source}:{line}"

    def num(t: str) -> float:
        return _number(t, where)

    f, s, stol, stol2 = tokens["head"]
    hkl = tokens["hkl"]
    column = [tuple(num(rows[r][c]) for r in range(3)) for c in range(3)]
    return PrintoutBlock(
        fast=int(f), slow=int(s), stol_m_inv=num(stol), stol_A_inv_from_twotheta=num(stol2),
        pixel_pos_m=tuple(num(t) for t in tokens["at"]),
        hkl_frac=tuple(num(t) for t in hkl[:3]),
        hkl_rounded=tuple(int(t) for t in hkl[3:]),
        F_cell=num(tokens["F"][0]), F_latt=num(tokens["F"][1]), I=num(tokens["F"][2]),
        I_over_steps=num(tokens["I/steps"][0]), polar=num(tokens["polar"][0]),
        omega=num(tokens["omega"][0]), capfrac=num(tokens["capfrac"][0]),
        pixel=num(tokens["pixel"][0]),
        a_angstroms=column[0], b_angstroms=column[1], c_angstroms=column[2],
        tokens=tokens, line=line,
    )


#: Printout fields that are the pixel's final values → contract keys.
PRINTOUT_FINAL_KEYS = (
    ("I", "I_before_scaling"),
    ("polar", "polar_applied"),
    ("omega", "omega_applied_sr"),
    ("capfrac", "capture_fraction_applied"),
    ("pixel", "I_pixel_final"),
)
#: Printout fields of the last loop iteration → contract step keys.
PRINTOUT_LAST_STEP_KEYS = ("hkl_frac", "hkl_rounded", "F_cell", "F_latt",
                           "rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")


def parse_printout_log(text: str, source: str = "<string>") -> TraceLog:
    """A stock printout as a trace frame, engine ``PRINTOUT``.

    Final values become final-stage records. ``I/steps`` is kept as the extra key
    ``I_over_steps``; so are polar/omega/capfrac when the console says nanoBragg oversampled
    that factor (``... pixel oversample steps +polar``). Last-iteration values become step
    records with ``phi_tic = mos_tic = -2`` (meaning "the last iteration"); the aligner
    matches them to the candidate's last step when the candidate's trace holds a single
    sub-pixel, source and layer.
    """
    blocks = parse_printout_text(text, source)
    if not blocks:
        raise TraceFormatError(f"{source}:1: no printout block found")
    # With -oversample_polar/_omega/_thick nanoBragg applies that factor inside the loop and
    # prints the last value it computed, not the one the final scaling used (which is then 1):
    # such a field is kept as an extra key, listed, never compared with the *_applied key.
    oversampled = set(re.findall(r"\+(polar|omega|thick)\b",
                                 " ".join(re.findall(r"pixel oversample steps(.*)", text))))
    renamed = {"polar": "polar_last_computed", "omega": "omega_last_computed_sr",
               "capfrac": "capture_fraction_last_computed"}
    flag_of = {"polar": "polar", "omega": "omega", "capfrac": "thick"}
    builder = _RecordBuilder(source, on_duplicate="error")
    builder.infer = False
    none = _NO_INDICES
    last = (-2, -2, NO_INDEX, NO_INDEX, NO_INDEX)  # phi_tic = mos_tic = -2: "last iteration"
    for b in blocks:
        pixel = (b.slow, b.fast)
        t = b.tokens
        builder.add(b.line, "PRINTOUT", pixel, "meta", none, "trace_pixel",
                    [str(b.slow), str(b.fast)])
        # Upstream's formats: %g (6 digits) for I, F_cell, F_latt; %15.10g for the rest.
        builder.add(b.line, "PRINTOUT", pixel, "final", none, "I_before_scaling", [t["F"][2]],
                    digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "extra", none, "I_over_steps", [t["I/steps"][0]],
                    digits=10)
        for field_name, key in PRINTOUT_FINAL_KEYS[1:]:
            stage = "final"
            if flag_of.get(field_name) in oversampled:
                stage, key = "extra", renamed[field_name]
            builder.add(b.line, "PRINTOUT", pixel, stage, none, key, [t[field_name][0]],
                        digits=10)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_frac", list(t["hkl"][:3]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_rounded", list(t["hkl"][3:]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_cell", [t["F"][0]], digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_latt", [t["F"][1]], digits=6)
        cell = t["cell"]
        for c, key in enumerate(("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")):
            builder.add(b.line, "PRINTOUT", pixel, "phi", last, key,
                        [cell[c], cell[3 + c], cell[6 + c]])
    # upstream prints %g (6 digits) and %15.10g; the fewer digits bound the comparison
    return TraceLog(source, builder.records(exact=False), "printout", inferred_precision=("%g", 6))

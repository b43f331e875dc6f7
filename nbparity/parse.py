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

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

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


class _LazyFrame:
    """A dataclass field holding a frame that may be given as its builder (an object with a
    ``frame()`` method, e.g. ``_StepRecords``): built on first access, then kept."""

    def __set_name__(self, owner, name: str):
        self.name = "_" + name

    def __get__(self, obj, objtype=None):
        if obj is None:
            raise AttributeError(self.name)  # (to dataclasses: the field has no default)
        value = obj.__dict__[self.name]
        if not isinstance(value, pd.DataFrame) and hasattr(value, "frame"):
            value = obj.__dict__[self.name] = value.frame()
        return value

    def __set__(self, obj, value) -> None:
        obj.__dict__[self.name] = value


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
    records: pd.DataFrame = _LazyFrame()  # (a contract log's is built when first asked for)
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

    @property
    def _steps(self) -> _StepRecords | None:
        """The fast path's compact records, while ``records`` has not been built from them."""
        value = self.__dict__.get("_records")
        return value if isinstance(value, _StepRecords) else None

    def meta(self, key: str) -> str | None:
        """The first value of a meta key (e.g. ``dtype``), as printed; None if absent."""
        if self._steps is not None:
            return self._steps.meta(key)
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
        if self._steps is not None:
            return self._steps.engines()
        return sorted(self.records["engine"].unique())

    @property
    def pixels(self) -> list[tuple[int, int]]:
        # a step record's pixel is that of a trace_pixel line above it, a slow record's
        records = self._steps.slow if self._steps is not None else self.records
        slow, fast = records.slow.to_numpy(), records.fast.to_numpy()
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


def _parse_log(log: _LogText, source: str, keymap: KeyMap | None = None,
               fast_path: bool = True) -> TraceLog:
    """``fast_path`` False: the caller's fast path already found that this log needs the line
    reader."""
    contract = _TRACE_PIXEL_RE.search(log.data) is not None
    if not contract and _looks_like_printout(log.text):
        return parse_printout_log(log.text, source)
    # A contract log is exact when it prints round-trip digits (%.17g); a contract-shaped log
    # written by hand or by a port with %g or %.6f is read at the precision it prints.
    exact = contract and _FULL_DIGITS_RE.search(log.data) is not None
    if exact and fast_path:
        fast = _parse_contract_fast(_memory_blocks(log.newline_separated()), source, keymap)
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


def _parse_lines(builder: _RecordBuilder, numbered_lines, contract: bool) -> int:
    """The line-by-line reader (``nbparity.legacy``); returns how many lines it ignored."""
    from nbparity import legacy  # (imports this module: loaded once this one is)

    return legacy.read_lines(builder, numbered_lines, contract)


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


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges start..start+length-1 (token positions of records)."""
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


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
    ignored = _parse_lines(builder, scan.others, contract=True)
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


def _concat(parts: list[np.ndarray], dtype=None) -> np.ndarray:
    """The parts in one array (of ``dtype`` when every value fits it), the parts released."""
    out = np.concatenate(parts) if len(parts) != 1 else parts[0]
    parts.clear()
    if dtype is not None and out.size and np.dtype(dtype).itemsize < out.dtype.itemsize:
        info = np.iinfo(dtype)
        if info.min <= out.min() and out.max() <= info.max:
            out = out.astype(dtype)
    return out


@dataclass
class _Coded:
    """A string column as codes into a few names (made into strings once, at assembly)."""

    names: list[str]
    codes: np.ndarray

    def strings(self) -> np.ndarray:
        return np.asarray(self.names, dtype=object)[self.codes]


#: the string dtype a frame gives a column of str objects (pandas >= 3: "str")
_STR_DTYPE = pd.Series(np.array(["x"], dtype=object)).dtype


class _StepRecords:
    """A contract log's records as the fast path read them, compact and column-wise: the step
    lines (names as codes, numbers as int32/float64 columns, each record's values as a run of
    tokens and numbers) and the line reader's records (``slow``, a small frame).

    ``frame()`` builds ``TraceLog.records`` from them (the step lines' records interleaved with
    the slow records in line order). The comparison reads columns without that frame, at
    *positions*: 0..n_steps-1 are the step records in line order, then the slow records.
    """

    def __init__(self, slow: pd.DataFrame, line, engine, engine_names, key, key_names, phi,
                 mos, counts, values, tokens, pixel_slow, pixel_fast, pixel_firsts):
        self.slow = slow
        self.line, self.engine, self.engine_names = line, engine, engine_names
        self.key, self.key_names = key, key_names
        self.phi, self.mos, self.counts = phi, mos, counts
        self.values, self.tokens = values, tokens  # per token
        self.token_at = np.concatenate(([0], np.cumsum(counts, dtype=np.int64)))
        self.pixel_slow, self.pixel_fast = pixel_slow, pixel_fast
        self.pixel_firsts = pixel_firsts  # the first step record of each trace_pixel line
        self.n_steps = line.size
        self.width = max(int(counts.max()), slow.attrs.get("width", 1))
        self._owner: np.ndarray | None = None

    def __len__(self) -> int:
        return self.n_steps + len(self.slow)

    # ------------------------------------------------------------------ names of step keys

    def _by_key(self, table: dict) -> tuple[list[str], np.ndarray]:
        """Names per key (stage or kind; "" for a key outside the catalogue) and each key's
        code into them."""
        names = list(dict.fromkeys(table.get(k) or "" for k in self.key_names))
        index = {name: i for i, name in enumerate(names)}
        return names, np.array([index[table.get(k) or ""] for k in self.key_names], np.int64)

    def owner(self) -> np.ndarray:
        """Each step record's pixel (index into the trace_pixel lines)."""
        if self._owner is None:
            bounds = np.append(self.pixel_firsts, self.n_steps)
            self._owner = np.repeat(np.arange(self.pixel_firsts.size, dtype=np.int32),
                                    np.diff(bounds))
        return self._owner

    # ------------------------------------------------------------------ the frame

    def step_columns(self) -> dict:
        """The step lines' records, column by column, as the line reader would make them."""
        n = self.n_steps
        owner = self.owner()
        stage_names, stage_of = self._by_key(_STAGE_OF)
        kind_names, kind_of = self._by_key(_KIND_OF)
        key = self.key.astype(np.int64)
        counts = self.counts.astype(np.int64)
        columns = {
            "engine": _Coded(self.engine_names, self.engine.astype(np.int64)),
            "slow": self.pixel_slow[owner], "fast": self.pixel_fast[owner],
            # names no step line uses (a key the line reader got) may lack a stage or kind: ""
            "stage": _Coded(stage_names, stage_of[key]),
            "phi_tic": self.phi.astype(np.int64), "mos_tic": self.mos.astype(np.int64),
            "sub": np.full(n, NO_INDEX), "src": np.full(n, NO_INDEX),
            "thick": np.full(n, NO_INDEX),
            "key": _Coded(self.key_names, key), "kind": _Coded(kind_names, kind_of[key]),
            "arity": counts, "mask": (1 << counts) - 1,
        }
        step_width = int(self.counts.max())
        for j in range(self.width):
            columns[f"v{j}"] = (self.component(np.arange(n), j) if j < step_width
                                else np.full(n, np.nan))
        columns.update(text=self.texts(np.arange(n)).to_numpy(zero_copy_only=False),
                       resolution=np.zeros(n), line=self.line)
        return columns

    def frame(self) -> pd.DataFrame:
        return _interleave(self.slow, self.step_columns(), self.width)

    def has_duplicates(self) -> bool:
        """Whether two step records share a record (pixel, phi_tic, mos_tic, key)."""
        dims = [self.pixel_firsts.size, int(self.phi.max()) + 1, int(self.mos.max()) + 1,
                len(self.key_names)]
        if math.prod(dims) >= 2**62:
            return True  # cannot pack: let pandas decide
        packed = np.ravel_multi_index((self.owner(), self.phi, self.mos, self.key), dims)
        if (packed[1:] > packed[:-1]).all():
            return False  # the usual loop order: strictly increasing, no sort needed
        packed.sort()
        return bool((packed[1:] == packed[:-1]).any())

    # ------------------------------------------------------------------ columns at positions

    def _split(self, at: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Which positions are step records, and the slow records' rows of the others."""
        step = at < self.n_steps
        return step, at[~step] - self.n_steps

    def comparable(self) -> np.ndarray:
        """Positions of the records that are not meta (meta keys are never compared)."""
        stage_names, stage_of = self._by_key(_STAGE_OF)
        meta = np.array([name == "meta" for name in stage_names], dtype=bool)[stage_of]
        steps = (np.arange(self.n_steps) if not meta.any()
                 else np.flatnonzero(~meta[self.key]))
        slow = np.flatnonzero(self.slow.stage.to_numpy() != "meta") + self.n_steps
        return np.concatenate((steps, slow))

    def ints(self, name: str, at: np.ndarray) -> np.ndarray:
        """An integer column (pixel, loop indices, mask, arity, line) at positions ``at``."""
        step, slow_rows = self._split(at)
        out = np.empty(at.size, np.int64)
        steps = at[step] if not step.all() else at
        if name in ("slow", "fast"):
            pixel = self.pixel_slow if name == "slow" else self.pixel_fast
            column = pixel[self.owner()[steps]]
        elif name in ("phi_tic", "mos_tic"):
            column = (self.phi if name == "phi_tic" else self.mos)[steps]
        elif name in ("sub", "src", "thick"):
            column = NO_INDEX
        elif name in ("mask", "arity"):
            counts = self.counts[steps].astype(np.int64)
            column = (1 << counts) - 1 if name == "mask" else counts
        else:
            column = getattr(self, name)[steps]
        out[step] = column
        if slow_rows.size:
            out[~step] = self.slow[name].to_numpy()[slow_rows]
        return out

    def floats(self, name: str, at: np.ndarray) -> np.ndarray:
        """A float column (``v<j>``, ``resolution``) at positions ``at``."""
        step, slow_rows = self._split(at)
        out = np.empty(at.size)
        if name == "resolution":
            out[step] = 0.0
        else:
            out[step] = self.component(at[step] if not step.all() else at, int(name[1:]))
        if slow_rows.size:
            slow = self.slow[name].to_numpy() if name in self.slow else np.full(len(self.slow),
                                                                              np.nan)
            out[~step] = slow[slow_rows]
        return out

    def component(self, steps: np.ndarray, j: int) -> np.ndarray:
        """Value component ``j`` of step records ``steps`` (NaN where a record has fewer)."""
        counts = self.counts[steps]
        present = j < counts
        out = np.full(steps.size, np.nan)
        out[present] = self.values[self.token_at[steps[present]] + j]
        return out

    def coded(self, name: str, at: np.ndarray) -> tuple[np.ndarray, list[str]]:
        """A string column (stage, key, kind, engine) at positions ``at`` as codes into names
        (names unique; some may not occur at ``at``)."""
        step, slow_rows = self._split(at)
        if name == "key":
            names, of_key = list(self.key_names), None
        elif name == "engine":
            names, of_key = list(self.engine_names), None
        else:
            names, of_key = self._by_key(_STAGE_OF if name == "stage" else _KIND_OF)
        column = self.engine if name == "engine" else self.key
        codes = np.empty(at.size, np.int64)
        steps = column[at[step] if not step.all() else at].astype(np.int64)
        codes[step] = steps if of_key is None else of_key[steps]
        if slow_rows.size:
            slow_codes, slow_names = pd.factorize(self.slow[name].to_numpy()[slow_rows])
            index = {n: i for i, n in enumerate(names)}
            for n in slow_names:
                index.setdefault(n, len(index))
            names = list(index)
            codes[~step] = np.array([index[n] for n in slow_names], np.int64)[slow_codes]
        return codes, names

    def texts(self, steps: np.ndarray) -> pa.Array:
        """The printed values of step records ``steps`` (their tokens, space-separated)."""
        counts = self.counts[steps].astype(np.int32)
        tokens = self.tokens.take(_ranges(self.token_at[steps], counts))
        offsets = np.concatenate(([0], np.cumsum(counts, dtype=np.int32)))
        lists = pa.ListArray.from_arrays(pa.array(offsets), tokens.combine_chunks()
                                         if isinstance(tokens, pa.ChunkedArray) else tokens)
        return pc.binary_join(lists, " ")

    def strings(self, name: str, at: np.ndarray, fill) -> pd.api.extensions.ExtensionArray:
        """``text`` or ``kind`` at positions ``at`` (-1: ``fill``), as the frame's column
        would give them (``records[name].array.take(at, allow_fill=True, fill_value=fill)``)."""
        present = at >= 0
        if name != "text":
            codes, names = self.coded(name, np.where(present, at, 0))
            out = _names_array(names, codes)
            return out if present.all() else out.take(np.where(present, np.arange(at.size), -1),
                                                      allow_fill=True, fill_value=fill)
        step = present & (at < self.n_steps)
        slow = present & ~step
        parts = [self.texts(at[step]), pa.array(self.slow.text.to_numpy()[at[slow]
                                                                         - self.n_steps],
                                                 pa.string()),
                 pa.array([fill], pa.string())]
        where = np.full(at.size, step.sum() + slow.sum(), np.int64)  # the fill
        where[step] = np.arange(step.sum())
        where[slow] = step.sum() + np.arange(slow.sum())
        joined = pa.chunked_array(parts, pa.string()).take(where)
        return pd.array(joined, dtype=_STR_DTYPE)

    # ------------------------------------------------------------------ what TraceLog asks

    def meta(self, key: str) -> str | None:
        rows = self.slow[self.slow.key == key]
        slow_line = int(rows.line.iloc[0]) if not rows.empty else None
        if key in self.key_names:
            first = np.flatnonzero(self.key == self.key_names.index(key))
            if first.size and (slow_line is None or self.line[first[0]] < slow_line):
                return str(self.texts(first[:1])[0].as_py())
        return None if slow_line is None else str(rows.text.iloc[0])

    def pixel_first_line(self, slow: int, fast: int) -> int:
        """The first line of a pixel (its trace_pixel line: step records come after it)."""
        records = self.slow
        return int(records[(records.slow == slow) & (records.fast == fast)].line.min())

    def engines(self) -> list[str]:
        used = np.flatnonzero(np.bincount(self.engine, minlength=len(self.engine_names)))
        return sorted({*self.slow.engine.unique(), *(self.engine_names[i] for i in used)})

    def unknown_key_lines(self) -> dict[str, int]:
        """The first line of each key outside the catalogue (step keys are all in it)."""
        extra = self.slow[~self.slow.key.isin(schema.NAMES)]
        return {key: int(line) for key, line in
                extra.groupby("key", sort=False)["line"].min().items()}


def _names_array(names: list[str], codes: np.ndarray):
    """``names[codes]`` as the string array a frame column of them would hold (built from the
    few names, so pandas need not check a million values)."""
    return pd.Index(names, dtype=None if names else object).array.take(codes)


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
        log_file = _read_file(path)
    except OSError as exc:
        raise TraceFormatError(f"{path}:0: cannot read ({exc.strerror or exc})") from None
    with log_file:
        try:
            fast = _parse_contract_stream(log_file, str(path), keymap)
            data = log_file.whole() if fast is _WHOLE or fast is None else None
        except OSError as exc:
            raise TraceFormatError(f"{path}:0: cannot read ({exc.strerror or exc})") from None
    if data is None:
        return fast
    if b"\x00" in data:
        raise TraceFormatError(f"{path}:1: binary data, not a trace log")
    if data.isascii():  # the common case: no need to decode (the fast path reads bytes)
        return _parse_log(_LogText(None, data), str(path), keymap, fast_path=fast is _WHOLE)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # stray bytes (a banner in Latin-1) do not make a log unreadable: they are kept as lone
        # surrogates, and the line reader skips and reports the TRACE lines that hold any
        text = data.decode("utf-8", "surrogateescape")
    return parse_trace_text(text, str(path), keymap)


#: _parse_contract_stream's answer for a log it leaves to the whole-file readers
_WHOLE = object()


def _parse_contract_stream(log_file: _LogFile, source: str, keymap: KeyMap | None):
    """A contract log read block by block (no copy of the whole file is ever held): its
    TraceLog; None when it needs the line reader; _WHOLE when the whole-file readers decide
    (a first block without a trace_pixel line or a full-precision number, NUL bytes, bytes
    that are not ASCII, line breaks other than "\n"): they give the same records."""
    scan = _StepScan()
    for data, size in log_file.blocks():
        if (b"\x00" in data or not data.isascii()
                or any(data.find(brk, 0, size) >= 0 for brk in _ASCII_OTHER_BREAKS)):
            return _WHOLE
        if scan.lines == 0 and not (_TRACE_PIXEL_RE.search(data, 0, size)
                                    and _FULL_DIGITS_RE.search(data, 0, size)):
            return _WHOLE  # (a legacy log, a printout, a contract log printed with %g)
        scan.add(data, size)
    if scan.lines == 0:
        return _WHOLE  # an empty file
    return _finish_contract(scan, source, keymap)


class _LogFile:
    """A log file, open: read in blocks of whole lines, or whole."""

    def __init__(self, path: Path):
        self.stream = path.open("rb")

    def __enter__(self) -> _LogFile:
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()

    def blocks(self):
        """(data, size): data[:size] is whole lines, about _BLOCK_BYTES of them (the last
        block: the rest of the file, its last line perhaps without a newline)."""
        pending: list[bytes] = []  # a line longer than a block, so far
        while True:
            chunk = self.stream.read(_BLOCK_BYTES)
            if not chunk:
                if pending:
                    data = b"".join(pending)
                    yield data, len(data)
                return
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pending.append(chunk)
                continue
            data = b"".join([*pending, chunk]) if pending else chunk
            yield data, len(data) - len(chunk) + cut
            pending = [chunk[cut:]] if cut < len(chunk) else []

    def whole(self) -> bytearray:
        """The file's bytes, from its start."""
        self.stream.seek(0)
        size = os.fstat(self.stream.fileno()).st_size
        data = bytearray(size)
        del data[self.stream.readinto(data):]
        data += self.stream.read()  # a file that grew meanwhile
        return data


def _read_file(path: Path) -> _LogFile:
    """The log file, opened for reading (in blocks, or whole)."""
    return _LogFile(path)


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

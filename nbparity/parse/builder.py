"""The records a line reader finds, collected column-wise (``_RecordBuilder``): numbers are
converted once, vectorised, when the frame of records is made; repeated keys, skipped lines and
alias clashes are collected on the way."""

from __future__ import annotations

import math
import re
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity import schema
from nbparity.keymap import BUILTIN
from nbparity.parse.precision import _prints_as_17g, _resolution, infer_precision
from nbparity.parse.records import (
    _INT_RE,
    _KNOWN,
    _SPECIAL,
    INDEX_TOKENS,
    NO_INDEX,
    RECORD_ID,
    DuplicateRecordError,
    TraceFormatError,
    is_number,
)

if TYPE_CHECKING:
    from nbparity.keymap import KeyMap

#: the key a skipped TRACE line names: the first name after its head and any name=value
#: fields (phi_tic=0, spixel=685, ...)
_SKIPPED_KEY_RE = re.compile(r"TRACE\w*[:\s]\s*(?:[A-Za-z_]\w*=\S*\s+)*([A-Za-z_]\w*)")


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
        # shape -> [count, example, first line, the keys its lines name]
        self.skipped: dict[str, list] = {}
        self.notes: dict[tuple[str, str], dict] = {}
        self.ambiguous: set[int] = set()
        self.precision: tuple[str, int] | None = None
        # False where the formats are known field by field (a stock printout's %f fields):
        # each token then counts as printed
        self.infer = True
        #: the log promises %.17g (the contract): a token that is what %.17g prints is exact
        self.round_trip = False

    def skip(self, shape: str, lineno: int, text: str) -> None:
        """A line (or part of one) not read, grouped by ``shape``. The key the line names
        (under its key map's or the built-in alias's target) is kept: a record of that key
        the log then lacks was lost, not a key the log never prints."""
        entry = self.skipped.get(shape)
        if entry is None:
            entry = self.skipped[shape] = [0, text.strip()[:200], lineno, set()]
        entry[0] += 1
        named = _SKIPPED_KEY_RE.search(text)
        if named:
            key = named.group(1)
            alias = (self.keymap.get(key) if self.keymap else None) or BUILTIN.get(key)
            entry[3].add(alias.target if alias is not None else key)

    def note(self, kind: str, key: str, lines: list[int], text: str) -> None:
        self.notes.setdefault((kind, key), {"kind": kind, "key": key, "lines": lines,
                                            "text": text})

    def skipped_list(self) -> list[dict]:
        return [{"shape": shape, "count": count, "example": example, "line": line,
                 "keys": sorted(keys)}
                for shape, (count, example, line, keys) in sorted(self.skipped.items(),
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
                if not is_number(token):
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


def _guess_kind(tokens: list[str]) -> str:
    if tokens and all(_INT_RE.match(t) for t in tokens):
        return "int"
    if tokens and all(is_number(t) for t in tokens):
        return "real"
    return "word"

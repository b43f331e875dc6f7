"""``TraceLog``: a parsed log (its records, how it prints, what the reader skipped or noticed),
and ``_explode``, its records as the tidy one-row-per-component frame."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from nbparity.parse.columns import _StepRecords
from nbparity.parse.records import COLUMNS, RECORD_ID


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
    def skipped_keys(self) -> frozenset[str]:
        """The keys the skipped lines name: the log prints them, a record of one it lacks is
        lost (``Comparison.incomplete``), not a difference of vocabulary."""
        return frozenset(key for item in self.skipped for key in item.get("keys", ()))

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

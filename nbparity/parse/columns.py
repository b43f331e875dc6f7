"""A contract log's records as the fast path keeps them: compact columns (``_StepRecords``:
names as codes, numbers as int32/float64 arrays, values as a run of tokens per record), read by
the comparison at positions without a frame, and made into ``TraceLog.records`` only when asked
for (``_interleave``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from nbparity import schema
from nbparity.parse.records import _KIND_OF, _STAGE_OF, NO_INDEX


def _ranges(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """The concatenated ranges start..start+length-1 (token positions of records)."""
    total = int(lengths.sum())
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


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

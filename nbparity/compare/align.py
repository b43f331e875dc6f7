"""Two logs' records joined record by record: each log read at positions (``_Side``: a frame,
or a contract log's compact records), pixels resolved (a printout's pixel, a trace_pixel the
other log lacks), a printout's last-iteration records mapped onto a step, and every record put
in pipeline order through one packed int64 key (``_align``), with no pandas merge or sort."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbparity import schema
from nbparity.parse import INDEX_TOKENS, TraceLog
from nbparity.parse.columns import _names_array

RECORD_COLUMNS = ["slow", "fast", "stage", *INDEX_TOKENS, "key"]
_ID_COLUMNS = ["slow", "fast", *INDEX_TOKENS]  # the integer ones


class StructuralMismatch(ValueError):
    """The logs cannot be compared record by record (exit code 3)."""


# --------------------------------------------------------------------------- records

class _FrameSource:
    """A log's records frame read at positions (its rows), as ``_StepRecords`` reads a
    contract log's compact records."""

    def __init__(self, records: pd.DataFrame):
        self.records = records
        self.width = records.attrs.get("width", 1)
        self._coded: dict[str, tuple[np.ndarray, list]] = {}

    def __len__(self) -> int:
        return len(self.records)

    def comparable(self) -> np.ndarray:
        return np.flatnonzero(self.records.stage.to_numpy() != "meta")

    def ints(self, name: str, at: np.ndarray) -> np.ndarray:
        return self.records[name].to_numpy()[at]

    def floats(self, name: str, at: np.ndarray) -> np.ndarray:
        return self.records[name].to_numpy()[at]

    def coded(self, name: str, at: np.ndarray) -> tuple[np.ndarray, list]:
        if name not in self._coded:
            codes, names = pd.factorize(self.records[name].to_numpy())
            self._coded[name] = codes, list(names)
        codes, names = self._coded[name]
        return codes[at], names

    def strings(self, name: str, at: np.ndarray, fill):
        return self.records[name].array.take(at, allow_fill=True, fill_value=fill)

    def pixel_first_line(self, slow: int, fast: int) -> int:
        records = self.records
        return int(records[(records.slow == slow) & (records.fast == fast)].line.min())

    def unknown_key_lines(self) -> dict[str, int]:
        extra = self.records[~self.records.key.isin(schema.NAMES)]
        return {key: int(line) for key, line in
                extra.groupby("key", sort=False)["line"].min().items()}


class _Side:
    """One log's comparable records (meta excluded): ``rows``, their positions in the log's
    records (``src``), their alignment columns (``id``; ``ids`` holds those alignment
    rewrote), and their stage and key as codes into names both sides share."""

    def __init__(self, log: TraceLog):
        self.log = log
        steps = log._steps
        self.src = steps if steps is not None else _FrameSource(log.records)
        self.rows = self.src.comparable()
        self.ids: dict[str, np.ndarray] = {}
        self.stage = self.key = np.zeros(0, np.int64)

    def id(self, name: str, local: np.ndarray | None = None) -> np.ndarray:
        """Alignment column ``name`` at the comparable records ``local`` (all when None)."""
        if name in self.ids:
            return self.ids[name] if local is None else self.ids[name][local]
        return self.src.ints(name, self.rows if local is None else self.rows[local])

    def position(self, local: np.ndarray) -> np.ndarray:
        """Positions in the log's records of comparable records ``local`` (-1 stays -1)."""
        return _take(self.rows, local, -1)

    def take(self, name: str, at: np.ndarray, fill) -> np.ndarray:
        """Column ``name`` of the log's records at positions ``at``; ``fill`` where -1."""
        if len(self.src) == 0:
            return np.full(at.size, fill, dtype=np.float64 if fill is np.nan else np.int64)
        read = self.src.floats if name == "resolution" or name[0] == "v" else self.src.ints
        out = read(name, np.maximum(at, 0))
        out[at < 0] = fill
        return out

    def take_strings(self, name: str, at: np.ndarray, fill):
        """A string column at positions ``at``, kept a pandas string array (no per-value check);
        ``fill`` where ``at`` is -1 (None: the column's missing value)."""
        return self.src.strings(name, at, fill)

    def values(self, at: np.ndarray, width: int) -> np.ndarray:
        """(component, record) values at positions ``at``; NaN where ``at`` is -1 or past the
        log's width."""
        out = np.full((width, at.size), np.nan)
        present = at >= 0
        for j in range(min(width, self.src.width)):
            out[j, present] = self.src.floats(f"v{j}", at[present])
        return out


def _sides(reference: TraceLog, candidate: TraceLog) -> tuple[_Side, _Side, dict]:
    """Both logs' comparable records, with stage and key codes into names they share
    (``names``: "stage" and "key" -> list)."""
    ref, cand = _Side(reference), _Side(candidate)
    names = {}
    for name in ("stage", "key"):
        joint: dict = {}
        for side in (ref, cand):
            codes, side_names = side.src.coded(name, side.rows)
            remap = np.array([joint.setdefault(n, len(joint)) for n in side_names], np.int64)
            setattr(side, name, remap[codes] if remap.size else codes.astype(np.int64))
        names[name] = list(joint)
    return ref, cand, names


def _take(column: np.ndarray, at: np.ndarray, fill) -> np.ndarray:
    """``column[at]``, ``fill`` where ``at`` is -1."""
    if column.size == 0:
        return np.full(at.size, fill, dtype=column.dtype)
    out = column[np.maximum(at, 0)]
    out[at < 0] = fill
    return out


def _resolve_pixels(ref: _Side, cand: _Side) -> None:
    """Check both logs trace the same pixels; legacy logs with no pixel take the other's."""
    ref_pix, cand_pix = set(ref.log.pixels), set(cand.log.pixels)
    unknown = (-1, -1)  # a legacy log that never says which pixel it traces
    for side, pixels in ((ref, ref_pix), (cand, cand_pix)):
        negative = sorted(p for p in pixels if min(p) < 0
                          and (p != unknown or side.log.grammar == "contract"))
        if negative:
            s, f = negative[0]
            line = side.src.pixel_first_line(s, f)
            raise StructuralMismatch(f"{side.log.source}:{line}: pixel ({s}, {f}) "
                                     f"has a negative index; pixels are zero-based")
    if ref_pix == {unknown} and len(cand_pix) == 1:
        for name, value in zip(("slow", "fast"), next(iter(cand_pix))):
            ref.ids[name] = np.full(ref.rows.size, value, np.int64)
        ref_pix = cand_pix
    if cand_pix == {unknown} and len(ref_pix) == 1:
        for name, value in zip(("slow", "fast"), next(iter(ref_pix))):
            cand.ids[name] = np.full(cand.rows.size, value, np.int64)
        cand_pix = ref_pix
    if not ref_pix & cand_pix:
        raise StructuralMismatch(
            f"the logs trace different pixels: {ref.log.source} has {_pixels_text(ref_pix)}, "
            f"{cand.log.source} has {_pixels_text(cand_pix)}")


def _pixels_text(pixels: set[tuple[int, int]]) -> str:
    return ", ".join(f"({s}, {f})" for s, f in sorted(pixels))


_NOT_COMPARABLE = "not-comparable"  # the stage of last-iteration records no step matches


def _map_last_iteration(ref: _Side, cand: _Side, names: dict) -> None:
    """Printout last-iteration records (phi_tic = -2) → the candidate's last step, if knowable."""
    last = ref.id("phi_tic") == -2
    if not last.any():
        return
    for token in INDEX_TOKENS:
        ref.ids[token] = ref.id(token).copy()
    single = all(cand.log.meta(k) in (None, "1") for k in ("sources", "oversample"))
    cand_ids = pd.DataFrame({name: cand.id(name) for name in _ID_COLUMNS})
    cand_ids["stage"] = np.asarray(names["stage"], dtype=object)[cand.stage]
    steps = cand_ids[cand_ids.stage == "phi"]
    if single and not steps.empty:
        for (slow, fast), rows in steps.groupby(["slow", "fast"]):
            final = rows.sort_values(["phi_tic", "mos_tic"]).iloc[-1]
            at = last & (ref.id("slow") == slow) & (ref.id("fast") == fast)
            for token in INDEX_TOKENS:
                ref.ids[token][at] = final[token]
    if _NOT_COMPARABLE not in names["stage"]:
        names["stage"].append(_NOT_COMPARABLE)
    ref.stage = ref.stage.copy()
    ref.stage[ref.id("phi_tic") == -2] = names["stage"].index(_NOT_COMPARABLE)


# --------------------------------------------------------------------------- alignment

@dataclass
class _Aligned:
    """Every record of either log once, in pipeline order: its comparable record in each log
    (-1 where that log lacks it), its stage and key as codes into stage_names / key_names."""

    at_r: np.ndarray
    at_x: np.ndarray
    stage_code: np.ndarray
    stage_names: list[str]
    key_code: np.ndarray
    key_names: list[str]
    key_rank: np.ndarray  # pipeline rank of each of key_names


def _align(ref: _Side, cand: _Side, names: dict) -> _Aligned:
    """Join the logs on their records (pixel, stage, loop indices, key) and order the result as
    first-divergence walks it: per pixel, stage, then phi_tic, mos_tic, thick, sub, src, then
    key order. Both are done on one int64 per record that packs those columns."""
    stages, (ref.stage, cand.stage) = _sorted_codes(names["stage"], (ref.stage, cand.stage))
    key_names, (ref.key, cand.key) = _sorted_codes(names["key"], (ref.key, cand.key))
    # a not-comparable record is reported as a step record, in the place of one
    stage_rank = np.array([schema.stage_rank("phi" if s == _NOT_COMPARABLE else s)
                           for s in stages], np.int64)
    key_rank = _key_ranks(key_names, ref, cand)

    def both(column):
        return lambda: np.concatenate((column(ref), column(cand)))

    packed = _pack([both(lambda s: s.id("slow")), both(lambda s: s.id("fast")),
                    both(lambda s: stage_rank[s.stage]), both(lambda s: s.id("phi_tic")),
                    both(lambda s: s.id("mos_tic")), both(lambda s: s.id("thick")),
                    both(lambda s: s.id("sub")), both(lambda s: s.id("src")),
                    both(lambda s: key_rank[s.key]), both(lambda s: s.key),
                    both(lambda s: s.stage)])
    n_ref = ref.rows.size
    at_r, at_x = _match(packed[:n_ref], packed[n_ref:], ref, cand, key_names)
    del packed
    present_r = at_r >= 0

    def pick(ref_column, cand_column):
        return np.where(present_r, _take(ref_column, at_r, 0), _take(cand_column, at_x, 0))

    return _Aligned(at_r, at_x, pick(ref.stage, cand.stage), stages,
                    pick(ref.key, cand.key), key_names, key_rank)


def _key_ranks(key_names: list[str], ref: _Side, cand: _Side) -> np.ndarray:
    """Pipeline order of each key: the catalogue's, then keys outside it in the order the logs
    first print them (the reference's lines first), never alphabetically."""
    known = np.array([schema.key_rank(k) for k in key_names], np.int64)
    unknown = [k for k in key_names if not schema.is_known(k)]
    if not unknown:
        return known
    first: dict[str, tuple[int, int]] = {}
    for side_rank, side in enumerate((ref, cand)):
        for key, line in side.src.unknown_key_lines().items():
            first.setdefault(key, (side_rank, line))
    order = sorted(unknown, key=lambda k: first.get(k, (2, 0)))
    rank_of = {k: len(schema.CATALOGUE) + i for i, k in enumerate(order)}
    return np.array([rank_of.get(k, r) for k, r in zip(key_names, known)], np.int64)


def _names_at(names: list[str], codes: np.ndarray):
    """``names[codes]`` as the string array a frame column of them would hold (built from the
    few names, so pandas need not check a million values)."""
    return _names_array(names, codes)


def _sorted_codes(names: list, columns: tuple[np.ndarray, ...]
                  ) -> tuple[list, tuple[np.ndarray, ...]]:
    """The sorted names that occur in the code columns, and the columns recoded into them
    (code order is name order)."""
    used = np.zeros(len(names), dtype=bool)
    for column in columns:
        used[np.unique(column)] = True
    order = sorted(np.flatnonzero(used).tolist(), key=names.__getitem__)
    rank = np.full(len(names), -1, np.int64)
    rank[order] = np.arange(len(order))
    return [names[i] for i in order], tuple(rank[column] for column in columns)


def _pack(columns: list) -> np.ndarray:
    """One int64 per row that orders rows as the columns do (first column first) and is equal
    exactly where all columns are (a mixed-radix number; re-ranked before it could overflow).
    ``columns``: functions that make each column (one is held at a time)."""
    packed = None
    span = 1
    for make in columns:
        column = make()
        if packed is None:
            packed = np.zeros(column.size, np.int64)
        low, high = (int(column.min()), int(column.max())) if column.size else (0, 0)
        if low == high:
            continue  # a constant column (often sub, src, thick) neither orders nor tells apart
        radix = high - low + 1
        if span * radix >= 2**62:
            packed = np.unique(packed, return_inverse=True)[1].astype(np.int64)
            span = int(packed.max(initial=0)) + 1
            if span * radix >= 2**62:
                column, low = np.unique(column, return_inverse=True)[1].astype(np.int64), 0
                radix = int(column.max(initial=0)) + 1
        packed *= radix
        packed += column
        if low:
            packed -= low
        span *= radix
    return packed


def _match(ref_keys: np.ndarray, cand_keys: np.ndarray, ref: _Side, cand: _Side,
           key_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """For every key of either log, in key order: its position in each log's keys, -1 where
    that log lacks it."""
    ref_order = np.argsort(ref_keys, kind="stable")  # fast on the nearly sorted keys of a log
    if ref_keys.size == cand_keys.size and np.array_equal(ref_keys, cand_keys):
        _check_unique(ref_keys[ref_order], ref_order, ref, key_names)
        return ref_order, ref_order  # the usual case: the same records in the same order
    cand_order = np.argsort(cand_keys, kind="stable")
    ref_sorted, cand_sorted = ref_keys[ref_order], cand_keys[cand_order]
    _check_unique(ref_sorted, ref_order, ref, key_names)
    _check_unique(cand_sorted, cand_order, cand, key_names)
    keys = np.concatenate([ref_sorted, cand_sorted])
    keys.sort(kind="stable")  # merges the two sorted runs
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return _positions(ref_sorted, ref_order, keys), _positions(cand_sorted, cand_order, keys)


def _check_unique(ordered: np.ndarray, order: np.ndarray, side: _Side,
                  key_names: list[str]) -> None:
    """A parsed log holds each record once; only a last-iteration record mapped onto a step
    the log also holds could repeat one."""
    twice = np.flatnonzero(ordered[1:] == ordered[:-1])
    if twice.size:
        i = order[twice[:1]]
        raise StructuralMismatch(f"{side.log.source} holds record {key_names[side.key[i[0]]]} "
                                 f"for pixel {side.id('slow', i)[0]} {side.id('fast', i)[0]} "
                                 f"twice")


def _positions(ordered: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Where each of ``keys`` is in the keys that ``order`` sorts into ``ordered``; -1 if not."""
    if ordered.size == 0:
        return np.full(keys.size, -1)
    at = np.minimum(np.searchsorted(ordered, keys), ordered.size - 1)
    return np.where(ordered[at] == keys, order[at], -1)

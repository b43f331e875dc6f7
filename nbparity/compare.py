"""Alignment of two logs under the trace contract's tolerance model (``nbparity.tolerance``).

``compare_logs(reference, candidate, tolerance)`` joins two parsed logs record by record and
returns a ``Comparison``: one row per record (a key at a pixel and loop indices; the components
of a vector form one record) with the reference value, the candidate value, abs and rel error,
and a status:

- ``pass`` / ``fail``: the contract's test, scalar ``|x - r| <= atol + rtol |r|``, vector
  ``||x - r|| <= atol + rtol ||r||``; integers and words compare exactly;
- ``precision-limited``: a log printed fewer digits than the tolerance needs, and the values
  agree within what was printed (half a unit in the last printed digit of each side, as the
  reader inferred each log's precision) and within ``PRECISION_LIMITED_MAX_REL``;
- ``both-nan``: NaN on both sides (a failure unless ``nan_equal``); numbers only: words
  (``MOSFLM``, ``CUSTOM``) compare as text, equal or not, whatever ``nan_equal`` says;
- ``ambiguous``: the values agree, but a log printed the record more than once with
  different values (its first is compared); not a failure, never a plain pass;
- ``missing-candidate`` / ``missing-reference``: the record is on one side only;
- ``not-comparable``: a stock printout's last-iteration values, where the candidate's trace
  cannot say which step was last (several sub-pixels, sources or layers).

The reference is the C log (``r``), the candidate the other (``x``). Records are joined and put
in pipeline order through one packed int64 key per record (pixel, stage rank, loop indices, key
rank; see ``_align``), with no pandas merge or sort. A record that one log holds twice after
alignment (only a last-iteration record mapped onto a step that log also holds can be) is a
structural mismatch.

Size: the logs are read column by column where they are (a contract log's compact records,
``nbparity.parse.columns._StepRecords``, are never made a frame), the statuses are computed a
block of records at a time, and the comparison keeps per record only its row in each log, its
key and stage codes, its status and its relative error. ``Comparison.records`` (one row per record,
all columns) is built when first asked for; ``failed``, ``missing``, ``worst()``,
``incomplete``, the counts and ``select`` build only the rows they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nbparity import exitcodes, schema
from nbparity.parse import INDEX_TOKENS, TraceLog
from nbparity.parse.columns import _names_array
from nbparity.parse.log import _LazyFrame
from nbparity.tolerance import (
    AMBIGUOUS,
    FAILING,
    MISSING,
    PRECISION_LIMITED_MAX_REL,
    Tolerance,
)

RECORD_COLUMNS = ["slow", "fast", "stage", *INDEX_TOKENS, "key"]
_ID_COLUMNS = ["slow", "fast", *INDEX_TOKENS]  # the integer ones

#: records evaluated at a time when the statuses are computed (bounds the temporaries)
_CHUNK = 1 << 20


class StructuralMismatch(ValueError):
    """The logs cannot be compared record by record (exit code 3)."""


STATUSES = ("pass", "fail", "precision-limited", "both-nan", "missing-candidate",
            "missing-reference", "not-comparable", AMBIGUOUS)
(_PASS, _FAIL, _LIMITED, _BOTH_NAN, _MISSING_X, _MISSING_R, _NOT_COMPARED,
 _AMBIGUOUS) = range(len(STATUSES))
_CODE = {name: code for code, name in enumerate(STATUSES)}


def _codes_of(statuses) -> list[int]:
    return [_CODE[s] for s in statuses if s in _CODE]


@dataclass
class Comparison:
    """The aligned comparison of two logs; ``records`` is in pipeline order (built when first
    asked for: see the module's note on size)."""

    records: pd.DataFrame = _LazyFrame()
    reference: TraceLog
    candidate: TraceLog
    tolerance: Tolerance

    @property
    def _evaluated(self) -> _Evaluated | None:
        """The compact comparison, while ``records`` has not been built from it."""
        value = self.__dict__.get("_records")
        return value if isinstance(value, _Evaluated) else None

    def _where(self, statuses, keep: bool = True) -> pd.DataFrame:
        """The records whose status is (``keep``) or is not among ``statuses``."""
        ev = self._evaluated
        if ev is None:
            inside = self.records.status.isin(statuses)
            return self.records[inside if keep else ~inside]
        inside = np.isin(ev.status, _codes_of(statuses))
        return ev.rows(np.flatnonzero(inside if keep else ~inside))

    @property
    def failed(self) -> pd.DataFrame:
        return self._where(FAILING)

    @property
    def missing(self) -> pd.DataFrame:
        return self._where(MISSING)

    @property
    def compared(self) -> pd.DataFrame:
        return self._where(MISSING | {"not-comparable"}, keep=False)

    def count(self, statuses) -> int:
        """How many records have one of ``statuses``."""
        ev = self._evaluated
        if ev is None:
            return int(self.records.status.isin(statuses).sum())
        return int(np.isin(ev.status, _codes_of(statuses)).sum())

    @property
    def n_records(self) -> int:
        """How many records (rows of ``records``)."""
        ev = self._evaluated
        return len(self.records) if ev is None else ev.status.size

    def select(self, keys=None, stages=None, statuses=None, exclude=None) -> pd.DataFrame:
        """The records of ``keys`` and ``stages`` (all when None) whose status is among
        ``statuses`` and not among ``exclude``, as ``records`` filtered by them."""
        ev = self._evaluated
        if ev is None:
            rows = self.records
            if keys:
                rows = rows[rows.key.isin(keys)]
            if stages:
                rows = rows[rows.stage.isin(stages)]
            if statuses is not None:
                rows = rows[rows.status.isin(statuses)]
            if exclude is not None:
                rows = rows[~rows.status.isin(exclude)]
            return rows
        if not keys and not stages and statuses is None and exclude is None:
            return self.records
        filters = []
        if keys:
            filters.append((ev.key_code, [i for i, k in enumerate(ev.key_names) if k in keys],
                            True))
        if stages:
            filters.append((ev.stage_code, [i for i, s in enumerate(ev.shown_stages)
                                            if s in stages], True))
        if statuses is not None:
            filters.append((ev.status, _codes_of(statuses), True))
        if exclude is not None:
            filters.append((ev.status, _codes_of(exclude), False))
        # one filter after the other, as on the frame (the rows' index follows the chain)
        index, at = pd.RangeIndex(ev.status.size), np.arange(ev.status.size)
        for codes, wanted, inside in filters:
            keep = np.isin(codes[at], wanted) == inside
            index, at = index[keep], at[keep]
        return ev.rows(at, index)

    def keys_with_status(self, status: str) -> list[str]:
        """The keys of the records with ``status``, in record order, each once."""
        ev = self._evaluated
        if ev is None:
            return list(dict.fromkeys(self.records.key[self.records.status == status]))
        codes = pd.unique(ev.key_code[ev.status == _CODE[status]])
        return [ev.key_names[c] for c in codes.tolist()]

    def worst(self) -> pd.Series | None:
        """The record a summary should name: when any record fails, the failing one with the
        largest relative error (a failure without one, NaN against a number or text against
        text, counts as the largest); else the compared record with the largest relative
        error. None if nothing was compared."""
        ev = self._evaluated
        if ev is None:
            failed = self.failed
            pool, undefined = (failed, np.inf) if not failed.empty else (self.compared, -1.0)
            rel = pool.rel_err.replace(np.nan, undefined)
            if rel.empty:
                return None
            return pool.loc[rel.idxmax()]
        failed = np.flatnonzero(np.isin(ev.status, _codes_of(FAILING)))
        if failed.size:
            pool, undefined = failed, np.inf
        else:
            pool = np.flatnonzero(~np.isin(ev.status, _codes_of(MISSING | {"not-comparable"})))
            undefined = -1.0
        if pool.size == 0:
            return None
        rel = ev.rel_err[pool]
        best = int(pool[np.argmax(np.where(np.isnan(rel), undefined, rel))])
        return ev.rows(np.array([best])).loc[best]

    @property
    def ambiguous(self) -> pd.DataFrame:
        return self._where({AMBIGUOUS})

    @cached_property
    def _lost(self) -> np.ndarray:
        """Rows of the lost records (``incomplete``), from the compact comparison."""
        return self._evaluated.lost_rows()

    @cached_property
    def incomplete(self) -> pd.DataFrame:
        """Records one log lacks although it should hold them: a pixel the other log traces
        and it does not (a log cut short, a different pixel set), or a key it prints elsewhere
        but not here (a log cut inside a pixel or a φ loop). A key a log never prints is a
        difference of vocabulary (a stock printout has few keys), not a lost record; so are
        the steps around a printout's one last-iteration value."""
        ev = self._evaluated
        if ev is not None:  # (the index a selection of ``missing`` gives)
            missing = np.isin(ev.status, (_MISSING_X, _MISSING_R))
            index = pd.RangeIndex(ev.status.size)[missing]
            return ev.rows(self._lost, index[np.isin(np.flatnonzero(missing), self._lost)])
        missing = self.missing
        if missing.empty:
            return missing
        lost = np.zeros(len(missing), dtype=bool)
        for status, log in (("missing-candidate", self.candidate),
                            ("missing-reference", self.reference)):
            side = (missing.status == status).to_numpy()
            if not side.any():
                continue
            held = self.records[self.records.status != status]
            rows = missing[side]
            no_pixel = ~np.isin(_pixel_codes(rows), _pixel_codes(held))
            known_key = rows.key.isin(held.key.unique()).to_numpy()
            if log.grammar == "printout":  # one value per pixel, put at the last step only
                known_key = known_key & (rows.stage != "phi").to_numpy()
            lost[np.flatnonzero(side)] = no_pixel | known_key
        return missing[lost]

    def has_lost_records(self) -> bool:
        """Whether ``incomplete`` holds any record (without building it)."""
        if self._evaluated is not None:
            return self._lost.size > 0
        return not self.incomplete.empty

    def incomplete_text(self) -> str:
        """One line saying which records are lost and on which side (empty if none)."""
        if not self.has_lost_records():
            return ""
        ev = self._evaluated
        parts = []
        for status, log, other in (("missing-candidate", self.candidate, self.reference),
                                   ("missing-reference", self.reference, self.candidate)):
            if ev is not None:
                rows = self._lost[ev.status[self._lost] == _CODE[status]]
                if rows.size == 0:
                    continue
                count, pixels = rows.size, ev.pixels_of(rows)
            else:
                lost = self.incomplete
                rows = lost[lost.status == status]
                if rows.empty:
                    continue
                count = len(rows)
                pixels = list(dict.fromkeys(zip(rows.slow.tolist(), rows.fast.tolist())))
            shown = ", ".join(f"({s}, {f})" for s, f in pixels[:4])
            more = f" and {len(pixels) - 4} more pixels" if len(pixels) > 4 else ""
            parts.append(f"{log.source} lacks {count} records that {other.source} holds "
                         f"(keys it prints elsewhere, or whole pixels) at {shown}{more}")
        return ("; ".join(parts) + " (a truncated log or a different pixel set; "
                "--allow-missing compares what both hold)")

    def exit_code(self, strict: bool = False, allow_missing: bool = False) -> int:
        """0 parity, 1 a failure; 3 for lost records (``incomplete``) unless ``allow_missing``;
        with ``strict``, also 3 for a key on one side only, a TRACE line either reader skipped,
        or an ambiguous (repeated, differing) record."""
        if self.count(FAILING):
            return exitcodes.DIVERGED
        if not allow_missing and self.has_lost_records():
            return exitcodes.STRUCTURAL
        if strict and (self.count(MISSING) or self.reference.skipped
                       or self.candidate.skipped or self.count({AMBIGUOUS})):
            return exitcodes.STRUCTURAL
        return exitcodes.PARITY


def _pixel_codes(records: pd.DataFrame) -> np.ndarray:
    """One int64 per record naming its pixel (slow, fast)."""
    return records.slow.to_numpy(np.int64) * (1 << 32) + records.fast.to_numpy(np.int64)


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


# --------------------------------------------------------------------------- compare

def compare_logs(reference: TraceLog, candidate: TraceLog,
                 tolerance: Tolerance | None = None) -> Comparison:
    """Align two logs and apply the tolerance model; raises StructuralMismatch (exit 3)."""
    tolerance = tolerance or Tolerance()
    ref, cand, names = _sides(reference, candidate)
    width = max(3, ref.src.width, cand.src.width)
    _resolve_pixels(ref, cand)
    _map_last_iteration(ref, cand, names)
    aligned = _align(ref, cand, names)
    if not ((aligned.at_r >= 0) & (aligned.at_x >= 0)).any():
        raise StructuralMismatch(f"{reference.source} and {candidate.source} share no "
                                 f"comparable record")
    ref.stage = ref.key = cand.stage = cand.key = None  # (the aligned codes stand for them)
    return Comparison(_Evaluated(ref, cand, aligned, tolerance, width), reference, candidate,
                      tolerance)


class _Evaluated:
    """The comparison, compact: per aligned record its status and relative error (computed a
    block of records at a time); ``rows(at)`` builds the records frame's rows ``at``."""

    def __init__(self, ref: _Side, cand: _Side, aligned: _Aligned, tol: Tolerance, width: int):
        self.ref, self.cand, self.aligned, self.tol, self.width = ref, cand, aligned, tol, width
        self.key_code, self.key_names = aligned.key_code, aligned.key_names
        self.stage_code = aligned.stage_code
        # a not-comparable record is reported as a step record
        self.shown_stages = ["phi" if s == _NOT_COMPARABLE else s for s in aligned.stage_names]
        self.tolerances = tol.for_keys(aligned.key_names)
        n = aligned.at_r.size
        self.status = np.empty(n, np.int8)
        self.rel_err = np.empty(n)
        for start in range(0, n, _CHUNK):
            part = _Rows(self, np.arange(start, min(start + _CHUNK, n)))
            self.status[start:start + _CHUNK] = part.status
            self.rel_err[start:start + _CHUNK] = part.rel_err

    def frame(self) -> pd.DataFrame:
        return _Rows(self, np.arange(self.status.size)).frame(index=None)

    def rows(self, at: np.ndarray, index: pd.Index | None = None) -> pd.DataFrame:
        """The records frame's rows ``at`` (increasing), as a boolean selection of the frame
        gives them (``index``: their labels, when a chain of selections made them)."""
        at = np.asarray(at, dtype=np.int64)
        if index is None:  # a range where the rows are one, as pandas gives it
            index = pd.RangeIndex(self.status.size)[at]
        return _Rows(self, at).frame(index=index)

    def ids(self, name: str, at: np.ndarray) -> np.ndarray:
        """Alignment column ``name`` of aligned records ``at`` (from the side that holds it)."""
        at_r, at_x = self.aligned.at_r[at], self.aligned.at_x[at]
        present = at_r >= 0
        out = np.empty(at.size, np.int64)
        out[present] = self.ref.id(name, at_r[present])
        out[~present] = self.cand.id(name, at_x[~present])
        return out

    def pixels_of(self, at: np.ndarray) -> list[tuple[int, int]]:
        """The distinct pixels of aligned records ``at``, in their order."""
        codes = pd.unique(self.ids("slow", at) * (1 << 32) + self.ids("fast", at))
        return [(int(c >> 32), int(c - ((c >> 32) << 32))) for c in codes.tolist()]

    def lost_rows(self) -> np.ndarray:
        """Comparison.incomplete's rule, on the compact columns: a missing record is lost when
        the log lacking it holds no record of its pixel, or holds its key elsewhere."""
        status = self.status
        missing = np.flatnonzero((status == _MISSING_X) | (status == _MISSING_R))
        if missing.size == 0:
            return missing
        lost = np.zeros(missing.size, dtype=bool)
        pixels = None
        for code, log in ((_MISSING_X, self.cand.log), (_MISSING_R, self.ref.log)):
            side = status[missing] == code
            if not side.any():
                continue
            if pixels is None:
                every = np.arange(status.size)
                pixels = self.ids("slow", every) * (1 << 32) + self.ids("fast", every)
                del every
            held = status != code
            rows = missing[side]
            no_pixel = ~np.isin(pixels[rows], pd.unique(pixels[held]))
            held_keys = np.flatnonzero(np.bincount(self.key_code[held],
                                                   minlength=len(self.key_names)))
            known_key = np.isin(self.key_code[rows], held_keys)
            if log.grammar == "printout":  # one value per pixel, put at the last step only
                phi = [i for i, s in enumerate(self.shown_stages) if s == "phi"]
                known_key &= ~np.isin(self.stage_code[rows], phi)
            lost[np.flatnonzero(side)] = no_pixel | known_key
        return missing[lost]


class _Rows:
    """Aligned records ``at`` compared: values, errors and status by the contract's rules;
    ``frame()`` makes them rows of the records frame."""

    def __init__(self, ev: _Evaluated, at: np.ndarray):
        ref, cand, width = ev.ref, ev.cand, ev.width
        self.ev, self.at = ev, at
        self.pos_r = pos_r = ref.position(ev.aligned.at_r[at])
        self.pos_x = pos_x = cand.position(ev.aligned.at_x[at])
        self.present_r, self.present_x = present_r, present_x = pos_r >= 0, pos_x >= 0
        self.r, self.x = r, x = ref.values(pos_r, width), cand.values(pos_x, width)
        mask_r, mask_x = ref.take("mask", pos_r, 0), cand.take("mask", pos_x, 0)
        # Compare the components both sides printed (a legacy log may give only some).
        self.common = np.where(present_r & present_x, mask_r & mask_x, mask_r | mask_x)
        mask = ((self.common[None, :] >> np.arange(width)[:, None]) & 1) == 1
        kind_r, kind_x = _kinds(ref, pos_r), _kinds(cand, pos_x)
        self.kinds = kinds = np.where(present_r, kind_r, kind_x)
        self.rtol, self.atol = ev.tolerances[ev.key_code[at]].T
        rtol, atol = self.rtol, self.atol
        self.resolution = res = (np.nan_to_num(ref.take("resolution", pos_r, np.nan))
                                 + np.nan_to_num(cand.take("resolution", pos_x, np.nan)))

        errors = self.errors = _Errors(r, x, mask)
        abs_err, ref_norm = errors.abs_err, errors.ref_norm
        nan_r, nan_x = errors.nan_r, errors.nan_x
        allowed = atol + rtol * ref_norm
        status = np.where(abs_err <= allowed, _PASS, _FAIL)
        status[(res > allowed) & (abs_err <= allowed + res)
               & (abs_err <= allowed + PRECISION_LIMITED_MAX_REL * ref_norm)] = _LIMITED
        # a record either side printed as words compares as text (a word's value is NaN: the
        # NaN rules below are for numbers)
        words = (kinds == _WORD) | (kind_x == _WORD)
        ints = (kinds == _INT) & ~words
        status[ints] = np.where(errors.all_same, _PASS, _FAIL)[ints]
        numbers = ~words
        both_nan = nan_r & nan_x & numbers
        status[both_nan] = _PASS if ev.tol.nan_equal else _BOTH_NAN
        status[(nan_r ^ nan_x) & numbers] = _FAIL
        # Infinities pass only when equal (inf - inf would otherwise hide behind an inf
        # tolerance).
        status[errors.inf_mismatch & ~(nan_r | nan_x) & numbers] = _FAIL
        if words.any():
            text_r = ref.take_strings("text", pos_r[words], "").to_numpy()
            text_x = cand.take_strings("text", pos_x[words], "").to_numpy()
            status[words] = np.where(text_r == text_x, _PASS, _FAIL)
        ambiguous = _rows_in(pos_r, ref.log.ambiguous) | _rows_in(pos_x, cand.log.ambiguous)
        status[ambiguous & np.isin(status, (_PASS, _LIMITED))] = _AMBIGUOUS
        status[~present_x] = _MISSING_X
        status[~present_r] = _MISSING_R
        not_comparable = np.array([s == _NOT_COMPARABLE for s in ev.aligned.stage_names],
                                  dtype=bool)
        status[not_comparable[ev.stage_code[at]] & ~(present_r & present_x)] = _NOT_COMPARED
        self.status = status
        self.both_real = present_r & present_x & (kinds == _REAL)
        self.rel_err = np.where(self.both_real, errors.rel_err, np.nan)

    def frame(self, index) -> pd.DataFrame:
        ev, at, width = self.ev, self.at, self.ev.width
        ref, cand = ev.ref, ev.cand
        records = {name: ev.ids(name, at) for name in ("slow", "fast")}
        records["stage"] = _names_at(ev.shown_stages, ev.stage_code[at])
        records.update({name: ev.ids(name, at) for name in INDEX_TOKENS})
        records["key"] = _names_at(ev.key_names, ev.key_code[at])
        kind = ref.take_strings("kind", self.pos_r, None)
        if not self.present_r.all():
            kind[~self.present_r] = cand.take_strings("kind", self.pos_x[~self.present_r],
                                                      None)
        records.update(order=ev.aligned.key_rank[ev.key_code[at]], kind=kind, mask=self.common,
                       ref=ref.take_strings("text", self.pos_r, ""),
                       cand=cand.take_strings("text", self.pos_x, ""))
        for j in range(width):
            records[f"r{j}"], records[f"x{j}"] = self.r[j], self.x[j]
        errors, both_real = self.errors, self.both_real
        records.update(abs_err=np.where(both_real, errors.abs_err, np.nan),
                       rel_err=self.rel_err,
                       max_component_diff=np.where(both_real, errors.max_component_diff,
                                                   np.nan),
                       rtol=self.rtol, atol=self.atol, resolution=self.resolution,
                       status=_names_at(list(STATUSES), self.status),
                       ref_line=pd.arrays.IntegerArray(ref.take("line", self.pos_r, 0),
                                                       ~self.present_r),
                       cand_line=pd.arrays.IntegerArray(cand.take("line", self.pos_x, 0),
                                                        ~self.present_x))
        frame = pd.DataFrame(records, copy=False, index=index)
        frame.attrs["width"] = width
        return frame


_REAL, _INT, _WORD, _OTHER = range(4)
_KIND_CODE = {"real": _REAL, "int": _INT, "word": _WORD}


def _kinds(side: _Side, at: np.ndarray) -> np.ndarray:
    """The kind of the records at positions ``at`` as a small code (_OTHER where -1)."""
    present = at >= 0
    out = np.full(at.size, _OTHER, np.int8)
    if present.any():
        codes, names = side.src.coded("kind", at[present])
        table = np.array([_KIND_CODE.get(name, _OTHER) for name in names], np.int8)
        out[present] = table[codes]
    return out


def _rows_in(at: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Which of the record positions ``at`` (-1: absent) are among ``rows``."""
    if rows.size == 0:
        return np.zeros(at.size, dtype=bool)
    return np.isin(at, rows) & (at >= 0)


class _Errors:
    """The contract's measures of (component, record) values ``r`` (reference) and ``x``
    over the components ``mask`` selects, one component at a time (small temporaries)."""

    def __init__(self, r: np.ndarray, x: np.ndarray, mask: np.ndarray):
        n = r.shape[1]
        abs2, ref2, self.max_component_diff = np.zeros(n), np.zeros(n), np.zeros(n)
        self.all_same = np.ones(n, dtype=bool)
        self.nan_r, self.nan_x = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        self.inf_mismatch = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore", over="ignore"):
            for m, rj, xj in zip(mask, r, x):
                same = m & (xj == rj)  # equal infinities agree although inf - inf is nan
                self.all_same &= ~m | same
                diff = np.where(m & ~same, xj - rj, 0.0)
                abs2 += diff * diff
                ref2 += np.where(m, rj * rj, 0.0)
                np.maximum(self.max_component_diff, np.abs(diff), out=self.max_component_diff)
                self.nan_r |= m & np.isnan(rj)
                self.nan_x |= m & np.isnan(xj)
                self.inf_mismatch |= m & (np.isinf(rj) | np.isinf(xj)) & (xj != rj)
        self.abs_err, self.ref_norm = np.sqrt(abs2), np.sqrt(ref2)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.rel_err = np.where(self.abs_err == 0, 0.0, np.where(
                self.ref_norm == 0, np.inf, self.abs_err / self.ref_norm))


def values(record: pd.Series, side: str) -> np.ndarray:
    """The compared components of one record: side "r" (reference) or "x" (candidate)."""
    j = 0
    out = []
    while f"{side}{j}" in record.index:
        if (int(record["mask"]) >> j) & 1:
            out.append(float(record[f"{side}{j}"]))
        j += 1
    return np.asarray(out)

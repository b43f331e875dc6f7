"""``Comparison`` (the aligned comparison of two logs, its records built only when asked for)
and ``compare_logs``, which makes one."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nbparity import exitcodes
from nbparity.compare.align import (
    StructuralMismatch,
    _align,
    _map_last_iteration,
    _resolve_pixels,
    _sides,
)
from nbparity.compare.statuses import _CODE, _MISSING_R, _MISSING_X, _codes_of, _Evaluated
from nbparity.parse import TraceLog
from nbparity.parse.log import _LazyFrame
from nbparity.tolerance import AMBIGUOUS, FAILING, MISSING, Tolerance


@dataclass
class Comparison:
    """The aligned comparison of two logs; ``records`` is in pipeline order (built when first
    asked for: see the note on size in ``nbparity.compare``)."""

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
        but not here (a log cut inside a pixel or a φ loop), or on a line its reader skipped
        (a value with a unit after it), or a record both hold with no component in common (l_frac
        against h_frac). A key a log never prints is a
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
            # a key on a line the log's reader skipped is one it prints
            known_key = known_key | rows.key.isin(log.skipped_keys).to_numpy()
            if log.grammar == "printout":  # one value per pixel, put at the last step only
                known_key = known_key & (rows.stage != "phi").to_numpy()
            # held by both logs, with no component in common: lost in any case
            both = (rows.ref_line.notna() & rows.cand_line.notna()).to_numpy()
            lost[np.flatnonzero(side)] = no_pixel | known_key | both
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
                         "(keys it prints elsewhere or on lines its reader skipped, whole "
                         "pixels, or components) "
                         f"at {shown}{more}")
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


# --------------------------------------------------------------------------- compare

def compare_logs(reference: TraceLog, candidate: TraceLog,
                 tolerance: Tolerance | None = None) -> Comparison:
    """Align two logs and apply the tolerance model; raises StructuralMismatch (exit 3)."""
    tolerance = tolerance or Tolerance()
    ref, cand, names = _sides(reference, candidate)
    width = max(3, ref.src.width, cand.src.width)
    _resolve_pixels(ref, cand)
    # a printout's last-iteration records (either side) stand at the other log's last step
    _map_last_iteration(ref, cand, names)
    _map_last_iteration(cand, ref, names)
    aligned = _align(ref, cand, names)
    if not ((aligned.at_r >= 0) & (aligned.at_x >= 0)).any():
        raise StructuralMismatch(f"{reference.source} and {candidate.source} share no "
                                 f"comparable record")
    ref.stage = ref.key = cand.stage = cand.key = None  # (the aligned codes stand for them)
    return Comparison(_Evaluated(ref, cand, aligned, tolerance, width), reference, candidate,
                      tolerance)


def values(record: pd.Series, side: str) -> np.ndarray:
    """The compared components of one record: side "r" (reference) or "x" (candidate)."""
    j = 0
    out = []
    while f"{side}{j}" in record.index:
        if (int(record["mask"]) >> j) & 1:
            out.append(float(record[f"{side}{j}"]))
        j += 1
    return np.asarray(out)

"""The comparison's statuses: per aligned record its values, errors and status by the
contract's rules (``_Rows``), computed a block of records at a time and kept compact
(``_Evaluated``: per record a status code and a relative error)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from nbparity.compare.align import _NOT_COMPARABLE, _Aligned, _names_at, _Side
from nbparity.parse import INDEX_TOKENS
from nbparity.tolerance import AMBIGUOUS, PRECISION_LIMITED_MAX_REL, Tolerance

#: records evaluated at a time when the statuses are computed (bounds the temporaries)
_CHUNK = 1 << 20


STATUSES = ("pass", "fail", "precision-limited", "both-nan", "missing-candidate",
            "missing-reference", "not-comparable", AMBIGUOUS)
(_PASS, _FAIL, _LIMITED, _BOTH_NAN, _MISSING_X, _MISSING_R, _NOT_COMPARED,
 _AMBIGUOUS) = range(len(STATUSES))
_CODE = {name: code for code, name in enumerate(STATUSES)}


def _codes_of(statuses) -> list[int]:
    return [_CODE[s] for s in statuses if s in _CODE]


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
            # a key on a line the log's reader skipped is one it prints
            skipped = [i for i, name in enumerate(self.key_names) if name in log.skipped_keys]
            known_key |= np.isin(self.key_code[rows], skipped)
            if log.grammar == "printout":  # one value per pixel, put at the last step only
                phi = [i for i, s in enumerate(self.shown_stages) if s == "phi"]
                known_key &= ~np.isin(self.stage_code[rows], phi)
            # a record both logs hold, with no component in common, is lost in any case
            both = ((self.aligned.at_r[rows] >= 0) & (self.aligned.at_x[rows] >= 0))
            lost[np.flatnonzero(side)] = no_pixel | known_key | both
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
        # NaN in the same components on both sides: both-nan, or with --nan-equal the status
        # the other components earn; a NaN on one side only fails, whatever the others
        both_nan = nan_r & nan_x & ~errors.nan_mismatch & numbers
        if not ev.tol.nan_equal:
            status[both_nan & (status != _FAIL)] = _BOTH_NAN
        status[errors.nan_mismatch & numbers] = _FAIL
        # Infinities pass only when equal (inf - inf would otherwise hide behind an inf
        # tolerance).
        status[errors.inf_mismatch & numbers] = _FAIL
        if words.any():
            text_r = ref.take_strings("text", pos_r[words], "").to_numpy()
            text_x = cand.take_strings("text", pos_x[words], "").to_numpy()
            status[words] = np.where(text_r == text_x, _PASS, _FAIL)
        ambiguous = _rows_in(pos_r, ref.log.ambiguous) | _rows_in(pos_x, cand.log.ambiguous)
        status[ambiguous & np.isin(status, (_PASS, _LIMITED))] = _AMBIGUOUS
        status[~present_x] = _MISSING_X
        status[~present_r] = _MISSING_R
        # both printed the key but no component in common (l_frac against h_frac): nothing
        # was compared, the candidate lacks what the reference printed (a lost record)
        status[present_r & present_x & (self.common == 0)] = _MISSING_X
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
        #: a component NaN on one side only (a NaN on both sides is judged by the NaN rule,
        #: the record's other components by the tolerance)
        self.nan_mismatch = np.zeros(n, dtype=bool)
        self.inf_mismatch = np.zeros(n, dtype=bool)
        with np.errstate(invalid="ignore", over="ignore"):
            for m, rj, xj in zip(mask, r, x):
                nan_rj, nan_xj = m & np.isnan(rj), m & np.isnan(xj)
                # equal infinities agree although inf - inf is nan; NaN on both sides is
                # left out of the errors (so the other components still count)
                same = m & ((xj == rj) | (nan_rj & nan_xj))
                self.all_same &= ~m | same
                diff = np.where(m & ~same, xj - rj, 0.0)
                abs2 += diff * diff
                ref2 += np.where(m & ~(nan_rj & nan_xj), rj * rj, 0.0)
                np.maximum(self.max_component_diff, np.abs(diff), out=self.max_component_diff)
                self.nan_r |= nan_rj
                self.nan_x |= nan_xj
                self.nan_mismatch |= nan_rj ^ nan_xj
                self.inf_mismatch |= m & (np.isinf(rj) | np.isinf(xj)) & (xj != rj)
        self.abs_err, self.ref_norm = np.sqrt(abs2), np.sqrt(ref2)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.rel_err = np.where(self.abs_err == 0, 0.0, np.where(
                self.ref_norm == 0, np.inf, self.abs_err / self.ref_norm))

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
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from nbparity import exitcodes, schema
from nbparity.parse import INDEX_TOKENS, TraceLog
from nbparity.tolerance import (
    AMBIGUOUS,
    FAILING,
    MISSING,
    PRECISION_LIMITED_MAX_REL,
    Tolerance,
)

RECORD_COLUMNS = ["slow", "fast", "stage", *INDEX_TOKENS, "key"]


class StructuralMismatch(ValueError):
    """The logs cannot be compared record by record (exit code 3)."""


@dataclass
class Comparison:
    """The aligned comparison of two logs; ``records`` is in pipeline order."""

    records: pd.DataFrame
    reference: TraceLog
    candidate: TraceLog
    tolerance: Tolerance

    @property
    def failed(self) -> pd.DataFrame:
        return self.records[self.records.status.isin(FAILING)]

    @property
    def missing(self) -> pd.DataFrame:
        return self.records[self.records.status.isin(MISSING)]

    @property
    def compared(self) -> pd.DataFrame:
        return self.records[~self.records.status.isin(MISSING | {"not-comparable"})]

    def worst(self) -> pd.Series | None:
        """The record a summary should name: when any record fails, the failing one with the
        largest relative error (a failure without one, NaN against a number or text against
        text, counts as the largest); else the compared record with the largest relative
        error. None if nothing was compared."""
        failed = self.failed
        pool, undefined = (failed, np.inf) if not failed.empty else (self.compared, -1.0)
        rel = pool.rel_err.replace(np.nan, undefined)
        if rel.empty:
            return None
        return pool.loc[rel.idxmax()]

    @property
    def ambiguous(self) -> pd.DataFrame:
        return self.records[self.records.status == AMBIGUOUS]

    @cached_property
    def incomplete(self) -> pd.DataFrame:
        """Records one log lacks although it should hold them: a pixel the other log traces
        and it does not (a log cut short, a different pixel set), or a key it prints elsewhere
        but not here (a log cut inside a pixel or a φ loop). A key a log never prints is a
        difference of vocabulary (a stock printout has few keys), not a lost record; so are
        the steps around a printout's one last-iteration value."""
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

    def incomplete_text(self) -> str:
        """One line saying which records are lost and on which side (empty if none)."""
        lost = self.incomplete
        if lost.empty:
            return ""
        parts = []
        for status, log, other in (("missing-candidate", self.candidate, self.reference),
                                   ("missing-reference", self.reference, self.candidate)):
            rows = lost[lost.status == status]
            if rows.empty:
                continue
            pixels = list(dict.fromkeys(zip(rows.slow.tolist(), rows.fast.tolist())))
            shown = ", ".join(f"({s}, {f})" for s, f in pixels[:4])
            more = f" and {len(pixels) - 4} more pixels" if len(pixels) > 4 else ""
            parts.append(f"{log.source} lacks {len(rows)} records that {other.source} holds "
                         f"(keys it prints elsewhere, or whole pixels) at {shown}{more}")
        return ("; ".join(parts) + " (a truncated log or a different pixel set; "
                "--allow-missing compares what both hold)")

    def exit_code(self, strict: bool = False, allow_missing: bool = False) -> int:
        """0 parity, 1 a failure; 3 for lost records (``incomplete``) unless ``allow_missing``;
        with ``strict``, also 3 for a key on one side only, a TRACE line either reader skipped,
        or an ambiguous (repeated, differing) record."""
        if not self.failed.empty:
            return exitcodes.DIVERGED
        if not allow_missing and not self.incomplete.empty:
            return exitcodes.STRUCTURAL
        if strict and (not self.missing.empty or self.reference.skipped
                       or self.candidate.skipped or not self.ambiguous.empty):
            return exitcodes.STRUCTURAL
        return exitcodes.PARITY


def _pixel_codes(records: pd.DataFrame) -> np.ndarray:
    """One int64 per record naming its pixel (slow, fast)."""
    return records.slow.to_numpy(np.int64) * (1 << 32) + records.fast.to_numpy(np.int64)


# --------------------------------------------------------------------------- records

@dataclass
class _Side:
    """One log's comparable records (meta excluded): ``rows``, their positions in
    ``log.records``, and ``ids``, their alignment columns (alignment may rewrite them)."""

    log: TraceLog
    rows: np.ndarray
    ids: dict[str, np.ndarray]  # released once the logs are aligned

    def take(self, name: str, at: np.ndarray, fill) -> np.ndarray:
        """Column ``name`` of the log's records at rows ``at``; ``fill`` where ``at`` is -1."""
        return _take(self.log.records[name].to_numpy(), at, fill)

    def take_strings(self, name: str, at: np.ndarray, fill: str | None):
        """A string column at rows ``at``, kept a pandas string array (no per-value check);
        ``fill`` where ``at`` is -1 (None: the column's missing value)."""
        return self.log.records[name].array.take(at, allow_fill=True, fill_value=fill)

    def values(self, at: np.ndarray, width: int) -> np.ndarray:
        """(component, record) values at rows ``at``; NaN where ``at`` is -1 or past the log's
        width."""
        out = np.full((width, at.size), np.nan)
        for j in range(min(width, self.log.records.attrs.get("width", 1))):
            out[j] = self.take(f"v{j}", at, np.nan)
        return out


def _sides(reference: TraceLog, candidate: TraceLog
           ) -> tuple[_Side, _Side, dict[str, np.ndarray]]:
    """Both logs' comparable records, and their alignment columns as one array per column (the
    reference's records first); each side's ``ids`` are views of those arrays."""
    logs = (reference, candidate)
    rows = [np.flatnonzero(log.records.stage.to_numpy() != "meta") for log in logs]
    n_ref = rows[0].size
    both = {}
    for name in RECORD_COLUMNS:
        columns = [log.records[name].to_numpy() for log in logs]
        both[name] = np.empty(n_ref + rows[1].size, dtype=np.result_type(*columns))
        np.take(columns[0], rows[0], out=both[name][:n_ref])
        np.take(columns[1], rows[1], out=both[name][n_ref:])
    return (_Side(reference, rows[0], {name: ids[:n_ref] for name, ids in both.items()}),
            _Side(candidate, rows[1], {name: ids[n_ref:] for name, ids in both.items()}), both)


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
            at = side.log.records[(side.log.records.slow == s) & (side.log.records.fast == f)]
            raise StructuralMismatch(f"{side.log.source}:{int(at.line.min())}: pixel ({s}, {f}) "
                                     f"has a negative index; pixels are zero-based")
    if ref_pix == {unknown} and len(cand_pix) == 1:
        ref.ids["slow"][:], ref.ids["fast"][:] = next(iter(cand_pix))
        ref_pix = cand_pix
    if cand_pix == {unknown} and len(ref_pix) == 1:
        cand.ids["slow"][:], cand.ids["fast"][:] = next(iter(ref_pix))
        cand_pix = ref_pix
    if not ref_pix & cand_pix:
        raise StructuralMismatch(
            f"the logs trace different pixels: {ref.log.source} has {_pixels_text(ref_pix)}, "
            f"{cand.log.source} has {_pixels_text(cand_pix)}")


def _pixels_text(pixels: set[tuple[int, int]]) -> str:
    return ", ".join(f"({s}, {f})" for s, f in sorted(pixels))


_NOT_COMPARABLE = "not-comparable"  # the stage of last-iteration records no step matches


def _map_last_iteration(ref: _Side, cand: _Side) -> None:
    """Printout last-iteration records (phi_tic = -2) → the candidate's last step, if knowable."""
    last = ref.ids["phi_tic"] == -2
    if not last.any():
        return
    single = all(cand.log.meta(k) in (None, "1") for k in ("sources", "oversample"))
    cand_ids = pd.DataFrame(cand.ids)
    steps = cand_ids[cand_ids.stage == "phi"]
    if single and not steps.empty:
        for (slow, fast), rows in steps.groupby(["slow", "fast"]):
            final = rows.sort_values(["phi_tic", "mos_tic"]).iloc[-1]
            at = last & (ref.ids["slow"] == slow) & (ref.ids["fast"] == fast)
            for token in INDEX_TOKENS:
                ref.ids[token][at] = final[token]
    ref.ids["stage"][ref.ids["phi_tic"] == -2] = _NOT_COMPARABLE


# --------------------------------------------------------------------------- alignment

@dataclass
class _Aligned:
    """Every record of either log once, in pipeline order: its row in each log's records (-1
    where that log lacks it), its alignment columns, and its key as a code into key_names."""

    at_r: np.ndarray
    at_x: np.ndarray
    ids: dict  # the index columns as arrays; stage and key as pandas str arrays
    key_code: np.ndarray
    key_names: list[str]
    not_comparable: np.ndarray  # stage "not-comparable" (reported as "phi")
    key_rank: np.ndarray | None = None  # pipeline rank of each of key_names


def _align(ref: _Side, cand: _Side, ids: dict[str, np.ndarray]) -> _Aligned:
    """Join the logs on their records (pixel, stage, loop indices, key) and order the result as
    first-divergence walks it: per pixel, stage, then phi_tic, mos_tic, thick, sub, src, then
    key order. Both are done on one int64 per record that packs those columns. ``ids``: both
    logs' alignment columns, the reference's records first."""
    stages, stage_code = _sorted_codes(ids["stage"])
    key_names, key_code = _sorted_codes(ids["key"])
    # a not-comparable record is reported as a step record, in the place of one
    stage_rank = np.array([schema.stage_rank("phi" if s == _NOT_COMPARABLE else s)
                           for s in stages], np.int64)
    key_rank = _key_ranks(key_names, ref, cand)
    packed = _pack([ids["slow"], ids["fast"], stage_rank[stage_code], ids["phi_tic"],
                    ids["mos_tic"], ids["thick"], ids["sub"], ids["src"], key_rank[key_code],
                    key_code, stage_code])
    n_ref = ref.rows.size
    at_r, at_x = _match(packed[:n_ref], packed[n_ref:], ref, cand)
    both = np.where(at_r >= 0, at_r, n_ref + at_x)  # where the record is in the joint arrays
    aligned = {name: ids[name][both] for name in RECORD_COLUMNS if name not in ("stage", "key")}
    stage_code, key_code = stage_code[both], key_code[both]
    # a not-comparable record is reported as a step record
    aligned["stage"] = _names_at(["phi" if s == _NOT_COMPARABLE else s for s in stages],
                                 stage_code)
    aligned["key"] = _names_at(key_names, key_code)
    not_comparable = np.isin(stage_code, [i for i, s in enumerate(stages)
                                          if s == _NOT_COMPARABLE])
    return _Aligned(_take(ref.rows, at_r, -1), _take(cand.rows, at_x, -1),
                    {name: aligned[name] for name in RECORD_COLUMNS}, key_code, key_names,
                    not_comparable, key_rank)


def _key_ranks(key_names: list[str], ref: _Side, cand: _Side) -> np.ndarray:
    """Pipeline order of each key: the catalogue's, then keys outside it in the order the logs
    first print them (the reference's lines first), never alphabetically."""
    known = np.array([schema.key_rank(k) for k in key_names], np.int64)
    unknown = [k for k in key_names if not schema.is_known(k)]
    if not unknown:
        return known
    first: dict[str, tuple[int, int]] = {}
    for side_rank, side in enumerate((ref, cand)):
        records = side.log.records
        extra = records[~records.key.isin(schema.NAMES)]
        for key, line in extra.groupby("key", sort=False)["line"].min().items():
            first.setdefault(key, (side_rank, int(line)))
    order = sorted(unknown, key=lambda k: first.get(k, (2, 0)))
    rank_of = {k: len(schema.CATALOGUE) + i for i, k in enumerate(order)}
    return np.array([rank_of.get(k, r) for k, r in zip(key_names, known)], np.int64)


def _names_at(names: list[str], codes: np.ndarray):
    """``names[codes]`` as the string array a frame column of them would hold (built from the
    few names, so pandas need not check a million values)."""
    return pd.Index(names, dtype=None if names else object).array.take(codes)


def _sorted_codes(column: np.ndarray) -> tuple[list, np.ndarray]:
    """The sorted distinct values of a column, and each row's code (code order is value
    order)."""
    codes, names = pd.factorize(column)
    order = sorted(range(len(names)), key=names.__getitem__)
    rank = np.empty(len(names), np.int64)
    rank[order] = np.arange(len(names))
    return [names[i] for i in order], rank[codes]


def _pack(columns: list[np.ndarray]) -> np.ndarray:
    """One int64 per row that orders rows as the columns do (first column first) and is equal
    exactly where all columns are (a mixed-radix number; re-ranked before it could overflow)."""
    packed = np.zeros(columns[0].size, np.int64)
    span = 1
    for column in columns:
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
        packed = packed * radix + (column - low)
        span *= radix
    return packed


def _match(ref_keys: np.ndarray, cand_keys: np.ndarray, ref: _Side, cand: _Side
           ) -> tuple[np.ndarray, np.ndarray]:
    """For every key of either log, in key order: its position in each log's keys, -1 where
    that log lacks it."""
    ref_order = np.argsort(ref_keys, kind="stable")  # fast on the nearly sorted keys of a log
    if ref_keys.size == cand_keys.size and (ref_keys == cand_keys).all():
        _check_unique(ref_keys[ref_order], ref_order, ref)
        return ref_order, ref_order  # the usual case: the same records in the same order
    cand_order = np.argsort(cand_keys, kind="stable")
    ref_sorted, cand_sorted = ref_keys[ref_order], cand_keys[cand_order]
    _check_unique(ref_sorted, ref_order, ref)
    _check_unique(cand_sorted, cand_order, cand)
    keys = np.concatenate([ref_sorted, cand_sorted])
    keys.sort(kind="stable")  # merges the two sorted runs
    keys = keys[np.concatenate(([True], keys[1:] != keys[:-1]))]
    return _positions(ref_sorted, ref_order, keys), _positions(cand_sorted, cand_order, keys)


def _check_unique(ordered: np.ndarray, order: np.ndarray, side: _Side) -> None:
    """A parsed log holds each record once; only a last-iteration record mapped onto a step
    the log also holds could repeat one."""
    twice = np.flatnonzero(ordered[1:] == ordered[:-1])
    if twice.size:
        i = order[twice[0]]
        raise StructuralMismatch(f"{side.log.source} holds record {side.ids['key'][i]} for "
                                 f"pixel {side.ids['slow'][i]} {side.ids['fast'][i]} twice")


def _positions(ordered: np.ndarray, order: np.ndarray, keys: np.ndarray) -> np.ndarray:
    """Where each of ``keys`` is in the keys that ``order`` sorts into ``ordered``; -1 if not."""
    if ordered.size == 0:
        return np.full(keys.size, -1)
    at = np.minimum(np.searchsorted(ordered, keys), ordered.size - 1)
    return np.where(ordered[at] == keys, order[at], -1)


# --------------------------------------------------------------------------- compare

STATUSES = ("pass", "fail", "precision-limited", "both-nan", "missing-candidate",
            "missing-reference", "not-comparable", AMBIGUOUS)
(_PASS, _FAIL, _LIMITED, _BOTH_NAN, _MISSING_X, _MISSING_R, _NOT_COMPARED,
 _AMBIGUOUS) = range(len(STATUSES))


def compare_logs(reference: TraceLog, candidate: TraceLog,
                 tolerance: Tolerance | None = None) -> Comparison:
    """Align two logs and apply the tolerance model; raises StructuralMismatch (exit 3)."""
    tolerance = tolerance or Tolerance()
    width = max(3, reference.records.attrs.get("width", 1),
                candidate.records.attrs.get("width", 1))
    ref, cand, ids = _sides(reference, candidate)
    _resolve_pixels(ref, cand)
    _map_last_iteration(ref, cand)
    aligned = _align(ref, cand, ids)
    del ids  # with the sides' views of it: its memory serves the evaluation instead
    ref.ids = cand.ids = {}
    if not ((aligned.at_r >= 0) & (aligned.at_x >= 0)).any():
        raise StructuralMismatch(f"{reference.source} and {candidate.source} share no "
                                 f"comparable record")
    return Comparison(_evaluate(ref, cand, aligned, tolerance, width), reference, candidate,
                      tolerance)


def _evaluate(ref: _Side, cand: _Side, aligned: _Aligned, tol: Tolerance, width: int
              ) -> pd.DataFrame:
    """One row per aligned record: both sides' values, the errors and the status."""
    at_r, at_x = aligned.at_r, aligned.at_x
    present_r, present_x = at_r >= 0, at_x >= 0
    r, x = ref.values(at_r, width), cand.values(at_x, width)  # (component, record)
    mask_r, mask_x = ref.take("mask", at_r, 0), cand.take("mask", at_x, 0)
    # Compare the components both sides printed (a legacy log may give only some).
    common = np.where(present_r & present_x, mask_r & mask_x, mask_r | mask_x)
    mask = ((common[None, :] >> np.arange(width)[:, None]) & 1) == 1
    kind = ref.take_strings("kind", at_r, None)
    kind[~present_r] = cand.take_strings("kind", at_x[~present_r], None)
    kinds = kind.to_numpy()
    rtol, atol = tol.for_keys(aligned.key_names)[aligned.key_code].T
    res = (np.nan_to_num(ref.take("resolution", at_r, np.nan))
           + np.nan_to_num(cand.take("resolution", at_x, np.nan)))
    text_r, text_x = ref.take_strings("text", at_r, ""), cand.take_strings("text", at_x, "")

    errors = _Errors(r, x, mask)
    abs_err, ref_norm = errors.abs_err, errors.ref_norm
    nan_r, nan_x = errors.nan_r, errors.nan_x
    allowed = atol + rtol * ref_norm
    status = np.where(abs_err <= allowed, _PASS, _FAIL)
    status[(res > allowed) & (abs_err <= allowed + res)
           & (abs_err <= allowed + PRECISION_LIMITED_MAX_REL * ref_norm)] = _LIMITED
    # a record either side printed as words compares as text (a word's value is NaN: the NaN
    # rules below are for numbers)
    words = (kinds == "word") | (cand.take_strings("kind", at_x, None).to_numpy() == "word")
    ints = (kinds == "int") & ~words
    status[ints] = np.where(errors.all_same, _PASS, _FAIL)[ints]
    numbers = ~words
    both_nan = nan_r & nan_x & numbers
    status[both_nan] = _PASS if tol.nan_equal else _BOTH_NAN
    status[(nan_r ^ nan_x) & numbers] = _FAIL
    # Infinities pass only when equal (inf - inf would otherwise hide behind an inf tolerance).
    status[errors.inf_mismatch & ~(nan_r | nan_x) & numbers] = _FAIL
    if words.any():
        equal = text_r[words].to_numpy() == text_x[words].to_numpy()
        status[words] = np.where(equal, _PASS, _FAIL)
    ambiguous = _rows_in(at_r, ref.log.ambiguous) | _rows_in(at_x, cand.log.ambiguous)
    status[ambiguous & np.isin(status, (_PASS, _LIMITED))] = _AMBIGUOUS
    status[~present_x] = _MISSING_X
    status[~present_r] = _MISSING_R

    ids = aligned.ids
    status[aligned.not_comparable & ~(present_r & present_x)] = _NOT_COMPARED
    both_real = present_r & present_x & (kinds == "real")
    key_rank = aligned.key_rank
    records = {**ids, "order": key_rank[aligned.key_code], "kind": kind, "mask": common,
               "ref": text_r, "cand": text_x}
    for j in range(width):
        records[f"r{j}"], records[f"x{j}"] = r[j], x[j]
    records.update(abs_err=np.where(both_real, abs_err, np.nan),
                   rel_err=np.where(both_real, errors.rel_err, np.nan),
                   max_component_diff=np.where(both_real, errors.max_component_diff, np.nan),
                   rtol=rtol, atol=atol, resolution=res,
                   status=_names_at(list(STATUSES), status),
                   ref_line=pd.arrays.IntegerArray(ref.take("line", at_r, 0), ~present_r),
                   cand_line=pd.arrays.IntegerArray(cand.take("line", at_x, 0), ~present_x))
    frame = pd.DataFrame(records, copy=False)
    frame.attrs["width"] = width
    return frame


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

"""Alignment and the tolerance model of the trace contract: one place for both.

``compare_logs(reference, candidate, tolerance)`` joins two parsed logs record by record and
returns a ``Comparison``: one row per record (a key at a pixel and loop indices; the components
of a vector form one record) with the reference value, the candidate value, abs and rel error,
and a status:

- ``pass`` / ``fail``: the contract's test, scalar ``|x - r| <= atol + rtol |r|``, vector
  ``||x - r|| <= atol + rtol ||r||``; integers and words compare exactly;
- ``precision-limited``: a log printed fewer digits than the tolerance needs, and the values
  agree within what was printed (half a unit in the last printed digit of each side);
- ``both-nan``: NaN on both sides (a failure unless ``nan_equal``);
- ``missing-candidate`` / ``missing-reference``: the record is on one side only;
- ``not-comparable``: a stock printout's last-iteration values, where the candidate's trace
  cannot say which step was last (several sub-pixels, sources or layers).

The reference is the C log (``r``), the candidate the other (``x``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from nbparity import exitcodes, schema
from nbparity.parse import INDEX_TOKENS, TraceLog

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0

RECORD_COLUMNS = ["slow", "fast", "stage", *INDEX_TOKENS, "key"]
FAILING = frozenset({"fail", "both-nan"})
MISSING = frozenset({"missing-candidate", "missing-reference"})


class StructuralMismatch(ValueError):
    """The logs cannot be compared record by record (exit code 3)."""


@dataclass(frozen=True)
class Tolerance:
    """rtol/atol, with per-key overrides: ``{key: (rtol, atol)}``."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    per_key: dict[str, tuple[float, float]] = field(default_factory=dict)
    nan_equal: bool = False

    def for_keys(self, keys: pd.Series) -> tuple[np.ndarray, np.ndarray]:
        rtol = keys.map(lambda k: self.per_key.get(k, (self.rtol, self.atol))[0])
        atol = keys.map(lambda k: self.per_key.get(k, (self.rtol, self.atol))[1])
        return rtol.to_numpy(float), atol.to_numpy(float)


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
        """The compared record with the largest relative error (None if nothing compared)."""
        rel = self.compared.rel_err.replace(np.nan, -1.0)
        if rel.empty:
            return None
        return self.compared.loc[rel.idxmax()]

    def exit_code(self, strict: bool = False) -> int:
        if not self.failed.empty:
            return exitcodes.DIVERGED
        if strict and not self.missing.empty:
            return exitcodes.STRUCTURAL
        return exitcodes.PARITY


# --------------------------------------------------------------------------- records

def _records(log: TraceLog) -> pd.DataFrame:
    """One row per record: the component values as a tuple, resolution, line, kind, text."""
    frame = log.frame
    if frame.empty:
        return pd.DataFrame(columns=[*RECORD_COLUMNS, "values", "texts", "res", "kind", "line"])
    frame = frame[frame.stage != "meta"].sort_values([*RECORD_COLUMNS, "component"], kind="stable")
    grouped = frame.groupby(RECORD_COLUMNS, sort=False, dropna=False)
    out = grouped.agg(values=("value", tuple), texts=("text", tuple), res=("resolution", "max"),
                      kind=("kind", "first"), line=("line", "first"))
    return out.reset_index()


def _meta(log: TraceLog, key: str) -> str | None:
    rows = log.frame[log.frame.key == key]
    return None if rows.empty else " ".join(rows.text)


def _resolve_pixels(ref: pd.DataFrame, cand: pd.DataFrame, ref_log: TraceLog,
                    cand_log: TraceLog) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Check both logs trace the same pixels; legacy logs with no pixel take the other's."""
    ref_pix, cand_pix = set(ref_log.pixels), set(cand_log.pixels)
    unknown = (-1, -1)
    if ref_pix == {unknown} and len(cand_pix) == 1:
        ref = ref.assign(slow=next(iter(cand_pix))[0], fast=next(iter(cand_pix))[1])
        ref_pix = cand_pix
    if cand_pix == {unknown} and len(ref_pix) == 1:
        cand = cand.assign(slow=next(iter(ref_pix))[0], fast=next(iter(ref_pix))[1])
        cand_pix = ref_pix
    if not ref_pix & cand_pix:
        raise StructuralMismatch(
            f"the logs trace different pixels: {ref_log.source} has {_pixels_text(ref_pix)}, "
            f"{cand_log.source} has {_pixels_text(cand_pix)}")
    return ref, cand


def _pixels_text(pixels: set[tuple[int, int]]) -> str:
    return ", ".join(f"({s}, {f})" for s, f in sorted(pixels))


def _map_last_iteration(ref: pd.DataFrame, cand: pd.DataFrame, cand_log: TraceLog) -> pd.DataFrame:
    """Printout last-iteration records (phi_tic = -2) → the candidate's last step, if knowable."""
    last = ref.phi_tic == -2
    if not last.any():
        return ref
    single = all(_meta(cand_log, k) in (None, "1") for k in ("sources", "oversample"))
    steps = cand[cand.stage == "phi"]
    ref = ref.copy()
    if single and not steps.empty:
        for (slow, fast), rows in steps.groupby(["slow", "fast"]):
            final = rows.sort_values(["phi_tic", "mos_tic"]).iloc[-1]
            at = last & (ref.slow == slow) & (ref.fast == fast)
            ref.loc[at, "phi_tic"] = final.phi_tic
            ref.loc[at, "mos_tic"] = final.mos_tic
            for token in ("sub", "src", "thick"):
                ref.loc[at, token] = final[token]
    ref.loc[ref.phi_tic == -2, "stage"] = "not-comparable"
    return ref


# --------------------------------------------------------------------------- compare

def compare_logs(reference: TraceLog, candidate: TraceLog,
                 tolerance: Tolerance | None = None) -> Comparison:
    """Align two logs and apply the tolerance model; raises StructuralMismatch (exit 3)."""
    tolerance = tolerance or Tolerance()
    ref, cand = _records(reference), _records(candidate)
    ref, cand = _resolve_pixels(ref, cand, reference, candidate)
    ref = _map_last_iteration(ref, cand, candidate)
    merged = ref.merge(cand, on=RECORD_COLUMNS, how="outer", suffixes=("_r", "_x"),
                       indicator=True)
    if not (merged._merge == "both").any():
        raise StructuralMismatch(f"{reference.source} and {candidate.source} share no "
                                 f"comparable record")
    not_comparable = merged.stage == "not-comparable"
    merged.loc[not_comparable, "stage"] = "phi"
    records = _evaluate(merged, tolerance)
    records.loc[not_comparable.to_numpy() & records.status.isin(MISSING).to_numpy(),
                "status"] = "not-comparable"
    return Comparison(_pipeline_order(records), reference, candidate, tolerance)


def _evaluate(merged: pd.DataFrame, tol: Tolerance) -> pd.DataFrame:
    n = len(merged)
    width = 3
    r = np.full((n, width), np.nan)
    x = np.full((n, width), np.nan)
    arity = np.zeros(n, dtype=int)
    for i, (vr, vx) in enumerate(zip(merged.values_r, merged.values_x)):
        if isinstance(vr, tuple):
            r[i, : len(vr)] = vr
            arity[i] = len(vr)
        if isinstance(vx, tuple):
            x[i, : len(vx)] = vx
            arity[i] = max(arity[i], len(vx))
    present_r = merged._merge.isin(["both", "left_only"]).to_numpy()
    present_x = merged._merge.isin(["both", "right_only"]).to_numpy()
    kind = merged.kind_r.where(merged.kind_r.notna(), merged.kind_x).to_numpy()
    rtol, atol = tol.for_keys(merged.key)
    res = np.nan_to_num(merged.res_r.to_numpy(float)) + np.nan_to_num(merged.res_x.to_numpy(float))

    mask = np.arange(width)[None, :] < arity[:, None]
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.where(mask, x - r, 0.0)
        # Equal infinities give inf - inf = nan: they agree, so their difference is 0.
        same = mask & (x == r)
        diff = np.where(same, 0.0, diff)
        abs_err = np.sqrt(np.sum(diff * diff, axis=1))
        ref_norm = np.sqrt(np.sum(np.where(mask, r * r, 0.0), axis=1))
        rel_err = np.where(abs_err == 0, 0.0,
                           np.where(ref_norm == 0, np.inf, abs_err / ref_norm))
        max_comp = np.max(np.abs(diff), axis=1)
    nan_r = np.any(mask & np.isnan(r), axis=1)
    nan_x = np.any(mask & np.isnan(x), axis=1)
    allowed = atol + rtol * ref_norm
    status = np.where(abs_err <= allowed, "pass", "fail").astype(object)
    limited = (res > allowed) & (abs_err <= allowed + res)
    status[limited & (status == "fail")] = "precision-limited"
    status[(res > allowed) & (status == "pass")] = "precision-limited"
    texts_equal = np.array([a == b for a, b in zip(merged.texts_r, merged.texts_x)], dtype=bool)
    ints_equal = np.all(~mask | same, axis=1)
    words, ints = kind == "word", kind == "int"
    status[words] = np.where(texts_equal, "pass", "fail")[words]
    status[ints] = np.where(ints_equal, "pass", "fail")[ints]
    both_nan = nan_r & nan_x
    status[both_nan] = "pass" if tol.nan_equal else "both-nan"
    status[nan_r ^ nan_x] = "fail"
    # Infinities pass only when equal (inf - inf would otherwise hide behind an inf tolerance).
    inf_mismatch = np.any(mask & (np.isinf(r) | np.isinf(x)) & (x != r), axis=1)
    status[inf_mismatch & ~(nan_r | nan_x)] = "fail"
    status[~present_x] = "missing-candidate"
    status[~present_r] = "missing-reference"

    records = merged[RECORD_COLUMNS].copy()
    records["order"] = merged.key.map(schema.key_rank).to_numpy()
    records["kind"] = kind
    records["arity"] = arity
    records["ref"] = [_text(t) for t in merged.texts_r]
    records["cand"] = [_text(t) for t in merged.texts_x]
    records["ref_values"] = _value_tuples(r, arity, present_r)
    records["cand_values"] = _value_tuples(x, arity, present_x)
    records["abs_err"] = np.where(present_r & present_x & (kind == "real"), abs_err, np.nan)
    records["rel_err"] = np.where(present_r & present_x & (kind == "real"), rel_err, np.nan)
    records["max_component_diff"] = np.where(present_r & present_x & (kind == "real"),
                                             max_comp, np.nan)
    records["rtol"] = rtol
    records["atol"] = atol
    records["resolution"] = res
    records["status"] = status
    records["ref_line"] = merged.line_r.astype("Int64")
    records["cand_line"] = merged.line_x.astype("Int64")
    return records


def _value_tuples(values: np.ndarray, arity: np.ndarray, present: np.ndarray) -> list[tuple]:
    return [tuple(row[:a]) if p else () for row, a, p in zip(values, arity, present)]


def _text(tokens) -> str:
    return " ".join(tokens) if isinstance(tokens, tuple) else ""


def _pipeline_order(records: pd.DataFrame) -> pd.DataFrame:
    """Sort records in the causal order first-divergence walks (per pixel)."""
    ordered = records.assign(_stage=records.stage.map(schema.stage_rank))
    ordered = ordered.sort_values(["slow", "fast", "_stage", "phi_tic", "mos_tic", "thick",
                                   "sub", "src", "order", "key"], kind="stable")
    return ordered.drop(columns="_stage").reset_index(drop=True)

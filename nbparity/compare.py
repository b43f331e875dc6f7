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
        """(rtol, atol) per row; looked up once per distinct key."""
        pairs = np.array([self.per_key.get(k, (self.rtol, self.atol)) for k in keys.unique()],
                         dtype=np.float64).reshape(-1, 2)
        codes = pd.Index(keys.unique()).get_indexer(keys)
        return pairs[codes, 0], pairs[codes, 1]


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

def _records(log: TraceLog, width: int) -> pd.DataFrame:
    """The log's comparable records (meta excluded), with value columns v0..v{width-1}."""
    records = log.records[log.records.stage != "meta"]
    for j in range(log.records.attrs.get("width", 1), width):
        records = records.assign(**{f"v{j}": np.nan})
    return records[[*RECORD_COLUMNS, "kind", "arity", "mask", "text", "resolution", "line",
                    *(f"v{j}" for j in range(width))]]


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
    single = all(cand_log.meta(k) in (None, "1") for k in ("sources", "oversample"))
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
    width = max(3, reference.records.attrs.get("width", 1),
                candidate.records.attrs.get("width", 1))
    ref, cand = _records(reference, width), _records(candidate, width)
    ref, cand = _resolve_pixels(ref, cand, reference, candidate)
    ref = _map_last_iteration(ref, cand, candidate)
    merged = ref.merge(cand, on=RECORD_COLUMNS, how="outer", suffixes=("_r", "_x"),
                       indicator=True)
    if not (merged._merge == "both").any():
        raise StructuralMismatch(f"{reference.source} and {candidate.source} share no "
                                 f"comparable record")
    not_comparable = (merged.stage == "not-comparable").to_numpy()
    merged.loc[not_comparable, "stage"] = "phi"
    records = _evaluate(merged, tolerance, width)
    records.loc[not_comparable & records.status.isin(MISSING).to_numpy(),
                "status"] = "not-comparable"
    return Comparison(_pipeline_order(records), reference, candidate, tolerance)


def _evaluate(merged: pd.DataFrame, tol: Tolerance, width: int) -> pd.DataFrame:
    present_r = (merged._merge != "right_only").to_numpy()
    present_x = (merged._merge != "left_only").to_numpy()
    r = merged[[f"v{j}_r" for j in range(width)]].to_numpy(np.float64)
    x = merged[[f"v{j}_x" for j in range(width)]].to_numpy(np.float64)
    mask_r = merged.mask_r.fillna(0).to_numpy(np.int64)
    mask_x = merged.mask_x.fillna(0).to_numpy(np.int64)
    # Compare the components both sides printed (a legacy log may give only some).
    common = np.where(present_r & present_x, mask_r & mask_x, mask_r | mask_x)
    mask = ((common[:, None] >> np.arange(width)[None, :]) & 1) == 1
    kind = merged.kind_r.where(merged.kind_r.notna(), merged.kind_x).to_numpy()
    rtol, atol = tol.for_keys(merged.key)
    res = (np.nan_to_num(merged.resolution_r.to_numpy(np.float64))
           + np.nan_to_num(merged.resolution_x.to_numpy(np.float64)))

    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        same = mask & (x == r)  # equal infinities agree although inf - inf is nan
        diff = np.where(mask & ~same, x - r, 0.0)
        abs_err = np.sqrt(np.sum(diff * diff, axis=1))
        ref_norm = np.sqrt(np.sum(np.where(mask, r * r, 0.0), axis=1))
        rel_err = np.where(abs_err == 0, 0.0,
                           np.where(ref_norm == 0, np.inf, abs_err / ref_norm))
        max_comp = np.max(np.abs(diff), axis=1)
    nan_r = np.any(mask & np.isnan(r), axis=1)
    nan_x = np.any(mask & np.isnan(x), axis=1)
    allowed = atol + rtol * ref_norm
    status = np.where(abs_err <= allowed, "pass", "fail").astype(object)
    status[(res > allowed) & (abs_err <= allowed + res)] = "precision-limited"
    words, ints = kind == "word", kind == "int"
    if words.any():
        texts_equal = (merged.text_r == merged.text_x).to_numpy()
        status[words] = np.where(texts_equal, "pass", "fail")[words]
    status[ints] = np.where(np.all(~mask | same, axis=1), "pass", "fail")[ints]
    both_nan = nan_r & nan_x
    status[both_nan] = "pass" if tol.nan_equal else "both-nan"
    status[nan_r ^ nan_x] = "fail"
    # Infinities pass only when equal (inf - inf would otherwise hide behind an inf tolerance).
    inf_mismatch = np.any(mask & (np.isinf(r) | np.isinf(x)) & (x != r), axis=1)
    status[inf_mismatch & ~(nan_r | nan_x)] = "fail"
    status[~present_x] = "missing-candidate"
    status[~present_r] = "missing-reference"

    both_real = present_r & present_x & (kind == "real")
    records = merged[RECORD_COLUMNS].copy()
    records["order"] = _per_key(merged.key, schema.key_rank)
    records["kind"] = kind
    records["mask"] = common
    records["ref"] = merged.text_r.fillna("").to_numpy()
    records["cand"] = merged.text_x.fillna("").to_numpy()
    for j in range(width):
        records[f"r{j}"] = r[:, j]
        records[f"x{j}"] = x[:, j]
    records["abs_err"] = np.where(both_real, abs_err, np.nan)
    records["rel_err"] = np.where(both_real, rel_err, np.nan)
    records["max_component_diff"] = np.where(both_real, max_comp, np.nan)
    records["rtol"] = rtol
    records["atol"] = atol
    records["resolution"] = res
    records["status"] = status
    records["ref_line"] = merged.line_r.astype("Int64")
    records["cand_line"] = merged.line_x.astype("Int64")
    records.attrs["width"] = width
    return records


def values(record: pd.Series, side: str) -> np.ndarray:
    """The compared components of one record: side "r" (reference) or "x" (candidate)."""
    j = 0
    out = []
    while f"{side}{j}" in record.index:
        if (int(record["mask"]) >> j) & 1:
            out.append(float(record[f"{side}{j}"]))
        j += 1
    return np.asarray(out)


def _per_key(column: pd.Series, func) -> np.ndarray:
    """``func`` of each row's value, computed once per distinct value (columns repeat a lot)."""
    uniques = column.unique()
    table = np.array([func(u) for u in uniques], dtype=np.int64)
    return table[pd.Index(uniques).get_indexer(column)]


def _pipeline_order(records: pd.DataFrame) -> pd.DataFrame:
    """Sort records in the causal order first-divergence walks (per pixel)."""
    ordered = records.assign(_stage=_per_key(records.stage, schema.stage_rank))
    ordered = ordered.sort_values(["slow", "fast", "_stage", "phi_tic", "mos_tic", "thick",
                                   "sub", "src", "order", "key"], kind="stable")
    return ordered.drop(columns="_stage").reset_index(drop=True)

"""Signatures read from the values of one root record: unit factors, sign flips, swapped
components, nanoBragg's h,k,l rounding rule, detector-plane offsets (half a pixel, slow/fast
swapped, sub-pixel (0,0) against the pixel centre) and precision (float32-level differences,
rounding amplified by an ill-conditioned quantity)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity import schema
from nbparity.compare import Comparison, values
from nbparity.signatures.base import UNIT_FACTORS, Finding, _same
from nbparity.tolerance import FLOAT32_RTOL

if TYPE_CHECKING:
    from nbparity.divergence import PixelOutcome

# --------------------------------------------------------------------------- values


def _value_signatures(record, r: np.ndarray, x: np.ndarray, rows: pd.DataFrame,
                      comparison: Comparison) -> list[Finding]:
    found = []
    nz = np.abs(r) > 0
    if nz.any():
        ratios = x[nz] / r[nz]
        for factor, words in UNIT_FACTORS.items():
            if np.allclose(ratios, factor, rtol=1e-6, atol=0):
                hint = ""
                if factor == 1e10 and record.key.endswith("_A_inv"):
                    hint = (" A quantity in 1/m under a 1/Å name: the candidate kept nanoBragg's "
                            "internal metres")
                found.append(Finding("unit-factor", "certain",
                                     f"unit factor: candidate = reference × {words}.{hint}",
                                     "convert the quantity to the contract's unit before "
                                     "printing (or map it with a --keymap unit factor)."))
        if np.allclose(x, -r, rtol=1e-6, atol=0) and (x != 0).any():
            found.append(Finding("sign-flip", "certain", "sign flip: candidate = −reference.",
                                 "check the sign convention of this quantity (axis direction, "
                                 "cross-product order)."))
    if r.size == 3 and not _same(x, r, 1e-6):
        for perm in ((1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)):
            if _same(x, r[list(perm)], 1e-6):
                found.append(Finding("swapped-components", "certain",
                                     f"swapped components: candidate = reference[{list(perm)}].",
                                     "check the component order (x, y, z) where the vector "
                                     "is built or printed."))
                break
    if record.key == "hkl_rounded":
        found.extend(_rounding_rule(record, r, x, comparison))
    if record.key in ("pixel_pos_meters", "pix0_vector_meters") and r.size == 3:
        found.extend(_detector_axis_offsets(record, r, x, rows, comparison))
    return found


ROUNDING_RULES = {
    "ceil(x - 0.5)": lambda h: np.ceil(h - 0.5),
    "floor(x + 0.5)": lambda h: np.floor(h + 0.5),
    "round half to even": np.round,
    "round(x - 0.5)": lambda h: np.round(h - 0.5),
    "floor(x - 0.5)": lambda h: np.floor(h - 0.5),
    "ceil(x)": np.ceil,
    "floor(x)": np.floor,
    "truncation toward 0": np.trunc,
}


def _rounding_rule(record, r: np.ndarray, x: np.ndarray, comparison: Comparison) -> list[Finding]:
    """Which integer rule each side's hkl_rounded follows, from the step's hkl_frac."""
    rows = comparison.records
    frac = rows[(rows.key == "hkl_frac") & (rows.slow == record.slow) & (rows.fast == record.fast)
                & (rows.phi_tic == record.phi_tic) & (rows.mos_tic == record.mos_tic)]
    if frac.empty:
        return []
    h_ref, h_cand = values(frac.iloc[0], "r"), values(frac.iloc[0], "x")
    if h_ref.size != 3 or h_cand.size != 3:
        return []

    def rules(h, rounded):
        return [name for name, rule in ROUNDING_RULES.items()
                if np.array_equal(rule(h), rounded)]

    ref_rules, cand_rules = rules(h_ref, r), rules(h_cand, x)
    if not cand_rules or "ceil(x - 0.5)" in cand_rules:
        return []
    confidence = "certain" if len(cand_rules) == 1 else "likely"
    return [Finding("rounding-rule", confidence,
                    f"rounding rule: the candidate's hkl_rounded follows "
                    f"{' or '.join(cand_rules)} of hkl_frac, the reference's "
                    f"{' or '.join(ref_rules) or 'no simple rule'}.",
                    "round h, k, l as nanoBragg does: ceil(x - 0.5).")]


def _detector_axis_offsets(record, r, x, rows: pd.DataFrame, comparison) -> list[Finding]:
    """Position errors in the detector plane: half-pixel offsets, slow/fast swaps, sub-pixel
    (0,0) against the pixel centre."""
    setup = comparison.records[(comparison.records.stage == "setup")
                               & (comparison.records.slow == record.slow)
                               & (comparison.records.fast == record.fast)]
    axes = {}
    for key in ("fdet_vec", "sdet_vec"):
        row = setup[setup.key == key]
        if row.empty or values(row.iloc[0], "r").size != 3:
            return []
        axes[key] = values(row.iloc[0], "r")
    d = x - r
    along_f = float(d @ axes["fdet_vec"])
    along_s = float(d @ axes["sdet_vec"])
    rest = d - along_f * axes["fdet_vec"] - along_s * axes["sdet_vec"]
    if np.linalg.norm(rest) > 1e-6 * max(np.linalg.norm(d), 1e-300):
        return []
    slow, fast = int(record.slow), int(record.fast)
    found = []
    subpixel = _subpixel_offset(record, along_f, along_s, rows)
    if subpixel:
        found.append(subpixel)
    if slow != fast and abs(along_f + along_s) <= 1e-6 * abs(along_f) and along_f != 0:
        pixel = abs(along_f) / abs(slow - fast)
        if np.isclose(along_f, (slow - fast) * pixel, rtol=1e-6):
            found.append(Finding("slow-fast-swap", "likely",
                                 f"slow/fast swap: the candidate's position is that of pixel "
                                 f"({fast}, {slow}) for {pixel:.6g} m pixels — slow and fast "
                                 f"exchanged.",
                                 "pixels are (slow, fast) zero-based: check which index "
                                 "multiplies fdet and which sdet."))
    parts = [f"{v:+.6g} m along {name}" for v, name in ((along_f, "fast"), (along_s, "slow"))
             if v != 0]
    if parts and not subpixel:
        found.append(Finding("detector-offset", "possible",
                             "detector-plane offset: " + ", ".join(parts)
                             + " — a half-pixel offset if the pixel is twice that size "
                               "(pixel-centre vs pixel-corner convention, or a 0.5 in a beam "
                               "centre).",
                             "check the beam-centre convention (MOSFLM adds half a pixel; "
                             "DENZO does not) and where the pixel's 0.5 is added."))
    return found


def _setup_value(rows: pd.DataFrame, key: str, side: str = "r") -> np.ndarray | None:
    got = rows[rows.key == key]
    if got.empty:
        return None
    v = values(got.iloc[0], side)
    return v if v.size else None


def _subpixel_offset(record, along_f: float, along_s: float, rows: pd.DataFrame
                     ) -> Finding | None:
    """Sub-pixel (0,0) against the pixel centre: with oversampling N the contract's pixel-stage
    position is the first sub-pixel's centre, pixel·(N−1)/(2N) before the pixel centre along
    both detector axes."""
    if record.key != "pixel_pos_meters":
        return None
    oversample = _setup_value(rows, "oversample")
    n = int(oversample[0]) if oversample is not None else 0
    if n < 2 or along_f == 0 or not math.isclose(along_f, along_s, rel_tol=1e-6):
        return None
    pixel = abs(along_f) * 2 * n / (n - 1)
    omega, distance, close = (_setup_value(rows, k) for k in
                              ("omega_pixel_sr", "R_distance_meters", "close_distance_meters"))
    confidence = "likely"
    if omega is not None and distance is not None and close is not None and close[0] > 0:
        from_omega = math.sqrt(omega[0] * distance[0] ** 3 / close[0])
        if not math.isclose(from_omega, pixel, rel_tol=1e-3):
            return None  # the offset does not fit this detector's pixel size
        confidence = "certain"
    where = "at the pixel centre" if along_f > 0 else "past the pixel centre the other way"
    return Finding(
        "subpixel-position", confidence,
        f"sub-pixel (0,0) vs pixel centre: the candidate's position is {where} "
        f"({along_f:+.6g} m along fast and slow = pixel·(N−1)/(2N) for {pixel:.6g} m pixels and "
        f"oversample N={n}); the contract's pixel-stage values are those of sub-pixel (0,0).",
        "trace pixel-stage quantities at the first sub-pixel (sub-pixel (0,0), thickness 0, "
        "source 0), also under automatic oversampling.")


def _precision_findings(record, rows: pd.DataFrame, comparison: Comparison,
                        outcome: PixelOutcome) -> list[Finding]:
    """A precision-level failure says so; a root whose failing inputs are all at the precision
    level is rounding amplified by an ill-conditioned quantity (or a real fault: say both)."""
    idx = record.name
    if outcome.roles.get(idx) == "precision":
        if float(record.rtol) >= FLOAT32_RTOL:
            # already under float32's rtol: the value is small against its key's scale here
            advice = (f"the value is small against {record.key}'s scale in this pixel, so "
                      f"float32's absolute rounding is a large relative error: give the key an "
                      f"absolute tolerance near its scale (--tol {record.key}=RTOL,ATOL with "
                      f"ATOL about 1e-6 of its largest value) or run the port in float64.")
        else:
            advice = ("compare a float32 port with a float32 tolerance (e.g. --rtol 1e-4) or "
                      "run it in float64.")
        return [Finding("float32-rounding", "likely",
                        outcome.precision_reason[idx] + ".", advice)]
    if not outcome.evidence.float32_sides:
        return []
    parents = schema.ancestors(record.key)
    inputs_at_precision = [rows.loc[i].key for i, role in outcome.roles.items()
                           if role == "precision" and rows.loc[i].key in parents]
    if not inputs_at_precision:
        return []
    rel = float(record.rel_err) if record.rel_err == record.rel_err else math.inf
    return [Finding("float32-amplified", "possible",
                    f"its inputs ({', '.join(sorted(set(inputs_at_precision)))}) differ only at "
                    f"float32 level; a relative error of {rel:.2e} here can be float32 rounding "
                    f"amplified by an ill-conditioned value (e.g. F_latt near a zero of "
                    f"sin(N·π·h)), or a fault of its own.",
                    "check this step in float64 before looking for a bug.")]

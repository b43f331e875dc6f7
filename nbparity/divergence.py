"""First divergence in pipeline order, and a diagnosis when a known signature fits.

The comparison's records are already in causal order (stage, then phi_tic, mos_tic, then key
order). Per pixel, the first failing record is the root; every later failure of that pixel is
counted as propagated from it. Signatures recognised, in words:

- φ=0 carry-over: at a φ = 0 step, one side's rotated vectors equal the other side's vectors of
  the last φ step (nanoBragg skips the rotation at φ = 0 and keeps the previous step's vectors);
- unit factor: candidate / reference ≈ 1e±10 (Å vs m), 1e±3 (mm vs m);
- sign flip; swapped components of a vector;
- half-pixel offset / slow–fast swap: a position error that lies along the detector axes;
- float32 rounding: a small relative error from a float32 candidate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from nbparity.compare import Comparison, values
from nbparity.tolerance import FAILING

ROTATED_KEYS = ("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")
UNIT_FACTORS = {1e10: "1e10 (metres vs Angstrom)", 1e-10: "1e-10 (Angstrom vs metres)",
                1e3: "1e3 (metres vs millimetres)", 1e-3: "1e-3 (millimetres vs metres)"}


@dataclass
class Divergence:
    """The root failure of one pixel."""

    pixel: tuple[int, int]
    record: pd.Series
    last_agreeing: pd.Series | None
    propagated: int
    diagnosis: list[str]

    def where(self) -> str:
        r = self.record
        step = "" if r.phi_tic < 0 else f" phi_tic={r.phi_tic} mos_tic={r.mos_tic}"
        return f"pixel ({self.pixel[0]}, {self.pixel[1]}){step} {r.stage}/{r.key}"


def first_divergences(comparison: Comparison) -> list[Divergence]:
    """One Divergence per pixel that has a failing record, in pixel order."""
    out = []
    records = comparison.records
    for (slow, fast), rows in records.groupby(["slow", "fast"], sort=True):
        failing = rows.status.isin(FAILING).to_numpy()
        if not failing.any():
            continue
        first = int(np.argmax(failing))
        agreeing = rows.iloc[:first][rows.iloc[:first].status == "pass"]
        last_ok = agreeing.iloc[-1] if not agreeing.empty else None
        record = rows.iloc[first]
        propagated = int(failing.sum()) - 1
        out.append(Divergence((int(slow), int(fast)), record, last_ok, propagated,
                              diagnose(record, rows, comparison)))
    return out


# --------------------------------------------------------------------------- signatures

def diagnose(record: pd.Series, pixel_records: pd.DataFrame, comparison: Comparison) -> list[str]:
    """Every known signature that fits the failing record, as sentences."""
    found: list[str] = []
    carry = _carryover(record, pixel_records, comparison)
    if carry:
        found.append(carry)
    r = values(record, "r")
    x = values(record, "x")
    if r.size and r.size == x.size and np.all(np.isfinite(r)) and np.all(np.isfinite(x)):
        found.extend(_value_signatures(record, r, x, comparison))
    return found


def _close(a: np.ndarray, b: np.ndarray, rtol: float = 1e-6) -> bool:
    scale = max(float(np.linalg.norm(b)), 1e-300)
    return float(np.linalg.norm(a - b)) <= rtol * scale


def _carryover(record, rows: pd.DataFrame, comparison: Comparison) -> str | None:
    """φ=0 carry-over: at a φ=0 step one side's vectors are the other's last-step vectors."""
    if record.stage != "phi":
        return None
    steps = rows[rows.stage == "phi"]
    phi = steps[(steps.key == "phi_deg") & (steps.phi_tic == record.phi_tic)
                & (steps.mos_tic == record.mos_tic)]
    at_zero = not phi.empty and (phi.r0.iloc[0] == 0.0 or phi.x0.iloc[0] == 0.0)
    if not at_zero:
        return None
    vectors = steps[steps.key.isin(ROTATED_KEYS)]
    here = vectors[(vectors.phi_tic == record.phi_tic) & (vectors.mos_tic == record.mos_tic)]
    others = vectors[vectors.phi_tic != record.phi_tic]
    if here.empty or others.empty:
        return None
    last_tic = int(others.phi_tic.max())
    last = vectors[(vectors.phi_tic == last_tic) & (vectors.mos_tic == record.mos_tic)]
    if len(last) != len(here):
        return None
    here = here.set_index("key")
    last = last.set_index("key")

    def side_matches(side_here: str, side_last: str) -> bool:
        pairs = [(values(here.loc[k], side_here), values(last.loc[k], side_last))
                 for k in here.index if k in last.index]
        return bool(pairs) and all(a.size == b.size and a.size > 0 and _close(a, b)
                                   for a, b in pairs)

    ref_mode = _mode(comparison.reference)
    cand_mode = _mode(comparison.candidate)
    ref_carries = side_matches("r", "r")
    cand_carries = side_matches("x", "x")
    if ref_carries and not cand_carries:
        suggestion = "c-parity"
        who = "the reference carries the last step's vectors into the φ=0 step; the candidate "\
              "rotates from the reference orientation"
        if cand_mode == "c-parity":
            return (f"φ=0 carry-over at phi_tic={record.phi_tic}: {who} (phi_tic={last_tic}), "
                    f"although the candidate says it runs in c-parity mode: its carry-over is "
                    f"broken (nanoBragg skips the spindle rotation at φ=0 and keeps the previous "
                    f"step's vectors).")
    elif cand_carries and not ref_carries:
        suggestion = "spec"
        who = "the candidate carries the last step's vectors into the φ=0 step; the reference "\
              "rotates from the reference orientation"
    elif side_matches("r", "x") or side_matches("x", "r"):
        suggestion = "c-parity" if cand_mode != "c-parity" else "spec"
        who = "one side's φ=0 vectors equal the other side's last-step vectors"
    else:
        return None
    modes = f" (reference mode {ref_mode or '?'}, candidate mode {cand_mode or '?'})"
    return (f"φ=0 carry-over at phi_tic={record.phi_tic}: {who} (phi_tic={last_tic}){modes}. "
            f"nanoBragg skips the spindle rotation at φ=0 and keeps the previous step's "
            f"vectors; run the candidate with --phi-carryover-mode {suggestion} to match.")


def _mode(log) -> str | None:
    return log.meta("phi_carryover_mode")


def _value_signatures(record, r: np.ndarray, x: np.ndarray, comparison: Comparison) -> list[str]:
    found = []
    nz = np.abs(r) > 0
    if nz.any():
        ratios = x[nz] / r[nz]
        for factor, words in UNIT_FACTORS.items():
            if np.allclose(ratios, factor, rtol=1e-6, atol=0):
                found.append(f"unit factor: candidate = reference × {words}.")
        if np.allclose(x, -r, rtol=1e-6, atol=0) and (x != 0).any():
            found.append("sign flip: candidate = −reference.")
    if r.size == 3 and not _close(x, r):
        for perm in ((1, 0, 2), (0, 2, 1), (2, 1, 0), (1, 2, 0), (2, 0, 1)):
            if _close(x, r[list(perm)]):
                found.append(f"swapped components: candidate = reference[{list(perm)}].")
                break
    if record.key == "hkl_rounded":
        found.extend(_rounding_rule(record, r, x, comparison))
    if record.key in ("pixel_pos_meters", "pix0_vector_meters") and r.size == 3:
        found.extend(_detector_axis_offsets(record, r, x, comparison))
    dtype = _meta_word(comparison.candidate, "dtype")
    rel = float(record.rel_err) if record.rel_err == record.rel_err else math.inf
    if dtype == "float32" and rel < 1e-3:
        found.append(f"float32 rounding: relative error {rel:.2e} from a float32 candidate; "
                     "compare with --tol or a float64 run.")
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


def _rounding_rule(record, r: np.ndarray, x: np.ndarray, comparison: Comparison) -> list[str]:
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
    return [f"rounding rule: the candidate's hkl_rounded follows {' or '.join(cand_rules)} of "
            f"hkl_frac, the reference's {' or '.join(ref_rules) or 'no simple rule'}; nanoBragg "
            f"rounds with ceil(x - 0.5)."]


def _meta_word(log, key: str) -> str | None:
    return log.meta(key)


def _detector_axis_offsets(record, r, x, comparison) -> list[str]:
    """Position errors along fdet/sdet: half-pixel offsets, slow/fast swaps."""
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
    if slow != fast and abs(along_f + along_s) <= 1e-6 * abs(along_f) and along_f != 0:
        pixel = abs(along_f) / abs(slow - fast)
        if np.isclose(along_f, (slow - fast) * pixel, rtol=1e-6):
            found.append(f"slow/fast swap: the candidate's position is that of pixel ({fast}, "
                         f"{slow}) for {pixel:.6g} m pixels — slow and fast exchanged.")
    parts = [f"{v:+.6g} m along {name}" for v, name in ((along_f, "fast"), (along_s, "slow"))
             if v != 0]
    if parts:
        found.append("detector-plane offset: " + ", ".join(parts)
                     + " — a half-pixel offset if the pixel is twice that size "
                       "(pixel-centre vs pixel-corner convention, or a 0.5 in a beam centre).")
    return found

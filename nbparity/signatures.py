"""Diagnoses: known signatures of porting mistakes, each with its evidence and how sure it is.

``nbparity.divergence`` finds the roots; this module says why a root may have failed. A
signature fires only when its evidence beats the precision of the logs (a float32 side makes
equalities looser and differences need to be larger), and every finding carries a confidence:

- ``certain``: the evidence identifies the cause (e.g. two vectors equal to the last digit);
- ``likely``: the evidence fits and nothing else known does;
- ``possible``: the evidence is consistent with it, but weaker.

Signatures, in words:

- φ=0 carry-over (two logs): at a φ=0 step one side keeps the vectors of its last φ step and the
  other does not. From the reference alone: its φ step 0 equals its last φ step while the
  spindle moves, named even when the candidate prints only pixel-level values. Never fired when
  both sides carry (then the carry-over is not the difference).
- first pixel of an OpenMP thread's block: the reference runs in c-parity but computes this
  pixel with the true φ=0 orientation while a serial c-parity candidate carries.
- unit factor (1e±10: m vs Å, e.g. a scattering vector in m⁻¹ under an Å⁻¹ name; 1e±3), sign
  flip, swapped components, nanoBragg's rounding rule for h,k,l;
- detector-plane offsets: half-pixel offsets, slow/fast swap, sub-pixel (0,0) against the pixel
  centre under oversampling;
- precision: differences at float32 level (labelled, not roots), and roots whose inputs differ
  only at float32 level (rounding amplified by an ill-conditioned quantity).

Upstream's option-parsing side effects are warnings on a command line (``command_line_warnings``),
raised by ``nbparity trace`` and ``gate`` when the reference is a stock nanoBragg.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity import schema
from nbparity.compare import Comparison, values
from nbparity.tolerance import FLOAT32_RTOL

if TYPE_CHECKING:
    from nbparity.divergence import PixelOutcome

ROTATED_KEYS = ("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")
UNIT_FACTORS = {1e10: "1e10 (metres vs Angstrom)", 1e-10: "1e-10 (Angstrom vs metres)",
                1e3: "1e3 (metres vs millimetres)", 1e-3: "1e-3 (millimetres vs metres)"}

#: One float32 unit in the last place, relative (2^-23), and the largest error, relative to a
#: key's largest magnitude in the pixel, that float32 arithmetic is taken to explain (about 800
#: ulps). With it, the case matrix traced in float32 at --rtol 1e-6 against the float64 C
#: reference (the command is in tolerance.FLOAT32_RTOL's comment) has one root in 48 cases:
#: gauss_xtal's I_term, with a [possible] amplified-rounding note; 63 failing pixels have
#: none. A 1e-3 error in a rotated vector stays a root.
FLOAT32_ULP = 2.0 ** -23
FLOAT32_LEVEL = 1e-4
#: Two float64 vectors are "the same" when they agree to this relative norm.
FLOAT64_SAME = 1e-9

CONFIDENCES = ("certain", "likely", "possible")


@dataclass(frozen=True)
class Finding:
    """One diagnosis: which signature, how sure, what it means, and the fix in a port's terms."""

    signature: str
    confidence: str
    text: str
    advice: str = ""

    def __str__(self) -> str:
        advice = f" Fix: {self.advice}" if self.advice else ""
        return f"{self.text}{advice} [{self.confidence}]"

    def as_dict(self) -> dict:
        return {"signature": self.signature, "confidence": self.confidence, "text": self.text,
                "advice": self.advice}


# --------------------------------------------------------------------------- precision

def float32_sides(comparison: Comparison) -> list[str]:
    """Which logs are float32: by their ``dtype`` meta key, or by the precision the reader
    inferred from how they print (``TraceLog.precision``), or as declared by an engine."""
    out = []
    for side, log in (("reference", comparison.reference), ("candidate", comparison.candidate)):
        declared = (log.meta("dtype"), getattr(log, "precision", None),
                    getattr(log, "declared_precision", None))
        if any(p is not None and "float32" in str(p) for p in declared):
            out.append(side)
    return out


def _same(a: np.ndarray, b: np.ndarray, rtol: float) -> bool:
    scale = max(float(np.linalg.norm(b)), 1e-300)
    return a.size == b.size and a.size > 0 and float(np.linalg.norm(a - b)) <= rtol * scale


class PixelEvidence:
    """What one pixel's records show, worked out once per pixel: the signatures are asked about
    every failing record, and the rotated vectors, the carry-over of each side and each key's
    scale do not depend on the record (a pixel failing at a thousand steps stays linear)."""

    def __init__(self, rows: pd.DataFrame, comparison: Comparison):
        self.rows, self.comparison = rows, comparison
        self._rotations: dict[str, dict[tuple[int, int], np.ndarray]] = {}
        self._carries: dict[str, _Carry] = {}

    @cached_property
    def float32_sides(self) -> list[str]:
        return float32_sides(self.comparison)

    @cached_property
    def equal_tolerance(self) -> float:
        """How closely two vectors of one log must agree to be called equal: float32 logs
        round."""
        return 8 * FLOAT32_ULP if self.float32_sides else FLOAT64_SAME

    @cached_property
    def scales(self) -> dict[str, float]:
        """Each key's largest finite reference norm in the pixel (its natural scale)."""
        rows = self.rows
        width = self.comparison.records.attrs.get("width", 1)
        r = np.stack([rows[f"r{j}"].to_numpy(np.float64) for j in range(width)], axis=1)
        used = ((rows["mask"].to_numpy()[:, None] >> np.arange(width)) & 1) == 1
        with np.errstate(invalid="ignore", over="ignore"):
            norms = np.sqrt(np.where(used, r * r, 0.0).sum(axis=1))
        finite = np.isfinite(norms)
        frame = pd.DataFrame({"key": rows.key.to_numpy()[finite], "norm": norms[finite]})
        return frame.groupby("key")["norm"].max().to_dict()

    def rotations(self, side: str) -> dict[tuple[int, int], np.ndarray]:
        """(phi_tic, mos_tic) → the nine rotated cell components one side printed at that
        step (steps where the side lacks one of the three vectors are left out)."""
        if side not in self._rotations:
            self._rotations[side] = _rotations(self.rows, side)
        return self._rotations[side]

    def carries(self, side: str) -> _Carry:
        if side not in self._carries:
            self._carries[side] = _carries(self, side)
        return self._carries[side]

    @cached_property
    def differs_beyond_precision(self) -> bool:
        """Whether the two sides' φ step 0 vectors differ by more than the logs' precision;
        true when the candidate prints none (then the intensity's failure is the evidence)."""
        ref, cand = self.rotations("r"), self.rotations("x")
        common = [k for k in ref if k[0] == 0 and k in cand]
        if not common:
            return True
        margin = max(self.equal_tolerance, FLOAT32_LEVEL if self.float32_sides else 1e-6)
        return any(not _same(cand[k], ref[k], margin) for k in common)

    @cached_property
    def carry_finding(self) -> Finding | None:
        return carryover(self)

    @cached_property
    def omp_finding(self) -> Finding | None:
        return omp_block_start(self)


def precision_level(record: pd.Series, evidence: PixelEvidence) -> str:
    """Why ``record``'s failure is within the logs' precision (a sentence), or "" if it is not.

    Only a float32 side excuses a difference: its error, against the key's scale in this pixel
    (so a value near a zero of its quantity is judged by the quantity's size), is at most
    FLOAT32_LEVEL.
    """
    sides = evidence.float32_sides
    if not sides or record.kind != "real":
        return ""
    r, x = values(record, "r"), values(record, "x")
    if r.size == 0 or r.size != x.size or not (np.isfinite(r).all() and np.isfinite(x).all()):
        return ""
    scale = evidence.scales.get(record.key, 0.0)
    diff = float(np.linalg.norm(x - r))
    if scale == 0.0 or diff > FLOAT32_LEVEL * scale:
        return ""
    ulps = diff / scale / FLOAT32_ULP
    return (f"{record.key} differs by {diff / scale:.2e} of its scale in this pixel (about "
            f"{ulps:.0f} float32 ulps) with a float32 {' and '.join(sides)}: float32 rounding, "
            f"not a root")


# --------------------------------------------------------------------------- entry point

def diagnose(record: pd.Series, evidence: PixelEvidence,
             outcome: PixelOutcome | None = None) -> list[Finding]:
    """Every signature that fits a root (or precision-level) failure, most specific first."""
    rows, comparison = evidence.rows, evidence.comparison
    found = [f for f in (evidence.carry_finding, evidence.omp_finding) if f is not None]
    r, x = values(record, "r"), values(record, "x")
    if r.size and r.size == x.size and np.all(np.isfinite(r)) and np.all(np.isfinite(x)):
        found.extend(_value_signatures(record, r, x, rows, comparison))
    if outcome is not None:
        found.extend(_precision_findings(record, rows, comparison, outcome))
    return found


# --------------------------------------------------------------------------- carry-over

def _rotations(rows: pd.DataFrame, side: str) -> dict[tuple[int, int], np.ndarray]:
    """(phi_tic, mos_tic) → the nine rotated cell components ``side`` ("r" or "x") printed at
    that step; steps where the side lacks one of the three vectors (or a component) are left
    out. Read column-wise: a pixel may hold thousands of steps."""
    steps = rows[(rows.stage == "phi") & rows.key.isin(ROTATED_KEYS) & (rows.phi_tic >= 0)]
    xyz = np.stack([steps[f"{side}{j}"].to_numpy(np.float64) for j in range(3)], axis=1)
    whole = ((steps["mask"].to_numpy() & 7) == 7) & np.isfinite(xyz).all(axis=1)
    parts: dict[tuple[int, int], dict[str, np.ndarray]] = {}
    for key, phi_tic, mos_tic, vector, ok in zip(steps.key.to_numpy(), steps.phi_tic.to_numpy(),
                                                 steps.mos_tic.to_numpy(), xyz, whole):
        if ok:
            parts.setdefault((int(phi_tic), int(mos_tic)), {})[key] = vector
    return {step: np.concatenate([got[k] for k in ROTATED_KEYS])
            for step, got in sorted(parts.items()) if len(got) == len(ROTATED_KEYS)}


def _phi_at(rows: pd.DataFrame, side: str, phi_tic: int) -> float | None:
    got = rows[(rows.key == "phi_deg") & (rows.phi_tic == phi_tic)]
    for _, r in got.iterrows():
        v = values(r, side)
        if v.size:
            return float(v[0])
    return None


@dataclass
class _Carry:
    """Whether one side's log shows the carry-over: its φ step 0 equals its last φ step (per
    mosaic domain) while the spindle moves."""

    shown: bool
    evidence: bool  # the log has the steps needed to tell
    last_tic: int = -1


def _carries(evidence: PixelEvidence, side: str) -> _Carry:
    rows, tol = evidence.rows, evidence.equal_tolerance
    rot = evidence.rotations(side)
    tics = sorted({t for t, _ in rot})
    if len(tics) < 2 or tics[0] != 0:
        return _Carry(False, False)
    last = tics[-1]
    phi0 = _phi_at(rows, side, 0)
    if phi0 is not None and phi0 != 0.0:
        return _Carry(False, True, last)  # not a φ=0 step: nothing is carried
    moves = any(not _same(rot[(t, m)], rot[(0, m)], tol) for t, m in rot
                if t != 0 and (0, m) in rot and t != last)
    phi_last = _phi_at(rows, side, last)
    if phi_last is not None and phi0 is not None:
        moves = moves or phi_last != phi0
    pairs = [(rot[(0, m)], rot[(last, m)]) for t, m in rot if t == 0 and (last, m) in rot]
    if not pairs or not moves:
        return _Carry(False, bool(pairs) and len(tics) > 2, last)
    return _Carry(all(_same(a, b, tol) for a, b in pairs), True, last)


def carryover(evidence: PixelEvidence) -> Finding | None:
    """The φ=0 carry-over, from both logs where both print the rotated vectors, else from the
    reference alone (a property of the pixel, not of one record)."""
    comparison = evidence.comparison
    ref, cand = evidence.carries("r"), evidence.carries("x")
    ref_mode, cand_mode = _mode(comparison.reference), _mode(comparison.candidate)
    if ref.shown and cand.shown:
        return None  # both carry: the carry-over is not what differs
    if not ref.shown and not cand.shown:
        return None
    if not evidence.differs_beyond_precision:
        return None
    modes = (f" (reference mode {ref_mode or 'not printed'}, candidate mode "
             f"{cand_mode or 'not printed'})")
    quirk = ("nanoBragg's serial build skips the spindle rotation at φ=0 and keeps the vectors "
             "of the last non-zero φ step it computed")
    if ref.shown:
        who = (f"the reference's φ step 0 equals its last φ step (phi_tic={ref.last_tic}) "
               f"while the spindle moves, so it carries the vectors over; ")
        if cand.evidence:
            who += "the candidate rotates to the true φ=0 orientation"
            confidence = "certain"
        else:
            who += "the candidate's log does not print the rotated vectors, and its result differs"
            confidence = "likely" if cand_mode != "c-parity" else "possible"
        if cand_mode == "c-parity":
            return Finding("carry-over", confidence,
                           f"φ=0 carry-over: {who}{modes}, although the candidate says it "
                           f"runs in c-parity mode: its carry-over is broken ({quirk}).",
                           "make the port keep the previous step's rotated vectors at every "
                           "φ=0 step after the first sweep of the run.")
        return Finding("carry-over", confidence, f"φ=0 carry-over: {who}{modes}; {quirk}.",
                       "to reproduce the reference, make the port reuse the last step's "
                       "rotated vectors at φ=0 (this project's simulator: "
                       "--phi-carryover-mode c-parity); or compare against a reference in spec "
                       "mode (c-ref: -phi_carryover_mode spec).")
    who = (f"the candidate's φ step 0 equals its last φ step (phi_tic={cand.last_tic}) while "
           f"the spindle moves; the reference rotates to the true φ=0 orientation")
    if ref_mode in ("c-parity", "c-parity-omp"):
        return None  # a carrying reference that does not carry here: see omp_block_start
    confidence = "certain" if ref_mode == "spec" else "likely"
    return Finding("carry-over", confidence if ref.evidence else "possible",
                   f"φ=0 carry-over: {who}{modes}; {quirk}.",
                   "rotate by φ at every step, φ=0 included (this project's simulator: "
                   "--phi-carryover-mode spec); or compare against nanoBragg's serial "
                   "c-parity behaviour as the reference.")


def _mode(log) -> str | None:
    return log.meta("phi_carryover_mode")


def omp_block_start(evidence: PixelEvidence) -> Finding | None:
    """A c-parity reference that does not carry at this pixel while a serial c-parity
    candidate does: the first pixel of an OpenMP thread's block (or of the run)."""
    rows, comparison = evidence.rows, evidence.comparison
    ref_mode = _mode(comparison.reference)
    if ref_mode not in (None, "c-parity"):
        return None  # a reference that says spec (or already the OpenMP mode) is no OpenMP run
    ref, cand = evidence.carries("r"), evidence.carries("x")
    if not (cand.shown and ref.evidence and not ref.shown):
        return None
    if not evidence.differs_beyond_precision:
        return None
    slow, fast = int(rows.slow.iloc[0]), int(rows.fast.iloc[0])
    rows_hint = comparison.records.attrs.get("detector_slow_pixels")
    threads = ""
    if rows_hint:
        counts = [t for t in range(2, 65) if slow in omp_block_starts(int(rows_hint), t)]
        if counts:
            threads = (f"; row {slow} starts a thread's block of rows for "
                       f"OMP_NUM_THREADS in {counts[:8]}")
    confidence = "likely" if fast == 0 and ref_mode == "c-parity" else "possible"
    return Finding(
        "openmp-block", confidence,
        f"first pixel of an OpenMP thread's block: the reference says c-parity but computes "
        f"pixel ({slow}, {fast}) with the true φ=0 orientation, where a serial c-parity run "
        f"carries the last step's vectors. An OpenMP build of nanoBragg gives each thread its "
        f"own carry-over state, restarted at the first pixel of its block of rows{threads}.",
        "compare against the serial build, or run the candidate in the OpenMP carry-over mode "
        "(this project's engines: -phi_carryover_mode c-parity-omp -omp_threads T with the "
        "reference's thread count).")


def omp_static_blocks(rows: int, threads: int) -> list[tuple[int, int]]:
    """[first, end) slow rows of each thread under OpenMP's static schedule without a chunk
    size, as libgomp splits them (the first rows % threads threads take one row more; threads
    beyond the row count get an empty block). The engines' c-parity-omp mode follows the same
    rule."""
    q, r = divmod(rows, threads)
    out = []
    for i in range(threads):
        first = i * (q + 1) if i < r else i * q + r
        out.append((first, first + (q + 1 if i < r else q)))
    return out


def omp_block_starts(rows: int, threads: int) -> list[int]:
    """First slow row of each thread's block (see omp_static_blocks)."""
    return [first for first, end in omp_static_blocks(rows, threads) if end > first]


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


# --------------------------------------------------------------------------- command lines

def command_line_warnings(args: list[str] | tuple[str, ...]) -> list[str]:
    """Upstream nanoBragg's option-parsing side effects a command line triggers (every option
    is a substring test there, so one token can set two things). Warnings, one sentence each."""
    args = [str(a) for a in args]
    out = []
    if "-twotheta_axis" in args and "-twotheta" not in args:
        at = args.index("-twotheta_axis")
        first = args[at + 1] if at + 1 < len(args) else "?"
        out.append(f"upstream nanoBragg reads '-twotheta_axis {first} ...' also as "
                   f"'-twotheta {first}' (and pivot sample): a stock build rotates the detector "
                   f"by {first} degrees; add an explicit -twotheta to both sides.")
    if "-misset_seed" in args:
        at = args.index("-misset_seed")
        following = args[at + 1:at + 4]
        if len(following) == 3:  # upstream's test: at least three tokens after the option
            angles = ", ".join(f"{_atof(t):g}" for t in following)
            cancelled = (" and cancels the earlier '-misset random'"
                         if "random" in args[:at] else "")
            out.append(f"upstream nanoBragg reads '-misset_seed' also as '-misset': a stock "
                       f"build sets misset = ({angles}) degrees from the next three tokens"
                       f"{cancelled}; give -misset_seed last, or -misset explicitly after it.")
    return out


_ATOF_PREFIX = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _atof(token: str) -> float:
    """C's atof: the longest numeric prefix, 0 when there is none."""
    match = _ATOF_PREFIX.match(token)
    return float(match.group(0)) if match else 0.0

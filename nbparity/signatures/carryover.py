"""Signatures of the φ=0 carry-over (one side keeps its last φ step's vectors at φ=0) and of
the first pixel of an OpenMP thread's block (a c-parity reference computes it with the true
φ=0 orientation)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity.compare import values
from nbparity.signatures.base import ROTATED_KEYS, Finding, _same

if TYPE_CHECKING:
    from nbparity.signatures.evidence import PixelEvidence

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

"""``PixelEvidence`` (what one pixel's records show, worked out once) and ``diagnose``, which
asks every signature about a root record."""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from nbparity.compare import Comparison, values
from nbparity.signatures.base import (
    FLOAT32_LEVEL,
    FLOAT32_ULP,
    FLOAT64_SAME,
    Finding,
    _same,
    float32_sides,
)
from nbparity.signatures.carryover import _carries, _Carry, _rotations, carryover, omp_block_start
from nbparity.signatures.values import _precision_findings, _value_signatures

if TYPE_CHECKING:
    from nbparity.divergence import PixelOutcome


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

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

from nbparity.signatures.base import CONFIDENCES, Finding, float32_sides
from nbparity.signatures.carryover import (
    carryover,
    omp_block_start,
    omp_block_starts,
    omp_static_blocks,
)
from nbparity.signatures.command_line import command_line_warnings
from nbparity.signatures.evidence import PixelEvidence, diagnose, precision_level

__all__ = ["CONFIDENCES", "Finding", "PixelEvidence", "carryover", "command_line_warnings",
           "diagnose", "float32_sides", "omp_block_start", "omp_block_starts",
           "omp_static_blocks", "precision_level"]

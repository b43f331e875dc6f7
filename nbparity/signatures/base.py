"""What every signature shares: the confidence levels, the precision thresholds, ``Finding``
and the equality of two vectors within a tolerance."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from nbparity.compare import Comparison

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

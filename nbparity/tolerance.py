"""The contract's tolerance model: rtol/atol with per-key overrides, and the failing statuses.

Kept apart from ``nbparity.compare`` (which aligns logs with numpy and pandas) so that commands
that only need the settings, such as a one-engine ``nbparity trace``, start without pandas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

DEFAULT_RTOL = 1e-6
DEFAULT_ATOL = 0.0

#: statuses that fail a comparison, and those of a record held by one log only
FAILING = frozenset({"fail", "both-nan"})
MISSING = frozenset({"missing-candidate", "missing-reference"})
#: a record a log printed more than once with different values: never a silent pass
AMBIGUOUS = "ambiguous"

#: Printed precision widens the test by each side's resolution, but a relative difference above
#: this is a failure however few digits a log printed (a 1-digit "5" against 5.5 is no
#: precision limit: 10% is a divergence).
PRECISION_LIMITED_MAX_REL = 1e-3


@dataclass(frozen=True)
class Tolerance:
    """rtol/atol, with per-key overrides: ``{key: (rtol, atol)}``."""

    rtol: float = DEFAULT_RTOL
    atol: float = DEFAULT_ATOL
    per_key: dict[str, tuple[float, float]] = field(default_factory=dict)
    nan_equal: bool = False
    rtol_given: bool = False  # the user chose rtol: no engine's precision floor raises it
    #: per-key entries the user chose (--tol): no precision floor raises those either; the
    #: others (a case file's, a profile's, written for float64 engines) rise with the default
    keys_given: frozenset = frozenset()

    def __post_init__(self):
        # a negative or NaN tolerance fails or passes everything by accident
        for name, value in (("rtol", self.rtol), ("atol", self.atol),
                            *((f"{key} rtol/atol", v) for key, pair in self.per_key.items()
                              for v in pair)):
            if not (isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")

    def under_case(self, case_per_key: dict[str, tuple[float, float]]) -> Tolerance:
        """This tolerance over a case's own per-key overrides: a key given here (``--tol``)
        wins over the case file's, the case file's over the default rtol/atol."""
        return replace(self, per_key={**case_per_key, **self.per_key})

    def for_keys(self, names: list[str]) -> np.ndarray:
        """(rtol, atol) per key name, one row each."""
        return np.array([self.per_key.get(k, (self.rtol, self.atol)) for k in names],
                        dtype=np.float64).reshape(-1, 2)


#: The default rtol when one engine computes in float32: float32 carries 24 bits (6e-8), and a
#: traced quantity reached through hundreds of float32 operations (an intensity summed over the
#: φ and mosaic steps, F_latt through sin(N·π·h)) drifts further. Measured with
#: `nbparity gate --dtype float32 --mode c-parity --no-determinism --rtol 1e-6` over the 48
#: cases of traces/cases.toml: worst relative error per case median 3.7e-6, 46 of 48 at most
#: 6.5e-5 (default case); above 1e-4 only phi_zero_mosaic (3.8e-4, I_term) and gauss_xtal
#: (0.53, I_term at a near-zero lattice factor). Those need a per-key --tol; first-divergence
#: labels such differences as float32 rounding rather than roots.
FLOAT32_RTOL = 1e-4


def for_precision(tolerance: Tolerance, precision: str | None) -> Tolerance:
    """The tolerance for a log computed in ``precision``: float32 raises the default rtol, and
    the per-key rtols the user did not give (a case file's I_pixel_final entry, written for a
    float64 engine's float32 image), to FLOAT32_RTOL, unless the user gave --rtol."""
    if precision == "float32" and not tolerance.rtol_given:
        per_key = {key: (rtol if key in tolerance.keys_given else max(rtol, FLOAT32_RTOL), atol)
                   for key, (rtol, atol) in tolerance.per_key.items()}
        return replace(tolerance, rtol=max(tolerance.rtol, FLOAT32_RTOL), per_key=per_key)
    return tolerance


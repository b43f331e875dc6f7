"""How precisely a log prints its reals: significant digits of a token, half a unit in its
last digit (``resolution``), and the precision a legacy log or printout is inferred to print
with (``infer_precision``)."""

from __future__ import annotations

import math
import re

import numpy as np


def _significant_digits(token: str) -> int:
    """Significant digits a decimal token shows (trailing zeros count: they were printed)."""
    mantissa = token.lstrip("+-").split("e")[0].split("E")[0].replace(".", "")
    stripped = mantissa.lstrip("0")
    return len(stripped) if stripped else 1


def _prints_as_17g(token: str, value: float) -> bool:
    """Whether ``token`` shows every significant digit %.17g prints for its value (``2.5``,
    ``0.25``: exact), rather than a rounding of it (``0.065559``, whose double %.17g prints
    as 0.065559000000000003)."""
    if not math.isfinite(value):
        return True
    return _significant_digits(format(value, ".17g")) <= _significant_digits(token)


def _resolution(token: str, value: float, exact: bool, digits: int | None = None) -> float:
    """Half a unit in the last printed digit of ``token`` (absolute).

    ``digits``: significant digits the printing format guaranteed (``%15.10g`` → 10), where
    known; ``%g`` strips trailing zeros, so the token alone would overstate the resolution.
    """
    if exact or not math.isfinite(value):
        return 0.0
    if digits is not None and value != 0.0:
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    body = token.lstrip("+-")
    exp = 0
    if "e" in body or "E" in body:
        body, exp_text = re.split("[eE]", body)
        exp = int(exp_text)
    decimals = len(body.split(".")[1]) if "." in body else 0
    return 0.5 * 10.0 ** (exp - decimals)


#: From this many significant digits on, a log prints full precision (%.15g, %.17g): its
#: shorter tokens had trailing zeros dropped, they are not low-precision values.
FULL_DIGITS = 15
#: From this many digits on (C's %g prints 6), shorter tokens are taken at the log's digits too.
G_DIGITS = 6
#: Values printed with at least this many digits can show float32's rounding.
_F32_SHOWN = 9


def infer_precision(tokens: list[str], values: np.ndarray
                    ) -> tuple[tuple[str, int], np.ndarray]:
    """The log's print precision ``(label, significant digits)`` from its real tokens, and each
    token's resolution (half a unit in the last digit it carries) under it:

    - every token at least as long as float32 shows (9 digits) reads back from float32 (at
      least 3 of them needing more than 7 digits): "float32", 7 digits, half a float32 ulp;
    - >= 15 significant digits somewhere: "float64" (0 at 17 digits, else at the log's digits);
    - every token without exponent has the same N >= 1 decimals: fixed "%.Nf", per token;
    - otherwise "%.Dg" with D the most digits printed: at D digits when D >= 6 (C's %g drops
      trailing zeros), else per token (half a unit in its last printed digit).
    """
    if not tokens:
        return ("none", 0), np.zeros(0)  # no real values: nothing to infer
    digits = np.array([_significant_digits(t) for t in tokens])
    most = int(digits.max())
    finite = np.isfinite(values)
    scale = np.zeros(len(tokens))
    # %g and %e print 0 only for an exact zero (a tiny value shows its exponent): exact
    nonzero = finite & (values != 0)
    scale[nonzero] = np.floor(np.log10(np.abs(values[nonzero])))
    long = digits >= _F32_SHOWN
    # values with a short decimal form (1.000000000, 0.5) are float32 in any log: they do not tell
    revealing = np.array([math.isfinite(v) and float(format(v, ".7g")) != v
                          for v in values[long].tolist()], dtype=bool)
    if revealing.sum() >= 3 and _float32_printed(values[long], digits[long]):
        half_ulp = np.spacing(np.abs(values.astype(np.float32))).astype(np.float64) / 2
        return ("float32", 7), np.where(nonzero, half_ulp, 0.0)
    if most >= FULL_DIGITS:
        if most >= 17:
            return ("float64", most), np.zeros(len(tokens))
        return ("float64", most), np.where(nonzero, 0.5 * 10.0 ** (scale - most + 1), 0.0)
    plain = [t for t in tokens if "e" not in t.lower()]
    decimals = {len(t.split(".")[1]) if "." in t else 0 for t in plain}
    if len(plain) == len(tokens) and len(decimals) == 1 and decimals != {0}:
        label = f"%.{decimals.pop()}f"
        return (label, most), np.array([_resolution(t, v, False) for t, v in zip(tokens, values)])
    if most >= G_DIGITS:
        return (f"%.{most}g", most), np.where(nonzero, 0.5 * 10.0 ** (scale - most + 1), 0.0)
    return (f"%.{most}g", most), np.array([_resolution(t, v, False)
                                           for t, v in zip(tokens, values)])


def _float32_printed(values: np.ndarray, digits: np.ndarray) -> bool:
    """Whether every value is a float32 printed with its digits (a float64 log's 9+-digit
    values almost never are)."""
    with np.errstate(over="ignore", invalid="ignore"):
        single = values.astype(np.float32).astype(np.float64)
    for value, back, n in zip(values.tolist(), single.tolist(), digits.tolist()):
        if not math.isfinite(value):
            continue
        if float(format(back, f".{max(n, 1)}g")) != value:
            return False
    return True

"""C's double arithmetic for the set-up scalars, where Python's differs.

nanoBragg computes its set-up in C doubles: a division by zero gives +-inf or nan, and its
(int) conversions of nan or out-of-range values are undefined in C and, on x86-64 where
upstream is built and measured, give INT_MIN (the "integer indefinite" of cvttsd2si). Python
raises instead (ZeroDivisionError, OverflowError, ValueError). Degenerate inputs upstream
renders (a zero distance, an infinite crystal, a detector parallel to the beam) go through
these values; the C reference uses the same rules (``nb_c_int`` in c_reference/src/vec.h).
"""

from __future__ import annotations

import math

INT_MIN = -(2**31)


def c_div(a: float, b: float) -> float:
    """a / b in IEEE doubles: x/0 is +-inf (by the signs of x and of the zero), 0/0 is nan."""
    if b != 0.0:
        return a / b
    if a == 0.0 or math.isnan(a):
        return math.nan
    return math.copysign(math.inf, a) * math.copysign(1.0, b)


def c_int(x: float) -> int:
    """(int)x as x86-64 converts it: truncation, INT_MIN for nan or beyond int's range."""
    if -2147483649.0 < x < 2147483648.0:
        return int(x)
    return INT_MIN


def c_ceil_int(x: float) -> int:
    """(int)ceil(x), nanoBragg's step counts and recommended oversampling."""
    return c_int(math.ceil(x)) if math.isfinite(x) else INT_MIN


def c_exp(x: float) -> float:
    """C's exp: +inf where Python's math.exp raises OverflowError."""
    try:
        return math.exp(x)
    except OverflowError:
        return math.inf

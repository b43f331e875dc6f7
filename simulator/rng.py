"""nanoBragg's random numbers, reproduced exactly: ran1, gaussdev, gammln, poidev, mosaic matrices.

These are inherently sequential, so they are plain Python on scalars (they build small tables
at set-up time and draw the noise image at output time; the engine never calls them).
Single-precision steps of the original are reproduced with ``f32`` rounding.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import struct

from simulator.cnum import c_exp

_F = struct.Struct("<f")

IA = 16807
IM = 2147483647
AM = 1.0 / IM
IQ = 127773
IR = 2836
NTAB = 32
NDIV = 1 + (IM - 1) // NTAB


def f32(x: float) -> float:
    """Round a double to the nearest float32 (as a C float assignment does)."""
    try:
        return _F.unpack(_F.pack(x))[0]
    except OverflowError:
        return math.copysign(math.inf, x)


RNMX = 1.0 - 1.2e-7  # the cap of ran1 (compared in double, returned as a float)


def _load_powf():
    try:
        name = ctypes.util.find_library("m") or "libm.so.6"
        lib = ctypes.CDLL(name)
        fn = lib.powf
        fn.restype = ctypes.c_float
        fn.argtypes = (ctypes.c_float, ctypes.c_float)
        return fn
    except (OSError, AttributeError):  # pragma: no cover - no C maths library
        return None


_POWF = _load_powf()


def powf(x: float, y: float) -> float:
    """Single-precision pow, the C library's powf when available."""
    if _POWF is not None:
        return float(_POWF(x, y))
    return f32(math.pow(f32(x), f32(y)))  # pragma: no cover


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


class Ran1Table:
    """The shuffle table of Numerical Recipes' ran1, shared by every seed stream of a run.

    nanoBragg keeps the table in static storage, so all streams (misset, mosaic, noise) share it;
    each stream's seed is a separate ``Seed`` object.
    """

    def __init__(self):
        self.iy = 0
        self.iv = [0] * NTAB

    def copy(self) -> Ran1Table:
        t = Ran1Table()
        t.iy = self.iy
        t.iv = list(self.iv)
        return t

    def state(self) -> tuple:
        return (self.iy, tuple(self.iv))

    @classmethod
    def from_state(cls, state) -> Ran1Table:
        t = cls()
        t.iy = state[0]
        t.iv = list(state[1])
        return t


class Seed:
    """A mutable C ``long`` seed (nanoBragg stores seeds negated)."""

    def __init__(self, value: int):
        self.value = int(value)


def ran1(seed: Seed, table: Ran1Table) -> float:
    """Uniform deviate in (0, 1) as a float32 value (Park-Miller with Bays-Durham shuffle)."""
    idum = seed.value
    if idum <= 0 or not table.iy:
        idum = 1 if -idum < 1 else -idum
        for j in range(NTAB + 7, -1, -1):
            k = _cdiv(idum, IQ)
            idum = IA * (idum - k * IQ) - IR * k
            if idum < 0:
                idum += IM
            if j < NTAB:
                table.iv[j] = idum
        table.iy = table.iv[0]
    k = _cdiv(idum, IQ)
    idum = IA * (idum - k * IQ) - IR * k
    if idum < 0:
        idum += IM
    j = _cdiv(table.iy, NDIV)
    table.iy = table.iv[j]
    table.iv[j] = idum
    seed.value = idum
    temp = f32(AM * table.iy)
    return f32(RNMX) if temp > RNMX else temp


def mosaic_rotation_draw(mosaicity: float, seed: Seed, table: Ran1Table):
    """Draw one random rotation the way nanoBragg's mosaic_rotation_umat does.

    Returns (axis (3 floats), powf factor, angle) where angle = f32(f32(mosaicity) * factor):
    the spread enters the C function as a float and the product is taken in single precision.
    """
    r1 = 2.0 * ran1(seed, table) - 1.0
    r2 = 2.0 * ran1(seed, table) - 1.0
    r3 = 2.0 * ran1(seed, table) - 1.0
    xyrad = math.sqrt(1.0 - r2 * r2)
    factor = powf(f32(1.0 - r3 * r3), f32(1.0 / 3.0))
    rot = f32(f32(mosaicity) * factor)
    axis = (xyrad * math.sin(math.pi * r1), xyrad * math.cos(math.pi * r1), r2)
    return axis, factor, rot


def umat_from_axis_angle(axis, rot: float):
    """Row-major rotation matrix (9 floats) for a unit axis and an angle, in nanoBragg's algebra."""
    v1, v2, v3 = axis
    t1 = math.cos(rot)
    t2 = 1.0 - t1
    t8 = math.sin(rot)
    t6 = t2 * v1
    t7 = t6 * v2
    t9 = t8 * v3
    t11 = t6 * v3
    t12 = t8 * v2
    t19 = t2 * v2 * v3
    t20 = t8 * v1
    return (
        t1 + t2 * (v1 * v1),
        t7 - t9,
        t11 + t12,
        t7 + t9,
        t1 + t2 * (v2 * v2),
        t19 - t20,
        t11 - t12,
        t19 + t20,
        t1 + t2 * (v3 * v3),
    )


def umat2misset(u):
    """Missetting angles (rotx, roty, rotz), radians, of a rotation matrix (as umat2misset)."""
    uxx, uxy, uxz, uyx, uyy, uyz, uzx, uzy, uzz = u

    def normrow(a, b, c):
        m = math.sqrt(a * a + b * b + c * c)
        return (a / m, b / m, c / m, m) if m > 0 else (a, b, c, m)

    uxx, uxy, uxz, mx = normrow(uxx, uxy, uxz)
    uyx, uyy, uyz, my = normrow(uyx, uyy, uyz)
    uzx, uzy, uzz, mz = normrow(uzx, uzy, uzz)
    if mx >= 0 and my <= 0 and mz <= 0:
        uyx, uyy, uyz = 0.0, 1.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my >= 0 and mz <= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uzx, uzy, uzz = 0.0, 0.0, 1.0
    if mx <= 0 and my <= 0 and mz >= 0:
        uxx, uxy, uxz = 1.0, 0.0, 0.0
        uyx, uyy, uyz = 0.0, 1.0, 0.0
    for _ in range(2):
        xcy = normrow(uxy * uyz - uxz * uyy, uxz * uyx - uxx * uyz, uxx * uyy - uxy * uyx)
        ycz = normrow(uyy * uzz - uyz * uzy, uyz * uzx - uyx * uzz, uyx * uzy - uyy * uzx)
        zcx = normrow(uzy * uxz - uzz * uxy, uzz * uxx - uzx * uxz, uzx * uxy - uzy * uxx)
        if mx <= 0:
            uxx, uxy, uxz = ycz[:3]
        if my <= 0:
            uyx, uyy, uyz = zcx[:3]
        if mz <= 0:
            uzx, uzy, uzz = xcy[:3]
    uxx, uxy, uxz, mx = normrow(uxx, uxy, uxz)
    uyx, uyy, uyz, my = normrow(uyx, uyy, uyz)
    uzx, uzy, uzz, mz = normrow(uzx, uzy, uzz)
    if uzx * uzx < 1.0:
        rotx = math.atan2(uzy, uzz)
        roty = math.atan2(-uzx, math.sqrt(uzy * uzy + uzz * uzz))
        rotz = math.atan2(uyx, uxx)
    else:
        rotx = math.atan2(1, 1) * 4
        roty = math.atan2(1, 1) * 2
        rotz = math.atan2(uxy, -uyy)
    return rotx, roty, rotz


_GAMMLN_COF = (
    76.18009172947146,
    -86.50532032941677,
    24.01409824083091,
    -1.231739572450155,
    0.1208650973866179e-2,
    -0.5395239384953e-5,
)


def gammln(xx: float) -> float:
    """ln Gamma(xx); argument and result are floats (single precision) as in nanoBragg."""
    x = y = f32(xx)
    tmp = x + 5.5
    tmp -= (x + 0.5) * math.log(tmp)
    ser = 1.000000000190015
    for c in _GAMMLN_COF:
        y += 1.0
        ser += c / y
    return f32(-tmp + math.log(2.5066282746310005 * ser / x))


class NoiseGenerator:
    """poidev/gaussdev with their static state, for drawing nanoBragg's noise image."""

    def __init__(self, seed: int, table: Ran1Table):
        self.seed = Seed(seed)
        self.table = table
        self.iset = 0
        self.gset = 0.0

    def ran1(self) -> float:
        return ran1(self.seed, self.table)

    def gaussdev(self) -> float:
        if self.iset == 0:
            while True:
                v1 = f32(2.0 * self.ran1() - 1.0)
                v2 = f32(2.0 * self.ran1() - 1.0)
                rsq = f32(f32(v1 * v1) + f32(v2 * v2))
                if not (rsq >= 1.0 or rsq == 0):
                    break
            fac = f32(math.sqrt(-2.0 * math.log(rsq) / rsq))
            self.gset = f32(v1 * fac)
            self.iset = 1
            return f32(v2 * fac)
        self.iset = 0
        return self.gset

    def poidev(self, xm: float) -> float:
        """Poisson deviate of mean xm (a float32 value); returns a float32 value."""
        xm = f32(xm)
        if xm > 1.0e6:
            return f32(xm + math.sqrt(xm) * self.gaussdev())
        if xm < 12.0:
            g = f32(c_exp(-xm))
            em = -1.0
            t = 1.0
            while True:
                em = f32(em + 1.0)
                t = f32(t * self.ran1())
                if not (t > g):
                    break
            return em
        sq = f32(math.sqrt(2.0 * xm))
        alxm = f32(math.log(xm))
        g = f32(f32(xm * alxm) - gammln(xm + 1.0))
        while True:
            while True:
                y = f32(math.tan(math.pi * self.ran1()))
                em = f32(f32(sq * y) + xm)
                if not (em < 0.0):
                    break
            em = f32(math.floor(em)) if math.isfinite(em) else em  # a NaN mean: C's floor(nan)
            e = f32(f32(f32(em * alxm) - gammln(em + 1.0)) - g)
            t = f32(0.9 * (1.0 + f32(y * y)) * c_exp(e))
            if not (self.ran1() > t):
                break
        return em

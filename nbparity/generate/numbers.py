"""Numbers as the generator prints them, and the geometry it draws (unit vectors near a
direction, rotations, a cell's reciprocal vectors)."""

from __future__ import annotations

import math
import random

# --------------------------------------------------------------------------- numbers


def _f(value: float, digits: int = 4) -> str:
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def _unit_near(rng: random.Random, near: tuple[float, float, float], wobble: float
               ) -> tuple[float, float, float]:
    v = [c + rng.uniform(-wobble, wobble) for c in near]
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


def _vec(v) -> list[str]:
    return [_f(c, 6) for c in v]


def _rotation(rng: random.Random) -> list[list[float]]:
    """A uniformly random rotation (a unit quaternion)."""
    q = [rng.gauss(0, 1) for _ in range(4)]
    n = math.sqrt(sum(c * c for c in q))
    w, x, y, z = (c / n for c in q)
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]


def _reciprocal(cell: tuple[float, ...]) -> list[list[float]]:
    """The reciprocal vectors (rows a*, b*, c*, 1/Angstrom) of a cell in a standard frame."""
    a, b, c = cell[:3]
    al, be, ga = (math.radians(x) for x in cell[3:])
    va = [a, 0.0, 0.0]
    vb = [b * math.cos(ga), b * math.sin(ga), 0.0]
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    vc = [cx, cy, math.sqrt(max(c * c - cx * cx - cy * cy, 1e-12))]

    def cross(u, v):
        return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]

    volume = sum(x * y for x, y in zip(va, cross(vb, vc)))
    return [[x / volume for x in cross(vb, vc)], [x / volume for x in cross(vc, va)],
            [x / volume for x in cross(va, vb)]]

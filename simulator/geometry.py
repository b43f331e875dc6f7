"""Small vector and rotation helpers on torch tensors whose last dimension holds x, y, z.

Every product is written out component by component (no matmul, no reductions), so the
value of one element never depends on the shape of the tensor it sits in, and the order of
the arithmetic is the one nanoBragg uses for its dot products and rotations.
"""

from __future__ import annotations

import torch

#: nanoBragg's radians-to-degrees factor, RTD = 180 * M_1_PI (M_1_PI as the C literal).
M_1_PI = 0.318309886183790671537767526745028724
RTD = 180.0 * M_1_PI


def comps(v: torch.Tensor):
    """Split (..., 3) into its three (...) components."""
    return v[..., 0], v[..., 1], v[..., 2]


def vec(x, y, z) -> torch.Tensor:
    """Stack three broadcastable components into (..., 3)."""
    x, y, z = torch.broadcast_tensors(x, y, z)
    return torch.stack((x, y, z), dim=-1)


def dot(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u . v, evaluated as (ux*vx + uy*vy) + uz*vz."""
    return u[..., 0] * v[..., 0] + u[..., 1] * v[..., 1] + u[..., 2] * v[..., 2]


def cross(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """u x v."""
    ux, uy, uz = comps(u)
    vx, vy, vz = comps(v)
    return vec(uy * vz - uz * vy, uz * vx - ux * vz, ux * vy - uy * vx)


def norm(v: torch.Tensor) -> torch.Tensor:
    """Euclidean length, sqrt(x*x + y*y + z*z)."""
    x, y, z = comps(v)
    return torch.sqrt(x * x + y * y + z * z)


def unitize(v: torch.Tensor):
    """(unit vector, length); a zero vector stays zero (as nanoBragg's unitize)."""
    n = norm(v)
    nonzero = n != 0
    if bool(nonzero.all()):  # the usual case: no vector to keep at zero
        return v / n[..., None], n
    safe = torch.where(n != 0, n, torch.ones_like(n))
    u = torch.where((n != 0)[..., None], v / safe[..., None], torch.zeros_like(v))
    return u, n


def rotate_xyz(v: torch.Tensor, rx, ry, rz) -> torch.Tensor:
    """Rotate about x, then y, then z (right handed), skipping exact zero angles like nanoBragg.

    rx, ry, rz: python floats or 0-d tensors (radians). A python 0.0 skips that axis, exactly as
    nanoBragg's ``rotate`` does; a tensor angle is always applied (it may carry a gradient).
    """
    x, y, z = comps(v)

    def active(a):
        return isinstance(a, torch.Tensor) or a != 0

    if active(rx):
        c, s = _cs(rx, v)
        x, y, z = x, y * c + z * (-s), y * s + z * c
    if active(ry):
        c, s = _cs(ry, v)
        x, y, z = x * c + y * 0.0 + z * s, y, x * (-s) + y * 0.0 + z * c
    if active(rz):
        c, s = _cs(rz, v)
        x, y, z = x * c + y * (-s), x * s + y * c, z
    return vec(x, y, z)


def _cs(angle, like: torch.Tensor):
    a = (
        angle
        if isinstance(angle, torch.Tensor)
        else torch.tensor(angle, dtype=like.dtype, device=like.device)
    )
    return torch.cos(a), torch.sin(a)


def rotate_axis(v: torch.Tensor, axis: torch.Tensor, phi) -> torch.Tensor:
    """Rodrigues rotation of v about the unit vector ``axis`` by ``phi`` radians (broadcasting)."""
    if not isinstance(phi, torch.Tensor):
        phi = torch.tensor(phi, dtype=v.dtype, device=v.device)
    s = torch.sin(phi)
    c = torch.cos(phi)
    ax, ay, az = comps(axis)
    x, y, z = comps(v)
    d = (ax * x + ay * y + az * z) * (1.0 - c)
    nx = ax * d + x * c + (-az * y + ay * z) * s
    ny = ay * d + y * c + (az * x - ax * z) * s
    nz = az * d + z * c + (-ay * x + ax * y) * s
    return vec(nx, ny, nz)


def rotate_umat(v: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Apply 3x3 matrices stored row-major as (..., 9) to vectors (..., 3)."""
    x, y, z = comps(v)
    nx = u[..., 0] * x + u[..., 1] * y + u[..., 2] * z
    ny = u[..., 3] * x + u[..., 4] * y + u[..., 5] * z
    nz = u[..., 6] * x + u[..., 7] * y + u[..., 8] * z
    return vec(nx, ny, nz)


def axis_angle_umat(axis: torch.Tensor, rot: torch.Tensor) -> torch.Tensor:
    """Row-major rotation matrices (..., 9) for unit axes (..., 3) and angles (...)."""
    v1, v2, v3 = comps(axis)
    c = torch.cos(rot)
    s = torch.sin(rot)
    t = 1.0 - c
    xy = t * v1 * v2
    xz = t * v1 * v3
    yz = t * v2 * v3
    return torch.stack(
        (
            c + t * (v1 * v1),
            xy - s * v3,
            xz + s * v2,
            xy + s * v3,
            c + t * (v2 * v2),
            yz - s * v1,
            xz - s * v2,
            yz + s * v1,
            c + t * (v3 * v3),
        ),
        dim=-1,
    )


def atan2_safe(y: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """atan2 whose gradient is finite where both arguments are 0 (value as torch.atan2)."""
    both = (x == 0) & (y == 0)
    xs = torch.where(both, torch.ones_like(x), x)
    return torch.where(both, torch.atan2(y, x), torch.atan2(y, xs))

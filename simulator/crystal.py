"""Crystal set-up: cell or matrix -> real and reciprocal vectors; phi and mosaic rotation tables.

All functions are pure functions of tensors (differentiable); shapes and units are in the
docstrings. Vectors are (..., 3) tensors.
"""

from __future__ import annotations

import math

import torch

from simulator.geometry import (
    RTD,
    axis_angle_umat,
    cross,
    dot,
    norm,
    rotate_axis,
    rotate_umat,
    rotate_xyz,
    vec,
)


def cell_reciprocal(a, b, c, alpha, beta, gamma):
    """Reciprocal vectors (1/Angstrom) of a cell in nanoBragg's default orientation.

    a, b, c: 0-d tensors in Angstrom; alpha, beta, gamma: 0-d tensors in radians.
    Returns (a_star, b_star, c_star, V_cell) with the vectors (3,) and V_cell in Angstrom^3.
    """
    aavg = (alpha + beta + gamma) / 2
    skew = (
        torch.sin(aavg) * torch.sin(aavg - alpha) * torch.sin(aavg - beta) * torch.sin(aavg - gamma)
    )
    skew = torch.abs(skew)
    V_cell = 2.0 * a * b * c * torch.sqrt(skew)
    V_star = 1.0 / V_cell
    a_s = b * c * torch.sin(alpha) * V_star
    b_s = c * a * torch.sin(beta) * V_star
    c_s = a * b * torch.sin(gamma) * V_star
    sin_gs = c * V_star / a_s / b_s
    cos_as = (torch.cos(beta) * torch.cos(gamma) - torch.cos(alpha)) / (
        torch.sin(beta) * torch.sin(gamma)
    )
    cos_bs = (torch.cos(gamma) * torch.cos(alpha) - torch.cos(beta)) / (
        torch.sin(gamma) * torch.sin(alpha)
    )
    cos_gs = (torch.cos(alpha) * torch.cos(beta) - torch.cos(gamma)) / (
        torch.sin(alpha) * torch.sin(beta)
    )
    # nanoBragg clamps these (a no-op for any cell that exists)
    sin_gs = torch.clamp(sin_gs, -1.0, 1.0)
    one = torch.ones_like(cos_as)
    cos_as = torch.where(cos_as * cos_as > 1.0, one, cos_as)
    cos_bs = torch.where(cos_bs * cos_bs > 1.0, one, cos_bs)
    cos_gs = torch.where(cos_gs * cos_gs > 1.0, one, cos_gs)
    zero = torch.zeros_like(a_s)
    a_star = vec(a_s, zero, zero)
    b_star = vec(b_s * cos_gs, b_s * sin_gs, zero)
    c_star = vec(
        c_s * cos_bs, c_s * (cos_as - cos_bs * cos_gs) / sin_gs, c_s * V_cell / (a * b * c * sin_gs)
    )
    return a_star, b_star, c_star, V_cell


def _rescale(v, magnitude):
    old = norm(v)
    old = torch.where(old <= 0.0, torch.ones_like(old), old)
    return (magnitude / old)[..., None] * v


def real_space(a_star, b_star, c_star, user_cell_lengths=None, user_V_cell=None):
    """nanoBragg's real-space construction from reciprocal vectors (1/Angstrom).

    With a user cell, the cross products are forced to the lengths a/V, b/V, c/V of the cell.
    Returns dict with a, b, c (Angstrom), a_star, b_star, c_star (rebuilt, 1/Angstrom),
    V_cell (A^3).
    """
    axb = cross(a_star, b_star)
    bxc = cross(b_star, c_star)
    cxa = cross(c_star, a_star)
    V_star = dot(a_star, bxc)
    if user_cell_lengths is not None:
        la, lb, lc = user_cell_lengths
        bxc = _rescale(bxc, la / user_V_cell)
        cxa = _rescale(cxa, lb / user_V_cell)
        axb = _rescale(axb, lc / user_V_cell)
        V_star = 1.0 / user_V_cell
    V_cell = 1.0 / V_star
    a = V_cell * bxc
    b = V_cell * cxa
    c = V_cell * axb
    a_star = V_star * cross(b, c)
    b_star = V_star * cross(c, a)
    c_star = V_star * cross(a, b)
    return {
        "a": a,
        "b": b,
        "c": c,
        "a_star": a_star,
        "b_star": b_star,
        "c_star": c_star,
        "V_cell": V_cell,
    }


def build_cell(crystal, params: dict, lambda0_m, dtype, device):
    """Real and reciprocal vectors at phi=0 after misset, from the config (and optional tensors).

    params may hold 'cell' (6,: Angstrom, degrees) and 'misset_deg' (3,) tensors to differentiate.
    lambda0_m: 0-d tensor, metres (scales a -mat matrix). Returns the dict of ``real_space``
    plus 'a_m', 'b_m', 'c_m' (metres).
    """
    t = lambda x: torch.as_tensor(x, dtype=dtype, device=device)  # noqa: E731
    user = None
    if crystal.user_cell:
        cell = params.get("cell")
        if cell is None:
            cell = t(crystal.cell)
        a, b, c = cell[0], cell[1], cell[2]
        al, be, ga = cell[3] / RTD, cell[4] / RTD, cell[5] / RTD
        a_star, b_star, c_star, V = cell_reciprocal(a, b, c, al, be, ga)
        user = ((a, b, c), V)
    if crystal.matrix is not None:
        m = t(crystal.matrix)
        scale = 1e-10 / lambda0_m
        a_star, b_star, c_star = scale * m[0], scale * m[1], scale * m[2]
    mis = params.get("misset_deg")
    misset = crystal.misset_rad if mis is None else (mis[0] / RTD, mis[1] / RTD, mis[2] / RTD)
    if misset is not None:
        rx, ry, rz = misset
        a_star = rotate_xyz(a_star, rx, ry, rz)
        b_star = rotate_xyz(b_star, rx, ry, rz)
        c_star = rotate_xyz(c_star, rx, ry, rz)
    if user is not None:
        out = real_space(a_star, b_star, c_star, user[0], user[1])
    else:
        out = real_space(a_star, b_star, c_star)
    out["a_m"] = out["a"] * 1e-10
    out["b_m"] = out["b"] * 1e-10
    out["c_m"] = out["c"] * 1e-10
    return out


def phi_angles(crystal, mode: str):
    """The spindle angles (radians, python floats) each phi step rotates by, in two tables.

    Returns (normal, first): ``normal`` is used by every sweep, ``first`` by the very first sweep
    of the run. In 'spec' mode both are the true angles phi0 + tic*phistep. In 'c-parity' mode
    a step whose phi is exactly 0 reuses the most recent step with phi != 0 (nanoBragg skips the
    rotation and keeps the previous vectors), wrapping to the previous sweep's last non-zero
    step; in the first sweep nothing precedes, so the true phi=0 (identity) is used.
    'c-parity-omp' has the same two tables: there the first sweep of each thread block is a
    "first" sweep (the engine decides which sweeps those are).
    """
    phis = [crystal.phi0 + crystal.phistep * tic for tic in range(crystal.phisteps)]
    if mode not in ("c-parity", "c-parity-omp"):
        return phis, phis
    nonzero = [p for p in phis if p != 0.0]
    last_prev = nonzero[-1] if nonzero else 0.0
    normal, first = [], []
    cur_n, cur_f = last_prev, 0.0
    for p in phis:
        if p != 0.0:
            cur_n = cur_f = p
        normal.append(cur_n)
        first.append(cur_f)
    return normal, first


def rotation_table(base, spindle, angles, umats, domains=1):
    """Cell vectors for every (phi step, mosaic domain).

    base: (3,) vector at phi=0 (metres); spindle: (3,) unit axis; angles: (Phi,) tensor (rad);
    umats: (M, 9) domain matrices or None (no mosaic rotation). Returns (Phi, M, 3), with
    M = domains when umats is None: a nan spread gives nanoBragg 10 domains it never rotates.
    """
    rot = rotate_axis(base[None, :], spindle[None, :], angles)  # (Phi, 3)
    # nanoBragg skips the rotation at phi == 0 exactly (keeps signed zeros of the vectors)
    rot = torch.where((angles == 0.0)[:, None], base[None, :].expand_as(rot), rot)
    if umats is None:
        return rot[:, None, :].expand(-1, domains, -1)
    return rotate_umat(rot[:, None, :], umats[None, :, :])


def mosaic_umats(crystal, params: dict, dtype, device):
    """(M, 9) domain rotation matrices, or None when the spread is 0 (nanoBragg then skips them).

    The angle of domain j is spread * factor_j in nanoBragg's single precision; with a
    differentiable spread (params['mosaic_spread_deg']) the value is kept exact by adding the
    constant rounding offset, and the derivative is factor_j.
    """
    if not crystal.mosaic_spread > 0.0:
        return None
    sp = params.get("mosaic_spread_deg")
    axes = torch.as_tensor(crystal.mosaic_axes, dtype=dtype, device=device)
    factors = torch.as_tensor(crystal.mosaic_factors, dtype=dtype, device=device)
    if sp is None:
        angles = torch.as_tensor(crystal.mosaic_angles, dtype=dtype, device=device)
    else:
        spread = sp / RTD
        nominal = [crystal.mosaic_spread * f for f in crystal.mosaic_factors]
        offset = torch.as_tensor(
            [ang - n for ang, n in zip(crystal.mosaic_angles, nominal)], dtype=dtype, device=device
        )
        angles = spread * factors + offset
    u = axis_angle_umat(axes, angles)
    eye = torch.eye(3, dtype=dtype, device=device).reshape(9)
    # domain 0 is forced to the identity after its random numbers are drawn
    return torch.cat((eye[None, :], u[1:]), dim=0)


def crystal_size_N(sample_xyz, a_len_m, b_len_m, c_len_m, N):
    """nanoBragg's N from crystal sizes (metres): ceil(size/|a|), at least 1."""
    out = list(N)
    for i, (s, ln) in enumerate(zip(sample_xyz, (a_len_m, b_len_m, c_len_m))):
        if s > 0:
            q = s / ln
            out[i] = float(math.ceil(q)) if math.isfinite(q) else q  # C's ceil(inf) is inf
        if out[i] <= 1.0:
            out[i] = 1.0
    return tuple(out)

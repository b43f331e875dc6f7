"""Beam: the source list (divergence grid x dispersion, or a source file) and polarisation."""

from __future__ import annotations

import math

import torch

from simulator.geometry import atan2_safe, cross, dot, unitize

SOURCE_DISTANCE = 10.0  # m, nanoBragg's source_distance


def _rotate_axis_f(v, axis, phi):
    s, c = math.sin(phi), math.cos(phi)
    ax, ay, az = axis
    x, y, z = v
    d = (ax * x + ay * y + az * z) * (1.0 - c)
    return (
        ax * d + x * c + (-az * y + ay * z) * s,
        ay * d + y * c + (az * x - ax * z) * s,
        az * d + z * c + (-ay * x + ax * y) * s,
    )


def unit_floats(v):
    """(unit vector, length) of a 3-tuple of python floats; a zero vector stays zero."""
    n = math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])
    if n == 0.0:
        return (0.0, 0.0, 0.0), 0.0
    return (v[0] / n, v[1] / n, v[2] / n), n


def divergence_sources(
    beam_vector,
    polar_vector,
    vert_vector,
    hdivrange,
    hdivstep,
    hdivsteps,
    vdivrange,
    vdivstep,
    vdivsteps,
    round_div,
    lambda0,
    dispersion,
    dispstep,
    dispsteps,
):
    """nanoBragg's generated sources (python floats).

    Returns (positions, lambda_factors, divsteps, printed) where positions are the source
    positions (metres, before unitizing), lambda = lambda0 * factor, and ``printed`` the
    (hdiv, vdiv) deviations of the points kept by the round cut.
    """
    kept = []
    for ih in range(hdivsteps):
        for iv in range(vdivsteps):
            hdiv = hdivstep * ih - hdivrange / 2.0
            vdiv = vdivstep * iv - vdivrange / 2.0
            test = _c_div_test(
                hdiv, hdivstep, hdivsteps, hdivrange, vdiv, vdivstep, vdivsteps, vdivrange
            )
            # NaN (a zero range) never cuts, as in C
            if round_div and test * 4.0 > 1.1:
                continue
            kept.append((hdiv, vdiv))
    positions, factors = [], []
    for hdiv, vdiv in kept:
        v = (
            -SOURCE_DISTANCE * beam_vector[0],
            -SOURCE_DISTANCE * beam_vector[1],
            -SOURCE_DISTANCE * beam_vector[2],
        )
        v = _rotate_axis_f(v, polar_vector, vdiv)
        v = _rotate_axis_f(v, vert_vector, hdiv)
        for j in range(dispsteps):
            positions.append(v)
            factors.append(1.0 + dispstep * j - dispersion / 2.0)
    return positions, factors, len(kept), kept


def _c_div_test(hdiv, hdivstep, hdivsteps, hdivrange, vdiv, vdivstep, vdivsteps, vdivrange):
    """The round-divergence test with C's IEEE division (x/0 -> +-inf, 0/0 -> nan)."""

    def cdiv(a, b):
        if b != 0.0:
            return a / b
        if a == 0.0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * (1.0 if math.copysign(1.0, b) > 0 else -1.0)

    th = cdiv(
        cdiv(hdiv * hdiv - hdivstep * hdivstep / 4.0 * (1 - hdivsteps % 2), hdivrange), hdivrange
    )
    tv = cdiv(
        cdiv(vdiv * vdiv - vdivstep * vdivstep / 4.0 * (1 - vdivsteps % 2), vdivrange), vdivrange
    )
    return th + tv


def finish_sources(positions):
    """Unit vectors of the source positions (nanoBragg unitizes them once)."""
    return [unit_floats(p)[0] for p in positions]


def polarization_factor(kahn, incident, diffracted, axis):
    """0.5*(1 + cos^2(2t) - K*cos(2psi)*sin^2(2t)), psi the azimuth of the diffracted ray about the
    incident beam measured from the E-vector closest to ``axis``.

    incident: (..., 3) unit vectors; diffracted: (..., 3) unit vectors; axis (3,) unit vector.
    """
    incident, _ = unitize(incident)
    diffracted, _ = unitize(diffracted)
    cos2t = dot(incident, diffracted)
    cos2t_sqr = cos2t * cos2t
    sin2t_sqr = 1 - cos2t_sqr
    if kahn != 0.0:
        B_in, _ = unitize(cross(axis.expand_as(incident), incident))
        E_in, _ = unitize(cross(incident, B_in))
        E_out = dot(diffracted, E_in)
        B_out = dot(diffracted, B_in)
        psi = -atan2_safe(B_out, E_out)
        return 0.5 * (1.0 + cos2t_sqr - kahn * torch.cos(2 * psi) * sin2t_sqr)
    return 0.5 * (1.0 + cos2t_sqr - 0.0 * sin2t_sqr)


def incident_vectors(source_dirs, dtype, device):
    """(Src, 3) incident unit vectors: minus the source directions."""
    return -torch.as_tensor(source_dirs, dtype=dtype, device=device)

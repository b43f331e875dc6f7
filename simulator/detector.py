"""Detector geometry: conventions and pivots -> pix0 and rotated axes; pixel positions, solid
angle, absorption. Pure functions of tensors (vectors are (..., 3), lengths in metres)."""

from __future__ import annotations

import sys

import torch

from simulator.geometry import dot, rotate_axis, rotate_xyz, vec

DBL_MIN = sys.float_info.min


def detector_setup(det, beam_vector, params: dict, dtype, device):
    """nanoBragg's detector placement (pivot about beam spot or sample), differentiably.

    det: DetectorConfig. params may hold 'distance_mm' and 'beam_center_mm' (F, S) tensors:
    the distance (or the close distance when -close_distance was given) and the beam centre
    the pivot uses (Fbeam, Sbeam for the BEAM pivot; Fclose, Sclose for the SAMPLE pivot), mm.
    Returns a dict of tensors: beam, fdet, sdet, odet (rotated unit vectors), pix0, distance,
    close_distance, Fbeam, Sbeam, Fclose, Sclose, ORGX, ORGY, dials_origin (mm), ratio.
    """
    t = lambda x: torch.as_tensor(x, dtype=dtype, device=device)  # noqa: E731
    fdet, sdet, odet = t(det.fdet), t(det.sdet), t(det.odet)
    beam = t(beam_vector)
    ttaxis = t(det.twotheta_axis)
    rx, ry, rz = det.rotx, det.roty, det.rotz
    ratio = dot(beam, rotate_xyz(odet, rx, ry, rz))
    if float(ratio) == 0.0:
        ratio = t(DBL_MIN)
    dist_in = params.get("distance_mm")
    centre = params.get("beam_center_mm")
    given_close = det.close_distance is not None

    def pivot_centre(F, S):  # the beam centre the pivot uses: the tensor given, or the config's
        if centre is not None:
            return centre[0] / 1000.0, centre[1] / 1000.0
        return t(F), t(S)

    if dist_in is not None:
        dist_in = dist_in / 1000.0
    if given_close:
        close_distance = dist_in if dist_in is not None else t(det.close_distance)
    else:
        distance = dist_in if dist_in is not None else t(det.distance)
        close_distance = torch.abs(ratio * distance)
    distance = close_distance / ratio
    if det.pivot == "sample":
        Fclose, Sclose = pivot_centre(det.Fclose, det.Sclose)
        pix0 = -Fclose * fdet - Sclose * sdet + close_distance * odet
        pix0 = rotate_xyz(pix0, rx, ry, rz)
        pix0 = rotate_axis(pix0, ttaxis, t(det.twotheta))
    fdet = rotate_axis(rotate_xyz(fdet, rx, ry, rz), ttaxis, t(det.twotheta))
    sdet = rotate_axis(rotate_xyz(sdet, rx, ry, rz), ttaxis, t(det.twotheta))
    odet = rotate_axis(rotate_xyz(odet, rx, ry, rz), ttaxis, t(det.twotheta))
    if det.pivot == "beam":
        Fbeam, Sbeam = pivot_centre(det.Fbeam, det.Sbeam)
        pix0 = -Fbeam * fdet - Sbeam * sdet + distance * beam
    Fclose = -dot(pix0, fdet)
    Sclose = -dot(pix0, sdet)
    close_distance = dot(pix0, odet)
    nv = (close_distance / ratio) * beam - pix0
    Fbeam = dot(fdet, nv)
    Sbeam = dot(sdet, nv)
    distance = close_distance / ratio
    ORGX = Fclose / det.pixel_size + 0.5
    ORGY = Sclose / det.pixel_size + 0.5
    # dot products with the axes, as nanoBragg takes them: the same signed zeros and NaNs
    # (-pix0[0] alone would give -0 or -inf where the dot product gives 0 or nan)
    dials = 1000.0 * vec(dot(pix0, t((0, 0, 1))), dot(pix0, t((0, 1, 0))), dot(pix0, t((-1, 0, 0))))
    return {
        "beam": beam,
        "fdet": fdet,
        "sdet": sdet,
        "odet": odet,
        "pix0": pix0,
        "distance": distance,
        "close_distance": close_distance,
        "Fbeam": Fbeam,
        "Sbeam": Sbeam,
        "Fclose": Fclose,
        "Sclose": Sclose,
        "ORGX": ORGX,
        "ORGY": ORGY,
        "dials_origin": dials,
        "ratio": ratio,
    }


def subpixel_positions(geo, det, beam_vector, fast_idx, slow_idx, oversample, dtype, device):
    """Positions (P, T, S, 3) in metres of every sub-pixel of the pixels (fast_idx, slow_idx),
    for every thickness layer T and sub-pixel S = oversample**2 (subS slower than subF), and the
    (P, S) detector coordinates Fdet, Sdet (metres) nanoBragg keeps for its statistics."""
    sub = det.pixel_size / oversample
    o = torch.arange(oversample, dtype=dtype, device=device)
    subS = o.repeat_interleave(oversample)  # (S,)
    subF = o.repeat(oversample)
    f = fast_idx.to(dtype)[:, None]
    s = slow_idx.to(dtype)[:, None]
    Fdet = sub * (f * oversample + subF[None, :]) + sub / 2.0  # (P, S)
    Sdet = sub * (s * oversample + subS[None, :]) + sub / 2.0
    Odet = torch.arange(det.thicksteps, dtype=dtype, device=device) * det.thickstep  # (T,)
    Fd = Fdet[:, None, :, None]
    Sd = Sdet[:, None, :, None]
    Od = Odet[None, :, None, None]
    pos = Fd * geo["fdet"] + Sd * geo["sdet"] + Od * geo["odet"] + geo["pix0"]
    if det.curved:
        beam = torch.as_tensor(beam_vector, dtype=dtype, device=device)
        dist = geo["distance"]
        v = dist * beam
        v = rotate_axis(v, geo["sdet"], pos[..., 1] / dist)
        pos = rotate_axis(v, geo["fdet"], pos[..., 2] / dist)
    return pos, Fdet, Sdet


def solid_angle(airpath, close_distance, pixel_size, point_pixel: bool):
    """Pixel solid angle (sr): pixel^2/R^2 * close_distance/R, or 1/R^2 with -point_pixel."""
    if point_pixel:
        return 1.0 / airpath / airpath
    return pixel_size * pixel_size / airpath / airpath * close_distance / airpath


def capture_fraction(diffracted, odet, det, dtype, device):
    """Fraction absorbed in each layer t: exp(-t*D*mu/rho) - exp(-(t+1)*D*mu/rho), rho = d.odet.

    diffracted: (P, T, S, 3). Returns (P, T, S)."""
    parallax = dot(diffracted, odet)
    tt = torch.arange(det.thicksteps, dtype=dtype, device=device)[None, :, None]
    return torch.exp(-tt * det.thickstep * det.mu / parallax) - torch.exp(
        -(tt + 1) * det.thickstep * det.mu / parallax
    )

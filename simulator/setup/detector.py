# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Detector set-up: size, beam-centre conventions, vector clean-up, placement, mask.

Mirrors c_reference/src/detector.c (``nb_setup_detector_frame``, ``nb_setup_detector``). The
conventions fix the beam, polarisation and spindle directions too (nanoBragg sets them with the
detector's), so the frame derived here is also what the beam and crystal set-ups start from.
Placement itself (pivots, rotations, pix0) is ``simulator.detector.detector_setup``, the
differentiable function the engine evaluates with its tensors.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from simulator.beam import unit_floats
from simulator.config import DetectorConfig, Vec3
from simulator.detector import detector_setup
from simulator.io import InputError
from simulator.options import NAN, UsageError

#: resource guard shared with the C reference (NB_MAX_PIXELS in c_reference/src/nb.h)
MAX_PIXELS = 400_000_000


def _isnan(x):
    return isinstance(x, float) and math.isnan(x)


def _cross(x, y):
    return (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])


@dataclass(frozen=True)
class DetectorSize:
    """The detector's pixel grid: counts, pixel size (m) and sides (m)."""

    fpixels: int
    spixels: int
    pixel: float
    detsize_f: float
    detsize_s: float


def detector_size(s) -> DetectorSize:
    """Pixel counts and sides from -pixel, -detpixels* and -detsize* (or an image header).

    Reads: pixel_size (m), fpixels, spixels (0: from the side), detsize_f, detsize_s (m).
    Produces: DetectorSize; a given pixel count fixes the side (count x pixel), a side alone
    gives ceil(side / pixel - 0.5) pixels. UsageError for a pixel size that is not positive and
    finite, a negative count, no pixels, or more than MAX_PIXELS.
    """
    pixel = s["pixel_size"]
    if not pixel > 0 or math.isinf(pixel):
        raise UsageError("bad value for -pixel: the pixel size must be positive and finite")
    if s["fpixels"] < 0 or s["spixels"] < 0:
        raise UsageError(
            f"bad value for -detpixels: negative pixel count ({s['fpixels']} x {s['spixels']})"
        )
    detsize_f = pixel * s["fpixels"] if s["fpixels"] else s["detsize_f"]
    detsize_s = pixel * s["spixels"] if s["spixels"] else s["detsize_s"]
    # pixel counts as doubles first, like the C reference: a nan or huge size is no count
    nf = math.ceil(detsize_f / pixel - 0.5) if math.isfinite(detsize_f) else NAN
    ns = math.ceil(detsize_s / pixel - 0.5) if math.isfinite(detsize_s) else NAN
    if not (nf <= 2**31 - 1 and ns <= 2**31 - 1):
        raise UsageError("bad value for -detpixels/-detsize: detector size out of range")
    if nf <= 0 or ns <= 0:
        raise UsageError("impossible detector: no pixels (check -detpixels/-detsize/-pixel)")
    fpixels, spixels = int(nf), int(ns)
    if fpixels * spixels > MAX_PIXELS:
        raise UsageError(
            f"impossible detector: {fpixels} x {spixels} pixels (at most {MAX_PIXELS})"
        )
    return DetectorSize(fpixels, spixels, pixel, detsize_f, detsize_s)


@dataclass(frozen=True)
class Frame:
    """What the convention fixes: unit vectors (beam, polarisation E-vector, its normal
    ``vert`` = beam x polar, spindle, detector fast/slow/normal; the two-theta axis as given),
    the pivot, the beam centres (m) and the region of interest (pixels, inclusive)."""

    convention: str
    pivot: str
    beam: Vec3
    polar: Vec3
    vert: Vec3
    spindle: Vec3
    fdet: Vec3
    sdet: Vec3
    odet: Vec3
    twotheta_axis: Vec3
    Fbeam: float
    Sbeam: float
    Fclose: float
    Sclose: float
    Xbeam: float
    Ybeam: float
    Xclose: float
    Yclose: float
    roi: tuple[int, int, int, int]


def detector_frame(s, size: DetectorSize, log) -> Frame:
    """The convention's vectors and beam centres, nanoBragg's defaults filled in.

    Reads: convention (-mosflm -xds -adxv -denzo -dials, or custom when a vector is given),
    pivot, the vectors (-fdet_vector ... -spindle_axis, -twotheta_axis), Xbeam, Ybeam, Xclose,
    Yclose (m), ORGX, ORGY (pixels), roi. Produces: Frame. A beam centre not given is the
    detector's centre in the convention's way; an -odet_vector that is not a unit vector is
    replaced by fdet x sdet (logged "WARNING: auto-generating odet_vector", stage "pre").
    """
    pixel = size.pixel
    Fclose = Sclose = NAN
    if not _isnan(s["ORGX"]):
        Fclose = (s["ORGX"] - 0.5) * pixel
    if not _isnan(s["ORGY"]):
        Sclose = (s["ORGY"] - 0.5) * pixel
    if _isnan(Fclose):
        Fclose = (size.detsize_f - 0 * pixel) / 2.0
    if _isnan(Sclose):
        Sclose = (size.detsize_s + 0 * pixel) / 2.0
    Xclose = Fclose if _isnan(s["Xclose"]) else s["Xclose"]
    Yclose = Sclose if _isnan(s["Yclose"]) else s["Yclose"]
    roi = list(s["roi"])
    for i, default in enumerate((0, size.fpixels, 0, size.spixels)):
        if roi[i] < 0:
            roi[i] = default
    v = dict(
        pivot=s["pivot"], beam=s["beam_vector"], fdet=s["fdet"], sdet=s["sdet"], odet=s["odet"],
        twotheta_axis=s["twotheta_axis"], polar=s["polar_vector"], spindle=s["spindle"],
        Fbeam=Fclose, Sbeam=Sclose, Fclose=Fclose, Sclose=Sclose, Xbeam=s["Xbeam"],
        Ybeam=s["Ybeam"], Xclose=Xclose, Yclose=Yclose,
    )  # fmt: skip
    _apply_convention(v, s["convention"], size)
    _unit_vectors(v, log)
    return Frame(convention=s["convention"], roi=tuple(roi), **v)


def _apply_convention(v, conv, size):
    """nanoBragg's conventions: vectors, beam centre (Fbeam, Sbeam from Xbeam, Ybeam), pivot."""
    pixel, detsize_f, detsize_s = size.pixel, size.detsize_f, size.detsize_s
    if conv == "adxv":
        if _isnan(v["Xbeam"]):
            v["Xbeam"] = (detsize_f + pixel) / 2.0
        if _isnan(v["Ybeam"]):
            v["Ybeam"] = (detsize_s - pixel) / 2.0
        v.update(beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, -1, 0), odet=(0, 0, 1))
        v.update(twotheta_axis=(-1, 0, 0), polar=(1, 0, 0), spindle=(1, 0, 0))
        v.update(Fbeam=v["Xbeam"], Sbeam=detsize_s - v["Ybeam"], pivot="beam")
    elif conv in ("mosflm", "denzo"):
        if _isnan(v["Xbeam"]):
            v["Xbeam"] = (detsize_s + pixel) / 2.0
        if _isnan(v["Ybeam"]):
            v["Ybeam"] = (detsize_f + pixel) / 2.0
        v.update(beam=(1, 0, 0), odet=(1, 0, 0), fdet=(0, 0, 1), sdet=(0, -1, 0))
        v.update(twotheta_axis=(0, 0, -1), polar=(0, 0, 1), spindle=(0, 0, 1))
        half = 0.5 if conv == "mosflm" else 0.0
        v.update(Fbeam=v["Ybeam"] + half * pixel, Sbeam=v["Xbeam"] + half * pixel, pivot="beam")
    elif conv in ("xds", "dials"):
        if _isnan(v["Xbeam"]):
            v["Xbeam"] = v["Xclose"]
        if _isnan(v["Ybeam"]):
            v["Ybeam"] = v["Yclose"]
        v.update(beam=(0, 0, 1), fdet=(1, 0, 0), sdet=(0, 1, 0), odet=(0, 0, 1))
        axis = (1, 0, 0) if conv == "xds" else (0, 1, 0)
        v.update(twotheta_axis=axis, polar=axis, spindle=axis)
        v.update(Fbeam=v["Xbeam"], Sbeam=v["Ybeam"], pivot="sample")
    else:  # custom
        if _isnan(v["Xbeam"]):
            v["Xbeam"] = v["Xclose"]
        if _isnan(v["Ybeam"]):
            v["Ybeam"] = v["Yclose"]
        v.update(Fbeam=v["Xbeam"], Sbeam=v["Ybeam"], Fclose=v["Xbeam"], Sclose=v["Ybeam"])


def _unit_vectors(v, log):
    """Unit vectors (python floats) of the frame; vert = beam x polar."""
    fl = lambda x: tuple(float(c) for c in x)  # noqa: E731
    for key in ("beam", "fdet", "sdet"):
        v[key], _ = unit_floats(fl(v[key]))
    odet, odet_len = unit_floats(fl(v["odet"]))
    if odet_len != 1.0:
        log.append(("pre", "WARNING: auto-generating odet_vector"))
        odet, _ = unit_floats(_cross(v["fdet"], v["sdet"]))
    v["odet"] = odet
    v["polar"], _ = unit_floats(fl(v["polar"]))
    v["spindle"], _ = unit_floats(fl(v["spindle"]))
    v["vert"], _ = unit_floats(_cross(v["beam"], v["polar"]))
    v["twotheta_axis"] = fl(v["twotheta_axis"])


def detector_config(s, size: DetectorSize, frame: Frame, layers) -> DetectorConfig:
    """The detector's frozen config, without its mask (``with_mask`` adds it).

    Reads: distance, close_distance (m; NaN: not given), rotx, roty, rotz, twotheta (rad),
    curved, point_pixel; ``layers`` = (thick (m), thickstep (m), thicksteps, mu (1/m)) from the
    sampling rules. Produces: DetectorConfig (unrotated vectors, beam centres in m, ROI).
    """
    thick, thickstep, thicksteps, mu = layers
    return DetectorConfig(
        fpixels=size.fpixels,
        spixels=size.spixels,
        pixel_size=size.pixel,
        detsize_f=size.detsize_f,
        detsize_s=size.detsize_s,
        convention=frame.convention,
        pivot=frame.pivot,
        distance=s["distance"],
        close_distance=None if _isnan(s["close_distance"]) else s["close_distance"],
        fdet=frame.fdet,
        sdet=frame.sdet,
        odet=frame.odet,
        twotheta_axis=frame.twotheta_axis,
        rotx=s["rotx"],
        roty=s["roty"],
        rotz=s["rotz"],
        twotheta=s["twotheta"],
        Fbeam=frame.Fbeam,
        Sbeam=frame.Sbeam,
        Fclose=frame.Fclose,
        Sclose=frame.Sclose,
        Xbeam=frame.Xbeam,
        Ybeam=frame.Ybeam,
        Xclose=frame.Xclose,
        Yclose=frame.Yclose,
        curved=s["curved"],
        point_pixel=s["point_pixel"],
        thick=thick,
        thickstep=thickstep,
        thicksteps=thicksteps,
        mu=mu,
        roi=frame.roi,
        mask=None,
    )


def placed_distance(detector: DetectorConfig, beam: Vec3) -> float:
    """The sample-to-detector distance (m) along the beam after the pivot and rotations.

    A zero, infinite or nan distance (a detector parallel to the beam, -distance inf) is
    rendered as upstream renders it: zero or nan pixels (nanobragg-facts.md, degenerate input).
    """
    return float(detector_setup(detector, beam, {}, torch.float64, "cpu")["distance"])


def with_mask(detector: DetectorConfig, s, log) -> DetectorConfig:
    """The config with the -mask image ((slow, fast) uint16, 0 = skip), when one was given.

    Logs "  skipping zero-flagged pixels in FILE" (stage "mask"); InputError when the mask's
    size is not the detector's.
    """
    mask = s["mask"]
    if mask is not None:
        log.append(("mask", "  skipping zero-flagged pixels in %s" % mask_name_of(s)))
    if mask is not None and mask.shape != (detector.spixels, detector.fpixels):
        raise InputError(
            f"{mask_name_of(s)}: mask is {mask.shape[1]}x{mask.shape[0]} pixels, "
            f"the detector {detector.fpixels}x{detector.spixels}"
        )
    return dataclasses.replace(detector, mask=mask)


def mask_name_of(s):
    """The -mask file's name as given (for messages), "mask" when there is none."""
    return s.get("mask_name") or "mask"

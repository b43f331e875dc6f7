# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Beam set-up: fluence, the sample the beam illuminates, and the sources (divergence and
dispersion, or a -sourcefile).

Mirrors c_reference/src/beam.c (``nb_setup_sources``; the fluence and the sample clipping are
at the start of ``nb_setup_detector_frame`` there). The beam's directions come from the
detector frame (the convention fixes them).
"""

from __future__ import annotations

import math

from simulator.beam import divergence_sources, finish_sources
from simulator.cnum import c_div
from simulator.config import BeamConfig
from simulator.io import read_columns
from simulator.options import UsageError

AVOGADRO = 6.02214179e23
R_E_SQR = 7.94079248018965e-30


def illumination(s, log):
    """The fluence (photons/m^2) and the sample's x, y, z size (m) as the beam clips it.

    Reads: fluence, flux (photons/s), exposure (s), beamsize (m), sample (m). A flux with a
    positive exposure and a beam size gives fluence = flux * exposure / beamsize^2 (C's
    division: a zero beam size gives inf or nan). A sample higher or wider than the beam is
    clipped to it (logged as a WARNING, stage "pre").
    """
    fluence, flux, exposure, beamsize = s["fluence"], s["flux"], s["exposure"], s["beamsize"]
    sample = list(s["sample"])
    if flux != 0.0 and exposure > 0.0 and beamsize >= 0:
        fluence = c_div(c_div(flux * exposure, beamsize), beamsize)
    if beamsize >= 0:
        for axis, word in ((1, "high"), (2, "wide")):
            if beamsize < sample[axis]:
                log.append(
                    (
                        "pre",
                        "WARNING: clipping sample (%g m %s) with beam (%g m)"
                        % (sample[axis], word, beamsize),
                    )
                )
                sample[axis] = beamsize
    return fluence, sample


def beam_config(s, frame, steps, fluence, path_of, log) -> BeamConfig:
    """The beam's frozen config: wavelength, sources, polarisation, fluence, background.

    Reads: lambda0 (m), sourcefile (columns X Y Z weight lambda; a missing position is 10 m
    up-beam, a missing wavelength lambda0), round_div, polarization (Kahn factor), nopolar,
    water_size (m), dmin (m); ``frame`` (beam, polar, vert unit vectors), ``steps``
    (divergence and dispersion counts, ranges in rad and as a fraction), ``fluence``
    (photons/m^2). Produces: BeamConfig with the source directions (unit vectors towards each
    source), their wavelengths (m) and, for generated sources, lambda / lambda0; I_bg the
    water background (photons/sr). Logs the sources (stage "sources"). UsageError for a
    wavelength that is not positive and finite or no source; InputError for a bad file.
    """
    lambda0 = s["lambda0"]
    if not (lambda0 > 0) or not math.isfinite(lambda0):
        raise UsageError("bad value for -lambda/-energy: the wavelength must be positive")
    (hdivsteps, hdivrange, hdivstep), (vdivsteps, vdivrange, vdivstep) = steps.hdiv, steps.vdiv
    dispsteps, dispersion, dispstep = steps.disp
    if s["sourcefile"] is not None:
        positions, weights, lambdas = _file_sources(s["sourcefile"], frame.beam, lambda0, path_of)
        factors, divsteps = None, 0
    else:
        positions, factors, divsteps, kept = divergence_sources(
            frame.beam, frame.polar, frame.vert,
            hdivrange, hdivstep, hdivsteps, vdivrange, vdivstep, vdivsteps, s["round_div"],
            lambda0, dispersion, dispstep, dispsteps,
        )  # fmt: skip
        lambdas = [lambda0 * fct for fct in factors]
        for hd, vd in kept:
            log.append(("sources", "divergence deviation: %g %g" % (hd, vd)))
        for j in range(dispsteps):
            lam = lambda0 * (1.0 + dispstep * j - dispersion / 2.0)
            log.append(("sources", "lambda%d = %.15g" % (j, lam)))
        weights = [1.0 / len(positions)] * len(positions) if positions else []
    if not positions:
        raise UsageError("impossible beam: no sources")
    log.append(("sources", "  created a total of %d sources:" % len(positions)))
    for (X, Y, Z), Iw, lam in zip(positions, weights, lambdas):
        log.append(("sources", "%g %g %g   %g %g" % (X, Y, Z, Iw, lam)))
    water = s["water_size"]
    return BeamConfig(
        lambda0=lambda0,
        beam_vector=frame.beam,
        polar_vector=frame.polar,
        vert_vector=frame.vert,
        source_dirs=tuple(finish_sources(positions)),
        source_lambdas=tuple(lambdas),
        source_from_file=s["sourcefile"] is not None,
        source_lambda_factors=None if factors is None else tuple(factors),
        dispersion=dispersion,
        dispstep=dispstep,
        dispsteps=dispsteps,
        hdivrange=hdivrange,
        hdivstep=hdivstep,
        hdivsteps=hdivsteps,
        vdivrange=vdivrange,
        vdivstep=vdivstep,
        vdivsteps=vdivsteps,
        divsteps=divsteps,
        polarization=s["polarization"],
        nopolar=s["nopolar"],
        fluence=fluence,
        r_e_sqr=R_E_SQR,
        water_size=water,
        I_bg=2.57 * 2.57 * R_E_SQR * fluence * water * water * water * 1e6 * AVOGADRO / 18.0,
        dmin=s["dmin"],
    )


def _file_sources(name, beam, lambda0, path_of):
    """-sourcefile rows -> (positions (m), weights, wavelengths (m)), nanoBragg's defaults for
    the columns a row leaves out (NaN)."""
    positions, weights, lambdas = [], [], []
    for X, Y, Z, Iw, lam in read_columns(path_of(name), 5):
        X = -10.0 * beam[0] if math.isnan(X) else X
        Y = -10.0 * beam[1] if math.isnan(Y) else Y
        Z = -10.0 * beam[2] if math.isnan(Z) else Z
        lam = lambda0 if math.isnan(lam) else lam
        positions.append((X, Y, Z))
        lambdas.append(lam)
        weights.append(1.0 if math.isnan(Iw) else Iw)
    return positions, weights, lambdas

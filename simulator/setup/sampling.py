# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Sampling set-up: step counts of phi, divergence, dispersion, detector layers and mosaic
domains, and the pixel oversampling.

Mirrors c_reference/src/sampling.c (``nb_setup_sampling``) and the oversampling choice of
``nb_setup_crystal`` (c_reference/src/crystal.c). The counts are not a config of their own:
each goes to the object it samples (phi and domains to the crystal, divergence and dispersion
to the beam, layers to the detector); the oversampling is the SamplingConfig.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulator.cnum import c_ceil_int, c_div
from simulator.config import SamplingConfig
from simulator.geometry import RTD
from simulator.options import UsageError

#: resource guards shared with the C reference (NB_MAX_* in c_reference/src/nb.h): inputs
#: beyond them are usage errors in both engines (upstream would run for days)
MAX_STEPS = 10_000_000
MAX_OVERSAMPLE = 1000


def _ceil_steps(x):
    """nanoBragg's (int)ceil(range/step) step count: INT_MIN when not finite or beyond a C int
    (then the sanity rules give divergence, dispersion and layers one step, and phi none)."""
    return c_ceil_int(x)


def _auto_steps(steps, rng_, step, steps_only_range=1.0):
    """nanoBragg's step/range/count logic shared by divergence and dispersion."""
    if steps <= 0:
        if rng_ < 0.0:
            if step <= 0.0:
                steps, rng_, step = 1, 0.0, 0.0
            else:
                rng_, steps = step, 2
        else:
            if step <= 0.0:
                step, steps = rng_, 2
            else:
                steps = _ceil_steps(rng_ / step)
    else:
        if rng_ < 0.0:
            if step <= 0.0:
                rng_ = steps_only_range
                step = rng_ / steps
            else:
                rng_, steps = step, 2
        else:
            if step <= 0.0:
                if steps <= 1:
                    steps = 2
                step = rng_ / (steps - 1)
    return steps, rng_, step


def _sane(steps, rng_, step):
    """A range, step or count that is not positive: one step of nothing."""
    if rng_ <= 0.0 or step <= 0.0 or steps <= 0:
        return 1, 0.0, 0.0
    return steps, rng_, step


@dataclass(frozen=True)
class StepCounts:
    """Every sampled dimension: (count, range, step) triples in SI units (rad, m, fraction)."""

    phisteps: int
    osc: float  # rad
    phistep: float  # rad
    hdiv: tuple[int, float, float]  # hdivsteps, hdivrange (rad), hdivstep (rad)
    vdiv: tuple[int, float, float]
    disp: tuple[int, float, float]  # dispsteps, dispersion (fraction), dispstep
    layers: tuple[float, float, int, float]  # thick (m), thickstep (m), thicksteps, mu (1/m)
    mosaic_spread: float  # rad
    mosaic_domains: int


def step_counts(s, log) -> StepCounts:
    """nanoBragg's step rules: a range and a step give ceil(range/step) steps, a step alone two
    steps of it, a count alone a default range, and so on (each rule below).

    Reads: phisteps, osc, phistep (rad); hdivsteps, hdivrange, hdivstep, vdiv* (rad);
    dispsteps, dispersion, dispstep; detector_thicksteps, detector_thick, detector_thickstep
    (m), detector_mu (1/m); mosaic_spread (rad), mosaic_domains. Produces: StepCounts. Logs the
    attenuation-depth and mosaic-domain warnings (stage "sampling"); UsageError for no phi step
    or more than MAX_STEPS steps of one kind.
    """
    phisteps, osc, phistep = _phi_steps(s["phisteps"], s["osc"], s["phistep"])
    if phisteps <= 0:
        raise UsageError("impossible phi sampling: no phi steps")
    hdiv = _auto_steps(s["hdivsteps"], s["hdivrange"], s["hdivstep"])
    vdiv = _auto_steps(s["vdivsteps"], s["vdivrange"], s["vdivstep"])
    disp = _auto_steps(s["dispsteps"], s["dispersion"], s["dispstep"])
    tsteps, thick, tstep = _layer_steps(
        s["detector_thicksteps"], s["detector_thick"], s["detector_thickstep"]
    )
    mu = s["detector_mu"]
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        log.append(("sampling", "WARNING: setting detector attenuation depth to %g m" % mu))
    spread, domains = _mosaic_domains(s["mosaic_spread"], s["mosaic_domains"], log)
    hdiv, vdiv, disp = _sane(*hdiv), _sane(*vdiv), _sane(*disp)
    tsteps, thick, tstep = _sane(tsteps, thick, tstep)
    for name, v in (
        ("phi", phisteps),
        ("divergence", hdiv[0] * vdiv[0]),
        ("dispersion", disp[0]),
        ("thickness", tsteps),
        ("mosaic", domains),
    ):
        if v > MAX_STEPS:
            raise UsageError(f"impossible sampling: {v} {name} steps (at most {MAX_STEPS})")
    return StepCounts(
        phisteps, osc, phistep, hdiv, vdiv, disp, (thick, tstep, tsteps, mu), spread, domains
    )


def _phi_steps(phisteps, osc, phistep):
    """Phi: a count alone covers 1 degree, an oscillation alone two steps of half of it."""
    if phisteps < 0:
        if osc < 0.0:
            if phistep <= 0.0:
                phisteps, osc, phistep = 1, 0.0, 0.0
            else:
                osc, phisteps = phistep, 2
        else:
            if phistep <= 0.0:
                phisteps, phistep = 2, osc / 2.0
            else:
                phisteps = _ceil_steps(osc / phistep)
    else:
        if phisteps == 0:
            phisteps = 1
        if osc < 0.0:
            if phistep <= 0.0:
                osc = 1.0 / RTD
                phistep = osc / phisteps
            else:
                osc, phisteps = phistep, 2
        else:
            if phistep < 0.0:
                phistep = osc / phisteps
    return phisteps, osc, phistep


def _layer_steps(tsteps, thick, tstep):
    """Detector layers: a count alone covers 0.5 microns, a thickness alone two half layers."""
    if tsteps <= 0:
        if thick < 0.0:
            if tstep <= 0.0:
                tsteps, thick, tstep = 1, 0.0, 0.0
            else:
                thick, tsteps = tstep, 2
        else:
            if tstep <= 0.0:
                tsteps = 2
                tstep = thick / tsteps
            else:
                tsteps = _ceil_steps(thick / tstep)
    else:
        if thick < 0.0:
            if tstep <= 0.0:
                thick = 0.5e-6
                tstep = thick / tsteps
            else:
                thick, tsteps = tstep, 2
        else:
            if tstep <= 0.0:
                if tsteps <= 1:
                    tsteps = 2
                tstep = thick / (tsteps - 1)
    return tsteps, thick, tstep


def _mosaic_domains(spread, domains, log):
    """Mosaic: a spread without a count gets 10 domains, a count without a spread one."""
    if domains <= 0:
        if spread < 0.0:
            domains, spread = 1, 0.0
        else:
            if spread == 0.0:
                domains = 1
            else:
                log.append(
                    (
                        "sampling",
                        "WARNING: finite mosaicity with only one domain! "
                        "upping to 10 mosaic domains",
                    )
                )
                domains = 10
    else:
        if spread < 0.0:
            log.append(
                ("sampling", "WARNING: no mosaic spread specified.  setting mosaic_domains = 1")
            )
            spread, domains = 0.0, 1
        elif spread == 0.0:
            log.append(
                ("sampling", "WARNING: zero mosaic spread specified.  setting mosaic_domains = 1")
            )
            domains = 1
    return spread, domains


def sampling_config(s, xtal_max, distance, pixel, lambda0, log) -> SamplingConfig:
    """The pixel oversampling: -oversample, or what the crystal's size needs.

    Reads: oversample (-1: automatic), os_thick, os_polar, os_omega; ``xtal_max`` the crystal's
    largest side (m), ``distance`` the placed detector distance (m), ``pixel`` (m), ``lambda0``
    (m). The reciprocal pixel size is lambda0 * distance / pixel; nanoBragg recommends
    ceil(3 * xtal_max / it) sub-pixels per side (at least one). Produces: SamplingConfig. Logs
    the choice and the under-sampling warning (stage "crystal"); UsageError beyond
    MAX_OVERSAMPLE.
    """
    recip_pixel = lambda0 * distance / pixel
    rec_os = c_ceil_int(c_div(3.0 * xtal_max, recip_pixel))
    if rec_os <= 0:
        rec_os = 1
    oversample = s["oversample"]
    if oversample <= 0:
        oversample = rec_os
        log.append(("crystal", "auto-selected %d-fold oversampling" % oversample))
    if oversample < rec_os:
        log.append(("crystal", "WARNING: maximum dimension of sample is %g A" % (xtal_max * 1e10)))
        log.append(("crystal", "         but reciprocal pixel size is %g A" % (recip_pixel * 1e10)))
        log.append(("crystal", "         intensity may vary significantly across a pixel!"))
        log.append(("crystal", "         recommend -oversample %d to work around this" % rec_os))
    if oversample <= 0:
        oversample = 1
    if oversample > MAX_OVERSAMPLE:
        raise UsageError(f"impossible sampling: oversample {oversample} (at most {MAX_OVERSAMPLE})")
    return SamplingConfig(
        oversample=oversample,
        oversample_thick=s["os_thick"],
        oversample_polar=s["os_polar"],
        oversample_omega=s["os_omega"],
    )

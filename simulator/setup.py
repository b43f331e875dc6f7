# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""nanoBragg's option handling and set-up derivations: (option, values) pairs -> SimulationConfig.

Mirrors nanoBragg's sequence: image/mask headers first, then the options in order, then the
defaults and derivations (beam centre conventions, vector clean-up, sampling step logic,
detector placement, interpolation choice, cell, crystal size, oversampling, structure factors,
sources, mosaic domains).
"""

from __future__ import annotations

import dataclasses
import math
import os
import sys

import torch

from simulator import rng
from simulator.beam import divergence_sources, finish_sources, unit_floats
from simulator.cli import IGNORED_OPTIONS, SIZE_NAMES, VECTOR_OPTIONS, UsageError, _int, _num
from simulator.cnum import c_ceil_int, c_div
from simulator.config import (
    BeamConfig,
    CrystalConfig,
    DetectorConfig,
    OutputConfig,
    RunConfig,
    SamplingConfig,
    SimulationConfig,
    StructureFactors,
)
from simulator.crystal import build_cell, crystal_size_N
from simulator.detector import detector_setup
from simulator.geometry import RTD
from simulator.io import (
    InputError,
    read_columns,
    read_dump,
    read_hkl,
    read_matrix,
    read_smv,
    smv_value,
)

NAN = math.nan
#: resource guards shared with the C reference (NB_MAX_* in c_reference/src/nb.h): inputs
#: beyond them are usage errors in both engines (upstream would run for days)
MAX_STEPS = 10_000_000
MAX_OVERSAMPLE = 1000
MAX_PIXELS = 400_000_000
AVOGADRO = 6.02214179e23
R_E_SQR = 7.94079248018965e-30
DEFAULT_FLUENCE = 125932015286227086360700780544.0


def _isnan(x):
    return isinstance(x, float) and math.isnan(x)


def _cross(x, y):
    return (x[1] * y[2] - x[2] * y[1], x[2] * y[0] - x[0] * y[2], x[0] * y[1] - x[1] * y[0])


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


def build_config(pairs, argv, cwd):
    P = lambda name: name if os.path.isabs(name) else os.path.join(cwd, name)  # noqa: E731
    log = []
    # ---------------- defaults (nanoBragg's) ----------------
    s = dict(
        beam_vector=(1.0, 0.0, 0.0),
        fdet=(0.0, 0.0, 1.0),
        sdet=(0.0, -1.0, 0.0),
        odet=(1.0, 0.0, 0.0),
        polar_vector=(0.0, 0.0, 1.0),
        spindle=(0.0, 0.0, 1.0),
        twotheta_axis=(0.0, 1.0, 0.0),
        round_div=True,
        lambda0=1.0e-10,
        mosaic_spread=-1.0,
        dispersion=0.0,
        dispstep=-1.0,
        hdivstep=-1.0,
        hdivrange=-1.0,
        vdivstep=-1.0,
        vdivrange=-1.0,
        hdivsteps=-1,
        vdivsteps=-1,
        dispsteps=-1,
        mosaic_domains=-1,
        fluence=DEFAULT_FLUENCE,
        flux=0.0,
        exposure=1.0,
        beamsize=1e-4,
        Na=1.0,
        Nb=1.0,
        Nc=1.0,
        shape="square",
        fudge=1.0,
        sample=[0.0, 0.0, 0.0],
        water_size=0.0,
        pixel_size=0.1e-3,
        fpixels=0,
        spixels=0,
        distance=100.0e-3,
        detsize_f=102.4e-3,
        detsize_s=102.4e-3,
        detector_mu=-1.0,
        detector_thick=0.0,
        detector_thickstep=-1.0,
        detector_thicksteps=-1,
        rotx=0.0,
        roty=0.0,
        rotz=0.0,
        pivot="beam",
        convention="mosflm",
        twotheta=0.0,
        curved=False,
        point_pixel=False,
        Xbeam=NAN,
        Ybeam=NAN,
        Xclose=NAN,
        Yclose=NAN,
        close_distance=NAN,
        ORGX=NAN,
        ORGY=NAN,
        adc=40.0,
        dmin=0.0,
        polarization=0.0,
        nopolar=False,
        roi=[-1, -1, -1, -1],
        oversample=-1,
        os_thick=False,
        os_polar=False,
        os_omega=False,
        phi0=0.0,
        phistep=-1.0,
        osc=-1.0,
        phisteps=-1,
        default_F=0.0,
        interpolate=2,
        seed=None,
        mosaic_seed=-12345678,
        misset_seed=None,
        user_cell=False,
        cell=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0],
        misset=None,
        misset_random=False,
        matfile=None,
        hklfile=None,
        dumpfile="Fdump.bin",
        dump_given=False,
        stolfile=None,
        sourcefile=None,
        floatfile=None,
        intfile=None,
        pgmfile=None,
        noisefile=None,
        calculate_noise=True,
        write_pgm=True,
        intfile_scale=0.0,
        pgm_scale=0.0,
        printout=False,
        printout_pixel=None,
        progress=True,
        mask=None,
        trace_pixels=[],
        mode="spec",
        omp_threads=None,  # -omp_threads T (c-parity-omp only; 1 when not given)
        device="cpu",
        dtype="float64",
        budget=1.0,
        geometry_dtype="float64",
        trace_only=False,
    )
    # ---------------- image / mask headers first ----------------
    mask_name = img_name = None
    for opt, vals in pairs:
        if opt == "-mask":
            mask_name = vals[0]
        if opt == "-img":
            img_name = vals[0]
    for kind, name in (("mask", mask_name), ("img", img_name)):
        if name is None:
            continue
        header, w, h, data = read_smv(P(name))
        log.append(("pre", "reading %s" % name))
        s["fpixels"], s["spixels"] = w, h
        v = smv_value(header, "PIXEL_SIZE")
        if v is not None:
            s["pixel_size"] = v / 1000.0
        s["detsize_f"] = s["pixel_size"] * w
        s["detsize_s"] = s["pixel_size"] * h
        for key, field, scale in (
            ("DISTANCE", "distance", 1000.0),
            ("CLOSE_DISTANCE", "close_distance", 1000.0),
            ("WAVELENGTH", "lambda0", 1e10),
            ("BEAM_CENTER_X", "Xbeam", 1000.0),
        ):
            v = smv_value(header, key)
            if v is not None:
                s[field] = v / scale
        v = smv_value(header, "BEAM_CENTER_Y")
        if v is not None:
            s["Ybeam"] = (s["detsize_s"] - v / 1000.0) if kind == "mask" else v / 1000.0
        for key in ("ORGX", "ORGY"):
            v = smv_value(header, key)
            if v is not None:
                s[key] = v
        v = smv_value(header, "PHI")
        if v is not None:
            s["phi0"] = v / RTD
        v = smv_value(header, "OSC_RANGE")
        if v is not None:
            s["osc"] = v / RTD
        if kind == "mask":
            s["mask"] = data
            s["mask_name"] = name
    # ---------------- options, in order ----------------
    for opt, vals in pairs:
        _apply(s, opt, vals)
    return _derive(s, argv, cwd, P, log)


def _apply(s, opt, vals):
    f = lambda i=0: _num(opt, vals[i])  # noqa: E731
    n = lambda i=0: _int(opt, vals[i])  # noqa: E731
    if opt in ("-Na", "-Nb", "-Nc"):
        s["N" + opt[2]] = float(n())
    elif opt == "-N":
        s["Na"] = s["Nb"] = s["Nc"] = float(n())
    elif opt == "-cell":
        s["user_cell"] = True
        for i, v in enumerate(vals):
            s["cell"][i] = _num(opt, v)  # Angstrom and degrees
    elif opt == "-misset":
        if len(vals) == 1:
            s["misset_random"] = True
            s["misset"] = None
        else:
            s["misset_random"] = False
            s["misset"] = (f(0) / RTD, f(1) / RTD, f(2) / RTD)
    elif opt in SIZE_NAMES:
        for ax in SIZE_NAMES[opt]:
            s["sample"]["xyz".index(ax)] = f() / 1000
    elif opt in IGNORED_OPTIONS or opt == "-coherent":
        if vals:
            f()  # accepted, no effect (as in nanoBragg)
    elif opt in ("-Xbeam", "-Ybeam"):
        s[opt[1:]] = f() / 1000.0
        s["pivot"] = "beam"
    elif opt in ("-Xclose", "-Yclose"):
        s[opt[1:]] = f() / 1000.0
        s["pivot"] = "sample"
    elif opt in ("-ORGX", "-ORGY"):
        s[opt[1:]] = f()
        s["pivot"] = "sample"
    elif opt == "-pivot":
        if "sample" in vals[0]:
            s["pivot"] = "sample"
        elif "beam" in vals[0]:
            s["pivot"] = "beam"
        else:
            raise UsageError(f"bad value for -pivot: {vals[0]!r} (beam or sample)")
    elif opt in ("-mosflm", "-adxv", "-denzo", "-dials"):
        s["convention"] = opt[1:]
        s["pivot"] = "beam"
    elif opt == "-xds":
        s["convention"] = "xds"
        s["pivot"] = "sample"
    elif opt in VECTOR_OPTIONS:
        v = (f(0), f(1), f(2))
        s["convention"] = "custom"
        key = {
            "-fdet_vector": "fdet",
            "-sdet_vector": "sdet",
            "-odet_vector": "odet",
            "-beam_vector": "beam_vector",
            "-polar_vector": "polar_vector",
            "-spindle_axis": "spindle",
            "-twotheta_axis": "twotheta_axis",
            "-pix0_vector": "pix0",
        }[opt]
        s[key] = v  # pix0 is recomputed by either pivot, as in nanoBragg
    elif opt == "-distance":
        s["distance"] = f() / 1000.0
        s["pivot"] = "beam"
    elif opt == "-close_distance":
        s["close_distance"] = f() / 1000.0
        s["pivot"] = "sample"
    elif opt in ("-detector_abs", "-detector_absorb", "-detector_absorption"):
        v = vals[0]
        if "inf" in v or _num(opt, v) == 0.0:
            s["detector_thick"] = 0.0
            s["detector_mu"] = 0.0
        else:
            s["detector_mu"] = 1.0 / (f() * 1e-6)
    elif opt == "-detector_thick":
        s["detector_thick"] = f() * 1e-6
    elif opt in ("-detector_thicksteps", "-thicksteps"):
        s["detector_thicksteps"] = n()
    elif opt == "-twotheta":
        s["twotheta"] = f() / RTD
        s["pivot"] = "sample"
    elif opt in ("-detector_rotx", "-detector_roty", "-detector_rotz"):
        s["rot" + opt[-1]] = f() / RTD
    elif opt == "-detsize":
        s["detsize_f"] = s["detsize_s"] = f() / 1000.0
    elif opt == "-detsize_f":
        s["detsize_f"] = f() / 1000.0
    elif opt == "-detsize_s":
        s["detsize_s"] = f() / 1000.0
    elif opt == "-detpixels":
        s["fpixels"] = s["spixels"] = n()
    elif opt in ("-detpixels_f", "-detpixels_x"):
        s["fpixels"] = n()
    elif opt in ("-detpixels_s", "-detpixels_y"):
        s["spixels"] = n()
    elif opt in ("-curved_det", "-curved_detector"):
        if vals is not None:
            s["curved"] = True
    elif opt == "-pixel":
        s["pixel_size"] = f() / 1000.0
    elif opt == "-point_pixel":
        s["point_pixel"] = True
    elif opt == "-polar":
        s["polarization"] = f()
        s["nopolar"] = False
    elif opt == "-nopolar":
        s["nopolar"] = True
    elif opt == "-oversample_thick":
        s["os_thick"] = True
    elif opt == "-oversample_polar":
        s["os_polar"] = True
    elif opt == "-oversample_omega":
        s["os_omega"] = True
    elif opt == "-oversample":
        s["oversample"] = n()
    elif opt == "-roi":
        s["roi"] = [n(0), n(1), n(2), n(3)]
    elif opt in ("-lambda", "-wave", "-wavelength"):
        lam = f()
        if not lam > 0 or math.isinf(lam):
            raise UsageError(
                f"bad value for {opt}: {vals[0]!r} (a positive wavelength in Angstrom)"
            )
        s["lambda0"] = lam / 1.0e10
    elif opt == "-energy":
        e = f()
        if not e > 0 or math.isinf(e):
            raise UsageError(f"bad value for -energy: {vals[0]!r} (a positive energy in eV)")
        s["lambda0"] = (12398.42 / e) / 1.0e10
    elif opt == "-fluence":
        s["fluence"] = f()
    elif opt == "-flux":
        s["flux"] = f()
    elif opt == "-exposure":
        s["exposure"] = f()
    elif opt == "-beamsize":
        s["beamsize"] = f() / 1000
    elif opt in ("-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_spr", "-mosaici"):
        s["mosaic_spread"] = f() / RTD
    elif opt in ("-mosaic_dom", "-mosaic_domains"):
        s["mosaic_domains"] = n()
    elif opt == "-dispersion":
        s["dispersion"] = f() / 100.0
    elif opt == "-dispsteps":
        s["dispsteps"] = n()
    elif opt == "-divergence":
        s["hdivrange"] = s["vdivrange"] = f() / 1000.0
    elif opt in ("-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep"):
        s[opt[1:]] = f() / 1000.0
    elif opt in ("-hdivsteps", "-vdivsteps"):
        s[opt[1:]] = n()
    elif opt == "-divsteps":
        s["hdivsteps"] = s["vdivsteps"] = n()
    elif opt == "-round_div":
        s["round_div"] = True
    elif opt == "-square_div":
        s["round_div"] = False
    elif opt == "-adc":
        s["adc"] = f()
    elif opt == "-phi":
        s["phi0"] = f() / RTD
    elif opt == "-osc":
        s["osc"] = f() / RTD
    elif opt == "-phistep":
        s["phistep"] = f() / RTD
    elif opt == "-phisteps":
        s["phisteps"] = n()
    elif opt == "-dmin":
        s["dmin"] = f() * 1e-10
    elif opt in ("-mat", "-matrix"):
        s["matfile"] = vals[0]
    elif opt == "-hkl":
        s["hklfile"] = vals[0]
    elif opt == "-default_F":
        s["default_F"] = f()
    elif opt == "-dump":
        s["dumpfile"] = vals[0]
        s["dump_given"] = True
    elif opt in ("-img", "-mask"):
        pass
    elif opt in ("-stol", "-4stol", "-Q"):
        s["stolfile"] = vals[0]
    elif opt == "-sourcefile":
        s["sourcefile"] = vals[0]
    elif opt in ("-floatfile", "-floatimage"):
        s["floatfile"] = vals[0]
    elif opt in ("-intfile", "-intimage"):
        s["intfile"] = vals[0]
    elif opt in ("-pgmfile", "-pgmimage"):
        s["pgmfile"] = vals[0]
        s["write_pgm"] = True
    elif opt in ("-noisefile", "-noiseimage"):
        s["noisefile"] = vals[0]
        s["calculate_noise"] = True
    elif opt == "-nonoise":
        s["calculate_noise"] = False
    elif opt == "-nopgm":
        s["write_pgm"] = False
    elif opt == "-scale":
        s["intfile_scale"] = f()
    elif opt == "-pgmscale":
        s["pgm_scale"] = f()
        s["write_pgm"] = True
    elif opt == "-printout":
        s["printout"] = True
    elif opt == "-noprogress":
        s["progress"] = False
    elif opt == "-progress":
        s["progress"] = True
    elif opt == "-interpolate":
        s["interpolate"] = 1
    elif opt == "-nointerpolate":
        s["interpolate"] = 0
    elif opt in ("-round_xtal", "-square_xtal", "-gauss_xtal"):
        s["shape"] = opt[1:].split("_")[0]
    elif opt in ("-binary_spots", "-tophat_spots"):
        s["shape"] = "tophat"
    elif opt == "-fudge":
        s["fudge"] = f()
    elif opt == "-printout_pixel":
        s["printout_pixel"] = (n(0), n(1))
        s["printout"] = True
    elif opt == "-seed":
        s["seed"] = -n()
    elif opt == "-mosaic_seed":
        s["mosaic_seed"] = -n()
    elif opt == "-misset_seed":
        s["misset_seed"] = -n()
    elif opt == "-water":
        s["water_size"] = f() / 1e6
    elif opt == "-trace_pixel":
        s["trace_pixels"].append((n(0), n(1)))
    elif opt == "-trace_only":
        s["trace_only"] = True
    elif opt == "-phi_carryover_mode":
        if vals[0] not in ("spec", "c-parity", "c-parity-omp"):
            raise UsageError(
                f"bad value for -phi_carryover_mode: {vals[0]!r} (spec, c-parity or c-parity-omp)"
            )
        s["mode"] = vals[0]
    elif opt == "-omp_threads":
        # a plain decimal count: '2.5' or '1e2' is an error here, not a truncation
        digits = vals[0][1:] if vals[0].startswith("+") else vals[0]
        if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
            raise UsageError(f"bad value for -omp_threads: {vals[0]!r} (a positive integer)")
        if int(digits) > 2**31 - 1:
            raise UsageError(f"bad value for -omp_threads: {vals[0]!r} (beyond a C int)")
        s["omp_threads"] = int(digits)
    elif opt == "-device":
        if vals[0] not in ("cpu", "cuda") and not vals[0].startswith("cuda:"):
            raise UsageError(f"bad value for -device: {vals[0]!r} (cpu or cuda)")
        s["device"] = vals[0]
    elif opt == "-dtype":
        if vals[0] not in ("float64", "float32"):
            raise UsageError(f"bad value for -dtype: {vals[0]!r} (float64 or float32)")
        s["dtype"] = vals[0]
    elif opt == "-geometry_dtype":
        if vals[0] not in ("float64", "float32"):
            raise UsageError(f"bad value for -geometry_dtype: {vals[0]!r} (float64 or float32)")
        s["geometry_dtype"] = vals[0]
    elif opt == "-memory_budget_gb":
        v = f()
        if not (v > 0) or math.isinf(v):
            raise UsageError(f"bad value for -memory_budget_gb: {vals[0]!r} (a positive number)")
        s["budget"] = v
    else:  # pragma: no cover - table and handlers out of sync
        raise UsageError(f"unknown option {opt}")


def _derive(s, argv, cwd, P, log):
    import time

    seed = s["seed"] if s["seed"] is not None else -int(time.time())
    misset_seed = s["misset_seed"] if s["misset_seed"] is not None else -int(time.time())
    # ---------------- device ----------------
    if s["device"].startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("-device cuda: no CUDA device is available")
    # ---------------- detector size ----------------
    pixel = s["pixel_size"]
    if not pixel > 0 or math.isinf(pixel):
        raise UsageError("bad value for -pixel: the pixel size must be positive and finite")
    if s["fpixels"] < 0 or s["spixels"] < 0:
        raise UsageError(
            f"bad value for -detpixels: negative pixel count ({s['fpixels']} x {s['spixels']})"
        )
    if s["fpixels"]:
        s["detsize_f"] = pixel * s["fpixels"]
    if s["spixels"]:
        s["detsize_s"] = pixel * s["spixels"]
    # pixel counts as doubles first, like the C reference: a nan or huge size is no count
    nf = math.ceil(s["detsize_f"] / pixel - 0.5) if math.isfinite(s["detsize_f"]) else NAN
    ns = math.ceil(s["detsize_s"] / pixel - 0.5) if math.isfinite(s["detsize_s"]) else NAN
    if not (nf <= 2**31 - 1 and ns <= 2**31 - 1):
        raise UsageError("bad value for -detpixels/-detsize: detector size out of range")
    if nf <= 0 or ns <= 0:
        raise UsageError("impossible detector: no pixels (check -detpixels/-detsize/-pixel)")
    fpixels, spixels = int(nf), int(ns)
    if fpixels * spixels > MAX_PIXELS:
        raise UsageError(
            f"impossible detector: {fpixels} x {spixels} pixels (at most {MAX_PIXELS})"
        )
    # ---------------- flux, sample clipping ----------------
    fluence, flux, exposure, beamsize = s["fluence"], s["flux"], s["exposure"], s["beamsize"]
    sample = list(s["sample"])
    if flux != 0.0 and exposure > 0.0 and beamsize >= 0:
        fluence = c_div(c_div(flux * exposure, beamsize), beamsize)
    if beamsize >= 0:
        if beamsize < sample[1]:
            log.append(
                (
                    "pre",
                    "WARNING: clipping sample (%g m high) with beam (%g m)" % (sample[1], beamsize),
                )
            )
            sample[1] = beamsize
        if beamsize < sample[2]:
            log.append(
                (
                    "pre",
                    "WARNING: clipping sample (%g m wide) with beam (%g m)" % (sample[2], beamsize),
                )
            )
            sample[2] = beamsize
    # ---------------- beam centre defaults and conventions ----------------
    Fclose = Sclose = NAN
    if not _isnan(s["ORGX"]):
        Fclose = (s["ORGX"] - 0.5) * pixel
    if not _isnan(s["ORGY"]):
        Sclose = (s["ORGY"] - 0.5) * pixel
    detsize_f, detsize_s = s["detsize_f"], s["detsize_s"]
    if _isnan(Fclose):
        Fclose = (detsize_f - 0 * pixel) / 2.0
    if _isnan(Sclose):
        Sclose = (detsize_s + 0 * pixel) / 2.0
    Xclose = Fclose if _isnan(s["Xclose"]) else s["Xclose"]
    Yclose = Sclose if _isnan(s["Yclose"]) else s["Yclose"]
    Fbeam, Sbeam = Fclose, Sclose
    roi = list(s["roi"])
    if roi[0] < 0:
        roi[0] = 0
    if roi[1] < 0:
        roi[1] = fpixels
    if roi[2] < 0:
        roi[2] = 0
    if roi[3] < 0:
        roi[3] = spixels
    Xbeam, Ybeam = s["Xbeam"], s["Ybeam"]
    conv = s["convention"]
    pivot = s["pivot"]
    beam_v, fdet, sdet, odet = s["beam_vector"], s["fdet"], s["sdet"], s["odet"]
    ttaxis, polar_v, spindle = s["twotheta_axis"], s["polar_vector"], s["spindle"]
    if conv == "adxv":
        if _isnan(Xbeam):
            Xbeam = (detsize_f + pixel) / 2.0
        if _isnan(Ybeam):
            Ybeam = (detsize_s - pixel) / 2.0
        beam_v, fdet, sdet, odet = (0, 0, 1), (1, 0, 0), (0, -1, 0), (0, 0, 1)
        ttaxis, polar_v, spindle = (-1, 0, 0), (1, 0, 0), (1, 0, 0)
        Fbeam, Sbeam = Xbeam, detsize_s - Ybeam
        pivot = "beam"
    elif conv in ("mosflm", "denzo"):
        if _isnan(Xbeam):
            Xbeam = (detsize_s + pixel) / 2.0
        if _isnan(Ybeam):
            Ybeam = (detsize_f + pixel) / 2.0
        beam_v, odet, fdet, sdet = (1, 0, 0), (1, 0, 0), (0, 0, 1), (0, -1, 0)
        ttaxis, polar_v, spindle = (0, 0, -1), (0, 0, 1), (0, 0, 1)
        half = 0.5 if conv == "mosflm" else 0.0
        Fbeam = Ybeam + half * pixel
        Sbeam = Xbeam + half * pixel
        pivot = "beam"
    elif conv in ("xds", "dials"):
        if _isnan(Xbeam):
            Xbeam = Xclose
        if _isnan(Ybeam):
            Ybeam = Yclose
        beam_v, fdet, sdet, odet = (0, 0, 1), (1, 0, 0), (0, 1, 0), (0, 0, 1)
        if conv == "xds":
            ttaxis, polar_v, spindle = (1, 0, 0), (1, 0, 0), (1, 0, 0)
        else:
            ttaxis, polar_v, spindle = (0, 1, 0), (0, 1, 0), (0, 1, 0)
        Fbeam, Sbeam = Xbeam, Ybeam
        pivot = "sample"
    else:  # custom
        if _isnan(Xbeam):
            Xbeam = Xclose
        if _isnan(Ybeam):
            Ybeam = Yclose
        Fbeam, Sbeam = Xbeam, Ybeam
        Fclose, Sclose = Xbeam, Ybeam
    fl = lambda v: tuple(float(x) for x in v)  # noqa: E731
    beam_v, _ = unit_floats(fl(beam_v))
    fdet, _ = unit_floats(fl(fdet))
    sdet, _ = unit_floats(fl(sdet))
    odet_u, odet_len = unit_floats(fl(odet))
    if odet_len != 1.0:
        log.append(("pre", "WARNING: auto-generating odet_vector"))
        odet_u, _ = unit_floats(_cross(fdet, sdet))
    odet = odet_u
    polar_v, _ = unit_floats(fl(polar_v))
    spindle, _ = unit_floats(fl(spindle))
    vert_v, _ = unit_floats(_cross(beam_v, polar_v))
    ttaxis = fl(ttaxis)
    # ---------------- structure factor inputs present? ----------------
    hklfile, default_F = s["hklfile"], s["default_F"]
    dump_path = P(s["dumpfile"])
    # the dump file is explicit: read only when -dump names it and there is no -hkl
    dump_exists = hklfile is None and s["dump_given"] and os.path.isfile(dump_path)
    if hklfile is None and s["dump_given"] and not dump_exists and default_F == 0.0:
        raise InputError(f"cannot read {s['dumpfile']}: no such file")
    if (hklfile is None and not dump_exists and default_F == 0.0) or (
        s["matfile"] is None and s["cell"][0] == 0.0
    ):
        raise UsageError(
            "need structure factors (-hkl, a -dump file or -default_F) "
            "and a crystal (-cell or -mat)"
        )
    # ---------------- phi sampling ----------------
    phisteps, osc, phistep = s["phisteps"], s["osc"], s["phistep"]
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
    if phisteps <= 0:
        raise UsageError("impossible phi sampling: no phi steps")
    hdivsteps, hdivrange, hdivstep = _auto_steps(s["hdivsteps"], s["hdivrange"], s["hdivstep"])
    vdivsteps, vdivrange, vdivstep = _auto_steps(s["vdivsteps"], s["vdivrange"], s["vdivstep"])
    dispsteps, dispersion, dispstep = _auto_steps(s["dispsteps"], s["dispersion"], s["dispstep"])
    # detector thickness
    tsteps, thick, tstep = s["detector_thicksteps"], s["detector_thick"], s["detector_thickstep"]
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
    mu = s["detector_mu"]
    if thick > 0.0 and mu < 0.0:
        mu = 1.0 / thick
        log.append(("sampling", "WARNING: setting detector attenuation depth to %g m" % mu))
    # mosaic domains
    spread, domains = s["mosaic_spread"], s["mosaic_domains"]
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
    # sanity checks
    if hdivrange <= 0.0 or hdivstep <= 0.0 or hdivsteps <= 0:
        hdivsteps, hdivrange, hdivstep = 1, 0.0, 0.0
    if vdivrange <= 0.0 or vdivstep <= 0.0 or vdivsteps <= 0:
        vdivsteps, vdivrange, vdivstep = 1, 0.0, 0.0
    if dispersion <= 0.0 or dispstep <= 0.0 or dispsteps <= 0:
        dispsteps, dispersion, dispstep = 1, 0.0, 0.0
    if thick <= 0.0 or tstep <= 0.0 or tsteps <= 0:
        tsteps, thick, tstep = 1, 0.0, 0.0
    for name, v in (
        ("phi", phisteps),
        ("divergence", hdivsteps * vdivsteps),
        ("dispersion", dispsteps),
        ("thickness", tsteps),
        ("mosaic", domains),
    ):
        if v > MAX_STEPS:
            raise UsageError(f"impossible sampling: {v} {name} steps (at most {MAX_STEPS})")
    # ---------------- detector placement ----------------
    det_partial = DetectorConfig(
        fpixels=fpixels,
        spixels=spixels,
        pixel_size=pixel,
        detsize_f=detsize_f,
        detsize_s=detsize_s,
        convention=conv,
        pivot=pivot,
        distance=s["distance"],
        close_distance=None if _isnan(s["close_distance"]) else s["close_distance"],
        fdet=fdet,
        sdet=sdet,
        odet=odet,
        twotheta_axis=ttaxis,
        rotx=s["rotx"],
        roty=s["roty"],
        rotz=s["rotz"],
        twotheta=s["twotheta"],
        Fbeam=Fbeam,
        Sbeam=Sbeam,
        Fclose=Fclose,
        Sclose=Sclose,
        Xbeam=Xbeam,
        Ybeam=Ybeam,
        Xclose=Xclose,
        Yclose=Yclose,
        curved=s["curved"],
        point_pixel=s["point_pixel"],
        thick=thick,
        thickstep=tstep,
        thicksteps=tsteps,
        mu=mu,
        roi=tuple(roi),
        mask=None,
    )
    geo = detector_setup(det_partial, beam_v, {}, torch.float64, "cpu")
    # a zero, infinite or nan distance (a detector parallel to the beam, -distance inf) is
    # rendered as upstream renders it: zero or nan pixels (nanobragg-facts.md, degenerate input)
    distance_now = float(geo["distance"])
    # ---------------- interpolation choice (before crystal sizes change N) ----------------
    interpolate = s["interpolate"]
    Na, Nb, Nc = s["Na"], s["Nb"], s["Nc"]
    if interpolate > 1:
        interpolate = 1 if (Na <= 2 or Nb <= 2 or Nc <= 2) else 0
        log.append(
            (
                "interp",
                "auto-selected tricubic interpolation of structure factors"
                if interpolate
                else "auto-selected no interpolation",
            )
        )
    # ---------------- crystal ----------------
    table = rng.Ran1Table()
    misset = s["misset"]
    random_line = None
    if s["misset_random"]:
        axis, _, ang = rng.mosaic_rotation_draw(90.0, rng.Seed(misset_seed), table)
        misset = rng.umat2misset(rng.umat_from_axis_angle(axis, ang))
        random_line = "random orientation misset angles: %f %f %f deg" % tuple(
            m * RTD for m in misset
        )
    cell = list(s["cell"])
    user_cell = s["user_cell"]
    if user_cell:
        if cell[1] <= 0.0:
            cell[1] = cell[0]
        if cell[2] <= 0.0:
            cell[2] = cell[0]
        for i in (3, 4, 5):
            if cell[i] <= 0.0:
                cell[i] = 90.0
    cell_deg = tuple(cell)
    if user_cell:
        a_, b_, c_, al, be, ga = cell
        if min(a_, b_, c_) <= 0 or not all(math.isfinite(x) for x in cell):
            raise UsageError("impossible unit cell: lengths must be positive (-cell)")
        if (
            max(al, be, ga) >= 180.0
            or al + be + ga >= 360.0
            or al >= be + ga
            or be >= al + ga
            or ga >= al + be
        ):
            raise UsageError(f"impossible unit cell angles {al:g} {be:g} {ga:g} (-cell)")
    matrix = None
    if s["matfile"] is not None:
        matrix = read_matrix(P(s["matfile"]))
        log.append(("cell", "reading %s" % s["matfile"]))
    if random_line is not None:
        log.append(("cell", random_line))
    crystal_partial = CrystalConfig(
        user_cell=user_cell,
        cell=cell_deg,
        matrix=matrix,
        misset_rad=None if misset is None else tuple(misset),
        N=(Na, Nb, Nc),
        shape=s["shape"],
        fudge=s["fudge"],
        phi0=s["phi0"],
        phistep=phistep,
        phisteps=phisteps,
        osc=osc,
        spindle=spindle,
        mosaic_spread=spread,
        mosaic_domains=domains,
        mosaic_axes=(),
        mosaic_factors=(),
        mosaic_angles=(),
    )
    with torch.no_grad():
        cryst = build_cell(
            crystal_partial,
            {},
            torch.tensor(s["lambda0"], dtype=torch.float64),
            torch.float64,
            "cpu",
        )
    lens = [float(torch.linalg.vector_norm(cryst[k])) for k in ("a_m", "b_m", "c_m")]
    if not all(math.isfinite(x) and x > 0 for x in lens):
        raise UsageError("impossible unit cell (check -cell or -mat)")
    N = crystal_size_N(sample, *lens, (Na, Nb, Nc))
    xtal_max = max(lens[0] * N[0], lens[1] * N[1], lens[2] * N[2])
    recip_pixel = s["lambda0"] * distance_now / pixel
    rec_os = c_ceil_int(c_div(3.0 * xtal_max, recip_pixel))
    if rec_os <= 0:
        rec_os = 1
    log.append(
        (
            "crystal",
            "crystal is %g x %g x %g microns"
            % (lens[0] * N[0] * 1e6, lens[1] * N[1] * 1e6, lens[2] * N[2] * 1e6),
        )
    )
    oversample = s["oversample"]
    if oversample <= 0:
        oversample = rec_os
        log.append(("crystal", "auto-selected %d-fold oversampling" % oversample))
    if oversample < rec_os:
        log.append(("crystal", "WARNING: maximum dimension of sample is %g A" % (xtal_max * 1e10)))
        log.append(("crystal", "         but reciprocal pixel size is %g A" % (recip_pixel * 1e10)))
        log.append(("crystal", "         intensity may vary significantly across a pixel!"))
        log.append(("crystal", "         recommend -oversample %d to work around this" % rec_os))
    volume = lens[0] * N[0] * lens[1] * N[1] * lens[2] * N[2]
    log.append(
        ("crystal", "approximate MW = %g" % (volume * 1.2e6 * AVOGADRO / (N[0] * N[1] * N[2])))
    )
    if oversample <= 0:
        oversample = 1
    if oversample > MAX_OVERSAMPLE:
        raise UsageError(f"impossible sampling: oversample {oversample} (at most {MAX_OVERSAMPLE})")
    # ---------------- structure factors ----------------
    sf_table, mins, maxs, hkls = None, (0, 0, 0), (0, 0, 0), 0
    if hklfile is None:
        if dump_exists:
            log.append(("hkl", "reading Fs from %s" % s["dumpfile"]))
            sf_table, mins, maxs, hkls = read_dump(dump_path)
    else:
        sf_table, mins, maxs, hkls, duplicates = read_hkl(P(hklfile), fill=default_F)
        if duplicates is not None:
            _warn_duplicates(hklfile, *duplicates)
        log.append(("hkl", "counting entries in %s" % hklfile))
        if default_F != 0.0:
            log.append(("hkl", "initializing to default_F = %g:" % default_F))
            log.append(("hkl", "done initializing:"))
        log.append(("hkl", "re-reading %s" % hklfile))
        if s["dump_given"]:
            from simulator.io import write_dump

            write_dump(s["dumpfile"], sf_table, mins, maxs, cwd=cwd)
            log.append(("hkl", "writing dump file for next time: %s" % s["dumpfile"]))
    if hkls == 0:
        interpolate = 0
    sf = StructureFactors(
        table=sf_table,
        hkl_min=tuple(mins),
        hkl_max=tuple(maxs),
        hkls=hkls,
        default_F=default_F,
        interpolate=bool(interpolate),
    )
    if s["stolfile"] is not None:
        log.append(("hkl", "reading %s" % s["stolfile"]))
        read_columns(P(s["stolfile"]), 2)  # read and checked, never used (as in nanoBragg)
    # ---------------- sources ----------------
    lambda0 = s["lambda0"]
    if not (lambda0 > 0) or not math.isfinite(lambda0):
        raise UsageError("bad value for -lambda/-energy: the wavelength must be positive")
    from_file = False
    if s["sourcefile"] is not None:
        rows = read_columns(P(s["sourcefile"]), 5)
        positions, lambdas = [], []
        weights = []
        for X, Y, Z, Iw, lam in rows:
            X = -10.0 * beam_v[0] if math.isnan(X) else X
            Y = -10.0 * beam_v[1] if math.isnan(Y) else Y
            Z = -10.0 * beam_v[2] if math.isnan(Z) else Z
            lam = lambda0 if math.isnan(lam) else lam
            positions.append((X, Y, Z))
            lambdas.append(lam)
            weights.append(1.0 if math.isnan(Iw) else Iw)
        factors = None
        divsteps = 0
        from_file = True
    else:
        positions, factors, divsteps, kept = divergence_sources(
            beam_v,
            polar_v,
            vert_v,
            hdivrange,
            hdivstep,
            hdivsteps,
            vdivrange,
            vdivstep,
            vdivsteps,
            s["round_div"],
            lambda0,
            dispersion,
            dispstep,
            dispsteps,
        )
        lambdas = [lambda0 * fct for fct in factors]
        for hd, vd in kept:
            log.append(("sources", "divergence deviation: %g %g" % (hd, vd)))
        for j in range(dispsteps):
            log.append(
                (
                    "sources",
                    "lambda%d = %.15g" % (j, lambda0 * (1.0 + dispstep * j - dispersion / 2.0)),
                )
            )
        weights = [1.0 / len(positions)] * len(positions) if positions else []
    if not positions:
        raise UsageError("impossible beam: no sources")
    log.append(("sources", "  created a total of %d sources:" % len(positions)))
    for (X, Y, Z), Iw, lam in zip(positions, weights, lambdas):
        log.append(("sources", "%g %g %g   %g %g" % (X, Y, Z, Iw, lam)))
    dirs = finish_sources(positions)
    # ---------------- mosaic domains ----------------
    mseed = rng.Seed(s["mosaic_seed"])
    axes, mfactors, angles = [], [], []
    for _ in range(domains):
        axis, fct, ang = rng.mosaic_rotation_draw(spread, mseed, table)
        axes.append(axis)
        mfactors.append(fct)
        angles.append(ang)
    crystal = dataclasses.replace(
        crystal_partial,
        N=N,
        mosaic_axes=tuple(axes),
        mosaic_factors=tuple(mfactors),
        mosaic_angles=tuple(angles),
    )
    water = s["water_size"]
    I_bg = 2.57 * 2.57 * R_E_SQR * fluence * water * water * water * 1e6 * AVOGADRO / 18.0
    beam = BeamConfig(
        lambda0=lambda0,
        beam_vector=beam_v,
        polar_vector=polar_v,
        vert_vector=vert_v,
        source_dirs=tuple(dirs),
        source_lambdas=tuple(lambdas),
        source_from_file=from_file,
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
        I_bg=I_bg,
        dmin=s["dmin"],
    )
    mask = s["mask"]
    if mask is not None:
        log.append(("mask", "  skipping zero-flagged pixels in %s" % mask_name_of(s)))
    if mask is not None and mask.shape != (spixels, fpixels):
        raise InputError(
            f"{mask_name_of(s)}: mask is {mask.shape[1]}x{mask.shape[0]} pixels, "
            f"the detector {fpixels}x{spixels}"
        )
    detector = dataclasses.replace(det_partial, mask=mask)
    sampling = SamplingConfig(
        oversample=oversample,
        oversample_thick=s["os_thick"],
        oversample_polar=s["os_polar"],
        oversample_omega=s["os_omega"],
    )
    for sl, fa in s["trace_pixels"]:
        if not (0 <= sl < spixels and 0 <= fa < fpixels):
            raise UsageError(
                f"bad value for -trace_pixel: {sl} {fa} is outside the {spixels}x{fpixels} detector"
            )
    output = OutputConfig(
        floatfile=s["floatfile"],
        intfile=s["intfile"],
        pgmfile=s["pgmfile"],
        noisefile=s["noisefile"],
        write_pgm=s["write_pgm"],
        calculate_noise=s["calculate_noise"],
        intfile_scale=s["intfile_scale"],
        pgm_scale=s["pgm_scale"],
        adc_offset=s["adc"],
        seed=seed,
        printout=s["printout"],
        printout_pixel=s["printout_pixel"],
        progress=s["progress"],
    )
    named_output = any(
        x is not None for x in (output.floatfile, output.intfile, output.pgmfile, output.noisefile)
    )
    trace_only = s["trace_only"] or (
        bool(s["trace_pixels"]) and not named_output and not output.printout
    )
    # a thread count means nothing to the other modes: ignoring it would let a caller believe
    # a serial run reproduced a threaded one
    if s["omp_threads"] is not None and s["mode"] != "c-parity-omp":
        raise UsageError("-omp_threads needs -phi_carryover_mode c-parity-omp")
    run = RunConfig(
        trace_pixels=tuple(s["trace_pixels"]),
        phi_carryover_mode=s["mode"],
        omp_threads=s["omp_threads"] or 1,
        device=s["device"],
        dtype=s["dtype"],
        memory_budget_bytes=int(s["budget"] * 2**30),
        trace_only=trace_only,
        geometry_dtype=s["geometry_dtype"] if s["dtype"] == "float32" else "float64",
    )
    return SimulationConfig(
        crystal=crystal,
        sf=sf,
        beam=beam,
        detector=detector,
        sampling=sampling,
        output=output,
        run=run,
        rng_state=table.state(),
        argv=tuple(argv),
        cwd=cwd,
        log=tuple(log),
    )


def _warn_duplicates(name, count, first):
    """A reflection listed twice: nanoBragg keeps the value read last, silently; both engines
    do the same and say so on stderr (the C reference's nb_warn, same words)."""
    h, k, l = first
    sys.stderr.write(
        f"nbsim: warning: {name}: {count} {'lines repeat' if count > 1 else 'line repeats'} a "
        f"reflection listed earlier (the first: {h} {k} {l}); the value read last is used, as in "
        "nanoBragg\n"
    )


def mask_name_of(s):
    return s.get("mask_name") or "mask"

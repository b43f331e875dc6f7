"""nanoBragg's command line: the one table of options, their defaults, and the number parsers.

Mirrors c_reference/src/options.c (``nb_defaults``, ``nb_parse_args``). Each option is defined
once, in :data:`OPTIONS`: how many value tokens it takes, how they are read (and converted from
the command line's units to the SI units of the settings) and what it sets. ``split_argv`` cuts
argv into (option, values) pairs by the table's counts; ``apply_options`` reads and applies them
in command-line order, so that options with side effects (pivot, convention) combine the way
they do upstream. The set-up derivations (``simulator.setup``) then turn the settings into the
frozen configuration.

Option names are nanoBragg's, matched exactly (nanoBragg's substring matching, where one token
may fire several handlers, is intentionally not reproduced).

Units of the settings (what the table converts to): lengths in metres (mm on the command line:
-distance, -pixel, -Xbeam, -detsize, -beamsize, -xtal*; microns: -detector_thick,
-detector_abs, -water), angles in radians (degrees: -phi, -osc, -mosaic, -misset, -twotheta,
-detector_rot*; mrad: -divergence, -*divrange, -*divstep), wavelength in metres (Angstrom:
-lambda; eV: -energy), -dispersion as a fraction (percent on the command line), -dmin in metres
(Angstrom). -cell stays in Angstrom and degrees, -ORGX/-ORGY in pixels.

This module imports nothing of the simulator but its radians constant: ``simulator.io`` reads
numbers with :func:`c_strtod`. (It is a little over 500 lines on purpose: it is the whole
command line, some 190 option names, in one table; split, an option would again be defined in
two places.)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass

from simulator.geometry import RTD

NAN = math.nan
#: nanoBragg's default fluence (photons/m^2)
DEFAULT_FLUENCE = 125932015286227086360700780544.0


class UsageError(Exception):
    """A usage error: the message is one line, naming the option."""


# ---------------------------------------------------------------- numbers as C reads them

#: what C's strtod reads as a whole token (the C reference's parse_real): decimal or hex
#: numbers, inf/infinity, nan or nan(chars); surrounding white space allowed. Python's float()
#: also takes '1_000', which upstream's atof reads as 1: such a token is not a number here.
_C_DECIMAL = re.compile(
    r"\s*[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan(?:\([0-9A-Za-z_]*\))?)\s*",
    re.I,
)
_C_HEX = re.compile(
    r"\s*[-+]?0[xX](?:[0-9a-fA-F]+\.?[0-9a-fA-F]*|\.[0-9a-fA-F]+)(?:[pP][-+]?\d+)?\s*"
)
#: the integer prefix C's atoi/strtol read (upstream reads integer options with atoi)
_C_INT_PREFIX = re.compile(r"\s*[-+]?\d+")
#: upstream holds integer options in C ints
INT_LIMIT = 2**31 - 1


def c_strtod(tok):
    """The value C's strtod gives for the whole token, or None when it is not a number."""
    if not isinstance(tok, str):
        return None
    if _C_DECIMAL.fullmatch(tok):
        t = tok.strip().lower()
        return float(t.split("(")[0]) if "nan" in t else float(t)
    if _C_HEX.fullmatch(tok):
        t = tok.strip()
        try:
            return float.fromhex(t)
        except OverflowError:  # strtod gives +-HUGE_VAL (inf) where fromhex raises
            return -math.inf if t.startswith("-") else math.inf
    return None


def _num(opt, tok):
    """A real value of option ``opt``: what C's strtod reads, or a UsageError."""
    v = c_strtod(tok)
    if v is None:
        raise UsageError(f"bad value for {opt}: {tok!r}")
    return v


def _int(opt, tok):
    """An integer option: a number that upstream's atoi reads as written ('5', '5.0'); '2.5',
    '1e2', 'nan' or 'inf' are usage errors (atoi would read 2, 1, 0, 0), as are values beyond a
    C int."""
    v = c_strtod(tok)
    if v is None:
        raise UsageError(f"bad value for {opt}: {tok!r} (an integer is needed)")
    prefix = _C_INT_PREFIX.match(tok)
    n = int(prefix.group(0)) if prefix else 0
    if v != n:
        raise UsageError(f"bad value for {opt}: {tok!r} (an integer is needed)")
    if abs(n) > INT_LIMIT:
        raise UsageError(f"bad value for {opt}: {tok!r} (beyond a C int)")
    return n


# ---------------------------------------------------------------- defaults


def defaults():
    """nanoBragg's defaults (``nb_defaults``): a fresh settings dict, SI units (see the module
    docstring). NaN marks a value nanoBragg derives when it is not given (beam centres, ORGX,
    the close distance); -1 a step, range or count the sampling rules derive."""
    return dict(
        # beam and sources
        beam_vector=(1.0, 0.0, 0.0), polar_vector=(0.0, 0.0, 1.0), lambda0=1.0e-10,
        dispersion=0.0, dispstep=-1.0, dispsteps=-1, round_div=True,
        hdivstep=-1.0, hdivrange=-1.0, hdivsteps=-1, vdivstep=-1.0, vdivrange=-1.0, vdivsteps=-1,
        fluence=DEFAULT_FLUENCE, flux=0.0, exposure=1.0, beamsize=1e-4, polarization=0.0,
        nopolar=False, water_size=0.0, dmin=0.0, sourcefile=None,
        # crystal
        spindle=(0.0, 0.0, 1.0), mosaic_spread=-1.0, mosaic_domains=-1, mosaic_seed=-12345678,
        Na=1.0, Nb=1.0, Nc=1.0, shape="square", fudge=1.0, sample=[0.0, 0.0, 0.0],
        user_cell=False, cell=[0.0, 0.0, 0.0, 0.0, 0.0, 0.0], misset=None, misset_random=False,
        misset_seed=None, matfile=None,
        phi0=0.0, phistep=-1.0, osc=-1.0, phisteps=-1,
        # structure factors
        default_F=0.0, interpolate=2, hklfile=None, dumpfile="Fdump.bin", dump_given=False,
        stolfile=None,
        # detector
        fdet=(0.0, 0.0, 1.0), sdet=(0.0, -1.0, 0.0), odet=(1.0, 0.0, 0.0),
        twotheta_axis=(0.0, 1.0, 0.0), pixel_size=0.1e-3, fpixels=0, spixels=0,
        pix0=None,  # -pix0_vector: stored, never used (either pivot recomputes pix0)
        distance=100.0e-3, close_distance=NAN, detsize_f=102.4e-3, detsize_s=102.4e-3,
        detector_mu=-1.0, detector_thick=0.0, detector_thickstep=-1.0, detector_thicksteps=-1,
        rotx=0.0, roty=0.0, rotz=0.0, twotheta=0.0, pivot="beam", convention="mosflm",
        curved=False, point_pixel=False, Xbeam=NAN, Ybeam=NAN, Xclose=NAN, Yclose=NAN,
        ORGX=NAN, ORGY=NAN, roi=[-1, -1, -1, -1], mask=None,
        # sampling
        oversample=-1, os_thick=False, os_polar=False, os_omega=False,
        # output
        floatfile=None, intfile=None, pgmfile=None, noisefile=None, calculate_noise=True,
        write_pgm=True, intfile_scale=0.0, pgm_scale=0.0, adc=40.0, seed=None,
        printout=False, printout_pixel=None, progress=True,
        # this engine's run options
        trace_pixels=[], phi_carryover_mode="spec",
        omp_threads=None,  # -omp_threads T (c-parity-omp only; 1 when not given)
        device="cpu", dtype="float64", budget=1.0, geometry_dtype="float64", trace_only=False,
    )  # fmt: skip


# ---------------------------------------------------------------- the option table


@dataclass(frozen=True)
class Option:
    """One option: ``count`` value tokens (-6: -cell's one to six, -3: -misset's 'random' or
    three), ``parse(option, values)`` -> the value (UsageError when bad), and
    ``store(settings, option, value)``, which sets what the option means."""

    count: int
    parse: Callable
    store: Callable


#: option name -> Option: every option of both nbsim and nanoBragg's set this engine takes
OPTIONS: dict[str, Option] = {}


def _option(count, parse, store, *names):
    for name in names:
        OPTIONS[name] = Option(count, parse, store)


# parsers: (option, value tokens) -> value
def _flag(opt, vals):
    return None


def _word(opt, vals):
    return vals[0]


def _real(opt, vals):
    return _num(opt, vals[0])


def _count(opt, vals):
    return _int(opt, vals[0])


def _counts(opt, vals):
    return tuple(_int(opt, v) for v in vals)


def _vector(opt, vals):
    return (_num(opt, vals[0]), _num(opt, vals[1]), _num(opt, vals[2]))


def _per(unit):
    """A real value divided by ``unit`` (mm -> m: 1000.0, degrees -> rad: RTD, ...)."""
    return lambda opt, vals: _num(opt, vals[0]) / unit


def _times(factor):
    """A real value times ``factor`` (microns -> m: 1e-6, Angstrom -> m: 1e-10)."""
    return lambda opt, vals: _num(opt, vals[0]) * factor


def _choice(words, hint):
    def parse(opt, vals):
        if vals[0] not in words:
            raise UsageError(f"bad value for {opt}: {vals[0]!r} ({hint})")
        return vals[0]

    return parse


# stores: (settings, option, value) -> None
def _set(*keys, **also):
    """Store the value under each of ``keys``, and the fixed settings ``also``."""

    def store(s, opt, v):
        for key in keys:
            s[key] = v
        s.update(also)

    return store


def _set_own(**also):
    """Store the value under the option's own name (-Xbeam -> Xbeam), and ``also``."""

    def store(s, opt, v):
        s[opt[1:]] = v
        s.update(also)

    return store


def _nothing(s, opt, v):
    pass


# crystal
_option(1, lambda o, v: float(_int(o, v[0])), _set_own(), "-Na", "-Nb", "-Nc")
_option(1, lambda o, v: float(_int(o, v[0])), _set("Na", "Nb", "Nc"), "-N")


def _store_cell(s, opt, values):
    s["user_cell"] = True
    for i, v in enumerate(values):
        s["cell"][i] = v  # Angstrom and degrees


_option(-6, lambda o, v: [_num(o, t) for t in v], _store_cell, "-cell")


def _parse_misset(opt, vals):
    if len(vals) == 1:
        return None  # 'random'
    return (_num(opt, vals[0]) / RTD, _num(opt, vals[1]) / RTD, _num(opt, vals[2]) / RTD)


def _store_misset(s, opt, v):
    s["misset_random"] = v is None
    s["misset"] = v


_option(-3, _parse_misset, _store_misset, "-misset")

#: -sample*/-xtal* size options (one value, mm) -> the axes they set
SIZE_NAMES = {
    "-samplesize": "xyz", "-sample_size": "xyz", "-xtalsize": "xyz", "-xtal_size": "xyz",
    "-sample_thick": "x", "-sample_x": "x", "-xtal_thick": "x", "-xtal_x": "x",
    "-sample_width": "y", "-sample_y": "y", "-width": "y", "-xtal_width": "y", "-xtal_y": "y",
    "-sample_heigh": "z", "-sample_height": "z", "-sample_z": "z", "-heigh": "z", "-height": "z",
    "-xtal_heigh": "z", "-xtal_height": "z", "-xtal_z": "z",
}  # fmt: skip


def _store_size(s, opt, v):
    for ax in SIZE_NAMES[opt]:
        s["sample"]["xyz".index(ax)] = v


_option(1, _per(1000), _store_size, *SIZE_NAMES)
_option(1, _per(RTD), _set("mosaic_spread"),
        "-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_spr", "-mosaici")  # fmt: skip
_option(1, _count, _set("mosaic_domains"), "-mosaic_dom", "-mosaic_domains")
_option(1, _per(RTD), _set("phi0"), "-phi")
_option(1, _per(RTD), _set("osc"), "-osc")
_option(1, _per(RTD), _set("phistep"), "-phistep")
_option(1, _count, _set("phisteps"), "-phisteps")
_option(1, _word, _set("matfile"), "-mat", "-matrix")
_option(1, _real, _set("fudge"), "-fudge")
_option(1, lambda o, v: -_int(o, v[0]), _set("mosaic_seed"), "-mosaic_seed")
_option(1, lambda o, v: -_int(o, v[0]), _set("misset_seed"), "-misset_seed")
_option(0, _flag, lambda s, opt, v: s.update(shape=opt[1:].split("_")[0]),
        "-round_xtal", "-square_xtal", "-gauss_xtal")  # fmt: skip
_option(0, _flag, _set(shape="tophat"), "-binary_spots", "-tophat_spots")

# structure factors
_option(1, _word, _set("hklfile"), "-hkl")
_option(1, _real, _set("default_F"), "-default_F")
_option(1, _word, _set("dumpfile", dump_given=True), "-dump")
_option(1, _word, _set("stolfile"), "-stol", "-4stol", "-Q")
_option(0, _flag, _set(interpolate=1), "-interpolate")
_option(0, _flag, _set(interpolate=0), "-nointerpolate")
_option(1, _times(1e-10), _set("dmin"), "-dmin")

#: options nanoBragg accepts with one value and ignores (-coherent, with none, too)
IGNORED_OPTIONS = (
    "-density", "-sample_den", "-sample_density", "-MW", "-molec", "-molecules",
    "-molecular_weight", "-stolout",
)  # fmt: skip
_option(1, _real, _nothing, *IGNORED_OPTIONS)  # the value is read (a bad one is an error)
_option(0, _flag, _nothing, "-coherent")

# beam and sources


def _wavelength(opt, vals):
    lam = _num(opt, vals[0])
    if not lam > 0 or math.isinf(lam):
        raise UsageError(f"bad value for {opt}: {vals[0]!r} (a positive wavelength in Angstrom)")
    return lam / 1.0e10


def _energy(opt, vals):
    e = _num(opt, vals[0])
    if not e > 0 or math.isinf(e):
        raise UsageError(f"bad value for -energy: {vals[0]!r} (a positive energy in eV)")
    return (12398.42 / e) / 1.0e10


_option(1, _wavelength, _set("lambda0"), "-lambda", "-wave", "-wavelength")
_option(1, _energy, _set("lambda0"), "-energy")
_option(1, _real, _set("fluence"), "-fluence")
_option(1, _real, _set("flux"), "-flux")
_option(1, _real, _set("exposure"), "-exposure")
_option(1, _per(1000), _set("beamsize"), "-beamsize")
_option(1, _per(100.0), _set("dispersion"), "-dispersion")
_option(1, _count, _set("dispsteps"), "-dispsteps")
_option(1, _per(1000.0), _set("hdivrange", "vdivrange"), "-divergence")
_option(1, _per(1000.0), _set_own(), "-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep")
_option(1, _count, _set_own(), "-hdivsteps", "-vdivsteps")
_option(1, _count, _set("hdivsteps", "vdivsteps"), "-divsteps")
_option(0, _flag, _set(round_div=True), "-round_div")
_option(0, _flag, _set(round_div=False), "-square_div")
_option(1, _word, _set("sourcefile"), "-sourcefile")
_option(1, _real, _set("polarization", nopolar=False), "-polar")
_option(0, _flag, _set(nopolar=True), "-nopolar")
_option(1, _per(1e6), _set("water_size"), "-water")

# detector
_option(1, _per(1000.0), _set_own(pivot="beam"), "-Xbeam", "-Ybeam")
_option(1, _per(1000.0), _set_own(pivot="sample"), "-Xclose", "-Yclose")
_option(1, _real, _set_own(pivot="sample"), "-ORGX", "-ORGY")
_option(1, _per(1000.0), _set("distance", pivot="beam"), "-distance")
_option(1, _per(1000.0), _set("close_distance", pivot="sample"), "-close_distance")


def _pivot(opt, vals):
    if "sample" in vals[0]:
        return "sample"
    if "beam" in vals[0]:
        return "beam"
    raise UsageError(f"bad value for -pivot: {vals[0]!r} (beam or sample)")


_option(1, _pivot, _set("pivot"), "-pivot")
_option(0, _flag, lambda s, opt, v: s.update(convention=opt[1:], pivot="beam"),
        "-mosflm", "-adxv", "-denzo", "-dials")  # fmt: skip
_option(0, _flag, _set(convention="xds", pivot="sample"), "-xds")

#: Options taking a 3-vector (any of them selects the CUSTOM convention) -> the setting
VECTOR_SETTINGS = {
    "-fdet_vector": "fdet", "-sdet_vector": "sdet", "-odet_vector": "odet",
    "-beam_vector": "beam_vector", "-polar_vector": "polar_vector", "-spindle_axis": "spindle",
    "-twotheta_axis": "twotheta_axis",
    "-pix0_vector": "pix0",  # stored, never used: pix0 is recomputed by either pivot (nanoBragg)
}  # fmt: skip
VECTOR_OPTIONS = tuple(VECTOR_SETTINGS)
_option(3, _vector, lambda s, opt, v: s.update({"convention": "custom", VECTOR_SETTINGS[opt]: v}),
        *VECTOR_OPTIONS)  # fmt: skip


def _absorption(opt, vals):
    """-detector_abs um|inf: the attenuation (1/m), or None for 'inf' or 0 (no absorption)."""
    v = vals[0]
    if "inf" in v or _num(opt, v) == 0.0:
        return None
    return 1.0 / (_num(opt, v) * 1e-6)


def _store_absorption(s, opt, mu):
    if mu is None:
        s["detector_thick"] = 0.0
        s["detector_mu"] = 0.0
    else:
        s["detector_mu"] = mu


_option(1, _absorption, _store_absorption,
        "-detector_abs", "-detector_absorb", "-detector_absorption")  # fmt: skip
_option(1, _times(1e-6), _set("detector_thick"), "-detector_thick")
_option(1, _count, _set("detector_thicksteps"), "-detector_thicksteps", "-thicksteps")
_option(1, _per(RTD), _set("twotheta", pivot="sample"), "-twotheta")
OPTIONS.update({f"-detector_rot{ax}": Option(1, _per(RTD), _set(f"rot{ax}")) for ax in "xyz"})
_option(1, _per(1000.0), _set("detsize_f", "detsize_s"), "-detsize")
_option(1, _per(1000.0), _set("detsize_f"), "-detsize_f")
_option(1, _per(1000.0), _set("detsize_s"), "-detsize_s")
_option(1, _count, _set("fpixels", "spixels"), "-detpixels")
_option(1, _count, _set("fpixels"), "-detpixels_f", "-detpixels_x")
_option(1, _count, _set("spixels"), "-detpixels_s", "-detpixels_y")
_option(1, _per(1000.0), _set("pixel_size"), "-pixel")
# nanoBragg needs a token after -curved_det; as the last token it is ignored (values: None)
_option(0, lambda o, v: v is not None, lambda s, opt, v: v and s.update(curved=True),
        "-curved_det", "-curved_detector")  # fmt: skip
_option(0, _flag, _set(point_pixel=True), "-point_pixel")
_option(4, lambda o, v: list(_counts(o, v)), _set("roi"), "-roi")
_option(1, _word, _nothing, "-img", "-mask")  # their headers are read before the options

# sampling
_option(1, _count, _set("oversample"), "-oversample")
_option(0, _flag, _set(os_thick=True), "-oversample_thick")
_option(0, _flag, _set(os_polar=True), "-oversample_polar")
_option(0, _flag, _set(os_omega=True), "-oversample_omega")

# output
_option(1, _word, _set("floatfile"), "-floatfile", "-floatimage")
_option(1, _word, _set("intfile"), "-intfile", "-intimage")
_option(1, _word, _set("pgmfile", write_pgm=True), "-pgmfile", "-pgmimage")
_option(1, _word, _set("noisefile", calculate_noise=True), "-noisefile", "-noiseimage")
_option(0, _flag, _set(calculate_noise=False), "-nonoise")
_option(0, _flag, _set(write_pgm=False), "-nopgm")
_option(1, _real, _set("intfile_scale"), "-scale")
_option(1, _real, _set("pgm_scale", write_pgm=True), "-pgmscale")
_option(1, _real, _set("adc"), "-adc")
_option(1, lambda o, v: -_int(o, v[0]), _set("seed"), "-seed")
_option(0, _flag, _set(printout=True), "-printout")
_option(2, _counts, _set("printout_pixel", printout=True), "-printout_pixel")
_option(0, _flag, _set(progress=False), "-noprogress")
_option(0, _flag, _set(progress=True), "-progress")

# this engine's options


def _omp_threads(opt, vals):
    # a plain decimal count: '2.5' or '1e2' is an error here, not a truncation
    digits = vals[0][1:] if vals[0].startswith("+") else vals[0]
    if not (digits.isascii() and digits.isdigit()) or int(digits) < 1:
        raise UsageError(f"bad value for -omp_threads: {vals[0]!r} (a positive integer)")
    if int(digits) > 2**31 - 1:
        raise UsageError(f"bad value for -omp_threads: {vals[0]!r} (beyond a C int)")
    return int(digits)


def _device(opt, vals):
    if vals[0] not in ("cpu", "cuda") and not vals[0].startswith("cuda:"):
        raise UsageError(f"bad value for -device: {vals[0]!r} (cpu or cuda)")
    return vals[0]


#: -memory_budget_gb's upper bound: the budget in bytes fits an int64 (8 EiB)
BUDGET_LIMIT_GB = 2**33


def _budget(opt, vals):
    v = _num(opt, vals[0])
    if not (0 < v < BUDGET_LIMIT_GB):
        raise UsageError(
            f"bad value for -memory_budget_gb: {vals[0]!r} (a positive number below 2^33 GiB)"
        )
    return v


_option(2, _counts, lambda s, opt, v: s["trace_pixels"].append(v), "-trace_pixel")
_option(0, _flag, _set(trace_only=True), "-trace_only")
_option(1, _choice(("spec", "c-parity", "c-parity-omp"), "spec, c-parity or c-parity-omp"),
        _set("phi_carryover_mode"), "-phi_carryover_mode")  # fmt: skip
_option(1, _omp_threads, _set("omp_threads"), "-omp_threads")
_option(1, _device, _set("device"), "-device")
_option(1, _choice(("float64", "float32"), "float64 or float32"), _set("dtype"), "-dtype")
_option(1, _choice(("float64", "float32"), "float64 or float32"), _set("geometry_dtype"),
        "-geometry_dtype")  # fmt: skip
_option(1, _budget, _set("budget"), "-memory_budget_gb")


# ---------------------------------------------------------------- reading argv


def split_argv(argv):
    """Split argv into (option, values) pairs by the table's counts; unknown options and
    missing values are usage errors (values are read later, by ``apply_options``)."""
    out = []
    i = 0
    n = len(argv)
    while i < n:
        tok = argv[i]
        if not tok.startswith("-") or tok == "-":
            raise UsageError(f"unexpected argument {tok!r} (values must follow their option)")
        if tok not in OPTIONS:
            raise UsageError(f"unknown option {tok}")
        k = OPTIONS[tok].count
        if tok == "-cell":
            vals = []
            j = i + 1
            while j < n and len(vals) < 6 and not argv[j].startswith("-"):
                vals.append(argv[j])
                j += 1
            if not vals:
                raise UsageError("-cell needs at least one value (a b c alpha beta gamma)")
            out.append((tok, vals))
            i = j
            continue
        if tok == "-misset":
            if i + 1 < n and "rand" in argv[i + 1]:
                out.append((tok, [argv[i + 1]]))
                i += 2
                continue
            k = 3
        if tok == "-curved_det" or tok == "-curved_detector":
            # nanoBragg needs a token after it; as the last token it is ignored
            out.append((tok, [] if i + 1 < n else None))
            i += 1
            continue
        if i + k >= n:
            raise UsageError(f"{tok} needs {k} value{'s' if k > 1 else ''}")
        out.append((tok, argv[i + 1 : i + 1 + k]))
        i += 1 + k
    return out


def apply_options(s, pairs):
    """Read and apply the (option, values) pairs to the settings ``s``, in command-line order."""
    for opt, vals in pairs:
        option = OPTIONS[opt]
        option.store(s, opt, option.parse(opt, vals))
    return s

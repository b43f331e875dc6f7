"""Command line of the torch simulator: nanoBragg's options -> SimulationConfig, and ``main``.

Option names are nanoBragg's, matched exactly (nanoBragg's substring matching, where one token
may fire several handlers, is intentionally not reproduced). Every default and derivation of
nanoBragg is reproduced (automatic phi steps, divergence/dispersion/thickness sampling,
oversampling, conventions, pivots, sizes). Extra options of this engine:

  -trace_pixel S F               trace pixel (slow, fast), zero-based; repeatable
  -trace_only                    compute only the traced pixels (also the default when pixels
                                 are traced and no output file or printout is requested)
  -phi_carryover_mode spec|c-parity|c-parity-omp   nanoBragg's phi=0 carry-over off (spec),
                                 as the serial build has it (c-parity), or as the OpenMP build
                                 with -omp_threads T threads has it (c-parity-omp)
  -omp_threads T                 threads of c-parity-omp (default 1; an error in other modes)
  -device cpu|cuda   -dtype float64|float32   -memory_budget_gb G (default 1)
  -geometry_dtype float64|float32  dtype of the geometry up to h, k, l (default float64; with
                                 -dtype float32 and float32 here every tensor is float32)
"""

from __future__ import annotations

import math
import os
import re
import sys

from simulator.io import InputError, OutputError

USAGE = """usage: nbsim [nanoBragg options] [-trace_pixel S F ...]
             [-phi_carryover_mode spec|c-parity|c-parity-omp] [-omp_threads T]
             [-device cpu|cuda] [-dtype float64|float32] [-geometry_dtype float64|float32]
             [-memory_budget_gb G] [-trace_only]

Torch implementation of nanoBragg (vectorised, differentiable). Options follow nanoBragg's names:
crystal  -cell a b c al be ga | -mat file ; -misset x y z | random ; -misset_seed ; -N -Na -Nb -Nc ;
         -xtalsize -xtal_x -xtal_y -xtal_z (mm) ;
         -square_xtal -round_xtal -gauss_xtal -tophat_spots ;
         -fudge ; -mosaic deg -mosaic_domains n -mosaic_seed ;
         -phi -osc -phistep -phisteps ; -spindle_axis
F        -hkl file ; -default_F F ; -dump file ; -interpolate -nointerpolate ; -dmin A
beam     -lambda A | -energy eV ; -dispersion % -dispsteps ;
         -divergence -hdivrange -vdivrange (mrad)
         -hdivstep -vdivstep -hdivsteps -vdivsteps -divsteps -round_div -square_div ; -sourcefile ;
         -fluence | -flux -exposure -beamsize ; -polar K -nopolar ; -water um
detector -distance -close_distance (mm) ;
         -detpixels -detpixels_f -detpixels_s -detsize -pixel (mm) ;
         -Xbeam -Ybeam -Xclose -Yclose -ORGX -ORGY -pivot beam|sample ;
         -mosflm -xds -adxv -denzo -dials ; -fdet_vector -sdet_vector -odet_vector -beam_vector
         -polar_vector -twotheta_axis -pix0_vector ; -twotheta -detector_rotx/y/z (deg) ;
         -curved_det -point_pixel ; -detector_thick um -detector_abs um|inf -detector_thicksteps ;
         -roi xmin xmax ymin ymax ; -mask file.img ; -img file.img
sampling -oversample n -oversample_thick -oversample_polar -oversample_omega
output   -floatfile -intfile -noisefile -pgmfile ; -nonoise -nopgm ; -scale -pgmscale -adc ; -seed ;
         -printout -printout_pixel f s -noprogress
Only the output files named are written (atomically). Bad input exits 2 with a one-line message;
an output that cannot be written (a folder, a full disk, standard output) exits 3.
"""


class UsageError(Exception):
    """A usage error: the message is one line, naming the option."""


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
        return float.fromhex(tok.strip())
    return None


def _num(opt, tok):
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


#: -sample*/-xtal* size options (one value, mm) -> the axes they set
SIZE_NAMES = {
    "-samplesize": "xyz",
    "-sample_size": "xyz",
    "-xtalsize": "xyz",
    "-xtal_size": "xyz",
    "-sample_thick": "x",
    "-sample_x": "x",
    "-xtal_thick": "x",
    "-xtal_x": "x",
    "-sample_width": "y",
    "-sample_y": "y",
    "-width": "y",
    "-xtal_width": "y",
    "-xtal_y": "y",
    "-sample_heigh": "z",
    "-sample_height": "z",
    "-sample_z": "z",
    "-heigh": "z",
    "-height": "z",
    "-xtal_heigh": "z",
    "-xtal_height": "z",
    "-xtal_z": "z",
}
#: options nanoBragg accepts with one value and ignores (-coherent, with none, too)
IGNORED_OPTIONS = (
    "-density",
    "-sample_den",
    "-sample_density",
    "-MW",
    "-molec",
    "-molecules",
    "-molecular_weight",
    "-stolout",
)

# name -> number of values
_OPTS: dict[str, int] = {}


def _reg(n, *names):
    for name in names:
        _OPTS[name] = n


_reg(
    1,
    *SIZE_NAMES,
    *IGNORED_OPTIONS,
    "-Na",
    "-Nb",
    "-Nc",
    "-N",
    "-Xbeam",
    "-Ybeam",
    "-Xclose",
    "-Yclose",
    "-ORGX",
    "-ORGY",
    "-pivot",
    "-distance",
    "-close_distance",
    "-detector_abs",
    "-detector_absorb",
    "-detector_absorption",
    "-detector_thick",
    "-detector_thicksteps",
    "-thicksteps",
    "-twotheta",
    "-detector_rotx",
    "-detector_roty",
    "-detector_rotz",
    "-detsize",
    "-detsize_f",
    "-detsize_s",
    "-detpixels",
    "-detpixels_f",
    "-detpixels_x",
    "-detpixels_s",
    "-detpixels_y",
    "-pixel",
    "-polar",
    "-oversample",
    "-lambda",
    "-wave",
    "-wavelength",
    "-energy",
    "-fluence",
    "-flux",
    "-exposure",
    "-beamsize",
    "-mosaic",
    "-mosaicity",
    "-mosaic_spread",
    "-mosaic_spr",
    "-mosaici",
    "-mosaic_dom",
    "-mosaic_domains",
    "-dispersion",
    "-dispsteps",
    "-divergence",
    "-hdivrange",
    "-vdivrange",
    "-hdivstep",
    "-hdivsteps",
    "-vdivstep",
    "-vdivsteps",
    "-divsteps",
    "-adc",
    "-phi",
    "-osc",
    "-phistep",
    "-phisteps",
    "-dmin",
    "-mat",
    "-matrix",
    "-hkl",
    "-default_F",
    "-dump",
    "-img",
    "-mask",
    "-stol",
    "-4stol",
    "-Q",
    "-sourcefile",
    "-floatfile",
    "-floatimage",
    "-intfile",
    "-intimage",
    "-pgmfile",
    "-pgmimage",
    "-noisefile",
    "-noiseimage",
    "-scale",
    "-pgmscale",
    "-fudge",
    "-seed",
    "-mosaic_seed",
    "-misset_seed",
    "-water",
    "-phi_carryover_mode",
    "-omp_threads",
    "-device",
    "-dtype",
    "-memory_budget_gb",
    "-geometry_dtype",
)
_reg(
    0,
    "-mosflm",
    "-xds",
    "-adxv",
    "-denzo",
    "-dials",
    "-curved_det",
    "-curved_detector",
    "-point_pixel",
    "-nopolar",
    "-oversample_thick",
    "-oversample_polar",
    "-oversample_omega",
    "-round_div",
    "-square_div",
    "-nonoise",
    "-nopgm",
    "-coherent",
    "-printout",
    "-noprogress",
    "-progress",
    "-interpolate",
    "-nointerpolate",
    "-round_xtal",
    "-square_xtal",
    "-gauss_xtal",
    "-binary_spots",
    "-tophat_spots",
    "-trace_only",
)
#: Options taking a 3-vector; any of them selects the CUSTOM convention.
VECTOR_OPTIONS = (
    "-fdet_vector",
    "-sdet_vector",
    "-odet_vector",
    "-beam_vector",
    "-polar_vector",
    "-spindle_axis",
    "-twotheta_axis",
    "-pix0_vector",
)
_reg(3, *VECTOR_OPTIONS)
_reg(2, "-printout_pixel", "-trace_pixel")
_reg(4, "-roi")
_OPTS["-cell"] = -6  # up to six values, stops at a token starting with '-'
_OPTS["-misset"] = -3  # 'random' or three values

NAN = math.nan


def _tokenize(argv):
    """Split argv into (option, values) pairs; unknown options and missing values are errors."""
    out = []
    i = 0
    n = len(argv)
    while i < n:
        tok = argv[i]
        if not tok.startswith("-") or tok == "-":
            raise UsageError(f"unexpected argument {tok!r} (values must follow their option)")
        if tok not in _OPTS:
            raise UsageError(f"unknown option {tok}")
        k = _OPTS[tok]
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


def parse_argv(argv, cwd=None):
    """nanoBragg argv (list of str, without the program name) -> frozen SimulationConfig.

    Files named in argv resolve relative to ``cwd`` (default: the current directory).
    Raises UsageError (bad option/value) or InputError (bad file) with a one-line message.
    """
    from simulator.setup import build_config

    argv = [str(a) for a in argv]
    cwd = os.getcwd() if cwd is None else str(cwd)
    pairs = _tokenize(argv)
    return build_config(pairs, argv, cwd)


def run_argv(argv, cwd=None, stdout=None):
    """Everything the command line does: parse, simulate, print and write the outputs.

    Returns the SimulationResult. Output files resolve relative to cwd.
    """
    from simulator.engine import simulate
    from simulator.output import write_outputs

    stdout = sys.stdout if stdout is None else stdout
    config = parse_argv(argv, cwd=cwd)
    result = simulate(config)
    write_outputs(config, result, stdout)
    return result


class _Console:
    """Standard output for a run: a write or flush that fails (a full disk, /dev/full, a closed
    pipe) becomes one OutputError, as the C reference's ``standard output: write error``."""

    def __init__(self, stream):
        self._stream = stream

    def write(self, text):
        try:
            return self._stream.write(text)
        except OSError as exc:
            raise OutputError(f"standard output: write error ({exc.strerror or exc})") from None

    def flush(self):
        try:
            self._stream.flush()
        except OSError as exc:
            raise OutputError(f"standard output: write error ({exc.strerror or exc})") from None


#: exit status of an output that cannot be written (the C reference's NB_EXIT_IO)
EXIT_IO = 3


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    console = _Console(sys.stdout)
    try:
        if any(a in ("-h", "--help", "-help") for a in argv):
            console.write(USAGE)
        else:
            run_argv(argv, stdout=console)
        console.flush()
    except OutputError as exc:
        sys.stderr.write(f"nbsim: {exc}\n")
        return EXIT_IO
    except (UsageError, InputError) as exc:
        sys.stderr.write(f"nbsim: {exc}\n")
        return 2
    except KeyboardInterrupt:  # pragma: no cover
        sys.stderr.write("nbsim: interrupted\n")
        return 130
    except Exception as exc:  # pragma: no cover - a bug or a device failure: still one line
        if os.environ.get("NBSIM_TRACEBACK"):
            raise
        msg = " ".join(str(exc).split()) or type(exc).__name__
        sys.stderr.write(f"nbsim: internal error ({type(exc).__name__}): {msg}\n")
        return 1
    return 0


def console_main() -> None:
    """The ``nbsim`` script and ``python -m simulator``: ``main()``, then a quick exit.

    Once ``main`` returns, the output files are renamed into place and closed, and standard
    output was flushed (a failure there is main's exit 3); the interpreter's teardown would
    spend ~0.5 s freeing torch's memory. (nbparity's CLI does the same; this package does not
    import nbparity.)
    """
    code = main()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe: nothing left to say
            pass
    os._exit(code)

"""Command line of the torch simulator: ``nbsim`` argv -> SimulationConfig -> run, and ``main``.

The options are one table, ``simulator.options`` (names, value counts, values and their units);
the set-up derivations that turn them into the frozen config are ``simulator.setup``. Every
default and derivation of nanoBragg is reproduced (automatic phi steps, divergence/dispersion/
thickness sampling, oversampling, conventions, pivots, sizes). Extra options of this engine:

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

import os
import sys

from simulator.engine import simulate
from simulator.io import InputError, OutputError
from simulator.options import OPTIONS, UsageError, c_strtod, split_argv
from simulator.output import write_outputs
from simulator.setup import build_config

#: what other modules import from here: the errors ``main`` turns into exit codes, C's strtod
__all__ = [
    "USAGE",
    "InputError",
    "OutputError",
    "UsageError",
    "c_strtod",
    "console_main",
    "main",
    "parse_argv",
    "run_argv",
]

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


#: option name -> number of values (-6: -cell's one to six, -3: -misset's 'random' or three), a
#: view of the option table for callers that list the options
_OPTS: dict[str, int] = {name: option.count for name, option in OPTIONS.items()}


def parse_argv(argv, cwd=None):
    """nanoBragg argv (list of str, without the program name) -> frozen SimulationConfig.

    Files named in argv resolve relative to ``cwd`` (default: the current directory).
    Raises UsageError (bad option/value) or InputError (bad file) with a one-line message.
    """
    argv = [str(a) for a in argv]
    cwd = os.getcwd() if cwd is None else str(cwd)
    return build_config(split_argv(argv), argv, cwd)


def run_argv(argv, cwd=None, stdout=None):
    """Everything the command line does: parse, simulate, print and write the outputs.

    Returns the SimulationResult. Output files resolve relative to cwd.
    """
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

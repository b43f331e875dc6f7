"""The ``nbparity`` command line: a click group whose commands stay thin.

Every error reaches the user as one line on stderr plus the contract's exit code
(``nbparity.exitcodes``), never a traceback.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import shlex
import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nbparity import __version__, exitcodes, report, resources, schema, signals
from nbparity.atomic import atomic_write
from nbparity.bundle import BundleError, default_bundle_dir
from nbparity.cases import TRACES_DIR, Case, CaseFileError, case_from_args, load_cases
from nbparity.engines import GATE_MODES, MODES, EngineError, EngineOptions, resolve_engine
from nbparity.images import compare_files
from nbparity.runner import (
    TraceRequest,
    gate_cases,
    gate_exit_code,
    gate_pairings,
    select_cases,
    trace_case,
    write_golden,
)
from nbparity.tolerance import (
    DEFAULT_ATOL,
    DEFAULT_RTOL,
    FLOAT32_RTOL,
    Tolerance,
    for_precision,
)

# The readers, the alignment and the diagnoses load pandas (~0.25 s): the commands that compare
# logs import them when they run, so that a one-engine `nbparity trace` starts without them.

# TRACES_DIR comes from nbparity.resources: a clone's traces/, else the wheel's copy.
DEFAULT_CASES = TRACES_DIR / "cases.toml"
GOLDEN_DIR = resources.golden_dir()  # outside a clone ./golden: never into the package


class _OneLineErrors(click.Group):
    """A group that reports usage errors in one line (click's default prints three)."""

    def main(self, args=None, prog_name=None, **extra):  # noqa: D401 - click signature
        try:
            return super().main(args=args, prog_name=prog_name, standalone_mode=False, **extra)
        except click.UsageError as exc:
            command = exc.ctx.command_path if exc.ctx else (prog_name or "nbparity")
            click.echo(f"{command}: error: {exc.format_message()}", err=True)
            sys.exit(exitcodes.USAGE)
        except click.ClickException as exc:
            click.echo(f"{prog_name or 'nbparity'}: error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code if exc.exit_code else exitcodes.USAGE)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(130)


@click.group(cls=_OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="nbparity")
def cli() -> None:
    """Parity harness for nanoBragg ports: trace both engines at a pixel, diff the traces,
    name the first divergence, and gate CI on relative error."""


@cli.command("schema")
@click.option("--stage", type=click.Choice(schema.STAGES), help="Only the keys of one stage.")
def schema_command(stage: str | None) -> None:
    """Print the trace contract's key catalogue in pipeline order."""
    table = Table(title=f"trace contract v{schema.SCHEMA_VERSION}: key catalogue")
    for column in ("#", "key", "stage", "n", "kind", "unit / meaning"):
        table.add_column(column)
    for key in schema.CATALOGUE:
        if stage and key.stage != stage:
            continue
        table.add_row(str(key.order), key.name, key.stage, str(key.arity), key.kind, key.unit)
    Console().print(table)


# --------------------------------------------------------------------------- helpers

class Failure(click.ClickException):
    """A one-line failure with the contract's exit code."""

    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.exit_code = code


class FiniteFloat(click.ParamType):
    """A finite float at least ``minimum`` (``above``: strictly greater). A tolerance of -1 or
    NaN would make every comparison fail or pass by accident, a time-out of 0 kill every
    engine: usage errors (exit 2), never a run."""

    name = "number"

    def __init__(self, minimum: float = 0.0, above: bool = False):
        self.minimum, self.above = minimum, above

    def convert(self, value, param, ctx):
        if isinstance(value, float):
            number = value
        else:
            try:
                number = float(value)
            except (TypeError, ValueError):
                self.fail(f"{value!r} is not a number", param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        if number < self.minimum or (self.above and number == self.minimum):
            relation = "greater than" if self.above else "at least"
            self.fail(f"{value!r}: must be {relation} {self.minimum:g}", param, ctx)
        return number


TOLERANCE = FiniteFloat(0.0)
SECONDS = FiniteFloat(0.0, above=True)


def parse_tol_option(values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """``KEY=RTOL[,ATOL]`` items → {key: (rtol, atol)}; each a finite number >= 0."""
    out = {}
    for item in values:
        key, sep, spec = item.partition("=")
        parts = spec.split(",")
        try:
            if not sep or not key or not 1 <= len(parts) <= 2:
                raise ValueError
            numbers = [float(part) for part in parts]
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected KEY=RTOL[,ATOL]",
                                     param_hint="--tol") from None
        if not all(math.isfinite(n) and n >= 0 for n in numbers):
            raise click.BadParameter(f"{item!r}: RTOL and ATOL must be finite numbers >= 0",
                                     param_hint="--tol")
        out[key] = (numbers[0], numbers[1] if len(numbers) == 2 else 0.0)
    return out


def load_comparison(c_log: str, py_log: str, tolerance: Tolerance, keymap: str | None = None,
                    reference_keymap: str | None = None, candidate_keymap: str | None = None):
    """Parse both logs (each under its key map: its own option's, else --keymap's) and compare
    them; bad input and structural mismatches become one-line Failures."""
    from nbparity.compare import StructuralMismatch, compare_logs
    from nbparity.keymap import KeyMapError, load_keymap
    from nbparity.parse import DuplicateRecordError, TraceFormatError, parse_trace_file

    try:
        maps = {path: load_keymap(path) for path in {keymap, reference_keymap, candidate_keymap}
                if path is not None}
    except KeyMapError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    try:
        reference = parse_trace_file(c_log, maps.get(reference_keymap or keymap))
        candidate = parse_trace_file(py_log, maps.get(candidate_keymap or keymap))
        # a log that prints float32 values is compared as float32 (unless --rtol says otherwise)
        if "float32" in (reference.precision, candidate.precision):
            tolerance = for_precision(tolerance, "float32")
        return compare_logs(reference, candidate, tolerance)
    except DuplicateRecordError as exc:
        raise Failure(str(exc), exitcodes.STRUCTURAL) from None
    except TraceFormatError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    except StructuralMismatch as exc:
        raise Failure(str(exc), exitcodes.STRUCTURAL) from None


def write_output(text: str, output: str | None, force: bool) -> None:
    """Print, or write FILE atomically; an existing file is kept unless --force."""
    if output is None or output == "-":
        click.echo(text, nl=False)
        return
    try:
        atomic_write(output, text, overwrite=force)
    except FileExistsError:
        raise Failure(f"--output: {output} exists (use --force to replace it)",
                      exitcodes.USAGE) from None
    except OSError as exc:
        raise Failure(f"--output: cannot write {output}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None


@contextlib.contextmanager
def progress_bar(total: int):
    """A rich progress display on stderr; yields the (label, done) callback the runners take."""
    from rich.progress import Progress

    with Progress(transient=True, console=Console(stderr=True)) as progress:
        task = progress.add_task("", total=total)
        yield lambda label, done: progress.update(task, description=label, completed=done)


def _split_multi(values: tuple[str, ...]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


tolerance_options = [
    click.option("--rtol", type=TOLERANCE, default=None,
                 help=f"Relative tolerance [default: {DEFAULT_RTOL:g}; {FLOAT32_RTOL:g} when an "
                      f"engine computes in float32]."),
    click.option("--atol", type=TOLERANCE, default=DEFAULT_ATOL, show_default=True,
                 help="Absolute tolerance."),
    click.option("--tol", "tol_items", multiple=True, metavar="KEY=RTOL[,ATOL]",
                 help="Per-key tolerance (repeatable)."),
    click.option("--nan-equal", is_flag=True, help="NaN on both sides passes."),
]


def with_tolerance(func):
    for option in reversed(tolerance_options):
        func = option(func)
    return func


def make_tolerance(rtol, atol, tol_items, nan_equal) -> Tolerance:
    """The command line's tolerance; ``rtol`` None means the default (which a float32 engine
    may raise, see ``tolerance.for_precision``)."""
    per_key = parse_tol_option(tol_items)
    return Tolerance(DEFAULT_RTOL if rtol is None else rtol, atol, per_key, nan_equal,
                     rtol_given=rtol is not None, keys_given=frozenset(per_key))


allow_missing_option = click.option(
    "--allow-missing", is_flag=True,
    help="Compare the records both logs hold, although one lacks records the other holds (a "
         "pixel, or a key it prints elsewhere); without it they are a structural error (exit 3).")


keymap_options = [
    click.option("--keymap", type=click.Path(dir_okay=False),
                 help="A TOML key map (printed name -> contract key, unit factor, component, "
                      "placement) for both logs, over the built-in aliases."),
    click.option("--reference-keymap", type=click.Path(dir_okay=False),
                 help="A key map for the reference log only (instead of --keymap)."),
    click.option("--candidate-keymap", type=click.Path(dir_okay=False),
                 help="A key map for the candidate log only (instead of --keymap)."),
]


def with_keymaps(func):
    for option in reversed(keymap_options):
        func = option(func)
    return func


# --------------------------------------------------------------------------- diff

@cli.command("diff")
@click.argument("c_log", type=click.Path(dir_okay=False))
@click.argument("py_log", type=click.Path(dir_okay=False))
@with_tolerance
@click.option("--keys", multiple=True, help="Only these keys (comma-separated or repeated).")
@click.option("--stage", "stages", multiple=True, type=click.Choice(schema.STAGES[1:]),
              help="Only these stages (repeatable).")
@click.option("--failed-only", is_flag=True, help="Only value failures (fail, both-nan).")
@click.option("--show-missing", is_flag=True,
              help="List records present on one side only (the table and markdown formats "
                   "otherwise summarise them in one line; json and csv always list them).")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="table",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--force", is_flag=True, help="Replace an existing --output file.")
@click.option("--strict", is_flag=True, help="A key missing on one side, a TRACE line a reader "
                                            "skipped or an ambiguous record is a structural "
                                            "error (exit 3).")
@allow_missing_option
@with_keymaps
def diff_command(c_log, py_log, rtol, atol, tol_items, nan_equal, keys, stages, failed_only,
                 show_missing, fmt, output, force, strict, allow_missing, keymap,
                 reference_keymap, candidate_keymap):
    """Align C_LOG (reference) and PY_LOG (candidate) per pixel and per φ/mosaic step and
    report every quantity: values, abs and rel error, status; records on one side only in one
    line (--show-missing lists them)."""
    comparison = load_comparison(c_log, py_log, make_tolerance(rtol, atol, tol_items, nan_equal),
                                 keymap, reference_keymap, candidate_keymap)
    for_people = fmt in ("table", "markdown")
    rows = report.select(comparison, _split_multi(keys), stages, failed_only,
                         show_missing=show_missing or not for_people)
    divergences = None
    if fmt == "junit":  # each failure carries its pixel's first divergence and diagnosis
        from nbparity.divergence import first_divergences

        divergences = first_divergences(comparison)
    text = report.render(comparison, rows, fmt, divergences)
    if for_people and not show_missing and not failed_only:
        text += report.missing_line(comparison)
    write_output(text, output, force)
    sys.exit(_comparison_exit(comparison, strict, allow_missing, "diff"))


@cli.command("first-divergence")
@click.argument("c_log", type=click.Path(dir_okay=False))
@click.argument("py_log", type=click.Path(dir_okay=False))
@with_tolerance
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.option("--strict", is_flag=True, help="As for diff: missing keys, skipped TRACE lines "
                                            "and ambiguous records exit 3.")
@allow_missing_option
@with_keymaps
def first_divergence_command(c_log, py_log, rtol, atol, tol_items, nan_equal, fmt, strict,
                             allow_missing, keymap, reference_keymap, candidate_keymap):
    """The first failing record in pipeline order, the last agreeing one before it, how many
    later failures it likely caused, and a diagnosis when a known signature fits."""
    from nbparity.divergence import first_divergences

    comparison = load_comparison(c_log, py_log, make_tolerance(rtol, atol, tol_items, nan_equal),
                                 keymap, reference_keymap, candidate_keymap)
    click.echo(report.render_divergences(first_divergences(comparison), fmt), nl=False)
    sys.exit(_comparison_exit(comparison, strict, allow_missing, "first-divergence"))


def _comparison_exit(comparison, strict: bool, allow_missing: bool, command: str) -> int:
    """The comparison's exit code; lost records (exit 3) are also said in one line on stderr,
    so that a report written to a file does not hide why the command failed."""
    code = comparison.exit_code(strict, allow_missing)
    if code == exitcodes.STRUCTURAL and not allow_missing and not comparison.incomplete.empty:
        click.echo(f"nbparity {command}: structural: {comparison.incomplete_text()}", err=True)
    return code


# --------------------------------------------------------------------------- cases & trace

def _load_case_file(path: str | None) -> list:
    try:
        return load_cases(path or DEFAULT_CASES)
    except CaseFileError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None


def _args_case(name, folder, args, source) -> Case:
    try:
        return case_from_args(name, folder, args, source)
    except CaseFileError as exc:  # a detector option's bad value, a forbidden option
        raise Failure(str(exc), exitcodes.USAGE) from None


def _case_from_inputs(case_name, cases_file, args_file, extra_args) -> Case:
    chosen = sum(bool(x) for x in (case_name, args_file, extra_args))
    if chosen > 1:
        raise click.UsageError("give one of --case, --args-file or -- ARGS")
    if args_file:
        path = Path(args_file)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise Failure(f"--args-file: cannot read {path}: {exc.strerror or exc}",
                          exitcodes.USAGE) from None
        except UnicodeDecodeError as exc:
            raise Failure(f"--args-file: {path}: not UTF-8 text (byte {exc.start})",
                          exitcodes.USAGE) from None
        try:
            args = tuple(shlex.split(text, comments=True))
        except ValueError as exc:
            raise Failure(f"--args-file: {path}: {exc}", exitcodes.USAGE) from None
        return _args_case(path.stem, path.resolve().parent, args, f"--args-file {path}")
    if extra_args:
        return _args_case("args", Path.cwd(), extra_args, "-- ARGS")
    name = case_name or "default"
    for case in _load_case_file(cases_file):
        if case.name == name:
            return case
    raise Failure(f"--case: no case named {name!r} in {cases_file or DEFAULT_CASES}",
                  exitcodes.USAGE)


def _check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise Failure("--device cuda: no CUDA GPU is available on this machine",
                          exitcodes.USAGE)


@cli.command("cases")
@click.option("--cases-file", type=click.Path(dir_okay=False), help="A TOML case file.")
def cases_command(cases_file):
    """List the named cases (traces/cases.toml by default)."""
    table = Table(title=str(cases_file or DEFAULT_CASES))
    for column in ("name", "detector (slow x fast)", "pixels", "arguments"):
        table.add_column(column, overflow="fold")
    for case in _load_case_file(cases_file):
        pixels = " ".join(f"({s},{f})" for s, f in case.pixels)
        table.add_row(case.name, f"{case.shape[0]} x {case.shape[1]}", pixels,
                      " ".join(case.args))
    Console(width=160).print(table)


ENGINE_HELP = ("c-ref (the C engine of --c-bin), nbsim (the torch simulator), nanobragg:PATH "
               "(a stock nanoBragg, run with -printout_pixel), an engine profile .toml (a "
               "port's own command), or an executable (detected)")


def engine_options(func):
    """--reference/--candidate and the built-in engines' settings, shared by trace, gate and
    fuzz."""
    for option in reversed([
        click.option("--reference", "reference_spec", metavar="ENGINE",
                     help=f"The reference engine (writes c.log): {ENGINE_HELP}."),
        click.option("--candidate", "candidate_spec", metavar="ENGINE",
                     help="The candidate engine (writes py.log); same choices."),
        click.option("--c-bin", type=click.Path(dir_okay=False),
                     help="C engine binary for c-ref (default: $NB_C_BIN, else the project's "
                          "own build); a stock nanoBragg is detected and run as one."),
        click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu",
                     show_default=True, help="nbsim's device."),
        click.option("--dtype", type=click.Choice(["float64", "float32"]), default="float64",
                     show_default=True, help="nbsim's arithmetic."),
        click.option("--timeout", "timeout_s", type=SECONDS, default=300.0, show_default=True,
                     help="Seconds before a subprocess engine is stopped."),
    ]):
        func = option(func)
    return func


def _engines(reference_spec, candidate_spec, which, options: EngineOptions):
    """The engines of a command: --reference/--candidate, else the --engine shorthand's
    defaults; only the roles that run are resolved (``--engine py`` needs no C build)."""
    specs = {"c": reference_spec or "c-ref", "py": candidate_spec or "nbsim"}
    names = {"c": "--reference" if reference_spec else "--c-bin",
             "py": "--candidate" if candidate_spec else "--engine"}
    roles = {"both": ("c", "py"), "c": ("c",), "py": ("py",)}[which]
    try:
        engines = {role: resolve_engine(specs[role], options, names[role]) for role in roles}
    except EngineError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except ValueError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    return engines.get("c"), engines.get("py")


def _check_omp(mode, c_mode, omp_threads) -> None:
    if omp_threads is not None and "c-parity-omp" not in (mode, c_mode):
        raise click.BadParameter("needs --phi-carryover-mode or --c-mode c-parity-omp",
                                 param_hint="--omp-threads")
    if omp_threads is not None and omp_threads < 1:
        raise click.BadParameter("a positive thread count", param_hint="--omp-threads")


@cli.command("trace", context_settings={"ignore_unknown_options": False})
@click.option("--pixel", "pixels", type=(int, int), multiple=True, metavar="S F",
              help="Pixel to trace, slow then fast, zero-based (repeatable; default: the "
                   "case's pixels).")
@click.option("--case", "case_name", help="A named case (default: the embedded 'default').")
@click.option("--cases-file", type=click.Path(dir_okay=False), help="Where --case is looked up.")
@click.option("--args-file", type=click.Path(dir_okay=False),
              help="A file of nanoBragg arguments (inputs relative to its folder).")
@click.option("--engine", "engines", type=click.Choice(["both", "c", "py"]), default="both",
              show_default=True, help="Shorthand: run both engines, only the reference (c) or "
                                      "only the candidate (py).")
@engine_options
@click.option("--phi-carryover-mode", "mode", type=click.Choice(MODES), default="spec",
              show_default=True, help="The torch simulator's φ=0 mode (the C engine keeps "
                                      "upstream's c-parity unless --c-mode says otherwise).")
@click.option("--c-mode", type=click.Choice(MODES), default=None,
              help="The C engine's φ=0 mode (default: its own, c-parity).")
@click.option("--omp-threads", type=int, default=None, metavar="T",
              help="Thread count of the c-parity-omp mode (an OpenMP build's carry-over).")
@click.option("--out", type=click.Path(file_okay=False), help="Bundle folder (must not exist).")
@with_tolerance
@click.argument("extra_args", nargs=-1, type=click.UNPROCESSED)
def trace_command(pixels, case_name, cases_file, args_file, engines, reference_spec,
                  candidate_spec, c_bin, device, dtype, timeout_s, mode, c_mode, omp_threads,
                  out, rtol, atol, tol_items, nan_equal, extra_args):
    """Run the reference and the candidate with tracing at the given pixels, write a run
    bundle, print a summary of the comparison and exit with the gate's code. Arguments after
    -- are a nanoBragg command line."""
    case = _case_from_inputs(case_name, cases_file, args_file, extra_args)
    _check_device(device)
    _check_omp(mode, c_mode, omp_threads)
    chosen = list(pixels) or list(case.pixels)
    if not chosen:
        raise click.UsageError("give at least one --pixel S F")
    options = EngineOptions(c_bin, c_mode, mode, omp_threads, device, dtype, timeout_s)
    reference, candidate = _engines(reference_spec, candidate_spec, engines, options)
    tolerance = make_tolerance(rtol, atol, tol_items, nan_equal)
    request = TraceRequest(case, chosen, reference, candidate,
                           tolerance.under_case(case.tolerance))
    try:
        outcome = trace_case(request, Path(out) if out else default_bundle_dir(case.name))
    except EngineError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except BundleError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    except ValueError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    _print_trace_outcome(outcome)
    sys.exit(outcome.exit_code)


def _print_trace_outcome(outcome) -> None:
    console = Console(width=160)
    engines = outcome.request.engines
    timings = ", ".join(f"{engines[name].name} {run.seconds:.2f} s"
                        for name, run in outcome.runs.items())
    console.print(f"bundle: {outcome.bundle}  ({timings})", highlight=False)
    for warning in outcome.warnings:
        click.echo(f"warning: {warning}", err=True)
    if outcome.message:
        click.echo(f"nbparity trace: error: {outcome.message}", err=True)
        return
    if outcome.comparison is None:
        return
    comparison = outcome.comparison
    click.echo(f"summary (the summary keys, and failing steps; every record: nbparity diff "
               f"{outcome.bundle / 'c.log'} {outcome.bundle / 'py.log'})")
    click.echo(report.render_table(comparison, _trace_rows(comparison)), nl=False)
    click.echo(report.missing_line(comparison, "nbparity diff --show-missing lists them"),
               nl=False)
    click.echo(report.render_divergences(outcome.divergences), nl=False)
    verdict = "PARITY" if outcome.exit_code == exitcodes.PARITY else "DIVERGED"
    click.echo(f"{verdict} (rtol {comparison.tolerance.rtol:g}; reference "
               f"{engines['c'].label()}; candidate {engines['py'].label()})")


def _trace_rows(comparison, max_step_rows: int = 24):
    """The summary keys outside the φ loop, plus the step records that do not pass (capped);
    every record is one `nbparity diff BUNDLE/c.log BUNDLE/py.log` away."""
    rows = report.select(comparison, keys=KEY_SUMMARY, show_missing=False)
    steps = rows.stage == "phi"
    failing_steps = rows[steps & (rows.status != "pass")]
    shown = rows[~steps]
    if not failing_steps.empty:
        shown = rows[~steps | rows.index.isin(failing_steps.index[:max_step_rows])]
    return shown


#: Keys shown in trace's summary table (the full comparison is one `nbparity diff` away).
KEY_SUMMARY = ("pix0_vector_meters", "pixel_pos_meters", "scattering_vec_A_inv", "phi_deg",
               "rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms", "hkl_frac", "F_latt",
               "F_cell", "I_before_scaling", "I_pixel_final")


# --------------------------------------------------------------------------- gate & images

@cli.command("gate")
@click.argument("cases_file", required=False, type=click.Path(dir_okay=False))
@click.option("-k", "pattern", help="Only cases whose name contains (or globs) PATTERN.")
@click.option("--mode", "modes", type=click.Choice(GATE_MODES), multiple=True,
              help="Carry-over pairings to run (default both): c-parity = default C vs torch "
                   "c-parity; spec = C spec vs torch spec. With one engine without modes (a "
                   "stock build, a profile), the default is c-parity only (a serial "
                   "nanoBragg's behaviour); with two, the case runs once.")
@click.option("--junit", type=click.Path(dir_okay=False), help="Write a JUnit XML report.")
@click.option("--determinism/--no-determinism", default=True, show_default=True,
              help="Run each engine twice per case and refuse to compare one whose traces "
                   "differ.")
@engine_options
@with_tolerance
def gate_command(cases_file, pattern, modes, junit, determinism, reference_spec, candidate_spec,
                 c_bin, device, dtype, timeout_s, rtol, atol, tol_items, nan_equal):
    """Run every case of CASES_FILE (default traces/cases.toml) through the reference and the
    candidate (default: the C engine and the simulator) at its pixels and fail on any
    divergence (the contract's exit codes)."""
    _check_device(device)
    cases = select_cases(_load_case_file(cases_file), pattern)
    if not cases:
        raise Failure(f"-k {pattern}: no case matches", exitcodes.USAGE)
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = _engines(reference_spec, candidate_spec, "both", options)
    pairings = modes or gate_pairings(reference, candidate)
    with progress_bar(len(cases) * len(pairings)) as on_case:
        results = gate_cases(cases, pairings, make_tolerance(rtol, atol, tol_items, nan_equal),
                             c_bin, device, dtype, timeout_s, progress=on_case,
                             check_determinism=determinism, reference=reference,
                             candidate=candidate)
    click.echo(report.render_gate(results), nl=False)
    if junit:
        try:
            atomic_write(junit, report.render_gate_junit(results), overwrite=True)
        except OSError as exc:
            raise Failure(f"--junit: cannot write {junit}: {exc.strerror or exc}",
                          exitcodes.USAGE) from None
    sys.exit(gate_exit_code(results))


@cli.command("golden")
@click.argument("cases_file", required=False, type=click.Path(dir_okay=False))
@click.option("--out", "out_dir", type=click.Path(file_okay=False), default=None,
              help="Folder of the golden logs (default traces/golden).")
@click.option("-k", "pattern", help="Only cases whose name contains (or globs) PATTERN.")
@click.option("--c-bin", type=click.Path(dir_okay=False))
def golden_command(cases_file, out_dir, pattern, c_bin):
    """Regenerate the C reference's golden trace logs (TRACE lines only, one file per case and
    carry-over mode), the reviewed baseline that `make test` checks both engines against."""
    cases = select_cases(_load_case_file(cases_file), pattern)
    if not cases:
        raise Failure(f"-k {pattern}: no case matches", exitcodes.USAGE)
    try:
        written = write_golden(cases, Path(out_dir) if out_dir else GOLDEN_DIR, c_bin)
    except EngineError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except OSError as exc:
        raise Failure(f"--out: cannot write: {exc.strerror or exc}", exitcodes.USAGE) from None
    click.echo(f"wrote {len(written)} golden logs to {out_dir or GOLDEN_DIR}")


@cli.command("fuzz")
@click.option("--n", "count", type=click.IntRange(1), default=50, show_default=True,
              help="How many random configurations (indices 0 .. n-1 of the seed).")
@click.option("--seed", type=int, default=20261121, show_default=True)
@engine_options
@click.option("--output", type=click.Path(dir_okay=False),
              help="Write the findings' minimal cases (one per class) as a TOML case file.")
@click.option("--workers", type=click.IntRange(0), default=0, show_default=True,
              help="0: run in this process; N: a local Dask cluster of N single-threaded "
                   "worker processes.")
@click.option("--scheduler", metavar="ADDRESS",
              help="Run on an existing Dask cluster (e.g. tcp://host:8786) instead.")
@click.option("--connect-timeout", type=SECONDS, default=10.0, show_default=True,
              help="Seconds to wait for --scheduler before giving up (exit 4).")
@click.option("--chunk", type=click.IntRange(1), default=1, show_default=True,
              help="Configurations per Dask task (more on a large cluster).")
@click.option("--out", "out_dir", type=click.Path(file_okay=False),
              help="The campaign folder (default: runs/campaign-SEED-N); running again with "
                   "the same folder resumes (and a larger --n extends) the campaign.")
@click.option("--level", type=click.Choice(["auto", "trace", "image"]), default="auto",
              show_default=True, help="Judge configurations by their traces, their images, "
                                      "or whatever suits each (auto).")
@click.option("--no-shrink", is_flag=True, help="Report each class's first configuration as it "
                                                "is (no shrinking to a minimal case).")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "markdown"]),
              default="table", show_default=True, help="What is printed on stdout (the folder "
                                                       "always gets report.json and report.md).")
def fuzz_command(count, seed, reference_spec, candidate_spec, c_bin, device, dtype, timeout_s,
                 output, workers, scheduler, connect_timeout, chunk, out_dir, level, no_shrink,
                 fmt):
    """A parity campaign: draw random valid configurations, run the reference and the candidate
    (default: the C engine and the simulator) in this process or on a Dask cluster, record one
    row per configuration in the campaign folder, shrink each class of findings to a minimal
    case and report it once (exit 1 if anything diverged)."""
    from nbparity import campaign_report
    from nbparity.campaign import CampaignError, CampaignSpec, ClusterError, run_campaign

    _check_device(device)
    if scheduler and workers:
        raise click.UsageError("--workers starts a local cluster, --scheduler names one: "
                               "give one of them")
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = _engines(reference_spec, candidate_spec, "both", options)
    folder = Path(out_dir) if out_dir else Path("runs") / f"campaign-{seed}-{count}"
    spec = CampaignSpec(seed=seed, n=count, reference=reference, candidate=candidate,
                        folder=folder, level=level, workers=workers, scheduler=scheduler,
                        shrink=not no_shrink, connect_timeout_s=connect_timeout,
                        chunk=chunk)
    try:
        with campaign_report.progress_line(count) as on_progress:
            result = run_campaign(spec, on_progress)
    except CampaignError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    except ClusterError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except OSError as exc:
        raise Failure(f"--out: cannot write {folder}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None
    if output and result.classes:
        write_output(campaign_report.findings_toml(result), output, force=False)
    if fmt == "json":
        click.echo(campaign_report.report_json(result), nl=False)
    elif fmt == "markdown":
        click.echo(campaign_report.report_markdown(result), nl=False)
    else:
        if result.classes:
            Console(width=200).print(campaign_report.table(result))
        else:
            click.echo(campaign_report.summary_line(result))
        click.echo(f"report: {result.paths['markdown']} (rows: {folder / 'results'})")
    sys.exit(result.exit_code)


@cli.command("images")
@click.argument("image_a", type=click.Path(dir_okay=False))
@click.argument("image_b", type=click.Path(dir_okay=False))
@click.option("--shape", type=(int, int), metavar="S F", help="Slow and fast size (default: "
                                                               "square).")
@click.option("--roi", type=(int, int, int, int), metavar="S0 S1 F0 F1",
              help="Only slow S0..S1 and fast F0..F1 (inclusive, zero-based).")
@click.option("--rtol", type=TOLERANCE, default=DEFAULT_RTOL, show_default=True)
@click.option("--png", type=click.Path(dir_okay=False),
              help="Write a figure (PNG): both images on one log scale, their relative "
                   "difference, the worst pixels marked.")
def images_command(image_a, image_b, shape, roi, rtol, png):
    """Image-level parity of two float images (A is the reference): max rel error over pixels
    above 1e-3 of the maximum, correlation, sums, worst pixels."""
    try:
        parity, a, b = compare_files(Path(image_a), Path(image_b), shape, roi)
    except (OSError, ValueError) as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None
    click.echo(f"shape {parity.shape[0]} x {parity.shape[1]} (slow x fast); "
               f"{parity.compared_pixels} pixels above 1e-3 of the maximum")
    click.echo(f"max rel error {parity.max_rel:.3e}; dark pixels within "
               f"{parity.max_dark_diff:.3e} of the peak; correlation {parity.correlation:.9f}; "
               f"sums {parity.sum_reference:.9g} vs {parity.sum_candidate:.9g}")
    if parity.nonfinite_reference or parity.nonfinite_mismatch:
        click.echo(f"NaN/inf pixels: {parity.nonfinite_reference} in the reference, "
                   f"{parity.nonfinite_mismatch} not matched by the candidate")
    for s, f, r, x, rel in parity.worst:
        click.echo(f"  pixel ({s}, {f}): {r:.9g} vs {x:.9g}  rel {rel:.3e}")
    if png:
        # with --roi, the worst pixels of the region compared are marked on the whole image
        marks = [(s, f) for s, f, *_ in parity.worst] if roi else None
        _write_figure(png, a, b, parity, f"{image_a} (reference) vs {image_b} (candidate)",
                      marks)
    problems = parity.problems(rtol)
    for problem in problems:
        click.echo(f"nbparity images: {problem}", err=True)
    if parity.compared_pixels == 0:  # nothing comparable: structural, whatever else differs
        sys.exit(exitcodes.STRUCTURAL)
    sys.exit(exitcodes.DIVERGED if problems else exitcodes.PARITY)


def _write_figure(png, reference, candidate, parity, title, marks=None) -> None:
    """``images.write_figure`` for --png: an existing file or a folder is a one-line error."""
    from nbparity.images import write_figure

    try:
        write_figure(Path(png), reference, candidate, parity, title, overwrite=False,
                     marks=marks)
    except FileExistsError:
        raise Failure(f"--png: {png} exists", exitcodes.USAGE) from None
    except OSError as exc:
        raise Failure(f"--png: cannot write {png}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None


@cli.command("explain", context_settings={"ignore_unknown_options": False})
@click.option("--case", "case_name", help="A named case (default: the embedded 'default').")
@click.option("--cases-file", type=click.Path(dir_okay=False), help="Where --case is looked up.")
@click.option("--args-file", type=click.Path(dir_okay=False),
              help="A file of nanoBragg arguments (inputs relative to its folder).")
@engine_options
@click.option("--mode", "--phi-carryover-mode", "mode", type=click.Choice(GATE_MODES),
              default="c-parity", show_default=True,
              help="The carry-over pairing, as in gate: c-parity = the C engine's default vs "
                   "the simulator in c-parity; spec = both in spec.")
@click.option("--pixels", "n_pixels", type=click.IntRange(1, 50), default=3, show_default=True,
              metavar="N", help="How many of the worst pixels to trace when the images differ.")
@click.option("--rtol", type=TOLERANCE, default=None,
              help=f"Relative tolerance of the images and the traces [default: {DEFAULT_RTOL:g}; "
                   f"{FLOAT32_RTOL:g} when an engine computes in float32].")
@click.option("--png", type=click.Path(dir_okay=False),
              help="Write a figure (PNG) of the two images, the traced pixels marked.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@click.argument("extra_args", nargs=-1, type=click.UNPROCESSED)
def explain_command(case_name, cases_file, args_file, reference_spec, candidate_spec, c_bin,
                    device, dtype, timeout_s, mode, n_pixels, rtol, png, fmt, extra_args):
    """Render a case with the reference and the candidate (untraced), compare the images, and
    when they differ trace the worst pixels with both engines and name the first divergence of
    each, with its diagnosis. Exit code: the image comparison's (0 parity, 1 diverged, 3
    nothing to compare, 4 an engine failed). Arguments after -- are a nanoBragg command
    line."""
    import json

    from nbparity.explain import explain

    case = _case_from_inputs(case_name, cases_file, args_file, extra_args)
    _check_device(device)
    if png and Path(png).exists() and not Path(png).is_dir():
        raise Failure(f"--png: {png} exists", exitcodes.USAGE)
    if png and Path(png).is_dir():
        raise Failure(f"--png: {png} is a directory", exitcodes.USAGE)
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = _engines(reference_spec, candidate_spec, "both", options)
    tolerance = make_tolerance(rtol, DEFAULT_ATOL, (), False)
    image_rtol = rtol if rtol is not None else max(
        for_precision(tolerance, engine.precision).rtol for engine in (reference, candidate))
    try:
        result = explain(case, reference, candidate, mode, n_pixels, image_rtol, tolerance)
    except ValueError as exc:  # a case the runner refuses (CaseFileError is one)
        raise Failure(str(exc), exitcodes.USAGE) from None
    outcome = result.outcome
    if fmt == "json":
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo(result.render(), nl=False)
    if outcome.exit_code == exitcodes.ENGINE_FAILED:
        click.echo(f"nbparity explain: error: {outcome.message}", err=True)
    if png and outcome.parity is not None:
        _write_figure(png, outcome.reference_image, outcome.candidate_image, outcome.parity,
                      f"case {case.name} [{mode}]: {outcome.engines['reference']} (reference) "
                      f"vs {outcome.engines['candidate']} (candidate)",
                      marks=result.pixels or None)
    sys.exit(outcome.exit_code)


# errors of a write whose stream has no file name: the standard output (full disk, quota, I/O
# error, closed); a closed pipe (EPIPE) is not one: `nbparity ... | head` stays quiet
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF, errno.EROFS}
_stdout_reported = False


def _say(message: str) -> None:
    """One line on stderr, if stderr still takes one."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(f"nbparity: {message}", err=True)


def _stdout_failed(exc: OSError) -> None:
    global _stdout_reported
    if not _stdout_reported:
        _stdout_reported = True
        _say(f"error: cannot write to standard output: {exc.strerror or exc}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (callable in process, e.g. from tests).

    What no command can turn into its own one-line error ends here as one: SIGTERM (exit 143,
    see ``nbparity.signals``), a standard output that cannot be written (exit 2) and running
    out of memory (exit 2: an input too large to read here).
    """
    out_of_memory = False
    try:
        result = cli.main(args=argv, prog_name="nbparity")
    except signals.Terminated:
        _say("terminated (SIGTERM): engines stopped, partial output removed")
        sys.exit(signals.EXIT_CODE)
    except MemoryError:
        out_of_memory = True  # reported below, once the frames that hold the memory are gone
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader left (`| head`): nothing to say
            sys.exit(1)
        if exc.filename is not None or exc.errno not in _WRITE_ERRNOS:
            raise
        _stdout_failed(exc)
        sys.exit(exitcodes.USAGE)
    if out_of_memory:
        _say("error: out of memory")
        sys.exit(exitcodes.USAGE)
    return result if isinstance(result, int) else 0


def console_main() -> None:
    """The ``nbparity`` script and ``python -m nbparity``: ``main()``, then a quick exit.

    When the command returns, its output is written and every file is closed and renamed into
    place; the interpreter's teardown would only free memory, which takes ~0.5 s once torch is
    loaded (a quarter of `nbparity trace`'s 2 s budget). So flush and leave. SIGTERM unwinds
    the command as Ctrl-C does (``nbparity.signals``) while it runs.
    """
    signals.install()
    try:
        try:
            code = main()
        except SystemExit as exc:  # commands end with sys.exit(code)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        signals.uninstall()
    except signals.Terminated:  # after the command's end, before uninstall(): output complete
        _say("terminated (SIGTERM)")
        code = signals.EXIT_CODE
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except ValueError:
            pass
        except OSError as exc:  # output still buffered and lost: never a silent exit 0
            if stream is sys.stdout and exc.errno != errno.EPIPE:
                _stdout_failed(exc)
                code = code or exitcodes.USAGE
    os._exit(code)


if __name__ == "__main__":
    console_main()

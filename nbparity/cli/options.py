"""Options the commands share and what they resolve to: tolerances, key maps, the case a
command runs (``--case``, ``--args-file``, ``-- ARGS``) and its engines."""

from __future__ import annotations

import math
import shlex
from pathlib import Path

import click

from nbparity import exitcodes
from nbparity.cases import Case, CaseFileError, case_from_args, load_cases
from nbparity.cli.group import DEFAULT_CASES, Failure
from nbparity.engines import EngineError, EngineOptions, resolve_engine
from nbparity.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, FLOAT32_RTOL, Tolerance


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


def split_multi(values: tuple[str, ...]) -> list[str]:
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


def load_case_file(path: str | None) -> list:
    try:
        return load_cases(path or DEFAULT_CASES)
    except CaseFileError as exc:
        raise Failure(str(exc), exitcodes.USAGE) from None


def args_case(name, folder, args, source) -> Case:
    try:
        return case_from_args(name, folder, args, source)
    except CaseFileError as exc:  # a detector option's bad value, a forbidden option
        raise Failure(str(exc), exitcodes.USAGE) from None


def case_from_inputs(case_name, cases_file, args_file, extra_args) -> Case:
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
        return args_case(path.stem, path.resolve().parent, args, f"--args-file {path}")
    if extra_args:
        return args_case("args", Path.cwd(), extra_args, "-- ARGS")
    name = case_name or "default"
    for case in load_case_file(cases_file):
        if case.name == name:
            return case
    raise Failure(f"--case: no case named {name!r} in {cases_file or DEFAULT_CASES}",
                  exitcodes.USAGE)


def check_device(device: str) -> None:
    if device == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise Failure("--device cuda: no CUDA GPU is available on this machine",
                          exitcodes.USAGE)


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


def resolve_engines(reference_spec, candidate_spec, which, options: EngineOptions):
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


def check_omp(mode, c_mode, omp_threads) -> None:
    if omp_threads is not None and "c-parity-omp" not in (mode, c_mode):
        raise click.BadParameter("needs --phi-carryover-mode or --c-mode c-parity-omp",
                                 param_hint="--omp-threads")
    if omp_threads is not None and omp_threads < 1:
        raise click.BadParameter("a positive thread count", param_hint="--omp-threads")

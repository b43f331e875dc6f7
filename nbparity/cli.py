"""The ``nbparity`` command line: a click group whose commands stay thin.

Every error reaches the user as one line on stderr plus the contract's exit code
(``nbparity.exitcodes``), never a traceback.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nbparity import __version__, exitcodes, report, schema
from nbparity.compare import StructuralMismatch, Tolerance, compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import DuplicateRecordError, TraceFormatError, parse_trace_file


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


def parse_tol_option(values: tuple[str, ...]) -> dict[str, tuple[float, float]]:
    """``KEY=RTOL[,ATOL]`` items → {key: (rtol, atol)}."""
    out = {}
    for item in values:
        key, sep, spec = item.partition("=")
        parts = spec.split(",")
        try:
            if not sep or not key or not 1 <= len(parts) <= 2:
                raise ValueError
            out[key] = (float(parts[0]), float(parts[1]) if len(parts) == 2 else 0.0)
        except ValueError:
            raise click.BadParameter(f"{item!r}: expected KEY=RTOL[,ATOL]",
                                     param_hint="--tol") from None
    return out


def load_comparison(c_log: str, py_log: str, tolerance: Tolerance):
    try:
        reference = parse_trace_file(c_log)
        candidate = parse_trace_file(py_log)
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
    path = Path(output)
    if path.exists() and not force:
        raise Failure(f"--output: {path} exists (use --force to replace it)", exitcodes.USAGE)
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".",
                                   prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        raise Failure(f"--output: cannot write {path}: {exc.strerror or exc}",
                      exitcodes.USAGE) from None


def _split_multi(values: tuple[str, ...]) -> list[str]:
    return [v for item in values for v in item.split(",") if v]


tolerance_options = [
    click.option("--rtol", type=float, default=1e-6, show_default=True,
                 help="Relative tolerance."),
    click.option("--atol", type=float, default=0.0, show_default=True,
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
    return Tolerance(rtol, atol, parse_tol_option(tol_items), nan_equal)


# --------------------------------------------------------------------------- diff

@cli.command("diff")
@click.argument("c_log", type=click.Path(dir_okay=False))
@click.argument("py_log", type=click.Path(dir_okay=False))
@with_tolerance
@click.option("--keys", multiple=True, help="Only these keys (comma-separated or repeated).")
@click.option("--stage", "stages", multiple=True, type=click.Choice(schema.STAGES[1:]),
              help="Only these stages (repeatable).")
@click.option("--failed-only", is_flag=True, help="Only records that do not pass.")
@click.option("--format", "fmt", type=click.Choice(report.FORMATS), default="table",
              show_default=True)
@click.option("--output", type=click.Path(dir_okay=False), help="Write the report to FILE.")
@click.option("--force", is_flag=True, help="Replace an existing --output file.")
@click.option("--strict", is_flag=True, help="A key missing on one side is a structural error.")
def diff_command(c_log, py_log, rtol, atol, tol_items, nan_equal, keys, stages, failed_only,
                 fmt, output, force, strict):
    """Align C_LOG (reference) and PY_LOG (candidate) per pixel and per φ/mosaic step and
    report every quantity: values, abs and rel error, status; missing records listed."""
    comparison = load_comparison(c_log, py_log, make_tolerance(rtol, atol, tol_items, nan_equal))
    rows = report.select(comparison, _split_multi(keys), stages, failed_only)
    write_output(report.render(comparison, rows, fmt), output, force)
    sys.exit(comparison.exit_code(strict))


@cli.command("first-divergence")
@click.argument("c_log", type=click.Path(dir_okay=False))
@click.argument("py_log", type=click.Path(dir_okay=False))
@with_tolerance
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
def first_divergence_command(c_log, py_log, rtol, atol, tol_items, nan_equal, fmt):
    """The first failing record in pipeline order, the last agreeing one before it, how many
    later failures it likely caused, and a diagnosis when a known signature fits."""
    comparison = load_comparison(c_log, py_log, make_tolerance(rtol, atol, tol_items, nan_equal))
    click.echo(report.render_divergences(first_divergences(comparison), fmt), nl=False)
    sys.exit(comparison.exit_code())


def main(argv: list[str] | None = None) -> int:
    """Console-script entry point."""
    result = cli.main(args=argv, prog_name="nbparity")
    return result if isinstance(result, int) else 0


if __name__ == "__main__":
    sys.exit(main())

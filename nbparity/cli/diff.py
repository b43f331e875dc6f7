"""Commands that compare two logs: ``diff`` and ``first-divergence``."""

from __future__ import annotations

import sys

import click

from nbparity import exitcodes, report, schema
from nbparity.cli.group import Failure, cli, write_output
from nbparity.cli.options import (
    allow_missing_option,
    make_tolerance,
    split_multi,
    with_keymaps,
    with_tolerance,
)
from nbparity.tolerance import Tolerance, for_precision

# The readers, the alignment and the diagnoses load pandas (~0.25 s): the commands that compare
# logs import them when they run, so that a one-engine `nbparity trace` starts without them.


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
    rows = report.select(comparison, split_multi(keys), stages, failed_only,
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
    for note in report.skipped_notes(comparison):
        click.echo(f"nbparity first-divergence: warning: {note}", err=True)
    sys.exit(_comparison_exit(comparison, strict, allow_missing, "first-divergence"))


def _comparison_exit(comparison, strict: bool, allow_missing: bool, command: str) -> int:
    """The comparison's exit code; lost records (exit 3) are also said in one line on stderr,
    so that a report written to a file does not hide why the command failed."""
    code = comparison.exit_code(strict, allow_missing)
    if code == exitcodes.STRUCTURAL and not allow_missing and not comparison.incomplete.empty:
        click.echo(f"nbparity {command}: structural: {comparison.incomplete_text()}", err=True)
    return code

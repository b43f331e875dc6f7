"""Commands that run engines on cases: ``schema``, ``cases``, ``trace``, ``gate``, ``golden``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from nbparity import exitcodes, report, schema
from nbparity.atomic import atomic_write
from nbparity.bundle import BundleError, default_bundle_dir
from nbparity.cli.group import DEFAULT_CASES, GOLDEN_DIR, Failure, cli, progress_bar
from nbparity.cli.options import (
    case_from_inputs,
    check_device,
    check_omp,
    engine_options,
    load_case_file,
    make_tolerance,
    resolve_engines,
    with_tolerance,
)
from nbparity.engines import GATE_MODES, MODES, EngineError, EngineOptions
from nbparity.runner import (
    TraceRequest,
    gate_cases,
    gate_exit_code,
    gate_pairings,
    select_cases,
    trace_case,
    write_golden,
)


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


@cli.command("cases")
@click.option("--cases-file", type=click.Path(dir_okay=False), help="A TOML case file.")
def cases_command(cases_file):
    """List the named cases (traces/cases.toml by default)."""
    table = Table(title=str(cases_file or DEFAULT_CASES))
    for column in ("name", "detector (slow x fast)", "pixels", "arguments"):
        table.add_column(column, overflow="fold")
    for case in load_case_file(cases_file):
        pixels = " ".join(f"({s},{f})" for s, f in case.pixels)
        table.add_row(case.name, f"{case.shape[0]} x {case.shape[1]}", pixels,
                      " ".join(case.args))
    Console(width=160).print(table)


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
@click.option("--omp-threads", type=click.IntRange(1, 2**31 - 1), default=None, metavar="T",
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
    case = case_from_inputs(case_name, cases_file, args_file, extra_args)
    check_device(device)
    check_omp(mode, c_mode, omp_threads)
    chosen = list(pixels) or list(case.pixels)
    if not chosen:
        raise click.UsageError("give at least one --pixel S F")
    options = EngineOptions(c_bin, c_mode, mode, omp_threads, device, dtype, timeout_s)
    reference, candidate = resolve_engines(reference_spec, candidate_spec, engines, options)
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
    for note in report.skipped_notes(comparison):
        click.echo(f"warning: {note}", err=True)
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
    check_device(device)
    cases = select_cases(load_case_file(cases_file), pattern)
    if not cases:
        raise Failure(f"-k {pattern}: no case matches", exitcodes.USAGE)
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = resolve_engines(reference_spec, candidate_spec, "both", options)
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
    cases = select_cases(load_case_file(cases_file), pattern)
    if not cases:
        raise Failure(f"-k {pattern}: no case matches", exitcodes.USAGE)
    try:
        written = write_golden(cases, Path(out_dir) if out_dir else GOLDEN_DIR, c_bin)
    except EngineError as exc:
        raise Failure(str(exc), exitcodes.ENGINE_FAILED) from None
    except OSError as exc:
        raise Failure(f"--out: cannot write: {exc.strerror or exc}", exitcodes.USAGE) from None
    click.echo(f"wrote {len(written)} golden logs to {out_dir or GOLDEN_DIR}")

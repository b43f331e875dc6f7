"""Commands about images: ``images`` (two image files) and ``explain`` (render a case with both
engines, trace the worst pixels when the images differ)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from nbparity import exitcodes
from nbparity.cli.group import Failure, cli
from nbparity.cli.options import (
    TOLERANCE,
    case_from_inputs,
    check_device,
    engine_options,
    make_tolerance,
    resolve_engines,
)
from nbparity.engines import GATE_MODES, EngineOptions
from nbparity.images import compare_files
from nbparity.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, FLOAT32_RTOL, for_precision


@cli.command("images")
@click.argument("image_a", type=click.Path(dir_okay=False))
@click.argument("image_b", type=click.Path(dir_okay=False))
@click.option("--shape", type=(click.IntRange(1), click.IntRange(1)), metavar="S F",
              help="Slow and fast size (default: square).")
@click.option("--roi", type=(int, int, int, int), metavar="S0 S1 F0 F1",
              help="Only slow S0..S1 and fast F0..F1 (inclusive, zero-based).")
@click.option("--rtol", type=TOLERANCE, default=DEFAULT_RTOL, show_default=True)
@click.option("--png", type=click.Path(dir_okay=False),
              help="Write a figure (PNG): both images on one log scale, their relative "
                   "difference, the worst pixels marked.")
def images_command(image_a, image_b, shape, roi, rtol, png):
    """Image-level parity of two float images (A is the reference): max rel error over pixels
    above 1e-3 of the maximum, correlation, sums, worst pixels."""
    from nbparity.images import infer_shape

    try:
        for path in (image_a, image_b):
            _check_size(Path(path))
        shape = infer_shape(Path(image_a), shape)
        if roi:
            _check_roi(roi, shape)
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
    for problem in parity.problems(rtol):
        click.echo(f"nbparity images: {problem}", err=True)
    sys.exit(parity.exit_code(rtol))


def _check_size(path: Path) -> None:
    """An image file holds whole 4-byte floats, at least one (the count against --shape is
    ``read_float_image``'s check)."""
    size = path.stat().st_size
    if size == 0:
        raise ValueError(f"{path}: an empty file (no pixels)")
    if size % 4:
        raise ValueError(f"{path}: {size} bytes is not a whole number of 4-byte floats")


def _check_roi(roi, shape) -> None:
    """--roi S0 S1 F0 F1 inside the image, inclusive: 0 <= S0 <= S1 < S, 0 <= F0 <= F1 < F."""
    s0, s1, f0, f1 = roi
    slow, fast = shape
    if not (0 <= s0 <= s1 < slow and 0 <= f0 <= f1 < fast):
        raise click.BadParameter(f"{s0} {s1} {f0} {f1} is not a region of the {slow} x {fast} "
                                 f"image (need 0 <= S0 <= S1 <= {slow - 1} and "
                                 f"0 <= F0 <= F1 <= {fast - 1}; inclusive, zero-based)",
                                 param_hint="--roi")


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

    case = case_from_inputs(case_name, cases_file, args_file, extra_args)
    check_device(device)
    if png and Path(png).exists() and not Path(png).is_dir():
        raise Failure(f"--png: {png} exists", exitcodes.USAGE)
    if png and Path(png).is_dir():
        raise Failure(f"--png: {png} is a directory", exitcodes.USAGE)
    options = EngineOptions(c_bin, None, "spec", None, device, dtype, timeout_s)
    reference, candidate = resolve_engines(reference_spec, candidate_spec, "both", options)
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

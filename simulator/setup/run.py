"""Run set-up: seeds, device, outputs, traced pixels and this engine's run options.

Mirrors what c_reference/src/main.c decides around the set-up (the seeds of ``nb_defaults``,
the traced-pixel checks, which outputs make a full run) and options.c's output options.
"""

from __future__ import annotations

import time

import torch

from simulator.config import OutputConfig, RunConfig
from simulator.options import UsageError


def seeds(s):
    """(noise seed, misset seed): -seed and -misset_seed as given (stored negated, as nanoBragg
    stores them), or minus the current time in seconds (nanoBragg's default)."""
    seed = s["seed"] if s["seed"] is not None else -int(time.time())
    misset_seed = s["misset_seed"] if s["misset_seed"] is not None else -int(time.time())
    return seed, misset_seed


def check_device(s):
    """-device cuda needs a CUDA device: UsageError when torch sees none."""
    if s["device"].startswith("cuda") and not torch.cuda.is_available():
        raise UsageError("-device cuda: no CUDA device is available")


def output_config(s, seed) -> OutputConfig:
    """What the run writes and prints.

    Reads: floatfile, intfile, pgmfile, noisefile (names as given, relative to the run's
    folder), write_pgm, calculate_noise, intfile_scale, pgm_scale, adc (ADC offset, counts),
    printout, printout_pixel (fast, slow), progress; ``seed`` the noise seed (negated).
    Produces: OutputConfig.
    """
    return OutputConfig(
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


def run_config(s, detector, output: OutputConfig) -> RunConfig:
    """This engine's options: traced pixels, carry-over mode, device, dtypes, memory budget.

    Reads: trace_pixels ((slow, fast), each inside the detector), trace_only (also implied by
    traced pixels with no output file and no printout), phi_carryover_mode (spec | c-parity |
    c-parity-omp), omp_threads (c-parity-omp only), device, dtype, geometry_dtype (float32 only
    with -dtype float32), budget (GiB). Produces: RunConfig (memory budget in bytes).
    UsageError for a traced pixel off the detector, or -omp_threads in another mode.
    """
    for sl, fa in s["trace_pixels"]:
        if not (0 <= sl < detector.spixels and 0 <= fa < detector.fpixels):
            raise UsageError(
                f"bad value for -trace_pixel: {sl} {fa} is outside the "
                f"{detector.spixels}x{detector.fpixels} detector"
            )
    named_output = any(
        x is not None for x in (output.floatfile, output.intfile, output.pgmfile, output.noisefile)
    )
    trace_only = s["trace_only"] or (
        bool(s["trace_pixels"]) and not named_output and not output.printout
    )
    # a thread count means nothing to the other modes: ignoring it would let a caller believe
    # a serial run reproduced a threaded one
    if s["omp_threads"] is not None and s["phi_carryover_mode"] != "c-parity-omp":
        raise UsageError("-omp_threads needs -phi_carryover_mode c-parity-omp")
    return RunConfig(
        trace_pixels=tuple(s["trace_pixels"]),
        phi_carryover_mode=s["phi_carryover_mode"],
        omp_threads=s["omp_threads"] or 1,
        device=s["device"],
        dtype=s["dtype"],
        memory_budget_bytes=int(s["budget"] * 2**30),
        trace_only=trace_only,
        geometry_dtype=s["geometry_dtype"] if s["dtype"] == "float32" else "float64",
    )

"""-phi_carryover_mode c-parity-omp -omp_threads T: the torch engine against the C reference.

nanoBragg's OpenMP build keeps one copy of the rotated cell per thread, and GCC's static schedule
hands each thread a contiguous block of slow rows, so the phi=0 carry-over restarts at the first
sweep of every block. Both engines reproduce that for T threads without OpenMP; the C reference's
own check against its OpenMP build is tests/c_reference/test_openmp.py. Here: the float image
byte for byte against the serial C reference in the same mode, traced pixels at the block
boundaries through nbparity's comparison (rtol 1e-6), trace-alone == full run, gradients, and
the command line's errors.
"""

from __future__ import annotations

import io
import shlex
import subprocess

import numpy as np
import pytest
import torch
from nbsim_testlib import REPO_ROOT

import simulator
from nbparity.compare import compare_logs
from nbparity.parse import parse_trace_text
from nbparity.signatures import omp_static_blocks as static_blocks
from simulator.cli import main

C_BIN = REPO_ROOT / "c_reference" / "build" / "nanobragg-ref"

SLOW, FAST = 26, 24
#: 26 slow rows: none of the thread counts divides it, so uneven blocks are exercised
BASE = (
    "-cell 70 80 90 75 85 95 -hkl P1.hkl -misset 10 20 30 -lambda 1.2 -distance 120 "
    f"-detpixels_f {FAST} -detpixels_s {SLOW} -pixel 0.6 -N 4 -phi 0 -osc 1 -phisteps 2"
)
VARIANTS = {
    "phi0": "",
    "mosaic": "-mosaic 0.5 -mosaic_domains 3 -mosaic_seed 5",
    "roi": "-roi 3 20 5 21 -phisteps 3",
    # rows 7, 9, 10 masked (blocks of T=3 and T=4 begin there), row 18's first pixels too
    "mask": "-mask mask.img",
    # the -dmin cut removes whole corner rows: first sweeps move off the blocks' first pixels
    "dmin": "-dmin 20",
}
THREADS = (1, 2, 3, 4, 8)


def _mask():
    data = np.ones((SLOW, FAST), dtype=np.uint16)
    data[[7, 9, 10]] = 0
    data[18, :5] = 0
    data[0, 0] = 0
    return data


def _active(variant):
    """(slow, fast) bool: the pixels either engine evaluates."""
    on = np.ones((SLOW, FAST), dtype=bool)
    if variant == "roi":
        on[:] = False
        on[5:22, 3:21] = True
    if variant == "mask":
        on &= _mask() != 0
    return on


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    if not C_BIN.exists():
        pytest.skip("C reference not built (make build)")
    d = tmp_path_factory.mktemp("omp_carry")
    hkl = REPO_ROOT / "traces" / "upstream" / "triclinic_hkl_misset" / "P1.hkl"
    (d / "P1.hkl").write_bytes(hkl.read_bytes())
    header = f"{{\nHEADER_BYTES=512;\nDIM=2;\nSIZE1={FAST};\nSIZE2={SLOW};\nPIXEL_SIZE=0.6;\n}}\f"
    (d / "mask.img").write_bytes(header.encode().ljust(512, b" ") + _mask().tobytes())
    return d


def _args(variant, threads):
    return (
        shlex.split(BASE)
        + shlex.split(VARIANTS[variant])
        + ["-phi_carryover_mode", "c-parity-omp", "-omp_threads", str(threads)]
    )


def _c(args, cwd, *extra):
    proc = subprocess.run(
        [str(C_BIN), *args, "-noprogress", "-nopgm", *extra],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def _traces(text):
    return "".join(line + "\n" for line in text.splitlines() if line.startswith("TRACE_"))


def _py(args, cwd, *extra):
    out = io.StringIO()
    simulator.run_argv(list(args) + ["-noprogress", "-nopgm", *extra], cwd=cwd, stdout=out)
    return out.getvalue()


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_image_equals_c_reference_byte_for_byte(workdir, tmp_path, variant):
    for threads in THREADS:
        args = _args(variant, threads)
        _c(args, workdir, "-floatfile", str(tmp_path / "c.bin"))
        _py(args, workdir, "-floatfile", str(tmp_path / "py.bin"))
        c = (tmp_path / "c.bin").read_bytes()
        assert np.frombuffer(c, dtype="<f4").any()
        assert (tmp_path / "py.bin").read_bytes() == c, f"{variant}, {threads} threads"


def _boundary_pixels(variant, threads):
    """Per block after the first: its first evaluated pixel and the evaluated pixel before it."""
    flat = np.flatnonzero(_active(variant).reshape(-1))
    pixels = []
    for first, end in static_blocks(SLOW, threads)[1:]:
        at = np.searchsorted(flat, first * FAST)
        if at == len(flat) or flat[at] >= end * FAST:
            continue  # nothing evaluated in this block
        for q in ((flat[at - 1],) if at else ()) + (flat[at],):
            pixels.append((int(q) // FAST, int(q) % FAST))
    return pixels


@pytest.mark.parametrize("threads", [2, 3, 4, 8])
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_block_boundary_traces_agree_with_c_reference(workdir, tmp_path, variant, threads):
    pixels = _boundary_pixels(variant, threads)
    assert len(pixels) >= 2
    traced = [t for s, f in pixels for t in ("-trace_pixel", str(s), str(f))]
    args = _args(variant, threads) + traced
    c_text = _traces(_c(args, workdir))  # the C reference's traced-only path
    c_full = _traces(_c(args, workdir, "-floatfile", str(tmp_path / "c.bin")))
    assert c_text == c_full
    py_alone = _traces(_py(args, workdir))  # trace-only: no output file named
    py_full = _traces(_py(args, workdir, "-floatfile", str(tmp_path / "py.bin")))
    assert py_alone == py_full
    assert "TRACE_PY: phi_carryover_mode c-parity-omp\n" in py_alone
    reference = parse_trace_text(c_text, "c.log")
    candidate = parse_trace_text(py_alone, "py.log")
    assert sorted(reference.pixels) == sorted(pixels)
    comparison = compare_logs(reference, candidate)
    assert comparison.failed.empty, comparison.failed.to_string()
    assert comparison.missing.empty, comparison.missing.to_string()
    assert comparison.exit_code(strict=True) == 0


def test_c_parity_omp_differs_from_c_parity_at_the_second_block_only():
    """The negative check: in this case the carry-over matters, so a wrong split would show."""
    argv = shlex.split(BASE.replace("-hkl P1.hkl", "-default_F 100"))
    serial = simulator.simulate(simulator.parse_argv(argv + ["-phi_carryover_mode", "c-parity"]))
    two = simulator.simulate(
        simulator.parse_argv(argv + ["-phi_carryover_mode", "c-parity-omp", "-omp_threads", "2"])
    )
    one = simulator.simulate(simulator.parse_argv(argv + ["-phi_carryover_mode", "c-parity-omp"]))
    assert torch.equal(one.image, serial.image)  # -omp_threads defaults to 1
    differ = torch.nonzero(two.image != serial.image).tolist()
    assert differ == [[13, 0]]  # the first pixel of the second block (rows 13..25)


def test_gradcheck_through_the_block_first_sweeps():
    argv = (
        "-cell 70 80 90 80 95 100 -default_F 50 -misset 3 4 5 -lambda 1.1 -distance 90 "
        "-detpixels 4 -pixel 0.5 -N 4 -phi 0 -osc 1 -phisteps 3 -mosaic 0.4 -mosaic_domains 2 "
        "-mosaic_seed 11 -phi_carryover_mode c-parity-omp -omp_threads 3"
    ).split()
    config = simulator.parse_argv(argv)
    cell = torch.tensor(
        [70.0, 80.0, 90.0, 80.0, 95.0, 100.0], dtype=torch.float64, requires_grad=True
    )
    lam = torch.tensor(1.1, dtype=torch.float64, requires_grad=True)

    def f(c, lam):
        return simulator.simulate(config, params={"cell": c, "lambda_A": lam}).image

    plain = simulator.simulate(config).image
    assert torch.equal(f(cell, lam).detach(), plain)
    # three blocks (rows 0-1, 2, 3): three first sweeps, each different from c-parity's carry
    cpar = simulator.simulate(
        simulator.parse_argv(argv[:-4] + ["-phi_carryover_mode", "c-parity"])
    ).image
    assert torch.nonzero(plain != cpar).tolist() == [[2, 0], [3, 0]]
    assert torch.autograd.gradcheck(f, (cell, lam), eps=1e-6, atol=1e-6, rtol=1e-4)


SMALL = "-cell 70 80 90 90 90 90 -default_F 10 -detpixels 8 -pixel 0.5 -distance 100".split()


@pytest.mark.parametrize(
    "args, message",
    [
        (["-omp_threads", "0"], "bad value for -omp_threads: '0' (a positive integer)"),
        (["-omp_threads", "-3"], "bad value for -omp_threads: '-3' (a positive integer)"),
        (["-omp_threads", "2.5"], "bad value for -omp_threads: '2.5' (a positive integer)"),
        (["-omp_threads", "1e2"], "bad value for -omp_threads: '1e2' (a positive integer)"),
        (["-omp_threads", "two"], "bad value for -omp_threads: 'two' (a positive integer)"),
        (["-omp_threads", "4294967296"], "bad value for -omp_threads: '4294967296' (beyond"),
    ],
)
def test_bad_omp_threads_exit_2(args, message, tmp_path, capsys):
    argv = SMALL + ["-phi_carryover_mode", "c-parity-omp", *args]
    assert main(argv + ["-floatfile", str(tmp_path / "f.bin")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("nbsim: " + message) and err.count("\n") == 1
    assert not (tmp_path / "f.bin").exists()


@pytest.mark.parametrize(
    "mode", [[], ["-phi_carryover_mode", "spec"], ["-phi_carryover_mode", "c-parity"]]
)
def test_omp_threads_without_c_parity_omp_exit_2(mode, tmp_path, capsys):
    assert main(SMALL + mode + ["-omp_threads", "2", "-floatfile", str(tmp_path / "f.bin")]) == 2
    assert capsys.readouterr().err == "nbsim: -omp_threads needs -phi_carryover_mode c-parity-omp\n"
    assert not (tmp_path / "f.bin").exists()


def test_more_threads_than_rows_and_the_config_field():
    small = SMALL + ["-N", "4", "-oversample", "1", "-phi", "0", "-osc", "1", "-phisteps", "2"]
    config = simulator.parse_argv(
        small + ["-phi_carryover_mode", "c-parity-omp", "-omp_threads", "+20"]
    )
    assert config.run.omp_threads == 20
    from simulator.engine import thread_blocks

    # 8 rows over 20 threads: one row each for the first 8, the others have none
    assert thread_blocks(config) == [(i, i + 1) for i in range(8)]
    assert static_blocks(8, 20)[:8] == thread_blocks(config)
    image = simulator.simulate(config).image
    every_row = simulator.simulate(simulator.parse_argv(small + ["-phi_carryover_mode", "spec"]))
    every_row = every_row.image
    # every row restarts, so column 0 sees the true phi=0 cell as in spec mode; the rest carries
    assert torch.equal(image[:, 0], every_row[:, 0])
    assert not torch.equal(image[:, 1:], every_row[:, 1:])


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine")
def test_cuda_matches_cpu():
    argv = shlex.split(BASE.replace("-hkl P1.hkl", "-default_F 100")) + [
        "-mosaic",
        "0.5",
        "-mosaic_domains",
        "3",
        "-dmin",
        "20",
        "-phi_carryover_mode",
        "c-parity-omp",
        "-omp_threads",
        "3",
        "-trace_pixel",
        "9",
        "1",
    ]
    cpu = simulator.simulate(simulator.parse_argv(argv))
    gpu = simulator.simulate(simulator.parse_argv(argv + ["-device", "cuda"]))
    assert gpu.image.device.type == "cuda" and gpu.image.dtype == torch.float64
    a, b = cpu.image, gpu.image.cpu()
    sel = a.abs() > 1e-3 * a.abs().max()
    assert float(((a - b).abs()[sel] / a.abs()[sel]).max()) <= 1e-10
    assert len(gpu.trace_lines) == len(cpu.trace_lines)

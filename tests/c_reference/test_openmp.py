"""The optional OpenMP build: same image as the serial build where no phi=0 step is carried."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest

from nbparity.signatures import omp_static_blocks as static_blocks

from .conftest import C_DIR, CASES, strip_outputs

OMP_BIN = C_DIR / "build" / "nanobragg-ref-omp"


@pytest.fixture(scope="module")
def omp_binary():
    make = shutil.which("make")
    if make is None:
        pytest.skip("make not available")
    proc = subprocess.run([make, "-s", "-C", str(C_DIR), "OMP=1"], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"no OpenMP toolchain: {proc.stderr.strip()[-200:]}")
    return OMP_BIN


@pytest.mark.parametrize("name", ["phi_sweep", "mosaic", "interpolate_small_N"])
def test_openmp_matches_upstream_without_carryover(omp_binary, tmp_path, name):
    case = next(c for c in CASES if c.name == name)
    env = dict(os.environ, OMP_NUM_THREADS="3")
    out = tmp_path / "f.bin"
    proc = subprocess.run([str(omp_binary), *strip_outputs(case.args), "-nopgm", "-noprogress",
                           "-nonoise", "-floatfile", str(out)], cwd=case.folder, env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    ref = np.fromfile(case.folder / "float.bin", dtype="<f4")
    got = np.fromfile(out, dtype="<f4")
    if name == "interpolate_small_N":
        # the interpolation switch is shared by the threads: only compare loosely
        assert got.shape == ref.shape
        return
    assert got.tobytes() == ref.tobytes()


# ---------------------------------------------------------------------------------------------
# -phi_carryover_mode c-parity-omp -omp_threads T: the serial build reproduces the OpenMP build
# run with T threads, where the phi=0 carry-over restarts in every thread's block of rows.

#: 26 slow rows: no thread count below is a divisor, so the static schedule's uneven split
#: (the first n % T threads get one row more) is exercised, not only equal blocks
OMP_BASE = ("-cell 70 80 90 75 85 95 -default_F 100 -misset 10 20 30 -lambda 1.2 -distance 120 "
            "-detpixels_f 24 -detpixels_s 26 -pixel 0.6 -N 4 -phi 0 -osc 1 -phisteps 2")
OMP_VARIANTS = {
    "phi0": "",
    "mosaic": "-mosaic 0.5 -mosaic_domains 3 -mosaic_seed 5",
    "roi": "-roi 3 20 5 21 -phisteps 3",
    # rows 7, 9 and 10 masked (T=4 and T=3 blocks begin there) and row 18's first pixels
    "mask": "-mask mask.img",
    # a -dmin cut in the corners moves each block's first sweep off its first pixel
    "dmin": "-dmin 20",
}
OMP_THREADS = (1, 2, 3, 4, 8)


def write_omp_mask(path):
    header = b"{\nHEADER_BYTES=512;\nDIM=2;\nSIZE1=24;\nSIZE2=26;\nPIXEL_SIZE=0.6;\n}\f"
    data = np.ones((26, 24), dtype=np.uint16)
    data[[7, 9, 10]] = 0
    data[18, :5] = 0
    data[0, 0] = 0
    path.write_bytes(header.ljust(512, b" ") + data.tobytes())


@pytest.fixture(scope="module")
def omp_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("omp")
    write_omp_mask(d / "mask.img")
    return d


def _float_image(binary, args, cwd, out, threads=None):
    env = dict(os.environ)
    if threads is not None:
        env["OMP_NUM_THREADS"] = str(threads)
    proc = subprocess.run([str(binary), *args, "-nopgm", "-noprogress", "-nonoise",
                           "-floatfile", str(out)], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return np.fromfile(out, dtype="<f4").reshape(26, 24)


def test_static_schedule_formula_splits_rows_as_documented():
    assert static_blocks(26, 4) == [(0, 7), (7, 14), (14, 20), (20, 26)]
    assert static_blocks(26, 8)[:3] == [(0, 4), (4, 8), (8, 11)]
    assert static_blocks(3, 5) == [(0, 1), (1, 2), (2, 3), (3, 3), (3, 3)]


@pytest.mark.parametrize("variant", sorted(OMP_VARIANTS))
def test_serial_c_parity_omp_equals_openmp_build_byte_for_byte(omp_binary, c_binary, omp_dir,
                                                               tmp_path, variant):
    args = OMP_BASE.split() + OMP_VARIANTS[variant].split()
    for threads in OMP_THREADS:
        threaded = _float_image(omp_binary, args, omp_dir, tmp_path / f"omp{threads}.bin",
                                threads=threads)
        serial = _float_image(c_binary, args + ["-phi_carryover_mode", "c-parity-omp",
                                                "-omp_threads", str(threads)],
                              omp_dir, tmp_path / f"ser{threads}.bin")
        assert threaded.any()
        assert serial.tobytes() == threaded.tobytes(), f"{variant}, {threads} threads"


def test_c_parity_omp_does_not_depend_on_the_threads_that_run_it(omp_binary, c_binary, omp_dir,
                                                                  tmp_path):
    args = OMP_BASE.split() + ["-phi_carryover_mode", "c-parity-omp", "-omp_threads", "3"]
    serial = _float_image(c_binary, args, omp_dir, tmp_path / "ser.bin")
    for threads in (1, 2, 5):
        got = _float_image(omp_binary, args, omp_dir, tmp_path / f"omp{threads}.bin",
                           threads=threads)
        assert got.tobytes() == serial.tobytes(), threads


def test_c_parity_omp_differs_from_serial_c_parity_where_a_block_begins(c_binary, omp_dir,
                                                                        tmp_path):
    """The negative check: the carry-over matters in this case, so a wrong split would show."""
    args = OMP_BASE.split()
    serial = _float_image(c_binary, args, omp_dir, tmp_path / "cpar.bin")
    two = _float_image(c_binary, args + ["-phi_carryover_mode", "c-parity-omp", "-omp_threads",
                                         "2"], omp_dir, tmp_path / "omp2.bin")
    one = _float_image(c_binary, args + ["-phi_carryover_mode", "c-parity-omp"], omp_dir,
                       tmp_path / "omp1.bin")
    assert one.tobytes() == serial.tobytes()  # -omp_threads defaults to 1: serial c-parity
    differ = np.argwhere(two != serial).tolist()
    assert differ == [[13, 0]]  # the first pixel of the second block (rows 13..25), only


def _trace_text(binary, args, cwd, pixels, full, tmp_path):
    cmd = [str(binary), *args, "-noprogress", "-nopgm"]
    if full:
        cmd += ["-floatfile", str(tmp_path / "trace_full.bin")]
    for slow, fast in pixels:
        cmd += ["-trace_pixel", str(slow), str(fast)]
    proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return "".join(line + "\n" for line in proc.stdout.splitlines() if line.startswith("TRACE_"))


@pytest.mark.parametrize("variant", ["phi0", "mask", "dmin"])
def test_c_parity_omp_trace_alone_equals_full_run(c_binary, omp_dir, tmp_path, variant):
    """The traced-only fast path finds each block's first sweep as the full run does."""
    threads = 4
    args = OMP_BASE.split() + OMP_VARIANTS[variant].split() + [
        "-phi_carryover_mode", "c-parity-omp", "-omp_threads", str(threads)]
    pixels = []
    for first, _ in static_blocks(26, threads)[1:]:
        pixels += [(first, 0), (first, 7), (first - 1, 23), (first + 1, 0)]
    alone = _trace_text(c_binary, args, omp_dir, pixels, False, tmp_path)
    full = _trace_text(c_binary, args, omp_dir, pixels, True, tmp_path)
    assert "TRACE_C: phi_carryover_mode c-parity-omp\n" in alone
    assert alone == full

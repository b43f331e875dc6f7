"""Three disagreements a random-configuration campaign found between the engines, each decided
against upstream nanoBragg (measured: bl831/nanoBragg built serially, gcc -O2, x86-64) and
fixed so that both engines give upstream's image bytes and the same traces.

1. F_cell with interpolation and top-hat spots: upstream's lookup at an out-of-range index sets
   default_F, switches interpolation off and then, interpolation being off, takes the
   nearest-neighbour table value (L2935-3007): the step that flips the switch uses the table.
   A step with F_latt == 0 is skipped before the lookup (L2869); the traces print the value the
   lookup would give there, the same table value (torch printed default_F, or 0 before a flip
   in its chunk). An HKL F of nan (or an infinite default_F) at such a skipped step made
   torch's pixel nan (F_cell^2 * 0); upstream skips it.
2. A pixel beyond float32's range: upstream's floatimage is float, so `floatimage += test`
   rounds the double to float and writes inf. Both engines write inf, and both traces print
   the float image's pixel (the float32, printed as a double): `I_pixel_final inf`.
3. Option spellings: upstream matches `-curved_det` anywhere in a token (strstr), so
   `-curved_detector` is the curved detector; the spellings both engines take are listed in
   nanobragg-facts.md (PARSING) and here.

The primary checks compare the two engines; with NB_C_BIN naming a stock nanoBragg build (one
without -trace_pixel), upstream's image (and printout) is checked too.
"""

from __future__ import annotations

import contextlib
import io
import math
import subprocess
import sys

import numpy as np
import pytest
from nbsim_testlib import C_BIN, UPSTREAM, same_image

from simulator.cli import main

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built (make build)")


QUIET = ["-noprogress", "-nonoise", "-nopgm"]


def _run(cmd, args, folder, name, last=()):
    """args, then the quiet options and -floatfile, then `last` (the command line's end)."""
    out = folder / name
    proc = subprocess.run(
        [*cmd, *args, *QUIET, "-floatfile", str(out), *last],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    return np.fromfile(out, "<f4"), proc.stdout


C_CMD = [str(C_BIN)]
# c-parity, the C reference's default, so that the traces compare line for line
PY_CMD = [sys.executable, "-m", "simulator", "-phi_carryover_mode", "c-parity"]


def run_c(args, folder, name="c.bin", last=()):
    return _run(C_CMD, args, folder, name, last)


def run_py(args, folder, name="py.bin", last=()):
    """nbsim in this process (a subprocess would import torch each time)."""
    out = folder / name
    stdout, stderr = io.StringIO(), io.StringIO()
    with (
        contextlib.chdir(folder),
        contextlib.redirect_stdout(stdout),
        contextlib.redirect_stderr(stderr),
    ):
        code = main([*PY_CMD[3:], *args, *QUIET, "-floatfile", str(out), *last])
    assert code == 0, stderr.getvalue()
    return np.fromfile(out, "<f4"), stdout.getvalue()


def run_upstream(args, folder, files=()):
    """Upstream in a fresh folder of its own (it writes and re-reads Fdump.bin there)."""
    up = folder / "upstream"
    up.mkdir(exist_ok=True)
    for f in files:
        (up / f).write_bytes((folder / f).read_bytes())
    return _run([UPSTREAM], args, up, "up.bin")


def traces(stdout, tag):
    """{key or (phi_tic, mos_tic, key): value text} per traced pixel, engine tag removed."""
    blocks, cur = {}, None
    for line in stdout.splitlines():
        if not line.startswith(tag):
            continue
        head, _, rest = line.partition(": ")
        parts = rest.split(" ", 1)
        if parts[0] == "trace_pixel":
            cur = blocks.setdefault(tuple(map(int, parts[1].split())), {})
        elif head.endswith("_PHI"):
            p, m, key, val = rest.split(" ", 3)
            cur[(p, m, key)] = val
        elif parts[0] != "engine":
            cur[parts[0]] = parts[1]
    return blocks


#: printed exactly alike by both engines (the others agree to rounding: 1e-12 relative)
EXACT = ("F_cell", "hkl_rounded", "I_pixel_final")
RTOL = 1e-12


def same_traces(c_out, py_out):
    c, py = traces(c_out, "TRACE_C"), traces(py_out, "TRACE_PY")
    assert c.keys() == py.keys() and c
    for pixel in c:
        assert c[pixel].keys() == py[pixel].keys(), pixel
        for key, text in c[pixel].items():
            name = key[-1] if isinstance(key, tuple) else key
            if name in EXACT:
                assert text == py[pixel][key], (pixel, key)
                continue
            try:
                a = np.array(text.split(), dtype=float)
                b = np.array(py[pixel][key].split(), dtype=float)
            except ValueError:
                assert text == py[pixel][key], (pixel, key)
                continue
            np.testing.assert_allclose(b, a, rtol=RTOL, atol=1e-15, err_msg=str((pixel, key)))
    return c


# ------------------------------------------------------------------ 1. F_cell, top-hat spots

#: a 3 x 3 table around (0, 0, 0), F = 100.5 + 9h + 3k + l: every 4x4x4 interpolation block
#: leaves it, so the first live step with -interpolate flips the switch
SMALL = "".join(
    f"{h} {k} {l} {100.5 + 9 * h + 3 * k + l}\n"
    for h in (-1, 0, 1)
    for k in (-1, 0, 1)
    for l in (-1, 0, 1)
)
#: a 1 A cell 100 mm from a 1 mm pixel: h, k, l within 0.02 of (0, 0, 0); with -N 7 the top-hat
#: spot misses the corner pixels (F_latt = 0, skipped) and hits pixel (2, 2), where the default
#: MOSFLM beam lands (h = k = l = 0, in raster order the last pixel)
TOPHAT = "-cell 1 0 0 -hkl T.hkl -default_F 7 -binary_spots -pixel 1".split()


@pytest.mark.parametrize("interp", ["-interpolate", "-nointerpolate"])
@pytest.mark.parametrize("shape", ["-binary_spots", "-tophat_spots"])
@pytest.mark.parametrize("N", ["2", "7"])
def test_tophat_F_cell_is_the_table_value_at_out_of_range_steps(interp, shape, N, tmp_path):
    """Every step's F_cell is the nearest table value, 100.5 at (0, 0, 0): on a live step that
    flips interpolation off (upstream's printout shows 100.5, not default_F 7), and on a step
    skipped for F_latt == 0 before the flip (torch printed default_F 7, or 0 when the flip
    came later in its chunk)."""
    (tmp_path / "T.hkl").write_text(SMALL)
    run = [*TOPHAT, shape, "-N", N, interp, "-detpixels", "3"]
    args = [*run, "-trace_pixel", "0", "0", "-trace_pixel", "2", "2"]
    c_img, c_out = run_c(args, tmp_path)
    py_img, py_out = run_py(args, tmp_path)
    same_image(c_img, py_img)
    blocks = same_traces(c_out, py_out)
    for pixel in ((0, 0), (2, 2)):
        assert blocks[pixel][("phi_tic=0", "mos_tic=0", "hkl_rounded")] == "0 0 0"
        assert blocks[pixel][("phi_tic=0", "mos_tic=0", "F_cell")] == "100.5"
    assert blocks[(0, 0)][("phi_tic=0", "mos_tic=0", "F_latt")] == ("8" if N == "2" else "0")
    assert (c_img[-1] > 0) and (c_img[0] > 0) == (N == "2")
    if interp == "-interpolate":
        assert "WARNING: out of range for three point interpolation" in c_out
    if UPSTREAM:
        up_img, up_out = run_upstream([*run, "-printout_pixel", "0", "0"], tmp_path, ["T.hkl"])
        same_image(c_img, up_img)
        if N == "2":  # a live step: upstream's printout shows the F_cell it used
            assert " F_cell=100.5 " in up_out


def test_tophat_trace_alone_equals_full_run(tmp_path):
    """The skipped step's F_cell is the same whether the pixel is traced alone or in a full run
    (where the flipping pixel (2, 2) is in the same chunk, after it)."""
    (tmp_path / "T.hkl").write_text(SMALL)
    args = [*TOPHAT, "-N", "7", "-interpolate", "-detpixels", "3", "-trace_pixel", "0", "0"]
    full = traces(run_py(args, tmp_path)[1], "TRACE_PY")
    alone = subprocess.run(
        [*PY_CMD, *args],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert alone.returncode == 0, alone.stderr
    assert traces(alone.stdout, "TRACE_PY") == full


@pytest.mark.parametrize(
    "extra, table",
    [
        (["-hkl", "T.hkl"], SMALL.replace("100.5\n", "nan\n")),  # F(0 0 0) = nan
        (["-hkl", "T.hkl", "-interpolate"], SMALL.replace("100.5\n", "nan\n")),
        (["-default_F", "inf"], None),
        (["-default_F", "nan"], None),
    ],
    ids=["hkl_nan", "hkl_nan_interpolate", "default_F_inf", "default_F_nan"],
)
def test_non_finite_F_at_skipped_steps_leaves_the_pixel_alone(extra, table, tmp_path):
    """Upstream skips a step with F_latt == 0 before it looks F up (L2869): a nan or infinite F
    there does not reach the pixel, which stays 0 (torch added nan * 0 = nan); the pixel a
    top-hat spot hits is nan / inf in both."""
    args = ["-cell", "1", "0", "0", "-pixel", "1", "-N", "7", "-tophat_spots", "-detpixels", "3"]
    args += extra
    if table is not None:
        (tmp_path / "T.hkl").write_text(table)
    c_img, _ = run_c(args, tmp_path)
    py_img, _ = run_py(args, tmp_path)
    same_image(c_img, py_img)
    assert (c_img[:-1] == 0).all()  # every pixel but (2, 2) misses the spot
    assert not math.isfinite(c_img[-1])
    if UPSTREAM:
        same_image(c_img, run_upstream(args, tmp_path, ["T.hkl"] if table else [])[0])


# ------------------------------------------------------------------ 2. beyond float32's range

FLT_MAX = float(np.finfo(np.float32).max)
#: -point_pixel's omega = 1/R^2 at 1 mm, multiplied into the running I at every sub-pixel
#: (-oversample_omega): pixels of 1e19 photons at -fluence 1e20, beyond 3.4e38 at 1e40
HUGE = (
    "-detpixels 3 -pixel 0.1 -cell 10 10 10 90 90 90 -N 2 -default_F 100 -point_pixel "
    "-oversample_omega -oversample 2 -distance 1"
).split()


@pytest.mark.parametrize("fluence", ["1e20", "1.1e39", "1e40", "1e150"])
def test_pixels_beyond_float32_are_inf_in_image_and_trace(fluence, tmp_path):
    """The float image holds inf where the double is beyond float32's range (a double -> float
    conversion, upstream's `floatimage[i] += test`), and I_pixel_final is that float image
    pixel, printed as a double, in both engines (torch printed its float64 value)."""
    args = [*HUGE, "-fluence", fluence]
    for s in range(3):
        for f in range(3):
            args += ["-trace_pixel", str(s), str(f)]
    c_img, c_out = run_c(args, tmp_path)
    py_img, py_out = run_py(args, tmp_path)
    assert c_img.tobytes() == py_img.tobytes()
    blocks = same_traces(c_out, py_out)
    for (s, f), block in blocks.items():
        pix = c_img[s * 3 + f]
        text = block["I_pixel_final"]
        assert text == ("inf" if math.isinf(pix) else format(float(pix), ".17g"))
    if fluence == "1e20":
        assert np.isfinite(c_img).all() and c_img.max() > 1e19
    if fluence == "1.1e39":  # some pixels finite near FLT_MAX, some beyond it
        assert np.isinf(c_img).any() and (c_img[np.isfinite(c_img)].max() > 3e38)
    if fluence == "1e40":
        assert np.isinf(c_img[1:]).all() and c_img[0] < FLT_MAX
    if fluence == "1e150":
        assert np.isinf(c_img).all()
    if UPSTREAM:
        up_img, up_out = run_upstream(
            HUGE + ["-fluence", fluence, "-printout_pixel", "1", "1"], tmp_path
        )
        assert c_img.tobytes() == up_img.tobytes()
        pixel_line = next(line for line in up_out.splitlines() if line.startswith("pixel "))
        assert float(pixel_line.split()[1]) == pytest.approx(float(c_img[4]), rel=1e-9)


def test_float64_to_float32_rounds_like_c_at_the_overflow_threshold():
    """torch's float64 -> float32 conversion (the image the float file gets, and the traced
    pixel) is C's double -> float: round to nearest even, inf from FLT_MAX + half an ulp on."""
    import torch

    half_ulp = 2.0**103
    values = [FLT_MAX, FLT_MAX + half_ulp - 2.0**75, FLT_MAX + half_ulp, 1e39, -1e39, 1e168]
    expect = [FLT_MAX, FLT_MAX, math.inf, math.inf, -math.inf, math.inf]
    for n in (1, 64):  # scalar and vectorised conversion paths
        got = torch.tensor(values * n, dtype=torch.float64).to(torch.float32)[: len(values)]
        assert [float(v) for v in got] == expect


# ------------------------------------------------------------------ 3. option spellings

#: the spellings both engines accept beyond the option's own name (nanobragg-facts.md, PARSING):
#: each group sets the same thing as its first member; upstream's strstr takes all of them
SPELLINGS = [
    (["-curved_det", "-curved_detector"], []),
    (
        ["-detector_abs", "-detector_absorb", "-detector_absorption"],
        ["50", "-detector_thick", "100"],
    ),
    (
        ["-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_spr", "-mosaici"],
        ["1", "-mosaic_domains", "4"],
    ),
    (["-mosaic_domains", "-mosaic_dom"], ["3", "-mosaic", "1"]),
    (
        [
            "-MW",
            "-molec",
            "-molecules",
            "-molecular_weight",
            "-density",
            "-sample_den",
            "-sample_density",
        ],
        ["5"],
    ),
    (["-lambda", "-wave", "-wavelength"], ["1.3"]),
    (["-mat", "-matrix"], ["A.mat"]),
    (["-xtalsize", "-xtal_size", "-samplesize", "-sample_size"], ["0.0001"]),
    (
        [
            "-heigh",
            "-height",
            "-sample_heigh",
            "-sample_height",
            "-sample_z",
            "-xtal_heigh",
            "-xtal_height",
            "-xtal_z",
        ],
        ["0.0001"],
    ),
    (["-width", "-sample_width", "-sample_y", "-xtal_width", "-xtal_y"], ["0.0001"]),
    (["-xtal_x", "-xtal_thick", "-sample_x", "-sample_thick"], ["0.0001"]),
    (["-detector_thicksteps", "-thicksteps"], ["3", "-detector_thick", "100"]),
    (["-detpixels_f", "-detpixels_x"], ["6"]),
    (["-detpixels_s", "-detpixels_y"], ["6"]),
    (["-binary_spots", "-tophat_spots"], []),
]
SPELL_BASE = (
    "-cell 30 30 30 -default_F 10 -N 3 -distance 20 -detpixels 8 -pixel 0.5 -misset 5 10 15 "
    "-oversample 1"
).split()
MAT = "0.0333 0 0\n0 0.0333 0\n0 0 0.0333\n"


@pytest.mark.parametrize("names, values", SPELLINGS, ids=[names[0] for names, _ in SPELLINGS])
def test_both_engines_take_the_same_spellings(names, values, tmp_path):
    """Every spelling of a group gives the image of the group's first spelling, in both engines
    (the C reference refused -curved_detector, -detector_absorption and -molecular_weight,
    torch -mosaic_spr, -mosaici and -molecules), and upstream's image with NB_C_BIN."""
    (tmp_path / "A.mat").write_text(MAT)
    want = None
    for name in names:
        base = SPELL_BASE[4:] if name in ("-mat", "-matrix") else SPELL_BASE  # no -cell
        args = [*base, name, *values]
        c_img, _ = run_c(args, tmp_path, name + ".c.bin")
        py_img, _ = run_py(args, tmp_path, name + ".py.bin")
        np.testing.assert_allclose(py_img, c_img, rtol=1e-6, atol=0, err_msg=name)
        if UPSTREAM:
            same_image(c_img, run_upstream(args, tmp_path, ["A.mat"])[0])
        if want is None:
            want = (c_img, py_img)
        else:
            assert c_img.tobytes() == want[0].tobytes(), name
            assert py_img.tobytes() == want[1].tobytes(), name


def test_curved_detector_needs_a_following_token_like_curved_det(tmp_path):
    """Upstream honours -curved_det (and so -curved_detector) only when another token follows
    (argc > i+1, L806): as the last token it is ignored, in both engines, for both spellings."""
    flat = run_c(SPELL_BASE, tmp_path, "flat.bin")[0]
    curved = run_c(["-curved_det", *SPELL_BASE], tmp_path, "curved.bin")[0]
    assert flat.tobytes() != curved.tobytes()
    for name in ("-curved_det", "-curved_detector"):
        for run in (run_c, run_py):
            first = run([name, *SPELL_BASE], tmp_path, "first.bin")[0]
            last = run(SPELL_BASE, tmp_path, "last.bin", last=[name])[0]
            np.testing.assert_allclose(first, curved, rtol=1e-6, atol=0, err_msg=name)
            np.testing.assert_allclose(last, flat, rtol=1e-6, atol=0, err_msg=name)
            if run is run_c:
                assert first.tobytes() == curved.tobytes() and last.tobytes() == flat.tobytes()

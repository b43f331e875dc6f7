"""Degenerate and hostile input: one policy for both engines (nanobragg-facts.md, "Degenerate
input: one policy for both engines").

Where upstream nanoBragg renders an image, both engines render that image: the same float32
bytes, NaN at the same pixels (a NaN's sign bit is not compared). Where upstream crashes, hangs
or cannot mean what it reads, both print one line on stderr and exit 2. Each case notes what
upstream does (bl831/nanoBragg built serially with gcc -O2 on x86-64). The primary check is the
two engines against each other and against the policy; with NB_C_BIN naming a stock nanoBragg
build (one without -trace_pixel), its image and verdict are checked too.
"""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from nbsim_testlib import C_BIN, UPSTREAM, same_image

from simulator.cli import main

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built (make build)")

CELL = "-cell 100 100 100 90 90 90".split()
BASE = "-default_F 100 -N 5 -detpixels 16 -pixel 0.4 -lambda 1 -noprogress -nonoise -nopgm".split()
GRID = "".join(
    f"{h} {k} {l} {10 + h + 2 * k + 3 * l}\n"
    for h in range(-4, 5)
    for k in range(-4, 5)
    for l in range(-4, 5)
)


# id, arguments (after BASE), files, what the image is: "nan" (every pixel), "zero" (every
# pixel), "finite" (no NaN), or an int (that many NaN pixels); the comment is upstream's.
RENDERED = [
    ("distance_inf", ["-distance", "inf"], {}, "nan"),  # NaN image
    ("distance_nan", ["-distance", "nan"], {}, "nan"),
    ("distance_zero", ["-distance", "0"], {}, "zero"),  # omega 0; oversample (int)inf -> 1
    ("close_distance_zero", ["-close_distance", "0"], {}, "zero"),
    ("twotheta_90", ["-twotheta", "90"], {}, "finite"),  # oversample 9.8e16 -> INT_MIN -> 1
    (
        "detector_parallel_to_beam",
        [
            "-odet_vector",
            "0",
            "1",
            "0",
            "-fdet_vector",
            "1",
            "0",
            "0",
            "-sdet_vector",
            "0",
            "0",
            "1",
        ],
        {},
        "zero",
    ),
    (
        "spindle_zero",
        ["-spindle_axis", "0", "0", "0", "-osc", "30", "-phisteps", "3"],
        {},
        "finite",
    ),
    ("beam_vector_zero", ["-beam_vector", "0", "0", "0"], {}, "zero"),
    ("cell_angles_zero", ["-cell", "10", "10", "10", "0", "0", "0"], {}, "finite"),
    ("cell_b_zero", ["-cell", "100", "0", "100", "90", "90", "90"], {}, "finite"),
    ("mosaic_nan", ["-mosaic", "nan"], {}, "finite"),  # 10 domains, none rotated
    ("mosaic_inf", ["-mosaic", "inf"], {}, "nan"),
    ("xtalsize_inf", ["-xtalsize", "inf"], {}, "nan"),  # N = ceil(inf) = inf
    ("pixel_1e300", ["-pixel", "1e300"], {}, "nan"),
    ("hdivrange_inf", ["-hdivrange", "inf", "-hdivstep", "1"], {}, "finite"),  # INT_MIN steps -> 1
    ("flux_beamsize_zero", ["-flux", "1e12", "-beamsize", "0"], {}, "nan"),  # fluence x/0
    ("Xbeam_inf", ["-Xbeam", "inf"], {}, "nan"),
    ("detector_rotx_nan", ["-detector_rotx", "nan"], {}, "nan"),
    ("N_zero", ["-N", "0"], {}, "finite"),
    ("oversample_zero", ["-oversample", "0"], {}, "finite"),
    ("detpixels_zero", ["-detpixels", "0"], {}, "finite"),  # the 102.4 mm default detector
    ("roi_empty", ["-roi", "10", "5", "10", "5"], {}, "zero"),
    ("hkl_F_nan", ["-hkl", "F.hkl"], {"F.hkl": "0 0 0 nan\n"}, 16),  # nan where (0 0 0) is hit
    ("hkl_index_1000001", ["-hkl", "F.hkl"], {"F.hkl": "0 0 0 10\n1000001 0 0 5\n"}, "finite"),
    (
        "nan_geometry_not_interpolated",
        ["-hkl", "F.hkl", "-N", "1", "-nointerpolate", "-distance", "inf"],
        {"F.hkl": GRID},
        "nan",
    ),
]

# id, arguments, files, a fragment both messages hold; the comment is upstream's behaviour
REFUSED = [
    (  # segmentation fault: (int)floor(nan) indexes far outside its table
        "nan_index_interpolated",
        ["-hkl", "F.hkl", "-N", "1", "-distance", "inf"],
        {"F.hkl": GRID},
        "Miller index is nan while structure factors are interpolated",
    ),
    (  # hangs: h_max = (int)2147483648.0 = INT_MIN, its range wraps, it allocates for ever
        "hkl_index_beyond_int",
        ["-hkl", "F.hkl"],
        {"F.hkl": "2147483648 0 0 5\n"},
        "out of range",
    ),
    (  # hangs: h_min starts at 1e9, a 5e8-row table
        "hkl_range_too_large",
        ["-hkl", "F.hkl"],
        {"F.hkl": "1500000000 0 0 5\n"},
        "HKL index range too large",
    ),
    (  # renders NaN from undefined arithmetic: phisteps = INT_MIN, steps overflows to 0
        "phi_steps_not_finite",
        ["-osc", "inf", "-phistep", "1"],
        {},
        "phi",
    ),
]
UPSTREAM_HANGS = {"hkl_index_beyond_int", "hkl_range_too_large"}


def _write_files(folder, files):
    for name, text in files.items():
        (folder / name).write_text(text)


def run_c(args, folder):
    out = folder / "c.bin"
    proc = subprocess.run(
        [str(C_BIN), *args, "-floatfile", str(out)],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return proc.returncode, proc.stderr, (np.fromfile(out, "<f4") if out.exists() else None)


def run_nbsim(args, folder, monkeypatch, capsys):
    out = folder / "py.bin"
    monkeypatch.chdir(folder)
    capsys.readouterr()
    code = main([*args, "-phi_carryover_mode", "c-parity", "-floatfile", str(out)])
    err = capsys.readouterr().err
    return code, err, (np.fromfile(out, "<f4") if out.exists() else None)


def run_upstream(args, folder):
    out = folder / "up.bin"
    proc = subprocess.run(
        [UPSTREAM, *args, "-floatfile", str(out)], cwd=folder, capture_output=True, timeout=120
    )
    return proc.returncode, (np.fromfile(out, "<f4") if out.exists() else None)


def check_kind(img, kind):
    if kind == "nan":
        assert np.isnan(img).all()
    elif kind == "zero":
        assert (img == 0).all()
    elif kind == "finite":
        assert np.isfinite(img).all()
    else:
        assert int(np.isnan(img).sum()) == kind


@pytest.mark.parametrize("name, args, files, kind", RENDERED, ids=[c[0] for c in RENDERED])
def test_both_engines_render_upstreams_image(
    name, args, files, kind, tmp_path, monkeypatch, capsys
):
    _write_files(tmp_path, files)
    argv = CELL + BASE + args
    c_code, c_err, c_img = run_c(argv, tmp_path)
    py_code, py_err, py_img = run_nbsim(argv, tmp_path, monkeypatch, capsys)
    assert c_code == 0, c_err
    assert py_code == 0, py_err
    same_image(c_img, py_img)
    check_kind(c_img, kind)
    if UPSTREAM:
        up_code, up_img = run_upstream(argv, tmp_path)
        assert up_code == 0
        same_image(c_img, up_img)


@pytest.mark.parametrize("name, args, files, fragment", REFUSED, ids=[c[0] for c in REFUSED])
def test_both_engines_refuse_what_upstream_cannot_render(
    name, args, files, fragment, tmp_path, monkeypatch, capsys
):
    _write_files(tmp_path, files)
    argv = CELL + BASE + args
    c_code, c_err, c_img = run_c(argv, tmp_path)
    py_code, py_err, py_img = run_nbsim(argv, tmp_path, monkeypatch, capsys)
    assert (c_code, py_code) == (2, 2), (c_err, py_err)
    for err in (c_err, py_err):
        assert err.count("\n") == 1 and fragment in err, err
    assert c_img is None and py_img is None
    if UPSTREAM and name not in UPSTREAM_HANGS and name != "phi_steps_not_finite":
        up_code, _ = run_upstream(argv, tmp_path)
        assert up_code != 0  # a crash


def test_cell_angles_zero_are_upstreams_right_angles(tmp_path):
    """-cell a b c 0 0 0 is the cell with 90 degree angles (upstream's defaults, L1798), not an
    error (the C reference refused it)."""
    zero = run_c(["-cell", "10", "10", "10", "0", "0", "0", *BASE], tmp_path)
    right = run_c(["-cell", "10", "10", "10", "90", "90", "90", *BASE], tmp_path)
    assert zero[0] == right[0] == 0
    same_image(zero[2], right[2])


def test_a_repeated_reflection_takes_the_value_read_last_with_one_warning(
    tmp_path, monkeypatch, capsys
):
    """Upstream's second pass overwrites (L2205): the last F read wins, silently. Both engines
    do the same and print the same warning on stderr."""
    (tmp_path / "F.hkl").write_text("0 0 0 10\n1 0 0 5\n1 0 0 50\n0 0 0 3\n")
    (tmp_path / "G.hkl").write_text("1 0 0 50\n0 0 0 3\n")
    argv = CELL + BASE
    c_code, c_err, c_img = run_c(argv + ["-hkl", "F.hkl"], tmp_path)
    py_code, py_err, py_img = run_nbsim(argv + ["-hkl", "F.hkl"], tmp_path, monkeypatch, capsys)
    assert c_code == py_code == 0
    same_image(c_img, py_img)
    same_image(c_img, run_c(argv + ["-hkl", "G.hkl"], tmp_path)[2])  # the last values only
    warning = (
        "warning: F.hkl: 2 lines repeat a reflection listed earlier (the first: 1 0 0); "
        "the value read last is used, as in nanoBragg\n"
    )
    assert c_err == "nanobragg-ref: " + warning
    assert py_err == "nbsim: " + warning


# option values: the same verdict in both engines; None = rendered (the same image)
OPTION_VALUES = [
    (["-pixel", "0"], "-pixel"),  # upstream: an empty image
    (["-pixel", "-1"], "-pixel"),
    (["-pixel", "nan"], "-pixel"),
    (["-pixel", "inf"], "-pixel"),
    (["-lambda", "0"], "-lambda"),  # upstream: NaN image
    (["-lambda", "nan"], "-lambda"),
    (["-energy", "-5"], "-energy"),
    (["-detpixels", "abc"], "-detpixels"),  # upstream: atoi 0, the default detector
    (["-detpixels", "nan"], "-detpixels"),
    (["-detpixels", "inf"], "-detpixels"),
    (["-detpixels", "-1"], "-detpixels"),
    (["-detpixels", "16.5"], "-detpixels"),  # atoi would read 16
    (["-N", "1e1"], "-N"),  # atoi would read 1
    (["-N", "2.5"], "-N"),
    (["-N", "99999999999"], "-N"),
    (["-oversample", "1e9"], "-oversample"),
    (["-oversample", "2000"], "oversample"),  # resource guard, both engines
    (["-phisteps", "nan"], "-phisteps"),
    (["-roi", "0", "1e30", "0", "3"], "-roi"),
    (["-seed", "x"], "-seed"),
    (["-detsize", "nan", "-detpixels", "0"], "-detsize"),
    (["-N", "0"], None),
    (["-N", "-1"], None),
    (["-N", "5.0"], None),
    (["-oversample", "0"], None),
    (["-oversample", "-1"], None),
    (["-phisteps", "0"], None),
    (["-phisteps", "-1"], None),
    (["-mosaic_domains", "0"], None),
    (["-dispsteps", "-1"], None),
    (["-distance", "-100"], None),
    (["-xtalsize", "-1"], None),
    (["-fluence", "0"], None),
    (["-polar", "nan"], None),
    (["-adc", "nan"], None),
    (["-dmin", "nan"], None),
    (["-fudge", "0"], None),
    (["-water", "inf"], None),
    (["-detector_thick", "nan"], None),
    (["-phi", "inf"], None),
]


@pytest.mark.parametrize(
    "args, verdict", OPTION_VALUES, ids=[" ".join(a) for a, _ in OPTION_VALUES]
)
def test_option_values_get_the_same_verdict(args, verdict, tmp_path, monkeypatch, capsys):
    argv = CELL + BASE + args
    c_code, c_err, c_img = run_c(argv, tmp_path)
    py_code, py_err, py_img = run_nbsim(argv, tmp_path, monkeypatch, capsys)
    if verdict is None:
        assert c_code == py_code == 0, (c_err, py_err)
        same_image(c_img, py_img)
        if UPSTREAM:
            same_image(c_img, run_upstream(argv, tmp_path)[1])
    else:
        assert c_code == py_code == 2, (c_err, py_err)
        for err in (c_err, py_err):
            assert err.count("\n") == 1 and verdict in err and "Traceback" not in err, err
        assert c_img is None and py_img is None


@pytest.mark.parametrize(
    "extra",
    [
        ["-distance", "inf"],
        ["-twotheta", "nan"],
        ["-fluence", "inf"],
        ["-mosaic", "inf"],
        ["-distance", "0"],
    ],
)
def test_integer_images_of_nan_and_inf_pixels(extra, tmp_path, monkeypatch, capsys):
    """SMV, PGM and noise images of NaN or infinite pixels: the same bytes in both engines (a
    NaN pixel is 0, as upstream's cast gives it on x86-64; the header spells a NaN with its
    sign bit "-nan", as glibc's printf; nbsim used to stop with an internal error)."""
    argv = CELL + BASE[:-2] + ["-seed", "3", *extra]
    outputs = {"-intfile": "int.img", "-pgmfile": "image.pgm", "-noisefile": "noise.img"}
    c_dir, py_dir = tmp_path / "c", tmp_path / "py"
    for d in (c_dir, py_dir):
        d.mkdir()
    files = [a for opt, name in outputs.items() for a in (opt, name)]
    assert run_c(argv + files, c_dir)[0] == 0
    assert run_nbsim(argv + files, py_dir, monkeypatch, capsys)[0] == 0
    for name in outputs.values():
        assert (c_dir / name).read_bytes() == (py_dir / name).read_bytes(), name

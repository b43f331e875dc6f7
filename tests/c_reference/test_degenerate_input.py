"""The C reference under degenerate input (nanobragg-facts.md, "Degenerate input: one policy
for both engines"): what upstream renders is rendered, NaN and zero pixels included; what
upstream crashes or hangs on is one line and exit 2. tests/simulator/test_degenerate_input.py
runs the same cases through both engines (and a stock nanoBragg with NB_C_BIN)."""

from __future__ import annotations

import numpy as np
import pytest

from .conftest import C_BIN, run_c

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built")

BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -N 5 -detpixels 16 -pixel 0.4 -lambda 1 "
        "-noprogress -nonoise -nopgm").split()
GRID = "".join(f"{h} {k} {l} {10 + h + 2 * k + 3 * l}\n"
               for h in range(-4, 5) for k in range(-4, 5) for l in range(-4, 5))


def render(tmp_path, *extra, files=None):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    out = tmp_path / "f.bin"
    r = run_c(BASE + list(extra) + ["-floatfile", out], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    return np.fromfile(out, dtype="<f4"), r


def refuse(tmp_path, *extra, files=None):
    for name, text in (files or {}).items():
        (tmp_path / name).write_text(text)
    r = run_c(BASE + list(extra) + ["-floatfile", tmp_path / "f.bin"], cwd=tmp_path)
    assert r.returncode == 2, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "f.bin").exists()
    return r.stderr


@pytest.mark.parametrize("extra, kind", [
    (["-distance", "inf"], "nan"),
    (["-distance", "0"], "zero"),
    (["-odet_vector", "0", "1", "0", "-fdet_vector", "1", "0", "0", "-sdet_vector", "0", "0", "1"],
     "zero"),
    (["-twotheta", "90"], "finite"),
    (["-spindle_axis", "0", "0", "0", "-osc", "30", "-phisteps", "3"], "finite"),  # was refused
    (["-beam_vector", "0", "0", "0"], "zero"),  # was refused
    (["-cell", "100", "0", "100", "90", "90", "90"], "finite"),  # was refused
    (["-hkl", "F.hkl", "-N", "1", "-nointerpolate", "-distance", "inf"], "nan"),
])
def test_upstreams_degenerate_images_are_rendered(tmp_path, extra, kind):
    img, _ = render(tmp_path, *extra, files={"F.hkl": GRID})
    if kind == "nan":
        assert np.isnan(img).all()
    elif kind == "zero":
        assert (img == 0).all()
    else:
        assert np.isfinite(img).all()


def test_cell_angles_zero_are_right_angles(tmp_path):
    zero, _ = render(tmp_path, "-cell", "10", "10", "10", "0", "0", "0")
    right, _ = render(tmp_path, "-cell", "10", "10", "10", "90", "90", "90")
    assert zero.tobytes() == right.tobytes()


def test_hkl_nan_is_kept_and_a_repeat_takes_the_last_value(tmp_path):
    img, _ = render(tmp_path, "-hkl", "F.hkl", files={"F.hkl": "0 0 0 nan\n"})
    assert int(np.isnan(img).sum()) == 16
    repeats = {"G.hkl": "0 0 0 1\n0 0 0 nan\n0 0 0 7\n"}
    img, r = render(tmp_path, "-hkl", "G.hkl", files=repeats)
    last, _ = render(tmp_path, "-hkl", "H.hkl", files={"H.hkl": "0 0 0 7\n"})
    assert img.tobytes() == last.tobytes()
    assert r.stderr == ("nanobragg-ref: warning: G.hkl: 2 lines repeat a reflection listed "
                        "earlier (the first: 0 0 0); the value read last is used, as in "
                        "nanoBragg\n")


def test_hkl_index_within_int_is_read(tmp_path):
    """1000001 was refused (a |index| <= 1e6 rule upstream does not have)."""
    render(tmp_path, "-hkl", "F.hkl", files={"F.hkl": "0 0 0 10\n1000001 0 0 5\n"})


@pytest.mark.parametrize("extra, files, fragment", [
    (["-hkl", "F.hkl", "-N", "1", "-distance", "inf"], {"F.hkl": GRID},
     "a Miller index is nan while structure factors are interpolated"),  # upstream: SIGSEGV
    (["-hkl", "F.hkl"], {"F.hkl": "2147483648 0 0 5\n"}, "F.hkl:1: Miller index '2147483648' "
     "is out of range"),  # upstream: hangs
    (["-hkl", "F.hkl"], {"F.hkl": "1500000000 0 0 5\n"}, "HKL index range too large"),
    (["-hkl", "F.hkl"], {"F.hkl": "1.0 0 0 5\n"}, "Miller index '1.0' is not an integer"),
    (["-oversample", "2000"], {}, "impossible sampling: oversample 2000 (at most 1000)"),
    (["-phisteps", "20000000"], {}, "impossible sampling: 20000000 phi steps"),
    (["-detpixels", "30000"], {}, "at most 400000000"),
])
def test_what_upstream_cannot_render_is_one_line(tmp_path, extra, files, fragment):
    assert fragment in refuse(tmp_path, *extra, files=files)


@pytest.mark.parametrize("value", ["2.5", "1e1", "nan", "inf", "0x10"])
def test_integer_values_atoi_would_misread(tmp_path, value):
    err = refuse(tmp_path, "-detpixels", value)
    assert f"option -detpixels: value '{value}' is not an integer" in err


@pytest.mark.parametrize("value", ["5.0", "+5", "0"])
def test_integer_values_read_as_written(tmp_path, value):
    render(tmp_path, "-N", value)


def test_nan_pixels_are_zero_in_the_integer_images(tmp_path):
    r = run_c(BASE[:-2] + ["-distance", "inf", "-seed", "3", "-intfile", "i.img", "-pgmfile",
                           "p.pgm", "-noisefile", "n.img"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "i.img").read_bytes()[512:] == bytes(2 * 256)
    assert (tmp_path / "n.img").read_bytes()[512:] == bytes(2 * 256)
    assert (tmp_path / "p.pgm").read_bytes().endswith(bytes(256))

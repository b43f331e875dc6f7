"""Numbers in -sourcefile (and -stol) and -mat files are read by C's strtod, as the C reference
reads them (options.c_strtod, the one C-number parser): hex is a number, '1_0' is not, every
field of a source line counts. Python's float() took '1_0' (exit 0 where the C reference
exits 2) and the scanf-like matrix reader and float() refused hex (exit 2 where it exits 0)."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest
from nbsim_testlib import C_BIN

from simulator.cli import main
from simulator.io import read_columns, read_matrix

SOURCES = {
    "ok": ("-10 0 0 1 1e-10\n", 0),
    "underscore": ("-1_0 0 0 1 1e-10\n", 2),
    "hex": ("-0xAp0 0 0 0x1p0 0x1.b7cdfd9d7bdbbp-34\n", 0),
    "nan_chars": ("-10 0 0 1 nan(x)\n", 0),
    "extra_field_not_a_number": ("-10 0 0 1 1e-10 0x\n", 2),
    "carriage_return_separates": ("-10 0 0 1\r1e-10\n", 0),
    "vertical_tab_ends_no_line": ("-10 0 0 1 1e-10\v\n", 2),
}
MATRICES = {
    "ok": (" 0.02 0 0\n 0 0.02 0\n 0 0 0.02\n", 0),
    "hex": (" 0x1.47ae147ae147bp-6 0 0\n 0 0.02 0\n 0 0 0.02\n", 0),
    "hex_touching": (" 0.02-0x0p0 0\n 0 0.02 0\n 0 0 0x1.47ae147ae147bp-6\n", 0),
    "underscore": (" 0.02 0 0\n 0 2_0 0\n 0 0 0.02\n", 2),
}


def _run_both(args, tmp_path, capsys):
    """(torch exit status, C reference's or None, torch image bytes or None)."""
    out = tmp_path / "t.bin"
    rc = main(args + ["-floatfile", str(out)])
    err = capsys.readouterr().err
    assert rc == 0 or err.count("\n") == 1
    c_rc = None
    if C_BIN.is_file():
        c_out = tmp_path / "c.bin"
        proc = subprocess.run([str(C_BIN), *args, "-floatfile", str(c_out)], capture_output=True)
        c_rc = proc.returncode
        if rc == 0 and c_rc == 0:
            assert out.read_bytes() == c_out.read_bytes()
    return rc, c_rc


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_sourcefile_numbers_as_the_c_reference(name, tmp_path, capsys):
    text, want = SOURCES[name]
    (tmp_path / "s.src").write_text(text, newline="")
    args = "-cell 50 60 70 90 90 90 -default_F 1 -detpixels 8".split()
    rc, c_rc = _run_both(args + ["-sourcefile", str(tmp_path / "s.src")], tmp_path, capsys)
    assert rc == want and c_rc in (None, want)


@pytest.mark.parametrize("name", sorted(MATRICES))
def test_matrix_numbers_as_the_c_reference(name, tmp_path, capsys):
    text, want = MATRICES[name]
    (tmp_path / "m.mat").write_text(text)
    args = "-default_F 1 -detpixels 16 -distance 50".split()
    rc, c_rc = _run_both(args + ["-mat", str(tmp_path / "m.mat")], tmp_path, capsys)
    assert rc == want and c_rc in (None, want)


def test_hex_values_are_strtods(tmp_path):
    (tmp_path / "s.src").write_text("-0xAp0 0 0 0x1p1025 0x1.8p-1\n")
    assert read_columns(tmp_path / "s.src", 5) == [[-10.0, 0.0, 0.0, float("inf"), 0.75]]
    (tmp_path / "m.mat").write_text("0x1p-6 0 0\n0 0x1.8p-6-0x1p-60\n0 0 0X1P-6\n")
    a, b, c = read_matrix(tmp_path / "m.mat")
    want = [[2**-6, 0, 0], [0, 1.5 * 2**-6, 0], [0, -(2**-60), 2**-6]]  # the columns
    np.testing.assert_array_equal([a, b, c], want)

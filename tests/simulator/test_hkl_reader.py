"""The HKL reader: the column-wise fast path reads exactly what the line reader reads, and every
malformed file gets a one-line InputError naming file:line (never a traceback)."""

from __future__ import annotations

import numpy as np
import pytest
from nbsim_testlib import REPO_ROOT

from simulator import io


def test_fast_path_matches_line_reader_on_the_default_table():
    text = (REPO_ROOT / "traces" / "default" / "P1.hkl").read_text()
    fast = io._hkl_columns(text)
    assert fast is not None
    rows = io._hkl_rows(text, "P1.hkl")
    np.testing.assert_array_equal(fast[0], rows[0])
    np.testing.assert_array_equal(fast[1], rows[1])  # same float() conversion, bit for bit


def test_later_lines_win_blank_lines_and_odd_spacing(tmp_path):
    f = tmp_path / "t.hkl"
    f.write_text("\n 0 0 0 1.5\n1\t0 0   2e1\n\n0 0 0 3\n-1 2 -3 nan\n")
    table, mins, maxs, count = io.read_hkl(f)
    assert (mins, maxs, count) == ((-1, 0, -3), (1, 2, 0), 4)
    assert table[1, 0, 3] == 3.0 and table[2, 0, 3] == 20.0 and np.isnan(table[0, 2, 0])


@pytest.mark.parametrize(
    "text, where, words",
    [
        ("0 0 0 1\n1 2 3\n", ":2:", "3 fields"),
        ("0 0 0 1\n1 2 3 4 5\n", ":2:", "5 fields"),
        ("0 0 0 1\n0 0 1.0 4\n", ":2:", "integers"),
        ("0 0 0 1\n0 0 1 F\n", ":2:", "integers"),
        ("0 0 0 1\n99999999999999999999 0 0 1\n", ":2:", "out of range"),
        ("\n\n", ":1:", "no HKL entries"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, text, where, words):
    f = tmp_path / "bad.hkl"
    f.write_text(text)
    with pytest.raises(io.InputError) as err:
        io.read_hkl(f)
    msg = str(err.value)
    assert f"bad.hkl{where}" in msg and words in msg and "\n" not in msg

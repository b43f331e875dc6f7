"""The HKL reader: the column-wise fast path reads exactly what the line reader reads, and every
malformed file gets a one-line InputError naming file:line (never a traceback)."""

from __future__ import annotations

import numpy as np
import pytest
from nbsim_testlib import REPO_ROOT

from simulator import hkl_file as io


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
    table, mins, maxs, count, duplicates = io.read_hkl(f)
    assert (mins, maxs, count) == ((-1, 0, -3), (1, 2, 0), 4)
    assert table[1, 0, 3] == 3.0 and table[2, 0, 3] == 20.0 and np.isnan(table[0, 2, 0])
    assert duplicates == (1, (0, 0, 0))


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


def test_listed_nan_stays_nan_and_unlisted_take_the_fill(tmp_path):
    """F = nan in the file is a value (nanoBragg stores it; its pixels render nan), not a hole
    for default_F to fill (was: every nan became default_F)."""
    f = tmp_path / "n.hkl"
    f.write_text("0 0 0 nan\n2 0 0 4\n")
    table, *_ = io.read_hkl(f, fill=7.0)
    assert np.isnan(table[0, 0, 0]) and table[1, 0, 0] == 7.0 and table[2, 0, 0] == 4.0


def test_the_value_read_last_wins_and_repeats_are_counted(tmp_path):
    f = tmp_path / "d.hkl"
    rows = [f"1 0 0 {i}" for i in range(50)] + ["0 0 0 1", "0 0 0 2", "2 0 0 3"]
    f.write_text("\n".join(rows) + "\n")
    table, mins, maxs, count, duplicates = io.read_hkl(f)
    assert table[1, 0, 0] == 49.0 and table[0, 0, 0] == 2.0 and count == 53
    assert duplicates == (50, (1, 0, 0))


@pytest.mark.parametrize(
    "text, words",
    [
        ("2147483648 0 0 5\n", ":1: Miller index out of range"),  # upstream hangs
        ("0 0 0 1\n-2147483648 0 0 5\n", ":2: Miller index out of range"),
        ("1_0 0 0 5\n", ":1: malformed line"),  # int() takes '1_0', nanoBragg's %d does not
        ("1500000000 0 0 5\n", "HKL index range too large (500000001 cells"),  # h_min stays 1e9
    ],
)
def test_indices_nanobragg_cannot_hold(tmp_path, text, words):
    f = tmp_path / "big.hkl"
    f.write_text(text)
    with pytest.raises(io.InputError) as err:
        io.read_hkl(f)
    assert words in str(err.value)

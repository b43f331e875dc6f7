"""Bad input: a one-line message naming the option or file:line, non-zero exit, no output."""

from __future__ import annotations

import pytest

from .conftest import run_c

GOOD = ("-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels 16 "
        "-pixel 0.4 -N 5")


def write(path, text):
    path.write_text(text)
    return str(path)


def check_failure(tmp_path, args, fragment):
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    outputs = ["-floatfile", str(out / "float.bin"), "-intfile", str(out / "int.img"),
               "-noisefile", str(out / "noise.img"), "-seed", "5", "-pgmfile",
               str(out / "image.pgm")]
    r = run_c(list(args) + outputs + ["-noprogress"], cwd=tmp_path)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert fragment in lines[0], lines[0]
    assert "error" in lines[0]
    assert list(out.iterdir()) == [], "output left behind"
    return lines[0]


def test_good_baseline_writes_outputs(c_binary, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = run_c(GOOD.split() + ["-floatfile", out / "float.bin", "-intfile", out / "int.img",
                              "-noisefile", out / "noise.img", "-seed", "5",
                              "-pgmfile", out / "image.pgm", "-noprogress"], cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["float.bin", "image.pgm", "int.img",
                                                     "noise.img"]


def test_unknown_option(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-bogus_option", "3"], "unknown option '-bogus_option'")


def test_substring_of_an_option_is_not_accepted(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-dist", "100"], "unknown option '-dist'")


def test_missing_value(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-distance"], "option -distance: missing value")


def test_missing_value_before_next_option(c_binary, tmp_path):
    check_failure(tmp_path, ["-hkl", "-N", "5"] + GOOD.split(), "option -hkl: missing value")


def test_non_numeric_value(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-lambda", "one"],
                  "option -lambda: value 'one' is not a number")


def test_non_numeric_integer_value(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-phisteps", "3x"],
                  "option -phisteps: value '3x' is not a number")


def test_unreadable_hkl(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-hkl", "missing.hkl"], "missing.hkl: cannot open")


def test_malformed_hkl(c_binary, tmp_path):
    hkl = write(tmp_path / "bad.hkl", "0 0 1 10.0\n0 1 0 12.5\n1 x 0 3\n")
    check_failure(tmp_path, GOOD.split() + ["-hkl", hkl], "bad.hkl:3:")


def test_hkl_with_missing_column(c_binary, tmp_path):
    hkl = write(tmp_path / "short.hkl", "0 0 1 10.0\n\n0 1 0\n")
    check_failure(tmp_path, GOOD.split() + ["-hkl", hkl], "short.hkl:3:")


def test_unreadable_matrix(c_binary, tmp_path):
    args = GOOD.replace("-cell 100 100 100 90 90 90", "-mat nothere.mat").split()
    check_failure(tmp_path, args, "nothere.mat: cannot open")


def test_malformed_matrix(c_binary, tmp_path):
    mat = write(tmp_path / "bad.mat", "0.01 0 0\n0 0.01\n0 0 0.01\n")
    args = GOOD.replace("-cell 100 100 100 90 90 90", f"-mat {mat}").split()
    check_failure(tmp_path, args, "bad.mat:2:")


def test_singular_matrix(c_binary, tmp_path):
    mat = write(tmp_path / "flat.mat", "0.01 0 0.01\n0 0.01 0.01\n0 0 0\n")
    args = GOOD.replace("-cell 100 100 100 90 90 90", f"-mat {mat}").split()
    check_failure(tmp_path, args, "flat.mat: singular orientation matrix")


def test_truncated_dump_with_a_wide_index_range(c_binary, tmp_path):
    """The header promises a 100001^3 table the file does not hold: a malformed file (exit 2),
    found before the table is allocated (was an out-of-memory failure, exit 3)."""
    dump = tmp_path / "wide.dump"
    dump.write_bytes(b"0 100000 0 100000 0 100000\n\f" + bytes(64))
    args = GOOD.replace("-default_F 100", f"-dump {dump}").split()
    check_failure(tmp_path, args, "wide.dump: truncated dump file")
    r = run_c(args + ["-noprogress"], cwd=tmp_path)
    assert r.returncode == 2, r.stderr


def test_unreadable_source_file(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-sourcefile", "nosources.txt"],
                  "nosources.txt: cannot open")


def test_malformed_source_file(c_binary, tmp_path):
    src = write(tmp_path / "bad_sources.txt", "-10 0 0 1 1e-10\n-10 0.1 zero 1 1e-10\n")
    check_failure(tmp_path, GOOD.split() + ["-sourcefile", src], "bad_sources.txt:2:")


def test_unreadable_mask(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-mask", "nomask.img"], "nomask.img: cannot open")


def test_malformed_mask(c_binary, tmp_path):
    mask = write(tmp_path / "mask.img", "this is not an SMV image\n" * 40)
    check_failure(tmp_path, GOOD.split() + ["-mask", str(mask)], "mask.img:1:")


def test_zero_pixels(c_binary, tmp_path):
    args = GOOD.replace("-detpixels 16", "-detsize 0.02").split()
    check_failure(tmp_path, args, "zero pixels")


def test_non_positive_pixel_size(c_binary, tmp_path):
    args = GOOD.replace("-pixel 0.4", "-pixel 0").split()
    check_failure(tmp_path, args, "option -pixel")


def test_infinite_pixel_size(c_binary, tmp_path):
    args = GOOD.replace("-pixel 0.4", "-pixel inf").split()
    check_failure(tmp_path, args, "option -pixel")


@pytest.mark.parametrize("size", ["nan", "inf", "1e30"])
def test_detector_size_out_of_range(c_binary, tmp_path, size):
    args = GOOD.replace("-detpixels 16", f"-detsize {size}").split()
    check_failure(tmp_path, args, "option -detpixels/-detsize: detector size out of range")


@pytest.mark.parametrize("cell", ["0", "-5 100 100", "100 nan", "100 100 100 90 inf 90"])
def test_cell_without_a_cell_to_give(c_binary, tmp_path, cell):
    """a <= 0 or a non-finite parameter: an error (b, c, angles <= 0 take upstream's defaults,
    tests/c_reference/test_degenerate_input.py)."""
    args = GOOD.replace("-cell 100 100 100 90 90 90", f"-cell {cell}").split()
    check_failure(tmp_path, args, "option -cell")


def test_impossible_cell_angles(c_binary, tmp_path):
    args = GOOD.replace("-cell 100 100 100 90 90 90", "-cell 100 100 100 120 120 120").split()
    check_failure(tmp_path, args, "option -cell")


def test_bad_trace_pixel(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-trace_pixel", "16", "0"], "option -trace_pixel")


def test_bad_carryover_mode(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-phi_carryover_mode", "sometimes"],
                  "option -phi_carryover_mode")


def test_no_structure_factors(c_binary, tmp_path):
    args = GOOD.replace("-default_F 100", "").split()
    check_failure(tmp_path, args, "no structure factors")


def test_unwritable_output_leaves_nothing(c_binary, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    r = run_c(GOOD.split() + ["-floatfile", out / "float.bin",
                              "-intfile", tmp_path / "no_such_dir" / "int.img", "-nonoise",
                              "-noprogress"], cwd=tmp_path)
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "int.img" in r.stderr
    leftovers = [p.name for p in out.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_write_failure_publishes_no_output(c_binary, tmp_path):
    """An output that cannot be created fails the run after other outputs (the dump, the
    float image) were complete: none of them is left behind."""
    hkl = write(tmp_path / "f.hkl", "0 0 1 10.0\n1 0 0 12.5\n")
    out = tmp_path / "out"
    out.mkdir()
    r = run_c(GOOD.split() + ["-hkl", hkl, "-dump", out / "F.dump",
                              "-floatfile", out / "float.bin",
                              "-intfile", tmp_path / "no_such_dir" / "int.img", "-nonoise",
                              "-noprogress"], cwd=tmp_path)
    assert r.returncode == 3, r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert "int.img" in r.stderr
    assert sorted(p.name for p in out.iterdir()) == []


@pytest.mark.parametrize("option", [["-lambda", "0"], ["-energy", "-5"]])
def test_non_positive_wavelength(c_binary, tmp_path, option):
    check_failure(tmp_path, GOOD.split() + option, "option -lambda/-energy")


@pytest.mark.parametrize("value", ["0", "-2", "2.5", "1e2", "three", "", " 3"])
def test_omp_threads_must_be_a_positive_integer(c_binary, tmp_path, value):
    line = check_failure(tmp_path, GOOD.split() + ["-phi_carryover_mode", "c-parity-omp",
                                                   "-omp_threads", value],
                         f"option -omp_threads: value '{value}' is not a positive integer")
    assert line.startswith("nanobragg-ref: error:")


def test_omp_threads_out_of_range(c_binary, tmp_path):
    check_failure(tmp_path, GOOD.split() + ["-phi_carryover_mode", "c-parity-omp",
                                            "-omp_threads", "99999999999"],
                  "option -omp_threads: value '99999999999' is out of range")


@pytest.mark.parametrize("mode", [[], ["-phi_carryover_mode", "spec"],
                                  ["-phi_carryover_mode", "c-parity"]])
def test_omp_threads_without_c_parity_omp_is_a_usage_error(c_binary, tmp_path, mode):
    r = run_c(GOOD.split() + mode + ["-omp_threads", "2", "-noprogress"], cwd=tmp_path)
    assert r.returncode == 2
    assert r.stderr.strip() == ("nanobragg-ref: error: option -omp_threads: needs "
                                "-phi_carryover_mode c-parity-omp")


def test_unknown_carryover_mode_names_the_three_modes(c_binary, tmp_path):
    r = run_c(GOOD.split() + ["-phi_carryover_mode", "omp", "-noprogress"], cwd=tmp_path)
    assert r.returncode == 2
    assert "'spec', 'c-parity' or 'c-parity-omp'" in r.stderr


def test_hkl_line_longer_than_a_buffer_is_read_whole(c_binary, tmp_path):
    """An HKL line is read whole, of any length (upstream's fscanf and the torch engine have no
    line limit): 8 fields on one 4103-byte line are named (was: the line cut at 4095 bytes and
    read as two lines, '2 initialized hkls', exit 0), and a valid line padded past 4096 bytes
    reads as one reflection (was: cut, 'found 3 fields')."""
    long = write(tmp_path / "long.hkl", "1 2 3 4" + " " * 4088 + "5 6 7 8\n")
    check_failure(tmp_path, GOOD.split() + ["-hkl", long], "long.hkl:1: expected 'h k l F'")
    r = run_c(GOOD.split() + ["-hkl", long, "-floatfile", "/dev/null", "-noprogress"],
              cwd=tmp_path)
    assert r.returncode == 2 and "found 8 fields" in r.stderr, r.stderr
    padded = write(tmp_path / "padded.hkl", "1 2 3" + " " * 5000 + "4\n2 2 2 5\n")
    r = run_c(GOOD.split() + ["-hkl", padded, "-floatfile", "/dev/null", "-noprogress"],
              cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 initialized hkls" in r.stdout


@pytest.mark.parametrize("data", [b"1 2 3 4\n\0 5 6 7 8\n", b"1 2 3 4\n5 6 7 8\0\n",
                                  b"1 2 3 4\n5 6\0 7 8\n"])
def test_hkl_line_with_a_nul_byte(c_binary, tmp_path, data):
    """A NUL byte is not text: its line is an error, exit 2, as in the torch engine (where the
    NUL is a field that is not a number). Was: the NUL ended its line silently (exit 0)."""
    (tmp_path / "nul.hkl").write_bytes(data)
    check_failure(tmp_path, GOOD.split() + ["-hkl", "nul.hkl"], "nul.hkl:2: a NUL byte")
    r = run_c(GOOD.split() + ["-hkl", "nul.hkl", "-floatfile", "/dev/null"], cwd=tmp_path)
    assert r.returncode == 2, r.stderr


@pytest.mark.parametrize("option", ["-hkl", "-sourcefile", "-matrix"])
def test_input_file_that_cannot_be_read_is_a_read_error(c_binary, tmp_path, option):
    """A file that opens but cannot be read (a directory: EISDIR) is a read error naming it,
    exit 2, the torch engine's words; was: read as an empty file ('no reflections in HKL
    file', 'no sources', 'matrix file holds 0 of the 9 numbers')."""
    (tmp_path / "folder").mkdir()
    args = GOOD.split() + [option, "folder"]
    if option == "-matrix":
        args = GOOD.replace("-cell 100 100 100 90 90 90", "-matrix folder").split()
    line = check_failure(tmp_path, args, "cannot read folder: Is a directory")
    assert ":0:" not in line
    r = run_c(args + ["-floatfile", "/dev/null"], cwd=tmp_path)
    assert r.returncode == 2, r.stderr

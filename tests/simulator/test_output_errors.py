"""nbsim's outputs that cannot be written: standard output on a full disk, an image option
naming a folder or /dev/full, the dump file. One line naming the option (or standard output)
and the path, exit status 3 (the C reference's I/O error), no traceback, nothing published.
(They were "internal error" tracebacks-in-a-line with exit 1, and a lost console exit 0.)"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from nbsim_testlib import REPO_ROOT

from simulator.cli import main

SMALL = (
    "-cell 100 100 100 90 90 90 -default_F 10 -lambda 1 -distance 100 -detpixels 8 -pixel 0.4 "
    "-N 3 -noprogress -seed 1"
).split()


def run_cli(args, cwd, stdout):
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
    )


@pytest.mark.parametrize("extra", [[], ["-trace_pixel", "2", "3"], ["-h"]])
def test_stdout_on_a_full_disk(extra, tmp_path):
    args = ["-h"] if extra == ["-h"] else SMALL + ["-floatfile", "f.bin", *extra]
    with open("/dev/full", "w") as full:
        proc = run_cli(args, tmp_path, full)
    assert proc.returncode == 3
    assert proc.stderr == "nbsim: standard output: write error (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []  # the image is not published either


@pytest.mark.parametrize("option", ["-floatfile", "-intfile", "-pgmfile", "-noisefile"])
def test_image_on_a_full_disk(option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    other = "-intfile" if option != "-intfile" else "-floatfile"
    assert main(SMALL + [option, "/dev/full", other, "other.img"]) == 3
    err = capsys.readouterr().err
    assert err == f"nbsim: option {option}: cannot write '/dev/full' (No space left on device)\n"
    assert list(tmp_path.iterdir()) == []  # the other output is not published, no temp file


@pytest.mark.parametrize("option", ["-floatfile", "-intfile", "-pgmfile", "-noisefile"])
@pytest.mark.parametrize("name", ["folder", "folder/"])
def test_image_into_a_folder(option, name, tmp_path, monkeypatch, capsys):
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    assert main(SMALL + [option, name]) == 3
    err = capsys.readouterr().err
    assert err == f"nbsim: option {option}: cannot write '{name}' (Is a directory)\n"
    assert list((tmp_path / "folder").iterdir()) == []


def test_dump_on_a_full_disk(tmp_path, monkeypatch, capsys):
    (tmp_path / "F.hkl").write_text("0 0 0 10\n1 0 0 5\n")
    monkeypatch.chdir(tmp_path)
    args = [a for a in SMALL if a not in ("-default_F", "10")]
    assert main(args + ["-hkl", "F.hkl", "-dump", "/dev/full"]) == 3
    err = capsys.readouterr().err
    assert err == "nbsim: option -dump: cannot write '/dev/full' (No space left on device)\n"


@pytest.mark.parametrize(
    "extra, status",
    [
        (["-floatfile", "folder"], 3),  # an output that cannot be written
        (["-sourcefile", "bad.src", "-floatfile", "f.bin"], 2),  # bad input read after the HKL
    ],
)
def test_a_failed_run_leaves_no_dump(extra, status, tmp_path, monkeypatch, capsys):
    """The -dump table is written with the run's other outputs (write_all), not while the
    configuration is built: a run that fails later publishes none of them (it left the dump
    behind; the C reference leaves none)."""
    (tmp_path / "F.hkl").write_text("0 0 0 10\n1 0 0 5\n")
    (tmp_path / "bad.src").write_text("1 2 3\nx_y 1 1\n")
    (tmp_path / "folder").mkdir()
    monkeypatch.chdir(tmp_path)
    args = [a for a in SMALL if a not in ("-default_F", "10")]
    assert main(args + ["-hkl", "F.hkl", "-dump", "d1.bin", *extra]) == status
    assert capsys.readouterr().err.count("\n") == 1
    assert not (tmp_path / "d1.bin").exists() and not (tmp_path / "f.bin").exists()


@pytest.mark.parametrize("extra", [["-floatfile", "f.bin"], ["-trace_pixel", "2", "3"], []])
def test_dump_is_written_with_the_outputs_and_read_back(extra, tmp_path, monkeypatch, capsys):
    """-dump with -hkl writes the table in every successful run (a trace-only run too, as
    nanoBragg), and a run from the dump alone gives the -hkl run's image."""
    import numpy as np

    (tmp_path / "F.hkl").write_text("0 0 0 10\n1 0 0 5\n0 1 -1 7\n")
    monkeypatch.chdir(tmp_path)
    args = [a for a in SMALL if a not in ("-default_F", "10")]
    assert main(args + ["-hkl", "F.hkl", "-dump", "d.bin", *extra]) == 0
    assert (tmp_path / "d.bin").read_bytes().startswith(b"0 1 0 1 -1 0\n\f")
    assert main(args + ["-hkl", "F.hkl", "-floatfile", "a.bin"]) == 0
    assert main(args + ["-dump", "d.bin", "-floatfile", "b.bin"]) == 0
    a, b = (np.fromfile(tmp_path / n, dtype="<f4") for n in ("a.bin", "b.bin"))
    assert a.tobytes() == b.tobytes() and a.max() > 0


@pytest.mark.parametrize(
    "extra, option",
    [
        (["-pixel", "0"], "-pixel"),
        (["-pixel", "0", "-detpixels", "0"], "-pixel"),
        (["-detpixels", "abc"], "-detpixels"),
        (["-detsize", "nan", "-detpixels", "0"], "-detsize"),
    ],
)
def test_bad_sizes_are_one_line_usage_errors(extra, option, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(SMALL + extra + ["-floatfile", "f.bin"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and option in err and "internal error" not in err


def test_an_output_that_is_a_link_stays_a_link(tmp_path, monkeypatch, capsys):
    """The file the link leads to is replaced, the link kept (as the C reference does, and
    nbparity's atomic_write); before, the link itself was replaced by a regular file."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "target.bin").write_bytes(b"old")
    os.symlink("sub/target.bin", "lnk")
    assert main(SMALL + ["-floatfile", "lnk"]) == 0
    assert os.path.islink("lnk") and os.readlink("lnk") == "sub/target.bin"
    assert (tmp_path / "sub" / "target.bin").stat().st_size == 8 * 8 * 4
    assert main(SMALL + ["-floatfile", "plain.bin"]) == 0
    assert (tmp_path / "plain.bin").read_bytes() == (tmp_path / "sub" / "target.bin").read_bytes()
    mask = os.umask(0o022)
    os.umask(mask)
    assert (tmp_path / "plain.bin").stat().st_mode & 0o777 == 0o666 & ~mask  # fopen's mode


def test_a_dangling_link_is_refused_and_left_alone(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    os.symlink("nowhere.bin", "dang")
    assert main(SMALL + ["-floatfile", "dang", "-intfile", "i.img"]) == 3
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["nbsim: option -floatfile: cannot write 'dang' (a dangling symbolic link to "
                   "nowhere.bin)"]
    assert os.readlink("dang") == "nowhere.bin"
    assert sorted(os.listdir()) == ["dang"]  # nothing created, no other output published

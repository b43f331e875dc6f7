"""Outputs that cannot be written: standard output (/dev/full), the trace, every image option
and the dump file, into a folder or onto a full disk (/dev/full). One line on stderr naming
the option (or standard output) and the path, exit status 3, nothing published."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import C_BIN

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built")

ARGS = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
        "-detpixels", "16", "-pixel", "0.4", "-noprogress", "-seed", "1"]


def run(args, cwd, stdout=subprocess.PIPE):
    return subprocess.run([str(C_BIN), *map(str, args)], cwd=cwd, stdout=stdout,
                          stderr=subprocess.PIPE, text=True, timeout=60)


def one_error_line(proc) -> str:
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nanobragg-ref: error: ")
    return lines[0]


@pytest.mark.parametrize("extra", [[], ["-trace_pixel", "3", "4"],
                                   ["-trace_pixel", "3", "4", "-floatfile", "f.bin"]])
def test_stdout_on_a_full_disk(tmp_path, extra):
    """stdout is /dev/full: the run fails (was exit 0, the console lost), and the image it
    would have published is not left behind."""
    with open("/dev/full", "w") as full:
        proc = run(ARGS + ["-floatfile", "f.bin", *extra], tmp_path, stdout=full)
    assert proc.returncode == 3
    assert one_error_line(proc).endswith(
        "standard output: write error (No space left on device)")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["-floatfile", "-intfile", "-pgmfile", "-noisefile"])
def test_image_on_a_full_disk(tmp_path, option):
    (tmp_path / "out").mkdir()
    keep = tmp_path / "out" / "other.img"
    other = "-intfile" if option != "-intfile" else "-floatfile"
    proc = run(ARGS + [option, "/dev/full", other, keep], tmp_path)
    assert proc.returncode == 3
    assert one_error_line(proc).endswith(
        f"option {option}: cannot write '/dev/full' (No space left on device)")
    assert list((tmp_path / "out").iterdir()) == []  # no other output, no temporary file


@pytest.mark.parametrize("option", ["-floatfile", "-intfile", "-pgmfile", "-noisefile"])
@pytest.mark.parametrize("name", ["folder", "folder/"])
def test_image_into_a_folder(tmp_path, option, name):
    (tmp_path / "folder").mkdir()
    proc = run(ARGS + [option, name], tmp_path)
    assert proc.returncode == 3
    assert one_error_line(proc).endswith(f"option {option}: cannot write '{name}' (Is a directory)")
    assert list((tmp_path / "folder").iterdir()) == []


def test_dump_on_a_full_disk(tmp_path):
    (tmp_path / "F.hkl").write_text("0 0 0 10\n1 0 0 5\n")
    args = [a for a in ARGS if a not in ("-default_F", "100")]
    proc = run(args + ["-hkl", "F.hkl", "-dump", "/dev/full"], tmp_path)
    assert proc.returncode == 3
    assert one_error_line(proc).endswith(
        "option -dump: cannot write '/dev/full' (No space left on device)")


def test_smv_header_to_a_fifo_is_padded(tmp_path):
    """The SMV header is padded in memory: a FIFO (no file position) gets the 512 bytes a
    regular file gets (the padding used to rely on ftell, which fails on a FIFO)."""
    import os
    import threading

    fifo = tmp_path / "int.fifo"
    os.mkfifo(fifo)
    got = {}
    reader = threading.Thread(target=lambda: got.update(data=open(fifo, "rb").read()))
    reader.start()
    assert run(ARGS + ["-intfile", fifo, "-nonoise"], tmp_path).returncode == 0
    reader.join(timeout=60)
    assert run(ARGS + ["-intfile", "int.img", "-nonoise"], tmp_path).returncode == 0
    assert got["data"] == (tmp_path / "int.img").read_bytes()

"""Output files that are not regular files (/dev/null, a FIFO) are written directly.

The atomic writer renames a temporary file onto its target; onto ``/dev/null`` that would replace
the device with a regular file. A FIFO stands in for the device here (it is safe to test).
"""

from __future__ import annotations

import os
import stat
import threading

import numpy as np
import pytest

from .conftest import C_BIN, run_c

ARGS = ["-cell", "100", "100", "100", "90", "90", "90", "-default_F", "100", "-N", "5",
        "-detpixels", "16", "-noprogress"]

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built")


def test_fifo_target_is_written_directly(tmp_path):
    fifo = tmp_path / "image.fifo"
    os.mkfifo(fifo)
    received = {}

    def reader():
        with open(fifo, "rb") as f:
            received["data"] = f.read()

    t = threading.Thread(target=reader)
    t.start()
    run = run_c([*ARGS, "-floatfile", fifo], cwd=tmp_path, timeout=60)
    t.join(timeout=60)
    assert run.returncode == 0, run.stderr
    assert stat.S_ISFIFO(os.stat(fifo).st_mode), "the FIFO was replaced by a regular file"
    # the same bytes as a regular file gets
    regular = tmp_path / "image.bin"
    assert run_c([*ARGS, "-floatfile", regular], cwd=tmp_path).returncode == 0
    assert received["data"] == regular.read_bytes()
    assert np.frombuffer(received["data"], dtype=np.float32).size == 16 * 16
    # no temporary file left behind
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.bin", "image.fifo"]


def test_dev_null_stays_a_device(tmp_path):
    before = os.stat("/dev/null")
    assert stat.S_ISCHR(before.st_mode)
    # never risk the machine's /dev/null with a build that would replace a FIFO
    probe = tmp_path / "probe.fifo"
    os.mkfifo(probe)
    t = threading.Thread(target=lambda: open(probe, "rb").read())
    t.start()
    run_c([*ARGS, "-floatfile", probe], cwd=tmp_path, timeout=60)
    t.join(timeout=60)
    if not stat.S_ISFIFO(os.stat(probe).st_mode):
        pytest.fail("a FIFO target was replaced; not running the /dev/null check")
    run = run_c([*ARGS, "-floatfile", "/dev/null", "-intfile", "/dev/null"], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def regular_image(tmp_path, option="-floatfile"):
    """the bytes a plain regular file receives"""
    plain = tmp_path / "plain" / "image"
    plain.parent.mkdir(exist_ok=True)
    run = run_c([*ARGS, option, plain], cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    data = plain.read_bytes()
    plain.unlink()
    plain.parent.rmdir()
    return data


@pytest.mark.parametrize("option", ["-floatfile", "-intfile"])
def test_symbolic_link_stays_a_link(c_binary, tmp_path, option):
    """An output that is a symbolic link is written through: the link stays a link and the file
    it leads to is replaced (atomically, its temporary file beside it), as nbparity's
    atomic_write does. Was: the link itself was replaced by a regular file, its target kept
    the old bytes."""
    expected = regular_image(tmp_path, option)
    (tmp_path / "data").mkdir()
    target = tmp_path / "data" / "target.bin"
    target.write_bytes(b"old")
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "image"
    link.symlink_to("../data/target.bin")  # relative to the link's folder, not the cwd
    chain = tmp_path / "chain"
    chain.symlink_to("links/image")
    for name in (link, chain):
        target.write_bytes(b"old")
        run = run_c([*ARGS, option, name], cwd=tmp_path)
        assert run.returncode == 0, run.stderr
        assert link.is_symlink() and chain.is_symlink()
        assert os.readlink(link) == "../data/target.bin"
        assert target.read_bytes() == expected
    # no temporary file left beside the link or the target
    assert [p.name for p in (tmp_path / "links").iterdir()] == ["image"]
    assert [p.name for p in (tmp_path / "data").iterdir()] == ["target.bin"]


def test_dangling_link_is_refused_and_left_alone(c_binary, tmp_path):
    """A dangling link is refused, one line, exit 3 (an output error), the link untouched and
    nothing created where it points; no other output of the run is published (nbparity's
    atomic_write refuses it the same way). Was: the link was replaced by a regular file."""
    dangling = tmp_path / "image.bin"
    dangling.symlink_to("nowhere/target.bin")
    (tmp_path / "nowhere").mkdir()
    run = run_c([*ARGS, "-intfile", "int.img", "-floatfile", dangling], cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert "option -floatfile" in lines[0] and "dangling symbolic link" in lines[0]
    assert str(dangling) in lines[0]
    assert dangling.is_symlink() and os.readlink(dangling) == "nowhere/target.bin"
    assert list((tmp_path / "nowhere").iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["image.bin", "nowhere"]


def test_link_loop_is_refused(c_binary, tmp_path):
    loop = tmp_path / "loop"
    loop.symlink_to("loop")
    run = run_c([*ARGS, "-floatfile", "loop"], cwd=tmp_path)
    assert run.returncode == 3, run.stderr
    assert len(run.stderr.strip().splitlines()) == 1, run.stderr
    assert "cannot write 'loop'" in run.stderr
    assert loop.is_symlink()
    assert [p.name for p in tmp_path.iterdir()] == ["loop"]

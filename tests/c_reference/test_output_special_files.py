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

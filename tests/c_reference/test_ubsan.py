"""The C reference built with UndefinedBehaviorSanitizer: inputs that once reached undefined
behaviour (a signed overflow) run clean. Skipped where the compiler has no -fsanitize=undefined."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from .conftest import C_DIR

BASE = ("-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels 16 "
        "-floatfile /dev/null").split()
FLAGS = ["-std=c99", "-O1", "-ffp-contract=off", "-fsanitize=undefined",
         "-fno-sanitize-recover=undefined"]


@pytest.fixture(scope="module")
def ubsan_binary(tmp_path_factory):
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler")
    folder = tmp_path_factory.mktemp("ubsan")
    probe = folder / "probe.c"
    probe.write_text("int main(void) { return 0; }\n")
    if subprocess.run([cc, *FLAGS, str(probe), "-o", str(folder / "probe")],
                      capture_output=True).returncode != 0:
        pytest.skip("the compiler has no -fsanitize=undefined")
    binary = folder / "nanobragg-ref-ubsan"
    sources = sorted(str(p) for p in (C_DIR / "src").glob("*.c"))
    r = subprocess.run([cc, *FLAGS, *sources, "-lm", "-o", str(binary)], capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    return binary


@pytest.mark.parametrize("roi", ["0 2147483647 0 2147483647", "0 2147483647 0 0",
                                 "0 0 0 2147483647", "2147483647 0 2147483647 0"])
def test_roi_reaching_int_max_has_no_overflow(ubsan_binary, roi):
    """The progress meter's pixel count, (xmax - xmin + 1) * (ymax - ymin + 1), was computed in
    int: -roi 0 2147483647 ... overflowed (src/main.c:146, 'signed integer overflow:
    2147483647 + 1'). It is counted in long long now, the region as given (as upstream and the
    torch engine count it): one '0% done' line, the image rendered, exit 0."""
    proc = subprocess.run([str(ubsan_binary), *BASE, "-roi", *roi.split()],
                          capture_output=True, text=True, timeout=120)
    assert "runtime error" not in proc.stderr, proc.stderr
    assert proc.returncode == 0, proc.stderr
    inverted = roi.startswith("2147483647")
    assert proc.stdout.count("% done") == (0 if inverted else 1), proc.stdout

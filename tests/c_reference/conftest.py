"""Fixtures for the C reference engine: build it once, run it, cache the upstream-case runs."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from nbparity.cases import read_float_image, upstream_cases
from nbparity.engines import strip_output_options

REPO_ROOT = Path(__file__).resolve().parents[2]
C_DIR = REPO_ROOT / "c_reference"
C_BIN = C_DIR / "build" / "nanobragg-ref"

# Tests choose their own outputs: a case's output-file options are dropped first.
strip_outputs = strip_output_options


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str


def run_c(args, cwd=None, timeout=120) -> Run:
    proc = subprocess.run([str(C_BIN), *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout)
    return Run(proc.returncode, proc.stdout, proc.stderr)


def trace_lines(text: str) -> str:
    return "".join(line + "\n" for line in text.splitlines() if line.startswith("TRACE_"))


@dataclass
class CaseRun:
    case: object
    image: np.ndarray
    stdout: str


CASES = upstream_cases()
CASE_IDS = [c.name for c in CASES]


@pytest.fixture(scope="session")
def case_runs(c_binary, tmp_path_factory) -> dict[str, CaseRun]:
    """Every upstream case run once (full image, its pixels traced), like upstream ran it."""
    out = tmp_path_factory.mktemp("cases")
    runs = {}
    for case in CASES:
        img = out / f"{case.name}.bin"
        args = strip_outputs(case.args) + ["-nopgm", "-noprogress", "-nonoise",
                                           "-floatfile", str(img)]
        for slow, fast in case.pixels:
            args += ["-trace_pixel", slow, fast]
        r = run_c(args, cwd=case.folder)
        assert r.returncode == 0, f"{case.name}: {r.stderr}"
        runs[case.name] = CaseRun(case, read_float_image(img, case.shape), r.stdout)
    return runs


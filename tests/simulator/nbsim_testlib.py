"""Helpers for the torch simulator tests: the public upstream cases, run once per session."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from nbparity.cases import read_float_image, upstream_cases
from nbparity.engines import strip_output_options as strip_outputs  # noqa: F401 (re-export)

REPO_ROOT = Path(__file__).resolve().parents[2]
#: the C reference's binary (``make build``)
C_BIN = REPO_ROOT / "c_reference" / "build" / "nanobragg-ref"


def _upstream_bin():
    """A stock nanoBragg named by NB_C_BIN, or None (our C reference knows -trace_pixel)."""
    path = os.environ.get("NB_C_BIN")
    if not path or not Path(path).is_file():
        return None
    return None if b"-trace_pixel" in Path(path).read_bytes() else path


#: a stock nanoBragg build to check against (NB_C_BIN), or None
UPSTREAM = _upstream_bin()

CASES = {case.name: case for case in upstream_cases()}
CASE_NAMES = sorted(CASES)
CARRYOVER_CASES = ("phi_carryover", "roi_carryover")


@pytest.fixture(scope="session")
def cases():
    return CASES


_RUNS: dict = {}


def run_case(name, *extra, mode="c-parity", dtype="float64"):
    """simulate() of an upstream case (cached per session): (config, result)."""
    import simulator

    key = (name, extra, mode, dtype)
    if key not in _RUNS:
        case = CASES[name]
        argv = strip_outputs(case.args) + ["-phi_carryover_mode", mode, "-dtype", dtype, *extra]
        config = simulator.parse_argv(argv, cwd=case.folder)
        _RUNS[key] = (config, simulator.simulate(config))
    return _RUNS[key]


def golden_image(name):
    case = CASES[name]
    return read_float_image(Path(case.folder) / "float.bin", case.shape)


def same_image(a, b):
    """Equal float32 images: NaN at the same pixels, every other pixel the same bytes."""
    assert a.shape == b.shape
    nan_a, nan_b = np.isnan(a), np.isnan(b)
    np.testing.assert_array_equal(nan_a, nan_b)
    assert a[~nan_a].tobytes() == b[~nan_b].tobytes()

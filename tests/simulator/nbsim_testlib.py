"""Helpers for the torch simulator tests: the public upstream cases, run once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbparity.cases import read_float_image, upstream_cases
from nbparity.engines import strip_output_options as strip_outputs  # noqa: F401 (re-export)

REPO_ROOT = Path(__file__).resolve().parents[2]

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

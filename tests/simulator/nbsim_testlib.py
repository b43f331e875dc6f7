"""Helpers for the torch simulator tests: the public upstream cases, run once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbparity.cases import read_float_image, upstream_cases

REPO_ROOT = Path(__file__).resolve().parents[2]

# options naming output files in a case's arguments (tests choose their own outputs)
OUTPUT_OPTIONS = {
    "-floatfile",
    "-intfile",
    "-noisefile",
    "-pgmfile",
    "-floatimage",
    "-intimage",
    "-noiseimage",
    "-pgmimage",
}


def strip_outputs(args) -> list:
    out, i, args = [], 0, list(args)
    while i < len(args):
        if args[i] in OUTPUT_OPTIONS:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out


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

"""Differential fuzzing: the configuration generator, and a fixed-seed batch through both
engines (CI's share of `make fuzz`)."""

from __future__ import annotations

import random
import shlex
import tomllib

import pytest

from nbparity.cases import detector_shape
from nbparity.fuzz import case_toml, draw_case, fuzz

CI_BATCH = 60
CI_SEED = 20261121


def test_draws_are_reproducible_and_valid():
    first = [draw_case(random.Random(5), i) for i in range(1)]
    again = [draw_case(random.Random(5), i) for i in range(1)]
    assert first == again
    rng = random.Random(11)
    conventions = set()
    for i in range(300):
        case = draw_case(rng, i)
        assert detector_shape(case.args) == case.shape
        assert 2 <= len(case.pixels) <= 3
        for s, f in case.pixels:
            assert 0 <= s < case.shape[0] and 0 <= f < case.shape[1]
        conventions |= {a for a in case.args if a in ("-mosflm", "-xds", "-dials", "-adxv",
                                                      "-denzo", "-fdet_vector")}
    assert len(conventions) == 6  # every convention, CUSTOM included, gets drawn


def test_a_finding_is_a_ready_to_run_case_entry():
    case = draw_case(random.Random(3), 7)
    entry = tomllib.loads(case_toml(case, note="spec: first divergence somewhere"))["case"][0]
    assert entry["name"] == "fuzz_00007" and entry["folder"] == "default"
    assert tuple(shlex.split(entry["args"])) == case.args
    assert [tuple(p) for p in entry["pixels"]] == list(case.pixels)


def test_fixed_seed_batch_has_no_divergence(c_binary):
    runs, findings = fuzz(CI_BATCH, CI_SEED, str(c_binary))
    assert runs == CI_BATCH >= 50
    if findings:
        pytest.fail(f"{len(findings)} of {runs} random configurations diverged:\n\n"
                    + "\n".join(f.toml() for f in findings), pytrace=False)

"""The configuration generator of parity campaigns (nbparity.generate): a pure function of
(seed, index), valid case entries, every option family, and a batch at parity."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest

import simulator.cli
from nbparity.cases import detector_shape, load_cases
from nbparity.engines import EngineOptions, resolve_engine
from nbparity.generate import COVERAGE, LEFT_OUT, MAX_SIDE, MODES, draw, draw_case
from nbparity.shrink import case_entry, is_option

SEED = 20261203


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir()) if p.is_file()}


def test_a_draw_is_a_pure_function_of_seed_and_index(tmp_path):
    forward = [draw_case(SEED, i, tmp_path / "a") for i in range(24)]
    backward = [draw_case(SEED, i, tmp_path / "b") for i in reversed(range(24))][::-1]
    assert [(c.args, c.pixels, c.shape, m) for c, m in forward] == \
        [(c.args, c.pixels, c.shape, m) for c, m in backward]
    assert _files(tmp_path / "a") == _files(tmp_path / "b")  # the same input files, too
    again = draw_case(SEED, 7, tmp_path / "a")  # drawn again over its own files
    assert again == forward[7]
    # a fresh process (another worker) draws the same configurations and files
    code = ("import json, sys; from pathlib import Path; from nbparity.generate import draw; "
            f"print(json.dumps([[list(d.case.args), d.case.pixels, d.mode, d.dtype] for d in "
            f"(draw({SEED}, i, Path(sys.argv[1])) for i in (3, 11, 19))]))")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "c")], capture_output=True,
                         text=True, check=True).stdout
    mine = [[list(d.case.args), [list(p) for p in d.case.pixels], d.mode, d.dtype]
            for d in (draw(SEED, i, tmp_path / "a") for i in (3, 11, 19))]
    assert json.loads(out) == mine
    for name, content in _files(tmp_path / "c").items():
        assert (tmp_path / "a" / name).read_bytes() == content


def test_different_indices_and_seeds_differ(tmp_path):
    args = [draw_case(SEED, i, tmp_path)[0].args for i in range(60)]
    assert len(set(args)) == 60
    assert draw_case(SEED + 1, 0, tmp_path)[0].args != args[0]
    names = [draw_case(SEED, i, tmp_path)[0].name for i in range(3)]
    assert len(set(names)) == 3


def test_every_generated_case_loads_as_a_case_entry(tmp_path):
    entries, drawn = [], []
    for i in range(40):
        case, mode = draw_case(SEED, i, tmp_path / "inputs")
        assert mode in MODES
        assert detector_shape(case.args) == case.shape and max(case.shape) <= MAX_SIDE
        assert 1 <= len(case.pixels) <= 3
        entries.append(case_entry(case, f"{mode}: drawn"))
        drawn.append(case)
    path = tmp_path / "cases.toml"
    path.write_text("\n".join(entries))
    loaded = load_cases(path)
    assert [(c.name, c.args, c.pixels, c.shape) for c in loaded] == \
        [(c.name, c.args, c.pixels, c.shape) for c in drawn]
    assert all(c.folder.resolve() == (tmp_path / "inputs").resolve() for c in loaded)


def _c_options(repo_root) -> set[str]:
    """The option names the C reference's parser compares tokens with."""
    text = (repo_root / "c_reference" / "src" / "options.c").read_text()
    return set(re.findall(r'"(-[A-Za-z0-9_]+)"', text))


def test_every_option_family_is_drawn_and_every_option_accounted_for(tmp_path, repo_root):
    covered = {option for options in COVERAGE.values() for option in options}
    assert not covered & set(LEFT_OUT)
    # every option of both engines is drawn or left out with a reason
    assert set(simulator.cli._OPTS) - covered - set(LEFT_OUT) == set()
    assert _c_options(repo_root) - covered - set(LEFT_OUT) == set()
    seen, dtypes, modes = set(), set(), set()
    for i in range(300):
        drawn = draw(SEED, i, tmp_path)
        seen |= {token for token in drawn.case.args if is_option(token)}
        dtypes.add(drawn.dtype)
        modes.add(drawn.mode)
    for family, options in COVERAGE.items():
        missing = set(options) - seen
        assert not missing, f"family {family!r}: never drawn: {sorted(missing)}"
    assert seen <= covered  # nothing drawn that the coverage list does not name
    assert dtypes == {"float32", "float64"} and modes == set(MODES)


@pytest.fixture(scope="module")
def engines(c_binary):
    options = EngineOptions(c_bin=str(c_binary))
    return (resolve_engine("c-ref", options, "--reference"),
            resolve_engine("nbsim", options, "--candidate"))


def test_a_generated_batch_is_at_parity(engines, tmp_path):
    from nbparity.verdict import evaluate

    reference, candidate = engines
    failures = []
    for i in range(8):
        case, mode = draw_case(SEED, i, tmp_path)
        verdict = evaluate(case, mode, reference, candidate, level="trace")
        assert verdict.level == "trace"
        if verdict.exit_code != 0:
            failures.append(case_entry(case, f"{mode}: {verdict.signature}: {verdict.message}"))
    assert not failures, "\n".join(failures)

"""Shrinking failing configurations (nbparity.shrink) and signing them (nbparity.verdict): a
synthetic predicate, the evaluation budget, case entries, and a fault injected into the torch
engine found in a generated configuration, shrunk, and named."""

from __future__ import annotations

import dataclasses

import pytest

import simulator.cli
from nbparity.cases import load_cases
from nbparity.engines import EngineOptions, resolve_engine
from nbparity.generate import draw_case
from nbparity.shrink import (
    DETECTOR_SIZE_OPTIONS,
    case_entry,
    finding_class,
    is_option,
    minimal_signature,
    option_groups,
    shrink,
    simpler_values,
)
from nbparity.verdict import Verdict, evaluate, normalise

SEED = 20261204


def _options(case) -> set[str]:
    return {token for token in case.args if is_option(token)}


def _first_draw_with(*options: str, tmp_path, seed: int = SEED):
    for index in range(500):
        case, mode = draw_case(seed, index, tmp_path)
        if all(o in case.args for o in options):
            return case, mode
    raise AssertionError(f"no draw with {options}")


def test_option_groups_split_values_from_options():
    args = ["-misset", "-5", "2.5", "-1e3", "-4stol", "t.stol", "-misset", "random", "-nopolar",
            "-roi", "0", "3", "1", "4"]
    assert option_groups(args) == [("-misset", "-5", "2.5", "-1e3"), ("-4stol", "t.stol"),
                                   ("-misset", "random"), ("-nopolar",),
                                   ("-roi", "0", "3", "1", "4")]
    assert is_option("-N") and is_option("-4stol") and not is_option("-5") and \
        not is_option("-.5") and not is_option("12")


def test_simpler_values_are_simpler():
    assert simpler_values("37.42") == ["0", "1", "37"]
    assert simpler_values("0") == ["1"]
    assert simpler_values("-88.31") == ["0", "1", "-90", "-88"]
    assert simpler_values("beam") == []
    for value in ("0.4246", "129672", "2.5977e-05", "-63.85"):
        assert value not in simpler_values(value)


def test_synthetic_predicate_keeps_only_what_it_needs(tmp_path):
    case, mode = _first_draw_with("-twotheta", "-polar", tmp_path=tmp_path)
    assert len(option_groups(case.args)) > 10
    asked = []

    def fails(candidate, pairing):
        asked.append(candidate)
        assert pairing == mode
        return "-twotheta" in candidate.args and "-polar" in candidate.args

    minimal, evaluations = shrink(case, mode, fails)
    assert evaluations == len(asked) <= 120
    assert fails(minimal, mode)
    assert _options(minimal) - DETECTOR_SIZE_OPTIONS == {"-twotheta", "-polar"}
    assert minimal_signature(minimal) == "-polar -twotheta"
    assert len(minimal.pixels) == 1
    s, f = minimal.pixels[0]
    assert 0 <= s < minimal.shape[0] and 0 <= f < minimal.shape[1]
    assert max(minimal.shape) <= max(case.shape)


def test_shrink_stays_within_its_budget(tmp_path):
    case, mode = draw_case(SEED, 0, tmp_path)
    asked = []
    minimal, evaluations = shrink(case, mode, lambda c, m: asked.append(c) or True,
                                  max_evaluations=5)
    assert evaluations == len(asked) == 5
    assert len(option_groups(minimal.args)) < len(option_groups(case.args))


def test_a_minimal_case_entry_loads(tmp_path):
    case, mode = _first_draw_with("-hkl", tmp_path=tmp_path / "inputs")
    minimal, _ = shrink(case, mode, lambda c, m: "-hkl" in c.args and "-cell" in c.args)
    entry = case_entry(minimal, "spec: trace:phi/F_cell:unexplained\nshrunk")
    path = tmp_path / "found.toml"
    path.write_text(entry)
    (loaded,) = load_cases(path)
    assert (loaded.name, loaded.args, loaded.pixels, loaded.shape) == \
        (minimal.name, minimal.args, minimal.pixels, minimal.shape)
    assert (loaded.folder / dict(zip(loaded.args, loaded.args[1:]))["-hkl"]).is_file()
    assert entry.startswith("# spec: trace:phi/F_cell:unexplained\n# shrunk\n[[case]]")
    assert '"hkl:' in entry  # the input files it needs, for people


def test_normalised_messages_drop_what_varies():
    a = normalise("C engine exited with status 2: nanobragg-ref: error: /tmp/x/g1_00003.mask.img: "
                  "mask is 12 x 14 pixels but the detector is 20 x 20")
    b = normalise("C engine exited with status 2: progress | nanobragg-ref: error: "
                  "/other/g9_00077.mask.img: mask is 8 x 9 pixels but the detector is 31 x 4")
    assert a == b == "<path>: mask is # x # pixels but the detector is # x #"
    assert normalise("torch engine rejected its input: bad value for -N: '2.5' (an integer "
                     "is needed)") == "bad value for -N: '…' (an integer is needed)"
    assert normalise("C engine exited with status 2: nanobragg-ref: error: unknown option "
                     "'-curved_detector'") == "unknown option '-curved_detector'"


@pytest.fixture(scope="module")
def engines(c_binary):
    options = EngineOptions(c_bin=str(c_binary))
    return (resolve_engine("c-ref", options, "--reference"),
            resolve_engine("nbsim", options, "--candidate"))


def test_one_engine_failure_on_two_configurations_is_one_signature(engines, tmp_path):
    reference, candidate = engines
    signatures = set()
    for index in (0, 1):
        case, mode = draw_case(SEED, index, tmp_path)
        broken = dataclasses.replace(case, args=(*case.args, "-no_such_option"))
        verdict = evaluate(broken, mode, reference, candidate)
        assert verdict.exit_code == 4 and verdict.key is None
        signatures.add(verdict.signature)
        swapped = evaluate(broken, mode, candidate, reference)  # the torch engine fails first
        assert swapped.signature.startswith("engine:reference:unknown option")
    assert signatures == {"engine:reference:unknown option '-no_such_option'"}


def _flip_polar_vector_when_polar_is_given(monkeypatch):
    """The injected fault: the torch engine's polarization plane normal comes out sign-flipped
    when -polar is on the command line (the Kahn factor does not change: only the vector)."""
    original = simulator.cli.parse_argv

    def faulty(argv, cwd=None):
        config = original(argv, cwd)
        if "-polar" not in argv:
            return config
        beam = config.beam
        flipped = tuple(-v for v in beam.polar_vector)
        return dataclasses.replace(config, beam=dataclasses.replace(beam, polar_vector=flipped))

    monkeypatch.setattr(simulator.cli, "parse_argv", faulty)


def test_an_injected_fault_is_found_shrunk_and_named(engines, tmp_path, monkeypatch):
    reference, candidate = engines
    _flip_polar_vector_when_polar_is_given(monkeypatch)
    verdict = None
    for index in range(60):  # the first generated configuration the fault shows in
        case, mode = draw_case(SEED, index, tmp_path)
        verdict = evaluate(case, mode, reference, candidate)
        if verdict.exit_code != 0:
            break
    assert "-polar" in case.args, "a configuration without -polar diverged"
    assert verdict.signature == "trace:setup/polar_vec:sign-flip"
    assert verdict.key == "polar_vec" and "sign flip" in verdict.diagnosis
    assert verdict.worst_rel == pytest.approx(2.0)

    def fails_same_way(candidate_case, pairing):
        return evaluate(candidate_case, pairing, reference, candidate).signature == \
            verdict.signature

    minimal, evaluations = shrink(case, mode, fails_same_way)
    assert 0 < evaluations <= 120
    # Counted honestly: every option group of the minimal case except the detector size
    # (-detpixels N, which every case keeps) counts; the traced pixel is no option.
    needed = _options(minimal) - DETECTOR_SIZE_OPTIONS
    assert "-polar" in needed and len(needed) <= 3, minimal.args
    assert len(minimal.pixels) == 1 and max(minimal.shape) <= max(case.shape)
    again = evaluate(minimal, mode, reference, candidate)
    assert (again.signature, again.key) == (verdict.signature, "polar_vec")
    assert finding_class(again, minimal) == \
        f"trace:setup/polar_vec:sign-flip | {minimal_signature(minimal)}"
    monkeypatch.undo()  # without the fault, the minimal case is at parity
    assert evaluate(minimal, mode, reference, candidate).signature == "parity"


def test_a_verdict_at_parity(engines, tmp_path):
    reference, candidate = engines
    case, mode = draw_case(SEED, 2, tmp_path)
    verdict = evaluate(case, mode, reference, candidate, level="trace")
    assert isinstance(verdict, Verdict)
    assert (verdict.exit_code, verdict.signature, verdict.level) == (0, "parity", "trace")
    assert verdict.seconds > 0 and verdict.worst_rel is not None and verdict.worst_rel < 1e-6


def test_image_level_verdicts(engines, tmp_path, monkeypatch):
    import nbparity.verdict

    reference, candidate = engines
    for index in range(20):  # a configuration whose image is not all zero
        case, mode = draw_case(SEED, index, tmp_path)
        verdict = evaluate(case, mode, reference, candidate, level="image")
        if verdict.signature != "image:nothing-to-compare":
            break
    assert (verdict.exit_code, verdict.level, verdict.signature) == (0, "image", "parity")
    # an engine that cannot trace (an image-only profile) is compared by images under "auto"
    monkeypatch.setattr(nbparity.verdict, "can_trace", lambda engine: engine is reference)
    assert evaluate(case, mode, reference, candidate).level == "image"
    monkeypatch.undo()
    original = simulator.cli.parse_argv

    def brighter(argv, cwd=None):  # the fault: 1% more photons
        config = original(argv, cwd)
        beam = config.beam
        return dataclasses.replace(config, beam=dataclasses.replace(beam,
                                                                    fluence=beam.fluence * 1.01))

    monkeypatch.setattr(simulator.cli, "parse_argv", brighter)
    faulty = evaluate(case, mode, reference, candidate, level="image")
    assert (faulty.exit_code, faulty.signature) == (1, "image:rel-error")
    assert faulty.worst_rel == pytest.approx(0.01, rel=1e-3)
    broken = dataclasses.replace(case, args=(*case.args, "-no_such_option"))
    for first, second in ((reference, candidate), (candidate, reference)):
        failed = evaluate(broken, mode, first, second, level="image")
        assert failed.exit_code == 4 and failed.signature.startswith(
            "engine:reference:unknown option")


def test_a_candidate_crash_is_signed_as_the_candidates(engines, tmp_path, monkeypatch):
    reference, candidate = engines

    def crash(argv, cwd=None):
        raise RuntimeError(f"boom at step {len(argv)} in /tmp/{len(argv)}/x.py")

    monkeypatch.setattr(simulator.cli, "parse_argv", crash)
    signatures = set()
    for index in (0, 1):
        case, mode = draw_case(SEED, index, tmp_path)
        for level in ("trace", "image"):
            verdict = evaluate(case, mode, reference, candidate, level=level)
            assert verdict.exit_code == 4 and verdict.level == level
            signatures.add(verdict.signature)
    assert signatures == {"engine:candidate:torch engine crashed: RuntimeError: boom at step # "
                          "in <path>"}

"""Mutation tests: deliberate faults injected into the torch simulator at test time.

For each fault, `nbparity trace` runs both engines on a φ sweep from 0 (so the carry-over
matters), and the first divergence must name the right key and stage with the right diagnosis.
The faults patch the simulator's own functions, as a real bug in them would behave.
"""

from __future__ import annotations

import dataclasses

import pytest
import torch
from click.testing import CliRunner

import simulator.cli
import simulator.engine
import simulator.steps
from nbparity.cli import cli
from nbparity.compare import compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import parse_trace_file

PIXEL = (33, 21)


def _trace(tmp_path, upstream_dir, *extra):
    out = tmp_path / "bundle"
    result = CliRunner().invoke(cli, [
        "trace", "--args-file", str(upstream_dir / "phi_carryover" / "args.txt"),
        "--pixel", str(PIXEL[0]), str(PIXEL[1]), "--phi-carryover-mode", "c-parity",
        "--out", str(out), *extra])
    comparison = compare_logs(parse_trace_file(out / "c.log"), parse_trace_file(out / "py.log"))
    return result, first_divergences(comparison)


def _root(divergences):
    assert divergences, "the fault went unnoticed"
    return divergences[0]


def test_unmutated_engines_agree(c_binary, tmp_path, upstream_dir):
    result, divergences = _trace(tmp_path, upstream_dir)
    assert result.exit_code == 0, result.output
    assert divergences == []


def test_carryover_switched_off(c_binary, tmp_path, upstream_dir, monkeypatch):
    original = simulator.engine.phi_angles
    monkeypatch.setattr(simulator.engine, "phi_angles",
                        lambda crystal, mode: original(crystal, "spec"))
    result, divergences = _trace(tmp_path, upstream_dir)
    root = _root(divergences)
    assert result.exit_code == 1
    assert (root.record.stage, root.record.key, root.record.phi_tic) == \
        ("phi", "rot_a_angstroms", 0)
    assert any("carry-over" in d and "broken" in d for d in root.diagnosis), root.diagnosis


def test_spindle_sign_flipped(c_binary, tmp_path, upstream_dir, monkeypatch):
    original = simulator.cli.parse_argv

    def flipped(argv, cwd=None):
        config = original(argv, cwd)
        spindle = tuple(-v for v in config.crystal.spindle)
        return dataclasses.replace(config, crystal=dataclasses.replace(config.crystal,
                                                                       spindle=spindle))

    monkeypatch.setattr(simulator.cli, "parse_argv", flipped)
    _, divergences = _trace(tmp_path, upstream_dir)
    root = _root(divergences)
    assert (root.record.stage, root.record.key) == ("setup", "spindle_vec")
    assert any("sign flip" in d for d in root.diagnosis), root.diagnosis
    assert root.propagated > 0  # every rotated vector at φ != 0 follows


def test_half_pixel_beam_centre(c_binary, tmp_path, upstream_dir, monkeypatch):
    original = simulator.engine.detector_setup

    def shifted(det, *args, **kwargs):
        det = dataclasses.replace(det, Fbeam=det.Fbeam + 0.5 * det.pixel_size)
        return original(det, *args, **kwargs)

    monkeypatch.setattr(simulator.engine, "detector_setup", shifted)
    _, divergences = _trace(tmp_path, upstream_dir)
    root = _root(divergences)
    assert (root.record.stage, root.record.key) == ("setup", "pix0_vector_meters")
    # 0.3 mm pixels: the offset is 0.15 mm along the fast axis
    assert any("-0.00015 m along fast" in d and "half-pixel" in d for d in root.diagnosis), \
        root.diagnosis


class _TorchWithCeilMistake:
    """torch, except that ceil is round: simulator.steps.rounded_indices's ceil(h - 0.5) becomes
    round(h - 0.5)."""

    def __getattr__(self, name):
        return getattr(torch, name)

    @staticmethod
    def ceil(x):
        return torch.round(x)


def test_hkl_rounding_mistake(c_binary, tmp_path, upstream_dir, monkeypatch):
    monkeypatch.setattr(simulator.steps, "torch", _TorchWithCeilMistake())
    _, divergences = _trace(tmp_path, upstream_dir)
    root = _root(divergences)
    assert (root.record.stage, root.record.key) == ("phi", "hkl_rounded")
    assert any("rounding rule" in d and "follows round(x - 0.5)" in d for d in root.diagnosis), \
        root.diagnosis


def test_metres_angstrom_slip_in_one_vector(c_binary, tmp_path, upstream_dir, monkeypatch):
    original = simulator.engine.build_cell

    def slipped(*args, **kwargs):
        out = original(*args, **kwargs)
        out["a_m"] = out["a"]  # the a vector in Angstrom used where metres are expected
        return out

    monkeypatch.setattr(simulator.engine, "build_cell", slipped)
    _, divergences = _trace(tmp_path, upstream_dir)
    root = _root(divergences)
    assert (root.record.stage, root.record.key) == ("phi", "rot_a_angstroms")
    assert any("unit factor" in d and "1e10" in d for d in root.diagnosis), root.diagnosis


def test_float32_candidate(c_binary, tmp_path, upstream_dir):
    # under the float32 tolerance (rtol 1e-4 by default for a float32 engine): parity
    result, _ = _trace(tmp_path / "default", upstream_dir, "--dtype", "float32")
    assert result.exit_code == 0, result.output
    assert "rtol 0.0001" in result.output
    # at rtol 1e-6 it fails, but no failure is a root: all are labelled float32 rounding
    result, divergences = _trace(tmp_path / "strict", upstream_dir, "--dtype", "float32",
                                 "--rtol", "1e-6")
    assert result.exit_code == 1
    first = _root(divergences)
    assert all(d.rank == 0 for d in divergences), [d.where() for d in divergences]
    assert first.record.stage in ("phi", "final")
    assert any("float32 rounding" in d for d in first.diagnosis), first.diagnosis
    assert "no root beyond the logs' precision" in result.output
    assert "carry-over" not in result.output  # both sides carry: never the advice


@pytest.mark.parametrize("fault", ["carry-over", "rounding"])
def test_first_divergence_command_prints_the_diagnosis(fault, c_binary, tmp_path, upstream_dir,
                                                        monkeypatch):
    if fault == "carry-over":
        original = simulator.engine.phi_angles
        monkeypatch.setattr(simulator.engine, "phi_angles",
                            lambda crystal, mode: original(crystal, "spec"))
    else:
        monkeypatch.setattr(simulator.steps, "torch", _TorchWithCeilMistake())
    _trace(tmp_path, upstream_dir)
    out = CliRunner().invoke(cli, ["first-divergence", str(tmp_path / "bundle" / "c.log"),
                                   str(tmp_path / "bundle" / "py.log")])
    assert out.exit_code == 1
    assert ("carry-over" if fault == "carry-over" else "rounding rule") in out.output

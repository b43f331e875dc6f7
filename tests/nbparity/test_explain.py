"""nbparity explain: two engines' images of a case compared, the worst pixels traced, the root
named with its diagnosis; Engine.render_image for every engine kind; image_outcome's exit codes.

Faults are injected into the in-process simulator as tests/test_mutations.py does; the detectors
are tiny (24 x 24) so that each test takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
import stat
import textwrap
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

import simulator.engine
from nbparity import exitcodes
from nbparity.cases import case_from_args, read_float_image
from nbparity.cli import cli
from nbparity.engines import EngineError, EngineOptions, is_stock_nanobragg, resolve_engine
from nbparity.explain import ImageOutcome, explain, image_outcome, worst_pixels
from nbparity.profiles import ProfileError, load_profile

ARGS = ["-cell", "50", "60", "70", "90", "90", "90", "-default_F", "100", "-N", "3",
        "-detpixels", "24", "-distance", "50"]


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _case(args=ARGS, folder=None):
    return case_from_args("tiny", folder or Path.cwd(), args, "-- ARGS")


def _engines(reference="c-ref", candidate="nbsim"):
    options = EngineOptions()
    return (resolve_engine(reference, options, "--reference"),
            resolve_engine(candidate, options, "--candidate"))


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def stock_nb(tmp_path, c_binary):
    """A stock-looking nanoBragg: the C reference (which knows -printout_pixel) behind a wrapper
    whose bytes never name -trace_pixel, so engines.is_stock_nanobragg takes it for a stock
    build and traces it through -printout_pixel."""
    script = _script(tmp_path / "nanoBragg", f'exec "{c_binary}" "$@"\n')
    assert is_stock_nanobragg(script) and not is_stock_nanobragg(c_binary)
    return script


@pytest.fixture
def half_pixel_fault(monkeypatch):
    """The simulator's beam centre off by half a pixel along fast."""
    original = simulator.engine.detector_setup

    def shifted(det, *args, **kwargs):
        return original(dataclasses.replace(det, Fbeam=det.Fbeam + 0.5 * det.pixel_size),
                        *args, **kwargs)

    monkeypatch.setattr(simulator.engine, "detector_setup", shifted)


@pytest.fixture
def polarization_fault(monkeypatch):
    """The simulator's polarization factor 0.1% too large."""
    original = simulator.engine.polarization_factor
    monkeypatch.setattr(simulator.engine, "polarization_factor",
                        lambda *args, **kwargs: original(*args, **kwargs) * 1.001)


# --------------------------------------------------------------------------- render_image

def test_render_image_is_the_floatfile_of_every_engine_kind(c_binary, stock_nb, tmp_path,
                                                           monkeypatch):
    # the engine's own -floatfile, written by hand
    direct = tmp_path / "direct.bin"
    import subprocess

    subprocess.run([str(c_binary), *ARGS, "-floatfile", str(direct)], check=True,
                   capture_output=True)
    expected = read_float_image(direct, (24, 24))
    assert expected.max() > 0
    # output options of the case must not land anywhere but the engine's folder
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    args = [*ARGS, "-intfile", "out.img", "-floatfile", "float.bin", "-noisefile", "n.img"]
    for spec in ("c-ref", "nbsim", f"nanobragg:{stock_nb}"):
        engine = resolve_engine(spec, EngineOptions(), "--reference")
        work = tmp_path / f"work-{engine.kind}"
        image = engine.with_mode("c-parity", "candidate").render_image(args, work, elsewhere)
        assert image.dtype == np.float32 and image.shape == (24, 24), spec
        assert image.tobytes() == expected.tobytes(), spec
        assert list(work.iterdir()) == [], spec  # its image is read and removed
    assert list(elsewhere.iterdir()) == []


def test_render_image_reads_inputs_from_the_case_folder(c_binary, tmp_path):
    folder = tmp_path / "case"
    folder.mkdir()
    (folder / "P1.hkl").write_text("0 0 0 10\n1 1 1 100\n1 0 0 50\n0 1 0 40\n0 0 1 30\n")
    args = ["-cell", "50", "60", "70", "90", "90", "90", "-hkl", "P1.hkl", "-N", "3",
            "-detpixels", "24", "-distance", "50", "-dump", "Fdump.bin"]
    reference, candidate = _engines()
    a = reference.render_image(args, tmp_path / "r", folder)
    b = candidate.with_mode("c-parity", "candidate").render_image(args, tmp_path / "c", folder)
    assert np.array_equal(a, b)
    assert sorted(p.name for p in folder.iterdir()) == ["P1.hkl"]  # the dump went elsewhere
    with pytest.raises(EngineError, match="P1.hkl"):
        reference.render_image(args, tmp_path / "r2", tmp_path)  # not there: engine failure


def test_a_profile_renders_its_image_or_says_what_it_needs(tmp_path, c_binary):
    port = tmp_path / "port.toml"
    port.write_text(f'command = ["{c_binary}", "{{args}}"]\nimage = "{{workdir}}/image.bin"\n')
    engine = resolve_engine(str(port), EngineOptions(), "--candidate")
    assert not engine.can_trace  # image-only: its command asks for no pixels
    image = engine.render_image(ARGS, tmp_path / "w")
    reference = resolve_engine("c-ref", EngineOptions(), "--reference")
    assert np.array_equal(image, reference.render_image(ARGS, tmp_path / "r"))
    with pytest.raises(EngineError, match="cannot trace"):
        engine.run(ARGS, [(1, 2)], tmp_path)

    tracing = tmp_path / "tracing.toml"
    tracing.write_text(f'command = ["{c_binary}", "{{args}}", "{{pixels}}"]\n')
    with pytest.raises(EngineError, match="image-level comparison needs 'image'"):
        resolve_engine(str(tracing), EngineOptions(), "--candidate").render_image(
            ARGS, tmp_path / "w2")

    liar = tmp_path / "liar.toml"  # says its image lands where it never writes one
    liar.write_text(f'command = ["{c_binary}", "{{args}}"]\nimage = "elsewhere.bin"\n'
                    f'image_args = []\n')
    with pytest.raises(EngineError, match="wrote no image|holds 0 floats"):
        resolve_engine(str(liar), EngineOptions(), "--candidate").render_image(ARGS, tmp_path)


@pytest.mark.parametrize("text, message", [
    ('image_args = ["-floatfile", "x.bin"]\n', "needs 'image'"),
    ('image = "stdout"\n', "not stdout"),
    ('image = "{pixels}.bin"\n', "placeholder {pixels}"),
    ('image = "{image}.bin"\n', "placeholder {image}"),
    ('image = "a.bin"\nimage_args = ["-floatfile", "{slow}"]\n', "placeholder {slow}"),
    ('image = "a.bin"\nimage_args = "-floatfile"\n', "image_args: a list of strings"),
])
def test_bad_image_fields_are_one_line_profile_errors(tmp_path, text, message):
    profile = tmp_path / "p.toml"
    profile.write_text('command = ["port", "{args}", "{pixels}"]\n' + text)
    with pytest.raises(ProfileError, match=message.replace("{", r"\{").replace("}", r"\}")):
        load_profile(profile)


def test_a_profile_without_pixels_or_image_is_still_refused(tmp_path):
    profile = tmp_path / "p.toml"
    profile.write_text('command = ["port", "{args}"]\n')
    with pytest.raises(ProfileError, match="image-only engine gives 'image'"):
        load_profile(profile)


# --------------------------------------------------------------------------- explain

def test_explain_finds_a_half_pixel_fault_and_names_its_root(c_binary, half_pixel_fault):
    reference, candidate = _engines()
    result = explain(_case(), reference, candidate, "c-parity", n_pixels=2)
    assert result.exit_code == exitcodes.DIVERGED
    assert result.outcome.parity.max_rel > 1e-3
    assert len(result.pixels) == 2 and result.traced
    # the traced pixels are the image's worst
    assert result.pixels == worst_pixels(result.outcome.reference_image,
                                         result.outcome.candidate_image, 2, 1e-6)
    root = result.divergences[0]
    assert (root.record.stage, root.record.key) == ("setup", "pix0_vector_meters")
    assert any("half-pixel" in d and "-5e-05 m along fast" in d for d in root.diagnosis), \
        root.diagnosis
    text = result.render()
    assert "first divergence" in text and "pix0_vector_meters" in text and "DIVERGED" in text
    payload = json.loads(json.dumps(result.to_dict()))
    assert payload["first_divergences"][0]["key"] == "pix0_vector_meters"
    assert payload["exit_code"] == 1 and payload["traced"] is True


def test_explain_of_agreeing_engines_traces_nothing(c_binary):
    reference, candidate = _engines()
    result = explain(_case(), reference, candidate, "c-parity")
    assert result.exit_code == exitcodes.PARITY
    assert result.outcome.parity.max_rel == 0.0
    assert result.pixels == [] and not result.traced and result.divergences == []


def test_explain_against_a_stock_reference_end_to_end(stock_nb, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    same = _run("explain", "--reference", f"nanobragg:{stock_nb}", "--", *ARGS)
    assert same.exit_code == 0, same.output
    assert "PARITY" in same.output and "stock, -printout_pixel" in same.output

    original = simulator.engine.polarization_factor
    monkeypatch.setattr(simulator.engine, "polarization_factor",
                        lambda *args, **kwargs: original(*args, **kwargs) * 1.001)
    png = tmp_path / "explain.png"
    changed = _run("explain", "--reference", f"nanobragg:{stock_nb}", "--pixels", 2,
                   "--png", png, "--", *ARGS)
    assert changed.exit_code == 1, changed.output
    # the printout's "polar" is the polarization factor applied to the pixel
    assert "first divergence" in changed.output and "final/polar_applied" in changed.output
    assert "rel 1.000e-03" in changed.output  # the worst pixels' image values
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    as_json = _run("explain", "--reference", f"nanobragg:{stock_nb}", "--pixels", 1,
                   "--format", "json", "--", *ARGS)
    assert as_json.exit_code == 1
    payload = json.loads(as_json.output)
    assert payload["first_divergences"][0]["key"] == "polar_applied"
    assert payload["image"]["max_rel"] == pytest.approx(1e-3, rel=1e-3)


def test_an_image_only_reference_keeps_the_image_level_result(c_binary, tmp_path,
                                                              polarization_fault):
    port = tmp_path / "port.toml"
    port.write_text(f'command = ["{c_binary}", "{{args}}"]\nimage = "image.bin"\n')
    reference, candidate = _engines(str(port))
    result = explain(_case(), reference, candidate, "c-parity")
    assert result.exit_code == exitcodes.DIVERGED and not result.traced
    assert "cannot trace" in result.note and len(result.pixels) == 3
    assert "cannot trace" in result.render()


# --------------------------------------------------------------------------- exit codes

def test_image_outcome_exit_codes_3_and_4(c_binary, tmp_path):
    reference, candidate = _engines()
    dark = image_outcome(_case([*ARGS, "-fluence", "0"]), reference, candidate, "spec")
    assert isinstance(dark, ImageOutcome)
    assert dark.exit_code == exitcodes.STRUCTURAL and "nothing to compare" in dark.message
    assert not dark.reference_image.any()

    broken = _script(tmp_path / "broken-ref", 'echo "segfault in -trace_pixel land" >&2\n'
                                              'exit 7\n')
    failing = resolve_engine(f"c-ref:{broken}", EngineOptions(), "--reference")
    failed = image_outcome(_case(), failing, candidate, "spec")
    assert failed.exit_code == exitcodes.ENGINE_FAILED and failed.parity is None
    assert "status 7" in failed.message and "segfault" in failed.message
    assert failed.reference_image is None

    result = _run("explain", "--reference", f"c-ref:{broken}", "--", *ARGS)
    assert result.exit_code == 4
    assert result.output.count("nbparity explain: error:") == 1
    assert "Traceback" not in result.output


def test_explain_usage_errors_are_one_line(tmp_path):
    result = _run("explain", "--pixels", 0, "--", *ARGS)
    assert result.exit_code == 2 and "Traceback" not in result.output
    folder = _run("explain", "--png", tmp_path, "--", *ARGS)
    assert folder.exit_code == 2 and "directory" in folder.output
    bad = _run("explain", "--", "-trace_pixel", "1", "2", *ARGS)
    assert bad.exit_code == 2 and "not allowed" in bad.output


def test_gate_compares_image_by_image_when_an_engine_cannot_trace(tmp_path, c_binary):
    """A port that only writes an image still runs through the gate: image-level parity, and a
    fault in it is a divergence (exit 1), not an engine failure."""
    port = tmp_path / "port.toml"
    port.write_text(f'command = ["{c_binary}", "{{args}}"]\nimage = "{{workdir}}/image.bin"\n')
    cases = tmp_path / "cases.toml"
    args = " ".join(ARGS)
    cases.write_text(f'[[case]]\nname = "tiny"\nargs = "{args}"\npixels = [[12, 12]]\n'
                     f'[[case]]\nname = "brighter"\nargs = "{args}"\npixels = [[12, 12]]\n')
    same = _run("gate", cases, "-k", "tiny", "--candidate", port, "--no-determinism")
    assert same.exit_code == 0, same.output
    assert "image-level (an engine cannot trace)" in same.output
    faulty = tmp_path / "faulty.toml"  # the port reads the fluence wrong: brighter images
    faulty.write_text(f'command = ["{c_binary}", "{{args}}", "-fluence", "1.01e24"]\n'
                      f'image = "{{workdir}}/image.bin"\n')
    brighter = _run("gate", cases, "-k", "brighter", "--reference", port, "--candidate",
                    faulty, "--no-determinism")
    assert brighter.exit_code == 1, brighter.output
    assert "image-level (an engine cannot trace): 544 pixels compared" in brighter.output
    assert "above rtol 1e-06" in brighter.output

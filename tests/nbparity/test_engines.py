"""Engines as plug-ins: --reference/--candidate, stock nanoBragg builds, engine profiles, and the
fake port of tests/fake_port/ end to end (the README's worked example)."""

from __future__ import annotations

import json
import re
import stat
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.engines import EngineOptions, is_stock_nanobragg, resolve_engine
from nbparity.profiles import ProfileError, expand, load_profile

FAKE_PORT = Path(__file__).resolve().parents[1] / "fake_port"
PROFILE = FAKE_PORT / "fake_port.toml"
README = Path(__file__).resolve().parents[2] / "README.md"
# a small case whose φ sweep starts at 0, so the φ=0 carry-over matters
ARGS = ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "10", "-detpixels", "64",
        "-N", "4", "-phi", "0", "-osc", "1", "-phisteps", "3", "-distance", "100"]


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _script(path: Path, body: str) -> Path:
    path.write_text("#!/bin/sh\n" + textwrap.dedent(body))
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def stock_nb(tmp_path, c_binary):
    """A build that does not know -trace_pixel, as a stock nanoBragg: the C reference behind a
    wrapper whose bytes never name the option (so detection sees a stock build)."""
    return _script(tmp_path / "nanoBragg", f'exec "{c_binary}" "$@"\n')


# --------------------------------------------------------------------------- stock builds

def test_stock_build_is_detected_and_read_through_its_printout(stock_nb, c_binary, tmp_path):
    assert is_stock_nanobragg(stock_nb) and not is_stock_nanobragg(c_binary)
    result = _run("trace", "--c-bin", stock_nb, "--pixel", 5, 6, "--pixel", 40, 2,
                  "--phi-carryover-mode", "c-parity", "--out", tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 0, result.output
    assert "PARITY" in result.output and "stock, -printout_pixel" in result.output
    log = (tmp_path / "b" / "c.log").read_text()
    # one run per pixel, each holding its printout block (fast first, as nanoBragg prints it)
    assert re.search(r"\b6\s+5 : stol = ", log) and re.search(r"\b2\s+40 : stol = ", log)
    manifest = json.loads((tmp_path / "b" / "run.json").read_text())
    assert manifest["engine_details"]["c"]["runs"] == 2
    assert "-printout_pixel" in manifest["commands"]["c"]
    # missing records are one line in trace's summary, not a table of them
    assert "records on one side only:" in result.output


def test_stock_build_alone_writes_its_printout_not_an_empty_log(stock_nb, tmp_path):
    result = _run("trace", "--engine", "c", "--reference", f"nanobragg:{stock_nb}", "--pixel",
                  5, 6, "--out", tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 0, result.output
    assert ": stol = " in (tmp_path / "b" / "c.log").read_text()


def test_stock_build_in_spec_mode_is_refused(stock_nb, tmp_path):
    result = _run("trace", "--c-bin", stock_nb, "--c-mode", "spec", "--pixel", 5, 6, "--out",
                  tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 2
    assert "stock nanoBragg" in result.output and "--c-mode spec" in result.output


def test_an_engine_that_prints_no_record_is_an_engine_failure(tmp_path):
    silent = _script(tmp_path / "silent-nb", "echo 'nanoBragg-like banner'\n")
    result = _run("trace", "--engine", "c", "--reference", f"nanobragg:{silent}", "--pixel",
                  5, 6, "--out", tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 4
    assert "printed no -printout_pixel block for pixel (5, 6)" in result.output
    assert not (tmp_path / "b").exists()  # no half-written bundle


def test_a_c_engine_that_ignores_trace_pixel_is_named_with_a_hint(tmp_path):
    # knows the option's name (so it is not taken for a stock build) but prints nothing
    quiet = _script(tmp_path / "quiet-nb", "# -trace_pixel is accepted and ignored\ntrue\n")
    result = _run("trace", "--engine", "c", "--c-bin", quiet, "--pixel", 5, 6, "--out",
                  tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 4
    assert "printed no trace record for (5, 6)" in result.output
    assert "nanobragg:PATH" in result.output


def test_option_parsing_side_effects_of_a_stock_reference_are_warned(stock_nb, tmp_path):
    result = _run("trace", "--c-bin", stock_nb, "--pixel", 5, 6, "--phi-carryover-mode",
                  "c-parity", "--out", tmp_path / "b", "--", *ARGS, "-misset", "random",
                  "-misset_seed", "5", "-N", "4")
    assert "warning: upstream nanoBragg reads '-misset_seed' also as '-misset'" in \
        result.output
    assert "misset = (5, 0, 4)" in result.output


def test_unknown_engine_names_are_usage_errors():
    result = _run("trace", "--candidate", "pytorch-port", "--pixel", 5, 6, "--", *ARGS)
    assert result.exit_code == 2
    assert "--candidate: unknown engine 'pytorch-port'" in result.output


# --------------------------------------------------------------------------- profiles

def test_profile_expansion_keeps_the_ports_pixel_order_and_base(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('command = ["port", "{args}", "{pixels}"]\n'
                    'pixel_args = ["--xy", "{fast}", "{slow}"]\npixel_base = 1\n')
    profile = load_profile(path)
    command = expand(profile, ["-N", "4"], [(5, 6), (7, 8)], {"workdir": tmp_path})
    assert command == ["port", "-N", "4", "--xy", "7", "6", "--xy", "9", "8"]


@pytest.mark.parametrize("text, message", [
    ('command = ["port", "{args}"]\n', "no {pixels}"),
    ('command = ["port", "{pixels}"]\nbogus = 1\n', "unknown key 'bogus'"),
    ('command = ["port", "{pixels}", "{where}"]\n', "unknown placeholder {where}"),
    ('command = ["port", "x{args}", "{pixels}"]\n', "must be whole elements"),
    ('command = ["port", "{pixels}"]\nprecision = "float16"\n', "precision"),
    ('command = ["port", "{pixels}"]\nworkdir = "home"\n', "workdir"),
    ('command = ["port", "{pixels}"]\nkeymap = "none.toml"\n', "not found"),
    ('command = ["port", "{slow}"]\n', "one_run_per_pixel"),
    ('command = "port {pixels}"\n', "list of strings"),
    ('command = [\n', "p.toml"),
    ('command = ["port", "{pixels}"]\npixel_args = ["{args}"]\n', "cannot be used here"),
    ('command = ["port", "{pixels}"]\ntrace = "{workdir}/t_{slow}.log"\n',
     "placeholder {slow} in '{workdir}/t_{slow}.log' cannot be used here"),
])
def test_bad_profiles_are_one_line_usage_errors(tmp_path, text, message):
    path = tmp_path / "p.toml"
    path.write_text(text)
    with pytest.raises(ProfileError, match=re.escape(message)):
        load_profile(path)
    result = _run("trace", "--candidate", path, "--pixel", 5, 6, "--", *ARGS)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and len(result.output.strip().splitlines()) == 1


def test_a_profile_whose_trace_file_is_missing_is_an_engine_failure(tmp_path):
    path = tmp_path / "p.toml"
    path.write_text('command = ["true", "{args}", "{pixels}"]\ntrace = "{workdir}/t.log"\n')
    result = _run("trace", "--candidate", path, "--engine", "py", "--pixel", 5, 6, "--out",
                  tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 4
    assert "trace file" in result.output and "cannot be read" in result.output


def test_per_pixel_runs_name_their_trace_files_and_count_pixels_from_one(tmp_path):
    """A port that traces one pixel per run, numbers pixels from one on its command line and in
    its log, and writes t_<slow>_<fast>.log beside the profile's own helper file."""
    port = _script(tmp_path / "port.sh", """\
        echo "TRACE_PY: trace_pixel $1 $2" > "t_$1_$2.log"
        echo "TRACE_PY: I_pixel_final 1.5" >> "t_$1_$2.log"
        """)
    profile = tmp_path / "p.toml"
    profile.write_text('command = ["{profile_dir}/port.sh", "{slow}", "{fast}"]\n'
                       'one_run_per_pixel = true\npixel_base = 1\n'
                       'trace = "{workdir}/t_{slow}_{fast}.log"\n')
    assert port.exists()
    result = _run("trace", "--engine", "py", "--candidate", profile, "--pixel", 5, 6,
                  "--pixel", 40, 2, "--out", tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 0, result.output
    log = (tmp_path / "b" / "py.log").read_text()
    assert "trace_pixel 6 7" in log and "trace_pixel 41 3" in log  # one-based, as printed
    from nbparity.engines import EngineRun
    from nbparity.runner import _parse_run

    engine = resolve_engine(str(profile), EngineOptions(), "--candidate")
    parsed = _parse_run(EngineRun("py", [], log, 0.0), "py.log", engine)
    assert parsed.pixels == [(5, 6), (40, 2)]  # zero-based, as everywhere in nbparity


def test_a_candidate_only_trace_needs_no_c_engine(tmp_path, monkeypatch):
    monkeypatch.setenv("NB_C_BIN", str(tmp_path / "no-such-nanoBragg"))
    result = _run("trace", "--engine", "py", "--pixel", 5, 6, "--out", tmp_path / "b", "--",
                  *ARGS)
    assert result.exit_code == 0, result.output
    assert not (tmp_path / "b" / "c.log").exists()


def test_upstream_printout_bytes_through_the_stock_engine(tmp_path, upstream_dir):
    """The stock engine path on what upstream nanoBragg.c really printed: a stand-in build
    that answers -printout_pixel F S with upstream's own stdout for that pixel."""
    folder = upstream_dir / "matrix_file"
    stock = _script(tmp_path / "nanoBragg", f"""\
        while [ $# -gt 0 ]; do
          if [ "$1" = "-printout_pixel" ]; then cat "{folder}/printout_$3_$2.txt"; fi
          shift
        done
        """)
    result = _run("trace", "--reference", f"nanobragg:{stock}", "--args-file",
                  folder / "args.txt", "--pixel", 40, 40, "--pixel", 12, 70,
                  "--phi-carryover-mode", "c-parity", "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output
    assert "stock, -printout_pixel" in result.output
    diff = _run("diff", tmp_path / "b" / "c.log", tmp_path / "b" / "py.log", "--format",
                "json")
    records = json.loads(diff.output)["records"]
    statuses = {(r["slow"], r["fast"], r["key"]): r["status"] for r in records}
    for pixel in ((40, 40), (12, 70)):
        for key in ("I_pixel_final", "omega_applied_sr", "polar_applied"):
            assert statuses[(*pixel, key)] == "pass", (pixel, key)


def test_resolve_engine_takes_an_executable_path(c_binary):
    engine = resolve_engine(str(c_binary), EngineOptions(), "--reference")
    assert engine.kind == "c-ref"


# --------------------------------------------------------------------------- the fake port

def test_fake_port_reaches_parity_under_its_float32_tolerance(c_binary, tmp_path):
    """The port in its c-parity mode against the C reference (c-parity by default)."""
    profile = tmp_path / "carry.toml"
    profile.write_text(PROFILE.read_text().replace('"{pixels}"]', '"{pixels}", "--carry"]')
                       .replace("{profile_dir}", str(FAKE_PORT))
                       .replace('keymap = "', f'keymap = "{FAKE_PORT}/'))
    result = _run("trace", "--candidate", profile, "--pixel", 5, 6, "--pixel", 40, 2,
                  "--out", tmp_path / "b", "--", *ARGS)
    assert result.exit_code == 0, result.output
    assert "PARITY (rtol 0.0001" in result.output
    assert "fake-port [profile carry.toml, float32]" in result.output
    diff = _run("diff", tmp_path / "b" / "c.log", tmp_path / "b" / "py.log", "--keymap",
                FAKE_PORT / "fake_port.keymap.toml", "--rtol", "1e-4", "--format", "json")
    data = json.loads(diff.output)
    keys = {r["key"] for r in data["records"] if r["status"] == "pass"}
    # the port's own names arrived under the contract's, with their units converted
    assert {"pix0_vector_meters", "lambda_angstroms", "scattering_vec_A_inv", "omega_pixel_sr",
            "rot_a_angstroms", "hkl_frac", "I_before_scaling", "I_pixel_final"} <= keys


def test_fake_port_in_spec_mode_is_diagnosed_as_the_carryover(c_binary, tmp_path):
    result = _run("trace", "--candidate", PROFILE, "--pixel", 5, 6, "--out", tmp_path / "b",
                  "--", *ARGS)
    assert result.exit_code == 1, result.output
    assert "first divergence: pixel (5, 6) phi_tic=0 mos_tic=0 phi/rot_a_angstroms" in \
        result.output
    assert "φ=0 carry-over" in result.output and "[certain]" in result.output
    assert "reuse the last step's rotated vectors" in result.output  # the fix, in port terms


def test_carryover_is_named_from_the_reference_alone(c_binary, tmp_path, monkeypatch):
    """A port that prints only pixel-level values: the reference's φ step 0 equal to its last
    step is the evidence."""
    monkeypatch.setenv("FAKE_PORT_PIXEL_ONLY", "1")
    result = _run("trace", "--candidate", PROFILE, "--pixel", 5, 6, "--out", tmp_path / "b",
                  "--", *ARGS)
    assert result.exit_code == 1, result.output
    assert "φ=0 carry-over" in result.output
    assert "the candidate's log does not print the rotated vectors" in result.output


def test_readme_shows_the_profile_and_key_map_the_tests_run():
    readme = README.read_text()
    for name in ("fake_port.toml", "fake_port.keymap.toml"):
        assert (FAKE_PORT / name).read_text().strip() in readme, name


# --------------------------------------------------------------------------- OpenMP references

def test_openmp_block_start_is_named(c_binary, tmp_path):
    """A reference from an OpenMP build (reproduced here by the C reference's c-parity-omp mode
    with 3 threads, its log claiming plain c-parity as an instrumented OpenMP build would)
    differs from a serial c-parity candidate only at the first pixel of a thread's block."""
    from nbparity.engines import run_c, run_py
    from nbparity.runner import compare_runs

    shape = (64, 64)  # 3 threads: rows 0-21, 22-42, 43-63
    runs = {"c": run_c(ARGS, [(22, 0), (30, 5)], tmp_path, str(c_binary), "c-parity-omp",
                       omp_threads=3),
            "py": run_py(ARGS, [(22, 0), (30, 5)], tmp_path, "c-parity")}
    runs["c"].log_text = runs["c"].log_text.replace("phi_carryover_mode c-parity-omp",
                                                    "phi_carryover_mode c-parity")
    comparison, divergences, code, _ = compare_runs(runs, _tolerance(), shape=shape)
    assert code == 1
    assert [d.pixel for d in divergences] == [(22, 0)]  # inside a block: parity
    text = " ".join(divergences[0].diagnosis)
    assert "first pixel of an OpenMP thread's block" in text
    assert "OMP_NUM_THREADS in [3, 6, 9, 20" in text  # row 22 starts a block for these
    assert "c-parity-omp -omp_threads" in text
    assert "--phi-carryover-mode spec" not in text  # never the wrong advice


def _tolerance():
    from nbparity.tolerance import Tolerance

    return Tolerance()


def test_gate_runs_a_stock_reference_once_per_case_and_warns(stock_nb, tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "tiny"\nargs = "' + " ".join(ARGS)
                     + ' -twotheta_axis 0 1 0"\npixels = [[5, 6]]\n')
    result = _run("gate", cases, "--reference", f"nanobragg:{stock_nb}", "--candidate",
                  "nbsim", "--no-determinism")
    # the stock build has no carry-over modes: nbsim runs in c-parity, like a serial build
    assert result.exit_code == 0, result.output
    assert "tiny [c-parity]" in result.output and "tiny [spec]" not in result.output
    assert "warning: upstream nanoBragg reads '-twotheta_axis 0 ...' also as" in result.output

"""A gate that cannot pass by accident: each test here is a false pass (or an unclear failure)
that the toolkit once gave, and now must not."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.tolerance import Tolerance

pytest_plugins = ["pytester"]

TWO_PIXELS = {
    (3, 7): {"pixel": {"distance_meters": 0.1, "pixel_pos_meters": (0.1, 0.2, 0.3)},
             "steps": {(i, 0): {"F_latt": 12.5 + i, "I_term": 3.25 * i} for i in range(4)},
             "final": {"I_pixel_final": 2.0}},
    (5, 9): {"pixel": {"distance_meters": 0.1, "pixel_pos_meters": (0.4, 0.2, 0.3)},
             "steps": {(i, 0): {"F_latt": 1.5 + i, "I_term": 0.75 * i} for i in range(4)},
             "final": {"I_pixel_final": 4.0}},
}


def _run(*args):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert "Traceback" not in result.output
    return result


@pytest.fixture
def full(make_log, tmp_path) -> Path:
    path = tmp_path / "full.log"
    path.write_text(make_log("C", TWO_PIXELS))
    return path


def _lines_cut(path: Path, tmp_path: Path, keep: int, name: str) -> Path:
    out = tmp_path / name
    out.write_text("".join(path.read_text().splitlines(keepends=True)[:keep]))
    return out


# --------------------------------------------------------------------------- lost records

@pytest.mark.parametrize("command", ["diff", "first-divergence"])
def test_a_log_cut_after_one_of_two_pixels_is_structural(full, tmp_path, command):
    first_pixel_lines = 1 + 3 + 2 + 8 + 1
    cut = _lines_cut(full, tmp_path, first_pixel_lines, "cut.log")
    for reference, candidate in ((cut, full), (full, cut)):
        result = _run(command, reference, candidate)
        assert result.exit_code == 3, result.output
        assert "cut.log lacks 11 records" in result.output
        assert "(5, 9)" in result.output and "--allow-missing" in result.output
    assert _run(command, cut, full, "--allow-missing").exit_code == 0


def test_a_log_cut_inside_a_phi_loop_is_structural(full, tmp_path):
    cut = _lines_cut(full, tmp_path, 15 + 6 + 4, "cut.log")  # second pixel, two steps of four
    result = _run("diff", full, cut)
    assert result.exit_code == 3, result.output
    assert "cut.log lacks" in result.output
    assert _run("diff", full, cut, "--allow-missing").exit_code == 0


def test_a_key_one_log_never_prints_is_vocabulary_not_loss(make_log, tmp_path):
    fewer = {pixel: {**block, "steps": {s: {"F_latt": v["F_latt"]}
                                        for s, v in block["steps"].items()}}
             for pixel, block in TWO_PIXELS.items()}
    (tmp_path / "c.log").write_text(make_log("C", TWO_PIXELS))
    (tmp_path / "py.log").write_text(make_log("PY", fewer))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log")
    assert result.exit_code == 0, result.output
    assert "8 only in the reference (I_term)" in result.output
    assert _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--strict").exit_code == 3


def test_different_pixel_sets_are_structural(make_log, tmp_path):
    other = {(3, 7): TWO_PIXELS[(3, 7)], (6, 9): TWO_PIXELS[(5, 9)]}
    (tmp_path / "c.log").write_text(make_log("C", TWO_PIXELS))
    (tmp_path / "py.log").write_text(make_log("PY", other))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log")
    assert result.exit_code == 3
    assert "(5, 9)" in result.output and "(6, 9)" in result.output


def test_a_negative_pixel_index_is_structural_and_names_the_line(make_log, tmp_path):
    negative = {(-3, 7) if p == (3, 7) else p: b for p, b in TWO_PIXELS.items()}
    (tmp_path / "c.log").write_text(make_log("C", negative))
    (tmp_path / "py.log").write_text(make_log("PY", negative))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log")
    assert result.exit_code == 3
    assert "c.log:1: pixel (-3, 7) has a negative index" in result.output


def test_the_pytest_plugin_fails_on_a_truncated_log(make_log):
    from nbparity.pytest_plugin import assert_parity

    text = make_log("C", TWO_PIXELS)
    cut = "".join(text.splitlines(keepends=True)[:15])
    with pytest.raises(AssertionError, match="reference lacks 11 records"):
        assert_parity(cut, make_log("PY", TWO_PIXELS))
    assert_parity(cut, make_log("PY", TWO_PIXELS), allow_missing=True)


# --------------------------------------------------------------------------- summaries

def test_the_summary_names_the_failing_record_not_the_worst_passing_one(make_log, tmp_path):
    nan_final = {**TWO_PIXELS, (5, 9): {**TWO_PIXELS[(5, 9)], "final": {"I_pixel_final": math.nan}}}
    slightly = {**TWO_PIXELS, (3, 7): {**TWO_PIXELS[(3, 7)],
                                       "final": {"I_pixel_final": 2.0 * (1 + 3e-8)}}}
    (tmp_path / "c.log").write_text(make_log("C", nan_final))
    (tmp_path / "py.log").write_text(make_log("PY", slightly))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--format", "json")
    assert result.exit_code == 1
    worst = json.loads(result.output)["summary"]["worst"]
    assert (worst["key"], worst["pixel"], worst["status"]) == ("I_pixel_final", [5, 9], "fail")
    table = _run("diff", tmp_path / "c.log", tmp_path / "py.log").output
    assert "worst record I_pixel_final pixel (5, 9): nan vs 4 (fail)" in table


# --------------------------------------------------------------------------- tolerances

@pytest.mark.parametrize("option", [("--rtol", "-1"), ("--rtol", "nan"), ("--atol", "inf"),
                                    ("--atol", "-0.5"), ("--tol", "F_latt=nan"),
                                    ("--tol", "F_latt=1e-6,-1"), ("--rtol", "abc")])
def test_a_tolerance_that_is_not_a_finite_number_at_least_zero_is_exit_2(full, option):
    result = _run("diff", full, full, *option)
    assert result.exit_code == 2, result.output
    assert len(result.output.strip().splitlines()) == 1
    assert option[0] in result.output


def test_a_time_out_of_zero_is_exit_2():
    result = _run("trace", "--engine", "py", "--timeout", "0", "--pixel", "1", "1")
    assert result.exit_code == 2
    assert "--timeout" in result.output and "greater than 0" in result.output


@pytest.mark.parametrize("settings", [{"rtol": -1}, {"rtol": math.nan}, {"atol": math.inf},
                                      {"per_key": {"F_latt": (math.nan, 0.0)}}])
def test_the_tolerance_model_refuses_what_the_command_line_refuses(settings):
    with pytest.raises(ValueError, match="finite number >= 0"):
        Tolerance(**settings)


def test_nan_equal_never_makes_different_words_equal(tmp_path):
    (tmp_path / "c.log").write_text("TRACE_C: trace_pixel 1 2\nTRACE_C: convention MOSFLM\n"
                                    "TRACE_C: I_pixel_final nan\n")
    (tmp_path / "py.log").write_text("TRACE_PY: trace_pixel 1 2\nTRACE_PY: convention XDS\n"
                                     "TRACE_PY: I_pixel_final nan\n")
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--nan-equal",
                  "--format", "json")
    assert result.exit_code == 1
    statuses = {r["key"]: r["status"] for r in json.loads(result.output)["records"]}
    assert statuses == {"convention": "fail", "I_pixel_final": "pass"}



@pytest.mark.parametrize(("ref_vec", "cand_vec", "plain", "nan_equal"), [
    ("nan 0 0", "nan 5 9", "fail", "fail"),  # the other components differ
    ("nan 0 0", "0.99 nan 0", "fail", "fail"),  # NaN in different components
    ("nan 0 inf", "nan 0 -inf", "fail", "fail"),  # an infinity differs beside the NaN
    ("nan 0 1", "nan 0 1", "both-nan", "pass"),
])
def test_a_nan_component_judges_only_itself(tmp_path, ref_vec, cand_vec, plain, nan_equal):
    """A vector with a NaN component: the NaN rule for that component, the tolerance for the
    others (``--nan-equal`` once passed ``nan 0 0`` against ``nan 5 9``)."""
    (tmp_path / "c.log").write_text(f"TRACE_C: trace_pixel 1 2\nTRACE_C: fdet_vec {ref_vec}\n")
    (tmp_path / "py.log").write_text(f"TRACE_PY: trace_pixel 1 2\nTRACE_PY: fdet_vec {cand_vec}\n")
    for extra, expected in (((), plain), (("--nan-equal",), nan_equal)):
        result = _run("diff", tmp_path / "c.log", tmp_path / "py.log", *extra, "--format", "json")
        assert [r["status"] for r in json.loads(result.output)["records"]] == [expected], extra
        assert result.exit_code == (0 if expected == "pass" else 1), extra  # both-nan fails


@pytest.mark.parametrize("command", ["diff", "first-divergence"])
def test_a_record_with_no_component_in_common_is_lost_not_a_pass(tmp_path, command):
    """l_frac against h_frac (a legacy log's one-component aliases of hkl_frac): both print
    hkl_frac, no component is compared."""
    (tmp_path / "c.log").write_text("TRACE_C: tracing pixel (spixel=1, fpixel=2)\n"
                                    "TRACE_C_PHI: phi_tic=0 mos_tic=0 l_frac -8.01\n"
                                    "TRACE_C: I_pixel_final 2.5\n")
    (tmp_path / "py.log").write_text("TRACE_PY: tracing pixel (spixel=1, fpixel=2)\n"
                                     "TRACE_PY_PHI: phi_tic=0 mos_tic=0 h_frac 7.66\n"
                                     "TRACE_PY: I_pixel_final 2.5\n")
    result = _run(command, tmp_path / "c.log", tmp_path / "py.log")
    assert result.exit_code == 3, result.output
    assert "py.log lacks 1 records" in result.output
    (tmp_path / "py.log").write_text("TRACE_PY: tracing pixel (spixel=1, fpixel=2)\n"
                                     "TRACE_PY_PHI: phi_tic=0 mos_tic=0 l_frac -8.01\n"
                                     "TRACE_PY: I_pixel_final 2.5\n")
    assert _run(command, tmp_path / "c.log", tmp_path / "py.log").exit_code == 0

# --------------------------------------------------------------------------- precision

LOW_DIGITS = ("TRACE_{e}: trace_pixel 685 1039\n"
              "TRACE_{e}: pixel_pos_meters -0.03825 0.09623 -0.2308\n"
              "TRACE_{e}: omega_pixel_sr 4.2266e-07\n"
              "TRACE_{e}: I_pixel_final {final}\n")


def test_a_low_digit_log_is_precision_limited_never_a_plain_pass(tmp_path):
    (tmp_path / "c.log").write_text(LOW_DIGITS.format(e="C", final="0.065559"))
    (tmp_path / "py.log").write_text(LOW_DIGITS.format(e="PY", final="0.06556"))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--format", "json")
    assert result.exit_code == 0
    report = json.loads(result.output)
    statuses = {r["key"]: r["status"] for r in report["records"]}
    assert statuses["pixel_pos_meters"] == statuses["I_pixel_final"] == "precision-limited"
    assert report["summary"]["precision_limited"] >= 2
    assert report["logs"]["reference"]["precision"] == "%.5g"
    # a 10% difference is no precision limit, however few digits were printed
    (tmp_path / "far.log").write_text(LOW_DIGITS.format(e="PY", final="0.0721"))
    assert _run("diff", tmp_path / "c.log", tmp_path / "far.log").exit_code == 1


def test_a_contract_log_of_round_trip_values_stays_exact(make_log, tmp_path):
    (tmp_path / "c.log").write_text(make_log("C", TWO_PIXELS))
    report = json.loads(_run("diff", tmp_path / "c.log", tmp_path / "c.log",
                             "--format", "json").output)
    assert report["summary"]["precision_limited"] == 0
    assert report["logs"]["reference"]["precision"] == "float64"


# --------------------------------------------------------------------------- images

def _image(tmp_path: Path, name: str, values: np.ndarray) -> Path:
    path = tmp_path / f"{name}.bin"
    values.astype("<f4").tofile(path)
    return path


@pytest.fixture
def spots() -> np.ndarray:
    image = np.zeros((8, 8))
    image[2, 3], image[5, 5], image[6, 1] = 100.0, 40.0, 0.5
    return image


@pytest.mark.parametrize("fill, words", [(0.0, "has no pixel above"),
                                         (math.nan, "is NaN or infinite everywhere")])
def test_a_reference_with_nothing_to_compare_fails(tmp_path, fill, words):
    blank = _image(tmp_path, "blank", np.full((8, 8), fill))
    result = _run("images", blank, blank)
    assert result.exit_code == 3
    assert f"nothing to compare: the reference image {words}" in result.output


def test_nan_positions_that_differ_fail_even_in_dark_pixels(tmp_path, spots):
    reference = _image(tmp_path, "r", spots)
    dark_nan = spots.copy()
    dark_nan[0, 0] = math.nan  # a dark pixel: below the 1e-3 floor
    for a, b in ((reference, _image(tmp_path, "x", dark_nan)),
                 (_image(tmp_path, "x2", dark_nan), reference)):
        result = _run("images", a, b)
        assert result.exit_code == 1
        assert "1 pixel(s) NaN or infinite in one image" in result.output
    both = _image(tmp_path, "both", dark_nan)
    assert _run("images", both, both).exit_code == 0


def test_a_spot_the_reference_does_not_have_fails(tmp_path, spots):
    lit = spots.copy()
    lit[7, 7] = 30.0  # where the reference is dark: no relative error is defined there
    result = _run("images", _image(tmp_path, "r", spots), _image(tmp_path, "x", lit))
    assert result.exit_code == 1
    assert "at or below the floor differs by 3.000e-01 of the reference's peak" in result.output


# --------------------------------------------------------------------------- reports

def test_diff_junit_failures_carry_the_first_divergence_and_diagnosis(make_log, tmp_path):
    moved = {p: {**b, "pixel": {**b["pixel"], "distance_meters": 100.0}}
             for p, b in TWO_PIXELS.items()}
    (tmp_path / "c.log").write_text(make_log("C", TWO_PIXELS))
    (tmp_path / "py.log").write_text(make_log("PY", moved))
    junit = _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--format", "junit",
                 "--failed-only").output
    failure = junit[junit.index("<failure"):junit.index("</failure>")]
    assert "reference 0.10000000000000001" in failure and "candidate 100" in failure
    assert "first divergence: pixel (3, 7) setup/distance_meters" in failure
    assert "diagnosis:" in failure and "unit factor" in failure


# --------------------------------------------------------------------------- pytest plugin

def test_the_plugin_says_file_not_found_for_a_missing_path(tmp_path):
    from nbparity.pytest_plugin import assert_parity

    with pytest.raises(FileNotFoundError, match="reference log c.log: file not found"):
        assert_parity("c.log", "TRACE_PY: trace_pixel 1 2\n", base=tmp_path)


def test_the_fixture_reads_relative_paths_from_the_test_files_folder(pytester, make_log):
    logs = pytester.mkdir("logs")
    (logs / "c.log").write_text(make_log("C", TWO_PIXELS))
    bad = {**TWO_PIXELS, (3, 7): {**TWO_PIXELS[(3, 7)], "final": {"I_pixel_final": 3.0}}}
    (logs / "py.log").write_text(make_log("PY", bad))
    pytester.makepyfile(test_port="""
        def test_same(assert_parity):
            assert_parity("logs/c.log", "logs/c.log")

        def test_missing(assert_parity):
            assert_parity("logs/nope.log", "logs/c.log")

        def test_diverged(assert_parity):
            assert_parity("logs/c.log", "logs/py.log")
    """)
    elsewhere = pytester.mkdir("elsewhere")
    result = pytester.runpytest(str(pytester.path),
                                "--rootdir", str(pytester.path), "-o", "cache_dir=" + str(
                                    elsewhere / ".cache"))
    result.assert_outcomes(passed=1, failed=2)
    text = result.stdout.str()
    assert "file not found" in text and "relative paths are read from" in text
    assert "1 failed" in text and "first divergence" in text
    assert "pytest_plugin.py" not in text  # the plugin's own frames are hidden


def test_an_args_file_that_is_not_utf8_is_one_line(tmp_path):
    args = tmp_path / "bad.args"
    args.write_bytes(b"-N 5 \xff\xfe\n")
    result = _run("trace", "--engine", "py", "--args-file", args, "--pixel", "1", "1")
    assert result.exit_code == 2
    assert "not UTF-8 text" in result.output and len(result.output.strip().splitlines()) == 1


def test_a_float32_engine_raises_a_case_files_per_key_rtol_but_not_the_users():
    from nbparity.tolerance import FLOAT32_RTOL, for_precision

    case_file = Tolerance(per_key={"I_pixel_final": (1e-6, 1e-38)})
    raised = for_precision(case_file, "float32")
    assert raised.rtol == FLOAT32_RTOL and raised.per_key["I_pixel_final"] == (FLOAT32_RTOL, 1e-38)
    users = Tolerance(per_key={"I_pixel_final": (1e-6, 0.0)},
                      keys_given=frozenset({"I_pixel_final"}))
    assert for_precision(users, "float32").per_key["I_pixel_final"] == (1e-6, 0.0)
    assert for_precision(Tolerance(rtol=1e-7, rtol_given=True), "float32").rtol == 1e-7


@pytest.mark.parametrize("command", ["diff", "first-divergence"])
def test_a_key_on_a_skipped_line_is_lost_not_vocabulary(tmp_path, command):
    """A port prints I_pixel_final with a unit after it: the legacy reader skips the line; the
    key is one the log prints, so the record is lost (it once counted as a key the log never
    prints, and a wrong value passed)."""
    (tmp_path / "c.log").write_text("TRACE_C: trace_pixel 1 2\nTRACE_C: omega_pixel_sr 1e-07\n"
                                    "TRACE_C: I_pixel_final 2.5\n")
    (tmp_path / "py.log").write_text("TRACE_PY: tracing pixel (spixel=1, fpixel=2)\n"
                                     "TRACE_PY: omega_pixel_sr 1e-07\n"
                                     "TRACE_PY: I_pixel_final 3.75 photons\n")
    result = _run(command, tmp_path / "c.log", tmp_path / "py.log")
    assert result.exit_code == 3, result.output
    assert "py.log lacks 1 records" in result.output and "skipped" in result.output
    assert "1 TRACE line(s) skipped" in result.output  # the reader's report, in every command
    # the same log without the unit: read, compared, and the wrong value fails
    (tmp_path / "py.log").write_text((tmp_path / "py.log").read_text().replace(" photons", ""))
    assert _run(command, tmp_path / "c.log", tmp_path / "py.log").exit_code == 1


def test_trace_lines_beside_a_printout_block_are_read(upstream_dir, tmp_path):
    """A hand-instrumented nanoBragg run with -printout_pixel prints TRACE lines and a printout
    block: the TRACE lines are the trace (the log was once read as its printout alone, and a
    wrong pixel_pos_meters passed)."""
    block = (upstream_dir / "matrix_file" / "printout_40_40.txt").read_text()
    lines = ("TRACE_C: tracing pixel (spixel=40, fpixel=40)\n"
             "TRACE_C: pixel_pos_meters {} 0.2 0.3\nTRACE_C: omega_pixel_sr 1.5e-07\n")
    (tmp_path / "c.log").write_text(lines.format("0.1") + block)
    (tmp_path / "py.log").write_text(lines.format("0.25"))
    result = _run("diff", tmp_path / "c.log", tmp_path / "py.log", "--format", "json")
    assert result.exit_code == 1, result.output
    statuses = {r["key"]: r["status"] for r in json.loads(result.output)["records"]}
    assert statuses["pixel_pos_meters"] == "fail"
    assert statuses["omega_pixel_sr"] in ("pass", "precision-limited")  # few digits

"""The line reader's handling of hand-made line shapes (review mends): blanks between key and
values, pixel-declaration lines that hold records, prefixed TRACE lines, records before the
first trace_pixel line."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from nbparity.cli import cli
from nbparity.parse import TraceFormatError, parse_trace_text


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _texts(log) -> dict[str, str]:
    return dict(zip(log.records.key, log.records.text))


# --------------------------------------------------------------------------- key, then a tab

@pytest.mark.parametrize("blank", ["\t", " \t", "\t ", "  "])
def test_any_blank_after_the_key_ends_the_key(blank):
    log = parse_trace_text(f"TRACE_PY: fdet_vec{blank}0.5 0.5 -0.000118\n"
                           f"TRACE_PY: omega_pixel_sr{blank}9.99e-07\n", "py.log")
    assert _texts(log) == {"fdet_vec": "0.5 0.5 -0.000118", "omega_pixel_sr": "9.99e-07"}
    assert log.skipped == []


def test_a_tabbed_wrong_value_fails_instead_of_hiding_under_another_key(tmp_path):
    ref, cand = tmp_path / "c.log", tmp_path / "py.log"
    ref.write_text("TRACE_C: fdet_vec 1 0 -0.000118\nTRACE_C: polar 0.5\n")
    cand.write_text("TRACE_PY: fdet_vec\t0.5 0.5 -0.000118\nTRACE_PY: polar 0.5\n")
    result = _run("diff", ref, cand)
    assert result.exit_code == 1, result.output


# --------------------------------------------------------------------------- pixel declarations

HEADER = "TRACE_PY: tracing pixel (spixel=685, fpixel=1039)\n"


def test_a_pixel_declaration_line_keeps_its_records(tmp_path):
    text = (HEADER + "TRACE_PY: polar 0.5\n"
            "TRACE_PY: spixel=685 fpixel=1039 I_pixel_final 0.07\n"
            "TRACE_PY_PHI: fpixel=1039 spixel=685 phi_tic=1 mos_tic=0 F_latt 2.5\n"
            "TRACE_PY: I_before_scaling 12.5 (spixel=685, fpixel=1039)\n")
    log = parse_trace_text(text, "py.log")
    assert log.pixels == [(685, 1039)] and log.skipped == []
    texts = _texts(log)
    assert (texts["I_pixel_final"], texts["F_latt"], texts["I_before_scaling"]) == (
        "0.07", "2.5", "12.5")
    assert set(log.records.phi_tic[log.records.key == "F_latt"]) == {1}
    ref, cand = tmp_path / "c.log", tmp_path / "py.log"
    ref.write_text("TRACE_C: tracing pixel (spixel=685, fpixel=1039)\nTRACE_C: polar 0.5\n"
                   "TRACE_C: I_pixel_final 0.065558530390262604\n")
    cand.write_text(HEADER + "TRACE_PY: polar 0.5\n"
                    "TRACE_PY: spixel=685 fpixel=1039 I_pixel_final 0.07\n")
    result = _run("diff", ref, cand)
    assert result.exit_code == 1, result.output


@pytest.mark.parametrize("declaration", [
    "TRACE_PY: tracing pixel (spixel=685, fpixel=1039)",
    "TRACE_PY: fpixel=1039 spixel=685",
    "TRACE_PY: pixel (slow=685, fast=1039)",
    "TRACE_CONFIG: Tracing pixel: slow: 685, fast: 1039",
    "TRACE: slow_pixel=685 fast_pixel=1039",
])
def test_declaration_lines_alone_set_the_pixel_and_hold_no_record(declaration):
    log = parse_trace_text(f"{declaration}\nTRACE_PY: polar 0.5\n", "py.log")
    assert log.pixels == [(685, 1039)]
    assert list(log.records.key) == ["polar"] and log.skipped == []


@pytest.mark.parametrize("line", [
    "TRACE_PY: subpixel slow=0 fast=0 weight=1",
    "TRACE_PY: I_spixel=0 I_fpixel=0",
    "TRACE_PY: slow=0 fast=0",
    "TRACE_PY: pixel_pos slow=0 fast=0",
])
def test_words_that_only_contain_pixel_declare_nothing(line):
    log = parse_trace_text(HEADER + f"{line}\nTRACE_PY: polar 0.5\n", "py.log")
    assert log.pixels == [(685, 1039)]
    assert set(log.records.slow) == {685}


# --------------------------------------------------------------------------- prefixed lines

@pytest.mark.parametrize("prefix", ["  ", "\t", "[thread 3] ", "[rank 0][t 2] ", "thread 3: ",
                                    "T3:", "  [12:00:01] omp#2: "])
def test_a_trace_line_after_blanks_or_a_thread_tag_is_read(prefix):
    log = parse_trace_text(HEADER + f"{prefix}TRACE_PY: I_pixel_final 0.07\n"
                           f"{prefix}TRACE_PY_PHI: phi_tic=1 mos_tic=0 F_latt 2.5\n", "py.log")
    assert _texts(log) == {"I_pixel_final": "0.07", "F_latt": "2.5"}
    assert log.skipped == [] and log.ignored_lines == 0


@pytest.mark.parametrize("prefix", ["INFO:root:", "12:00:01 ", "# ", "note: "])
def test_a_trace_line_after_other_text_is_skipped_and_reported(prefix, tmp_path):
    text = HEADER + "TRACE_PY: polar 0.5\n" + f"{prefix}TRACE_PY: I_pixel_final 0.07\n"
    log = parse_trace_text(text, "py.log")
    assert list(log.records.key) == ["polar"]
    assert [(item["shape"], item["line"]) for item in log.skipped] == [
        ("TRACE line after text that is not a thread tag", 3)]
    path = tmp_path / "py.log"
    path.write_text(text)
    assert _run("diff", path, path, "--strict").exit_code == 3


def test_text_that_only_mentions_trace_stays_engine_output():
    log = parse_trace_text(HEADER + "TRACE_PY: polar 0.5\nwriting TRACE_C log to x\n"
                           "Traceback (most recent call last):\n  TRACEBACK: x\n", "py.log")
    assert list(log.records.key) == ["polar"]
    assert log.skipped == [] and log.ignored_lines == 3


def test_prefixed_wrong_values_fail(tmp_path):
    ref, cand = tmp_path / "c.log", tmp_path / "py.log"
    ref.write_text("TRACE_C: tracing pixel (spixel=685, fpixel=1039)\nTRACE_C: polar 0.5\n"
                   "TRACE_C: omega_pixel_sr 4.226625289741383e-07\n"
                   "TRACE_C: I_pixel_final 0.065558530390262604\n")
    cand.write_text(HEADER + "TRACE_PY: polar 0.5\n[thread 3] TRACE_PY: omega_pixel_sr 9e-07\n"
                    "  TRACE_PY: I_pixel_final 0.07\n")
    result = _run("diff", ref, cand, "--format", "json")
    assert result.exit_code == 1, result.output
    failed = {r["key"] for r in json.loads(result.output)["records"] if r["status"] == "fail"}
    assert failed == {"omega_pixel_sr", "I_pixel_final"}


def test_a_prefixed_grammar_line_in_a_contract_log_is_held_to_the_grammar(make_log):
    text = make_log("C", {(1, 2): {"pixel": {"polar": 0.5}}})
    log = parse_trace_text(text + "[thread 1] TRACE_C: omega_pixel_sr 4e-07\n", "c.log")
    assert set(log.records.key) >= {"polar", "omega_pixel_sr"} and log.skipped == []
    with pytest.raises(TraceFormatError, match=r"^c.log:\d+: duplicate record polar"):
        parse_trace_text(text + "[thread 1] TRACE_C: polar 0.25\n", "c.log")


# --------------------------------------------------------------------------- before trace_pixel

@pytest.mark.parametrize("early, message", [
    ("TRACE_C: fdet_vec 1 0 0\n", "c.log:1: fdet_vec before the first trace_pixel line"),
    ("TRACE_C_PHI: phi_tic=0 mos_tic=0 F_latt 2.5\n",
     "c.log:1: F_latt before the first trace_pixel line"),
])
def test_a_contract_record_before_the_first_trace_pixel_line_is_named(make_log, tmp_path,
                                                                     early, message):
    text = early + make_log("C", {(1, 2): {"pixel": {"polar": 0.5}}})
    with pytest.raises(TraceFormatError) as info:  # (RecordOutsideBlockError: exit 3)
        parse_trace_text(text, "c.log")
    assert str(info.value) == message
    path = tmp_path / "c.log"
    path.write_text(text)
    for command in ("diff", "first-divergence"):
        result = _run(command, path, path)
        assert result.exit_code == 3, result.output
        assert result.output.strip().endswith(message.replace("c.log", str(path)))
        assert "negative index" not in result.output


def test_a_line_of_another_shape_before_the_first_trace_pixel_line_is_skipped(make_log):
    text = "TRACE_C_TAP5: weight 0.25\n" + make_log("C", {(1, 2): {"pixel": {"polar": 0.5}}})
    log = parse_trace_text(text, "c.log")
    assert log.pixels == [(1, 2)] and "TAP5.weight" not in set(log.records.key)
    assert [(item["shape"], item["line"]) for item in log.skipped] == [
        ("TRACE_C_TAP5: line before the first trace_pixel line", 1)]


# --------------------------------------------------------------------------- the number grammar

def test_the_legacy_reader_uses_the_one_number_grammar():
    from nbparity.parse import legacy, records

    assert legacy.is_number is records.is_number
    assert not hasattr(legacy, "_NUMBER_RE")


@given(st.one_of(st.text(alphabet="0123456789.eE+-naifINFTY_ x", max_size=10),
                 st.sampled_from(["nan", "-NaN", "+inf", "-Infinity", "INF", "+nan", "1e",
                                  ".e1", "1.e-3", "+.5", "1_0", "0x10", ""])))
@settings(max_examples=500, deadline=None)
def test_a_number_for_one_reader_is_a_number_for_every_reader(token):
    from nbparity.parse import legacy, records

    try:
        records._number(token, "x")
        readable = True
    except TraceFormatError:
        readable = False
    assert legacy.is_number(token) == readable

"""The tolerant legacy reader (nbparity.parse.legacy): every shape reads, diffs against itself as
parity, and the skip summary names exactly the TRACE lines it could not read."""

from __future__ import annotations

import json
import random

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from nbparity.cli import cli
from nbparity.compare import StructuralMismatch, compare_logs
from nbparity.parse import TraceFormatError, parse_trace_text
from nbparity.tolerance import Tolerance

# name -> (log, the line numbers the reader must skip, records it must hold: key -> text)
SHAPES = {
    "key=value text, name:value lists, bracketed matrices": (
        "TRACE_C:detector_convention=CUSTOM\n"
        "TRACE_C:angles_rad=rotx:0 roty:0.5 rotz:0 twotheta:0\n"
        "TRACE_C:Rx=[1 0 0; 0 1 0; 0 0 1]\n"
        "TRACE_C:beam_convention=MOSFLM\n",
        [], {"detector_convention": "CUSTOM", "angles_rad.roty": "0.5",
             "Rx": "1 0 0 0 1 0 0 0 1", "beam_convention": "MOSFLM"}),
    "space lines with names the contract spells otherwise": (
        "TRACE_C: pix0_vector 0.0953 0.0511 -0.0412\n"
        "TRACE_C: omega_pixel 4.2e-07\n"
        "TRACE_C: distance_m 0.231274\n"
        "TRACE_C: lambda_meters 9.768e-11\n"
        "TRACE_C: r_e_sqr 7.94079248018965e-30\n"
        "TRACE_C: rot_a_star_A_inv 0.01 0.02 0.03\n"
        "TRACE_C: I_before_scaling_pre_polar 1234.5\n"
        "TRACE_C: fdet_after_rotz 0 0 1\n"
        "TRACE_C: fdet_after_twotheta 0 0.5 1\n"
        "TRACE_PY: F_cell_interpolated 101.25\n",
        [], {"pix0_vector_meters": "0.0953 0.0511 -0.0412", "omega_pixel_sr": "4.2e-07",
             "distance_meters": "0.231274", "lambda_angstroms": "9.768e-11 (x1e+10)",
             "r_e_sqr_m2": "7.94079248018965e-30", "rot_a_star_A_inv": "0.01 0.02 0.03",
             "I_before_scaling": "1234.5", "fdet_after_rotz": "0 0 1",
             "fdet_vec": "0 0.5 1", "F_cell": "101.25"}),
    "step lines of key=value fields without a colon": (
        "TRACE_C_PHI phi_tic=3 phi_deg=0.03 k_frac=-0.595 F_latt_b=-0.084 F_latt=0.155\n"
        "TRACE_C_PHI phi_tic=4 phi_deg=0.04 k_frac=-0.594 F_latt_b=-0.083 F_latt=0.154\n",
        [], {"phi_deg": "0.03", "hkl_frac": "- -0.595 -", "F_latt": "0.155"}),
    "tagged sub-streams": (
        "TRACE_PY: F_cell 12.5\n"
        "TRACE_PY_ROTSTAR phi_tic=0 ap_y=0.0123 bp_y=-0.1\n"
        "TRACE_PY_TRICUBIC: [0,1,2]=127.8\n"
        "TRACE_BEAM_CENTER: Fbeam=0.0513 Sbeam=0.0513\n"
        "TRACE_C_TAP5: weight 0.25 0.25\n"
        "TRACE_PY_BASE: F 12.5\n",
        [], {"ROTSTAR.ap_y": "0.0123", "TRICUBIC.[0,1,2]": "127.8",
             "BEAM_CENTER.Sbeam": "0.0513", "TAP5.weight": "0.25 0.25", "BASE.F": "12.5"}),
    "free text and other output between trace lines": (
        " nanoBragg nanoBragg version 2024 (banner)\n"
        "DETECTOR_PIX0_VECTOR 0.1 0.2 0.3\n"
        "TRACE:   a_star = [-0.029, -0.029, 0.0107] |a_star| = 0.0427\n"
        "TRACEBACK is not a trace head\n",
        [], {"a_star": "-0.029 -0.029 0.0107", "|a_star|": "0.0427"}),
    "integral floats, expression keys, a pixel named in text": (
        "TRACE_C: Fbeam 0.0513\n"
        "TRACE_CONFIG: tracing pixel (spixel=685, fpixel=1039)\n"
        "TRACE_C_PHI: phi_tic=0 mos_tic=0 hkl_rounded -8.000000000000000e+00 2.0e+00 1\n"
        "TRACE_C: -Fbeam*fdet_vector[1] 0.0123\n",
        [], {"hkl_rounded": "-8 2 1", "-Fbeam*fdet_vector[1]": "0.0123"}),
    "a key printed twice": (
        "TRACE_C: polar 0.98\n"
        "TRACE_C: polar 0.98\n"
        "TRACE_C: F_cell_nearest 101.25\n"
        "TRACE_C: F_cell_nearest 102.25\n",
        [], {"polar": "0.98", "F_cell": "101.25"}),
    "names and values that look like terminal markup": (
        "TRACE_C: x [/]\nTRACE_C: [/bold] 1\nTRACE_C: y [red]\n",
        [], {"x": "[/]", "[/bold]": "1", "y": "[red]"}),
    "lines that cannot be read": (
        "TRACE_C: polar 0.98\n"
        "TRACE_C: ----\n"
        "TRACE_C: begin\n"
        "TRACE_C: x [1 2\n"
        "TRACE_C: distance_meters 0.1 0.2\n"
        "TRACE_C_PHI phi_deg=0.5\n"
        "TRACE_C_PHI phi_tic=x F_latt=1\n"
        "TRACE_C: hkl_rounded 1.5 2 3\n"
        "TRACE_\n",
        [2, 3, 4, 5, 6, 7, 8, 9], {"polar": "0.98"}),
}


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _skipped_lines(log) -> list[int]:
    """Every skipped line, where the summary's first line and count pin them (the shapes of
    SHAPES skip each line once)."""
    return sorted(item["line"] for item in log.skipped for _ in range(item["count"]))


@pytest.mark.parametrize("name", SHAPES)
def test_each_shape_reads_and_diffs_against_itself_as_parity(name, tmp_path):
    text, skipped, expected = SHAPES[name]
    log = parse_trace_text(text, "legacy.log")
    assert log.grammar == "legacy"
    assert _skipped_lines(log) == skipped
    texts: dict[str, str] = {}
    for key, shown in zip(log.records.key, log.records.text):
        texts.setdefault(key, shown)  # the first record of each key
    for key, shown in expected.items():
        assert texts.get(key) == shown, key
    path = tmp_path / "legacy.log"
    path.write_text(text)
    result = _run("diff", path, path)
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    strict = _run("diff", path, path, "--strict")
    ambiguous = name == "a key printed twice"
    assert strict.exit_code == (3 if skipped or ambiguous else 0), strict.output


def test_skip_summary_groups_by_shape_with_count_example_and_first_line(tmp_path):
    text = ("TRACE_C: polar 0.98\nTRACE_C: ----\nTRACE_C: ====\nTRACE_C: begin\n"
            "TRACE_C: end\nTRACE_C: more\n")
    log = parse_trace_text(text, "x.log")
    assert log.skipped == [
        {"shape": "TRACE_C: text without a key", "count": 2, "example": "TRACE_C: ----",
         "line": 2, "keys": []},
        {"shape": "TRACE_C: key without a value", "count": 3, "example": "TRACE_C: begin",
         "line": 4, "keys": ["begin", "end", "more"]}]
    assert log.skipped_keys == {"begin", "end", "more"}
    path = tmp_path / "x.log"
    path.write_text(text)
    data = json.loads(_run("diff", path, path, "--format", "json").output)
    for role in ("reference", "candidate"):
        assert data["logs"][role]["skipped"] == log.skipped
    table = _run("diff", path, path).output
    assert "5 TRACE line(s) skipped in 2 shape(s)" in table
    assert "skipped 3x TRACE_C: key without a value (first at line 4): TRACE_C: begin" in table
    assert _run("first-divergence", path, path, "--strict").exit_code == 3
    assert _run("first-divergence", path, path).exit_code == 0


def test_a_log_with_nothing_readable_is_one_line_naming_the_first_skip(tmp_path):
    with pytest.raises(TraceFormatError, match=r"^x.log:2: no TRACE_ line could be read"):
        parse_trace_text("banner\nTRACE_C: ----\n", "x.log")
    path = tmp_path / "x.log"
    path.write_text("banner\nTRACE_C: ----\n")
    result = _run("diff", path, path)
    assert result.exit_code == 2 and len(result.output.strip().splitlines()) == 1


# --------------------------------------------------------------------------- text values

def _diff_text(a: str, b: str, **tol):
    return compare_logs(parse_trace_text(a, "c.log"), parse_trace_text(b, "py.log"),
                        Tolerance(**tol))


def _status(comparison, key):
    rows = comparison.records[comparison.records.key == key]
    assert len(rows) == 1, key
    return rows.iloc[0]


def test_equal_text_values_pass_and_different_ones_fail_showing_both():
    same = _diff_text("TRACE_C:beam_convention=MOSFLM\n", "TRACE_PY:beam_convention=MOSFLM\n")
    assert _status(same, "beam_convention").status == "pass"
    other = _diff_text("TRACE_C:beam_convention=MOSFLM\n", "TRACE_PY:beam_convention=XDS\n")
    row = _status(other, "beam_convention")
    assert (row.status, row.ref, row.cand) == ("fail", "MOSFLM", "XDS")
    assert other.exit_code() == 1


def test_nan_equal_never_makes_different_words_equal(tmp_path):
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text("TRACE_C:beam_convention=MOSFLM\nTRACE_C: polar nan\n")
    p.write_text("TRACE_PY:beam_convention=XDS\nTRACE_PY: polar nan\n")
    result = _run("diff", c, p, "--nan-equal", "--format", "json")
    assert result.exit_code == 1
    statuses = {r["key"]: r["status"] for r in json.loads(result.output)["records"]}
    assert statuses == {"beam_convention": "fail", "polar": "pass"}
    # and without --nan-equal, NaN is a number's outcome, never a word's
    both = _diff_text("TRACE_C:mode=spec\nTRACE_C: polar nan\n",
                      "TRACE_PY:mode=spec\nTRACE_PY: polar nan\n")
    assert _status(both, "mode").status == "pass"
    assert _status(both, "polar").status == "both-nan"


def test_a_number_against_a_word_fails():
    result = _diff_text("TRACE_C: polar 0.5\nTRACE_C: F_cell 1\n",
                        "TRACE_PY: polar n/a\nTRACE_PY: F_cell 1\n")
    # the candidate's "n/a" is not a number: skipped there, so polar is on one side only
    assert _status(result, "polar").status == "missing-candidate"
    extra = _diff_text("TRACE_C: mode 5\n", "TRACE_PY: mode five\n")
    assert _status(extra, "mode").status == "fail"


# --------------------------------------------------------------------------- precision

FULL = "TRACE_C: distance_meters 0.100000000000000\nTRACE_C: polar 0.984807753012208\n"


def test_a_full_precision_logs_short_token_is_exact():
    ref = parse_trace_text(FULL + "TRACE_C: F_cell 5\n", "c.log")
    assert (ref.precision, ref.precision_digits) == ("float64", 15)
    result = compare_logs(ref, parse_trace_text(FULL + "TRACE_PY: F_cell 5.5\n", "py.log"))
    row = _status(result, "F_cell")
    assert row.status == "fail" and row.rel_err == pytest.approx(0.1)
    assert result.exit_code() == 1


def test_a_ten_percent_difference_is_never_precision_limited():
    for ref_text, cand_text in (("TRACE_C: F_cell 5\n", "TRACE_PY: F_cell 5.5\n"),
                                ("TRACE_C: F_cell 5\n", "TRACE_PY: F_cell 4.6\n")):
        row = _status(_diff_text(ref_text, cand_text), "F_cell")
        assert row.status == "fail"


def test_few_digit_logs_are_precision_limited_only_within_what_they_print():
    ref = "TRACE_C: F_cell 12.5\nTRACE_C: polar 0.98\n"
    close = _diff_text(ref, "TRACE_PY: F_cell 12.5004\nTRACE_PY: polar 0.98\n")
    assert _status(close, "F_cell").status == "precision-limited"
    assert parse_trace_text(ref, "c.log").precision == "%.3g"


def test_g_format_logs_take_short_tokens_at_their_digits():
    log = parse_trace_text("TRACE_C: polar 0.984808\nTRACE_C: F_cell 5\n", "c.log")
    assert (log.precision, log.precision_digits) == ("%.6g", 6)
    res = dict(zip(log.records.key, log.records.resolution))
    assert res["F_cell"] == pytest.approx(5e-6)


def test_fixed_decimals_are_recognised():
    log = parse_trace_text("TRACE_C: polar 0.985\nTRACE_C: F_cell 12.500\n"
                           "TRACE_C: pix0_vector 0.095 0.051 -0.041\n", "c.log")
    assert log.precision == "%.3f"
    res = dict(zip(log.records.key, log.records.resolution))
    assert res["F_cell"] == pytest.approx(5e-4)


def test_a_float32_log_is_labelled_float32(tmp_path):
    import numpy as np

    values = np.float32([0.1, 0.2345678, 12.3456789, 1e-3 / 3, 2.0 / 3])
    lines = [f"TRACE_PY: {key} {v:.9g}" for key, v in
             zip(("polar", "F_cell", "F_latt", "omega_pixel_sr", "capture_fraction"), values)]
    log = parse_trace_text("\n".join(lines) + "\n", "py.log")
    assert (log.precision, log.precision_digits) == ("float32", 7)
    as_double = [f"TRACE_C: {key} {float(v) * (1 + 1e-9):.17g}" for key, v in
                 zip(("polar", "F_cell", "F_latt", "omega_pixel_sr", "capture_fraction"),
                     values)]
    assert parse_trace_text("\n".join(as_double) + "\n", "c.log").precision == "float64"
    path = tmp_path / "py.log"
    path.write_text("\n".join(lines) + "\n")
    data = json.loads(_run("diff", path, path, "--format", "json").output)
    assert data["logs"]["candidate"]["precision"] == "float32"
    assert "precision float32 (7 digits)" in _run("diff", path, path).output


def test_contract_logs_keep_their_exact_precision(make_log):
    log = parse_trace_text(make_log("C", {(1, 2): {"pixel": {"polar": 0.5}}}), "c.log")
    assert (log.precision, log.precision_digits) == ("float64", 17)
    log32 = parse_trace_text(make_log("PY", {(1, 2): {"pixel": {"polar": 0.5}}},
                                      dtype="float32"), "py.log")
    assert log32.precision == "float32"


# --------------------------------------------------------------------------- repeated keys

def test_a_repeated_key_with_differing_values_names_both_lines_and_never_passes(tmp_path):
    text = ("TRACE_C: polar 0.98\nTRACE_C: F_cell 101.25\nTRACE_C: polar 0.98\n"
            "TRACE_C: F_cell 102.25\n")
    log = parse_trace_text(text, "c.log")
    notes = {note["key"]: note for note in log.notes}
    assert notes["F_cell"]["lines"] == [2, 4] and notes["F_cell"]["differ"]
    assert "line 4 repeats line 2 with a different value" in notes["F_cell"]["text"]
    assert notes["polar"]["lines"] == [1, 3] and not notes["polar"]["differ"]
    result = compare_logs(log, log)
    assert _status(result, "F_cell").status == "ambiguous"
    # (a 2-digit log: equal values agree only as far as they were printed)
    assert _status(result, "polar").status in ("pass", "precision-limited")
    assert result.exit_code() == 0 and result.exit_code(strict=True) == 3
    # a candidate matching neither first value fails outright
    other = compare_logs(log, parse_trace_text("TRACE_PY: F_cell 102.25\n", "py.log"))
    assert _status(other, "F_cell").status == "fail"
    path = tmp_path / "c.log"
    path.write_text(text)
    output = _run("diff", path, path).output
    assert "F_cell: line 4 repeats line 2 with a different value (102.25 vs 101.25)" in output
    assert "1 ambiguous" in output


# --------------------------------------------------------------------------- contract logs

CONTRACT = ("TRACE_C: trace_pixel 3 7\nTRACE_C: polar 0.5\n"
            "TRACE_C_PHI: phi_tic=0 mos_tic=0 F_latt 2.5\n"
            "TRACE_C_PHI: phi_tic=1 mos_tic=0 F_latt 3.5\n")


def test_contract_logs_read_unknown_trace_shapes_and_report_the_rest(tmp_path):
    extra = ("TRACE_C_TAP5: weight 0.25 0.25\n"
             "TRACE_PY_ROTSTAR phi_tic=0 ap_y=0.0123\n"
             "TRACE:   a_star = [-0.029, -0.029, 0.0107]\n"
             "TRACE_C_TAP5: ----\n"
             "TRACE_CONFIG: tracing pixel (spixel=685, fpixel=1039)\n")
    log = parse_trace_text(CONTRACT + extra, "c.log")
    assert log.grammar == "contract" and log.pixels == [(3, 7)]
    keys = set(log.records.key)
    assert {"TAP5.weight", "ROTSTAR.ap_y", "a_star", "F_latt", "polar"} <= keys
    # TRACE_CONFIG: is the contract's TRACE_<E>: shape, so its line is an extra key
    assert "tracing" in keys and log.pixels == [(3, 7)]
    assert _skipped_lines(log) == [8]
    path = tmp_path / "c.log"
    path.write_text(CONTRACT + extra)
    assert _run("diff", path, path).exit_code == 0
    assert _run("diff", path, path, "--strict").exit_code == 3


@pytest.mark.parametrize("bad, message", [
    ("TRACE_C: omega_pixel_sr abc\n", "c.log:5: 'abc' is not a number"),
    ("TRACE_C: omega_pixel_sr 1 2\n", "c.log:5: key omega_pixel_sr takes 1 value(s), found 2"),
    ("TRACE_C_PHI: mos_tic=0 F_latt 1\n", "c.log:5: step line without phi_tic="),
    ("TRACE_C: polar 0.5\n", "c.log:5: duplicate record polar"),
])
def test_contract_lines_stay_strict(bad, message):
    with pytest.raises(TraceFormatError) as info:
        parse_trace_text(CONTRACT + bad, "c.log")
    assert str(info.value).startswith(message)


# --------------------------------------------------------------------------- hostile corpus

_GARBAGE = ["TRACE_C: ----", "TRACE_C: begin", "TRACE_C: x [1 2", "TRACE_\x7f", "TRACE_C_PHI q=1",
            "TRACE_C_PHI phi_tic=x F_latt=1", "TRACE_PY: ]]]", "TRACE_C: distance_meters a b",
            "TRACE_C: hkl_rounded 1.5 0 0", "TRACE_C:=", "TRACE_C: a=", "TRACE_Q_R_S: ::::"]
_NOISE = ["", "   ", "nanoBragg 2024", "DETECTOR_PIX0_VECTOR 0.1 0.2 0.3", "Traceback (nope)",
          "\tTRACE_C: indented is output", "12 34 56", "=== end ==="]


def _hostile_log(rng: random.Random) -> str:
    lines = []
    for text, _, _ in SHAPES.values():
        lines += [line for line in text.splitlines() if "printed twice" not in text]
    lines = [line for line in lines if not line.startswith(("TRACE_C: polar", "TRACE_C: F_cell_"))]
    lines += ["TRACE_C: polar 0.98"]
    lines += rng.sample(_GARBAGE, rng.randint(1, len(_GARBAGE)))
    lines += rng.choices(_NOISE, k=rng.randint(0, 10))
    rng.shuffle(lines)
    # values of unique keys at random precision (the reader infers it per log)
    for i in range(rng.randint(0, 6)):
        digits = rng.choice([3, 6, 9, 15, 17])
        lines.insert(rng.randint(0, len(lines)), f"TRACE_{rng.choice(['C', 'PY'])}: "
                                                  f"gen_{i} {rng.uniform(-1e3, 1e3):.{digits}g}")
    return "\n".join(lines) + rng.choice(["", "\n", "\r\n"])


def test_hostile_corpus_reads_and_diffs_against_itself_as_parity(tmp_path):
    rng = random.Random(20261202)
    for n in range(60):
        text = _hostile_log(rng)
        log = parse_trace_text(text, f"hostile{n}.log")
        result = compare_logs(log, log)
        assert result.exit_code() == 0, (n, result.failed)
        assert set(result.records.status) <= {"pass", "precision-limited", "ambiguous"}, n
        assert log.skipped, n  # some garbage is always there, and always reported
        if n < 5:  # and through the command line, as bytes from a file
            path = tmp_path / f"hostile{n}.log"
            path.write_bytes(text.encode())
            out = _run("diff", path, path)
            assert out.exit_code == 0 and "Traceback" not in out.output, out.output


def test_contract_logs_with_odd_lines_keep_the_fast_path(monkeypatch, make_log):
    """Only the odd lines go line by line; the step lines stay on the vectorised path."""
    from nbparity.parse import legacy

    steps = {(i, 0): {"F_latt": 0.5 * i, "hkl_frac": (0.1, 0.2, 0.3 * i)} for i in range(200)}
    text = make_log("C", {(3, 7): {"pixel": {"polar": 0.5}, "steps": steps}})
    text += "TRACE_C_TAP5: weight 0.25\nTRACE_C_TAP5: ----\nTRACE:  junk = [\n"
    seen = []
    line_reader = legacy.read_lines

    def spy(builder, lines, contract):
        lines = list(lines)
        seen.append(len(lines))
        return line_reader(builder, lines, contract)

    monkeypatch.setattr(legacy, "read_lines", spy)
    log = parse_trace_text(text, "c.log")
    assert seen and max(seen) < 20  # the pixel lines and the odd ones, not 400 step lines
    assert len(log.records) > 400 and "TAP5.weight" in set(log.records.key)
    assert [item["line"] for item in log.skipped] == [text.count("\n") - 1, text.count("\n")]


def test_a_float64_log_of_short_decimals_is_not_taken_for_float32():
    text = ("TRACE_C: fdet_vec 1.00000000000000 0.500000000000000 0.250000000000000\n"
            "TRACE_C: polar 0.750000000000000\nTRACE_C: F_cell 12.5000000000000\n")
    assert parse_trace_text(text, "c.log").precision == "float64"


_PIECES = ["TRACE", "TRACE_", "TRACE_C", "TRACE_PY", "_PHI", "_TAG", ":", " ", "  ", "=", "[",
           "]", "(", ")", ",", ";", "phi_tic=", "mos_tic=", "sub=", "1", "-2.5e-3", "nan",
           "inf", "1e999", "99999999999999999999999", "F_latt", "hkl_rounded", "hkl_frac",
           "k_frac", "lambda_meters", "x", "|a|", "rotx:", "MOSFLM", "pixel", "spixel=3",
           "fpixel=4", "\t", "é", "*", "-"]


@given(st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=12).map("".join),
                min_size=1, max_size=25))
@settings(max_examples=500, deadline=None)
def test_generated_trace_lines_read_or_fail_in_one_line_and_agree_with_themselves(lines):
    text = "\n".join(lines) + "\n"
    try:
        log = parse_trace_text(text, "gen.log")
    except TraceFormatError as exc:
        assert str(exc).startswith("gen.log:") and "\n" not in str(exc)
        return
    assert all(item["count"] >= 1 and item["line"] >= 1 for item in log.skipped)
    try:
        result = compare_logs(log, log)
    except StructuralMismatch:
        return  # nothing comparable (e.g. only meta records): exit 3, not a crash
    # a log agrees with itself; only a number printed as nan is its own outcome (both-nan)
    assert set(result.records.status) <= {"pass", "precision-limited", "ambiguous", "both-nan"}
    assert result.exit_code() == 0 or set(result.failed.status) == {"both-nan"}


def test_diff_compares_an_inferred_float32_log_as_float32(tmp_path):
    import numpy as np

    keys = ("polar", "F_cell", "F_latt", "omega_pixel_sr", "capture_fraction")
    values = [0.1234567891, 12.34567891, 2.0 / 3, 1e-3 / 3, 0.987654321]
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text("".join(f"TRACE_C: {k} {v * (1 + 3e-5):.17g}\n" for k, v in zip(keys, values)))
    p.write_text("".join(f"TRACE_PY: {k} {np.float32(v):.9g}\n" for k, v in zip(keys, values)))
    result = _run("diff", c, p, "--format", "json")
    data = json.loads(result.output)
    assert data["logs"]["candidate"]["precision"] == "float32"
    assert result.exit_code == 0 and data["summary"]["rtol"] == 1e-4
    assert _run("diff", c, p, "--rtol", "1e-6").exit_code == 1


def test_contract_logs_skip_marker_lines_of_keys_outside_the_catalogue():
    text = CONTRACT + ("TRACE_C: begin_final_scaling\nTRACE_C_PHI: phi_tic=1 mos_tic=0 step_done\n"
                       "TRACE_C:\n")
    log = parse_trace_text(text, "c.log")
    assert _skipped_lines(log) == [5, 6, 7]
    with pytest.raises(TraceFormatError, match="c.log:5: key F_latt has no value"):
        parse_trace_text(CONTRACT + "TRACE_C_PHI: phi_tic=2 mos_tic=0 F_latt\n", "c.log")


def test_bytes_that_are_not_utf8_skip_their_lines_only(tmp_path, make_log):
    legacy = tmp_path / "l.log"
    legacy.write_bytes(b"banner \xc5ngstr\xf6m\nTRACE_C: polar 0.5\nTRACE_C: x caf\xe9\n")
    result = _run("diff", legacy, legacy, "--format", "json")
    assert result.exit_code == 0, result.output
    skipped = json.loads(result.output)["logs"]["reference"]["skipped"]
    assert skipped == [{"shape": "TRACE line with bytes that are not UTF-8", "count": 1,
                        "example": "TRACE_C: x caf\u00e9", "line": 3, "keys": ["x"]}]
    contract = tmp_path / "c.log"
    contract.write_bytes(b"r\xe9sum\xe9\n" + make_log("C", {(1, 2): {"pixel": {"polar": 0.5}}})
                         .encode())
    assert _run("diff", contract, contract).exit_code == 0

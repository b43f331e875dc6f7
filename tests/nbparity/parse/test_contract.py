"""The vectorised contract reader gives the line-by-line reader's records (and errors)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nbparity.parse import TraceFormatError, legacy, parse_trace_file, parse_trace_text
from nbparity.parse.builder import _RecordBuilder

COLS = ["engine", "slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick", "key",
        "kind", "arity", "mask", "text", "line"]


def _line_reader(text: str):
    builder = _RecordBuilder("<string>", on_duplicate="error")
    legacy.read_lines(builder, enumerate(text.splitlines(), start=1), True)
    return builder.records(exact=True)


def _log(engine="C", pixels=((1, 2), (3, 4)), phi=3, mos=2, extra=""):
    out = []
    for s, f in pixels:
        out.append(f"TRACE_{engine}: trace_pixel {s} {f}")
        out.append(f"TRACE_{engine}: omega_pixel_sr 1.5e-07")
        for i in range(phi):
            for j in range(mos):
                out.append(f"TRACE_{engine}_PHI: phi_tic={i} mos_tic={j} hkl_frac "
                           f"{i + 0.1:.17g} -{j}.25 3e-5")
                out.append(f"TRACE_{engine}_PHI: phi_tic={i} mos_tic={j} hkl_rounded {i} -{j} 0")
                out.append(f"TRACE_{engine}_PHI: phi_tic={i} mos_tic={j} F_latt {0.1 * i - j}")
    return "\n".join(out) + "\n" + extra


def _step(line: str, engine: str = "C") -> str:
    return f"TRACE_{engine}_PHI: phi_tic=7 mos_tic=3 {line}\n"


@pytest.mark.parametrize("text", [
    _log(),
    _log().rstrip("\n"),
    _log().replace("\n", "\r\n"),
    _log().replace("\n", "\x0c"),
    _log(extra="TRACE_C_PHI: phi_tic=0 mos_tic=0 sub=1 F_latt 2\n"),
    _log(extra="TRACE_C_PHI: phi_tic=9 mos_tic=0 F_latt nan\nTRACE_C_PHI: phi_tic=9 mos_tic=1 "
               "F_latt -inf\n"),
    _log(extra="not a trace line\n"),
    _log(extra="ordinary output: 1.5 \u00c5, \u00b5m and \u2028 inside\n"),
    _log(engine="PY", pixels=((0, 0),), phi=1, mos=1),
    # engine names and keys of every length the byte reader takes, and longer ones
    _log(engine="ABCDEFGH", phi=1) + _log(engine="ABCDEFGHI", pixels=((5, 6),), phi=1),
    _log(extra=_step("omega_pixel_sr 2.5") + _step("capture_fraction_applied 0.5")),
    _log(extra=_step("F_latt 1", engine="C2") + _step("I_term 2")),
    # number forms: exponents with "+", leading zeros, bare points, signs, case
    _log(extra=_step("hkl_frac 1e+30 -007.5 .5") + _step("F_cell 5.") + _step("I_term -0")
         + _step("phi_deg 1E5") + _step("F_latt_a 2.5e-310")),
    _log(extra=_step("hkl_frac +1.5 2 3") + _step("F_cell +0.10000000000000001")),
    _log(extra=_step("hkl_frac NaN Infinity -INF") + _step("F_cell -nan")),
    # what the line reader splits differently: tabs, runs of spaces, spaces at the end
    _log(extra=_step("hkl_frac 1\t2 3") + _step("F_cell 1.5\t")),
    _log(extra=_step("hkl_frac 1  2 3") + _step("F_cell 1.5 ")),
    _log(extra="TRACE_C_PHI: phi_tic=7 mos_tic=3 F_cell  1.5\n"),
    # indices the byte reader leaves to the line reader
    _log(extra="TRACE_C_PHI: phi_tic=\u0661 mos_tic=0 F_cell 1\n"),
    _log(extra="TRACE_C_PHI: phi_tic=012 mos_tic=00 F_cell 1\n"),
    _log(extra="TRACE_C_PHI: phi_tic=1234567890123456789 mos_tic=0 F_cell 1\n"),
    # a last line without its newline, shorter than a machine word
    _log(pixels=((1, 2),), phi=1, mos=1) + "TRACE_C_PHI: phi_tic=9 mos_tic=9 I_term 1",
    "TRACE_C: trace_pixel 0 0\nTRACE_C_PHI: phi_tic=0 mos_tic=0 F_latt 1",
])
def test_fast_reader_equals_line_reader(text):
    _assert_same_records(parse_trace_text(text).records, _line_reader(text))


def _assert_same_records(fast, slow):
    assert len(fast) == len(slow)
    for col in COLS:
        assert fast[col].tolist() == slow[col].tolist(), col
    width = slow.attrs["width"]
    for j in range(width):
        np.testing.assert_array_equal(fast[f"v{j}"].to_numpy(), slow[f"v{j}"].to_numpy())


_NUMBER = st.one_of(
    st.floats(width=64).map(lambda v: "nan" if math.isnan(v) else format(v, ".17g")),
    st.floats(width=64, allow_nan=False).map(repr),
    st.floats(width=64, allow_nan=False, allow_infinity=False).map(lambda v: format(v, "g")),
    st.integers(-10**20, 10**20).map(str),
    st.from_regex(r"-?[0-9]{0,3}\.?[0-9]{0,19}([eE][+-]?[0-9]{1,3})?", fullmatch=True),
)


@st.composite
def _step_logs(draw):
    keys = [("F_latt", 1), ("hkl_frac", 3), ("hkl_rounded", 3), ("I_term", 1)]
    lines = []
    for pixel in range(draw(st.integers(1, 3))):
        lines.append(f"TRACE_{draw(st.sampled_from(['C', 'PY', 'GPU64']))}: trace_pixel "
                     f"{pixel} {draw(st.integers(0, 99))}")
        for phi in range(draw(st.integers(0, 3))):
            for key, arity in draw(st.lists(st.sampled_from(keys), unique=True)):
                number = st.integers(-9, 9).map(str) if key == "hkl_rounded" else _NUMBER
                values = draw(st.lists(number, min_size=arity, max_size=arity))
                lines.append(f"TRACE_C_PHI: phi_tic={phi} mos_tic=0 {key} {' '.join(values)}")
    return "\n".join(lines) + draw(st.sampled_from(["", "\n"]))


@given(_step_logs())
@settings(max_examples=200, deadline=None)
def test_fast_reader_equals_line_reader_on_generated_logs(text):
    try:
        slow = _line_reader(text)
    except TraceFormatError as exc:
        with pytest.raises(TraceFormatError) as err:
            parse_trace_text(text)
        assert str(err.value) == str(exc)
        return
    _assert_same_records(parse_trace_text(text).records, slow)


@pytest.mark.parametrize("text", [
    _log(), _log(extra="r\u00e9sum\u00e9 of the run\n"), _log().replace("\n", "\r\n"),
    # the fast path gives up after marking the buffer: the line reader must see it unchanged
    _log(extra=_step("hkl_frac 1\t2 3")), _log(extra=_step("engine_step_key 1 2")),
])
def test_a_file_reads_as_its_text(tmp_path, text):
    path = tmp_path / "c.log"
    path.write_bytes(text.encode())
    _assert_same_records(parse_trace_file(path).records, parse_trace_text(text).records)


@pytest.mark.parametrize("bad, message", [
    ("TRACE_C_PHI: phi_tic=5 mos_tic=0 F_latt 1 2\n", r"takes 1 value\(s\), found 2"),
    ("TRACE_C_PHI: phi_tic=5 mos_tic=0 F_latt 1-2\n", "is not a number"),
    ("TRACE_C_PHI: phi_tic=5 mos_tic=0 F_latt 1_0\n", "is not a number"),
    ("TRACE_C_PHI: phi_tic=5 mos_tic=0 hkl_rounded 1 2 3.5\n", "expects integers"),
    ("TRACE_C_PHI: phi_tic=0 mos_tic=0 F_latt 0.5\n", "duplicate record F_latt"),
])
def test_fast_reader_errors_name_the_line(bad, message):
    text = _log(pixels=((1, 2),), phi=1, mos=1) + bad
    with pytest.raises(TraceFormatError, match=message) as err:
        parse_trace_text(text)
    assert str(err.value).startswith(f"<string>:{text.count(chr(10))}:")

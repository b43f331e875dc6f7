"""The vectorised contract reader gives the line-by-line reader's records (and errors)."""

from __future__ import annotations

import numpy as np
import pytest

from nbparity import parse
from nbparity.parse import TraceFormatError, parse_trace_text

COLS = ["engine", "slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick", "key",
        "kind", "arity", "mask", "text", "line"]


def _line_reader(text: str):
    builder = parse._RecordBuilder("<string>", on_duplicate="error")
    parse._parse_lines(builder, enumerate(text.splitlines(), start=1), True)
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


@pytest.mark.parametrize("text", [
    _log(),
    _log().rstrip("\n"),
    _log().replace("\n", "\r\n"),
    _log(extra="TRACE_C_PHI: phi_tic=0 mos_tic=0 sub=1 F_latt 2\n"),
    _log(extra="TRACE_C_PHI: phi_tic=9 mos_tic=0 F_latt nan\nTRACE_C_PHI: phi_tic=9 mos_tic=1 "
               "F_latt -inf\n"),
    _log(extra="not a trace line\n"),
    _log(engine="PY", pixels=((0, 0),), phi=1, mos=1),
])
def test_fast_reader_equals_line_reader(text):
    fast = parse_trace_text(text).records
    slow = _line_reader(text)
    assert len(fast) == len(slow)
    for col in COLS:
        assert fast[col].tolist() == slow[col].tolist(), col
    width = slow.attrs["width"]
    for j in range(width):
        np.testing.assert_array_equal(fast[f"v{j}"].to_numpy(), slow[f"v{j}"].to_numpy())


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

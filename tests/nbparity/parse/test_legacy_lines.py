"""The line reader's handling of hand-made line shapes (review mends): blanks between key and
values, pixel-declaration lines that hold records, prefixed TRACE lines, records before the
first trace_pixel line."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.parse import parse_trace_text


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

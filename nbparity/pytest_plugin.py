"""pytest plugin: assert parity of two traces in one line from a port's own test suite.

Installed with nbparity (entry point ``pytest11``), it provides the fixture ``assert_parity``::

    def test_my_port(assert_parity, tmp_path):
        assert_parity("c.log", "py.log")                      # paths
        assert_parity(c_text, py_text, rtol=1e-9, tol={"F_latt": (1e-6, 0)})

It fails the test with the first divergence (key, step, values, diagnosis) and the summary line,
and returns the Comparison when the logs agree. ``assert_parity`` is also importable directly.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nbparity import report
from nbparity.compare import Comparison, compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import TraceLog, parse_trace_file, parse_trace_text
from nbparity.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance


def _as_log(source, name: str, keymap=None) -> TraceLog:
    if isinstance(source, TraceLog):
        return source
    if isinstance(source, Path) or (isinstance(source, str) and "\n" not in source
                                    and Path(source).is_file()):
        return parse_trace_file(source, keymap=keymap)
    return parse_trace_text(str(source), name, keymap=keymap)


def assert_parity(reference, candidate, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  tol: dict[str, tuple[float, float]] | None = None,
                  strict: bool = False, keymap: str | Path | None = None) -> Comparison:
    """Raise AssertionError naming every root divergence (with its diagnoses and their fixes)
    unless the logs are at parity. ``keymap``: a key map file for the candidate's names."""
    mapping = None
    if keymap is not None:
        from nbparity.keymap import load_keymap

        mapping = load_keymap(keymap)
    comparison = compare_logs(_as_log(reference, "reference"),
                              _as_log(candidate, "candidate", mapping),
                              Tolerance(rtol, atol, dict(tol or {})))
    code = comparison.exit_code(strict)
    if code != 0:
        message = report.render_divergences(first_divergences(comparison))
        if strict and comparison.failed.empty:
            missing = comparison.missing
            message = "keys missing on one side: " + ", ".join(sorted(set(missing.key)))
        raise AssertionError(f"{report.summary_line(comparison)}\n{message}")
    return comparison


@pytest.fixture(name="assert_parity")
def assert_parity_fixture():
    return assert_parity

"""pytest plugin: assert parity of two traces in one line from a port's own test suite.

Installed with nbparity (entry point ``pytest11``), it provides the fixture ``assert_parity``::

    def test_my_port(assert_parity, tmp_path):
        assert_parity("c.log", "py.log")                      # paths
        assert_parity(c_text, py_text, rtol=1e-9, tol={"F_latt": (1e-6, 0)})

A log is given as a path (``str`` or ``Path``), as its text (anything holding a newline or
starting with ``TRACE``) or as a parsed ``TraceLog``. Through the fixture, a relative path is
read from the test file's folder (not from wherever pytest was started); the function imported
directly reads it from the current directory, or from ``base``. A path that does not exist is
``FileNotFoundError`` naming the path it tried, never read as a log's text.

It fails the test with every root divergence (key, step, values, diagnosis) and the summary
line, and returns the Comparison when the logs agree. Records one log lacks although the other
holds them (a truncated log) fail it too, unless ``allow_missing``. The plugin's own frames are
hidden from the traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from nbparity import exitcodes, report
from nbparity.compare import Comparison, compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import TraceLog, parse_trace_file, parse_trace_text
from nbparity.tolerance import DEFAULT_ATOL, DEFAULT_RTOL, Tolerance


def _is_text(source: str) -> bool:
    return "\n" in source or source.lstrip().startswith("TRACE")


def _as_log(source, name: str, keymap=None, base: Path | None = None) -> TraceLog:
    __tracebackhide__ = True
    if isinstance(source, TraceLog):
        return source
    if isinstance(source, str) and _is_text(source):
        return parse_trace_text(source, name, keymap=keymap)
    path = Path(source)
    if not path.is_absolute() and base is not None:
        path = base / path
    if not path.is_file():
        where = f" (relative paths are read from {base})" if base is not None else ""
        raise FileNotFoundError(f"assert_parity: {name} log {source}: file not found at "
                                f"{path}{where}")
    return parse_trace_file(path, keymap=keymap)


def assert_parity(reference, candidate, rtol: float = DEFAULT_RTOL, atol: float = DEFAULT_ATOL,
                  tol: dict[str, tuple[float, float]] | None = None,
                  strict: bool = False, keymap: str | Path | None = None,
                  allow_missing: bool = False, base: str | Path | None = None) -> Comparison:
    """Raise AssertionError naming every root divergence (with its diagnoses and their fixes)
    unless the logs are at parity. ``keymap``: a key map file for the candidate's names;
    ``base``: the folder relative paths are read from (default: the current directory)."""
    __tracebackhide__ = True
    base = Path(base) if base is not None else None
    mapping = None
    if keymap is not None:
        from nbparity.keymap import load_keymap

        keymap = Path(keymap)
        mapping = load_keymap(base / keymap if base and not keymap.is_absolute() else keymap)
    comparison = compare_logs(_as_log(reference, "reference", base=base),
                              _as_log(candidate, "candidate", mapping, base),
                              Tolerance(rtol, atol, dict(tol or {})))
    code = comparison.exit_code(strict, allow_missing)
    if code != exitcodes.PARITY:
        message = report.render_divergences(first_divergences(comparison))
        if code == exitcodes.STRUCTURAL and not comparison.incomplete.empty \
                and not allow_missing:
            message = comparison.incomplete_text()
        elif strict and comparison.failed.empty:
            missing = comparison.missing
            message = "keys missing on one side: " + ", ".join(sorted(set(missing.key)))
        raise AssertionError(f"{report.summary_line(comparison)}\n{message}")
    return comparison


@pytest.fixture(name="assert_parity")
def assert_parity_fixture(request):
    """``assert_parity`` with relative paths read from the requesting test file's folder."""
    folder = Path(str(request.fspath)).parent

    def bound(reference, candidate, **options):
        __tracebackhide__ = True
        options.setdefault("base", folder)
        return assert_parity(reference, candidate, **options)

    return bound

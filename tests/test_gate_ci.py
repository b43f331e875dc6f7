"""The parity gate in CI: every named case through both engines in both carry-over pairings,
the upstream cases likewise, and the C reference against its reviewed golden logs.

A failure prints the first divergence of the failing case (the key, the step, the values and a
diagnosis), so a broken engine names its broken quantity in `make test`'s output.
"""

from __future__ import annotations

import pytest

from nbparity import report
from nbparity.cases import TRACES_DIR, UPSTREAM_DIR, load_cases
from nbparity.compare import compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import parse_trace_text
from nbparity.runner import GOLDEN_MODES, c_trace_text, gate_cases, golden_name
from nbparity.tolerance import Tolerance

MATRIX = load_cases(TRACES_DIR / "cases.toml")
UPSTREAM = load_cases(UPSTREAM_DIR / "cases.toml")
GOLDEN = TRACES_DIR / "golden"


def _gate(case, c_binary):
    results = gate_cases([case], GOLDEN_MODES, Tolerance(), c_bin=str(c_binary))
    failing = [r for r in results if r.exit_code != 0]
    if failing:
        pytest.fail("parity gate failed:\n" + report.render_gate(failing), pytrace=False)


@pytest.mark.parametrize("case", MATRIX, ids=[c.name for c in MATRIX])
def test_gate_case_matrix(case, c_binary):
    _gate(case, c_binary)


@pytest.mark.parametrize("case", UPSTREAM, ids=[c.name for c in UPSTREAM])
def test_gate_upstream_cases(case, c_binary):
    _gate(case, c_binary)


@pytest.mark.parametrize("mode", GOLDEN_MODES)
@pytest.mark.parametrize("case", MATRIX, ids=[c.name for c in MATRIX])
def test_c_reference_matches_its_golden_log(case, mode, c_binary):
    path = GOLDEN / golden_name(case, mode)
    assert path.is_file(), f"{path} is missing: run `make golden` and review the diff"
    golden = path.read_text()
    current = c_trace_text(case, mode, str(c_binary))
    if current != golden:
        comparison = compare_logs(parse_trace_text(golden, str(path)),
                                  parse_trace_text(current, "current C reference"),
                                  Tolerance(rtol=0.0))
        pytest.fail(f"the C reference no longer prints its golden log {path.name} "
                    f"(regenerate with `make golden` if the change is intended):\n"
                    + report.render_divergences(first_divergences(comparison)), pytrace=False)


def test_golden_folder_holds_exactly_the_case_logs():
    expected = {golden_name(c, m) for c in MATRIX for m in GOLDEN_MODES}
    assert {p.name for p in GOLDEN.glob("*.log")} == expected

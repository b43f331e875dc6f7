"""Both console scripts print usage and reject unknown input in one line with exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


def _run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _script(name: str) -> str:
    path = BIN / name
    if not path.exists():
        pytest.fail(f"console script {name} is not installed in {BIN}: run `make setup`")
    return str(path)


@pytest.mark.parametrize("command", [["nbparity"], ["nbsim"]], ids=["nbparity", "nbsim"])
def test_help_prints_usage(command):
    result = _run(_script(command[0]), "--help")
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()


@pytest.mark.parametrize(
    "argv",
    [["nbparity", "no-such-command"], ["nbparity", "--no-such-option"],
     ["nbsim", "-no_such_option"], ["nbsim", "-cell"]],
    ids=["nbparity-command", "nbparity-option", "nbsim-option", "nbsim-missing-value"],
)
def test_bad_usage_exits_2_with_one_line(argv):
    result = _run(_script(argv[0]), *argv[1:])
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert argv[1].lstrip("-").split("_")[0] in lines[0]


@pytest.mark.parametrize("module", ["nbparity", "simulator"])
def test_python_dash_m_matches_console_script(module):
    result = _run(sys.executable, "-m", module, "--help")
    assert result.returncode == 0, result.stderr
    assert "usage" in result.stdout.lower()


def test_schema_command_lists_every_key():
    from nbparity import schema

    result = _run(_script("nbparity"), "schema")
    assert result.returncode == 0
    for key in schema.CATALOGUE:
        assert key.name in result.stdout


def test_scripts_flush_everything_before_their_quick_exit():
    """console_main leaves with os._exit: piped (fully buffered) output still arrives whole."""
    from nbparity import schema

    result = _run(_script("nbparity"), "schema")
    assert result.returncode == 0, result.stderr
    assert schema.CATALOGUE[-1].name in result.stdout
    assert result.stdout.rstrip().splitlines()[-1].lstrip().startswith("└")  # the table's end


def test_the_trace_command_starts_without_pandas():
    """A one-engine `nbparity trace` has 2 s, process start included; pandas costs ~0.25 s of
    it, so the readers and the alignment are imported only by commands that compare logs."""
    code = "import sys, nbparity.cli, nbparity.runner; print('pandas' in sys.modules)"
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"

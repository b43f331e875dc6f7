"""Shared fixtures: repository paths and the public upstream cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from nbparity.cases import UPSTREAM_DIR, upstream_cases

REPO_ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture(scope="session")
def upstream_dir() -> Path:
    return UPSTREAM_DIR


@pytest.fixture(scope="session")
def all_upstream_cases():
    return upstream_cases()


def contract_log(engine: str, pixels: dict, mode: str = "spec", dtype: str = "float64") -> str:
    """A contract-grammar log from {(slow, fast): {"pixel": {key: values}, "steps":
    {(phi_tic, mos_tic): {key: values}}}}; values are numbers or tuples, printed with %.17g."""

    def fmt(values) -> str:
        values = values if isinstance(values, (tuple, list)) else (values,)
        return " ".join(v if isinstance(v, str) else
                        (str(v) if isinstance(v, int) else format(v, ".17g")) for v in values)

    lines = []
    for (slow, fast), block in pixels.items():
        lines.append(f"TRACE_{engine}: trace_pixel {slow} {fast}")
        lines.append(f"TRACE_{engine}: schema_version 1")
        lines.append(f"TRACE_{engine}: phi_carryover_mode {mode}")
        lines.append(f"TRACE_{engine}: dtype {dtype}")
        for key, values in block.get("pixel", {}).items():
            lines.append(f"TRACE_{engine}: {key} {fmt(values)}")
        for (phi_tic, mos_tic), keys in block.get("steps", {}).items():
            for key, values in keys.items():
                lines.append(f"TRACE_{engine}_PHI: phi_tic={phi_tic} mos_tic={mos_tic} "
                             f"{key} {fmt(values)}")
        for key, values in block.get("final", {}).items():
            lines.append(f"TRACE_{engine}: {key} {fmt(values)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def make_log():
    return contract_log


@pytest.fixture(scope="session")
def c_binary() -> Path:
    """The serial C reference, built with make when missing or out of date."""
    import shutil
    import subprocess

    c_dir = REPO_ROOT / "c_reference"
    binary = c_dir / "build" / "nanobragg-ref"
    make = shutil.which("make")
    if make is not None:
        proc = subprocess.run([make, "-s", "-C", str(c_dir)], capture_output=True, text=True)
        assert proc.returncode == 0, f"building the C reference failed:\n{proc.stderr}"
    assert binary.exists(), "the C reference is not built (run `make build`)"
    return binary

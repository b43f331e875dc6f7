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

"""Run bundles: the logs of a trace run plus everything needed to reproduce it.

A bundle is a folder holding ``c.log`` and/or ``py.log`` and ``run.json`` (the exact commands,
versions, git commit, device, dtype, timings, and the sha256 of every other file). It is
assembled in a hidden staging folder beside its destination and renamed into place at the end,
so a failed run leaves no half-written bundle, and an existing bundle is never overwritten.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from nbparity import __version__, resources, schema
from nbparity.engines import sha256_of


class BundleError(OSError):
    """The bundle folder cannot be created (exists, or not writable)."""


def default_bundle_dir(case_name: str) -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    return Path("runs") / f"trace-{case_name}-{stamp}-{os.getpid()}"


class Bundle:
    """Use as a context manager: files go to ``staging``; on success it becomes ``path``."""

    def __init__(self, path: Path):
        self.path = Path(path)
        _check_free(self.path, "")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.staging = Path(tempfile.mkdtemp(prefix=f".{self.path.name}.",
                                                 dir=self.path.parent))
        except OSError as exc:
            raise BundleError(f"--out: cannot create {self.path}: {exc.strerror or exc}") from None

    def __enter__(self) -> Bundle:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            shutil.rmtree(self.staging, ignore_errors=True)

    def write(self, name: str, text: str) -> Path:
        target = self.staging / name
        try:
            target.write_text(text)
        except OSError as exc:  # a full disk, a quota: one line, and __exit__ cleans up
            raise BundleError(f"--out: cannot write {self.path / name}: "
                              f"{exc.strerror or exc}") from None
        return target

    def finish(self, manifest: dict) -> Path:
        """Write run.json (with checksums of every other file) and move the bundle in place."""
        files = {p.name: sha256_of(p) for p in sorted(self.staging.iterdir()) if p.is_file()}
        manifest = {**manifest, "files_sha256": files}
        self.write("run.json", json.dumps(manifest, indent=2, default=str) + "\n")
        try:
            _check_free(self.path, " (it appeared while running)")
            os.rename(self.staging, self.path)
        except OSError as exc:
            shutil.rmtree(self.staging, ignore_errors=True)
            if isinstance(exc, BundleError):
                raise
            raise BundleError(f"--out: cannot create {self.path}: {exc.strerror or exc}"
                              ) from None
        return self.path


def _check_free(path: Path, when: str) -> None:
    """Nothing at ``path``, not even a symbolic link (a dangling one included): a bundle is
    never written through a link nor over anything."""
    if path.is_symlink():
        target = os.readlink(path)
        state = "" if path.exists() else ", which does not exist"
        raise BundleError(f"--out: {path} is a symbolic link (to {target}{state}){when}; "
                          f"give a new folder")
    if os.path.lexists(path):
        kind = "a folder" if path.is_dir() else "a file"
        raise BundleError(f"--out: {path} exists ({kind}){when}; bundles are never "
                          f"overwritten")


def git_commit() -> dict:
    """The project's git commit and whether the work tree had changes (None outside git, and
    for an installed wheel: the git repository around its environment is the port's, not
    nbparity's, and must not be recorded as nbparity's commit)."""
    root = resources.repo_root()
    if root is None:
        return {"commit": None, "dirty": None}

    def git(*args: str) -> str | None:
        try:
            proc = subprocess.run(["git", *args], cwd=root, capture_output=True,
                                  text=True, timeout=10)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return proc.stdout.strip() if proc.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def versions() -> dict:
    out = {"nbparity": __version__, "trace_schema": schema.SCHEMA_VERSION,
           "python": sys.version.split()[0], "platform": platform.platform()}
    # From the installed metadata: importing torch only to read its version costs ~1.5 s,
    # which a C-only trace would otherwise pay.
    for module in ("torch", "numpy", "pandas"):
        try:
            out[module] = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            out[module] = None
    return out

"""Where nbparity's own files are: the one place that resolves them.

nbparity runs either from a clone (the repository itself, or an editable install of it) or from
an installed wheel. In a clone, everything is read where it lives: ``traces/cases.toml`` and its
inputs, ``c_reference/`` and its ``make build`` output. A wheel carries a copy of the case file,
the default case's inputs and the C reference's sources as package data in ``nbparity/_data/``
(copied there at build time by ``setup.py``; git holds them once). The C reference is then
compiled on first use into the user cache, ``$XDG_CACHE_HOME/nbparity/<key>/nanobragg-ref``
(default ``~/.cache``), keyed by a hash of the sources, the compiler and the flags, so an
upgrade of either builds afresh and never runs a stale binary.

Nothing here honours ``--c-bin`` or ``$NB_C_BIN``: the callers decide before asking.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: The package data of a wheel (absent in a clone: the files are read where they live there).
DATA_DIR = PACKAGE_DIR / "_data"
BINARY_NAME = "nanobragg-ref"

#: c_reference/Makefile's serial build, less -Werror: the bits depend on -O2 and
#: -ffp-contract=off (no fused multiply-adds, like the clone's build), while a warning that a
#: newer compiler adds must not stop a port team from running the reference.
#: tests/test_wheel_install.py checks these against the Makefile.
C_FLAGS = ("-std=c99", "-pedantic", "-Wall", "-Wextra", "-O2", "-ffp-contract=off")
C_LIBS = ("-lm",)
BUILD_TIMEOUT_S = 600.0


class BuildError(RuntimeError):
    """The C reference could not be built (no compiler, a compiler error); one line."""


@functools.cache
def repo_root() -> Path | None:
    """The clone's root when nbparity runs from a clone or an editable install, else None."""
    root = PACKAGE_DIR.parent
    # Both files: an installed package's parent is site-packages, which holds neither.
    if (root / "pyproject.toml").is_file() and (root / "traces" / "cases.toml").is_file():
        return root
    return None


def traces_dir() -> Path:
    """The folder of the case file and the default case's inputs (``default/``)."""
    root = repo_root()
    return root / "traces" if root else DATA_DIR / "traces"


def cases_file() -> Path:
    """The named cases: the clone's ``traces/cases.toml``, else the wheel's copy."""
    return traces_dir() / "cases.toml"


def golden_dir() -> Path:
    """Where ``nbparity golden`` writes by default: the clone's ``traces/golden``; outside a
    clone ``./golden`` of the current folder (package data is no place to write to)."""
    root = repo_root()
    return root / "traces" / "golden" if root else Path("golden")


def c_source_dir() -> Path:
    """The C reference's folder (``Makefile``, ``src/``): the clone's, else the wheel's copy."""
    root = repo_root()
    return root / "c_reference" if root else DATA_DIR / "c_reference"


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/nbparity`` (a relative value is ignored, as the XDG spec asks), else
    ``~/.cache/nbparity``."""
    base = os.environ.get("XDG_CACHE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".cache"
    return root / "nbparity"


def _compiler() -> list[str]:
    # $CC like the Makefile (`CC ?= cc`); it may carry options ("ccache gcc").
    return shlex.split(os.environ.get("CC", "").strip() or "cc")


def _sources(source_dir: Path) -> list[Path]:
    return sorted((source_dir / "src").glob("*.[ch]"))


def build_key(source_dir: Path | None = None) -> str:
    """A hash of the sources, the compiler command and the flags: the cache folder's name."""
    source_dir = source_dir or c_source_dir()
    digest = hashlib.sha256()
    for part in (*_compiler(), *C_FLAGS, *C_LIBS):
        digest.update(part.encode() + b"\0")
    for path in _sources(source_dir):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def cached_binary_path(source_dir: Path | None = None) -> Path:
    """Where the cache build of these sources lives (built or not)."""
    source_dir = source_dir or c_source_dir()
    return cache_dir() / build_key(source_dir) / BINARY_NAME


def _executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def c_reference_binary() -> Path:
    """The C reference: the clone's ``make build`` output when present, else the sources (the
    wheel's, or a clone's not yet built) compiled into the user cache on first use.

    Raises BuildError (one line) when the sources are missing or do not compile.
    """
    root = repo_root()
    if root is not None:
        built = root / "c_reference" / "build" / BINARY_NAME
        if _executable(built):
            return built
    return build_c_reference(c_source_dir())


def build_c_reference(source_dir: Path | None = None) -> Path:
    """The cache build of the C sources in ``source_dir`` (default: ``c_source_dir()``),
    compiled first if it is not there yet. Raises BuildError (one line)."""
    source_dir = source_dir or c_source_dir()
    if not _sources(source_dir):
        raise BuildError(f"C engine: no C reference sources in {source_dir / 'src'} "
                         "(a broken install? pass --c-bin or set NB_C_BIN)")
    target = cached_binary_path(source_dir)
    if _executable(target):
        return target
    return _build(source_dir, target)


def _build(source_dir: Path, target: Path) -> Path:
    """Compile into a temporary file beside ``target`` and rename it into place, holding a lock
    so that concurrent first uses build once; the rename alone already keeps a reader from ever
    seeing a half-written binary (and a crash from leaving one)."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        return _build_locked(source_dir, target)
    except OSError as exc:  # an unwritable cache, a full disk
        raise BuildError(f"C engine: cannot build the C reference into {target.parent}: "
                         f"{exc.strerror or exc}") from None


def _build_locked(source_dir: Path, target: Path) -> Path:
    with _locked(target.parent / ".lock"):
        if _executable(target):  # another process built it while this one waited
            return target
        print(f"nbparity: building the C reference into {target.parent} (first use)",
              file=sys.stderr, flush=True)
        # A fresh folder, not a pre-created file: the linker then creates the output itself,
        # with the executable mode.
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{BINARY_NAME}.", dir=target.parent))
        tmp = tmp_dir / BINARY_NAME
        command = [*_compiler(), *C_FLAGS, "-o", str(tmp),
                   *(str(p) for p in _sources(source_dir) if p.suffix == ".c"), *C_LIBS]
        try:
            try:
                proc = subprocess.run(command, capture_output=True, text=True,
                                      timeout=BUILD_TIMEOUT_S)
            except FileNotFoundError:
                raise BuildError(f"C engine: no C compiler {command[0]!r} to build the C "
                                 "reference (install one, set CC, or pass --c-bin / set "
                                 "NB_C_BIN)") from None
            except subprocess.TimeoutExpired:
                raise BuildError(f"C engine: building the C reference took over "
                                 f"{BUILD_TIMEOUT_S:.0f} s; stopped") from None
            if proc.returncode != 0 or not _executable(tmp):
                raise BuildError(f"C engine: building the C reference into {target.parent} "
                                 f"failed: {_last_error(proc, command[0])}")
            os.replace(tmp, target)
        finally:
            shutil.rmtree(tmp_dir, ignore_errors=True)
    return target


def _last_error(proc: subprocess.CompletedProcess, compiler: str) -> str:
    """The compiler's last line that says "error" (its last line is often only a caret or
    "compilation terminated."), else its last line."""
    lines = [ln.strip() for ln in (proc.stderr + proc.stdout).splitlines() if ln.strip()]
    errors = [ln for ln in lines if "error" in ln.lower()]
    if errors or lines:
        return (errors or lines)[-1]
    return f"{compiler} exited {proc.returncode}"


@contextlib.contextmanager
def _locked(path: Path):
    """An exclusive advisory lock on ``path`` where the platform has one (else no lock: the
    rename into place still keeps concurrent builds safe, only not single)."""
    try:
        import fcntl
    except ImportError:  # not POSIX
        yield
        return
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)

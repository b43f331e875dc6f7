"""Running the engines with tracing on: the only place nbparity reaches the simulator.

The C reference (or any nanoBragg build given by ``--c-bin`` / ``NB_C_BIN``) always runs as a
subprocess, with a time-out and its stderr kept. The torch simulator runs in process through its
Python API (``simulator.cli.run_argv``), so a gate over many cases pays torch's start-up once.
Failures raise ``EngineError`` (exit code 4) with a one-line message carrying the stderr tail.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from nbparity.cases import REPO_ROOT

DEFAULT_C_BIN = REPO_ROOT / "c_reference" / "build" / "nanobragg-ref"
DEFAULT_TIMEOUT_S = 300.0

#: nanoBragg options whose value is an input file (made absolute, so engines can run anywhere).
INPUT_FILE_OPTIONS = frozenset({"-hkl", "-mat", "-matrix", "-sourcefile", "-mask", "-img"})
#: nanoBragg options whose value names an output file.
OUTPUT_FILE_OPTIONS = frozenset({"-floatfile", "-intfile", "-noisefile", "-pgmfile",
                                 "-floatimage", "-intimage", "-noiseimage", "-pgmimage"})


def strip_output_options(args) -> list[str]:
    """The arguments without their output-file options (so a caller can choose its own)."""
    out, i, args = [], 0, [str(a) for a in args]
    while i < len(args):
        if args[i] in OUTPUT_FILE_OPTIONS:
            i += 2
            continue
        out.append(args[i])
        i += 1
    return out
MODES = ("spec", "c-parity")


class EngineError(RuntimeError):
    """An engine failed to run: missing binary, crash, bad exit, time-out."""


@dataclass
class EngineRun:
    """What one engine run produced: the trace text and how it was made."""

    engine: str  # "c" or "py"
    command: list[str]
    log_text: str
    seconds: float
    details: dict = field(default_factory=dict)


def resolve_inputs(args: list[str] | tuple[str, ...], folder: Path | None) -> list[str]:
    """Input-file arguments made absolute relative to ``folder`` (the case's folder)."""
    out = list(args)
    if folder is None:
        return out
    for i, token in enumerate(out[:-1]):
        if token in INPUT_FILE_OPTIONS and not os.path.isabs(out[i + 1]):
            out[i + 1] = str((folder / out[i + 1]).resolve())
    return out


def trace_args(pixels: list[tuple[int, int]]) -> list[str]:
    return [token for s, f in pixels for token in ("-trace_pixel", str(s), str(f))]


def find_c_binary(c_bin: str | None = None) -> Path:
    """--c-bin, else $NB_C_BIN, else the project's build; EngineError if it is not there."""
    chosen = c_bin or os.environ.get("NB_C_BIN")
    if not chosen:
        # The clone's `make build`, else the C sources (a wheel's, or an unbuilt clone's)
        # compiled into the user cache on first use; resources says why it cannot.
        from nbparity import resources
        try:
            return resources.c_reference_binary()
        except resources.BuildError as exc:
            raise EngineError(str(exc)) from None
    path = Path(chosen)
    if not path.is_file() or not os.access(path, os.X_OK):
        hint = " (from --c-bin or $NB_C_BIN; without either, nbparity builds its own)"
        raise EngineError(f"C engine {path} is missing or not executable{hint}")
    return path


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _tail(text: str, lines: int = 3) -> str:
    tail = [line for line in text.strip().splitlines() if line.strip()][-lines:]
    return " | ".join(tail) if tail else "(no stderr)"


def run_c(args: list[str], pixels: list[tuple[int, int]], workdir: Path,
          c_bin: str | None = None, mode: str | None = None,
          timeout_s: float = DEFAULT_TIMEOUT_S) -> EngineRun:
    """Run the C engine with -trace_pixel for each pixel; mode None keeps the engine's default
    (c-parity, like upstream's serial build)."""
    binary = find_c_binary(c_bin)
    command = [str(binary), *args, *trace_args(pixels)]
    if mode is not None:
        command += ["-phi_carryover_mode", mode]
    start = time.perf_counter()
    try:
        proc = subprocess.run(command, cwd=workdir, capture_output=True, text=True,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise EngineError(f"C engine timed out after {timeout_s:g} s") from None
    except OSError as exc:
        raise EngineError(f"C engine {binary} could not start: {exc.strerror or exc}") from None
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise EngineError(f"C engine exited with status {proc.returncode}: "
                          f"{_tail(proc.stderr)}")
    return EngineRun("c", command, proc.stdout, seconds,
                     {"binary": str(binary), "binary_sha256": sha256_of(binary),
                      "stderr_tail": _tail(proc.stderr) if proc.stderr.strip() else ""})


def run_py(args: list[str], pixels: list[tuple[int, int]], workdir: Path,
           mode: str = "spec", device: str = "cpu", dtype: str = "float64") -> EngineRun:
    """Run the torch simulator in process with tracing on."""
    try:
        import torch

        from simulator.cli import InputError, UsageError, run_argv
    except ImportError as exc:
        raise EngineError(f"torch engine unavailable: {exc}") from None
    argv = [*args, *trace_args(pixels), "-phi_carryover_mode", mode, "-device", device,
            "-dtype", dtype]
    out = io.StringIO()
    start = time.perf_counter()
    try:
        with contextlib.redirect_stdout(out):
            run_argv(argv, cwd=workdir, stdout=out)
    except (UsageError, InputError) as exc:
        raise EngineError(f"torch engine rejected its input: {exc}") from None
    except SystemExit as exc:
        raise EngineError(f"torch engine exited with status {exc.code}") from None
    except Exception as exc:  # an engine crash is reported, not re-raised as a traceback
        raise EngineError(f"torch engine crashed: {type(exc).__name__}: {exc}") from None
    seconds = time.perf_counter() - start
    return EngineRun("py", ["nbsim", *argv], out.getvalue(), seconds,
                     {"torch": torch.__version__, "device": device, "dtype": dtype})


def c_binary_available(c_bin: str | None = None) -> bool:
    try:
        find_c_binary(c_bin)
    except EngineError:
        return False
    return True

"""The built-in engines run: the C reference as a subprocess (its own process group, stopped
with the group on a time-out), the simulator in process; the carry-over modes' arguments, the
C binary's location, the run's record (``EngineRun``) and failure (``EngineError``)."""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import shutil
import signal
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


#: φ=0 carry-over modes of the built-in engines; c-parity-omp needs a thread count.
MODES = ("spec", "c-parity", "c-parity-omp")
#: the pairings a gate runs (C default vs torch c-parity; both spec)
GATE_MODES = ("spec", "c-parity")


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
    if os.sep not in chosen and not Path(chosen).is_file() and shutil.which(chosen):
        chosen = shutil.which(chosen)  # a bare name: found on PATH, as a shell would
    # absolute: engines run in their own working folders
    path = Path(chosen).absolute()
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


def mode_args(mode: str | None, omp_threads: int | None) -> list[str]:
    """The built-in engines' carry-over options (``-omp_threads`` only with c-parity-omp)."""
    if mode is None:
        return []
    out = ["-phi_carryover_mode", mode]
    if mode == "c-parity-omp":
        out += ["-omp_threads", str(omp_threads or 1)]
    return out


def _subprocess(command: list[str], workdir: Path, timeout_s: float, label: str,
                env: dict | None = None) -> subprocess.CompletedProcess:
    """Run an engine to its end and capture its output. It runs in a process group of its own
    (stdin empty), so that whatever it starts goes with it: on a time-out, and on any exception
    while it runs (Ctrl-C, the SIGTERM of a cancelled CI job, see ``nbparity.signals``), the
    whole group is killed and the engine waited for before the exception goes on."""
    try:
        process = subprocess.Popen(command, cwd=workdir, stdin=subprocess.DEVNULL,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   errors="replace", env=env, process_group=0)
    except OSError as exc:
        raise EngineError(f"{label} {command[0]} could not start: {exc.strerror or exc}"
                          ) from None
    with process:  # closes the pipes and waits for the engine, however this block is left
        try:
            stdout, stderr = process.communicate(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            _kill_group(process)
            raise EngineError(f"{label} timed out after {timeout_s:g} s") from None
        except BaseException:
            _kill_group(process)
            raise
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr)


def _kill_group(process: subprocess.Popen) -> None:
    """SIGKILL the engine's process group, then wait for the engine. Only while the engine is
    not reaped: its id then names that group and no other."""
    if process.returncode is None:
        with contextlib.suppress(OSError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            process.kill()
    process.wait()


def run_c(args: list[str], pixels: list[tuple[int, int]], workdir: Path,
          c_bin: str | None = None, mode: str | None = None,
          timeout_s: float = DEFAULT_TIMEOUT_S, omp_threads: int | None = None) -> EngineRun:
    """Run the C engine with -trace_pixel for each pixel; mode None keeps the engine's default
    (c-parity, like upstream's serial build)."""
    binary = find_c_binary(c_bin)
    command = [str(binary), *args, *trace_args(pixels), *mode_args(mode, omp_threads)]
    start = time.perf_counter()
    proc = _subprocess(command, workdir, timeout_s, "C engine")
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        raise EngineError(f"C engine exited with status {proc.returncode}: "
                          f"{_tail(proc.stderr)}")
    return EngineRun("c", command, proc.stdout, seconds,
                     {"binary": str(binary), "binary_sha256": sha256_of(binary),
                      "stderr_tail": _tail(proc.stderr) if proc.stderr.strip() else ""})


def run_py(args: list[str], pixels: list[tuple[int, int]], workdir: Path,
           mode: str = "spec", device: str = "cpu", dtype: str = "float64",
           omp_threads: int | None = None) -> EngineRun:
    """Run the torch simulator in process with tracing on."""
    argv = [*args, *trace_args(pixels), *mode_args(mode, omp_threads), "-device", device,
            "-dtype", dtype]
    start = time.perf_counter()
    stdout = run_nbsim_in_process(argv, workdir)
    seconds = time.perf_counter() - start
    import torch  # (loaded by the run above)

    return EngineRun("py", ["nbsim", *argv], stdout, seconds,
                     {"torch": torch.__version__, "device": device, "dtype": dtype})


def run_nbsim_in_process(argv: list[str], workdir: Path) -> str:
    """The simulator's own command-line path (``run_argv``) in this process, in ``workdir``;
    returns what it printed. Its failures become EngineError (exit 4), never a traceback."""
    try:
        from simulator.cli import InputError, UsageError, run_argv
        from simulator.io import OutputError
    except ImportError as exc:
        raise EngineError(f"torch engine unavailable: {exc}") from None
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            run_argv(argv, cwd=workdir, stdout=out)
    except (UsageError, InputError) as exc:
        raise EngineError(f"torch engine rejected its input: {exc}") from None
    except OutputError as exc:
        raise EngineError(f"torch engine could not write its output: {exc}") from None
    except SystemExit as exc:
        raise EngineError(f"torch engine exited with status {exc.code}") from None
    except Exception as exc:  # an engine crash is reported, not re-raised as a traceback
        raise EngineError(f"torch engine crashed: {type(exc).__name__}: {exc}") from None
    return out.getvalue()


def c_binary_available(c_bin: str | None = None) -> bool:
    try:
        find_c_binary(c_bin)
    except EngineError:
        return False
    return True

"""Orchestration: trace a case with both engines into a bundle, and gate a case matrix.

``trace_case`` and ``gate_cases`` are the library functions behind ``nbparity trace`` and
``nbparity gate``; they return outcomes and never print.
"""

from __future__ import annotations

import fnmatch
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from nbparity import exitcodes
from nbparity.bundle import Bundle, git_commit, versions
from nbparity.cases import Case
from nbparity.engines import EngineError, EngineRun, resolve_inputs, run_c, run_py
from nbparity.tolerance import Tolerance

if TYPE_CHECKING:
    from nbparity.compare import Comparison
    from nbparity.divergence import Divergence


@dataclass
class TraceRequest:
    case: Case
    pixels: list[tuple[int, int]]
    engines: str = "both"  # both | c | py
    mode: str = "spec"  # the torch simulator's carry-over mode
    c_mode: str | None = None  # the C engine's mode (None: its default, c-parity)
    device: str = "cpu"
    dtype: str = "float64"
    c_bin: str | None = None
    timeout_s: float = 300.0
    tolerance: Tolerance = field(default_factory=Tolerance)


@dataclass
class TraceOutcome:
    request: TraceRequest
    runs: dict[str, EngineRun]
    comparison: Comparison | None
    divergences: list[Divergence]
    exit_code: int
    message: str = ""  # one line, for structural errors
    bundle: Path | None = None


def _check_pixels(case: Case, pixels: list[tuple[int, int]]) -> None:
    slow_n, fast_n = case.shape
    for s, f in pixels:
        if not (0 <= s < slow_n and 0 <= f < fast_n):
            raise ValueError(f"--pixel {s} {f}: outside the {slow_n} x {fast_n} (slow x fast) "
                             f"detector of case {case.name}")


def run_engines(request: TraceRequest, workdir: Path) -> dict[str, EngineRun]:
    args = resolve_inputs(request.case.args, request.case.folder)
    runs: dict[str, EngineRun] = {}
    if request.engines in ("both", "c"):
        runs["c"] = run_c(args, request.pixels, workdir, request.c_bin, request.c_mode,
                          request.timeout_s)
    if request.engines in ("both", "py"):
        runs["py"] = run_py(args, request.pixels, workdir, request.mode, request.device,
                            request.dtype)
    return runs


def compare_runs(runs: dict[str, EngineRun], tolerance: Tolerance,
                 names: tuple[str, str] = ("c.log", "py.log")):
    """Parse and compare the two runs' logs → (comparison, divergences, exit code, message)."""
    # imported here: the readers and the alignment load pandas, which a one-engine trace (and
    # its 2 s budget, process start included) does without
    from nbparity.compare import StructuralMismatch, compare_logs
    from nbparity.divergence import first_divergences
    from nbparity.parse import DuplicateRecordError, TraceFormatError, parse_trace_text

    try:
        ref = parse_trace_text(runs["c"].log_text, names[0])
        cand = parse_trace_text(runs["py"].log_text, names[1])
        comparison = compare_logs(ref, cand, tolerance)
    except (DuplicateRecordError, StructuralMismatch) as exc:
        return None, [], exitcodes.STRUCTURAL, str(exc)
    except TraceFormatError as exc:
        # An engine printed something the contract does not allow: the engine is at fault.
        return None, [], exitcodes.ENGINE_FAILED, f"malformed engine output: {exc}"
    return comparison, first_divergences(comparison), comparison.exit_code(), ""


def trace_case(request: TraceRequest, out: Path) -> TraceOutcome:
    """Run the engines at the request's pixels and write a bundle at ``out``.

    Raises EngineError (exit 4), BundleError / ValueError (exit 2).
    """
    _check_pixels(request.case, request.pixels)
    with Bundle(out) as bundle:
        started = time.time()
        runs = run_engines(request, bundle.staging)
        for name, run in runs.items():
            bundle.write(f"{name}.log", run.log_text)
        comparison, divergences, code, message = (None, [], exitcodes.PARITY, "")
        if len(runs) == 2:
            comparison, divergences, code, message = compare_runs(
                runs, request.tolerance,
                (str(out / "c.log"), str(out / "py.log")))
        manifest = {
            "case": request.case.name, "case_folder": str(request.case.folder),
            "pixels": [list(p) for p in request.pixels],
            "args": list(request.case.args),
            "commands": {name: run.command for name, run in runs.items()},
            "engine_details": {name: run.details for name, run in runs.items()},
            "timings_s": {name: round(run.seconds, 6) for name, run in runs.items()},
            "phi_carryover_mode": {"py": request.mode, "c": request.c_mode or "default"},
            "device": request.device, "dtype": request.dtype,
            "rtol": request.tolerance.rtol, "atol": request.tolerance.atol,
            "git": git_commit(), "versions": versions(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "exit_code": code,
        }
        path = bundle.finish(manifest)
    return TraceOutcome(request, runs, comparison, divergences, code, message, path)


# --------------------------------------------------------------------------- gate

@dataclass
class GateResult:
    case: str
    mode: str  # "c-parity" (default C vs torch c-parity) or "spec" (both spec)
    exit_code: int
    message: str
    comparison: Comparison | None = None
    divergences: list[Divergence] = field(default_factory=list)
    seconds: float = 0.0


def select_cases(cases: list[Case], pattern: str | None) -> list[Case]:
    if not pattern:
        return cases
    return [c for c in cases if pattern in c.name or fnmatch.fnmatch(c.name, pattern)]


def gate_cases(cases: list[Case], modes: tuple[str, ...] = ("c-parity", "spec"),
               tolerance: Tolerance | None = None, c_bin: str | None = None,
               device: str = "cpu", dtype: str = "float64", timeout_s: float = 300.0,
               progress: Callable[[str, int], None] | None = None,
               check_determinism: bool = True) -> list[GateResult]:
    """Every case through both engines at its pixels, in each carry-over pairing.

    Pairings: ``c-parity`` runs the C engine in its default mode against the simulator in
    c-parity; ``spec`` runs both in spec. With ``check_determinism``, each engine runs twice on
    the case's first pairing, and an engine whose two traces differ is not compared: the
    result is an engine failure that says where the runs differ.
    """
    tolerance = tolerance or Tolerance()
    results = []
    for case in cases:
        for mode in modes:
            label = f"{case.name} [{mode}]"
            if progress:
                progress(label, len(results))
            start = time.perf_counter()
            request = TraceRequest(case, list(case.pixels), "both", mode,
                                   None if mode == "c-parity" else "spec", device, dtype, c_bin,
                                   timeout_s, tolerance.under_case(case.tolerance))
            try:
                _check_pixels(case, request.pixels)
                with tempfile.TemporaryDirectory(prefix="nbparity-gate-") as work:
                    runs = run_engines(request, Path(work))
                    if check_determinism and mode == modes[0]:
                        again = run_engines(request, Path(work))
                        _require_deterministic(case.name, runs, again)
                comparison, divergences, code, message = compare_runs(
                    runs, request.tolerance, (f"{case.name}:c.log", f"{case.name}:py.log"))
            except EngineError as exc:
                comparison, divergences, code, message = None, [], exitcodes.ENGINE_FAILED, \
                    str(exc)
            except ValueError as exc:
                comparison, divergences, code, message = None, [], exitcodes.USAGE, str(exc)
            results.append(GateResult(case.name, mode, code, message, comparison, divergences,
                                      time.perf_counter() - start))
    if progress:
        progress("done", len(results))
    return results


def _trace_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("TRACE_")]


def _require_deterministic(case_name: str, first: dict[str, EngineRun],
                           second: dict[str, EngineRun]) -> None:
    names = {"c": "C engine", "py": "torch engine"}
    for engine, run in first.items():
        a, b = _trace_lines(run.log_text), _trace_lines(second[engine].log_text)
        if a == b:
            continue
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        shown = a[at] if at < len(a) else "(end of trace)"
        raise EngineError(f"{names[engine]} is not deterministic on case {case_name}: two runs "
                          f"differ at trace line {at + 1} ({shown!r}); not compared")


def gate_exit_code(results: list[GateResult]) -> int:
    """The most serious outcome: engine failure > usage > structural > diverged > parity."""
    codes = {r.exit_code for r in results}
    for code in (exitcodes.ENGINE_FAILED, exitcodes.USAGE, exitcodes.STRUCTURAL,
                 exitcodes.DIVERGED):
        if code in codes:
            return code
    return exitcodes.PARITY


# --------------------------------------------------------------------------- golden logs

GOLDEN_MODES = ("c-parity", "spec")


def golden_name(case: Case, mode: str) -> str:
    return f"{case.name}.{mode}.log"


def c_trace_text(case: Case, mode: str, c_bin: str | None = None,
                 timeout_s: float = 300.0) -> str:
    """The C engine's trace lines (only) for a case's pixels in one carry-over mode."""
    with tempfile.TemporaryDirectory(prefix="nbparity-golden-") as work:
        run = run_c(resolve_inputs(case.args, case.folder), list(case.pixels), Path(work),
                    c_bin, mode, timeout_s)
    return "".join(line + "\n" for line in run.log_text.splitlines()
                   if line.startswith("TRACE_"))


def write_golden(cases: list[Case], out_dir: Path, c_bin: str | None = None,
                 progress: Callable[[str, int], None] | None = None) -> list[Path]:
    """Regenerate the golden C logs of every case in both modes (one file per case and mode)."""
    from nbparity.atomic import atomic_write

    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, case in enumerate(cases):
        if progress:
            progress(case.name, i)
        for mode in GOLDEN_MODES:
            written.append(atomic_write(out_dir / golden_name(case, mode),
                                        c_trace_text(case, mode, c_bin), overwrite=True))
    return written

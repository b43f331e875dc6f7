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
from nbparity.cases import Case, check_case, engine_args, input_warnings
from nbparity.engines import (
    GATE_MODES,
    Engine,
    EngineError,
    EngineOptions,
    EngineRun,
    resolve_engine,
    run_c,
)
from nbparity.tolerance import Tolerance, for_precision

if TYPE_CHECKING:
    from nbparity.compare import Comparison
    from nbparity.divergence import Divergence


@dataclass
class TraceRequest:
    """What to trace: a case, its pixels, and the two engines (either may be None: one-engine
    trace). ``reference`` writes ``c.log``, ``candidate`` writes ``py.log``."""

    case: Case
    pixels: list[tuple[int, int]]
    reference: Engine | None
    candidate: Engine | None
    tolerance: Tolerance = field(default_factory=Tolerance)

    @property
    def engines(self) -> dict[str, Engine]:
        return {name: engine for name, engine in (("c", self.reference),
                                                  ("py", self.candidate)) if engine}


def default_engines(options: EngineOptions, which: str = "both"
                    ) -> tuple[Engine | None, Engine | None]:
    """The shorthand ``--engine both|c|py``: the C engine (``--c-bin``, detected as a stock
    nanoBragg when it is one) as reference, the simulator as candidate."""
    reference = resolve_engine("c-ref", options, "--c-bin") if which in ("both", "c") else None
    candidate = resolve_engine("nbsim", options, "--engine") if which in ("both", "py") else None
    return reference, candidate


@dataclass
class TraceOutcome:
    request: TraceRequest
    runs: dict[str, EngineRun]
    comparison: Comparison | None
    divergences: list[Divergence]
    exit_code: int
    message: str = ""  # one line, for structural errors
    bundle: Path | None = None
    warnings: list[str] = field(default_factory=list)


def _check_pixels(case: Case, pixels: list[tuple[int, int]]) -> None:
    """The request's case and pixels, before anything runs (ValueError: exit 2): a plain case
    name, no option the harness sets itself, confined output files, pixels on the detector."""
    check_case(case)
    if not pixels:
        raise ValueError(f"case {case.name}: no pixels to trace (give the case pixels = "
                         f"[[SLOW, FAST], ...], or --pixel)")
    slow_n, fast_n = case.shape
    for s, f in pixels:
        if not (0 <= s < slow_n and 0 <= f < fast_n):
            raise ValueError(f"--pixel {s} {f}: outside the {slow_n} x {fast_n} (slow x fast) "
                             f"detector of case {case.name}")


def run_engines(request: TraceRequest, workdir: Path) -> dict[str, EngineRun]:
    """Each engine on the case's arguments (``cases.engine_args``: inputs from the case's
    folder, output files inside ``workdir`` as ``c-NAME`` / ``py-NAME``)."""
    return {name: engine.run(engine_args(request.case, workdir, name), request.pixels, workdir,
                             request.case.folder)
            for name, engine in request.engines.items()}


def comparison_tolerance(tolerance: Tolerance, reference: Engine, candidate: Engine
                         ) -> Tolerance:
    """The request's tolerance under the engines' own: a float32 engine raises the rtol floor,
    a profile's per-key tolerances apply unless the command line gave that key."""
    for engine in (reference, candidate):
        tolerance = for_precision(tolerance, engine.precision).under_case(engine.tolerance)
    return tolerance


def compare_runs(runs: dict[str, EngineRun], tolerance: Tolerance,
                 names: tuple[str, str] = ("c.log", "py.log"),
                 engines: dict[str, Engine] | None = None,
                 shape: tuple[int, int] | None = None):
    """Parse and compare the two runs' logs → (comparison, divergences, exit code, message).
    ``shape``: the detector's (slow, fast) size, which some diagnoses use (thread blocks)."""
    # imported here: the readers and the alignment load pandas, which a one-engine trace (and
    # its 2 s budget, process start included) does without
    from nbparity.compare import StructuralMismatch, compare_logs
    from nbparity.divergence import first_divergences
    from nbparity.parse import DuplicateRecordError, TraceFormatError

    engines = engines or {}
    try:
        ref = _parse_run(runs["c"], names[0], engines.get("c"))
        cand = _parse_run(runs["py"], names[1], engines.get("py"))
        if "c" in engines and "py" in engines:
            tolerance = comparison_tolerance(tolerance, engines["c"], engines["py"])
        comparison = compare_logs(ref, cand, tolerance)
        if shape is not None:
            comparison.records.attrs["detector_slow_pixels"] = shape[0]
    except (DuplicateRecordError, StructuralMismatch) as exc:
        return None, [], exitcodes.STRUCTURAL, str(exc)
    except TraceFormatError as exc:
        # An engine printed something its reader cannot take: the engine is at fault.
        return None, [], exitcodes.ENGINE_FAILED, f"malformed engine output: {exc}"
    code = comparison.exit_code()
    message = comparison.incomplete_text() if code == exitcodes.STRUCTURAL else ""
    return comparison, first_divergences(comparison), code, message


def _parse_run(run: EngineRun, name: str, engine: Engine | None):
    """An engine's log through the reader, with the engine's key map; the engine's declared
    arithmetic is kept on the log for the diagnoses."""
    from nbparity.parse import parse_trace_text

    keymap = None
    if engine is not None and engine.keymap is not None:
        from nbparity.keymap import load_keymap

        keymap = load_keymap(engine.keymap)
    log = (parse_trace_text(run.log_text, name, keymap=keymap) if keymap is not None
           else parse_trace_text(run.log_text, name))
    if engine is not None:
        log.declared_precision = engine.precision
        base = engine.profile.pixel_base if engine.profile is not None else 0
        if base:  # a port counting pixels from one names them so in its log too
            records = log.records
            for axis in ("slow", "fast"):
                counted = records[axis] >= base
                records.loc[counted, axis] -= base
    return log


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
                (str(out / "c.log"), str(out / "py.log")), request.engines,
                request.case.shape)
        engines = request.engines
        manifest = {
            "case": request.case.name, "case_folder": str(request.case.folder),
            "pixels": [list(p) for p in request.pixels],
            "args": list(request.case.args),
            "commands": {name: run.command for name, run in runs.items()},
            "engine_details": {name: run.details for name, run in runs.items()},
            "timings_s": {name: round(run.seconds, 6) for name, run in runs.items()},
            "engines": {name: engine.label() for name, engine in engines.items()},
            "phi_carryover_mode": {name: engine.mode or "default"
                                   for name, engine in engines.items()
                                   if engine.mode_aware},
            "device": engines["py"].device if "py" in engines else None,
            "dtype": {name: engine.precision for name, engine in engines.items()},
            "warnings": request_warnings(request),
            "rtol": request.tolerance.rtol, "atol": request.tolerance.atol,
            "git": git_commit(), "versions": versions(),
            "started_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
            "exit_code": code,
        }
        path = bundle.finish(manifest)
    return TraceOutcome(request, runs, comparison, divergences, code, message, path,
                        manifest["warnings"])


def request_warnings(request: TraceRequest) -> list[str]:
    """Things the user should know before trusting the result: input files outside the
    case's folder, and upstream's option-parsing side effects when the reference is a stock
    nanoBragg (the project's engines parse exactly)."""
    from nbparity.signatures import command_line_warnings

    warnings = input_warnings(request.case)
    if request.reference is not None and request.reference.kind == "nanobragg":
        warnings += command_line_warnings(request.case.args)
    return warnings


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
    warnings: list[str] = field(default_factory=list)


def gate_pairings(reference: Engine, candidate: Engine) -> tuple[str, ...]:
    """The carry-over pairings a gate runs by default: both when both engines have modes;
    c-parity alone when one has none (a stock serial nanoBragg carries over, and a port's
    profile is compared with the C reference as it is); once ("as-is") when neither has."""
    aware = reference.mode_aware + candidate.mode_aware
    return GATE_MODES if aware == 2 else ("c-parity",) if aware == 1 else ("as-is",)


def select_cases(cases: list[Case], pattern: str | None) -> list[Case]:
    if not pattern:
        return cases
    return [c for c in cases if pattern in c.name or fnmatch.fnmatch(c.name, pattern)]


def gate_cases(cases: list[Case], modes: tuple[str, ...] = GATE_MODES,
               tolerance: Tolerance | None = None, c_bin: str | None = None,
               device: str = "cpu", dtype: str = "float64", timeout_s: float = 300.0,
               progress: Callable[[str, int], None] | None = None,
               check_determinism: bool = True, reference: Engine | None = None,
               candidate: Engine | None = None) -> list[GateResult]:
    """Every case through the reference and the candidate at its pixels, in each carry-over
    pairing (default engines: the C engine of ``c_bin`` and the simulator).

    Pairings: ``c-parity`` runs the C engine in its default mode against the simulator in
    c-parity; ``spec`` runs both in spec. Engines without carry-over modes (stock nanoBragg,
    profiles) are unchanged by a pairing, so when neither engine has modes the case runs once
    (pairing ``as-is``). With ``check_determinism``, each engine runs twice on the case's first
    pairing, and an engine whose two traces differ is not compared: the result is an engine
    failure that says where the runs differ.
    """
    tolerance = tolerance or Tolerance()
    if reference is None or candidate is None:
        options = EngineOptions(c_bin=c_bin, device=device, dtype=dtype, timeout_s=timeout_s)
        default_ref, default_cand = default_engines(options)
        reference, candidate = reference or default_ref, candidate or default_cand
    if not (reference.mode_aware or candidate.mode_aware):
        modes = ("as-is",)  # a pairing would change neither engine
    results = []
    for case in cases:
        for mode in modes:
            label = f"{case.name} [{mode}]"
            if progress:
                progress(label, len(results))
            start = time.perf_counter()
            request = TraceRequest(case, list(case.pixels),
                                   reference.with_mode(mode, "reference"),
                                   candidate.with_mode(mode, "candidate"),
                                   tolerance.under_case(case.tolerance))
            if not (reference.can_trace and candidate.can_trace):
                code, message = _image_level(case, mode, reference, candidate, request)
                results.append(GateResult(case.name, mode, code, message, None, [],
                                          time.perf_counter() - start,
                                          request_warnings(request)))
                continue
            try:
                _check_pixels(case, request.pixels)
                with tempfile.TemporaryDirectory(prefix="nbparity-gate-") as work:
                    runs = run_engines(request, Path(work))
                    if check_determinism and mode == modes[0]:
                        again = run_engines(request, Path(work))
                        _require_deterministic(case.name, runs, again, request.engines)
                comparison, divergences, code, message = compare_runs(
                    runs, request.tolerance, (f"{case.name}:c.log", f"{case.name}:py.log"),
                    request.engines, case.shape)
            except EngineError as exc:
                comparison, divergences, code, message = None, [], exitcodes.ENGINE_FAILED, \
                    str(exc)
            except ValueError as exc:
                comparison, divergences, code, message = None, [], exitcodes.USAGE, str(exc)
            results.append(GateResult(case.name, mode, code, message, comparison, divergences,
                                      time.perf_counter() - start, request_warnings(request)))
    if progress:
        progress("done", len(results))
    return results


def _image_level(case: Case, mode: str, reference: Engine, candidate: Engine,
                 request: TraceRequest) -> tuple[int, str]:
    """A case compared image by image, when an engine cannot trace (a port's profile that
    only writes an image): the float images under the request's rtol (float32's where an
    engine computes in float32) → (exit code, one-line message)."""
    from nbparity.image_outcome import image_outcome

    rtol = comparison_tolerance(request.tolerance, reference, candidate).rtol
    outcome = image_outcome(case, reference, candidate, mode, rtol)
    if outcome.parity is None or outcome.exit_code == exitcodes.STRUCTURAL:
        return outcome.exit_code, f"image-level: {outcome.message}"
    parity = outcome.parity
    detail = (f"{parity.compared_pixels} pixels compared, max rel error {parity.max_rel:.3g} "
              f"(rtol {rtol:g})")
    problems = f"; {outcome.message}" if outcome.message else ""
    return outcome.exit_code, f"image-level (an engine cannot trace): {detail}{problems}"


def _trace_lines(text: str) -> list[str]:
    """The trace lines of a log (a stock printout has none: then every line)."""
    lines = text.splitlines()
    traced = [line for line in lines if line.startswith("TRACE_")]
    return traced or lines


def _require_deterministic(case_name: str, first: dict[str, EngineRun],
                           second: dict[str, EngineRun], engines: dict[str, Engine]) -> None:
    for role, run in first.items():
        a, b = _trace_lines(run.log_text), _trace_lines(second[role].log_text)
        if a == b:
            continue
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        shown = a[at] if at < len(a) else "(end of trace)"
        raise EngineError(f"{engines[role].label()} is not deterministic on case {case_name}: "
                          f"two runs differ at trace line {at + 1} ({shown!r}); not compared")


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
        run = run_c(engine_args(case, Path(work), "c"), list(case.pixels), Path(work),
                    c_bin, mode, timeout_s)
    return "".join(line + "\n" for line in run.log_text.splitlines()
                   if line.startswith("TRACE_"))


def write_golden(cases: list[Case], out_dir: Path, c_bin: str | None = None,
                 progress: Callable[[str, int], None] | None = None) -> list[Path]:
    """Regenerate the golden C logs of every case in both modes (one file per case and mode)."""
    from nbparity.atomic import atomic_write

    for case in cases:  # a case name is a plain name: every log lands inside out_dir
        check_case(case)
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for i, case in enumerate(cases):
        if progress:
            progress(case.name, i)
        for mode in GOLDEN_MODES:
            written.append(atomic_write(out_dir / golden_name(case, mode),
                                        c_trace_text(case, mode, c_bin), overwrite=True))
    return written

"""One configuration through a reference and a candidate engine → a ``Verdict``: the exit code
and a short, stable ``signature`` of how it failed, so that findings from thousands of random
configurations group by cause.

Signatures:

- ``parity``: no divergence (exit 0);
- ``trace:{stage}/{key}:{finding}`` (exit 1, trace level): the first independent root in
  pipeline order over the traced pixels (``divergence.first_divergences``; the root with the
  smallest catalogue order, then φ step; a pixel whose failures are all at the precision level
  gives its first failure) and the signature of its first diagnosis, or ``unexplained``;
- ``engine:{role}:{message}`` (exit 4): ``role`` is ``reference`` or ``candidate``; the
  message is the engine's own error (its stderr's error line), with numbers, paths, file names
  and quoted values replaced, so the same failure on different configurations is one signature;
- ``structural:{message}`` (exit 3) and ``usage:{message}`` (exit 2), normalised alike;
- image level: ``image:nothing-to-compare``, ``image:nan-pattern``, ``image:rel-error``,
  ``image:dark-pixels`` (the first problem ``images.ImageParity`` reports, in that order).

``evaluate`` runs the trace level through ``runner.gate_cases`` (one case, one pairing, no
determinism rerun) and the image level through ``nbparity.image_outcome.image_outcome``; ``level
="auto"`` picks the trace level unless an engine cannot trace (an image-only profile).
"""

from __future__ import annotations

import functools
import math
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from nbparity import exitcodes, resources
from nbparity.cases import Case, engine_args, file_tolerance
from nbparity.engines import Engine, EngineError
from nbparity.tolerance import Tolerance

LEVELS = ("auto", "trace", "image")
#: the longest normalised message a signature keeps
MESSAGE_LIMIT = 90


@dataclass
class Verdict:
    """How one configuration fared: ``key`` and ``diagnosis`` name the first root (trace
    level), ``worst_rel`` the largest relative error (the failing record's or the image's)."""

    exit_code: int
    level: str  # "trace" | "image"
    signature: str
    message: str
    key: str | None
    diagnosis: str | None
    worst_rel: float | None
    seconds: float

    @property
    def parity(self) -> bool:
        return self.exit_code == exitcodes.PARITY


@functools.lru_cache(maxsize=1)
def default_tolerance() -> Tolerance:
    """The named cases' file-wide tolerances (each with its documented reason), as fuzz uses."""
    return Tolerance(per_key=file_tolerance(resources.cases_file()))


def can_trace(engine: Engine) -> bool:
    return bool(getattr(engine, "can_trace", True))


def evaluate(case: Case, mode: str, reference: Engine, candidate: Engine, level: str = "auto",
             tolerance: Tolerance | None = None) -> Verdict:
    """Run ``case`` in carry-over pairing ``mode`` through both engines and sign the outcome."""
    if level not in LEVELS:
        raise ValueError(f"level {level!r}: one of {', '.join(LEVELS)}")
    tolerance = tolerance if tolerance is not None else default_tolerance()
    if level == "auto":
        level = "trace" if can_trace(reference) and can_trace(candidate) else "image"
    start = time.perf_counter()
    if level == "trace":
        verdict = _trace_verdict(case, mode, reference, candidate, tolerance)
    else:
        verdict = _image_verdict(case, mode, reference, candidate, tolerance)
    verdict.seconds = time.perf_counter() - start
    return verdict


# --------------------------------------------------------------------------- trace level

def _trace_verdict(case: Case, mode: str, reference: Engine, candidate: Engine,
                   tolerance: Tolerance) -> Verdict:
    from nbparity.runner import gate_cases

    (result,) = gate_cases([case], (mode,), tolerance, check_determinism=False,
                           reference=reference, candidate=candidate)
    code, message = result.exit_code, result.message
    worst = _worst_rel(result.comparison)
    if code == exitcodes.PARITY:
        return Verdict(code, "trace", "parity", "", None, None, worst, 0.0)
    if code == exitcodes.ENGINE_FAILED:
        role = engine_role(message, case, mode, reference, candidate, "trace")
        return Verdict(code, "trace", f"engine:{role}:{normalise(message, case)}", message,
                       None, None, None, 0.0)
    if code == exitcodes.DIVERGED and result.divergences:
        root = first_root(result.divergences)
        record = root.record
        finding = root.findings[0] if root.findings else None
        signature = f"trace:{record.stage}/{record.key}:" \
                    f"{finding.signature if finding else 'unexplained'}"
        text = message or f"first divergence {root.where()}"
        return Verdict(code, "trace", signature, text, str(record.key),
                       str(finding) if finding else None, worst, 0.0)
    kind = {exitcodes.STRUCTURAL: "structural", exitcodes.USAGE: "usage"}.get(code, f"exit{code}")
    return Verdict(code, "trace", f"{kind}:{normalise(message, case)}", message, None, None,
                   worst, 0.0)


def first_root(divergences):
    """The first independent root in pipeline order over all pixels (a precision-level
    divergence, rank 0, only when no pixel has a root)."""
    roots = [d for d in divergences if d.rank >= 1] or list(divergences)

    def place(d):
        r = d.record
        return (int(r.order), int(r.phi_tic), int(r.mos_tic))

    return min(roots, key=place)


def _worst_rel(comparison) -> float | None:
    if comparison is None:
        return None
    worst = comparison.worst()
    if worst is None:
        return None
    rel = float(worst.rel_err)
    if math.isnan(rel):
        return math.inf if worst.status in ("fail", "both-nan") else None
    return rel


# --------------------------------------------------------------------------- image level

def _image_verdict(case: Case, mode: str, reference: Engine, candidate: Engine,
                   tolerance: Tolerance) -> Verdict:
    from nbparity.image_outcome import image_outcome
    from nbparity.runner import comparison_tolerance

    rtol = comparison_tolerance(tolerance, reference, candidate).rtol
    try:
        outcome = image_outcome(case, reference, candidate, mode, rtol)
    except ValueError as exc:  # a malformed case (CaseFileError): a usage error
        return Verdict(exitcodes.USAGE, "image", f"usage:{normalise(str(exc), case)}",
                       str(exc), None, None, None, 0.0)
    code, message, parity = outcome.exit_code, outcome.message, outcome.parity
    worst = None if parity is None else float(parity.max_rel)
    if code == exitcodes.ENGINE_FAILED:
        # the reference renders first: no reference image, the reference failed
        role = "reference" if outcome.reference_image is None else "candidate"
        return Verdict(code, "image", f"engine:{role}:{normalise(message, case)}", message,
                       None, None, None, 0.0)
    if parity is None:
        if code == exitcodes.PARITY:
            return Verdict(code, "image", "parity", message, None, None, None, 0.0)
        kind = {exitcodes.STRUCTURAL: "structural", exitcodes.USAGE: "usage"}.get(
            code, f"exit{code}")
        return Verdict(code, "image", f"{kind}:{normalise(message, case)}", message, None,
                       None, None, 0.0)
    problem = image_problem(parity, rtol)
    if problem is None and code == exitcodes.PARITY:
        return Verdict(code, "image", "parity", message, None, None, worst, 0.0)
    problems = parity.problems(rtol)
    return Verdict(code, "image", f"image:{problem or 'rel-error'}",
                   message or "; ".join(problems), None,
                   "; ".join(problems) or None, worst, 0.0)


def image_problem(parity, rtol: float) -> str | None:
    """The kind of the first problem of an ``images.ImageParity`` (None: at parity)."""
    if parity.compared_pixels == 0:
        return "nothing-to-compare"
    if parity.nonfinite_mismatch:
        return "nan-pattern"
    if parity.max_rel > rtol:
        return "rel-error"
    if parity.max_dark_diff > rtol:
        return "dark-pixels"
    return None


# --------------------------------------------------------------------------- engine failures

#: what each built-in engine's failures start with (``engines.run_c`` / ``run_py`` /
#: ``Engine.render_image``)
_MARKERS = {"c-ref": ("C engine",), "nbsim": ("torch engine",)}


def _markers(engine: Engine) -> tuple[str, ...]:
    return (*_MARKERS.get(engine.kind, ()), engine.name)


def engine_role(message: str, case: Case, mode: str, reference: Engine, candidate: Engine,
                level: str = "trace") -> str:
    """Which engine failed a gate run: by the message's prefix; when both engines would write
    it (two builds of one kind), by running the reference alone."""
    hits = [role for role, engine in (("reference", reference), ("candidate", candidate))
            if any(message.startswith(m) for m in _markers(engine) if m)]
    if len(hits) == 1:
        return hits[0]
    try:
        with tempfile.TemporaryDirectory(prefix="nbparity-verdict-") as work:
            engine = reference.with_mode(mode, "reference")
            if level == "image":
                engine.render_image(list(case.args), Path(work), case.folder)
            else:
                engine.run(engine_args(case, Path(work), "c"), list(case.pixels), Path(work),
                           case.folder)
    except EngineError:
        return "reference"
    except Exception:  # noqa: BLE001 - a probe: whatever it raises, the reference failed
        return "reference"
    return "candidate"


_ENGINE_PREFIX = re.compile(
    r"^(?:C engine exited with status -?\d+:\s*|torch engine rejected its input:\s*|"
    r"torch engine exited with status -?\d+\s*|torch engine could not write its output:\s*)")
_PROGRAM = re.compile(r"^[\w.+-]+: (?:error|warning): ")
_QUOTED = re.compile(r"'(?!-[A-Za-z])[^']*'|\"(?!-[A-Za-z])[^\"]*\"")
_PATH = re.compile(r"(?:[\w.+-]*/)+[\w.+-]*")
_FILE = re.compile(r"\b[\w+-]+(?:\.[\w+-]+)*\.(?:img|hkl|mat|bin|txt|sources|stol|log|"
                   r"toml|smv|pgm|cbf|dat)\b")
_NUMBER = re.compile(r"(?<![\w.])[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![\w.])"
                     r"|\b(?:nan|inf|infinity)\b", re.I)


def normalise(message: str, case: Case | None = None, limit: int = MESSAGE_LIMIT) -> str:
    """An engine's or the harness's message without what varies between configurations:
    the engine's prefix and program name, the case's name and folder, paths, file names,
    quoted values (an option name in quotes stays) and numbers; one line, at most ``limit``
    characters."""
    text = " ".join(str(message).split())
    if case is not None:
        if case.folder is not None:
            text = text.replace(str(case.folder), "<dir>")
        text = text.replace(case.name, "<case>")
    text = _ENGINE_PREFIX.sub("", text)
    parts = [p.strip() for p in text.split(" | ") if p.strip()] or [""]
    text = next((p for p in reversed(parts) if re.search(r"\berror\b", p, re.I)), parts[-1])
    text = _PROGRAM.sub("", text)
    text = _QUOTED.sub("'…'", text)
    text = _PATH.sub("<path>", text)
    text = _FILE.sub("<file>", text)
    text = _NUMBER.sub("#", text)
    text = " ".join(text.split()).rstrip(" .:;,")
    return text[:limit] if text else "(no message)"

"""When two images differ: compare them, pick the pixels that say most, trace those.

``image_outcome`` (``nbparity.image_outcome``) renders one case with both engines (untraced) and
compares the images (``images.compare_images``); ``explain`` goes on, when they differ, to trace
the worst pixels (``worst_pixels``) with both engines and name the first divergence of each,
with its diagnosis (``runner.run_engines`` / ``compare_runs``, ``divergence.first_divergences``).
The exit code is the image comparison's: 0 parity, 1 diverged, 3 nothing to compare (the
reference image has no pixel above the floor), 4 an engine failed. Nothing here prints.
"""

from __future__ import annotations

import math
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nbparity import exitcodes, images
from nbparity.cases import Case
from nbparity.engines import Engine, EngineError
from nbparity.image_outcome import ImageOutcome, image_outcome
from nbparity.tolerance import DEFAULT_RTOL, Tolerance

if TYPE_CHECKING:
    from nbparity.compare import Comparison
    from nbparity.divergence import Divergence


def worst_pixels(reference, candidate=None, n: int = 3, rtol: float = 0.0
                 ) -> list[tuple[int, int]]:
    """The pixels to trace, distinct, (slow, fast): NaN/inf-pattern mismatches first, then the
    largest relative errors among compared pixels, then lit dark pixels (``images.worst_pixels``;
    with ``rtol``, pixels beyond it come first in each class). ``reference`` may be an
    ImageOutcome (its two images) or an image, with ``candidate`` the other."""
    if isinstance(reference, ImageOutcome):
        if reference.reference_image is None or reference.candidate_image is None:
            return []
        reference, candidate = reference.reference_image, reference.candidate_image
    if candidate is None:
        raise TypeError("worst_pixels: give two images, or an ImageOutcome")
    return images.worst_pixels(np.asarray(reference), np.asarray(candidate), n, rtol)


@dataclass
class Explanation:
    """An image comparison and, when the images differ, the traces of its worst pixels."""

    outcome: ImageOutcome
    pixels: list[tuple[int, int]]
    divergences: list[Divergence]
    comparison: Comparison | None
    traced: bool
    note: str = ""
    case: str = ""
    mode: str = ""

    @property
    def exit_code(self) -> int:
        return self.outcome.exit_code

    def pixel_values(self) -> list[dict]:
        """The traced pixels with both images' values and their relative difference."""
        out = []
        ref, cand = self.outcome.reference_image, self.outcome.candidate_image
        for s, f in self.pixels:
            r = float(ref[s, f]) if ref is not None else math.nan
            x = float(cand[s, f]) if cand is not None else math.nan
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = abs(x - r) / abs(r) if r != 0 else (0.0 if x == r else math.inf)
            out.append({"pixel": [s, f], "reference": r, "candidate": x, "rel_err": rel})
        return out

    def render(self) -> str:
        """Terminal text: the image metrics, the worst pixels with their values, then every
        root of their traces with its diagnosis."""
        from nbparity import report

        o = self.outcome
        verdict = {exitcodes.PARITY: "PARITY", exitcodes.DIVERGED: "DIVERGED",
                   exitcodes.STRUCTURAL: "NOTHING TO COMPARE",
                   exitcodes.ENGINE_FAILED: "ENGINE FAILED"}.get(o.exit_code, str(o.exit_code))
        lines = [f"case {self.case or '?'} [{self.mode}]: reference "
                 f"{o.engines.get('reference', '?')}; candidate "
                 f"{o.engines.get('candidate', '?')} ({o.seconds:.2f} s)"]
        p = o.parity
        if p is not None:
            lines.append(f"image {p.shape[0]} x {p.shape[1]} (slow x fast): max rel error "
                         f"{p.max_rel:.3e} over {p.compared_pixels} pixels above 1e-3 of the "
                         f"peak; dark pixels within {p.max_dark_diff:.3e} of the peak; "
                         f"correlation {p.correlation:.9f}; sums {p.sum_reference:.9g} vs "
                         f"{p.sum_candidate:.9g}")
            if p.nonfinite_reference or p.nonfinite_mismatch:
                lines.append(f"NaN/inf pixels: {p.nonfinite_reference} in the reference, "
                             f"{p.nonfinite_mismatch} not matched by the candidate")
        for problem in o.problems:
            lines.append(f"  {problem}")
        if o.exit_code == exitcodes.ENGINE_FAILED:
            lines.append(f"  {o.message}")
        if self.pixels:
            lines.append("worst pixels (slow, fast): reference vs candidate")
            for item in self.pixel_values():
                s, f = item["pixel"]
                lines.append(f"  ({s}, {f}): {item['reference']:.9g} vs "
                             f"{item['candidate']:.9g}  rel {item['rel_err']:.3e}")
        if self.traced:
            lines.append(f"traces of {len(self.pixels)} pixel(s):")
            if self.comparison is not None:
                lines.append(report.summary_line(self.comparison))
            lines.append(report.render_divergences(self.divergences).rstrip("\n"))
        if self.note:
            lines.append(f"note: {self.note}")
        lines.append(f"{verdict} (image rtol {o.rtol:g})")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        """JSON-able: the image metrics, the pixels, and the roots (``report.divergence_dict``)."""
        from nbparity import report

        o = self.outcome
        p = o.parity
        parity = None if p is None else {
            "shape": list(p.shape), "max_rel": _num(p.max_rel),
            "compared_pixels": p.compared_pixels, "correlation": _num(p.correlation),
            "sum_reference": _num(p.sum_reference), "sum_candidate": _num(p.sum_candidate),
            "nonfinite_mismatch": p.nonfinite_mismatch,
            "nonfinite_reference": p.nonfinite_reference,
            "max_dark_diff": _num(p.max_dark_diff),
            "worst": [{"pixel": [s, f], "reference": _num(r), "candidate": _num(x),
                       "rel_err": _num(rel)} for s, f, r, x, rel in p.worst]}
        return {
            "case": self.case, "mode": self.mode, "exit_code": o.exit_code,
            "message": o.message, "rtol": o.rtol, "seconds": round(o.seconds, 6),
            "engines": dict(o.engines), "image": parity, "problems": o.problems,
            "pixels": [{**item, "reference": _num(item["reference"]),
                        "candidate": _num(item["candidate"]), "rel_err": _num(item["rel_err"])}
                       for item in self.pixel_values()],
            "traced": self.traced,
            "trace_summary": (report.summary(self.comparison)
                              if self.comparison is not None else None),
            "first_divergences": [report.divergence_dict(d) for d in self.divergences],
            "note": self.note,
        }


def _num(value):
    if value is None:
        return None
    value = float(value)
    if math.isnan(value):
        return None
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return value


def explain(case: Case, reference: Engine, candidate: Engine, mode: str, n_pixels: int = 3,
            rtol: float = DEFAULT_RTOL, tolerance: Tolerance | None = None) -> Explanation:
    """``image_outcome``; when the images differ, trace the ``n_pixels`` worst pixels with both
    engines (in a temporary folder) and take the first divergences of their traces.

    ``tolerance`` is the traces' (default: the contract's, under the case's own per-key
    tolerances; the engines' precision floors apply as in ``trace``). An engine that cannot
    trace, a failed trace, or traces that agree although the images do not, are said in
    ``note``; the image-level result stands either way."""
    tolerance = (tolerance or Tolerance()).under_case(case.tolerance)
    with tempfile.TemporaryDirectory(prefix="nbparity-explain-") as work:
        work = Path(work)
        outcome = image_outcome(case, reference, candidate, mode, rtol, work / "images")
        result = Explanation(outcome, [], [], None, False, case=case.name, mode=mode)
        if outcome.exit_code != exitcodes.DIVERGED:
            return result
        result.pixels = worst_pixels(outcome, n=n_pixels, rtol=rtol)
        if not result.pixels:
            result.note = "no pixel differs: nothing to trace"
            return result
        unable = [engine.name for engine in (reference, candidate) if not engine.can_trace]
        if unable:
            result.note = (f"{' and '.join(unable)} cannot trace (an image-only profile): the "
                           f"result is image-level only")
            return result
        result.traced, result.note = _trace(result, case, reference, candidate, mode,
                                            tolerance, work / "trace")
    return result


def _trace(result: Explanation, case: Case, reference: Engine, candidate: Engine, mode: str,
           tolerance: Tolerance, folder: Path) -> tuple[bool, str]:
    from nbparity.runner import TraceRequest, compare_runs, run_engines

    request = TraceRequest(case, list(result.pixels), reference.with_mode(mode, "reference"),
                           candidate.with_mode(mode, "candidate"), tolerance)
    folder.mkdir(parents=True, exist_ok=True)
    try:
        runs = run_engines(request, folder)
    except EngineError as exc:
        return False, f"tracing the worst pixels failed: {exc}"
    comparison, divergences, code, message = compare_runs(
        runs, request.tolerance, (f"{case.name}:c.log", f"{case.name}:py.log"),
        request.engines, case.shape)
    result.comparison, result.divergences = comparison, divergences
    if code == exitcodes.STRUCTURAL or code == exitcodes.ENGINE_FAILED:
        return comparison is not None, f"the traces could not be compared: {message}"
    if not divergences:
        return True, ("the traces of these pixels agree within the trace tolerance although "
                      "their image values differ: the difference arises in a quantity the "
                      "traces do not print (or below the traces' tolerance)")
    return True, ""

"""Two engines' images of one case, compared: the image level of a gate, a campaign and
``nbparity explain`` (a module of its own so that the runner, which falls back to it when an
engine cannot trace, and explain, which traces with the runner, do not import each other).

``image_outcome`` renders the case with both engines (``Engine.render_image``, untraced) and
compares the images (``images.compare_images``). Exit codes: 0 parity, 1 diverged, 3 nothing to
compare (the reference image has no pixel above the floor), 4 an engine failed.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nbparity import exitcodes, images
from nbparity.cases import Case, check_case
from nbparity.engines import Engine, EngineError
from nbparity.tolerance import DEFAULT_RTOL


@dataclass
class ImageOutcome:
    """Both engines' images of a case and their comparison. ``parity`` is None when an engine
    failed (exit 4, ``message`` its one line); images are None where not rendered."""

    parity: images.ImageParity | None
    exit_code: int
    message: str
    reference_image: np.ndarray | None
    candidate_image: np.ndarray | None
    seconds: float
    rtol: float = DEFAULT_RTOL
    engines: dict[str, str] = field(default_factory=dict)  # role -> label

    @property
    def problems(self) -> list[str]:
        return self.parity.problems(self.rtol) if self.parity is not None else []


def image_outcome(case: Case, reference: Engine, candidate: Engine, mode: str,
                  rtol: float = DEFAULT_RTOL, workdir: Path | None = None) -> ImageOutcome:
    """Render ``case`` with both engines in the carry-over pairing ``mode`` (as a gate pairs
    them: ``Engine.with_mode(mode, role)``) and compare the images under ``rtol``.

    Exit codes: 0 parity, 1 diverged (``message``: the problems), 3 nothing to compare, 4 an
    engine failed (``message``: its EngineError). Engine failures never raise; a malformed case
    raises CaseFileError (a usage error)."""
    check_case(case)
    reference = reference.with_mode(mode, "reference")
    candidate = candidate.with_mode(mode, "candidate")
    labels = {"reference": reference.label(), "candidate": candidate.label()}
    start = time.perf_counter()
    ref_image = cand_image = None
    with _folder(workdir, "nbparity-images-") as folder:
        try:
            ref_image = reference.render_image(list(case.args), folder / "reference",
                                               case.folder)
            cand_image = candidate.render_image(list(case.args), folder / "candidate",
                                                case.folder)
        except EngineError as exc:
            return ImageOutcome(None, exitcodes.ENGINE_FAILED, str(exc), ref_image, cand_image,
                                time.perf_counter() - start, rtol, labels)
    parity = images.compare_images(ref_image, cand_image)
    return ImageOutcome(parity, parity.exit_code(rtol), "; ".join(parity.problems(rtol)),
                        ref_image, cand_image,
                        time.perf_counter() - start, rtol, labels)


class _folder:
    """``workdir`` as it is, or a temporary folder removed afterwards."""

    def __init__(self, workdir: Path | None, prefix: str):
        self.workdir, self.prefix, self.temp = workdir, prefix, None

    def __enter__(self) -> Path:
        if self.workdir is not None:
            Path(self.workdir).mkdir(parents=True, exist_ok=True)
            return Path(self.workdir)
        self.temp = tempfile.TemporaryDirectory(prefix=self.prefix)
        return Path(self.temp.name)

    def __exit__(self, *exc) -> None:
        if self.temp is not None:
            self.temp.cleanup()

"""Random valid nanoBragg configurations, as a pure function of (seed, index).

``draw_case(seed, index, inputs)`` returns one configuration (a ``Case``: arguments, detector
shape, two or three pixels to trace) and the carry-over pairing to run it in (``c-parity``: the
C reference in its default mode against the simulator in c-parity; ``spec``: both in spec).
The draw uses ``random.Random(f"{seed}:{index}")`` alone, so any number of workers, in any
order, in any process, get the same configuration for the same (seed, index). Input files a
configuration needs (an HKL table, a MOSFLM matrix, a source list, an SMV ``-img`` / ``-mask``,
a ``-stol`` table) are written into ``inputs`` (default: a per-seed folder under the temporary
folder) under names holding the seed and the index, each atomically and with content that
depends only on (seed, index): two workers writing the same file write the same bytes.

``draw(seed, index, inputs)`` returns the same case and pairing plus ``dtype``, the arithmetic
of the candidate (``float32`` in about one draw in ten, from a stream of its own, so the case
does not depend on it). How a campaign applies it: a candidate that is the built-in simulator
(``engine.kind == "nbsim"``) runs as ``dataclasses.replace(candidate, dtype=draw.dtype)``; the
comparison then raises its rtol floor to float32's by itself (``tolerance.for_precision``); any
other candidate (a profile, a C build) has its own arithmetic and ignores it.

Coverage: ``COVERAGE`` lists every option family drawn and the options that realise it (every
alias is drawn too); the draws combine them freely (about a quarter of the draws also shuffle
the order of the option groups, since the order of options with side effects — pivot,
convention, vectors — matters). Detectors stay at most 48 x 48 pixels and sampling is bounded
(at most about a dozen sources, φ x mosaic steps, three thickness layers, 3x oversampling),
so a configuration runs in well under a second per engine.

Modules: ``coverage`` (``COVERAGE``, ``LEFT_OUT``, the bounds), ``builder`` (the draw's order),
``sample`` and ``detector`` (the option families), ``numbers`` (printing and geometry).

Left out (``LEFT_OUT`` says the same, option by option; tests/test_generate.py checks that
every option of the simulator's option table is either covered or left out):

- ``-trace_pixel``, ``-printout_pixel``, ``-phi_carryover_mode``, ``-omp_threads``,
  ``-device``, ``-dtype``: the harness sets them per engine (a case may not carry them); the
  traced pixels are the case's ``pixels``, the pairing is returned, the dtype is ``draw``'s.
- ``-memory_budget_gb``, ``-geometry_dtype``, ``-trace_only``: the simulator's own; the C
  reference does not know them.
- ``-detector_absorption``, ``-molecular_weight``, ``-curved_detector`` (the simulator only:
  upstream matches ``-curved_det`` as a prefix; the C reference does not) and ``-molecules``,
  ``-mosaic_spr``, ``-mosaici`` (the C reference only): spellings one engine lacks; drawing them
  would only find that.
- reading a ``-dump`` file: ``-dump`` is an output option, confined by the harness to the
  run's own folder (``c-NAME`` / ``py-NAME``), so no engine can read a dump the generator
  wrote; ``-dump NAME`` is drawn with ``-hkl`` (the engines write it).
"""


from __future__ import annotations

import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbparity.cases import Case
from nbparity.generate.builder import _Builder
from nbparity.generate.coverage import (
    COVERAGE,
    FLOAT32_SHARE,
    IGNORED_OPTIONS,
    LEFT_OUT,
    MAX_SIDE,
    MODES,
    SIZE_OPTIONS,
)


@dataclass(frozen=True)
class Draw:
    """One drawn configuration: the case, its carry-over pairing and the candidate's dtype."""

    case: Case
    mode: str
    dtype: str


def default_inputs(seed: int) -> Path:
    """Where a seed's input files go when the caller names no folder."""
    return Path(tempfile.gettempdir()) / f"nbparity-generate-{seed}"


def draw_case(seed: int, index: int, inputs: Path | None = None) -> tuple[Case, str]:
    """One random valid configuration and its carry-over pairing ("c-parity" or "spec")."""
    drawn = draw(seed, index, inputs)
    return drawn.case, drawn.mode


def draw(seed: int, index: int, inputs: Path | None = None) -> Draw:
    """``draw_case`` plus the candidate's dtype (see the module docstring)."""
    folder = Path(inputs) if inputs is not None else default_inputs(seed)
    builder = _Builder(random.Random(f"{seed}:{index}"), f"g{seed}_{index:05d}")
    case_args, shape, pixels, mode = builder.build()
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in builder.files.items():
        _write_once(folder / name, content)
    case = Case(f"gen_{seed}_{index:05d}", folder, tuple(case_args), pixels, shape)
    dtype_rng = random.Random(f"{seed}:{index}:dtype")
    dtype = "float32" if dtype_rng.random() < FLOAT32_SHARE else "float64"
    return Draw(case, mode, dtype)


def _write_once(path: Path, content: bytes) -> None:
    """Write ``content`` atomically unless the file already holds it (workers may race: they
    write the same bytes)."""
    try:
        if path.stat().st_size == len(content) and path.read_bytes() == content:
            return
    except OSError:
        pass
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(content)
        os.replace(tmp, path)
    except BaseException:
        with _suppress():
            os.unlink(tmp)
        raise


class _suppress:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return exc[0] is not None and issubclass(exc[0], OSError)


__all__ = ["COVERAGE", "FLOAT32_SHARE", "IGNORED_OPTIONS", "LEFT_OUT", "MAX_SIDE", "MODES",
           "SIZE_OPTIONS", "Draw", "default_inputs", "draw", "draw_case"]

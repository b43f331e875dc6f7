"""Named cases: nanoBragg arguments plus the pixels to trace, read from TOML case files.

A case file holds ``[[case]]`` tables with ``name``, ``args`` (one nanoBragg command line as a
string), ``pixels`` (a list of ``[slow, fast]``), optional ``folder`` (where its input files are,
relative to the case file; default: a folder named like the case, else the file's folder),
optional ``inputs`` and an optional ``[case.tolerance]`` table of per-key overrides
(``KEY = RTOL`` or ``KEY = [RTOL, ATOL]``). A top-level ``[tolerance]`` table applies to every
case of the file; a case's own table wins. ``traces/upstream/cases.toml`` (upstream
nanoBragg's public golden outputs, one folder per case) uses the same format.
"""

from __future__ import annotations

import math
import shlex
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nbparity import resources

# nbparity.resources decides where the files are: a clone's traces/, else the wheel's copy.
# REPO_ROOT is the clone (outside one, the folder above the package; nothing is read from it).
REPO_ROOT = resources.repo_root() or resources.PACKAGE_DIR.parent
TRACES_DIR = resources.traces_dir()
UPSTREAM_DIR = TRACES_DIR / "upstream"  # a clone's only: a wheel does not carry upstream's data


class CaseFileError(ValueError):
    """A malformed case file; the message names the file and the case."""


@dataclass(frozen=True)
class Case:
    """One named case.

    folder: where the case's input files live (its arguments name them relative to it).
    args:   the nanoBragg arguments, split like a shell would.
    pixels: (slow, fast) pairs, zero-based.
    shape:  (slow, fast) detector size in pixels, from the arguments.
    """

    name: str
    folder: Path
    args: tuple[str, ...]
    pixels: tuple[tuple[int, int], ...]
    shape: tuple[int, int]
    tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)


def detector_shape(args: list[str] | tuple[str, ...]) -> tuple[int, int]:
    """(slow, fast) pixel counts a nanoBragg command line asks for.

    Follows nanoBragg: -detpixels N sets both; -detpixels_s/_y and -detpixels_f/_x set one,
    -detsize_s and -detsize_f the sizes;
    otherwise detsize (mm, default 102.4) over pixel (mm, default 0.1), rounded like upstream
    (ceil(size/pixel - 0.5)).
    """
    pixel_mm = 0.1
    size_mm = {"s": 102.4, "f": 102.4}
    count: dict[str, int] = {}
    for i, token in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if nxt is None:
            continue
        if token == "-pixel":
            pixel_mm = float(nxt)
        elif token == "-detsize":
            size_mm = {"s": float(nxt), "f": float(nxt)}
        elif token == "-detsize_s":  # upstream has no -detsize_x/_y spellings
            size_mm["s"] = float(nxt)
        elif token == "-detsize_f":
            size_mm["f"] = float(nxt)
        elif token == "-detpixels":
            count = {"s": int(nxt), "f": int(nxt)}
        elif token in ("-detpixels_s", "-detpixels_y"):
            count["s"] = int(nxt)
        elif token in ("-detpixels_f", "-detpixels_x"):
            count["f"] = int(nxt)
    def axis(name: str) -> int:
        if name in count:
            return count[name]
        return int(math.ceil(size_mm[name] / pixel_mm - 0.5))

    return axis("s"), axis("f")


def load_cases(path: str | Path) -> list[Case]:
    """All cases of a TOML case file; folders default to the file's folder."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaseFileError(f"{path}: {exc}") from None
    shared = _tolerance_table(path, data)
    cases = []
    for i, table in enumerate(data.get("case", [])):
        name = table.get("name")
        if not isinstance(name, str) or not isinstance(table.get("args"), str):
            raise CaseFileError(f"{path}: case {i} needs a name and an args string")
        args = tuple(shlex.split(table["args"]))
        pixels = tuple((int(s), int(f)) for s, f in table.get("pixels", []))
        folder = path.parent / table.get("folder", name)
        if not folder.is_dir():
            folder = path.parent
        tolerance = shared | {key: _tolerance(path, name, key, value)
                              for key, value in table.get("tolerance", {}).items()}
        cases.append(Case(name, folder, args, pixels, detector_shape(args), tolerance))
    names = [c.name for c in cases]
    if len(set(names)) != len(names):
        raise CaseFileError(f"{path}: duplicate case names")
    return cases


def _tolerance_table(path: Path, data: dict) -> dict[str, tuple[float, float]]:
    return {key: _tolerance(path, "(file)", key, value)
            for key, value in data.get("tolerance", {}).items()}


def file_tolerance(path: str | Path) -> dict[str, tuple[float, float]]:
    """The top-level ``[tolerance]`` table of a case file (per-key overrides for all cases)."""
    path = Path(path)
    try:
        return _tolerance_table(path, tomllib.loads(path.read_text()))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise CaseFileError(f"{path}: {exc}") from None


def _tolerance(path: Path, name: str, key: str, value) -> tuple[float, float]:
    if isinstance(value, (int, float)):
        return float(value), 0.0
    if isinstance(value, list) and 1 <= len(value) <= 2:
        return float(value[0]), float(value[1]) if len(value) == 2 else 0.0
    raise CaseFileError(f"{path}: case {name}: tolerance for {key} must be RTOL or [RTOL, ATOL]")


def upstream_cases() -> list[Case]:
    """The public upstream nanoBragg cases in ``traces/upstream/``."""
    return load_cases(UPSTREAM_DIR / "cases.toml")


def read_float_image(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A headerless little-endian float32 image, fast index fastest, as (slow, fast)."""
    data = np.fromfile(path, dtype="<f4")
    if data.size != shape[0] * shape[1]:
        raise ValueError(f"{path}: holds {data.size} floats, expected {shape[0]} x {shape[1]}")
    return data.reshape(shape)

"""Named cases: nanoBragg arguments plus the pixels to trace, read from TOML case files.

The format — every key, its defaults, the folder and name rules, the options a case may not
carry and what happens to its output files — is docs/design/case-files.md. Every problem is a
one-line ``CaseFileError`` naming the file (and line), the case and the key or option.
``traces/cases.toml`` and ``traces/upstream/cases.toml`` use the format.
"""

from __future__ import annotations

import math
import os
import re
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

#: The keys a case file may hold, at top level and in a ``[[case]]`` table.
FILE_KEYS = ("case", "tolerance")
CASE_KEYS = ("name", "args", "pixels", "folder", "inputs", "tolerance")
#: A case name is a plain file-name part: it names bundles and golden logs.
NAME_PATTERN = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*\Z")

#: Options whose value is a file the engines read (resolved against the case's folder).
INPUT_FILE_OPTIONS = ("-hkl", "-mat", "-matrix", "-sourcefile", "-mask", "-img", "-stol",
                      "-4stol", "-Q")
#: Options whose value is a file the engines write (``-dump`` is written when ``-hkl`` is given).
OUTPUT_FILE_OPTIONS = ("-floatfile", "-floatimage", "-intfile", "-intimage", "-noisefile",
                       "-noiseimage", "-pgmfile", "-pgmimage", "-dump")
#: Options the harness sets itself, per engine: in a case's arguments one would change what
#: one engine does (or what is traced) behind the command's back, under the command's label.
HARNESS_OPTIONS = {
    "-phi_carryover_mode": "the φ=0 carry-over mode is the command's: use --phi-carryover-mode "
                           "/ --c-mode (trace) or --mode (gate)",
    "-omp_threads": "the thread count is the command's: use --omp-threads with "
                    "--phi-carryover-mode / --c-mode c-parity-omp",
    "-trace_pixel": "the traced pixels are the case's 'pixels' (or trace's --pixel)",
    "-printout_pixel": "the traced pixels are the case's 'pixels' (or trace's --pixel)",
    "-device": "the simulator's device is the command's: use --device",
    "-dtype": "the simulator's dtype is the command's: use --dtype",
}


class CaseFileError(ValueError):
    """A malformed case (file or arguments); the one-line message names the file, the case and
    the key or option."""


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


# --------------------------------------------------------------------------- arguments

def detector_shape(args: list[str] | tuple[str, ...]) -> tuple[int, int]:
    """(slow, fast) pixel counts a nanoBragg command line asks for.

    Follows nanoBragg: -detpixels N sets both; -detpixels_s/_y and -detpixels_f/_x set one,
    -detsize_s and -detsize_f the sizes;
    otherwise detsize (mm, default 102.4) over pixel (mm, default 0.1), rounded like upstream
    (ceil(size/pixel - 0.5)). A value that is not a positive finite number (or a whole number
    for the counts) is a CaseFileError naming the option.
    """
    pixel_mm = 0.1
    size_mm = {"s": 102.4, "f": 102.4}
    count: dict[str, int] = {}
    for i, token in enumerate(args):
        nxt = args[i + 1] if i + 1 < len(args) else None
        if nxt is None:
            continue
        if token == "-pixel":
            pixel_mm = _positive(token, nxt, float)
        elif token == "-detsize":
            size_mm = {"s": _positive(token, nxt, float), "f": _positive(token, nxt, float)}
        elif token == "-detsize_s":  # upstream has no -detsize_x/_y spellings
            size_mm["s"] = _positive(token, nxt, float)
        elif token == "-detsize_f":
            size_mm["f"] = _positive(token, nxt, float)
        elif token == "-detpixels":
            count = {"s": _positive(token, nxt, int), "f": _positive(token, nxt, int)}
        elif token in ("-detpixels_s", "-detpixels_y"):
            count["s"] = _positive(token, nxt, int)
        elif token in ("-detpixels_f", "-detpixels_x"):
            count["f"] = _positive(token, nxt, int)

    def axis(name: str) -> int:
        if name in count:
            return count[name]
        ratio = size_mm[name] / pixel_mm
        pixels = math.ceil(ratio - 0.5) if math.isfinite(ratio) else 0
        if pixels < 1:
            raise CaseFileError(f"-detsize / -pixel: a detector {size_mm[name]:g} mm "
                                f"{'slow' if name == 's' else 'fast'} with {pixel_mm:g} mm "
                                f"pixels has no pixels")
        return pixels

    return axis("s"), axis("f")


def _positive(option: str, text: str, kind: type) -> float:
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise CaseFileError(f"{option} {text}: not {'a whole' if kind is int else 'a'} number"
                            ) from None
    if not (math.isfinite(value) and value > 0):
        raise CaseFileError(f"{option} {text}: must be a positive finite number")
    return value


def _plain_name(value: str) -> bool:
    """A file name without a folder: stays in the folder it is written to."""
    separators = {"/", os.sep, os.altsep or "/"}
    return value not in ("", ".", "..") and "\0" not in value and \
        not any(s in value for s in separators)


def check_args(args: list[str] | tuple[str, ...]) -> None:
    """Refuse what a case's arguments may not carry: the options the harness sets per engine
    (``HARNESS_OPTIONS``) and output files that are not plain file names (they are written
    into the run's own folder, see ``engine_args``). CaseFileError naming the option."""
    args = [str(a) for a in args]
    for i, token in enumerate(args):
        if token in HARNESS_OPTIONS:
            raise CaseFileError(f"{token}: not allowed in a case's arguments "
                                f"({HARNESS_OPTIONS[token]})")
        if token in OUTPUT_FILE_OPTIONS and i + 1 < len(args) and not _plain_name(args[i + 1]):
            raise CaseFileError(f"{token} {args[i + 1]}: an output file must be a plain file "
                                f"name (no folder): nbparity writes it into the run's own "
                                f"folder (the bundle), never elsewhere")


def check_case(case: Case) -> None:
    """A case as the runner gets it (also one built in code): a plain name, allowed arguments.
    CaseFileError naming the case."""
    if not NAME_PATTERN.match(case.name):
        raise CaseFileError(f"case {case.name!r}: {_NAME_RULE}")
    try:
        check_args(case.args)
    except CaseFileError as exc:
        raise CaseFileError(f"case {case.name}: {exc}") from None


def case_from_args(name: str, folder: Path, args, source: str) -> Case:
    """A case from a command line (trace's --args-file or -- ARGS), checked as a case file's
    are; ``source`` names where the arguments came from in errors."""
    args = tuple(str(a) for a in args)
    try:
        check_args(args)
        shape = detector_shape(args)
    except CaseFileError as exc:
        raise CaseFileError(f"{source}: {exc}") from None
    return Case(name, folder, args, (), shape)


def engine_args(case: Case, workdir: Path, role: str) -> list[str]:
    """A case's arguments as one engine gets them: input files made absolute from the case's
    folder; each output file put in ``workdir`` (the bundle being written, or a scratch
    folder) as ``ROLE-NAME``, so the two engines' files do not overwrite each other and
    nothing is written outside the run's folder."""
    out = [str(a) for a in case.args]
    workdir = Path(workdir).absolute()
    for i in range(len(out) - 1):
        token, value = out[i], out[i + 1]
        if token in INPUT_FILE_OPTIONS and case.folder is not None and not os.path.isabs(value):
            out[i + 1] = str((Path(case.folder) / value).resolve())
        elif token in OUTPUT_FILE_OPTIONS:
            out[i + 1] = str(workdir / f"{role}-{Path(value).name or 'output'}")
    return out


def input_warnings(case: Case) -> list[str]:
    """Input files a case's arguments name outside its folder: the run then depends on a file
    the case does not carry (recorded in the bundle's run.json ``warnings``)."""
    if case.folder is None:
        return []
    folder = Path(case.folder).resolve()
    args = [str(a) for a in case.args]
    warnings = []
    for token, value in zip(args, args[1:]):
        if token in INPUT_FILE_OPTIONS and not (folder / value).resolve().is_relative_to(folder):
            warnings.append(f"case {case.name}: {token} {value} is outside the case's folder "
                            f"{case.folder}: the run depends on a file the case does not carry")
    return warnings


# --------------------------------------------------------------------------- case files

_NAME_RULE = ("a case name is letters, digits, '_', '-' and '.' (not first): it names bundle "
              "folders and golden logs")


def _read(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CaseFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise CaseFileError(f"{path}:{line}: not UTF-8 text (byte 0x{data[exc.start]:02x})"
                            ) from None


def _parse(path: Path) -> tuple[dict, list[str]]:
    text = _read(path)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CaseFileError(f"{path}: not valid TOML: {exc}") from None
    return data, text.splitlines()


def _line_of(lines: list[str], pattern: str, start: int = 0, stop: int | None = None
             ) -> int | None:
    """The 1-based number of the first line in lines[start:stop] matching ``pattern``."""
    regex = re.compile(pattern)
    for number in range(start, len(lines) if stop is None else stop):
        if regex.match(lines[number]):
            return number + 1
    return None


def _key_pattern(key: str) -> str:
    return rf"\s*(\[+\s*)?[\"']?{re.escape(key)}[\"']?\s*[=.\]]"


def _show(value) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_show(v) for v in value) + "]"
    if isinstance(value, dict):
        return "a table"
    return str(value).lower() if isinstance(value, bool) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def load_cases(path: str | Path) -> list[Case]:
    """All cases of a TOML case file (docs/design/case-files.md); CaseFileError on any
    problem, naming the file (and line), the case and the key."""
    path = Path(path)
    data, lines = _parse(path)
    for key in data:
        if key not in FILE_KEYS:
            line = _line_of(lines, _key_pattern(key))
            raise CaseFileError(f"{path}{f':{line}' if line else ''}: unknown key {key!r} at "
                                f"top level (a case file holds [[case]] tables and a "
                                f"[tolerance] table)")
    shared = _tolerance_table(path, lines, data)
    tables = data.get("case")
    if isinstance(tables, dict):
        line = _line_of(lines, r"\s*\[\s*case\s*\]")
        raise CaseFileError(f"{path}{f':{line}' if line else ''}: [case] is a single table; "
                            f"write [[case]] (one per case)")
    if not tables:
        raise CaseFileError(f"{path}: no [[case]] tables")
    if not isinstance(tables, list) or not all(isinstance(t, dict) for t in tables):
        raise CaseFileError(f"{path}: 'case' must be [[case]] tables, got {_show(tables)}")
    headers = [n for n, line in enumerate(lines) if re.match(r"\s*\[\[\s*case\s*\]\]", line)]
    if len(headers) != len(tables):
        headers = []  # cases written another way (an inline array): no line numbers
    cases: list[Case] = []
    for i, table in enumerate(tables):
        span = (headers[i], headers[i + 1] if i + 1 < len(headers) else None) if headers \
            else None
        case = _case(path, lines, span, i, table, shared)
        for earlier in cases:
            if earlier.name == case.name:
                raise CaseFileError(f"{_where(path, span)}: case {case.name!r}: a second case "
                                    f"of that name")
        cases.append(case)
    return cases


def _where(path: Path, span: tuple[int, int | None] | None, lines: list[str] | None = None,
           key: str | None = None) -> str:
    """``path:line``: the key's line inside the case when it can be found, else the case's
    ``[[case]]`` header; ``path`` alone without line numbers."""
    if span is None:
        return str(path)
    line = _line_of(lines, _key_pattern(key), *span) if key and lines else None
    return f"{path}:{line or span[0] + 1}"


def _case(path: Path, lines: list[str], span, index: int, table: dict,
          shared: dict[str, tuple[float, float]]) -> Case:
    name = table.get("name")
    label = (f"case {name!r}" if isinstance(name, str) and name
             else f"[[case]] number {index + 1}")

    def fail(message: str, key: str | None = None) -> CaseFileError:
        return CaseFileError(f"{_where(path, span, lines, key)}: {label}: {message}")

    for key in table:
        if key not in CASE_KEYS:
            raise fail(f"unknown key {key!r} (a case has {', '.join(CASE_KEYS)})", key)
    for key in ("name", "args"):
        if key not in table:
            raise fail(f"missing key {key!r} (a case needs a name and an args string)")
        if not isinstance(table[key], str):
            raise fail(f"{key} must be a string, got {_show(table[key])}", key)
    if not NAME_PATTERN.match(name):
        raise fail(_NAME_RULE, "name")
    try:
        args = tuple(shlex.split(table["args"]))
    except ValueError as exc:
        raise fail(f"args: {exc}", "args") from None
    try:
        check_args(args)
        shape = detector_shape(args)
    except CaseFileError as exc:
        raise fail(f"args: {exc}", "args") from None
    pixels = _pixels(table.get("pixels", []), shape, lambda m: fail(f"pixels: {m}", "pixels"))
    folder = _folder(path, name, table, lambda m: fail(m, "folder"))
    inputs = table.get("inputs", [])
    if not (isinstance(inputs, list) and all(isinstance(x, str) for x in inputs)):
        raise fail(f"inputs must be a list of strings, got {_show(inputs)}", "inputs")
    own = table.get("tolerance", {})
    if not isinstance(own, dict):
        raise fail(f"tolerance must be a table ([case.tolerance] with KEY = RTOL or "
                   f"[RTOL, ATOL]), got {_show(own)}", "tolerance")
    tolerance = shared | {key: _tolerance(f"{_where(path, span, lines, key)}: {label}", key,
                                          value) for key, value in own.items()}
    return Case(name, folder, args, pixels, shape, tolerance)


def _pixels(value, shape: tuple[int, int], fail) -> tuple[tuple[int, int], ...]:
    if not isinstance(value, list):
        raise fail(f"must be a list of [slow, fast] pairs, got {_show(value)}")
    pixels: list[tuple[int, int]] = []
    for pair in value:
        if not (isinstance(pair, list) and len(pair) == 2 and all(_is_number(v) and
                                                                 isinstance(v, int)
                                                                 for v in pair)):
            raise fail(f"{_show(pair)} is not a [slow, fast] pair of whole numbers")
        slow, fast = pair
        if not (0 <= slow < shape[0] and 0 <= fast < shape[1]):
            raise fail(f"[{slow}, {fast}] is outside the {shape[0]} x {shape[1]} (slow x fast) "
                       f"detector its args give (pixels count from 0)")
        if (slow, fast) in pixels:
            raise fail(f"[{slow}, {fast}] is listed twice")
        pixels.append((slow, fast))
    return tuple(pixels)


def _folder(path: Path, name: str, table: dict, fail) -> Path:
    if "folder" not in table:  # a folder named like the case, else the file's own
        folder = path.parent / name
        return folder if folder.is_dir() else path.parent
    value = table["folder"]
    if not isinstance(value, str) or not value:
        raise fail(f"folder must be a folder name (a string), got {_show(value)}")
    folder = path.parent / value
    if not folder.is_dir():
        raise fail(f"folder {value!r}: there is no folder {folder} (a case's folder is "
                   f"relative to its case file)")
    return folder


def _tolerance_table(path: Path, lines: list[str], data: dict) -> dict[str, tuple[float, float]]:
    table = data.get("tolerance", {})
    start = _line_of(lines, _key_pattern("tolerance"))

    def where(key: str | None = None) -> str:
        line = start
        if key is not None and start is not None:
            line = _line_of(lines, _key_pattern(key), start) or start
        return f"{path}{f':{line}' if line else ''}: [tolerance]"

    if not isinstance(table, dict):
        raise CaseFileError(f"{where()}: must be a table (KEY = RTOL or [RTOL, ATOL]), got "
                            f"{_show(table)}")
    return {key: _tolerance(where(key), key, value) for key, value in table.items()}


def file_tolerance(path: str | Path) -> dict[str, tuple[float, float]]:
    """The top-level ``[tolerance]`` table of a case file (per-key overrides for all cases)."""
    path = Path(path)
    data, lines = _parse(path)
    return _tolerance_table(path, lines, data)


def _tolerance(where: str, key: str, value) -> tuple[float, float]:
    numbers = ([value] if _is_number(value) else
               value if isinstance(value, list) and 1 <= len(value) <= 2
               and all(_is_number(v) for v in value) else None)
    if numbers is None:
        raise CaseFileError(f"{where}: tolerance for {key} must be RTOL or [RTOL, ATOL] "
                            f"(numbers), got {_show(value)}")
    for number in numbers:
        if not (math.isfinite(number) and number >= 0):
            raise CaseFileError(f"{where}: tolerance for {key}: {_show(number)} is not a "
                                f"finite, non-negative number")
    return float(numbers[0]), float(numbers[1]) if len(numbers) == 2 else 0.0


def upstream_cases() -> list[Case]:
    """The public upstream nanoBragg cases in ``traces/upstream/``."""
    return load_cases(UPSTREAM_DIR / "cases.toml")


def read_float_image(path: str | Path, shape: tuple[int, int]) -> np.ndarray:
    """A headerless little-endian float32 image, fast index fastest, as (slow, fast)."""
    data = np.fromfile(path, dtype="<f4")
    if data.size != shape[0] * shape[1]:
        raise ValueError(f"{path}: holds {data.size} floats, expected {shape[0]} x {shape[1]}")
    return data.reshape(shape)

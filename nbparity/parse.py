"""Trace readers: every trace grammar the toolkit accepts, into one tidy pandas frame.

One parser per format, all in this module:

- the contract grammar (version 1): ``TRACE_<E>: key v...`` and
  ``TRACE_<E>_PHI: phi_tic=i mos_tic=j [idx=n ...] key v...``;
- legacy instrumented logs: ``TRACE_C:key=v1 v2 v3``, ``TRACE_C: key v...`` repeated per
  sub-pixel (first occurrence kept, repetitions counted), ``TRACE_C_PHI phi_tic=0 k=v k=v``;
- the stock nanoBragg ``-printout_pixel`` block (``parse_printout_text``).

The frame has one row per value component::

    engine slow fast stage phi_tic mos_tic sub src thick key component value text kind
    resolution line

``value`` is float (NaN for words), ``text`` the printed token. Index columns hold -1 where
the record has no such index. ``resolution`` is half a unit in the last printed digit (0 when the
value was printed round-trip exact with ``%.17g``), so the comparison can tell precision-limited
records from real failures. Errors raise ``TraceFormatError`` naming ``file:line``.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from nbparity import schema

COLUMNS = (
    "engine", "slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick",
    "key", "component", "value", "text", "kind", "resolution", "line",
)
INDEX_TOKENS = ("phi_tic", "mos_tic", "sub", "src", "thick")
NO_INDEX = -1

_PREFIX_RE = re.compile(r"^TRACE_([A-Z][A-Z0-9]*)(_PHI)?(:?)(.*)$")
_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_INT_RE = re.compile(r"^[+-]?\d+$")
_REAL_RE = re.compile(r"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")
_SPECIAL = {"nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf,
            "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}

#: Legacy key names → (contract key, component or None for all components).
LEGACY_KEYS: dict[str, tuple[str, int | None]] = {
    "I_before_scaling_pre_polar": ("I_before_scaling", None),
    "F_cell_nearest": ("F_cell", None),
    "h_frac": ("hkl_frac", 0),
    "k_frac": ("hkl_frac", 1),
    "l_frac": ("hkl_frac", 2),
    "h0": ("hkl_rounded", 0),
    "k0": ("hkl_rounded", 1),
    "l0": ("hkl_rounded", 2),
}


class TraceFormatError(ValueError):
    """Unreadable or malformed input; the message starts with ``file:line``."""


class DuplicateRecordError(TraceFormatError):
    """The same (pixel, indices, key) twice in one contract log: a structural error."""


@dataclass
class TraceLog:
    """A parsed log: the tidy frame plus what the reader noticed on the way."""

    source: str
    frame: pd.DataFrame
    grammar: str  # "contract", "legacy" or "printout"
    repeated: dict[str, int] = field(default_factory=dict)  # legacy repetitions, per key
    ignored_lines: int = 0

    @property
    def engines(self) -> list[str]:
        return sorted(self.frame["engine"].unique())

    @property
    def pixels(self) -> list[tuple[int, int]]:
        pix = self.frame[["slow", "fast"]].drop_duplicates()
        return [(int(s), int(f)) for s, f in pix.itertuples(index=False)]


# --------------------------------------------------------------------------- tokens

def _significant_digits(token: str) -> int:
    """Significant digits a decimal token shows (trailing zeros count: they were printed)."""
    mantissa = token.lstrip("+-").split("e")[0].split("E")[0].replace(".", "")
    stripped = mantissa.lstrip("0")
    return len(stripped) if stripped else 1


def _resolution(token: str, value: float, exact: bool, digits: int | None = None) -> float:
    """Half a unit in the last printed digit of ``token`` (absolute).

    ``digits``: significant digits the printing format guaranteed (``%15.10g`` → 10), where
    known; ``%g`` strips trailing zeros, so the token alone would overstate the resolution.
    """
    if exact or not math.isfinite(value):
        return 0.0
    if digits is not None and value != 0.0:
        return 0.5 * 10.0 ** (math.floor(math.log10(abs(value))) - digits + 1)
    body = token.lstrip("+-")
    exp = 0
    if "e" in body or "E" in body:
        body, exp_text = re.split("[eE]", body)
        exp = int(exp_text)
    decimals = len(body.split(".")[1]) if "." in body else 0
    return 0.5 * 10.0 ** (exp - decimals)


def _number(token: str, where: str) -> float:
    low = token.lower()
    if low in _SPECIAL:
        return _SPECIAL[low]
    if _INT_RE.match(token) or _REAL_RE.match(token):
        return float(token)
    raise TraceFormatError(f"{where}: {token!r} is not a number")


# --------------------------------------------------------------------------- builder

class _FrameBuilder:
    """Collects rows column-wise (fast for million-line logs) and checks records."""

    def __init__(self, source: str, exact_digits: bool, on_duplicate: str):
        self.source = source
        self.exact = exact_digits
        self.on_duplicate = on_duplicate  # "error" | "first"
        self.cols: dict[str, list] = {c: [] for c in COLUMNS}
        self.seen: set[tuple] = set()
        self.repeated: Counter[str] = Counter()

    def add(self, lineno: int, engine: str, pixel: tuple[int, int], stage: str,
            indices: dict[str, int], key: str, tokens: list[str],
            components: list[int] | None = None, digits: int | None = None) -> None:
        where = f"{self.source}:{lineno}"
        known = schema.by_name(key) if schema.is_known(key) else None
        kind = known.kind if known else _guess_kind(tokens)
        if known and components is None and len(tokens) != known.arity:
            raise TraceFormatError(
                f"{where}: key {key} takes {known.arity} value(s), found {len(tokens)}")
        record = (pixel, stage, tuple(indices.get(t, NO_INDEX) for t in INDEX_TOKENS), key,
                  tuple(components) if components else None)
        if record in self.seen:
            if self.on_duplicate == "error":
                raise DuplicateRecordError(
                    f"{where}: duplicate record {key} for pixel {pixel[0]} {pixel[1]}"
                    + "".join(f" {t}={indices[t]}" for t in INDEX_TOKENS if t in indices))
            self.repeated[key] += 1
            return
        self.seen.add(record)
        comps = components if components is not None else list(range(len(tokens)))
        for comp, token in zip(comps, tokens):
            if kind == "word":
                value = math.nan
                res = 0.0
            else:
                value = _number(token, where)
                if kind == "int" and not _INT_RE.match(token):
                    raise TraceFormatError(f"{where}: key {key} expects integers, found {token!r}")
                res = 0.0 if kind == "int" else _resolution(token, value, self.exact, digits)
            self._row(engine, pixel, stage, indices, key, comp, value, token, kind, res, lineno)

    def _row(self, engine, pixel, stage, indices, key, comp, value, token, kind, res, lineno):
        c = self.cols
        c["engine"].append(engine)
        c["slow"].append(pixel[0])
        c["fast"].append(pixel[1])
        c["stage"].append(stage)
        for t in INDEX_TOKENS:
            c[t].append(indices.get(t, NO_INDEX))
        c["key"].append(key)
        c["component"].append(comp)
        c["value"].append(value)
        c["text"].append(token)
        c["kind"].append(kind)
        c["resolution"].append(res)
        c["line"].append(lineno)

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame(self.cols, columns=list(COLUMNS))
        int_cols = ["slow", "fast", *INDEX_TOKENS, "component", "line"]
        return frame.astype({c: "int64" for c in int_cols} | {"value": "float64",
                                                                "resolution": "float64"})


def _guess_kind(tokens: list[str]) -> str:
    if tokens and all(_INT_RE.match(t) for t in tokens):
        return "int"
    if tokens and all(_REAL_RE.match(t) or t.lower() in _SPECIAL for t in tokens):
        return "real"
    return "word"


def _stage_of(key: str, step_line: bool) -> str:
    if schema.is_known(key):
        return schema.by_name(key).stage
    return "phi" if step_line else "extra"


# --------------------------------------------------------------------------- contract + legacy

def parse_trace_text(text: str, source: str = "<string>") -> TraceLog:
    """Parse a trace log in the contract grammar or a legacy instrumented form.

    The grammar is decided by the log itself: a log holding ``trace_pixel`` records is a
    contract log (duplicates are structural errors); otherwise it is legacy (repetitions of a
    key, printed once per sub-pixel by old builds, keep the first occurrence and are counted).
    """
    if "\x00" in text:
        raise TraceFormatError(f"{source}:1: binary data, not a trace log")
    lines = text.splitlines()
    contract = any(_is_trace_pixel_line(line) for line in lines)
    if not contract and _looks_like_printout(text):
        return parse_printout_log(text, source)
    builder = _FrameBuilder(source, exact_digits=False,
                            on_duplicate="error" if contract else "first")
    pixel = (NO_INDEX, NO_INDEX)
    ignored = 0
    seen_trace = False
    for lineno, raw in enumerate(lines, start=1):
        line = raw.rstrip("\r\n")
        match = _PREFIX_RE.match(line)
        if not match:
            ignored += 1
            continue
        seen_trace = True
        engine, phi_suffix, colon, rest = match.groups()
        where = f"{source}:{lineno}"
        if phi_suffix:
            _parse_step_line(builder, lineno, where, engine, pixel, rest, legacy=not colon)
            continue
        if not colon:
            raise TraceFormatError(f"{where}: expected ':' after TRACE_{engine}")
        key, tokens = _split_pixel_line(rest, where)
        if key == "trace_pixel":
            if len(tokens) != 2 or not all(_INT_RE.match(t) for t in tokens):
                raise TraceFormatError(f"{where}: trace_pixel needs two integers: slow fast")
            pixel = (int(tokens[0]), int(tokens[1]))
        components = None
        if key in LEGACY_KEYS and not contract:
            key, comp = LEGACY_KEYS[key]
            components = [comp] if comp is not None else None
        builder.add(lineno, engine, pixel, _stage_of(key, False), {}, key, tokens, components)
    if not seen_trace:
        raise TraceFormatError(f"{source}:1: no TRACE_ lines found (empty or not a trace log)")
    # Contract logs print values with %.17g: exact for doubles, no resolution limit.
    frame = builder.frame()
    if contract:
        frame["resolution"] = 0.0
    return TraceLog(source, frame, "contract" if contract else "legacy",
                    dict(builder.repeated), ignored)


def _is_trace_pixel_line(line: str) -> bool:
    return line.startswith("TRACE_") and " trace_pixel " in line[:40]


def _split_pixel_line(rest: str, where: str) -> tuple[str, list[str]]:
    body = rest.strip()
    if not body:
        raise TraceFormatError(f"{where}: trace line without a key")
    if "=" in body.split()[0]:  # legacy TRACE_C:key=v1 v2 v3
        key, _, values = body.partition("=")
        key, tokens = key.strip(), values.split()
    else:
        parts = body.split()
        key, tokens = parts[0], parts[1:]
    if not _KEY_RE.match(key):
        raise TraceFormatError(f"{where}: {key!r} is not a valid key")
    if not tokens:
        raise TraceFormatError(f"{where}: key {key} has no value")
    return key, tokens


def _parse_step_line(builder: _FrameBuilder, lineno: int, where: str, engine: str,
                     pixel: tuple[int, int], rest: str, legacy: bool) -> None:
    parts = rest.split()
    indices: dict[str, int] = {}
    pos = 0
    while pos < len(parts) and "=" in parts[pos] and parts[pos].split("=")[0] in INDEX_TOKENS:
        name, _, value = parts[pos].partition("=")
        if not _INT_RE.match(value):
            raise TraceFormatError(f"{where}: index {name} needs an integer, found {value!r}")
        indices[name] = int(value)
        pos += 1
    if "phi_tic" not in indices:
        raise TraceFormatError(f"{where}: step line without phi_tic=")
    indices.setdefault("mos_tic", 0)
    rest_tokens = parts[pos:]
    if not rest_tokens:
        raise TraceFormatError(f"{where}: step line without a key")
    if legacy or "=" in rest_tokens[0]:
        # Legacy: one line of key=value fields.
        for field_token in rest_tokens:
            key, sep, value = field_token.partition("=")
            if not sep or not _KEY_RE.match(key):
                raise TraceFormatError(f"{where}: expected key=value, found {field_token!r}")
            components = None
            if key in LEGACY_KEYS:
                key, comp = LEGACY_KEYS[key]
                components = [comp] if comp is not None else None
            builder.add(lineno, engine, pixel, "phi", indices, key, [value], components)
        return
    key, tokens = rest_tokens[0], rest_tokens[1:]
    if not _KEY_RE.match(key):
        raise TraceFormatError(f"{where}: {key!r} is not a valid key")
    if not tokens:
        raise TraceFormatError(f"{where}: key {key} has no value")
    builder.add(lineno, engine, pixel, _stage_of(key, True), indices, key, tokens)


def parse_trace_file(path: str | Path) -> TraceLog:
    """Read and parse a log file; unreadable files raise TraceFormatError naming the file."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TraceFormatError(f"{path}:0: cannot read ({exc.strerror or exc})") from None
    if b"\x00" in data:
        raise TraceFormatError(f"{path}:1: binary data, not a trace log")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise TraceFormatError(f"{path}:{line}: not UTF-8 text") from None
    return parse_trace_text(text, str(path))


# --------------------------------------------------------------------------- stock printout

_PRINTOUT_HEAD = re.compile(r"(-?\d+)\s+(-?\d+) : stol = (\S+) or (\S+)\s*$")
_PRINTOUT_FIELDS = (
    ("at", re.compile(r"^at (\S+) (\S+) (\S+)\s*$")),
    ("hkl", re.compile(r"^hkl= (\S+) (\S+) (\S+)\s+hkl0= (\S+) (\S+) (\S+)\s*$")),
    ("F", re.compile(r"^\s*F_cell=(\S+)\s+F_latt=(\S+)\s+I = (\S+)\s*$")),
    ("I/steps", re.compile(r"^I/steps\s+(\S+)\s*$")),
    ("polar", re.compile(r"^polar\s+(\S+)\s*$")),
    ("omega", re.compile(r"^omega\s+(\S+)\s*$")),
    ("capfrac", re.compile(r"^capfrac\s+(\S+)\s*$")),
    ("pixel", re.compile(r"^pixel\s+(\S+)\s*$")),
)
_CELL_ROW = re.compile(r"^([XYZ]): +(\S+) +(\S+) +(\S+)\s*$")


@dataclass
class PrintoutBlock:
    """One stock ``-printout_pixel`` block. Values as printed (metres for ``pixel_pos_m``).

    ``tokens`` keeps each field's printed text (for precision limits); ``line`` is the block's
    first line number.
    """

    fast: int
    slow: int
    stol_m_inv: float
    stol_A_inv_from_twotheta: float
    pixel_pos_m: tuple[float, float, float]
    hkl_frac: tuple[float, float, float]
    hkl_rounded: tuple[int, int, int]
    F_cell: float
    F_latt: float
    I: float
    I_over_steps: float
    polar: float
    omega: float
    capfrac: float
    pixel: float
    a_angstroms: tuple[float, float, float]
    b_angstroms: tuple[float, float, float]
    c_angstroms: tuple[float, float, float]
    tokens: dict[str, tuple[str, ...]]
    line: int


def _looks_like_printout(text: str) -> bool:
    return any(_PRINTOUT_HEAD.search(line) for line in text.splitlines()[:100000])


def parse_printout_text(text: str, source: str = "<string>") -> list[PrintoutBlock]:
    """All stock ``-printout_pixel`` blocks in ``text`` (other console output is skipped).

    The block header can follow other text on the same line (upstream prints it without a
    leading newline), so it is searched for, not anchored.
    """
    lines = text.splitlines()
    blocks: list[PrintoutBlock] = []
    i = 0
    while i < len(lines):
        head = _PRINTOUT_HEAD.search(lines[i])
        if not head:
            i += 1
            continue
        start = i + 1
        tokens: dict[str, tuple[str, ...]] = {"head": head.groups()}
        for offset, (name, regex) in enumerate(_PRINTOUT_FIELDS, start=1):
            if i + offset >= len(lines):
                raise TraceFormatError(f"{source}:{i + offset + 1}: printout block truncated "
                                       f"(expected {name})")
            match = regex.match(lines[i + offset])
            if not match:
                raise TraceFormatError(f"{source}:{i + offset + 1}: expected the {name} line "
                                       f"of a printout block")
            tokens[name] = match.groups()
        cell_at = i + len(_PRINTOUT_FIELDS) + 3  # header line + column titles, then X Y Z
        rows = []
        for r in range(3):
            idx = cell_at + r
            match = _CELL_ROW.match(lines[idx]) if idx < len(lines) else None
            if not match:
                raise TraceFormatError(f"{source}:{idx + 1}: expected a cell-vector row")
            rows.append(match.groups()[1:])
        tokens["cell"] = tuple(t for row in rows for t in row)
        blocks.append(_printout_block(tokens, rows, source, start))
        i = cell_at + 3
    return blocks


def _printout_block(tokens, rows, source, line) -> PrintoutBlock:
    where = f"{source}:{line}"

    def num(t: str) -> float:
        return _number(t, where)

    f, s, stol, stol2 = tokens["head"]
    hkl = tokens["hkl"]
    column = [tuple(num(rows[r][c]) for r in range(3)) for c in range(3)]
    return PrintoutBlock(
        fast=int(f), slow=int(s), stol_m_inv=num(stol), stol_A_inv_from_twotheta=num(stol2),
        pixel_pos_m=tuple(num(t) for t in tokens["at"]),
        hkl_frac=tuple(num(t) for t in hkl[:3]),
        hkl_rounded=tuple(int(t) for t in hkl[3:]),
        F_cell=num(tokens["F"][0]), F_latt=num(tokens["F"][1]), I=num(tokens["F"][2]),
        I_over_steps=num(tokens["I/steps"][0]), polar=num(tokens["polar"][0]),
        omega=num(tokens["omega"][0]), capfrac=num(tokens["capfrac"][0]),
        pixel=num(tokens["pixel"][0]),
        a_angstroms=column[0], b_angstroms=column[1], c_angstroms=column[2],
        tokens=tokens, line=line,
    )


#: Printout fields that are the pixel's final values → contract keys.
PRINTOUT_FINAL_KEYS = (
    ("I", "I_before_scaling"),
    ("polar", "polar_applied"),
    ("omega", "omega_applied_sr"),
    ("capfrac", "capture_fraction_applied"),
    ("pixel", "I_pixel_final"),
)
#: Printout fields of the last loop iteration → contract step keys.
PRINTOUT_LAST_STEP_KEYS = ("hkl_frac", "hkl_rounded", "F_cell", "F_latt",
                           "rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")


def parse_printout_log(text: str, source: str = "<string>") -> TraceLog:
    """A stock printout as a trace frame, engine ``PRINTOUT``.

    Final values become final-stage records. ``I/steps`` is kept as the extra key
    ``I_over_steps``. Last-iteration values become step records with ``phi_tic = mos_tic = -2``
    (meaning "the last iteration"); the aligner matches them to the candidate's last step when
    the candidate's trace holds a single sub-pixel, source and layer.
    """
    blocks = parse_printout_text(text, source)
    if not blocks:
        raise TraceFormatError(f"{source}:1: no printout block found")
    builder = _FrameBuilder(source, exact_digits=False, on_duplicate="error")
    last = {"phi_tic": -2, "mos_tic": -2}
    for b in blocks:
        pixel = (b.slow, b.fast)
        t = b.tokens
        builder.add(b.line, "PRINTOUT", pixel, "meta", {}, "trace_pixel",
                    [str(b.slow), str(b.fast)])
        # Upstream's formats: %g (6 digits) for I, F_cell, F_latt; %15.10g for the rest.
        builder.add(b.line, "PRINTOUT", pixel, "final", {}, "I_before_scaling", [t["F"][2]],
                    digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "extra", {}, "I_over_steps", [t["I/steps"][0]],
                    digits=10)
        for field_name, key in PRINTOUT_FINAL_KEYS[1:]:
            builder.add(b.line, "PRINTOUT", pixel, "final", {}, key, [t[field_name][0]],
                        digits=10)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_frac", list(t["hkl"][:3]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_rounded", list(t["hkl"][3:]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_cell", [t["F"][0]], digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_latt", [t["F"][1]], digits=6)
        cell = t["cell"]
        for c, key in enumerate(("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")):
            builder.add(b.line, "PRINTOUT", pixel, "phi", last, key,
                        [cell[c], cell[3 + c], cell[6 + c]])
    return TraceLog(source, builder.frame(), "printout")

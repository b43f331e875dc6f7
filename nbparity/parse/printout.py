"""The stock nanoBragg ``-printout_pixel`` block: read as ``PrintoutBlock`` values
(``parse_printout_text``) or as a trace log of engine ``PRINTOUT`` (``parse_printout_log``)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from nbparity.parse.builder import _RecordBuilder
from nbparity.parse.log import TraceLog
from nbparity.parse.records import (
    _NO_INDICES,
    NO_INDEX,
    TraceFormatError,
    _number,
    _small_int,
)

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
    tokens: dict[str, list[str]]
    line: int


def printout_pixels(text: str) -> set[tuple[int, int]]:
    """The (slow, fast) pixels of the stock printout blocks whose header ``text`` holds (an
    engine's output is checked with it before it is read)."""
    if " : stol = " not in text:
        return set()
    return {(int(m.group(2)), int(m.group(1))) for m in map(_PRINTOUT_HEAD.search,
                                                            text.splitlines()) if m}


def _looks_like_printout(text: str) -> bool:
    if " : stol = " not in text:  # (the block header's fixed text: most logs end here)
        return False
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
        tokens: dict[str, list[str]] = {"head": head.groups()}
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
    hkl_where = f"{source}:{line + 2}"  # the header, "at ...", then "hkl= ... hkl0= ..."
    column = [tuple(num(rows[r][c]) for r in range(3)) for c in range(3)]
    return PrintoutBlock(
        fast=_small_int(f, where, "pixel"), slow=_small_int(s, where, "pixel"),
        stol_m_inv=num(stol), stol_A_inv_from_twotheta=num(stol2),
        pixel_pos_m=tuple(num(t) for t in tokens["at"]),
        hkl_frac=tuple(num(t) for t in hkl[:3]),
        hkl_rounded=tuple(_small_int(t, hkl_where, "hkl0") for t in hkl[3:]),
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
    ``I_over_steps``; so are polar/omega/capfrac when the console says nanoBragg oversampled
    that factor (``... pixel oversample steps +polar``). Last-iteration values become step
    records with ``phi_tic = mos_tic = -2`` (meaning "the last iteration"); the aligner
    matches them to the candidate's last step when the candidate's trace holds a single
    sub-pixel, source and layer.
    """
    blocks = parse_printout_text(text, source)
    if not blocks:
        raise TraceFormatError(f"{source}:1: no printout block found")
    # With -oversample_polar/_omega/_thick nanoBragg applies that factor inside the loop and
    # prints the last value it computed, not the one the final scaling used (which is then 1):
    # such a field is kept as an extra key, listed, never compared with the *_applied key.
    oversampled = set(re.findall(r"\+(polar|omega|thick)\b",
                                 " ".join(re.findall(r"pixel oversample steps(.*)", text))))
    renamed = {"polar": "polar_last_computed", "omega": "omega_last_computed_sr",
               "capfrac": "capture_fraction_last_computed"}
    flag_of = {"polar": "polar", "omega": "omega", "capfrac": "thick"}
    builder = _RecordBuilder(source, on_duplicate="error")
    builder.infer = False
    none = _NO_INDICES
    last = (-2, -2, NO_INDEX, NO_INDEX, NO_INDEX)  # phi_tic = mos_tic = -2: "last iteration"
    for b in blocks:
        pixel = (b.slow, b.fast)
        t = b.tokens
        builder.add(b.line, "PRINTOUT", pixel, "meta", none, "trace_pixel",
                    [str(b.slow), str(b.fast)])
        # Upstream's formats: %g (6 digits) for I, F_cell, F_latt; %15.10g for the rest.
        builder.add(b.line, "PRINTOUT", pixel, "final", none, "I_before_scaling", [t["F"][2]],
                    digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "extra", none, "I_over_steps", [t["I/steps"][0]],
                    digits=10)
        for field_name, key in PRINTOUT_FINAL_KEYS[1:]:
            stage = "final"
            if flag_of.get(field_name) in oversampled:
                stage, key = "extra", renamed[field_name]
            builder.add(b.line, "PRINTOUT", pixel, stage, none, key, [t[field_name][0]],
                        digits=10)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_frac", list(t["hkl"][:3]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "hkl_rounded", list(t["hkl"][3:]))
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_cell", [t["F"][0]], digits=6)
        builder.add(b.line, "PRINTOUT", pixel, "phi", last, "F_latt", [t["F"][1]], digits=6)
        cell = t["cell"]
        for c, key in enumerate(("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms")):
            builder.add(b.line, "PRINTOUT", pixel, "phi", last, key,
                        [cell[c], cell[3 + c], cell[6 + c]])
    # upstream prints %g (6 digits) and %15.10g; the fewer digits bound the comparison
    return TraceLog(source, builder.records(exact=False), "printout", inferred_precision=("%g", 6))

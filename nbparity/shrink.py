"""Shrinking a failing configuration to a minimal one that fails the same way.

``shrink(case, mode, fails_same_way)`` asks the predicate (typically: ``evaluate`` gives the
same ``Verdict.signature``) about smaller cases, in phases, within ``max_evaluations`` calls:

1. **pixels**: one traced pixel instead of two or three (each alone, in the case's order: the
   generator puts the centre first), keeping one where it still fails;
2. **option groups** (delta debugging, complements of ever smaller chunks): an option group is
   an option token and its values, a value being any following token that is not an option (a
   token is an option when it starts with '-' and a letter, or is ``-4stol``: '-5' is a
   value);
3. **a smaller detector**: every detector-size option replaced by ``-detpixels N``, the traced
   pixel kept at its offset from the detector's centre (right when the beam centre is the
   default), then at its index (right when the beam centre is given in mm or pixels from the
   corner), trying the smallest N that holds the pixel first, then doubling;
4. **values**: each number of each remaining group made simpler — 0, 1, ±90 (angle-like
   values), the nearest integer, one or two significant digits — keeping the first that still
   fails (a value's default is what phase 2 tried by dropping its option);
5. one more pass dropping single groups (phases 3 and 4 may have made some unnecessary).

The predicate alone decides what "the same way" is, so what keeps a command valid (a crystal,
structure factors) is kept because dropping it fails differently. Candidates whose arguments a
case cannot hold (a malformed detector size, one larger than the original or 48 pixels, an
option the harness forbids) are skipped without asking the predicate; a repeated candidate is
answered from memory. Pixels are re-mapped when an option change resizes the detector (scaled
into the new size).

``minimal_signature(case)`` is the sorted option names of a (minimal) case, without the
detector-size options the shrinker normalises; ``finding_class(verdict, minimal_case)`` joins
it with the verdict's signature: findings of one class fail the same way and need the same
options. ``case_entry(case, note)`` writes a case as a ready-to-add case-file entry.
"""

from __future__ import annotations

import dataclasses
import math
import re
import shlex
from collections.abc import Callable
from pathlib import Path

from nbparity import resources
from nbparity.cases import (
    INPUT_FILE_OPTIONS,
    Case,
    CaseFileError,
    check_args,
    detector_shape,
)

#: options whose name has a digit after the dash (a '-' and a digit is otherwise a value)
DIGIT_OPTIONS = frozenset({"-4stol"})
#: the options that size the detector (phase 3 replaces them; not part of a minimal signature)
DETECTOR_SIZE_OPTIONS = frozenset({"-detpixels", "-detpixels_s", "-detpixels_y", "-detpixels_f",
                                   "-detpixels_x", "-detsize", "-detsize_s", "-detsize_f"})
#: the largest detector side a candidate may have (or the original's, if larger)
MAX_SIDE = 48

_OPTION = re.compile(r"-[A-Za-z]")


def is_option(token: str) -> bool:
    """An option token: '-' and a letter (``-cell``), or an option named with a digit."""
    return token in DIGIT_OPTIONS or bool(_OPTION.match(token))


def option_groups(args) -> list[tuple[str, ...]]:
    """The arguments as option groups: each option with the values that follow it (tokens
    before the first option, if any, form a group of their own)."""
    groups: list[list[str]] = []
    for token in (str(a) for a in args):
        if is_option(token) or not groups:
            groups.append([token])
        else:
            groups[-1].append(token)
    return [tuple(g) for g in groups]


def _flatten(groups) -> list[str]:
    return [token for group in groups for token in group]


class _Budget(Exception):
    """The predicate may not be asked again."""


class _Shrinker:
    def __init__(self, case: Case, mode: str, predicate: Callable[[Case, str], bool],
                 budget: int):
        self.best = case
        self.mode = mode
        self.predicate = predicate
        self.budget = budget
        self.evaluations = 0
        self.answers: dict[tuple, bool] = {(case.args, case.pixels): True}
        self.max_side = max(MAX_SIDE, *case.shape)

    # ---- candidates

    def make(self, args, pixels=None) -> Case | None:
        """A candidate case from ``args`` (None when a case cannot hold them); pixels default
        to the best case's, scaled into a resized detector."""
        args = tuple(str(a) for a in args)
        try:
            check_args(args)
            shape = detector_shape(args)
        except CaseFileError:
            return None
        if max(shape) > self.max_side:
            return None
        if pixels is None:
            pixels = [_scaled(p, self.best.shape, shape) for p in self.best.pixels]
        pixels = tuple(dict.fromkeys((int(s), int(f)) for s, f in pixels
                                     if 0 <= s < shape[0] and 0 <= f < shape[1]))
        if not pixels:
            return None
        return dataclasses.replace(self.best, args=args, shape=shape, pixels=pixels)

    def test(self, candidate: Case | None) -> bool:
        """Ask the predicate (once per candidate); a success becomes the best case."""
        if candidate is None:
            return False
        key = (candidate.args, candidate.pixels)
        if key in self.answers:
            return self.answers[key]
        if self.evaluations >= self.budget:
            raise _Budget
        self.evaluations += 1
        answer = bool(self.predicate(candidate, self.mode))
        self.answers[key] = answer
        if answer:
            self.best = candidate
        return answer

    # ---- phases

    def pixels(self) -> None:
        if len(self.best.pixels) < 2:
            return
        for pixel in self.best.pixels:
            if self.test(self.make(self.best.args, [pixel])):
                return

    def ddmin(self) -> None:
        groups = option_groups(self.best.args)
        n = 2
        while len(groups) >= 2:
            size = math.ceil(len(groups) / n)
            chunks = [groups[i:i + size] for i in range(0, len(groups), size)]
            for i in range(len(chunks)):
                rest = [g for j, chunk in enumerate(chunks) if j != i for g in chunk]
                if self.test(self.make(_flatten(rest))):
                    groups = rest
                    n = max(n - 1, 2)
                    break
            else:
                if n >= len(groups):
                    return
                n = min(2 * n, len(groups))

    def drop_single(self) -> None:
        for group in option_groups(self.best.args):
            groups = option_groups(self.best.args)
            if group in groups and group[0] not in DETECTOR_SIZE_OPTIONS:
                self.test(self.make(_flatten(g for g in groups if g != group)))

    def detector(self) -> None:
        """Every detector-size option replaced by ``-detpixels N``: the traced pixel kept at
        its offset from the centre, then at its index; the smallest N holding it first."""

        def same_index(n, pixel, shape):
            return pixel

        def from_centre(n, pixel, shape):
            return (pixel[0] - shape[0] // 2 + n // 2, pixel[1] - shape[1] // 2 + n // 2)

        for where in (from_centre, same_index):
            case = self.best
            groups = option_groups(case.args)
            sized = [i for i, g in enumerate(groups) if g[0] in DETECTOR_SIZE_OPTIONS]
            if not sized or len(case.pixels) != 1:
                return
            others = [g for i, g in enumerate(groups) if i not in sized]
            at = sized[0]
            pixel, shape = case.pixels[0], case.shape
            n = max(pixel) + 1 if where is same_index else 1
            while n < max(shape):
                args = _flatten(others[:at] + [("-detpixels", str(n))] + others[at:])
                if self.test(self.make(args, [where(n, pixel, shape)])):
                    break
                n *= 2

    def values(self) -> None:
        """Each group's numbers simpler: all at once to their simplest spelling (then the
        group dropped, as a value's default often makes it unnecessary), else one by one."""
        index = -1
        while index + 1 < len(option_groups(self.best.args)):
            index += 1
            group = option_groups(self.best.args)[index]
            if group[0] in DETECTOR_SIZE_OPTIONS or group[0] in INPUT_FILE_OPTIONS:
                continue
            numbers = [i for i in range(1, len(group)) if simpler_values(group[i])]
            if not numbers:
                continue
            if len(numbers) > 1 or len(group) == 2:
                trial = list(group)
                for i in numbers:
                    trial[i] = simpler_values(group[i])[0]
                if self._replace(index, tuple(trial)):
                    if self._replace(index, None):
                        index -= 1  # the next group moved into this place
                    continue
            for i in numbers:
                for value in simpler_values(option_groups(self.best.args)[index][i])[:3]:
                    trial = list(option_groups(self.best.args)[index])
                    trial[i] = value
                    if self._replace(index, tuple(trial)):
                        break

    def _replace(self, index: int, group: tuple[str, ...] | None) -> bool:
        """Try the best case with its group ``index`` replaced (None: dropped)."""
        groups = option_groups(self.best.args)
        groups[index:index + 1] = [] if group is None else [group]
        return self.test(self.make(_flatten(groups)))


def _scaled(pixel: tuple[int, int], old: tuple[int, int], new: tuple[int, int]
            ) -> tuple[int, int]:
    if old == new:
        return pixel
    return tuple(min(int(p * n / o), n - 1) for p, o, n in zip(pixel, old, new))


def _number(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _digits(text: str) -> int:
    """Significant digits a number is written with (a simplicity measure)."""
    mantissa = re.split(r"[eE]", text)[0].lstrip("+-").replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if "." in text else len(mantissa)


def simpler_values(text: str) -> list[str]:
    """Simpler spellings to try for a number, simplest first: 0, 1, ±90 (angle-like), the
    nearest integer, one and two significant digits; only those simpler than ``text``."""
    value = _number(text)
    if value is None:
        return []
    candidates = ["0", "1"]
    if 45 <= abs(value) <= 135:
        candidates.append("90" if value > 0 else "-90")
    candidates.append(str(round(value)))
    candidates += [f"{value:.1g}", f"{value:.2g}"]
    out = []
    for c in candidates:
        if c in out or c == text or _number(c) is None or _number(c) == value:
            continue
        if "e" in c and "e" not in text:
            continue
        if c in ("0", "1", "90", "-90") or _digits(c) < _digits(text):
            out.append(c)
    return out


def shrink(case: Case, mode: str, fails_same_way: Callable[[Case, str], bool],
           max_evaluations: int = 120) -> tuple[Case, int]:
    """The smallest case found that still fails the same way (``case`` itself is taken to
    fail), and how many times the predicate was asked."""
    shrinker = _Shrinker(case, mode, fails_same_way, max_evaluations)
    try:
        shrinker.pixels()
        shrinker.ddmin()
        shrinker.detector()
        before = shrinker.best.args
        shrinker.values()
        if shrinker.best.args != before:
            shrinker.drop_single()
    except _Budget:
        pass
    return shrinker.best, shrinker.evaluations


# --------------------------------------------------------------------------- classes

def minimal_signature(case: Case) -> str:
    """The sorted option names of a (minimal) case, without the detector-size options."""
    names = {group[0] for group in option_groups(case.args) if is_option(group[0])}
    return " ".join(sorted(names - DETECTOR_SIZE_OPTIONS))


def finding_class(verdict, minimal_case: Case) -> str:
    """A finding's class: how it fails and what it needs to fail."""
    return f"{verdict.signature} | {minimal_signature(minimal_case)}"


# --------------------------------------------------------------------------- case entries

_INPUT_KINDS = {"-hkl": "hkl", "-mat": "mat", "-matrix": "mat", "-sourcefile": "sources",
                "-mask": "mask", "-img": "img", "-stol": "stol", "-4stol": "stol", "-Q": "stol"}


def _toml_string(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = "".join(c if c >= " " or c == "\t" else f"\\u{ord(c):04x}" for c in escaped)
    return f'"{escaped}"'


def case_entry(case: Case, note: str = "", folder: str | None = None) -> str:
    """A case as a ``[[case]]`` entry of a case file (docs/design/case-files.md), loadable by
    ``cases.load_cases``: the note as comment lines, name, folder (``folder``, else
    ``"default"`` for the default case's inputs, else the case's folder as an absolute path:
    copy its input files beside the case file and name that folder instead), args (quoted so
    ``shlex.split`` gives them back), pixels and the input files it reads."""
    if folder is None:
        where = Path(case.folder).resolve() if case.folder is not None else None
        default = (resources.traces_dir() / "default").resolve()
        folder = "default" if where in (None, default) else str(where)
    args = [str(a) for a in case.args]
    inputs = [f"{_INPUT_KINDS[t]}:{v}" for t, v in zip(args, args[1:]) if t in _INPUT_KINDS]
    comment = "".join(f"# {line}\n" for line in str(note).splitlines() if line.strip())
    pixels = ", ".join(f"[{s}, {f}]" for s, f in case.pixels)
    lines = [f"{comment}[[case]]", f"name = {_toml_string(case.name)}",
             f"folder = {_toml_string(folder)}", f"args = {_toml_string(shlex.join(args))}",
             f"pixels = [{pixels}]"]
    if inputs:
        lines.append(f"inputs = [{', '.join(_toml_string(i) for i in inputs)}]")
    if case.tolerance:
        lines.append("[case.tolerance]")
        lines += [f"{k} = [{r!r}, {a!r}]" for k, (r, a) in sorted(case.tolerance.items())]
    return "\n".join(lines) + "\n"

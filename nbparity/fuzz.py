"""Differential fuzzing: random valid nanoBragg configurations through both engines.

``fuzz(n, seed)`` runs configurations ``0 .. n-1`` of ``nbparity.generate`` (a pure function of
(seed, index), every option both engines accept, input files written per seed) through the
gate, each in the carry-over pairing drawn with it, and returns the ones that diverged, each
ready to paste into a case file (``FuzzFinding.toml``, ``case_toml`` = ``shrink.case_entry``).
``nbparity.campaign`` runs the same configurations at scale and shrinks every finding.

``draw_case(rng, index)`` is the earlier generator (options drawn from one ``random.Random``
stream, the default case's input files), kept for callers of this module's older interface.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nbparity import resources
from nbparity.cases import Case, detector_shape, file_tolerance
from nbparity.runner import GateResult, gate_cases
from nbparity.tolerance import Tolerance

INPUTS = resources.traces_dir() / "default"  # the default case's inputs (clone or wheel)
CONVENTIONS = ("", "-mosflm", "-denzo", "-adxv", "-xds", "-dials", "custom")


def _f(value: float, digits: int = 4) -> str:
    return f"{value:.{digits}g}"


def _unit(rng: random.Random, near: tuple[float, float, float], wobble: float) -> list[str]:
    return [_f(c + rng.uniform(-wobble, wobble), 6) for c in near]


def _crystal(rng: random.Random) -> list[str]:
    args: list[str] = []
    if rng.random() < 0.12:
        args += ["-mat", "A.mat"]
    else:
        lengths = [rng.uniform(20, 80) for _ in range(3)]
        angles = [90.0] * 3 if rng.random() < 0.5 else [rng.uniform(80, 100) for _ in range(3)]
        args += ["-cell", *(_f(v) for v in lengths + angles)]
        if rng.random() < 0.15:
            args += ["-misset", "random", "-misset_seed", str(rng.randint(1, 10**6))]
        else:
            args += ["-misset", *(_f(rng.uniform(-180, 180)) for _ in range(3))]
    if rng.random() < 0.6:
        args += ["-hkl", "P1.hkl", "-default_F", _f(rng.uniform(0, 5))]
    else:
        args += ["-default_F", _f(rng.uniform(1, 200))]
    if rng.random() < 0.3:
        args += ["-Na", str(rng.randint(1, 8)), "-Nb", str(rng.randint(1, 8)),
                 "-Nc", str(rng.randint(1, 8))]
    else:
        args += ["-N", str(rng.randint(1, 8))]
    shape = rng.choice(["", "", "-round_xtal", "-gauss_xtal", "-tophat_spots"])
    if shape:
        args += [shape, "-fudge", _f(rng.uniform(0.5, 2))]
    interp = rng.random()
    if interp < 0.1:
        args += ["-interpolate"]
    elif interp < 0.2:
        args += ["-nointerpolate"]
    return args


def _detector(rng: random.Random, convention: str, shape: tuple[int, int],
              pixel_mm: float) -> list[str]:
    args = ["-detpixels_s", str(shape[0]), "-detpixels_f", str(shape[1]), "-pixel", _f(pixel_mm)]
    size_s, size_f = shape[0] * pixel_mm, shape[1] * pixel_mm
    if convention == "custom":
        args += ["-fdet_vector", *_unit(rng, (0, 0, 1), 0.05),
                 "-sdet_vector", *_unit(rng, (0, -1, 0), 0.05),
                 "-odet_vector", *_unit(rng, (1, 0, 0), 0.05),
                 "-beam_vector", *_unit(rng, (1, 0, 0), 0.02)]
        if rng.random() < 0.5:
            args += ["-pivot", rng.choice(["beam", "sample"])]
    elif convention:
        args += [convention]
    if convention in ("-xds", "-dials"):
        args += ["-ORGX", _f(rng.uniform(0.2, 0.8) * shape[1]),
                 "-ORGY", _f(rng.uniform(0.2, 0.8) * shape[0])]
    elif rng.random() < 0.7:
        args += ["-Xbeam", _f(rng.uniform(0.2, 0.8) * size_s),
                 "-Ybeam", _f(rng.uniform(0.2, 0.8) * size_f)]
    if rng.random() < 0.3:
        args += ["-detector_rotx", _f(rng.uniform(-5, 5)), "-detector_roty",
                 _f(rng.uniform(-5, 5)), "-detector_rotz", _f(rng.uniform(-5, 5))]
    if rng.random() < 0.2:
        args += ["-twotheta", _f(rng.uniform(0, 20))]
    if rng.random() < 0.2:
        thick = rng.uniform(50, 300)
        args += ["-detector_thick", _f(thick), "-detector_thicksteps", str(rng.randint(1, 3))]
        if rng.random() < 0.5:
            args += ["-detector_abs", _f(rng.uniform(50, 500))]
    if rng.random() < 0.1:
        args += ["-curved_det"]
    if rng.random() < 0.1:
        args += ["-point_pixel"]
    if rng.random() < 0.2:
        f0 = rng.randrange(shape[1] // 2)
        s0 = rng.randrange(shape[0] // 2)
        args += ["-roi", str(f0), str(rng.randrange(f0, shape[1])), str(s0),
                 str(rng.randrange(s0, shape[0]))]
    return args


def _beam_and_sampling(rng: random.Random) -> list[str]:
    args: list[str] = []
    if rng.random() < 0.2:
        args += ["-energy", _f(rng.uniform(8000, 15000))]
    else:
        args += ["-lambda", _f(rng.uniform(0.8, 1.5))]
    if rng.random() < 0.2:
        args += ["-hdivrange", _f(rng.uniform(0.05, 0.5)), "-vdivrange",
                 _f(rng.uniform(0.05, 0.5)), "-divsteps", str(rng.randint(2, 3))]
        if rng.random() < 0.5:
            args += ["-square_div"]
    if rng.random() < 0.2:
        args += ["-dispersion", _f(rng.uniform(0.5, 3)), "-dispsteps", str(rng.randint(2, 3))]
    if rng.random() < 0.1:
        args += ["-sourcefile", "sources.txt"]
    if rng.random() < 0.3:
        args += ["-polar", _f(rng.uniform(0, 1))]
    elif rng.random() < 0.1:
        args += ["-nopolar"]
    phi = rng.random()
    if phi < 0.35:
        args += ["-phi", "0", "-osc", _f(rng.uniform(0.1, 2)), "-phisteps", str(rng.randint(2, 4))]
    elif phi < 0.6:
        args += ["-phi", _f(rng.uniform(-30, 30)), "-osc", _f(rng.uniform(0.1, 2)),
                 "-phisteps", str(rng.randint(1, 4))]
    if rng.random() < 0.3:
        args += ["-mosaic", _f(rng.uniform(0.05, 1)), "-mosaic_domains", str(rng.randint(2, 5)),
                 "-mosaic_seed", str(rng.randint(1, 10**6))]
    args += ["-oversample", str(rng.randint(1, 3))]
    for flag in ("-oversample_omega", "-oversample_polar", "-oversample_thick"):
        if rng.random() < 0.12:
            args += [flag]
    if rng.random() < 0.1:
        args += ["-water", _f(rng.uniform(10, 200))]
    if rng.random() < 0.1:
        args += ["-dmin", _f(rng.uniform(1.5, 4))]
    return args


def draw_case(rng: random.Random, index: int) -> Case:
    """One random, valid configuration with 2 or 3 pixels to trace."""
    convention = rng.choice(CONVENTIONS)
    shape = (rng.randint(8, 48), rng.randint(8, 48))
    pixel_mm = rng.uniform(0.1, 0.5)
    args = _crystal(rng) + _beam_and_sampling(rng)
    distance = ["-distance", _f(rng.uniform(50, 200))]
    if convention == "custom" and rng.random() < 0.3:
        distance = ["-close_distance", _f(rng.uniform(50, 200))]
    args += distance + _detector(rng, convention, shape, pixel_mm)
    pixels = {(rng.randrange(shape[0]), rng.randrange(shape[1])) for _ in range(3)}
    pixels.add((shape[0] // 2, shape[1] // 2))
    assert detector_shape(args) == shape
    return Case(f"fuzz_{index:05d}", INPUTS, tuple(args), tuple(sorted(pixels))[:3], shape)


@dataclass
class FuzzFinding:
    case: Case
    result: GateResult

    def toml(self) -> str:
        return case_toml(self.case, note=self.result.message or _first_words(self.result))


def _first_words(result: GateResult) -> str:
    if result.divergences:
        return f"{result.mode}: first divergence {result.divergences[0].where()}"
    return f"{result.mode}: exit {result.exit_code}"


def case_toml(case: Case, note: str = "") -> str:
    """A case as a ready-to-add case-file entry (``shrink.case_entry``: folder "default" for
    the default case's inputs, else the case's own folder)."""
    from nbparity.shrink import case_entry

    return case_entry(case, note)


def fuzz(n: int, seed: int, c_bin: str | None = None,
         progress: Callable[[str, int], None] | None = None, reference=None, candidate=None,
         inputs: Path | None = None) -> tuple[int, list[FuzzFinding]]:
    """Run configurations 0 .. n-1 of ``generate.draw_case(seed, index, inputs)``, each in its
    drawn carry-over pairing; return (runs, findings)."""
    from nbparity.generate import draw_case as generated_case

    # The named cases' file-wide tolerances (each with its documented reason) apply here too.
    tolerance = Tolerance(per_key=file_tolerance(resources.cases_file()))
    findings = []
    for index in range(n):
        case, mode = generated_case(seed, index, inputs)
        if progress:
            progress(case.name, index)
        (result, *_) = gate_cases([case], (mode,), tolerance, c_bin=c_bin,
                                  check_determinism=False, reference=reference,
                                  candidate=candidate)
        if result.exit_code != 0:
            findings.append(FuzzFinding(case, result))
    return n, findings

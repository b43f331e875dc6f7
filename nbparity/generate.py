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

import math
import os
import random
import tempfile
from dataclasses import dataclass
from pathlib import Path

from nbparity.cases import Case, detector_shape

MODES = ("c-parity", "spec")
#: the share of draws whose candidate computes in float32 (``draw(...).dtype``)
FLOAT32_SHARE = 0.1
#: the largest detector side drawn (pixels)
MAX_SIDE = 48

SIZE_OPTIONS = {  # crystal size (mm) -> the axes it sets (both engines' spellings)
    "-samplesize": "xyz", "-sample_size": "xyz", "-xtalsize": "xyz", "-xtal_size": "xyz",
    "-sample_thick": "x", "-sample_x": "x", "-xtal_thick": "x", "-xtal_x": "x",
    "-sample_width": "y", "-sample_y": "y", "-width": "y", "-xtal_width": "y", "-xtal_y": "y",
    "-sample_heigh": "z", "-sample_height": "z", "-sample_z": "z", "-heigh": "z",
    "-height": "z", "-xtal_heigh": "z", "-xtal_height": "z", "-xtal_z": "z",
}
#: options both engines accept with one value and ignore (-coherent, with none, too)
IGNORED_OPTIONS = ("-density", "-sample_den", "-sample_density", "-MW", "-molec", "-stolout")

#: option family -> the options that realise it (the generator draws every one of them)
COVERAGE: dict[str, tuple[str, ...]] = {
    "cell": ("-cell",),
    "matrix": ("-mat", "-matrix"),
    "misset": ("-misset",),
    "misset random": ("-misset_seed",),
    "structure factors": ("-hkl", "-default_F"),
    "stol table": ("-stol", "-4stol", "-Q"),
    "dump": ("-dump",),
    "interpolation": ("-interpolate", "-nointerpolate"),
    "dmin": ("-dmin",),
    "cells per crystal": ("-N", "-Na", "-Nb", "-Nc"),
    "crystal size": tuple(SIZE_OPTIONS),
    "crystal shape": ("-square_xtal", "-round_xtal", "-gauss_xtal", "-tophat_spots",
                      "-binary_spots", "-fudge"),
    "mosaic": ("-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_domains", "-mosaic_dom",
               "-mosaic_seed"),
    "phi": ("-phi", "-osc", "-phistep", "-phisteps", "-spindle_axis"),
    "wavelength": ("-lambda", "-wave", "-wavelength", "-energy"),
    "dispersion": ("-dispersion", "-dispsteps"),
    "divergence": ("-divergence", "-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep",
                   "-hdivsteps", "-vdivsteps", "-divsteps", "-round_div", "-square_div"),
    "sourcefile": ("-sourcefile",),
    "polarization": ("-polar", "-nopolar", "-polar_vector"),
    "fluence": ("-fluence", "-flux", "-exposure", "-beamsize"),
    "water": ("-water",),
    "detector size": ("-detpixels", "-detpixels_f", "-detpixels_x", "-detpixels_s",
                      "-detpixels_y", "-detsize", "-detsize_f", "-detsize_s", "-pixel"),
    "distance": ("-distance", "-close_distance"),
    "beam centre": ("-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX", "-ORGY", "-pivot"),
    "conventions": ("-mosflm", "-denzo", "-adxv", "-xds", "-dials"),
    "custom vectors": ("-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector",
                       "-pix0_vector"),
    "twotheta": ("-twotheta", "-twotheta_axis"),
    "detector rotations": ("-detector_rotx", "-detector_roty", "-detector_rotz"),
    "thickness": ("-detector_thick", "-detector_abs", "-detector_absorb",
                  "-detector_thicksteps", "-thicksteps"),
    "pixel shape": ("-curved_det", "-point_pixel"),
    "roi": ("-roi",),
    "mask and image": ("-mask", "-img"),
    "oversampling": ("-oversample", "-oversample_thick", "-oversample_polar",
                     "-oversample_omega"),
    "outputs": ("-floatfile", "-floatimage", "-intfile", "-intimage", "-noisefile",
                "-noiseimage", "-pgmfile", "-pgmimage", "-scale", "-pgmscale", "-adc",
                "-nonoise", "-nopgm"),
    "seeds": ("-seed",),
    "console": ("-printout", "-progress", "-noprogress"),
    "ignored": (*IGNORED_OPTIONS, "-coherent"),
}

#: options of either engine never drawn, and why (the module docstring says the same)
LEFT_OUT: dict[str, str] = {
    **{o: "set by the harness per engine; refused in a case's arguments"
       for o in ("-trace_pixel", "-printout_pixel", "-phi_carryover_mode", "-omp_threads",
                 "-device", "-dtype")},
    **{o: "the simulator's own; the C reference does not know it"
       for o in ("-memory_budget_gb", "-geometry_dtype", "-trace_only")},
    **{o: "a spelling only the simulator knows"
       for o in ("-detector_absorption", "-molecular_weight", "-curved_detector")},
    **{o: "a spelling only the C reference knows" for o in ("-molecules", "-mosaic_spr",
                                                            "-mosaici")},
}


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


# --------------------------------------------------------------------------- numbers

def _f(value: float, digits: int = 4) -> str:
    text = f"{value:.{digits}g}"
    return "0" if text == "-0" else text


def _unit_near(rng: random.Random, near: tuple[float, float, float], wobble: float
               ) -> tuple[float, float, float]:
    v = [c + rng.uniform(-wobble, wobble) for c in near]
    n = math.sqrt(sum(c * c for c in v))
    return tuple(c / n for c in v)


def _vec(v) -> list[str]:
    return [_f(c, 6) for c in v]


def _rotation(rng: random.Random) -> list[list[float]]:
    """A uniformly random rotation (a unit quaternion)."""
    q = [rng.gauss(0, 1) for _ in range(4)]
    n = math.sqrt(sum(c * c for c in q))
    w, x, y, z = (c / n for c in q)
    return [[1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]]


def _reciprocal(cell: tuple[float, ...]) -> list[list[float]]:
    """The reciprocal vectors (rows a*, b*, c*, 1/Angstrom) of a cell in a standard frame."""
    a, b, c = cell[:3]
    al, be, ga = (math.radians(x) for x in cell[3:])
    va = [a, 0.0, 0.0]
    vb = [b * math.cos(ga), b * math.sin(ga), 0.0]
    cx = c * math.cos(be)
    cy = c * (math.cos(al) - math.cos(be) * math.cos(ga)) / math.sin(ga)
    vc = [cx, cy, math.sqrt(max(c * c - cx * cx - cy * cy, 1e-12))]

    def cross(u, v):
        return [u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2], u[0] * v[1] - u[1] * v[0]]

    volume = sum(x * y for x, y in zip(va, cross(vb, vc)))
    return [[x / volume for x in cross(vb, vc)], [x / volume for x in cross(vc, va)],
            [x / volume for x in cross(va, vb)]]


# --------------------------------------------------------------------------- the builder

class _Builder:
    """Draws option groups (an option and its values) and the input files they name."""

    def __init__(self, rng: random.Random, stem: str):
        self.rng = rng
        self.stem = stem
        self.groups: list[list[str]] = []
        self.files: dict[str, bytes] = {}
        self.cell: tuple[float, ...] = (50.0,) * 3 + (90.0,) * 3
        self.lambda_a = 1.0
        self.beam = (1.0, 0.0, 0.0)  # the nominal beam direction (for source positions)
        self.full_image = False  # an output or -printout: the whole image is computed
        self.thick = False  # a sensor thickness was drawn

    # ---- helpers

    def opt(self, name: str, *values) -> None:
        self.groups.append([name, *(v if isinstance(v, str) else _f(v) for v in values)])

    def chance(self, p: float) -> bool:
        return self.rng.random() < p

    def pick(self, *options: str) -> str:
        return self.rng.choice(options)

    def file(self, suffix: str, content: str | bytes) -> str:
        name = f"{self.stem}{suffix}"
        self.files[name] = content.encode() if isinstance(content, str) else content
        return name

    # ---- the whole draw

    def build(self) -> tuple[list[str], tuple[int, int], tuple[tuple[int, int], ...], str]:
        rng = self.rng
        mode = rng.choice(MODES)
        convention = rng.choice(("", "-mosflm", "-denzo", "-adxv", "-xds", "-dials", "custom"))
        image_files = rng.random() < 0.14  # -mask and/or -img: explicit pixel counts needed
        self.outputs_and_console()  # first: a whole-image run samples less
        shape, pixel_mm = self.detector_size(image_files)
        self.crystal()
        self.structure_factors()
        distance = self.beam_and_sampling(convention)
        distance = self.detector(convention, shape, pixel_mm, distance)
        roi = self.roi(shape)
        mask = self.mask_and_image(shape, pixel_mm) if image_files else None
        self.oversampling(pixel_mm, distance)
        if rng.random() < 0.25:
            rng.shuffle(self.groups)
        args = [token for group in self.groups for token in group]
        shape = detector_shape(args)
        assert max(shape) <= MAX_SIDE, (shape, args)
        return args, shape, self.pixels(shape, roi, mask), mode

    # ---- crystal

    def crystal(self) -> None:
        rng = self.rng
        if self.chance(0.12):
            lengths = [rng.uniform(20, 80) for _ in range(3)]
            angles = [90.0] * 3 if self.chance(0.6) else [rng.uniform(80, 100) for _ in range(3)]
            self.cell = (*lengths, *angles)
            self.opt(self.pick("-mat", "-matrix"), self.file(".mat", self.matrix_text()))
            if self.chance(0.3):
                self.opt("-misset", *(rng.uniform(-180, 180) for _ in range(3)))
        else:
            lengths = [rng.uniform(20, 80) for _ in range(3)]
            angles = [90.0] * 3 if self.chance(0.5) else [rng.uniform(80, 100) for _ in range(3)]
            form = rng.random()
            if form < 0.8:
                values = lengths + angles
            elif form < 0.93:
                values, angles = lengths, [90.0] * 3  # a b c: right angles
            else:
                values, lengths, angles = lengths[:1], lengths[:1] * 3, [90.0] * 3  # cubic
            values = [float(_f(v)) for v in values]
            self.cell = (*lengths, *angles)
            self.opt("-cell", *values)
            if self.chance(0.15):
                self.opt("-misset", "random")
                self.opt("-misset_seed", str(rng.randint(1, 10**6)))
            elif self.chance(0.85):
                self.opt("-misset", *(rng.uniform(-180, 180) for _ in range(3)))
        # cells per crystal: -N, -Na/-Nb/-Nc, or a crystal size in mm (then N = ceil(size/a))
        self.N = [1, 1, 1]
        form = rng.random()
        if form < 0.55:
            n = rng.randint(1, 8)
            self.N = [n] * 3
            self.opt("-N", str(n))
        elif form < 0.75:
            for i, name in enumerate(("-Na", "-Nb", "-Nc")):
                if self.chance(0.85):
                    self.N[i] = rng.randint(1, 8)
                    self.opt(name, str(self.N[i]))
        elif form < 0.97:
            if self.chance(0.5):
                n = rng.randint(1, 8)
                self.N = [n] * 3
                self.opt("-N", str(n))
            for name in rng.sample(sorted(SIZE_OPTIONS), rng.randint(1, 3)):
                axes = SIZE_OPTIONS[name]
                longest = max(self.cell["xyz".index(a)] for a in axes)
                size_a = (rng.randint(1, 5) - 0.5) * longest  # never a whole number of cells
                for a in axes:
                    i = "xyz".index(a)
                    self.N[i] = math.ceil(size_a / self.cell[i])
                self.opt(name, _f(size_a * 1e-7, 5))  # Angstrom -> mm
        shape = rng.random()
        if shape < 0.45:
            pass
        else:
            self.opt(self.pick("-square_xtal", "-round_xtal", "-gauss_xtal", "-tophat_spots",
                               "-binary_spots"))
        if self.chance(0.3):
            self.opt("-fudge", rng.uniform(0.5, 2))

    def matrix_text(self) -> str:
        """A MOSFLM matrix: a*, b*, c* (as columns) times the wavelength, then U, the cell."""
        rng = self.rng
        u = _rotation(rng)
        recip = _reciprocal(self.cell)  # rows a*, b*, c*
        lam = rng.uniform(0.8, 1.5)
        cols = [[sum(u[i][k] * recip[j][k] for k in range(3)) * lam for j in range(3)]
                for i in range(3)]
        lines = [" ".join(f"{v:12.8f}" for v in row) for row in cols]
        lines.append("       0.000       0.000       0.000")
        lines += [" ".join(f"{v:11.7f}" for v in row) for row in u]
        lines.append(" ".join(f"{v:11.4f}" for v in self.cell))
        lines.append("       0.000       0.000       0.000")
        return "\n".join(lines) + "\n"

    def structure_factors(self) -> None:
        rng = self.rng
        if self.chance(0.55):
            self.opt("-hkl", self.file(".hkl", self.hkl_text()))
            if self.chance(0.5):
                self.opt("-default_F", rng.uniform(0, 5))
            if self.chance(0.1):
                self.opt("-dump", f"{self.stem}.Fdump.bin")
        else:
            self.opt("-default_F", rng.uniform(1, 200))
        if self.chance(0.1):
            rows = "".join(f"{0.05 * i:g} {rng.uniform(0, 50):.3f}\n" for i in range(1, 8))
            self.opt(self.pick("-stol", "-4stol", "-Q"), self.file(".stol", rows))
        interp = rng.random()
        if interp < 0.12:
            self.opt("-interpolate")
        elif interp < 0.24:
            self.opt("-nointerpolate")
        if self.chance(0.08):
            self.opt("-dmin", rng.uniform(1.5, 4))

    def hkl_text(self) -> str:
        """A small HKL table: an index box (not always centred), some reflections missing."""
        rng = self.rng
        lo = [-rng.randint(0, 8) for _ in range(3)]
        hi = [rng.randint(1, 8) for _ in range(3)]
        missing = rng.choice((0.0, 0.0, 0.1, 0.4))
        lines = []
        for h in range(lo[0], hi[0] + 1):
            for k in range(lo[1], hi[1] + 1):
                for l in range(lo[2], hi[2] + 1):  # noqa: E741
                    if missing and rng.random() < missing:
                        continue
                    s2 = (h / self.cell[0]) ** 2 + (k / self.cell[1]) ** 2 + \
                        (l / self.cell[2]) ** 2
                    amplitude = 300.0 * math.exp(-4.0 * s2) * rng.random() + 1.0
                    lines.append(f"{h} {k} {l} {amplitude:.3f}\n")
        if not lines:
            lines.append("0 0 0 10\n")
        return "".join(lines)

    # ---- beam and sampling

    def beam_and_sampling(self, convention: str) -> float:
        rng = self.rng
        wave = rng.random()
        if wave < 0.2:
            energy = rng.uniform(8000, 15000)
            self.lambda_a = 12398.42 / float(_f(energy))
            self.opt("-energy", energy)
        elif wave < 0.9:
            self.lambda_a = float(_f(rng.uniform(0.8, 1.5)))
            self.opt(self.pick("-lambda", "-lambda", "-wave", "-wavelength"), self.lambda_a)
        self.beam = {"-xds": (0, 0, 1), "-dials": (0, 0, 1), "-adxv": (0, 0, 1)}.get(
            convention, (1, 0, 0))
        sources = rng.random()
        if sources < 0.1:
            self.opt("-sourcefile", self.file(".sources", self.sources_text()))
        elif sources < 0.4:
            self.divergence_and_dispersion()
        polar = rng.random()
        if polar < 0.3:
            self.opt("-polar", rng.uniform(0, 1))
        elif polar < 0.38:
            self.opt("-nopolar")
        fluence = rng.random()
        if fluence < 0.08:
            self.opt("-fluence", _f(10 ** rng.uniform(20, 26)))
        elif fluence < 0.16:
            self.opt("-flux", _f(10 ** rng.uniform(10, 14)))
            if self.chance(0.7):
                self.opt("-exposure", rng.uniform(0.1, 5))
            if self.chance(0.8):
                self.opt("-beamsize", rng.uniform(0.01, 0.2))
        elif fluence < 0.2:
            self.opt("-beamsize", rng.uniform(0.001, 0.2))
        self.phi()
        self.mosaic()
        if self.chance(0.08):
            self.opt("-water", rng.uniform(10, 200))
        return rng.uniform(50, 200)

    def sources_text(self) -> str:
        rng = self.rng
        lines = []
        for _ in range(rng.randint(1, 4)):
            pos = [-10 * b + rng.uniform(-0.003, 0.003) for b in self.beam]
            row = [*pos, rng.uniform(0.3, 1.0), self.lambda_a * 1e-10 * rng.uniform(0.98, 1.02)]
            columns = rng.choice((3, 4, 5, 5, 5))
            lines.append(" ".join(f"{v:.6g}" for v in row[:columns]) + "\n")
        return "".join(lines)

    def divergence_and_dispersion(self) -> None:
        """Divergence, dispersion or both (then at most 2 steps each: about a dozen
        sources at most)."""
        rng = self.rng
        which = rng.choice(("divergence", "dispersion", "both"))
        limit = 2 if which == "both" else 3
        if which != "dispersion":
            form = rng.random()
            if form < 0.3:
                self.opt("-divergence", rng.uniform(0.05, 0.5))
                if self.chance(0.8):
                    self.opt("-divsteps", str(rng.randint(1, limit)))
            elif form < 0.7:
                self.opt("-hdivrange", rng.uniform(0.05, 0.5))
                self.opt("-vdivrange", rng.uniform(0.05, 0.5))
                if self.chance(0.5):
                    self.opt("-divsteps", str(rng.randint(1, limit)))
                else:
                    self.opt("-hdivsteps", str(rng.randint(1, limit)))
                    self.opt("-vdivsteps", str(rng.randint(1, limit)))
            else:  # a step instead of a count: ceil(range / step) steps
                for axis in ("h", "v"):
                    if axis == "v" and self.chance(0.3):
                        continue
                    span = rng.uniform(0.05, 0.5)
                    self.opt(f"-{axis}divrange", span)
                    self.opt(f"-{axis}divstep", span / (rng.randint(2, limit) - 0.5))
            if self.chance(0.5):
                self.opt(self.pick("-round_div", "-square_div"))
        if which != "divergence":
            self.opt("-dispersion", rng.uniform(0.1, 3))
            if self.chance(0.8):
                self.opt("-dispsteps", str(rng.randint(1, limit)))

    def phi(self) -> None:
        rng = self.rng
        start = 0.0 if self.chance(0.5) else rng.uniform(-30, 30)
        osc = rng.uniform(0.05, 2)
        form = rng.random()
        if form < 0.3:
            self.opt("-phi", start)
            self.opt("-osc", osc)
            self.opt("-phisteps", str(rng.randint(1, 4)))
        elif form < 0.4:
            self.opt("-phi", start)
            self.opt("-osc", osc)
            self.opt("-phistep", osc / (rng.randint(1, 4) - 0.5))
        elif form < 0.47:
            self.opt("-osc", osc)
        elif form < 0.52:
            self.opt("-phistep", osc)
        elif form < 0.57:
            self.opt("-phisteps", str(rng.randint(1, 4)))
        elif form < 0.65:
            self.opt("-phi", start)
        if self.chance(0.08):
            self.opt("-spindle_axis", *_vec(_unit_near(rng, (0, 0, 1), 1.0)))

    def mosaic(self) -> None:
        rng = self.rng
        form = rng.random()
        spread = self.pick("-mosaic", "-mosaic", "-mosaicity", "-mosaic_spread")
        domains = self.pick("-mosaic_domains", "-mosaic_domains", "-mosaic_dom")
        if form < 0.22:
            self.opt(spread, rng.uniform(0.05, 1))
            self.opt(domains, str(rng.randint(2, 4)))
            self.opt("-mosaic_seed", str(rng.randint(1, 10**6)))
        elif form < 0.27:
            self.opt(spread, rng.uniform(0.05, 1))  # one domain: upped to 10
        elif form < 0.3:
            self.opt(domains, str(rng.randint(2, 4)))  # no spread: one domain

    # ---- detector

    def detector_size(self, explicit: bool) -> tuple[tuple[int, int], float]:
        """The detector's size options; ``explicit``: pixel counts (an -img / -mask header
        would otherwise set them, and case files read the size from the arguments)."""
        rng = self.rng
        pixel = float(_f(rng.uniform(0.05, 0.5)))
        slow, fast = rng.randint(4, MAX_SIDE), rng.randint(4, MAX_SIDE)
        form = rng.random() if not explicit else rng.random() * 0.55
        give_pixel = True
        if form < 0.35:
            self.opt(self.pick("-detpixels_s", "-detpixels_y"), str(slow))
            self.opt(self.pick("-detpixels_f", "-detpixels_x"), str(fast))
            give_pixel = self.chance(0.85)
        elif form < 0.55:
            slow = fast
            self.opt("-detpixels", str(slow))
            give_pixel = self.chance(0.85)
        elif form < 0.7:
            slow = fast
            self.opt("-detsize", _f((slow + rng.uniform(-0.3, 0.3)) * pixel))
        elif form < 0.85:
            self.opt("-detsize_s", _f((slow + rng.uniform(-0.3, 0.3)) * pixel))
            self.opt("-detsize_f", _f((fast + rng.uniform(-0.3, 0.3)) * pixel))
        else:
            self.opt(self.pick("-detpixels_s", "-detpixels_y"), str(slow))
            self.opt("-detsize_f", _f((fast + rng.uniform(-0.3, 0.3)) * pixel))
        if give_pixel:
            self.opt("-pixel", pixel)
        else:
            pixel = 0.1
        return (slow, fast), pixel

    def detector(self, convention: str, shape: tuple[int, int], pixel: float,
                 distance: float) -> float:
        rng = self.rng
        slow_mm, fast_mm = shape[0] * pixel, shape[1] * pixel
        form = rng.random()
        if form < 0.75:
            self.opt("-distance", distance)
        elif form < 0.87:
            self.opt("-close_distance", distance)
        else:
            distance = 100.0
        if convention == "custom":
            fdet = _unit_near(rng, (0, 0, 1), 0.05)
            sdet = _unit_near(rng, (0, -1, 0), 0.05)
            odet = (1, 0, 0) if self.chance(0.7) else _unit_near(rng, (1, 0, 0), 0.05)
            self.beam = _unit_near(rng, (1, 0, 0), 0.02)
            vectors = {"-fdet_vector": fdet, "-sdet_vector": sdet, "-odet_vector": odet,
                       "-beam_vector": self.beam}
            for name, vector in vectors.items():
                if name == "-fdet_vector" or self.chance(0.85):
                    self.opt(name, *_vec(vector))
            if self.chance(0.12):  # the corner of pixel (0, 0), metres
                f0, s0 = rng.uniform(0.2, 0.8) * fast_mm, rng.uniform(0.2, 0.8) * slow_mm
                pix0 = [(distance * o - f0 * f - s0 * s) / 1000.0
                        for o, f, s in zip(odet, fdet, sdet)]
                self.opt("-pix0_vector", *_vec(pix0))
        elif convention:
            self.opt(convention)
        self.beam_centre(convention, shape, pixel)
        if self.chance(0.15):
            self.opt("-twotheta", rng.uniform(-30, 30))
            if self.chance(0.3):
                self.opt("-twotheta_axis", *_vec(_unit_near(rng, (0, 0, -1), 1.0)))
        for axis in ("x", "y", "z"):
            if self.chance(0.12):
                self.opt(f"-detector_rot{axis}", rng.uniform(-10, 10))
        self.thick = self.chance(0.15)
        if self.thick:
            self.opt("-detector_thick", rng.uniform(20, 500))
            if self.chance(0.7):
                self.opt(self.pick("-detector_thicksteps", "-thicksteps"),
                         str(rng.randint(1, 2 if self.full_image else 3)))
            if self.chance(0.6):
                absorption = rng.random()
                value = "inf" if absorption < 0.1 else "0" if absorption < 0.15 else \
                    _f(rng.uniform(20, 1000))
                self.opt(self.pick("-detector_abs", "-detector_absorb"), value)
        if self.chance(0.1):
            self.opt("-curved_det")
        if self.chance(0.08):
            self.opt("-point_pixel")
        if self.chance(0.06):
            self.opt("-polar_vector", *_vec(_unit_near(rng, (0, 0, 1), 0.3)))
        return distance

    def beam_centre(self, convention: str, shape: tuple[int, int], pixel: float) -> None:
        """A beam centre on the detector, or (a third of the draws) off it: a small detector
        then sees higher-resolution reflections than the few around the direct beam."""
        rng = self.rng
        slow_mm, fast_mm = shape[0] * pixel, shape[1] * pixel
        off = self.chance(0.3)

        def where() -> float:
            return rng.uniform(-1.0, 2.0) if off else rng.uniform(0.2, 0.8)

        form = rng.random()
        if convention in ("-xds", "-dials") and form < 0.5 or form < 0.12:
            self.opt("-ORGX", where() * shape[1])
            self.opt("-ORGY", where() * shape[0])
        elif form < 0.65:
            self.opt("-Xbeam", where() * slow_mm)
            self.opt("-Ybeam", where() * fast_mm)
        elif form < 0.78:
            self.opt("-Xclose", where() * fast_mm)
            self.opt("-Yclose", where() * slow_mm)
        if self.chance(0.12):
            self.opt("-pivot", self.pick("beam", "sample"))

    def roi(self, shape: tuple[int, int]) -> tuple[int, int, int, int] | None:
        if not self.chance(0.15):
            return None
        rng = self.rng
        f0 = rng.randrange(shape[1] // 2 + 1)
        s0 = rng.randrange(shape[0] // 2 + 1)
        roi = (f0, rng.randrange(f0, shape[1]), s0, rng.randrange(s0, shape[0]))
        self.opt("-roi", *(str(v) for v in roi))
        return roi

    def mask_and_image(self, shape: tuple[int, int], pixel: float):
        """An SMV -mask (the detector's size; zero = skip) and/or -img (header only is used),
        their headers carrying some of the keys the engines read."""
        rng = self.rng
        mask = None
        which = rng.choice(("mask", "img", "both"))
        if which in ("mask", "both"):
            mask = [[1] * shape[1] for _ in range(shape[0])]
            s0, f0 = rng.randrange(shape[0]), rng.randrange(shape[1])
            for s in range(s0, min(shape[0], s0 + rng.randint(1, 8))):
                for f in range(f0, min(shape[1], f0 + rng.randint(1, 8))):
                    mask[s][f] = 0
            if self.chance(0.5):
                column = rng.randrange(shape[1])
                for s in range(shape[0]):
                    mask[s][column] = 0
            self.opt("-mask", self.file(".mask.img", self.smv(shape, mask, pixel)))
        if which in ("img", "both"):
            size = shape if self.chance(0.7) else (rng.randint(4, MAX_SIDE),
                                                   rng.randint(4, MAX_SIDE))
            data = [[rng.randrange(0, 1000) for _ in range(size[1])] for _ in range(size[0])]
            self.opt("-img", self.file(".img", self.smv(size, data, pixel)))
        return mask

    def smv(self, shape: tuple[int, int], data: list[list[int]], pixel: float) -> bytes:
        rng = self.rng
        keys = [f"SIZE1={shape[1]};", f"SIZE2={shape[0]};"]
        extra = {
            "PIXEL_SIZE": _f(pixel), "DISTANCE": _f(rng.uniform(50, 200)),
            "CLOSE_DISTANCE": _f(rng.uniform(50, 200)),
            "WAVELENGTH": _f(rng.uniform(0.8, 1.5)),
            "BEAM_CENTER_X": _f(rng.uniform(0.3, 0.7) * shape[0] * pixel),
            "BEAM_CENTER_Y": _f(rng.uniform(0.3, 0.7) * shape[1] * pixel),
            "ORGX": _f(rng.uniform(0.3, 0.7) * shape[1]),
            "ORGY": _f(rng.uniform(0.3, 0.7) * shape[0]),
            "PHI": _f(rng.uniform(-10, 10)), "OSC_RANGE": _f(rng.uniform(0.1, 1)),
            "TWOTHETA": _f(rng.uniform(0, 10)),
        }
        for key in rng.sample(sorted(extra), rng.randint(0, 5)):
            keys.append(f"{key}={extra[key]};")
        header = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\n"
                  "TYPE=unsigned_short;\n" + "\n".join(keys) + "\n}\n")
        body = b"".join(int(v).to_bytes(2, "little") for row in data for v in row)
        return header.encode().ljust(512, b" ") + body

    # ---- sampling, outputs

    def oversampling(self, pixel: float, distance: float) -> None:
        rng = self.rng
        # nanoBragg's automatic choice: ceil(3 * largest crystal side / reciprocal pixel)
        side_m = max(n * length for n, length in zip(self.N, self.cell[:3])) * 1e-10
        auto = 3 * side_m * (pixel * 1e-3) / (0.5e-10 * 0.5 * distance * 1e-3)
        if auto <= 2 and self.chance(0.3):
            pass  # leave it to the engines
        else:
            self.opt("-oversample", str(rng.randint(1, 2 if self.full_image else 3)))
        for flag in ("-oversample_omega", "-oversample_polar"):
            if self.chance(0.1):
                self.opt(flag)
        # a sensor of no thickness captures nothing per layer: -oversample_thick without
        # -detector_thick gives an all-zero image (as upstream), so mostly with a thickness
        if self.chance(0.5 if self.thick else 0.03):
            self.opt("-oversample_thick")

    def outputs_and_console(self) -> None:
        rng = self.rng
        names = {"float": ("-floatfile", "-floatimage"), "int": ("-intfile", "-intimage"),
                 "noise": ("-noisefile", "-noiseimage"), "pgm": ("-pgmfile", "-pgmimage")}
        for kind, spellings in names.items():
            if self.chance(0.06):
                self.full_image = True
                self.opt(self.pick(*spellings), f"{self.stem}.{kind}.img")
                if kind == "int" and self.chance(0.5):
                    self.opt("-scale", _f(10 ** rng.uniform(-2, 3)))
                if kind == "pgm" and self.chance(0.5):
                    self.opt("-pgmscale", _f(10 ** rng.uniform(-2, 2)))
                if kind in ("int", "noise") and self.chance(0.4):
                    self.opt("-adc", rng.uniform(0, 100))
        if self.chance(0.05):
            self.opt("-nonoise")
        if self.chance(0.05):
            self.opt("-nopgm")
        if self.chance(0.3):
            self.opt("-seed", str(rng.randint(1, 10**6)))
        if self.chance(0.03):
            self.full_image = True
            self.opt("-printout")
        if self.chance(0.1):
            self.opt(self.pick("-progress", "-noprogress"))
        if self.chance(0.15):
            self.opt(self.pick(*IGNORED_OPTIONS), _f(rng.uniform(1, 100)))
        if self.chance(0.03):
            self.opt("-coherent")

    # ---- pixels

    def pixels(self, shape: tuple[int, int], roi, mask) -> tuple[tuple[int, int], ...]:
        """The centre, an evaluated pixel (inside the ROI, not masked) when there is one, and
        one anywhere: two or three pixels."""
        rng = self.rng

        def active(s: int, f: int) -> bool:
            if roi is not None and not (roi[0] <= f <= roi[1] and roi[2] <= s <= roi[3]):
                return False
            return mask is None or mask[s][f] != 0

        centre = (shape[0] // 2, shape[1] // 2)
        chosen = [centre]
        candidates = [(s, f) for s in range(shape[0]) for f in range(shape[1])
                      if active(s, f) and (s, f) != centre]
        if candidates:
            chosen.append(rng.choice(candidates))
        for _ in range(10):
            pixel = (rng.randrange(shape[0]), rng.randrange(shape[1]))
            if pixel not in chosen:
                chosen.append(pixel)
                break
        return tuple(chosen[:3])

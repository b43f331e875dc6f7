"""``_Builder``: one configuration's option groups and input files, drawn from one random
stream in a fixed order (``build``); the families are drawn by its bases (``sample``,
``detector``)."""

from __future__ import annotations

import random

from nbparity.cases import detector_shape
from nbparity.generate.coverage import MAX_SIDE, MODES
from nbparity.generate.detector import _DetectorDraws
from nbparity.generate.numbers import _f
from nbparity.generate.sample import _SampleDraws

# --------------------------------------------------------------------------- the builder


class _Builder(_SampleDraws, _DetectorDraws):
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

"""The detector's option families (size, geometry, beam centre, ROI, mask and image files,
oversampling, outputs) and the traced pixels, drawn by ``builder._Builder``."""

from __future__ import annotations

from nbparity.generate.coverage import IGNORED_OPTIONS, MAX_SIDE
from nbparity.generate.numbers import _f, _unit_near, _vec


class _DetectorDraws:
    """Option groups of the detector, and the pixels to trace (methods of ``builder._Builder``:
    they use its random stream, ``opt``, ``chance``, ``pick`` and ``file``)."""

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

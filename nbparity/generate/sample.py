"""The sample's and the beam's option families (crystal, structure factors, beam, sources,
divergence and dispersion, the phi and mosaic loops), drawn by ``builder._Builder``."""

from __future__ import annotations

import math

from nbparity.generate.coverage import SIZE_OPTIONS
from nbparity.generate.numbers import _f, _reciprocal, _rotation, _unit_near, _vec


class _SampleDraws:
    """Option groups of the sample and the beam (methods of ``builder._Builder``: they use its
    random stream, ``opt``, ``chance``, ``pick`` and ``file``)."""

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

# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Crystal set-up: orientation (misset, -mat), cell, size in unit cells, mosaic domains.

Mirrors c_reference/src/crystal.c (``nb_setup_crystal``) and ``nb_setup_mosaic``
(c_reference/src/beam.c). The cell vectors come from ``simulator.crystal.build_cell``, the
differentiable function the engine evaluates with its tensors; here they give the crystal's
size, which sets N (-xtalsize) and the oversampling.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch

from simulator import rng
from simulator.config import CrystalConfig
from simulator.crystal import build_cell, crystal_size_N
from simulator.geometry import RTD
from simulator.io import read_matrix
from simulator.options import UsageError

AVOGADRO = 6.02214179e23


@dataclass(frozen=True)
class CrystalSize:
    """The unit cell's edge lengths |a|, |b|, |c| (m) and the crystal's N (cells per edge)."""

    lengths: tuple[float, float, float]
    N: tuple[float, float, float]

    @property
    def sides(self):
        """The crystal's edges (m): |a| Na, |b| Nb, |c| Nc."""
        return tuple(ln * n for ln, n in zip(self.lengths, self.N))

    @property
    def xtal_max(self):
        """The crystal's largest edge (m)."""
        a, b, c = self.sides
        return max(a, b, c)

    def molecular_weight_line(self):
        """nanoBragg's "approximate MW" line (1.2 g/cm^3 of protein per cell; the volume
        multiplied in nanoBragg's order)."""
        (la, lb, lc), N = self.lengths, self.N
        volume = la * N[0] * lb * N[1] * lc * N[2]
        mw = volume * 1.2e6 * AVOGADRO / (N[0] * N[1] * N[2])
        return ("crystal", "approximate MW = %g" % mw)


def crystal_config(s, steps, spindle, sample, misset_seed, table, path_of, log):
    """The crystal's frozen config (without its mosaic domains: ``with_mosaic_domains``).

    Reads: cell (-cell a b c in Angstrom, alpha beta gamma in degrees; b, c default to a, the
    angles to 90), matfile (-mat: reciprocal vectors in 1/Angstrom, scaled by 1/lambda),
    misset (rad) or misset_random (drawn from ``misset_seed`` with ``table``, ran1's shared
    table), Na, Nb, Nc, shape, fudge, phi0 (rad), lambda0 (m); ``steps`` (phi steps, mosaic
    spread and count), ``spindle`` (unit vector of the detector frame), ``sample`` the
    crystal's x, y, z size (m; 0: N as given). Produces: (CrystalConfig with N from the size,
    CrystalSize). Logs the -mat read and a random misset (stage "cell"), the crystal's size
    (stage "crystal"). UsageError for an impossible cell, InputError for a bad -mat file.
    """
    misset = s["misset"]
    random_line = None
    if s["misset_random"]:
        axis, _, ang = rng.mosaic_rotation_draw(90.0, rng.Seed(misset_seed), table)
        misset = rng.umat2misset(rng.umat_from_axis_angle(axis, ang))
        random_line = "random orientation misset angles: %f %f %f deg" % tuple(
            m * RTD for m in misset
        )
    cell = _user_cell(s["cell"]) if s["user_cell"] else tuple(s["cell"])
    matrix = None
    if s["matfile"] is not None:
        matrix = read_matrix(path_of(s["matfile"]))
        log.append(("cell", "reading %s" % s["matfile"]))
    if random_line is not None:
        log.append(("cell", random_line))
    crystal = CrystalConfig(
        user_cell=s["user_cell"],
        cell=cell,
        matrix=matrix,
        misset_rad=None if misset is None else tuple(misset),
        N=(s["Na"], s["Nb"], s["Nc"]),
        shape=s["shape"],
        fudge=s["fudge"],
        phi0=s["phi0"],
        phistep=steps.phistep,
        phisteps=steps.phisteps,
        osc=steps.osc,
        spindle=spindle,
        mosaic_spread=steps.mosaic_spread,
        mosaic_domains=steps.mosaic_domains,
        mosaic_axes=(),
        mosaic_factors=(),
        mosaic_angles=(),
    )
    size = _crystal_size(crystal, sample, s["lambda0"])
    a, b, c = size.sides
    log.append(("crystal", "crystal is %g x %g x %g microns" % (a * 1e6, b * 1e6, c * 1e6)))
    return dataclasses.replace(crystal, N=size.N), size


def _user_cell(given):
    """-cell's six numbers with nanoBragg's defaults (b, c <= 0: a; angles <= 0: 90 degrees);
    UsageError when no cell has them."""
    cell = list(given)
    if cell[1] <= 0.0:
        cell[1] = cell[0]
    if cell[2] <= 0.0:
        cell[2] = cell[0]
    for i in (3, 4, 5):
        if cell[i] <= 0.0:
            cell[i] = 90.0
    a_, b_, c_, al, be, ga = cell
    if min(a_, b_, c_) <= 0 or not all(math.isfinite(x) for x in cell):
        raise UsageError("impossible unit cell: lengths must be positive (-cell)")
    if (
        max(al, be, ga) >= 180.0
        or al + be + ga >= 360.0
        or al >= be + ga
        or be >= al + ga
        or ga >= al + be
    ):
        raise UsageError(f"impossible unit cell angles {al:g} {be:g} {ga:g} (-cell)")
    return tuple(cell)


def _crystal_size(crystal, sample, lambda0):
    """|a|, |b|, |c| of the oriented cell (float64) and N from the sample size."""
    with torch.no_grad():
        cryst = build_cell(
            crystal, {}, torch.tensor(lambda0, dtype=torch.float64), torch.float64, "cpu"
        )
    lens = [float(torch.linalg.vector_norm(cryst[k])) for k in ("a_m", "b_m", "c_m")]
    if not all(math.isfinite(x) and x > 0 for x in lens):
        raise UsageError("impossible unit cell (check -cell or -mat)")
    return CrystalSize(tuple(lens), crystal_size_N(sample, *lens, crystal.N))


def with_mosaic_domains(crystal: CrystalConfig, mosaic_seed, table) -> CrystalConfig:
    """The config with its mosaic domains drawn: per domain an axis, nanoBragg's powf factor
    and the angle spread * factor (rad), from -mosaic_seed with ran1's shared ``table`` (after
    a random misset's draw, as nanoBragg draws them)."""
    mseed = rng.Seed(mosaic_seed)
    axes, mfactors, angles = [], [], []
    for _ in range(crystal.mosaic_domains):
        axis, fct, ang = rng.mosaic_rotation_draw(crystal.mosaic_spread, mseed, table)
        axes.append(axis)
        mfactors.append(fct)
        angles.append(ang)
    return dataclasses.replace(
        crystal,
        mosaic_axes=tuple(axes),
        mosaic_factors=tuple(mfactors),
        mosaic_angles=tuple(angles),
    )

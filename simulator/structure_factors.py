"""Structure factors: the dense HKL table, nearest-neighbour and tricubic (Lagrange) lookup."""

from __future__ import annotations

import torch

#: nanoBragg interpolates at a nan Miller index (a nan geometry: -distance inf, -twotheta nan,
#: ...): its range test passes, (int)floor(nan) is INT_MIN and it reads far outside its table
#: and crashes. Both engines stop there with this one-line error instead (exit 2).
NAN_INDEX_MESSAGE = (
    "degenerate input: a Miller index is nan while structure factors are interpolated "
    "(nanoBragg reads outside its table and crashes; -nointerpolate avoids it)"
)


def nan_index(h, k, l):
    """Where a fractional Miller index is nan."""
    return torch.isnan(h) | torch.isnan(k) | torch.isnan(l)


class HklTable:
    """The HKL table of a run on the engine's device/dtype.

    sf: StructureFactors from the config. ``flat`` is the table flattened (h slowest).
    """

    def __init__(self, sf, dtype, device):
        self.sf = sf
        self.default_F = float(sf.default_F)
        if sf.table is not None and sf.hkls:
            self.flat = torch.as_tensor(sf.table, dtype=dtype, device=device).reshape(-1)
            self.ranges = sf.table.shape
        else:
            self.flat = None
            self.ranges = (0, 0, 0)
        self.mins = sf.hkl_min
        self.maxs = sf.hkl_max
        #: every value a lookup can return is finite (else F_cell * 0 is nan at skipped steps)
        self.all_finite = bool(torch.isfinite(torch.tensor(self.default_F))) and (
            self.flat is None or bool(torch.isfinite(self.flat).all())
        )

    def nearest(self, h0, k0, l0):
        """F at the rounded indices (float tensors of integers); default_F outside the table."""
        if self.flat is None:
            # one value, broadcast (no memory, no pass over the steps)
            return torch.full((), self.default_F, dtype=h0.dtype, device=h0.device).expand(h0.shape)
        (hmn, kmn, lmn), (hmx, kmx, lmx) = self.mins, self.maxs
        inside = (h0 <= hmx) & (h0 >= hmn) & (k0 <= kmx) & (k0 >= kmn) & (l0 <= lmx) & (l0 >= lmn)
        _, kr, lr = self.ranges
        hi = torch.where(inside, h0 - hmn, torch.zeros_like(h0)).long()
        ki = torch.where(inside, k0 - kmn, torch.zeros_like(k0)).long()
        li = torch.where(inside, l0 - lmn, torch.zeros_like(l0)).long()
        val = self.flat[(hi * kr + ki) * lr + li]
        return torch.where(inside, val, torch.full_like(val, self.default_F))

    def out_of_interpolation_range(self, h, k, l):
        """nanoBragg's test that the 4x4x4 block around (h, k, l) leaves the table."""
        (hmn, kmn, lmn) = self.mins
        hr, kr, lr = self.ranges
        return (
            ((h - hmn + 3) > hr)
            | (h - 2 < hmn)
            | ((k - kmn + 3) > kr)
            | (k - 2 < kmn)
            | ((l - lmn + 3) > lr)
            | (l - 2 < lmn)
        )

    def tricubic(self, h, k, l, valid):
        """Tricubic Lagrange interpolation on the 4x4x4 block floor-1 .. floor+2 (as polin3).

        valid: where the block is inside the table (elsewhere the result is meaningless, 0).
        A nan index passes nanoBragg's range test but has no block: never read (the engine
        stops before a live step with one, see ``NAN_INDEX_MESSAGE``).
        """
        valid = valid & ~nan_index(h, k, l)
        (hmn, kmn, lmn) = self.mins
        _, kr, lr = self.ranges
        hf, kf, lf = torch.floor(h), torch.floor(k), torch.floor(l)
        off = torch.arange(-1, 3, device=h.device, dtype=h.dtype)

        def idx(base, mn):
            i = base[..., None] + off - mn
            return torch.where(valid[..., None], i, torch.zeros_like(i)).long()

        hi, ki, li = idx(hf, hmn), idx(kf, kmn), idx(lf, lmn)
        flat_idx = (hi[..., :, None, None] * kr + ki[..., None, :, None]) * lr + li[
            ..., None, None, :
        ]
        block = self.flat[flat_idx]  # (..., 4, 4, 4)
        wd = self.flat.dtype
        wh, wk, wl = _lagrange(h, hf).to(wd), _lagrange(k, kf).to(wd), _lagrange(l, lf).to(wd)
        v = _sum4(block * wl[..., None, None, :])
        v = _sum4(v * wk[..., None, :])
        v = _sum4(v * wh)
        return torch.where(valid, v, torch.zeros_like(v))


def _lagrange(x, xf):
    """Weights (..., 4) of the cubic Lagrange polynomial through the nodes xf-1, xf, xf+1, xf+2."""
    d0 = x - (xf - 1)
    d1 = x - xf
    d2 = x - (xf + 1)
    d3 = x - (xf + 2)
    return torch.stack(
        (d1 * d2 * d3 / -6.0, d0 * d2 * d3 / 2.0, d0 * d1 * d3 / -2.0, d0 * d1 * d2 / 6.0), dim=-1
    )


def _sum4(x):
    """x[..., 0] + x[..., 1] + x[..., 2] + x[..., 3], in that order (shape-independent rounding)."""
    return ((x[..., 0] + x[..., 1]) + x[..., 2]) + x[..., 3]

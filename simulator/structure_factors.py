"""Structure factors: the dense HKL table, nearest-neighbour and tricubic (Lagrange) lookup."""

from __future__ import annotations

import math

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
        self.dtype = dtype
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
        self._padded = None

    def padded(self):
        """The table with a border of default_F on every side, flattened (built once): an index
        clamped to the border reads default_F, so a lookup needs no inside/outside mask."""
        if self._padded is None:
            hr, kr, lr = self.ranges
            pad = torch.full(
                (hr + 2, kr + 2, lr + 2),
                self.default_F,
                dtype=self.flat.dtype,
                device=self.flat.device,
            )
            pad[1:-1, 1:-1, 1:-1] = self.flat.reshape(hr, kr, lr)
            self._padded = pad.reshape(-1)
        return self._padded

    def nearest(self, h0, k0, l0):
        """F (in the table's dtype) at the rounded indices (float tensors of integers, of any
        float dtype: they are read in float64); default_F outside the table (and at a nan
        index)."""
        if self.flat is None:
            # one value, broadcast (no memory, no pass over the steps)
            return torch.full((), self.default_F, dtype=self.dtype, device=h0.device).expand(
                h0.shape
            )
        hr, kr, lr = self.ranges
        # index into the padded table: each axis clamped to the border (0 or range + 1), in
        # float64, where these integers are exact; nan stays nan through clamp (fixed below)
        idx = None
        for x, mn, n in ((h0, self.mins[0], hr), (k0, self.mins[1], kr), (l0, self.mins[2], lr)):
            x = x.to(torch.float64) - (mn - 1)
            x.clamp_(0.0, n + 1.0)
            if idx is None:
                idx = x
            else:
                idx *= n + 2
                idx += x
        if not math.isfinite(float(idx.sum())):  # a nan index: default_F, as outside
            idx = torch.nan_to_num(idx, nan=0.0)
        return self.padded().index_select(0, idx.long().reshape(-1)).reshape(idx.shape)

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

    def tricubic(self, h, k, l, valid, need=None):
        """Tricubic Lagrange interpolation on the 4x4x4 block floor-1 .. floor+2 (as polin3).

        valid: where the block is inside the table (elsewhere the result is meaningless, 0).
        need: optional mask of the steps whose value is used (the live steps); others give 0.
        A nan index passes nanoBragg's range test but has no block: never read (the engine
        stops before a live step with one, see ``NAN_INDEX_MESSAGE``).

        Each value is upstream's arithmetic, operation for operation: polint's Lagrange terms
        ((x - xa_j) (x - xa_k) (x - xa_l)) * y / den along l, then k, then h, summed left to
        right. Only the steps that need a value are evaluated, in blocks of TRICUBIC_BLOCK, and
        a run of consecutive steps in the same 4x4x4 block reads the table once.
        """
        if need is not None:
            valid = valid & need
        shape = h.shape
        pos = torch.nonzero(valid.reshape(-1)).reshape(-1)
        hkl = torch.stack([x.reshape(-1) for x in (h, k, l)], dim=1).index_select(0, pos)
        bad = torch.isnan(hkl).any(dim=1)  # a nan index passes the range test: no block
        if bool(bad.any()):
            pos, hkl = pos[~bad], hkl[~bad]
        n = pos.numel()
        if n == 0:
            return torch.zeros(shape, dtype=self.flat.dtype, device=h.device)
        parts = [
            self._tricubic_steps(hkl[i : i + TRICUBIC_BLOCK]) for i in range(0, n, TRICUBIC_BLOCK)
        ]
        v = torch.cat(parts) if len(parts) > 1 else parts[0]
        out = torch.zeros(h.numel(), dtype=v.dtype, device=h.device)
        return out.index_put((pos,), v).reshape(shape)

    def _tricubic_steps(self, hkl):
        """Interpolated F at (n, 3) fractional indices whose blocks lie inside the table.

        Laid out with the steps innermost: the block values are (i3, (i1, i2), n) and each of
        polint's levels reads whole contiguous (., n) slabs (no strided views, no transposes).
        """
        n = hkl.shape[0]
        fl = torch.floor(hkl)
        G = self._blocks(fl)  # (4 [i3], 16 [i1, i2], n)
        # polint's numerators for the nodes xa_j = floor - 1 + j, in its order:
        # P_0 = ((x-xa_1)(x-xa_2))(x-xa_3), P_1 = ((x-xa_0)(x-xa_2))(x-xa_3),
        # P_2 = ((x-xa_0)(x-xa_1))(x-xa_3), P_3 = ((x-xa_0)(x-xa_1))(x-xa_2); the denominators
        # (products of xa_j - xa_i) are -6, 2, -2 and 6, exactly. Each term (P_j * y) / den_j
        # is computed as ((-P_0) * y) / 6, ((P_1 / 2) * y), ((-P_2 / 2) * y), (P_3 * y) / 6:
        # the same values bit for bit (a sign flip and a halving are exact in any order).
        d0, d1, d2, d3 = ((hkl - (fl + j)).T for j in (-1.0, 0.0, 1.0, 2.0))  # (3 axes, n)
        d01 = d0 * d1
        W = torch.stack(
            (-((d1 * d2) * d3), ((d0 * d2) * d3) * 0.5, (d01 * d3) * -0.5, d01 * d2), dim=1
        ).to(self.flat.dtype)  # (3 axes [h, k, l], 4 nodes, n)
        t = _polint(G, W[2])  # along l: (16 [i1, i2], n)
        t = _polint(t.reshape(4, 4, n).transpose(0, 1), W[1])  # along k: (4 [i1], n)
        return _polint(t[:, None, :], W[0])[0]  # along h: (n,)

    def _blocks(self, fl):
        """The 4x4x4 table blocks from floor - 1 to floor + 2 of each step, (4 [i3], 16, n).

        Consecutive steps often share a block (neighbouring sub-pixels): each run of equal
        blocks is read from the table once and its rows copied."""
        _, kr, lr = self.ranges
        n = fl.shape[0]
        dev = fl.device
        # flat index of each block's first node (hf-1, kf-1, lf-1): integers, exact in float64
        # whatever the order of the sum (so a matrix-vector product gives them)
        strides = torch.tensor([kr * lr, lr, 1], dtype=torch.float64, device=dev)
        first = sum((m + 1) * st for m, st in zip(self.mins, (kr * lr, lr, 1)))
        base = (torch.mv(fl.double(), strides) - first).long()
        offsets = _block_offsets(kr, lr, dev)  # (64,): the nodes in (i3, i1, i2) order
        new = torch.ones(n, dtype=torch.bool, device=dev)
        if n > 1:
            torch.ne(base[1:], base[:-1], out=new[1:])
        starts = torch.nonzero(new).reshape(-1)
        if 2 * starts.numel() < n:
            blocks = torch.take(self.flat, base.index_select(0, starts)[:, None] + offsets)
            rows = blocks.index_select(0, torch.cumsum(new, 0) - 1)
        else:
            rows = torch.take(self.flat, base[:, None] + offsets)
        return rows.T.reshape(4, 16, n)


def _polint(y, w):
    """One level of polin3: polint's four terms summed left to right, for every row of y.

    y: (4 [node], m, n) values at the nodes; w: (4 [node], n) numerators as _tricubic_steps
    prepares them. Returns (m, n): ((T0 + T1) + T2) + T3 with T0 = (w0 y0) / 6,
    T1 = w1 y1, T2 = w2 y2, T3 = (w3 y3) / 6 -- upstream's rounding, term for term."""
    if torch.is_grad_enabled() and (y.requires_grad or w.requires_grad):
        return (((y[0] * w[0]) / 6.0 + y[1] * w[1]) + y[2] * w[2]) + (y[3] * w[3]) / 6.0
    # without a gradient: the same operations with one temporary reused
    acc = y[0] * w[0]
    acc /= 6.0
    tmp = y[1] * w[1]
    acc += tmp
    torch.mul(y[2], w[2], out=tmp)
    acc += tmp
    torch.mul(y[3], w[3], out=tmp)
    tmp /= 6.0
    acc += tmp
    return acc


#: steps per block of the tricubic lookup: its (64, block) intermediates stay in the caches
TRICUBIC_BLOCK = 4096

_OFFSETS = {}


def _block_offsets(kr, lr, device):
    """(64,) flat offsets of a 4x4x4 block's nodes from its first node, in (i3, i1, i2) order:
    each l node's 16 values form one (16, n) slab of the layout."""
    key = (kr, lr, str(device))
    if key not in _OFFSETS:
        i = torch.arange(4, device=device)
        i1, i2, i3 = i[None, :, None], i[None, None, :], i[:, None, None]
        _OFFSETS[key] = ((i1 * kr + i2) * lr + i3).reshape(-1)  # i3 slowest, then i1, i2
    return _OFFSETS[key]

"""The per-step quantities of a chunk, one function each, in nanoBragg's order.

Every tensor here is (P pixels, T layers, S sub-pixels, R sources, F phi steps, M domains):
Miller indices (with the phi=0 carry-over's first sweep), their rounding, the lattice factor,
the steps that add a term, the structure factor (tricubic or nearest), each step's term
F_cell^2 F_latt^2, their sum over the steps (I_before_scaling) and the final scaling. The
engine (``simulator.engine``) calls them in this order; traces and printouts read the same
tensors (``simulator.taps``).

Rounding is nanoBragg's, operation for operation: the in-place variants used without a
gradient compute the same values as the out-of-place ones used with one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from simulator.cnum import c_int
from simulator.geometry import comps
from simulator.geometry import dot as dot3
from simulator.io import InputError
from simulator.lattice import lattice_factor
from simulator.structure_factors import NAN_INDEX_MESSAGE, nan_index


@dataclass
class ChunkSteps:
    """What a chunk computed per step, for the sum and for traces and printouts."""

    h: torch.Tensor  # fractional Miller indices
    k: torch.Tensor
    l: torch.Tensor  # noqa: E741
    h0: torch.Tensor | None  # rounded indices (None on the lean path, which needs none)
    k0: torch.Tensor | None
    l0: torch.Tensor | None
    first_sweep_mask: torch.Tensor | None  # (P, T, S, R, 1, 1): steps of a first sweep
    F_latt: torch.Tensor
    F_latt_parts: tuple | None  # per-axis factors of the square shape (traced), else None
    live: torch.Tensor | None  # steps that add a term (None when every one may)
    F_cell: torch.Tensor | None = None
    I_term: torch.Tensor | None = None


@dataclass
class PixelScaling:
    """The final scaling of each pixel of a chunk, (P,) each, as nanoBragg caches it."""

    I_pixel: torch.Tensor  # the image value: r_e^2 fluence I / steps x the cached factors
    polar_cached: torch.Tensor  # the factor nanoBragg keeps for the pixel
    polar_applied: torch.Tensor  # what the final scaling multiplies (1 with -oversample_polar)
    polar_first_computed: torch.Tensor  # the value nanoBragg first computes (traced as polar)
    omega_first: torch.Tensor  # the solid angle of the first sub-pixel
    omega_applied: torch.Tensor
    cap_final: torch.Tensor  # capture fraction of the last layer (1 without thickness)
    cap_applied: torch.Tensor


def miller_indices(model, scattering, first_sweep):
    """h, k, l of every step, and the mask of the first sweeps' steps (or None).

    scattering: (P, T, S, R, 3) scattering vectors. first_sweep: None or a list of (p, t, s, r)
    positions whose (F, M) steps take the "first" rotation table (the phi=0 carry-over's
    unrotated cell at phi = 0).
    """
    sx, sy, sz = (x[..., None, None] for x in comps(scattering))  # (P, T, S, R, 1, 1)
    inplace = not torch.is_grad_enabled()

    def dot(x, y, z):
        if not inplace:
            return sx * x + sy * y + sz * z
        # (sx*x + sy*y) + sz*z, the same rounding, with one temporary reused
        out = sx * x
        tmp = sy * y
        out += tmp
        torch.mul(sz, z, out=tmp)
        out += tmp
        return out

    h, k, l = (dot(*xyz) for xyz in model.table_comps)  # noqa: E741
    if not (first_sweep and model.first_sweep_differs):
        return h, k, l, None
    af, bf, cf = model.tables["first"]
    at = torch.as_tensor(first_sweep, dtype=torch.long, device=model.device).T
    where_first = (at[0], at[1], at[2], at[3])  # p, t, s, r of each first sweep
    P, T, S, R = scattering.shape[:4]
    mask = torch.zeros((P, T, S, R, 1, 1), dtype=torch.bool, device=model.device)
    mask[where_first] = True
    sv = scattering[where_first][:, None, None, :]  # (n, 1, 1, 3)
    # the sweeps' (F, M) indices from the first table replace the normal ones (out of place:
    # the gradient reaches both tables)
    h = h.index_put(where_first, dot3(sv, af))
    k = k.index_put(where_first, dot3(sv, bf))
    l = l.index_put(where_first, dot3(sv, cf))  # noqa: E741
    return h, k, l, mask


def rounded_indices(h, k, l):  # noqa: E741
    """nanoBragg's nearest integers: ceil(x - 0.5) (halves round down)."""
    return torch.ceil(h - 0.5), torch.ceil(k - 0.5), torch.ceil(l - 0.5)


def lattice(model, h, k, l, h0, k0, l0):  # noqa: E741
    """F_latt of every step (and the square shape's per-axis factors, or None)."""
    c, cr, dt = model.c, model.cryst, model.dtype
    return lattice_factor(
        c.crystal.shape, h, k, l, h0, k0, l0,
        tuple(n.to(dt) for n in model.N), c.crystal.fudge,
        cr["a_star"], cr["b_star"], cr["c_star"], model.N_values, out_dtype=dt,
    )  # fmt: skip


def live_steps(model, passed, F_latt, lean, oversampled, shape):
    """(live, term_needs_mask): the steps that add a term, and whether the sum must mask.

    passed: (P, T, S, R) the -dmin cut; shape: the steps' (P, T, S, R, F, M). A step with
    F_latt == 0 (and no dmin cut) adds F_cell^2 * 0 * 0 = 0 anyway, unless F_cell is nan or
    infinite (nan * 0): nanoBragg skips the step (L2869), so it is masked. ``live`` is None
    when nothing needs it.
    """
    c = model.c
    if c.beam.water_size != 0.0:
        return passed[..., None, None].expand(shape), True
    term_needs_mask = c.beam.dmin > 0.0 or not model.hkl.all_finite
    if lean and not term_needs_mask and not oversampled:
        return None, False
    if c.beam.dmin <= 0.0:
        return F_latt != 0.0, term_needs_mask
    return passed[..., None, None] & (F_latt != 0.0), term_needs_mask


def interpolation_range(model, h, k, l, live):  # noqa: E741
    """(out_range, trigger): the steps whose 4x4x4 block leaves the table, and the flat index
    of the first live one (the step that switches interpolation off, serially), or None."""
    out_range = model.hkl.out_of_interpolation_range(h, k, l)
    flat = (out_range & live).reshape(-1)
    trigger = int(torch.argmax(flat.to(torch.uint8))) if bool(flat.any()) else None
    stop_at_nan_index(h, k, l, live, trigger)
    return out_range, trigger


def stop_at_nan_index(h, k, l, live, trigger):  # noqa: E741
    """nanoBragg crashes at a live step with a nan Miller index while interpolation is on (it
    is on before the step ``trigger`` that switches it off, in serial order): stop there too."""
    if all(math.isfinite(float(x.detach().sum())) for x in (h, k, l)):
        return  # no nan index (a sum is nan whenever one of its terms is)
    bad = (nan_index(h, k, l) & live).reshape(-1)
    if bool(bad.any()) and (trigger is None or int(torch.argmax(bad.to(torch.uint8))) < trigger):
        raise InputError(NAN_INDEX_MESSAGE)


def structure_factor(model, st: ChunkSteps, interp_now, out_range, trigger, need):
    """F_cell of every step: tricubic while interpolation is on, else the nearest value.

    need: mask of the steps whose value is used (None: every step, for traces/printouts).
    nanoBragg's lookup at an out-of-range index (L2935-3007) sets F_cell = default_F, switches
    interpolation off, and then, interpolation being off, takes the nearest-neighbour value:
    the step that flips the switch uses the table value (default_F only outside the table)
    [T]. Out-of-range steps before the flip are steps nanoBragg skips (F_latt == 0); the
    traces print the value the lookup would give there, the same nearest-neighbour value.
    """
    hkl, dt = model.hkl, model.dtype
    if st.h0 is None:  # lean: no table, F_cell is default_F everywhere
        return torch.full((), hkl.default_F, dtype=dt, device=model.device).expand(st.h.shape)
    if not interp_now:
        return hkl.nearest(st.h0, st.k0, st.l0)
    valid = ~out_range
    F_int = hkl.tricubic(st.h, st.k, st.l, valid, need=need)
    if trigger is None and not bool(out_range.any()):
        return F_int
    F_near = hkl.nearest(st.h0, st.k0, st.l0)
    if trigger is None:
        return torch.where(valid, F_int, F_near)
    serial = torch.arange(st.h.numel(), device=model.device).reshape(st.h.shape)
    return torch.where(valid & (serial < trigger), F_int, F_near)


def intensity_terms(model, st: ChunkSteps, interp_now, term_needs_mask):
    """Each step's F_cell^2 F_latt^2 (0 at steps that are not live), as ((F F) F_latt) F_latt."""
    inplace = not torch.is_grad_enabled()
    F_latt = st.F_latt
    if inplace and model.hkl.flat is None and not interp_now:
        # F_cell is default_F everywhere: ((F*F)*F_latt)*F_latt with F*F a python double
        F = model.hkl.default_F
        term = F_latt * (F * F)
        term *= F_latt
    elif inplace:
        term = st.F_cell * st.F_cell
        term *= F_latt
        term *= F_latt
    else:
        term = st.F_cell * st.F_cell * F_latt * F_latt
    if term_needs_mask or not inplace:
        term = torch.where(st.live, term, 0.0)
    return term


def accumulate(model, term, pp, live):
    """I_before_scaling of each pixel: the terms summed in nanoBragg's loop order (cumsum keeps
    the serial order of the additions), with I_bg first; with -oversample_thick/polar/omega
    each term is multiplied by its factors and the running sum by the later ones."""
    c, sm = model.c, model.c.sampling
    P, K = term.shape[0], term[0].numel()
    flat_term = term.reshape(P, K)
    I_bg = c.beam.I_bg
    if not (sm.oversample_thick or sm.oversample_polar or sm.oversample_omega):
        if I_bg != 0.0:
            head = torch.full((P, 1), I_bg, dtype=model.dtype, device=model.device)
            flat_term = torch.cat((head, flat_term), dim=1)
        return torch.cumsum(flat_term, dim=1)[:, -1]
    dt = model.dtype
    g = torch.ones_like(term)
    if sm.oversample_thick:
        g = g * pp["cap"].to(dt)[:, :, :, None, None, None]
    if sm.oversample_polar:
        g = g * pp["polar_all"].to(dt)[..., None, None]
    if sm.oversample_omega:
        g = g * pp["omega"].to(dt)[:, :, :, None, None, None]
    g = torch.where(live, g, torch.ones_like(g)).reshape(P, K)
    suffix = torch.flip(torch.cumprod(torch.flip(g, dims=(1,)), dim=1), dims=(1,))
    I = torch.cumsum(flat_term * suffix, dim=1)[:, -1]  # noqa: E741
    if I_bg != 0.0:
        I = I_bg * suffix[:, 0] + I  # noqa: E741
    return I


def final_scaling(model, pp, I) -> PixelScaling:  # noqa: E741
    """The image value of each pixel and the factors nanoBragg applies (or caches) for it."""
    c, sm = model.c, model.c.sampling
    T, P = model.T, I.shape[0]
    omega_first = pp["omega"][:, 0, 0]
    if c.detector.thick > 0.0:
        cap_final = pp["cap"][:, T - 1, 0]
    else:
        cap_final = torch.ones_like(omega_first)
    passed_flat = pp["passed"].reshape(P, -1)
    any_pass = passed_flat.any(dim=1)
    if pp["polar_first"] is not None:
        polar_first = pp["polar_first"]
    else:
        polar_flat = pp["polar_all"].reshape(P, -1)
        first_pass = torch.argmax(passed_flat.to(torch.uint8), dim=1)
        polar_first = torch.gather(polar_flat, 1, first_pass[:, None])[:, 0]
    if c.beam.nopolar:
        polar_cached = torch.ones_like(polar_first)
    else:
        polar_cached = torch.where(any_pass, polar_first, torch.zeros_like(polar_first))
    # the pixel starts at polar = 1 with -nopolar, else 0, and keeps it when no source passes
    # the dmin cut; with -nopolar only -oversample_polar computes a value
    polar_initial = (torch.ones_like if c.beam.nopolar else torch.zeros_like)(polar_first)
    if c.beam.nopolar and not sm.oversample_polar:
        polar_first_computed = polar_cached
    else:
        polar_first_computed = torch.where(any_pass, polar_first, polar_initial)
    ones = torch.ones_like(omega_first)
    dt = model.dtype
    value = c.beam.r_e_sqr * c.beam.fluence * I / model.steps
    if not sm.oversample_thick:
        value = value * cap_final.to(dt)
    if not sm.oversample_polar:
        value = value * polar_cached.to(dt)
    if not sm.oversample_omega:
        value = value * omega_first.to(dt)
    return PixelScaling(
        I_pixel=value,
        polar_cached=polar_cached,
        polar_applied=polar_cached if not sm.oversample_polar else torch.ones_like(polar_first),
        polar_first_computed=polar_first_computed,
        omega_first=omega_first,
        omega_applied=omega_first if not sm.oversample_omega else ones,
        cap_final=cap_final,
        cap_applied=cap_final if not sm.oversample_thick else ones,
    )


def interp_warning(trigger: int, st: ChunkSteps) -> tuple:
    """h, k, l and their rounded values at the flat index where interpolation switched off."""
    sel = tuple(int(i) for i in torch.unravel_index(torch.tensor(trigger), st.h.shape))
    return (
        float(st.h[sel].detach()), float(st.k[sel].detach()), float(st.l[sel].detach()),
        c_int(st.h0[sel]), c_int(st.k0[sel]), c_int(st.l0[sel]),
    )  # fmt: skip

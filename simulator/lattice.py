"""Lattice transforms: sincg, sinc3 and nanoBragg's four crystal shapes (elementwise on tensors)."""

from __future__ import annotations

import math

import torch

ROUND_FACTOR = 0.723601254558268  # nanoBragg's constant for the round shape, ~sqrt(pi/6)


def sincg(x: torch.Tensor, N) -> torch.Tensor:
    """sin(N x)/sin(x), and N where x == 0 (gradient safe at 0)."""
    Nt = (
        N if isinstance(N, torch.Tensor) else torch.tensor(float(N), dtype=x.dtype, device=x.device)
    )
    if not torch.is_grad_enabled():
        return _sincg_nograd(x, N, Nt)
    zero = x == 0
    if x.requires_grad or Nt.requires_grad:
        x = torch.where(zero, torch.ones_like(x), x)  # keep the gradient finite at x == 0
    val = torch.sin(x * N) / torch.sin(x)
    return torch.where(zero, Nt, val)


def _sincg_nograd(x: torch.Tensor, N, Nt, check: bool = True) -> torch.Tensor:
    """sincg without a gradient: the same values (sin(x N) / sin(x), N at x == 0), in place.

    sin(x N) / sin(x) is NaN exactly where x == 0 (0/0) among finite x (sin never rounds to 0
    at a nonzero double), so the x == 0 test runs only when the values are not all finite. Their
    sum tells that at a sixth of the cost of an isnan pass (it is NaN or inf whenever a value
    is; a finite sum means no value needs the fix). ``check=False``: the raw quotient (NaN at
    x == 0), for a caller that tests a product of several instead.
    """
    val = x * N
    val.sin_()
    val /= torch.sin(x)
    return _n_at_zero(val, x, Nt) if check else val


def _n_at_zero(val, x, Nt):
    """sincg's values with N where x == 0, tested only when they are not all finite."""
    if not math.isfinite(float(val.sum())):
        val = torch.where(x == 0, Nt, val)
    return val


def sincg_index(h: torch.Tensor, N, N_value: float, out_dtype=None) -> torch.Tensor:
    """sincg(pi*h, N) evaluated through the distance to the nearest integer (for float32).

    sin(N pi h)/sin(pi h) = (-1)^((N-1) n) sin(N pi d)/sin(pi d) with n = rint(h), d = h - n, for
    integer N. In single precision pi*h loses the small distance d that decides the value near
    a Bragg peak; d itself is exact. (float64 uses nanoBragg's direct formula.)
    """
    n = torch.round(h)
    d = h - n
    if out_dtype is not None:
        d = d.to(out_dtype)
        n = n.to(out_dtype)
    val = sincg(math.pi * d, N)
    if int(round(N_value)) % 2 == 0:  # N - 1 odd: the sign alternates with n
        odd = torch.remainder(n, 2.0) != 0
        val = torch.where(odd, -val, val)
    return val


def _square_f64_nograd(h, k, l, N, N_values, one):
    """The square shape's F_latt in float64 without a gradient: what ``lattice_factor`` gives,
    ((1 * Fa) * Fb) * Fc of nanoBragg's sincg(pi * h, Na) etc., with one finiteness test of the
    product instead of one per axis (a nan factor, from x == 0, makes the product nan)."""
    axes = [(x, n, v) for x, n, v in zip((h, k, l), N, N_values) if v > 1]
    if not axes:
        return one, (one, one, one)

    def product(factors):
        F = factors[0].clone() if len(factors) == 1 else factors[0] * factors[1]
        for f in factors[2:]:
            F *= f
        return F

    def at(n):
        return n if isinstance(n, torch.Tensor) else float(n)

    factors = [_sincg_nograd(math.pi * x, n, at(n), check=False) for x, n, _ in axes]
    F = product(factors)
    if not math.isfinite(float(F.sum())):  # sin(N x) / sin(x) is 0/0 where x == 0: N there
        # (pi * h == 0 exactly where h == 0)
        factors = [_n_at_zero(f, x, at(n)) for (x, n, _), f in zip(axes, factors)]
        F = product(factors)
    it = iter(factors)
    parts = tuple(next(it) if v > 1 else one for v in N_values)
    return F, parts


def sinc3(x: torch.Tensor) -> torch.Tensor:
    """3 (sin x / x - cos x) / x^2, and 1 where x == 0 (gradient safe at 0)."""
    zero = x == 0
    xs = torch.where(zero, torch.ones_like(x), x)
    val = 3.0 * (torch.sin(xs) / xs - torch.cos(xs)) / (xs * xs)
    return torch.where(zero, torch.ones_like(x), val)


def lattice_factor(
    shape: str,
    h,
    k,
    l,
    h0,
    k0,
    l0,
    N,
    fudge: float,
    a_star=None,
    b_star=None,
    c_star=None,
    N_values=None,
    out_dtype=None,
):
    """F_latt for each step and, for the square shape, its three factors.

    h, k, l: fractional indices (any shape); h0, k0, l0: nanoBragg's rounded indices.
    N: (Na, Nb, Nc) as 0-d tensors; N_values: the same as python floats (which axes are > 1).
    a_star, b_star, c_star: (3,) reciprocal vectors in 1/Angstrom (gauss and tophat shapes).
    out_dtype: dtype of the result; h, k, l may be float64 with a float32 result (the distances to
    the nearest integers are then taken in float64 and rounded once).
    Returns (F_latt, (Fa, Fb, Fc) or None).
    """
    Na, Nb, Nc = N
    out_dtype = out_dtype or h.dtype
    if shape == "square":
        one = torch.ones((), dtype=out_dtype, device=h.device).expand(h.shape)
        if out_dtype == torch.float64 and not torch.is_grad_enabled():
            return _square_f64_nograd(h, k, l, N, N_values, one)
        if out_dtype == torch.float64:
            Fa = sincg(math.pi * h, Na) if N_values[0] > 1 else one
            Fb = sincg(math.pi * k, Nb) if N_values[1] > 1 else one
            Fc = sincg(math.pi * l, Nc) if N_values[2] > 1 else one
        else:
            Fa = sincg_index(h, Na, N_values[0], out_dtype) if N_values[0] > 1 else one
            Fb = sincg_index(k, Nb, N_values[1], out_dtype) if N_values[1] > 1 else one
            Fc = sincg_index(l, Nc, N_values[2], out_dtype) if N_values[2] > 1 else one
        factors = [f for f, n in zip((Fa, Fb, Fc), N_values) if n > 1]
        if not factors or torch.is_grad_enabled():
            F = one
            for f in factors:
                F = F * f
            return F, (Fa, Fb, Fc)
        # ((1 * Fa) * Fb) * Fc, with 1 * Fa == Fa exactly
        F = factors[0].clone() if len(factors) == 1 else factors[0] * factors[1]
        for f in factors[2:]:
            F *= f
        return F, (Fa, Fb, Fc)
    dh, dk, dl = (h - h0).to(out_dtype), (k - k0).to(out_dtype), (l - l0).to(out_dtype)
    if a_star is not None:
        a_star, b_star, c_star = a_star.to(out_dtype), b_star.to(out_dtype), c_star.to(out_dtype)
    if shape == "round":
        hrad = dh * dh * Na * Na + dk * dk * Nb * Nb + dl * dl * Nc * Nc
        arg = hrad * fudge
        pos = arg > 0
        root = torch.sqrt(torch.where(pos, arg, torch.ones_like(arg)))
        root = torch.where(pos, root, torch.zeros_like(arg))
        return Na * Nb * Nc * ROUND_FACTOR * sinc3(math.pi * root), None
    dx = dh * a_star[0] + dk * b_star[0] + dl * c_star[0]
    dy = dh * a_star[1] + dk * b_star[1] + dl * c_star[1]
    dz = dh * a_star[2] + dk * b_star[2] + dl * c_star[2]
    rad = (dx * dx + dy * dy + dz * dz) * Na * Na * Nb * Nb * Nc * Nc
    if shape == "gauss":
        return Na * Nb * Nc * torch.exp(-(rad / 0.63 * fudge)), None
    if shape == "tophat":
        return Na * Nb * Nc * (rad * fudge < 0.3969).to(out_dtype), None
    raise ValueError(f"unknown crystal shape {shape}")

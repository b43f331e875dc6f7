"""What traces and printouts read: slices of the tensors the engine computed the image from.

``pixel_taps`` gives a traced pixel's values keyed by trace-contract key (in contract units:
the conversion is applied here, where the value is taken, as the C reference does in its
kernel); ``printout_values`` gives -printout's last-loop-iteration values; ``setup_taps`` the
set-up values every pixel's trace repeats. ``simulator.trace`` only formats them.
"""

from __future__ import annotations

import torch

from simulator.cnum import c_int
from simulator.geometry import RTD
from simulator.steps import ChunkSteps, PixelScaling


def pixel_taps(model, pp, st: ChunkSteps, sc: PixelScaling, I, p: int) -> dict:  # noqa: E741
    """The trace values of pixel ``p`` of the chunk: layer 0, sub-pixel (0, 0), source 0."""
    use_first = st.first_sweep_mask is not None and bool(st.first_sweep_mask[p, 0, 0, 0, 0, 0])
    tab = model.tables["first" if use_first else "normal"]
    taps = {
        "pixel_pos_meters": pp["pos"][p, 0, 0],
        "R_distance_meters": pp["airpath"][p, 0, 0],
        "omega_pixel_sr": sc.omega_first[p],
        "obliquity_factor": model.geo["close_distance"] / pp["airpath"][p, 0, 0],
        "diffracted_vec": pp["diffracted"][p, 0, 0],
        "incident_vec": model.incident[0],
        "lambda_angstroms": model.lambdas[0] * 1e10,
        "scattering_vec_A_inv": pp["scattering"][p, 0, 0, 0] * 1e-10,
        "stol_A_inv": pp["stol"][p, 0, 0, 0] * 1e-10,
        "polar": sc.polar_first_computed[p],
        # layer 0, sub-pixel (0,0): what nanoBragg computed first (also with
        # -oversample_thick on a zero-thickness detector, where it is 0)
        "capture_fraction": pp["cap"][p, 0, 0],
        "rot_a_angstroms": tab[0] * 1e10,
        "rot_b_angstroms": tab[1] * 1e10,
        "rot_c_angstroms": tab[2] * 1e10,
        "hkl_frac": torch.stack((st.h[p, 0, 0, 0], st.k[p, 0, 0, 0], st.l[p, 0, 0, 0]), dim=-1),
        "hkl_rounded": torch.stack(
            (st.h0[p, 0, 0, 0], st.k0[p, 0, 0, 0], st.l0[p, 0, 0, 0]), dim=-1
        ),
        "F_latt": st.F_latt[p, 0, 0, 0],
        "F_cell": st.F_cell[p, 0, 0, 0],
        "I_term": st.I_term[p, 0, 0, 0],
        "I_before_scaling": I[p],
        "polar_applied": sc.polar_applied[p],
        "omega_applied_sr": sc.omega_applied[p],
        "capture_fraction_applied": sc.cap_applied[p],
        "I_pixel_final": sc.I_pixel[p],
        "evaluated": bool(pp["passed"][p, 0, 0, 0]),
    }
    if st.F_latt_parts is not None:
        F, M = model.F, model.M
        for axis, part in zip("abc", st.F_latt_parts):
            taps[f"F_latt_{axis}"] = part[p, 0, 0, 0].expand(F, M)
    return taps


def printout_values(model, idx, pp, st: ChunkSteps, sc: PixelScaling, I) -> dict:  # noqa: E741
    """Values of the last loop iteration of each pixel in ``idx`` (for -printout).

    nanoBragg's loop variables (h, k, l, F_latt, the cell vectors; F_cell) keep the values of
    the last step that assigned them, so a pixel where no source passes -dmin (or where every
    step is skipped) shows an earlier pixel's values: computed for every pixel of the chunk
    with tensor indexing, forward-filled in raster order, carried between chunks as O(1)
    state (``model.printout_state``). Returned as python numbers.
    """
    T, S, R = model.T, model.S, model.R
    P = pp["passed"].shape[0]
    passed = pp["passed"].reshape(P, T * S * R)
    any_pass = passed.any(dim=1)
    t, s, r = _last_evaluated(model, passed)
    ev = _last_step_values(model, st, t, s, r)
    fc = _last_live_F_cell(st).to(ev)
    state = model.printout_state
    ev, state["eval"] = _forward_fill(ev, any_pass, state["eval"])
    fc, state["fcell"] = _forward_fill(fc, st.live.reshape(P, -1).any(dim=1), state["fcell"])
    sm = model.c.sampling
    p = torch.arange(P, device=model.device)
    pol = torch.where(any_pass, pp["polar_all"][p, t, s, r], sc.polar_cached) \
        if sm.oversample_polar else sc.polar_cached  # fmt: skip
    om = pp["omega"][:, T - 1, S - 1] if sm.oversample_omega else sc.omega_first
    cp = pp["cap"][:, T - 1, S - 1] if sm.oversample_thick else sc.cap_final
    if not len(idx):
        return {}
    q = torch.as_tensor(idx, dtype=torch.long, device=model.device)
    evl = ev[q].tolist()
    fcl = fc[q, 0].tolist()
    stol = pp["stol"][q, T - 1, S - 1, R - 1].detach().tolist()
    pos = pp["pos"][q, T - 1, S - 1].detach().tolist()
    Iv, pol, om, cp = (x[q].detach().tolist() for x in (I, pol, om, cp))
    out = {}
    for j, qq in enumerate(idx):  # (python numbers for the printout's few pixels)
        e = evl[j]
        out[qq] = {
            "stol": stol[j],
            "pos": tuple(pos[j]),
            "hkl": tuple(e[0:3]),
            "hkl0": tuple(c_int(float(x)) for x in e[3:6]),
            "F_cell": fcl[j],
            "F_latt": e[6],
            "I": Iv[j],
            "polar": pol[j],
            "omega": om[j],
            "capfrac": cp[j],
            "vecs": (tuple(e[7:10]), tuple(e[10:13]), tuple(e[13:16])),
        }
    return out


def _last_evaluated(model, passed):
    """(t, s, r) of each pixel's last evaluated (passing) layer, sub-pixel and source."""
    S, R = model.S, model.R
    n = passed.shape[1]
    last = n - 1 - torch.argmax(torch.flip(passed, dims=(1,)).to(torch.uint8), dim=1)
    t = torch.div(last, S * R, rounding_mode="floor")
    s = torch.div(last % (S * R), R, rounding_mode="floor")
    return t, s, last % R


def _last_step_values(model, st: ChunkSteps, t, s, r):
    """(P, 16): h k l h0 k0 l0 F_latt a(3) b(3) c(3) at each pixel's last evaluated step."""
    F, M = model.F, model.M
    P = t.shape[0]
    p = torch.arange(P, device=model.device)
    sel = (p, t, s, r, torch.full_like(p, F - 1), torch.full_like(p, M - 1))
    use_first = torch.zeros(P, dtype=torch.bool, device=model.device)
    if st.first_sweep_mask is not None:
        use_first = st.first_sweep_mask[p, t, s, r, 0, 0]
    vec_n = torch.stack([tb[F - 1, M - 1] for tb in model.tables["normal"]])  # (3 axes, 3)
    vec_f = torch.stack([tb[F - 1, M - 1] for tb in model.tables["first"]])
    vecs = torch.where(use_first[:, None, None], vec_f, vec_n).reshape(P, 9)
    hkl = torch.stack([x[sel] for x in (st.h, st.k, st.l, st.h0, st.k0, st.l0)], dim=1)
    return torch.cat((hkl.to(vecs), st.F_latt[sel].to(vecs)[:, None], vecs), dim=1).detach()


def _last_live_F_cell(st: ChunkSteps):
    """(P, 1): F_cell at each pixel's last live step (the last lookup nanoBragg made)."""
    P = st.live.shape[0]
    lv = st.live.reshape(P, -1)
    K = lv.shape[1]
    last_live = K - 1 - torch.argmax(torch.flip(lv, dims=(1,)).to(torch.uint8), dim=1)
    return st.F_cell.reshape(P, K).gather(1, last_live[:, None]).detach()


def _forward_fill(values, valid, carried):
    """Rows where ``valid`` is False take the last valid row before them (or ``carried``, the
    state from earlier chunks; zeros at the start of the run). Returns (filled, new state)."""
    P = values.shape[0]
    ar = torch.arange(P, device=values.device)
    src = torch.cummax(torch.where(valid, ar, torch.full_like(ar, -1)), dim=0).values
    start = carried if carried is not None else torch.zeros_like(values[0])
    ext = torch.cat((start[None, :].to(values), values), dim=0)
    filled = ext[src + 1]
    return filled, filled[-1]


def setup_taps(model) -> dict:
    """The set-up tensors the trace prints (the same for every pixel)."""
    g, cr = model.geo, model.cryst
    return {
        "fdet_vec": g["fdet"],
        "sdet_vec": g["sdet"],
        "odet_vec": g["odet"],
        "beam_vec": g["beam"],
        "polar_vec": model.polar_vector,
        "spindle_vec": model.spindle,
        "pix0_vector_meters": g["pix0"],
        "distance_meters": g["distance"],
        "close_distance_meters": g["close_distance"],
        "a_angstroms": cr["a"],
        "b_angstroms": cr["b"],
        "c_angstroms": cr["c"],
        "a_star_A_inv": cr["a_star"],
        "b_star_A_inv": cr["b_star"],
        "c_star_A_inv": cr["c_star"],
        "V_cell_A3": cr["V_cell"],
        "N_cells": model.N,
        "phi0_deg": model.c.crystal.phi0 * RTD,
        "phistep_deg": model.c.crystal.phistep * RTD,
        "phi_deg": [phi * RTD for phi in model.phis_true],  # the phi of each step
        "phisteps": model.F,
        "mosaic_domains": model.M,
        "sources": model.R,
        "oversample": model.c.sampling.oversample,
        "steps": model.steps,
        "r_e_sqr_m2": model.c.beam.r_e_sqr,
        "fluence_photons_per_m2": model.c.beam.fluence,
    }


def setup_numbers(model) -> dict:
    """Python numbers of the set-up (detector after placement, cell) for the outputs."""
    g, cr = model.geo, model.cryst
    floats = lambda v: tuple(float(x) for x in v.detach().tolist())  # noqa: E731
    keys = ("distance", "close_distance", "Fbeam", "Sbeam", "Fclose", "Sclose", "ORGX", "ORGY")
    out = {k: float(g[k].detach()) if isinstance(g[k], torch.Tensor) else float(g[k])
           for k in keys}  # fmt: skip
    for k in ("dials_origin", "fdet", "sdet", "odet", "pix0"):
        out[k] = floats(g[k])
    for k in ("a", "b", "c", "a_star", "b_star", "c_star"):
        out[k] = floats(cr[k])
    out["V_cell"] = float(cr["V_cell"].detach()) \
        if isinstance(cr["V_cell"], torch.Tensor) else float(cr["V_cell"])  # fmt: skip
    return out

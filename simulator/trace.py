# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""TRACE_PY lines from the engine's taps (trace contract version 1).

This module computes nothing: every value it prints is a slice of a tensor the engine computed
(and the image the run produced); it only selects and formats. Reals use %.17g.
"""

from __future__ import annotations

import math

import torch

from simulator.cnum import c_int

SCHEMA_VERSION = 1


def fmt_real(v) -> str:
    v = float(v)
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return format(v, ".17g")


def _vals(x):
    if isinstance(x, torch.Tensor):
        return [float(v) for v in x.detach().reshape(-1).tolist()]
    if isinstance(x, (tuple, list)):
        return [float(v.detach()) if isinstance(v, torch.Tensor) else float(v) for v in x]
    return [float(x)]


def _line(key, values, ints=False):
    if ints:
        return "TRACE_PY: %s %s" % (key, " ".join(str(int(round(v))) for v in values))
    return "TRACE_PY: %s %s" % (key, " ".join(fmt_real(v) for v in values))


SETUP_VECTORS = (
    "fdet_vec",
    "sdet_vec",
    "odet_vec",
    "beam_vec",
    "polar_vec",
    "spindle_vec",
    "pix0_vector_meters",
)
PIXEL_KEYS = (
    "pixel_pos_meters",
    "R_distance_meters",
    "omega_pixel_sr",
    "obliquity_factor",
    "diffracted_vec",
    "incident_vec",
    "lambda_angstroms",
    "scattering_vec_A_inv",
    "stol_A_inv",
    "polar",
    "capture_fraction",
)
FINAL_KEYS = ("I_before_scaling", "polar_applied", "omega_applied_sr", "capture_fraction_applied")


def format_trace(config, setup, taps, pixels, image) -> list:
    """One block of TRACE_PY / TRACE_PY_PHI lines per traced pixel (slow, fast)."""
    c = config
    lines = []
    for sl, fa in pixels:
        tp = taps.get((sl, fa))
        lines.append("TRACE_PY: trace_pixel %d %d" % (sl, fa))
        lines += _meta(c)
        for key in SETUP_VECTORS:
            lines.append(_line(key, _vals(setup[key])))
        lines.append(_line("distance_meters", _vals(setup["distance_meters"])))
        lines.append(_line("close_distance_meters", _vals(setup["close_distance_meters"])))
        for key in (
            "a_angstroms",
            "b_angstroms",
            "c_angstroms",
            "a_star_A_inv",
            "b_star_A_inv",
            "c_star_A_inv",
            "V_cell_A3",
        ):
            lines.append(_line(key, _vals(setup[key])))
        lines.append(_line("N_cells", _vals(setup["N_cells"]), ints=True))
        lines.append(_line("phi0_deg", [setup["phi0_deg"]]))
        lines.append(_line("phistep_deg", [setup["phistep_deg"]]))
        for key, v in (
            ("phisteps", c.crystal.phisteps),
            ("mosaic_domains", c.crystal.mosaic_domains),
            ("sources", len(c.beam.source_dirs)),
            ("oversample", c.sampling.oversample),
            ("steps", setup["steps"]),
        ):
            lines.append("TRACE_PY: %s %d" % (key, v))
        lines.append(_line("r_e_sqr_m2", [c.beam.r_e_sqr]))
        lines.append(_line("fluence_photons_per_m2", [c.beam.fluence]))
        if tp is None:  # outside the ROI or masked: nanoBragg never evaluates this pixel
            continue
        for key in PIXEL_KEYS:
            lines.append(_line(key, _vals(tp[key])))
        Fn, M = c.crystal.phisteps, c.crystal.mosaic_domains
        step_keys = [
            "rot_a_angstroms",
            "rot_b_angstroms",
            "rot_c_angstroms",
            "hkl_frac",
            "hkl_rounded",
        ]
        scalars = ["F_latt_a", "F_latt_b", "F_latt_c"] if "F_latt_a" in tp else []
        scalars += ["F_latt", "F_cell", "I_term"]
        per = {key: tp[key].detach() for key in step_keys + scalars}
        # a source 0 cut by -dmin at layer 0, sub-pixel (0,0) has no steps: no step lines
        for i in range(Fn if tp["evaluated"] else 0):
            for j in range(M):
                pre = "TRACE_PY_PHI: phi_tic=%d mos_tic=%d " % (i, j)
                lines.append(pre + "phi_deg " + fmt_real(setup["phi_deg"][i]))
                for key in step_keys:
                    vals = per[key][i, j].reshape(-1).tolist()
                    if key == "hkl_rounded":
                        lines.append(pre + key + " " + " ".join(str(c_int(v)) for v in vals))
                    else:
                        lines.append(pre + key + " " + " ".join(fmt_real(v) for v in vals))
                for key in scalars:
                    lines.append(pre + key + " " + fmt_real(per[key][i, j]))
        for key in FINAL_KEYS:
            lines.append(_line(key, _vals(tp[key])))
        # the image pixel itself, as the float image holds it: nanoBragg's floatimage is float,
        # so the float32 the -floatfile gets (a value beyond float32's range is inf there),
        # printed as a double, as in the C reference (the float64 tensor rounded once)
        lines.append(_line("I_pixel_final", _vals(image[sl, fa].detach().to(torch.float32))))
    return lines


def _meta(c):
    return [
        "TRACE_PY: schema_version %d" % SCHEMA_VERSION,
        "TRACE_PY: engine torch",
        "TRACE_PY: phi_carryover_mode %s" % c.run.phi_carryover_mode,
        "TRACE_PY: dtype %s" % c.run.dtype,
        "TRACE_PY: device %s" % ("cuda" if str(c.run.device).startswith("cuda") else "cpu"),
    ]

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


#: Every key this engine prints, in the contract's order (nbparity.schema's catalogue; a test
#: checks the two agree): (key, section, format). Sections: "meta" (from the config), "setup"
#: (``simulator.taps.setup_taps``: the same for every pixel), "pixel" and "final"
#: (``simulator.taps.pixel_taps``, final's I_pixel_final from the image), "phi" (one line per
#: phi step and domain, from the per-step taps). Format: "real" (%.17g), "int" or "word".
#: Adding a key: docs/design/trace-contract.md, "Adding a trace key".
TRACE_KEYS: tuple[tuple[str, str, str], ...] = (
    ("trace_pixel", "meta", "int"),
    ("schema_version", "meta", "int"),
    ("engine", "meta", "word"),
    ("phi_carryover_mode", "meta", "word"),
    ("dtype", "meta", "word"),
    ("device", "meta", "word"),
    ("fdet_vec", "setup", "real"),
    ("sdet_vec", "setup", "real"),
    ("odet_vec", "setup", "real"),
    ("beam_vec", "setup", "real"),
    ("polar_vec", "setup", "real"),
    ("spindle_vec", "setup", "real"),
    ("pix0_vector_meters", "setup", "real"),
    ("distance_meters", "setup", "real"),
    ("close_distance_meters", "setup", "real"),
    ("a_angstroms", "setup", "real"),
    ("b_angstroms", "setup", "real"),
    ("c_angstroms", "setup", "real"),
    ("a_star_A_inv", "setup", "real"),
    ("b_star_A_inv", "setup", "real"),
    ("c_star_A_inv", "setup", "real"),
    ("V_cell_A3", "setup", "real"),
    ("N_cells", "setup", "int"),  # (real tensors that may carry a gradient, printed as counts)
    ("phi0_deg", "setup", "real"),
    ("phistep_deg", "setup", "real"),
    ("phisteps", "setup", "int"),
    ("mosaic_domains", "setup", "int"),
    ("sources", "setup", "int"),
    ("oversample", "setup", "int"),
    ("steps", "setup", "int"),
    ("r_e_sqr_m2", "setup", "real"),
    ("fluence_photons_per_m2", "setup", "real"),
    ("pixel_pos_meters", "pixel", "real"),
    ("R_distance_meters", "pixel", "real"),
    ("omega_pixel_sr", "pixel", "real"),
    ("obliquity_factor", "pixel", "real"),
    ("diffracted_vec", "pixel", "real"),
    ("incident_vec", "pixel", "real"),
    ("lambda_angstroms", "pixel", "real"),
    ("scattering_vec_A_inv", "pixel", "real"),
    ("stol_A_inv", "pixel", "real"),
    ("polar", "pixel", "real"),
    ("capture_fraction", "pixel", "real"),
    ("phi_deg", "phi", "real"),
    ("rot_a_angstroms", "phi", "real"),
    ("rot_b_angstroms", "phi", "real"),
    ("rot_c_angstroms", "phi", "real"),
    ("hkl_frac", "phi", "real"),
    ("hkl_rounded", "phi", "int"),
    ("F_latt_a", "phi", "real"),  # (the square shape only)
    ("F_latt_b", "phi", "real"),
    ("F_latt_c", "phi", "real"),
    ("F_latt", "phi", "real"),
    ("F_cell", "phi", "real"),
    ("I_term", "phi", "real"),
    ("I_before_scaling", "final", "real"),
    ("polar_applied", "final", "real"),
    ("omega_applied_sr", "final", "real"),
    ("capture_fraction_applied", "final", "real"),
    ("I_pixel_final", "final", "real"),
)


def _section(name: str) -> list[tuple[str, str]]:
    return [(key, fmt) for key, section, fmt in TRACE_KEYS if section == name]


def format_trace(config, setup, taps, pixels, image) -> list:
    """One block of TRACE_PY / TRACE_PY_PHI lines per traced pixel (slow, fast)."""
    lines = []
    for sl, fa in pixels:
        tp = taps.get((sl, fa))
        lines += _meta(config, sl, fa)
        for key, fmt in _section("setup"):
            lines.append(_line(key, _vals(setup[key]), ints=fmt == "int"))
        if tp is None:  # outside the ROI or masked: nanoBragg never evaluates this pixel
            continue
        for key, _fmt in _section("pixel"):
            lines.append(_line(key, _vals(tp[key])))
        # a source 0 cut by -dmin at layer 0, sub-pixel (0,0) has no steps: no step lines
        if tp["evaluated"]:
            lines += _step_lines(config, setup, tp)
        for key, _fmt in _section("final"):
            if key == "I_pixel_final":
                # the image pixel itself, as the float image holds it: nanoBragg's floatimage
                # is float, so the float32 the -floatfile gets (a value beyond float32's range
                # is inf there), printed as a double, as in the C reference
                value = image[sl, fa].detach().to(torch.float32)
            else:
                value = tp[key]
            lines.append(_line(key, _vals(value)))
    return lines


def _step_lines(config, setup, tp) -> list:
    """TRACE_PY_PHI lines of every phi step and mosaic domain, keys in the table's order."""
    keys = [(key, fmt) for key, fmt in _section("phi") if key == "phi_deg" or key in tp]
    per = {key: tp[key].detach() for key, _ in keys if key != "phi_deg"}
    lines = []
    for i in range(config.crystal.phisteps):
        for j in range(config.crystal.mosaic_domains):
            pre = "TRACE_PY_PHI: phi_tic=%d mos_tic=%d " % (i, j)
            for key, fmt in keys:
                if key == "phi_deg":
                    text = fmt_real(setup["phi_deg"][i])
                elif fmt == "int":
                    text = " ".join(str(c_int(v)) for v in per[key][i, j].reshape(-1).tolist())
                else:
                    text = " ".join(fmt_real(v) for v in per[key][i, j].reshape(-1).tolist())
                lines.append(pre + key + " " + text)
    return lines


def _meta(c, slow, fast):
    return [
        "TRACE_PY: trace_pixel %d %d" % (slow, fast),
        "TRACE_PY: schema_version %d" % SCHEMA_VERSION,
        "TRACE_PY: engine torch",
        "TRACE_PY: phi_carryover_mode %s" % c.run.phi_carryover_mode,
        "TRACE_PY: dtype %s" % c.run.dtype,
        "TRACE_PY: device %s" % ("cuda" if str(c.run.device).startswith("cuda") else "cpu"),
    ]

"""The engine: the only module that knows nanoBragg's loop structure, vectorised.

Pixels are processed in chunks sized to a memory budget; inside a chunk every other loop of
nanoBragg is a tensor dimension, in nanoBragg's loop order:

    (P pixels, T thickness layers, S sub-pixels (subS slow, subF fast), R sources,
     F phi steps, M domains)

The rotated cell for every (phi, domain) is one small table, so h, k, l for a chunk are three
broadcast products. Serial-order state of nanoBragg is carried as O(1) values between chunks:
the phi=0 carry-over's first sweep (c-parity mode; one per thread block in c-parity-omp) and
the global switch that turns tricubic interpolation off after the first out-of-range lookup.
The engine hands the trace module the tensors it computed for traced pixels ("taps"); the
trace module only formats them.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from dataclasses import dataclass, field

import torch

from simulator.beam import incident_vectors, polarization_factor
from simulator.cnum import c_int
from simulator.crystal import build_cell, mosaic_umats, phi_angles, rotation_table
from simulator.detector import capture_fraction, detector_setup, solid_angle, subpixel_positions
from simulator.geometry import RTD, comps, unitize
from simulator.geometry import dot as dot3
from simulator.io import InputError
from simulator.lattice import lattice_factor
from simulator.structure_factors import NAN_INDEX_MESSAGE, HklTable, nan_index

#: names of the differentiable inputs ``simulate`` accepts as tensors (units as on the command line)
PARAM_NAMES = (
    "cell",
    "misset_deg",
    "distance_mm",
    "beam_center_mm",
    "N",
    "mosaic_spread_deg",
    "lambda_A",
)


@dataclass
class SimulationResult:
    """What a run produced.

    image: (slow, fast) tensor on the config's device/dtype (0 outside the ROI/mask, and for
        pixels not computed in a trace-only run).
    trace_lines: TRACE_PY lines of the traced pixels (empty when none were requested).
    taps: {(slow, fast): {name: tensor}} the production tensors of each traced pixel.
    setup: python numbers of the set-up (detector geometry after placement, cell) for outputs.
    printouts: {(slow, fast): {name: value}} last-iteration values for -printout(_pixel).
    omega_sum: nanoBragg's running sum of solid angles (for its statistics line).
    """

    image: torch.Tensor
    trace_lines: list = field(default_factory=list)
    taps: dict = field(default_factory=dict)
    setup: dict = field(default_factory=dict)
    printouts: dict = field(default_factory=dict)
    omega_sum: float = 0.0
    computed: torch.Tensor | None = None  # bool (slow, fast): pixels computed in this run
    interp_warning: tuple | None = (
        None  # (h, k, l, h0, k0, l0) where interpolation was switched off
    )


def _f(x) -> float:
    """A python number from a tensor, for statistics and printouts (never on a gradient path)."""
    return float(x.detach()) if isinstance(x, torch.Tensor) else float(x)


def _interp_warning(trigger: int, h, k, l, h0, k0, l0) -> tuple:
    """h, k, l and their rounded values at the flat index where interpolation switched off."""
    sel = tuple(int(i) for i in torch.unravel_index(torch.tensor(trigger), h.shape))
    return (_f(h[sel]), _f(k[sel]), _f(l[sel]), c_int(h0[sel]), c_int(k0[sel]), c_int(l0[sel]))


def _stop_at_nan_index(h, k, l, live, trigger):
    """nanoBragg crashes at a live step with a nan Miller index while interpolation is on (it
    is on before the step ``trigger`` that switches it off, in serial order): stop there too."""
    if all(math.isfinite(float(x.detach().sum())) for x in (h, k, l)):
        return  # no nan index (a sum is nan whenever one of its terms is)
    bad = (nan_index(h, k, l) & live).reshape(-1)
    if bool(bad.any()) and (trigger is None or int(torch.argmax(bad.to(torch.uint8))) < trigger):
        raise InputError(NAN_INDEX_MESSAGE)


def _dtype(name):
    return torch.float64 if name == "float64" else torch.float32


class _Model:
    """Set-up tensors of one run (everything that does not depend on the pixel)."""

    def __init__(self, config, params):
        c = config
        self.c = c
        self.dtype = dt_out = _dtype(c.run.dtype)
        # Geometry up to the Miller indices runs in float64 on the device in both dtypes: h ~ 10-100
        # must be resolved to ~1e-7 of a reciprocal-lattice unit, beyond float32's 7 digits. Every
        # per-step tensor after that (lattice and structure factors, sums) is in the config dtype.
        # (-geometry_dtype float32 turns this off: then every tensor is float32, at ~1e-2 accuracy)
        self.gdt = dt = _dtype(getattr(c.run, "geometry_dtype", "float64"))
        self.device = dev = torch.device(c.run.device)
        t = lambda x: torch.as_tensor(x, dtype=dt, device=dev)  # noqa: E731
        params = {
            k: (v.to(device=dev, dtype=dt) if isinstance(v, torch.Tensor) else t(v))
            for k, v in (params or {}).items()
        }
        unknown = set(params) - set(PARAM_NAMES)
        if unknown:
            raise ValueError(f"unknown parameters {sorted(unknown)}; known: {PARAM_NAMES}")
        self.params = params
        lam = params.get("lambda_A")
        self.lambda0 = lam / 1.0e10 if lam is not None else t(c.beam.lambda0)
        self.geo = detector_setup(c.detector, c.beam.beam_vector, params, dt, dev)
        self.cryst = build_cell(c.crystal, params, self.lambda0, dt, dev)
        Nt = params.get("N")
        self.N = (Nt[0], Nt[1], Nt[2]) if Nt is not None else tuple(t(x) for x in c.crystal.N)
        # which axes have a lattice factor (N > 1) and the float32 sign rule follow the N the
        # image is computed with: the params' when given, not the command line's (plain numbers
        # for these choices only; the gradient flows through self.N)
        self.N_values = tuple(Nt.detach().tolist()) if Nt is not None else c.crystal.N
        self.umats = mosaic_umats(c.crystal, params, dt, dev)
        normal, first = phi_angles(c.crystal, c.run.phi_carryover_mode)
        self.spindle = spindle = t(c.crystal.spindle)
        self.phis_true = phi_angles(c.crystal, "spec")[0]  # phi0 + tic * phistep
        self.tables = {}
        for name, angles in (("normal", normal), ("first", first)):
            ang = t(angles)
            self.tables[name] = tuple(
                rotation_table(self.cryst[k], spindle, ang, self.umats, c.crystal.mosaic_domains)
                for k in ("a_m", "b_m", "c_m")
            )  # each (F, M, 3)
        # the x, y, z components of the normal tables as contiguous (F, M) tensors: the h, k, l
        # products broadcast them against every scattering vector, ~3x faster than strided views
        self.table_comps = tuple(
            tuple(v.contiguous() for v in comps(tab)) for tab in self.tables["normal"]
        )
        self.carry_first = first != normal
        self.incident = incident_vectors(c.beam.source_dirs, dt, dev)  # (R, 3)
        if c.beam.source_lambda_factors is not None:
            self.lambdas = self.lambda0 * t(c.beam.source_lambda_factors)
        else:
            self.lambdas = t(c.beam.source_lambdas)
        self.polar_vector = t(c.beam.polar_vector)
        self.hkl = HklTable(c.sf, dt_out, dev)
        self.steps = c.steps
        self.T = c.detector.thicksteps
        self.S = c.sampling.oversample**2
        self.R = len(c.beam.source_dirs)
        self.F = c.crystal.phisteps
        self.M = c.crystal.mosaic_domains

    # ---------------------------------------------------------------- pixel geometry
    def pixel_part(self, fast, slow):
        """Per (P, T, S[, R]) quantities of a chunk of pixels."""
        c, geo = self.c, self.geo
        pos, Fdet, Sdet = subpixel_positions(
            geo,
            c.detector,
            c.beam.beam_vector,
            fast,
            slow,
            c.sampling.oversample,
            self.gdt,
            self.device,
        )
        diffracted, airpath = unitize(pos)
        sm = c.sampling
        # nanoBragg computes the solid angle once per pixel (its first sub-pixel) unless
        # -oversample_omega: then only that one is needed, (P, 1, 1)
        omega = solid_angle(
            airpath if sm.oversample_omega else airpath[:, :1, :1],
            geo["close_distance"],
            c.detector.pixel_size,
            c.detector.point_pixel,
        )
        if c.detector.thick > 0.0 or c.sampling.oversample_thick:
            cap = capture_fraction(diffracted, geo["odet"], c.detector, self.gdt, self.device)
        else:
            cap = torch.ones_like(airpath)
        d = diffracted[:, :, :, None, :]  # (P, T, S, 1, 3)
        inc = self.incident  # (R, 3)
        lam = self.lambdas[:, None]
        scattering = (d - inc) / lam  # (P, T, S, R, 3)
        sx, sy, sz = comps(scattering)
        stol = 0.5 * torch.sqrt(sx * sx + sy * sy + sz * sz)
        dmin = c.beam.dmin
        if dmin > 0.0:
            passed = ~(
                (stol > 0.0) & (dmin > 0.5 / torch.where(stol > 0, stol, torch.ones_like(stol)))
            )
        else:
            passed = torch.ones_like(stol, dtype=torch.bool)
        if sm.oversample_polar:
            polar_all = polarization_factor(
                c.beam.polarization,
                inc.expand_as(scattering),
                d.expand_as(scattering),
                self.polar_vector,
            )
            polar_first = None
        else:
            # nanoBragg computes the factor once per pixel, at the first source that passes the
            # dmin cut (at the first sub-pixel's first source when none passes; unused then)
            P = pos.shape[0]
            first = torch.argmax(passed.reshape(P, -1).to(torch.uint8), dim=1)
            R = inc.shape[0]
            d_first = diffracted.reshape(P, -1, 3)[torch.arange(P, device=pos.device), first // R]
            polar_first = polarization_factor(
                c.beam.polarization, inc[first % R], d_first, self.polar_vector
            )
            polar_all = None
        return dict(
            pos=pos,
            Fdet=Fdet,
            Sdet=Sdet,
            diffracted=diffracted,
            airpath=airpath,
            omega=omega,
            cap=cap,
            scattering=scattering,
            stol=stol,
            passed=passed,
            polar_all=polar_all,  # (P, T, S, R) with -oversample_polar, else None
            polar_first=polar_first,  # (P,) without -oversample_polar, else None
        )

    # ---------------------------------------------------------------- one chunk
    def chunk(
        self,
        fast,
        slow,
        first_sweep,
        interp_on: bool,
        want_taps=(),
        want_printout=None,
        range_only=False,
    ):
        """Compute a chunk of pixels.

        first_sweep: None or a list of (p, t, s, r) positions (inside this chunk) of first sweeps:
            the run's first sweep (c-parity), or the first sweep of each thread block in the
            chunk (c-parity-omp). These sweeps use the "first" rotation table.
        interp_on: the tricubic switch at the start of the chunk (serial state).
        Returns (values (P,), info dict, interp_on after the chunk).
        """
        c = self.c
        pp = self.pixel_part(fast, slow)
        P = fast.shape[0]
        T, S, R, F, M = self.T, self.S, self.R, self.F, self.M
        sx, sy, sz = comps(pp["scattering"])
        sx, sy, sz = sx[..., None, None], sy[..., None, None], sz[..., None, None]  # (P,T,S,R,1,1)

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

        h, k, l = (dot(*xyz) for xyz in self.table_comps)  # (P,T,S,R,F,M)
        fmask = None
        if first_sweep and self.carry_first:
            af, bf, cf = self.tables["first"]
            at = torch.as_tensor(first_sweep, dtype=torch.long, device=self.device).T
            where_first = (at[0], at[1], at[2], at[3])  # p, t, s, r of each first sweep
            fmask = torch.zeros((P, T, S, R, 1, 1), dtype=torch.bool, device=self.device)
            fmask[where_first] = True
            sv = pp["scattering"][where_first][:, None, None, :]  # (n, 1, 1, 3)
            # the sweeps' (F, M) indices from the first table replace the normal ones (out of
            # place: the gradient reaches both tables)
            h = h.index_put(where_first, dot3(sv, af))
            k = k.index_put(where_first, dot3(sv, bf))
            l = l.index_put(where_first, dot3(sv, cf))
        if range_only and c.sf.interpolate and interp_on:
            # the switch can only flip at an out-of-range step: none in the chunk, nothing to do
            if not bool(self.hkl.out_of_interpolation_range(h, k, l).any()):
                return None, {}, interp_on
        hkl = self.hkl
        sm = c.sampling
        interp_now = c.sf.interpolate and interp_on
        oversampled = sm.oversample_thick or sm.oversample_polar or sm.oversample_omega
        # Without a gradient, a run with no HKL table, the square shape, no interpolation and
        # nothing to print needs neither the rounded indices nor the mask of live steps.
        lean = (
            inplace
            and hkl.flat is None
            and c.crystal.shape == "square"
            and not interp_now
            and not range_only
            and not want_taps
            and want_printout is None
        )
        if lean:
            h0 = k0 = l0 = None
        else:
            h0 = torch.ceil(h - 0.5)
            k0 = torch.ceil(k - 0.5)
            l0 = torch.ceil(l - 0.5)
        cr = self.cryst
        dt = self.dtype
        F_latt, parts = lattice_factor(
            c.crystal.shape,
            h,
            k,
            l,
            h0,
            k0,
            l0,
            tuple(n.to(dt) for n in self.N),
            c.crystal.fudge,
            cr["a_star"],
            cr["b_star"],
            cr["c_star"],
            self.N_values,
            out_dtype=dt,
        )
        passed = pp["passed"][..., None, None]
        evaluated = passed.expand(P, T, S, R, F, M)
        if c.beam.water_size == 0.0:
            # a step with F_latt == 0 (and no dmin cut) adds F_cell^2 * 0 * 0 = 0 anyway, unless
            # F_cell is nan or infinite (nan * 0): nanoBragg skips the step (L2869), so mask it
            term_needs_mask = c.beam.dmin > 0.0 or not self.hkl.all_finite
            if lean and not term_needs_mask and not oversampled:
                live = None  # not needed
            elif c.beam.dmin <= 0.0:
                live = F_latt != 0.0
            else:
                live = evaluated & (F_latt != 0.0)
        else:
            live = evaluated
            term_needs_mask = True
        trigger = None
        if c.sf.interpolate and interp_on:
            out_range = hkl.out_of_interpolation_range(h, k, l)
            oor = out_range & live
            flat = oor.reshape(-1)
            if bool(flat.any()):
                trigger = int(torch.argmax(flat.to(torch.uint8)))
            _stop_at_nan_index(h, k, l, live, trigger)
        if range_only:
            info = {}
            if trigger is not None:
                info["interp_warning"] = _interp_warning(trigger, h, k, l, h0, k0, l0)
            return None, info, (interp_on and trigger is None)
        if c.sf.interpolate and interp_on:
            valid = ~out_range
            # only live steps add a term; traces and printouts also show the others' values
            need = live if not want_taps and want_printout is None else None
            F_int = hkl.tricubic(h, k, l, valid, need=need)
            all_valid = trigger is None and not bool(out_range.any())
            F_near = None if all_valid else hkl.nearest(h0.to(dt), k0.to(dt), l0.to(dt))
            # nanoBragg's lookup at an out-of-range index (L2935-3007) sets F_cell = default_F,
            # switches interpolation off, and then, interpolation being off, takes the
            # nearest-neighbour value: the step that flips the switch uses the table value
            # (default_F only outside the table) [T]. Out-of-range steps before the flip are
            # steps nanoBragg skips (F_latt == 0); the traces print the value the lookup
            # would give there, the same nearest-neighbour value.
            if all_valid:
                F_cell = F_int
            elif trigger is None:
                F_cell = torch.where(valid, F_int, F_near)
            else:
                serial = torch.arange(h.numel(), device=self.device).reshape(h.shape)
                F_cell = torch.where(valid & (serial < trigger), F_int, F_near)
            interp_after = trigger is None
        elif h0 is None:  # lean: no table, F_cell is default_F everywhere
            F_cell = torch.full((), hkl.default_F, dtype=dt, device=self.device).expand(h.shape)
            interp_after = interp_on
        else:
            F_cell = hkl.nearest(h0.to(dt), k0.to(dt), l0.to(dt))
            interp_after = interp_on
        if inplace and hkl.flat is None and not (c.sf.interpolate and interp_on):
            # F_cell is default_F everywhere: ((F*F)*F_latt)*F_latt with F*F a python double
            term = F_latt * (hkl.default_F * hkl.default_F)
            term *= F_latt
        elif inplace:
            term = F_cell * F_cell
            term *= F_latt
            term *= F_latt
        else:
            term = F_cell * F_cell * F_latt * F_latt
        if term_needs_mask or not inplace:
            term = torch.where(live, term, 0.0)
        K = T * S * R * F * M
        flat_term = term.reshape(P, K)
        I_bg = c.beam.I_bg
        sm = c.sampling
        if sm.oversample_thick or sm.oversample_polar or sm.oversample_omega:
            g = torch.ones_like(term)
            if sm.oversample_thick:
                g = g * pp["cap"].to(dt)[:, :, :, None, None, None]
            if sm.oversample_polar:
                g = g * pp["polar_all"].to(dt)[..., None, None]
            if sm.oversample_omega:
                g = g * pp["omega"].to(dt)[:, :, :, None, None, None]
            g = torch.where(live, g, torch.ones_like(g)).reshape(P, K)
            suffix = torch.flip(torch.cumprod(torch.flip(g, dims=(1,)), dim=1), dims=(1,))
            I = torch.cumsum(flat_term * suffix, dim=1)[:, -1]
            if I_bg != 0.0:
                I = I_bg * suffix[:, 0] + I
        else:
            if I_bg != 0.0:
                flat_term = torch.cat(
                    (torch.full((P, 1), I_bg, dtype=self.dtype, device=self.device), flat_term),
                    dim=1,
                )
            I = torch.cumsum(flat_term, dim=1)[:, -1]
        # factors of the final scaling, as nanoBragg caches them
        omega_first = pp["omega"][:, 0, 0]
        if c.detector.thick > 0.0:
            cap_final = pp["cap"][:, T - 1, 0]
        else:
            cap_final = torch.ones_like(omega_first)
        passed_flat = pp["passed"].reshape(P, T * S * R)
        any_pass = passed_flat.any(dim=1)
        if pp["polar_first"] is not None:
            polar_first = pp["polar_first"]
        else:
            polar_flat = pp["polar_all"].reshape(P, T * S * R)
            first_pass = torch.argmax(passed_flat.to(torch.uint8), dim=1)
            polar_first = torch.gather(polar_flat, 1, first_pass[:, None])[:, 0]
        if c.beam.nopolar:
            polar_cached = torch.ones_like(polar_first)
        else:
            polar_cached = torch.where(any_pass, polar_first, torch.zeros_like(polar_first))
        polar_applied = polar_cached if not sm.oversample_polar else torch.ones_like(polar_first)
        # the value nanoBragg first computes for the pixel (with -nopolar: only -oversample_polar)
        # the pixel starts at polar = 1 with -nopolar, else 0, and keeps it when no source
        # passes the dmin cut
        polar_initial = (torch.ones_like if c.beam.nopolar else torch.zeros_like)(polar_first)
        if c.beam.nopolar and not sm.oversample_polar:
            polar_first_computed = polar_cached
        else:
            polar_first_computed = torch.where(any_pass, polar_first, polar_initial)
        omega_applied = omega_first if not sm.oversample_omega else torch.ones_like(omega_first)
        cap_applied = cap_final if not sm.oversample_thick else torch.ones_like(omega_first)
        value = c.beam.r_e_sqr * c.beam.fluence * I / self.steps
        if not sm.oversample_thick:
            value = value * cap_final.to(dt)
        if not sm.oversample_polar:
            value = value * polar_cached.to(dt)
        if not sm.oversample_omega:
            value = value * omega_first.to(dt)
        if sm.oversample_omega:
            omega_sum = _f(pp["omega"].sum())
        else:
            omega_sum = _f(omega_first.sum()) * T * S
        info = {"omega_sum": omega_sum}
        # ---------------- taps of traced pixels (t=0, s=0, r=0) ----------------
        taps = {}
        for p in want_taps:
            use_first = fmask is not None and bool(fmask[p, 0, 0, 0, 0, 0])
            tab = self.tables["first" if use_first else "normal"]
            taps[p] = {
                "pixel_pos_meters": pp["pos"][p, 0, 0],
                "R_distance_meters": pp["airpath"][p, 0, 0],
                "omega_pixel_sr": omega_first[p],
                "obliquity_factor": self.geo["close_distance"] / pp["airpath"][p, 0, 0],
                "diffracted_vec": pp["diffracted"][p, 0, 0],
                "incident_vec": self.incident[0],
                "lambda_angstroms": self.lambdas[0] * 1e10,
                "scattering_vec_A_inv": pp["scattering"][p, 0, 0, 0] * 1e-10,
                "stol_A_inv": pp["stol"][p, 0, 0, 0] * 1e-10,
                "polar": polar_first_computed[p],
                # layer 0, sub-pixel (0,0): what nanoBragg computed first (also with
                # -oversample_thick on a zero-thickness detector, where it is 0)
                "capture_fraction": pp["cap"][p, 0, 0],
                "rot_a_angstroms": tab[0] * 1e10,
                "rot_b_angstroms": tab[1] * 1e10,
                "rot_c_angstroms": tab[2] * 1e10,
                "hkl_frac": torch.stack((h[p, 0, 0, 0], k[p, 0, 0, 0], l[p, 0, 0, 0]), dim=-1),
                "hkl_rounded": torch.stack(
                    (h0[p, 0, 0, 0], k0[p, 0, 0, 0], l0[p, 0, 0, 0]), dim=-1
                ),
                "F_latt": F_latt[p, 0, 0, 0],
                "F_cell": F_cell[p, 0, 0, 0],
                "I_term": term[p, 0, 0, 0],
                "I_before_scaling": I[p],
                "polar_applied": polar_applied[p],
                "omega_applied_sr": omega_applied[p],
                "capture_fraction_applied": cap_applied[p],
                "I_pixel_final": value[p],
                "evaluated": bool(pp["passed"][p, 0, 0, 0]),
            }
            if parts is not None:
                taps[p]["F_latt_a"] = parts[0][p, 0, 0, 0].expand(F, M)
                taps[p]["F_latt_b"] = parts[1][p, 0, 0, 0].expand(F, M)
                taps[p]["F_latt_c"] = parts[2][p, 0, 0, 0].expand(F, M)
        info["taps"] = taps
        # ---------------- printout values (last loop iteration) ----------------
        if want_printout is not None:
            info["printout"] = self._printout(
                want_printout,
                pp,
                h,
                k,
                l,
                h0,
                k0,
                l0,
                F_latt,
                F_cell,
                live,
                I,
                polar_cached,
                omega_first,
                cap_final,
                fmask,
            )
        if trigger is not None:
            info["interp_warning"] = _interp_warning(trigger, h, k, l, h0, k0, l0)
        return value, info, interp_after

    def _printout(
        self, idx, pp, h, k, l, h0, k0, l0, F_latt, F_cell, live, I, polar, omega, cap, fmask
    ):
        """Values of the last loop iteration of each pixel in ``idx`` (for -printout).

        nanoBragg's loop variables (h, k, l, F_latt, the cell vectors; F_cell) keep the values of
        the last step that assigned them, so a pixel where no source passes -dmin (or where every
        step is skipped) shows an earlier pixel's values: computed for every pixel of the chunk
        with tensor indexing, forward-filled in raster order, carried between chunks as O(1)
        state (``self.printout_state``). Returned as python numbers.
        """
        T, S, R, F, M = self.T, self.S, self.R, self.F, self.M
        dev = self.device
        P = pp["passed"].shape[0]
        p = torch.arange(P, device=dev)
        passed = pp["passed"].reshape(P, T * S * R)
        any_pass = passed.any(dim=1)
        # index of the last evaluated (passing) layer/sub-pixel/source
        last = T * S * R - 1 - torch.argmax(torch.flip(passed, dims=(1,)).to(torch.uint8), dim=1)
        t = torch.div(last, S * R, rounding_mode="floor")
        s = torch.div(last % (S * R), R, rounding_mode="floor")
        r = last % R
        sel = (p, t, s, r, torch.full_like(p, F - 1), torch.full_like(p, M - 1))
        use_first = torch.zeros(P, dtype=torch.bool, device=dev)
        if fmask is not None:
            use_first = fmask[p, t, s, r, 0, 0]
        vec_n = torch.stack([tb[F - 1, M - 1] for tb in self.tables["normal"]])  # (3 axes, 3)
        vec_f = torch.stack([tb[F - 1, M - 1] for tb in self.tables["first"]])
        vecs = torch.where(use_first[:, None, None], vec_f, vec_n).reshape(P, 9)
        ev = torch.cat(
            (
                torch.stack((h[sel], k[sel], l[sel], h0[sel], k0[sel], l0[sel]), dim=1).to(vecs),
                F_latt[sel].to(vecs)[:, None],
                vecs,
            ),
            dim=1,
        ).detach()  # (P, 16): h k l h0 k0 l0 F_latt a(3) b(3) c(3)
        K = live[0].numel()
        lv = live.reshape(P, K)
        has_live = lv.any(dim=1)
        last_live = K - 1 - torch.argmax(torch.flip(lv, dims=(1,)).to(torch.uint8), dim=1)
        fc = F_cell.reshape(P, K).gather(1, last_live[:, None]).detach().to(vecs)  # (P, 1)
        state = self.printout_state
        ev, state["eval"] = _forward_fill(ev, any_pass, state["eval"])
        fc, state["fcell"] = _forward_fill(fc, has_live, state["fcell"])
        sm = self.c.sampling
        if sm.oversample_polar:
            pol = torch.where(any_pass, pp["polar_all"][p, t, s, r], polar)
        else:
            pol = polar
        om = pp["omega"][:, T - 1, S - 1] if sm.oversample_omega else omega
        cp = pp["cap"][:, T - 1, S - 1] if sm.oversample_thick else cap
        out = {}
        if not len(idx):
            return out
        q = torch.as_tensor(idx, dtype=torch.long, device=dev)
        evl = ev[q].tolist()
        fcl = fc[q, 0].tolist()
        stol = pp["stol"][q, T - 1, S - 1, R - 1].detach().tolist()
        pos = pp["pos"][q, T - 1, S - 1].detach().tolist()
        Iv, pol, om, cp = (x[q].detach().tolist() for x in (I, pol, om, cp))
        for j, qq in enumerate(idx):
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


def _bytes_per_element(config, grad: bool):
    """Conservative bytes of intermediates per (pixel x inner step) element."""
    isz = 8 if config.run.dtype == "float64" else 4
    per = 48 * isz + 16
    if config.sf.interpolate:
        per += 64 * (3 * isz + 8) + 24 * isz
    if grad:
        per *= 3
    return per


def chunk_pixels(config, grad=False) -> int:
    """Pixels per chunk so that the chunk's intermediates fit the memory budget."""
    c = config
    inner = (
        c.detector.thicksteps
        * c.sampling.oversample**2
        * len(c.beam.source_dirs)
        * c.crystal.phisteps
        * c.crystal.mosaic_domains
    )
    per_pixel = inner * _bytes_per_element(c, grad) + 64 * 1024 // 64
    by_budget = max(1, int(c.run.memory_budget_bytes // per_pixel))
    # Smaller chunks are faster: each intermediate then stays in the CPU caches and its memory
    # is reused by the allocator instead of being mapped afresh (page faults) for every op.
    # (Only an upper bound: the budget still decides when it is smaller.) No floor in pixels:
    # with many sub-pixels per pixel (-oversample 85: 7225 per pixel) a floor of 256 pixels made
    # the chunk, and the memory, follow the oversampling (1.1 GiB for a 48 x 48 image); a chunk
    # of a few pixels costs ~1 ms of overhead against ~15 ms of work.
    if c.run.device == "cpu":
        return min(by_budget, max(1, CACHE_ELEMENTS // inner))
    return by_budget


#: elements (pixel x inner step) per chunk on the CPU: intermediates of ~4 MiB (float64)
CACHE_ELEMENTS = 1 << 19


def active_pixels(config, device):
    """Flat indices (slow*fpixels + fast) of the pixels nanoBragg renders, in raster order."""
    d = config.detector
    sl = torch.arange(d.spixels, device=device)[:, None]
    fa = torch.arange(d.fpixels, device=device)[None, :]
    xmin, xmax, ymin, ymax = d.roi
    ok = (fa >= xmin) & (fa <= xmax) & (sl >= ymin) & (sl <= ymax)
    if d.mask is not None:
        ok = ok & torch.as_tensor(d.mask != 0, device=device)
    return torch.nonzero(ok.reshape(-1)).reshape(-1)


def _positions_in(active, flat):
    """Sorted positions in ``active`` (ascending flat indices) of those of ``flat`` it holds."""
    if not flat or not active.numel():
        return []
    q = torch.as_tensor(sorted(flat), dtype=active.dtype, device=active.device)
    pos = torch.searchsorted(active, q).clamp(max=active.numel() - 1)
    hit = active[pos] == q
    return sorted(int(i) for i in pos[hit].tolist())


def thread_blocks(config):
    """[(first, end) slow rows] of the blocks that each start from the unrotated cell.

    In c-parity-omp nanoBragg's OpenMP build is reproduced: its pixel loop runs over slow rows
    with a static schedule (no chunk size) and each thread keeps its own copy of the rotated
    cell. libgomp then gives thread i of T a contiguous block, the first n % T threads
    n // T + 1 rows and the others n // T (checked against libgomp by experiment). Threads
    without rows are left out. In every other mode the whole detector is one block.
    """
    n = config.detector.spixels
    if config.run.phi_carryover_mode != "c-parity-omp":
        return [(0, n)]
    threads = config.run.omp_threads
    q, r = divmod(n, threads)
    blocks = []
    for i in range(min(threads, n)):
        first = i * (q + 1) if i < r else i * q + r
        blocks.append((first, first + (q + 1 if i < r else q)))
    return blocks


def _first_sweeps(model, active, chunk, blocks):
    """[(index into active, t, s, r)] of the first sweep (first source passing dmin) of each
    block of slow rows that has one, in raster order."""
    F = model.c.detector.fpixels
    bounds = torch.tensor([[a * F, b * F] for a, b in blocks], dtype=active.dtype)
    lo_hi = torch.searchsorted(active, bounds.to(active.device)).tolist()
    out = []
    with torch.no_grad():
        for lo, hi in lo_hi:  # one search per block, never per pixel
            if lo >= hi:
                continue  # no active pixel in the block: it has no effect
            if model.c.beam.dmin <= 0.0:
                out.append((lo, 0, 0, 0))
                continue
            for start in range(lo, hi, chunk):
                idx = active[start : min(hi, start + chunk)]
                pp = model.pixel_part(idx % F, idx // F)
                passed = pp["passed"].reshape(idx.numel(), -1)
                anyp = passed.any(dim=1)
                if bool(anyp.any()):
                    p = int(torch.argmax(anyp.to(torch.uint8)))
                    e = int(torch.argmax(passed[p].to(torch.uint8)))
                    t, rest = divmod(e, model.S * model.R)
                    s, r = divmod(rest, model.R)
                    out.append((start + p, t, s, r))
                    break
    return out


_ALLOCATOR_TUNED = False


def _tune_allocator() -> None:
    """Keep freed heap memory for reuse instead of returning it to the system (glibc).

    A chunk's intermediates (a few MiB) are allocated and freed again for every chunk; with
    glibc's defaults the freed top of the heap is trimmed and the next chunk maps it afresh,
    one page fault per 4 KiB (about half the run time on a 2-core machine). A trim threshold of
    256 MiB and a fixed 32 MiB mmap threshold (large tensors such as the image still come from
    mmap and go back when freed) keep them. Once per process; set NBSIM_NO_MALLOPT=1 to skip.
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED:
        return
    _ALLOCATOR_TUNED = True
    import os
    import sys

    if not sys.platform.startswith("linux") or os.environ.get("NBSIM_NO_MALLOPT"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6")
        M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3
        libc.mallopt(M_TRIM_THRESHOLD, 256 << 20)
        libc.mallopt(M_MMAP_THRESHOLD, 32 << 20)
    except (OSError, AttributeError):  # not glibc: leave the allocator alone
        pass


def simulate(config, params: dict | None = None) -> SimulationResult:
    """Run the simulation of ``config``.

    params: optional tensors for the differentiable inputs (see PARAM_NAMES; units as on the
    command line: cell in Angstrom and degrees, misset and mosaic spread in degrees, distance and
    beam centre (F, S as the pivot uses them) in mm, lambda in Angstrom, N as numbers of cells).
    Gradients flow from ``result.image`` to these tensors.
    """
    from simulator.trace import format_trace

    if config.run.device == "cpu":
        _tune_allocator()
    model = _Model(config, params)
    model.printout_state = {"eval": None, "fcell": None}
    c = config
    dev, dt = model.device, model.dtype
    grad = any(isinstance(v, torch.Tensor) and v.requires_grad for v in model.params.values())
    F_pix = c.detector.fpixels
    active = active_pixels(c, dev)
    n_active = int(active.numel())
    chunk = chunk_pixels(c, grad)
    traced = list(dict.fromkeys(c.run.trace_pixels))
    traced_flat = {sl * F_pix + fa: (sl, fa) for sl, fa in traced}
    printout_flat = set()
    if c.output.printout:
        if c.output.printout_pixel is not None:
            fp, sp = c.output.printout_pixel
            printout_flat.add(sp * F_pix + fp)
        else:
            printout_flat = None  # every pixel
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        if c.run.phi_carryover_mode in ("c-parity", "c-parity-omp"):
            firsts = _first_sweeps(model, active, chunk, thread_blocks(c))
        else:
            firsts = []
        first_at = [f[0] for f in firsts]  # sorted positions in the active list
        interp_on = bool(c.sf.interpolate)
        values, where, taps, printouts = [], [], {}, {}
        npix = c.detector.spixels * F_pix
        image_flat = torch.zeros(npix, dtype=dt, device=dev)
        computed = torch.zeros(npix, dtype=torch.bool, device=dev)
        omega_sum = 0.0
        interp_warning = None
        active_list = active
        # segments: (start, stop, compute) over the active list
        if c.run.trace_only:
            marks = _positions_in(active, list(traced_flat))
            segments, prev = [], 0
            for m in marks:
                if m > prev and interp_on:
                    segments.append((prev, m, False))
                segments.append((m, m + 1, True))
                prev = m + 1
        else:
            segments = [(0, n_active, True)]
        for seg_start, seg_stop, compute in segments:
            for start in range(seg_start, seg_stop, chunk):
                stop = min(seg_stop, start + chunk)
                idx = active_list[start:stop]
                fast, slow = idx % F_pix, idx // F_pix
                lo, hi = bisect_left(first_at, start), bisect_left(first_at, stop)
                fs = [(f[0] - start,) + tuple(f[1:]) for f in firsts[lo:hi]] or None
                if not compute:
                    _, info, interp_on = model.chunk(fast, slow, fs, interp_on, range_only=True)
                    interp_warning = info.get("interp_warning", interp_warning)
                    continue
                idx_list = idx.tolist()
                want = [i for i, f in enumerate(idx_list) if f in traced_flat]
                if not c.output.printout:
                    wp = None
                elif printout_flat is None:
                    wp = list(range(len(idx_list)))
                else:
                    wp = [i for i, f in enumerate(idx_list) if f in printout_flat]
                val, info, interp_on = model.chunk(
                    fast, slow, fs, interp_on, want_taps=want, want_printout=wp
                )
                if grad:  # keep the graph: assemble the image out of place at the end
                    values.append(val)
                    where.append(idx)
                else:
                    image_flat[idx] = val
                computed[idx] = True
                omega_sum += info["omega_sum"]
                for p, tp in info["taps"].items():
                    taps[traced_flat[idx_list[p]]] = tp
                if "interp_warning" in info:
                    interp_warning = info["interp_warning"]
                for p, po in info.get("printout", {}).items():
                    printouts[(idx_list[p] // F_pix, idx_list[p] % F_pix)] = po
        if values:
            image_flat = image_flat.index_put((torch.cat(where),), torch.cat(values))
        image = image_flat.reshape(c.detector.spixels, F_pix)
    setup = _setup_numbers(model)
    result = SimulationResult(
        image=image,
        taps=taps,
        setup=setup,
        printouts=printouts,
        omega_sum=omega_sum,
        computed=computed.reshape(c.detector.spixels, F_pix),
        interp_warning=interp_warning,
    )
    if traced:
        result.trace_lines = format_trace(c, model_setup_taps(model), taps, traced, image)
    return result


def model_setup_taps(model):
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
        "steps": model.steps,
    }


def _setup_numbers(model):
    g, cr = model.geo, model.cryst
    floats = lambda v: tuple(float(x) for x in v.detach().tolist())  # noqa: E731
    out = {
        k: _f(g[k])
        for k in (
            "distance",
            "close_distance",
            "Fbeam",
            "Sbeam",
            "Fclose",
            "Sclose",
            "ORGX",
            "ORGY",
        )
    }
    for k in ("dials_origin", "fdet", "sdet", "odet", "pix0"):
        out[k] = floats(g[k])
    for k in ("a", "b", "c", "a_star", "b_star", "c_star"):
        out[k] = floats(cr[k])
    out["V_cell"] = _f(cr["V_cell"])
    return out

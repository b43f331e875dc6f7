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

from bisect import bisect_left
from dataclasses import dataclass, field

import torch

from simulator import steps
from simulator.beam import incident_vectors, polarization_factor
from simulator.chunking import (
    active_pixels,
    chunk_pixels,
    first_sweeps,
    positions_in,
    thread_blocks,
    tune_allocator,
)
from simulator.crystal import build_cell, mosaic_umats, phi_angles, rotation_table
from simulator.detector import capture_fraction, detector_setup, solid_angle, subpixel_positions
from simulator.geometry import comps, unitize
from simulator.structure_factors import HklTable
from simulator.taps import pixel_taps, printout_values, setup_numbers, setup_taps

__all__ = ["PARAM_NAMES", "SimulationResult", "chunk_pixels", "simulate", "thread_blocks"]

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
        # c-parity: the first sweep's phi = 0 keeps the unrotated cell (see steps.miller_indices)
        self.first_sweep_differs = first != normal
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
        range_only: only follow the switch (trace-only runs between traced pixels).
        Returns (values (P,), info dict, interp_on after the chunk).
        """
        c = self.c
        pp = self.pixel_part(fast, slow)
        h, k, l, first_mask = steps.miller_indices(self, pp["scattering"], first_sweep)  # noqa: E741
        interp_now = c.sf.interpolate and interp_on
        if range_only and interp_now:
            # the switch can only flip at an out-of-range step: none in the chunk, nothing to do
            if not bool(self.hkl.out_of_interpolation_range(h, k, l).any()):
                return None, {}, interp_on
        sm = c.sampling
        oversampled = sm.oversample_thick or sm.oversample_polar or sm.oversample_omega
        lean = self._lean(interp_now, range_only, want_taps, want_printout)
        h0, k0, l0 = (None, None, None) if lean else steps.rounded_indices(h, k, l)
        F_latt, parts = steps.lattice(self, h, k, l, h0, k0, l0)
        live, term_needs_mask = steps.live_steps(
            self, pp["passed"], F_latt, lean, oversampled, h.shape
        )
        st = steps.ChunkSteps(h, k, l, h0, k0, l0, first_mask, F_latt, parts, live)
        out_range = trigger = None
        if interp_now:
            out_range, trigger = steps.interpolation_range(self, h, k, l, live)
        info = {}
        if trigger is not None:
            info["interp_warning"] = steps.interp_warning(trigger, st)
        if range_only:
            return None, info, (interp_on and trigger is None)
        # only live steps add a term; traces and printouts also show the others' values
        need = live if not want_taps and want_printout is None else None
        st.F_cell = steps.structure_factor(self, st, interp_now, out_range, trigger, need)
        st.I_term = steps.intensity_terms(self, st, interp_now, term_needs_mask)
        I = steps.accumulate(self, st.I_term, pp, live)  # noqa: E741
        sc = steps.final_scaling(self, pp, I)
        T, S = self.T, self.S
        if sm.oversample_omega:
            info["omega_sum"] = float(pp["omega"].sum().detach())
        else:
            info["omega_sum"] = float(sc.omega_first.sum().detach()) * T * S
        info["taps"] = {p: pixel_taps(self, pp, st, sc, I, p) for p in want_taps}
        if want_printout is not None:
            info["printout"] = printout_values(self, want_printout, pp, st, sc, I)
        return sc.I_pixel, info, (trigger is None if interp_now else interp_on)

    def _lean(self, interp_now, range_only, want_taps, want_printout) -> bool:
        """Without a gradient, a run with no HKL table, the square shape, no interpolation and
        nothing to print needs neither the rounded indices nor the mask of live steps."""
        return (
            not torch.is_grad_enabled()
            and self.hkl.flat is None
            and self.c.crystal.shape == "square"
            and not interp_now
            and not range_only
            and not want_taps
            and want_printout is None
        )

def simulate(config, params: dict | None = None) -> SimulationResult:
    """Run the simulation of ``config``.

    params: optional tensors for the differentiable inputs (see PARAM_NAMES; units as on the
    command line: cell in Angstrom and degrees, misset and mosaic spread in degrees, distance and
    beam centre (F, S as the pivot uses them) in mm, lambda in Angstrom, N as numbers of cells).
    Gradients flow from ``result.image`` to these tensors.
    """
    from simulator.trace import format_trace

    if config.run.device == "cpu":
        tune_allocator()
    model = _Model(config, params)
    model.printout_state = {"eval": None, "fcell": None}
    c = config
    grad = any(isinstance(v, torch.Tensor) and v.requires_grad for v in model.params.values())
    ctx = torch.enable_grad() if grad else torch.no_grad()
    with ctx:
        run = _Run(model, grad)
        run.walk()
        image = run.image()
    traced = run.traced_pixels
    result = SimulationResult(
        image=image,
        taps=run.taps,
        setup=setup_numbers(model),
        printouts=run.printouts,
        omega_sum=run.omega_sum,
        computed=run.computed.reshape(c.detector.spixels, c.detector.fpixels),
        interp_warning=run.interp_warning,
    )
    if traced:
        result.trace_lines = format_trace(c, setup_taps(model), run.taps, traced, image)
    return result


class _Run:
    """One walk over the active pixels in chunks, and what it gathers (the image values, the
    taps of traced pixels, printouts, the solid-angle sum and the interpolation warning)."""

    def __init__(self, model, grad: bool):
        c = model.c
        self.model, self.grad = model, grad
        dev = model.device
        self.F_pix = c.detector.fpixels
        self.active = active_pixels(c, dev)
        self.chunk = chunk_pixels(c, grad)
        self.traced_pixels = list(dict.fromkeys(c.run.trace_pixels))
        self.traced_flat = {sl * self.F_pix + fa: (sl, fa) for sl, fa in self.traced_pixels}
        self.printout_flat = set()  # flat indices to print out; None: every pixel
        if c.output.printout:
            if c.output.printout_pixel is not None:
                fp, sp = c.output.printout_pixel
                self.printout_flat.add(sp * self.F_pix + fp)
            else:
                self.printout_flat = None
        if c.run.phi_carryover_mode in ("c-parity", "c-parity-omp"):
            self.firsts = first_sweeps(model, self.active, self.chunk, thread_blocks(c))
        else:
            self.firsts = []
        self.first_at = [f[0] for f in self.firsts]  # sorted positions in the active list
        self.interp_on = bool(c.sf.interpolate)
        npix = c.detector.spixels * self.F_pix
        self.values, self.where, self.taps, self.printouts = [], [], {}, {}
        self.image_flat = torch.zeros(npix, dtype=model.dtype, device=dev)
        self.computed = torch.zeros(npix, dtype=torch.bool, device=dev)
        self.omega_sum = 0.0
        self.interp_warning = None

    def segments(self):
        """(start, stop, compute) over the active list: everything, or in a trace-only run the
        traced pixels, with range-only stretches between them while interpolation is on."""
        if not self.model.c.run.trace_only:
            return [(0, int(self.active.numel()), True)]
        segments, prev = [], 0
        for m in positions_in(self.active, list(self.traced_flat)):
            if m > prev and self.interp_on:
                segments.append((prev, m, False))
            segments.append((m, m + 1, True))
            prev = m + 1
        return segments

    def walk(self) -> None:
        for seg_start, seg_stop, compute in self.segments():
            for start in range(seg_start, seg_stop, self.chunk):
                self.one_chunk(start, min(seg_stop, start + self.chunk), compute)

    def one_chunk(self, start, stop, compute) -> None:
        model, F_pix = self.model, self.F_pix
        idx = self.active[start:stop]
        fast, slow = idx % F_pix, idx // F_pix
        lo, hi = bisect_left(self.first_at, start), bisect_left(self.first_at, stop)
        fs = [(f[0] - start,) + tuple(f[1:]) for f in self.firsts[lo:hi]] or None
        if not compute:
            _, info, self.interp_on = model.chunk(fast, slow, fs, self.interp_on, range_only=True)
            self.interp_warning = info.get("interp_warning", self.interp_warning)
            return
        # positions in this chunk of the traced / printed pixels (idx ascends, as active)
        want = positions_in(idx, list(self.traced_flat))
        if not model.c.output.printout:
            wp = None
        elif self.printout_flat is None:
            wp = list(range(idx.numel()))
        else:
            wp = positions_in(idx, list(self.printout_flat))
        val, info, self.interp_on = model.chunk(
            fast, slow, fs, self.interp_on, want_taps=want, want_printout=wp
        )
        if self.grad:  # keep the graph: assemble the image out of place at the end
            self.values.append(val)
            self.where.append(idx)
        else:
            self.image_flat[idx] = val
        self.computed[idx] = True
        self.omega_sum += info["omega_sum"]
        for p, tp in info["taps"].items():
            self.taps[self.traced_flat[int(idx[p])]] = tp
        if "interp_warning" in info:
            self.interp_warning = info["interp_warning"]
        printout = info.get("printout")
        if printout:  # (may be every pixel of the chunk: one gather, not an element each)
            flat = idx[list(printout)].tolist()
            for f, po in zip(flat, printout.values()):
                self.printouts[divmod(f, F_pix)] = po

    def image(self):
        flat = self.image_flat
        if self.values:
            flat = flat.index_put((torch.cat(self.where),), torch.cat(self.values))
        return flat.reshape(self.model.c.detector.spixels, self.F_pix)

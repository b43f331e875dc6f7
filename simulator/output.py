# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Output stage: nanoBragg's console lines (printouts, statistics) and image files.

This stage works on the float32 image nanoBragg would hold (its floatimage is float), in
raster order; the Poisson noise is drawn with nanoBragg's sequential generator on the CPU.
"""

from __future__ import annotations

import math

import numpy as np

from simulator import io as nbio
from simulator import rng
from simulator.geometry import RTD


def image_float32(result) -> np.ndarray:
    return result.image.detach().to("cpu").to(dtype=__import__("torch").float32).numpy()


def statistics(config, img32: np.ndarray):
    """nanoBragg's max_I (and where), mean, rms, rmsd over rendered / ROI pixels."""
    with np.errstate(invalid="ignore", over="ignore"):  # NaN or inf pixels: C's arithmetic
        return _statistics(config, img32)


def _statistics(config, img32: np.ndarray):
    d = config.detector
    xmin, xmax, ymin, ymax = d.roi
    sl = np.arange(d.spixels)[:, None]
    fa = np.arange(d.fpixels)[None, :]
    roi = (fa >= xmin) & (fa <= xmax) & (sl >= ymin) & (sl <= ymax)
    rendered = roi if d.mask is None else roi & (d.mask != 0)
    vals = img32.astype(np.float64)
    rv = vals[rendered]
    max_I, max_x, max_y = 0.0, 0.0, 0.0
    if rv.size and rv.max() > 0.0:
        flat = np.where(rendered.reshape(-1), vals.reshape(-1), -np.inf)
        i = int(
            np.argmax(flat)
        )  # first occurrence of the maximum, as the strict '>' in raster order
        max_I = float(flat[i])
        s_, f_ = divmod(i, d.fpixels)
        os_ = config.sampling.oversample
        sub = d.pixel_size / os_
        max_x = sub * (f_ * os_ + (os_ - 1)) + sub / 2.0
        max_y = sub * (s_ * os_ + (os_ - 1)) + sub / 2.0
    sumn = int(rv.size)
    total = float(np.sum(rv))
    sumsqr = float(np.sum(rv * rv))
    n1 = sumn if sumn > 0 else 1
    avg = total / n1
    n2 = sumn if sumn > 1 else 2
    rms = math.sqrt(sumsqr / (n2 - 1))
    rvr = vals[roi] - avg
    m = int(rvr.size) if rvr.size > 1 else 2
    rmsd = math.sqrt(float(np.sum(rvr * rvr)) / (m - 1))
    return dict(max_I=max_I, max_x=max_x, max_y=max_y, avg=avg, rms=rms, rmsd=rmsd, roi=roi)


def printout_block(config, result, slow, fast, img32) -> str:
    po = result.printouts[(slow, fast)]
    x, y, z = po["pos"]
    twotheta = math.atan2(math.sqrt(y * y + z * z), x)
    test = math.sin(twotheta / 2.0) / (config.beam.lambda0 * 1e10)
    lines = [
        "%4d %4d : stol = %g or %g" % (fast, slow, po["stol"], test),
        "at %g %g %g" % po["pos"],
        "hkl= %f %f %f  hkl0= %d %d %d" % (po["hkl"] + po["hkl0"]),
        " F_cell=%g  F_latt=%g   I = %g" % (po["F_cell"], po["F_latt"], po["I"]),
        "I/steps %15.10g" % (po["I"] / config.steps),
        "polar   %15.10g" % po["polar"],
        "omega   %15.10g" % po["omega"],
        "capfrac %15.10g" % po["capfrac"],
        "pixel   %15.10g" % float(img32[slow, fast]),
        "real-space cell vectors (Angstrom):",
        "     %-10s  %-10s  %-10s" % ("a", "b", "c"),
    ]
    v = po["vecs"] or ((0.0,) * 3,) * 3
    for i, ax in enumerate("XYZ"):
        lines.append(
            "%s: %11.8f %11.8f %11.8f" % (ax, v[0][i] * 1e10, v[1][i] * 1e10, v[2][i] * 1e10)
        )
    return "\n".join(lines) + "\n"


def header_numbers(config, result) -> dict:
    st = result.setup
    d, cr = config.detector, config.crystal
    return dict(
        pixel_size=d.pixel_size,
        distance=st["distance"],
        lambda0=config.beam.lambda0,
        Xbeam=d.Xbeam,
        Ybeam=d.Ybeam,
        Fbeam=st["Fbeam"],
        Sbeam=st["Sbeam"],
        detsize_s=d.detsize_s,
        dials_origin=st["dials_origin"],
        ORGX=st["ORGX"],
        ORGY=st["ORGY"],
        close_distance=st["close_distance"],
        phi0=cr.phi0,
        osc=cr.osc,
        twotheta=d.twotheta,
        RTD=RTD,
    )


def _nan_to_zero(x):
    """A NaN pixel becomes 0 in the integer images: nanoBragg's (unsigned) cast of a NaN, which
    x86-64 performs through a 32-bit conversion giving INT_MIN, whose low bits are 0."""
    return np.where(np.isnan(x), 0.0, x)


def int_image(config, img32, scale, roi):
    with np.errstate(invalid="ignore", over="ignore"):
        test = img32.astype(np.float64) * scale + config.output.adc_offset
        test = _nan_to_zero(np.clip(test, 0.0, 65535.0))
        out = np.floor((test + 0.5).astype(np.float32)).astype(np.uint16)
    return np.where(roi, out, 0).astype(np.uint16)


def pgm_image(img32, pgm_scale, roi):
    with np.errstate(invalid="ignore", over="ignore"):
        test = img32.astype(np.float64) * pgm_scale
        test = np.minimum(test, 255.0)
        test = _nan_to_zero(np.maximum(test, 0.0))
    return np.where(roi, np.trunc(test), 0).astype(np.uint8)


def noise_image(config, img32, roi):
    """Poisson noise with nanoBragg's poidev, pixel by pixel in raster order inside the ROI."""
    gen = rng.NoiseGenerator(config.output.seed, rng.Ran1Table.from_state(config.rng_state))
    adc = config.output.adc_offset
    out = np.zeros(img32.shape, dtype=np.uint16)
    total = 0.0
    overloads = 0
    flat = img32.reshape(-1)
    roi_flat = roi.reshape(-1)
    res = out.reshape(-1)
    for i in np.nonzero(roi_flat)[0].tolist():
        test = gen.poidev(float(flat[i]))
        total += test
        test += adc
        if test > 65535.0:
            test = 65535.0
            overloads += 1
        res[i] = int(test) if test >= 0 else 0
    return out, total, overloads


def write_outputs(config, result, stdout):
    """Print nanoBragg's end-of-run lines and write the image files it would write."""
    c = config
    img32 = image_float32(result)
    w = stdout.write
    _run_lines(c, result, img32, w)
    dump = _dump_output(c)
    if c.run.trace_only:
        _write_trace(result, w)
        stdout.flush()
        nbio.write_all(dump, cwd=c.cwd)  # nanoBragg writes the dump in a trace-only run too
        return
    w("\n")
    steps = c.steps
    w(
        "solid angle subtended by detector = %g steradian ( %g%% sphere)\n"
        % (result.omega_sum / steps, 100 * result.omega_sum / steps / 4 / math.pi)
    )
    outputs = dump + _image_outputs(c, result, img32, w)
    _write_trace(result, w)
    # everything printed must have arrived before any output file is published
    stdout.flush()
    nbio.write_all(outputs, cwd=c.cwd)


def _dump_output(c) -> list:
    """The -dump file (-dump with -hkl) as [(option, path, bytes)], or []."""
    sf = c.sf
    if sf.dump_file is None:
        return []
    return [("-dump", sf.dump_file, nbio.dump_bytes(sf.table, sf.hkl_min, sf.hkl_max))]


def _run_lines(c, result, img32, w):
    """The set-up lines, the interpolation warning, the progress meter and -printout blocks."""
    o = c.output
    for line in setup_lines(c, result):
        w(line + "\n")
    if result.interp_warning is not None and not c.run.trace_only:
        w(
            "WARNING: out of range for three point interpolation: "
            "h,k,l,h0,k0,l0: %g,%g,%g,%d,%d,%d \n" % result.interp_warning
        )
        w("WARNING: further warnings will not be printed! ")
    if o.progress and not o.printout and not c.run.trace_only:
        for line in progress_lines(c, int(result.computed.sum())):
            w(line + "\n")
    if o.printout:
        if o.printout_pixel is not None:
            fp, sp = o.printout_pixel
            if (sp, fp) in result.printouts:
                w(printout_block(c, result, sp, fp, img32))
        else:
            for key in sorted(result.printouts):
                w(printout_block(c, result, key[0], key[1], img32))


def _image_outputs(c, result, img32, w) -> list:
    """The statistics lines and the (option, path, bytes) of every image file requested."""
    o, d = c.output, c.detector
    st = statistics(c, img32)
    outputs = []
    if o.floatfile:
        w("writing %s as %d %d-byte floats\n" % (o.floatfile, d.fpixels * d.spixels, 4))
        outputs.append(("-floatfile", o.floatfile, nbio.float_bytes(img32)))
    w("max_I = %g  at %g %g\n" % (st["max_I"], st["max_x"], st["max_y"]))
    w("mean= %g rms= %g rmsd= %g\n" % (st["avg"], st["rms"], st["rmsd"]))
    scale = o.intfile_scale
    if scale <= 0.0:
        scale = 1.0
        if st["max_I"] > 0.0:
            scale = 55000.0 / st["max_I"]
    w("intfile_scale = %g\n" % scale)
    hdr = header_numbers(c, result)
    if o.intfile:
        ints = int_image(c, img32, scale, st["roi"])
        w("writing %s as %d-byte integers\n" % (o.intfile, 2))
        header = nbio.smv_header(hdr, d.fpixels, d.spixels)
        outputs.append(("-intfile", o.intfile, nbio.smv_bytes(header, ints)))
    if o.write_pgm and o.pgmfile:
        pgm_scale = o.pgm_scale
        if pgm_scale <= 0.0:
            pgm_scale = scale
            if st["rmsd"] > 0.0:
                pgm_scale = 250.0 / (5.0 * st["rmsd"])
        w("pgm_scale = %g\n" % pgm_scale)
        w("writing %s as %d-byte integers\n" % (o.pgmfile, 1))
        pixels = pgm_image(img32, pgm_scale, st["roi"])
        payload = nbio.pgm_bytes(pixels, d.fpixels, d.spixels, pgm_scale)
        outputs.append(("-pgmfile", o.pgmfile, payload))
    if o.calculate_noise and o.noisefile:
        noise, total, overloads = noise_image(c, img32, st["roi"])
        w("%.0f photons on noise image (%d overloads)\n" % (total, overloads))
        w("writing %s as %d-byte integers\n" % (o.noisefile, 2))
        header = nbio.smv_header(hdr, d.fpixels, d.spixels, noise=True)
        outputs.append(("-noisefile", o.noisefile, nbio.smv_bytes(header, noise)))
    return outputs


def _write_trace(result, w):
    """The trace blocks come after all other output."""
    if result.trace_lines:
        w("\n".join(result.trace_lines) + "\n")


SHAPE_WORDS = {
    "round": "ellipsoidal",
    "square": "parallelpiped",
    "gauss": "gaussian",
    "tophat": "tophat-spot",
}


def _cell_lines(st):
    """nanoBragg's 'Unit Cell' / 'Recp Cell' / vectors block from the final cell vectors."""

    def n(v):
        return math.sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2])

    def d(u, v):
        return u[0] * v[0] + u[1] * v[1] + u[2] * v[2]

    def angle(sin_, cos_):
        sin_ = min(max(sin_, -1.0), 1.0)
        if cos_ * cos_ > 1.0:
            cos_ = 1.0
        return math.atan2(sin_, cos_) * RTD

    a, b, c = st["a"], st["b"], st["c"]
    a_s, b_s, c_s = st["a_star"], st["b_star"], st["c_star"]
    V = st["V_cell"]
    Vs = 1.0 / V
    al = angle(n(a_s) * V / n(b) / n(c), d(b, c) / n(b) / n(c))
    be = angle(n(b_s) * V / n(a) / n(c), d(a, c) / n(a) / n(c))
    ga = angle(n(c_s) * V / n(a) / n(b), d(a, b) / n(a) / n(b))
    als = angle(n(a) * Vs / n(b_s) / n(c_s), d(b_s, c_s) / n(b_s) / n(c_s))
    bes = angle(n(b) * Vs / n(a_s) / n(c_s), d(a_s, c_s) / n(a_s) / n(c_s))
    gas = angle(n(c) * Vs / n(a_s) / n(b_s), d(a_s, b_s) / n(a_s) / n(b_s))
    out = [
        "Unit Cell: %g %g %g %g %g %g" % (n(a), n(b), n(c), al, be, ga),
        "Recp Cell: %g %g %g %g %g %g" % (n(a_s), n(b_s), n(c_s), als, bes, gas),
        "volume = %g A^3" % V,
        "real-space cell vectors (Angstrom):",
        "     %-10s  %-10s  %-10s" % ("a", "b", "c"),
    ]
    for i, ax in enumerate("XYZ"):
        out.append("%s: %11.8f %11.8f %11.8f" % (ax, a[i], b[i], c[i]))
    out.append("reciprocal-space cell vectors (Angstrom^-1):")
    out.append("     %-10s  %-10s  %-10s" % ("a_star", "b_star", "c_star"))
    for i, ax in enumerate("XYZ"):
        out.append("%s: %11.8f %11.8f %11.8f" % (ax, a_s[i], b_s[i], c_s[i]))
    return out


def setup_lines(config, result) -> list:
    """nanoBragg's console output before the pixel loop, in its order and format."""
    c = config
    return (_head_lines(c, result) + _loop_lines(c) + _parameter_lines(c, result)
            + _frame_lines(c, result) + _sampling_lines(c))


def _stage(c, name) -> list:
    """The messages a set-up derivation logged under ``name`` (in the order it logged them)."""
    return [text for tag, text in c.log if tag == name]


def _v3(v) -> str:
    return "%g %g %g" % tuple(v)


def _head_lines(c, result) -> list:
    """The banner, convention and pivot, the beam in XDS terms, the cell block, crystal and HKL
    messages."""
    st, d = result.setup, c.detector
    L = _stage(c, "pre")
    L.append("nanoBragg nanocrystal diffraction simulator - James Holton and Ken Frankel 5-17-17")
    L += _stage(c, "sampling")
    L.append("%s convention selected." % d.convention)
    if d.pivot == "sample":
        L.append("pivoting detector around sample")
    else:
        L.append("pivoting detector around direct beam spot")
    beam = c.beam.beam_vector
    dot = lambda u, v: u[0] * v[0] + u[1] * v[1] + u[2] * v[2]  # noqa: E731
    L.append(
        "XDS incident beam: "
        + _v3((dot(beam, st["fdet"]), dot(beam, st["sdet"]), dot(beam, st["odet"])))
    )
    L += _stage(c, "interp")
    L += _stage(c, "cell")
    L += _cell_lines(st)
    L += _stage(c, "crystal")
    L += _stage(c, "hkl")
    return L


def _loop_lines(c) -> list:
    """The layers, the phi steps and the sources nanoBragg lists before its summary."""
    d, cr = c.detector, c.crystal
    L = ["thick%d = %g um" % (t, d.thickstep * t * 1e6) for t in range(d.thicksteps)]
    L += ["phi%d = %g" % (i, (cr.phi0 + cr.phistep * i) * RTD) for i in range(cr.phisteps)]
    return L + _stage(c, "sources")


def _parameter_lines(c, result) -> list:
    """The summary of the run's parameters: domains, HKLs, crystal, wavelength, polarisation,
    fluence, detector size and thickness, beam centre."""
    st, d, cr, bm = result.setup, c.detector, c.crystal, c.beam
    L = ["  created a total of %d mosaic domains" % cr.mosaic_domains,
         "  %d initialized hkls (all others =%g)" % (c.sf.hkls, c.sf.default_F),
         "  %s xtal: %.0fx%.0fx%.0f cells" % ((SHAPE_WORDS[cr.shape],) + tuple(cr.N)),
         "  wave=%g meters +/- %g%% in %d steps" % (bm.lambda0, bm.dispersion * 100,
                                                    bm.dispsteps)]
    if bm.nopolar:
        L.append("  polarization effect disabled")
    else:
        L.append("  Kahn polarization factor: %f" % bm.polarization)
    if d.curved:
        L.append("  curved detector: all pixels same distance from origin")
    if d.point_pixel:
        L.append("  pixel obliquity effect disabled")
    L.append("  incident fluence: %g photons/m^2" % bm.fluence)
    L.append(
        "  distance=%g detsize=%gx%g  pixel=%g meters (%dx%d pixels)"
        % (st["distance"], d.detsize_f, d.detsize_s, d.pixel_size, d.fpixels, d.spixels)
    )
    L.append("  sensor is %g m thick in %d layers with mu= %g" % (d.thick, d.thicksteps, d.mu))
    L.append("  Xbeam=%g Ybeam=%g" % (d.Xbeam, d.Ybeam))
    L.append("  Fbeam=%g Sbeam=%g" % (st["Fbeam"], st["Sbeam"]))
    L.append("  Xclose=%g Yclose=%g" % (d.Xclose, d.Yclose))
    L.append("  Fclose=%g Sclose=%g" % (st["Fclose"], st["Sclose"]))
    return L


def _frame_lines(c, result) -> list:
    """The detector frame, beam, spindle and polarisation axes, DIALS origin and ROI."""
    st, beam, pv = result.setup, c.beam.beam_vector, c.beam.polar_vector
    normal = (
        beam[1] * pv[2] - beam[2] * pv[1],
        beam[2] * pv[0] - beam[0] * pv[2],
        beam[0] * pv[1] - beam[1] * pv[0],
    )
    return [
        "  DIRECTION_OF_DETECTOR_X-AXIS= " + _v3(st["fdet"]),
        "  DIRECTION_OF_DETECTOR_Y-AXIS= " + _v3(st["sdet"]),
        "  DIRECTION_OF_DETECTOR_Z-AXIS= " + _v3(st["odet"]),
        "  INCIDENT_BEAM_DIRECTION= " + _v3(beam),
        "  spindle ROTATION_AXIS= " + _v3(c.crystal.spindle),
        "  POLARIZATION_PLANE_NORMAL= " + _v3(normal),
        "  dials origin= " + _v3(st["dials_origin"]),
        "  roi: %d < x < %d && %d < y < %d" % c.detector.roi,
    ]


def _sampling_lines(c) -> list:
    """Divergence, sources, domains, phi and oversampling counts; the mask and noise lines."""
    bm, cr, sm = c.beam, c.crystal, c.sampling
    L = [
        "  hdivrange=%g hdivstep=%g  radians" % (bm.hdivrange, bm.hdivstep),
        "  vdivrange=%g vdivstep=%g  radians" % (bm.vdivrange, bm.vdivstep),
        "  %d divergence steps" % (bm.divsteps if not bm.source_from_file else -1),
        "  %d sources" % len(bm.source_dirs),
        "  %d mosaic domains over mosaic spread of %g degrees"
        % (cr.mosaic_domains, cr.mosaic_spread * RTD),
        "  %d phi steps from %g to %g degrees"
        % (cr.phisteps, cr.phi0 * RTD, (cr.phi0 + cr.osc) * RTD),
    ]
    flags = "".join(flag for flag, on in ((" +thick", sm.oversample_thick),
                                          (" +polar", sm.oversample_polar),
                                          (" +omega", sm.oversample_omega)) if on)
    L.append("  %dx%d pixel oversample steps%s" % (sm.oversample, sm.oversample, flags))
    L += _stage(c, "mask")
    if c.output.calculate_noise:
        L += [
            "",
            "  noise image paramters:",
            "  seed: %d" % c.output.seed,
            "  water droplet size: %g m" % bm.water_size,
        ]
    return L


def progress_lines(config, rendered: int) -> list:
    """nanoBragg's progress meter ("N% done"), as a function of the number of rendered pixels."""
    xmin, xmax, ymin, ymax = config.detector.roi
    total = (xmax - xmin + 1) * (ymax - ymin + 1)
    if total // 100 <= 0:
        return []
    a, b = total // 20, total // 100
    marks = set(range(0, rendered, a)) if a > 0 else set()
    for k in range(0, rendered, b):
        if 10 * k < total or 10 * k > 9 * total:
            marks.add(k)
    return ["%d%% done" % (k * 100 // total) for k in sorted(marks)]

"""What the generator draws: the option families it covers (``COVERAGE``), the options it
leaves out and why (``LEFT_OUT``), and the bounds of a draw."""

from __future__ import annotations

MODES = ("c-parity", "spec")
#: the share of draws whose candidate computes in float32 (``draw(...).dtype``)
FLOAT32_SHARE = 0.1
#: the largest detector side drawn (pixels)
MAX_SIDE = 48

SIZE_OPTIONS = {  # crystal size (mm) -> the axes it sets (both engines' spellings)
    "-samplesize": "xyz", "-sample_size": "xyz", "-xtalsize": "xyz", "-xtal_size": "xyz",
    "-sample_thick": "x", "-sample_x": "x", "-xtal_thick": "x", "-xtal_x": "x",
    "-sample_width": "y", "-sample_y": "y", "-width": "y", "-xtal_width": "y", "-xtal_y": "y",
    "-sample_heigh": "z", "-sample_height": "z", "-sample_z": "z", "-heigh": "z",
    "-height": "z", "-xtal_heigh": "z", "-xtal_height": "z", "-xtal_z": "z",
}
#: options both engines accept with one value and ignore (-coherent, with none, too)
IGNORED_OPTIONS = ("-density", "-sample_den", "-sample_density", "-MW", "-molec", "-stolout")

#: option family -> the options that realise it (the generator draws every one of them)
COVERAGE: dict[str, tuple[str, ...]] = {
    "cell": ("-cell",),
    "matrix": ("-mat", "-matrix"),
    "misset": ("-misset",),
    "misset random": ("-misset_seed",),
    "structure factors": ("-hkl", "-default_F"),
    "stol table": ("-stol", "-4stol", "-Q"),
    "dump": ("-dump",),
    "interpolation": ("-interpolate", "-nointerpolate"),
    "dmin": ("-dmin",),
    "cells per crystal": ("-N", "-Na", "-Nb", "-Nc"),
    "crystal size": tuple(SIZE_OPTIONS),
    "crystal shape": ("-square_xtal", "-round_xtal", "-gauss_xtal", "-tophat_spots",
                      "-binary_spots", "-fudge"),
    "mosaic": ("-mosaic", "-mosaicity", "-mosaic_spread", "-mosaic_domains", "-mosaic_dom",
               "-mosaic_seed"),
    "phi": ("-phi", "-osc", "-phistep", "-phisteps", "-spindle_axis"),
    "wavelength": ("-lambda", "-wave", "-wavelength", "-energy"),
    "dispersion": ("-dispersion", "-dispsteps"),
    "divergence": ("-divergence", "-hdivrange", "-vdivrange", "-hdivstep", "-vdivstep",
                   "-hdivsteps", "-vdivsteps", "-divsteps", "-round_div", "-square_div"),
    "sourcefile": ("-sourcefile",),
    "polarization": ("-polar", "-nopolar", "-polar_vector"),
    "fluence": ("-fluence", "-flux", "-exposure", "-beamsize"),
    "water": ("-water",),
    "detector size": ("-detpixels", "-detpixels_f", "-detpixels_x", "-detpixels_s",
                      "-detpixels_y", "-detsize", "-detsize_f", "-detsize_s", "-pixel"),
    "distance": ("-distance", "-close_distance"),
    "beam centre": ("-Xbeam", "-Ybeam", "-Xclose", "-Yclose", "-ORGX", "-ORGY", "-pivot"),
    "conventions": ("-mosflm", "-denzo", "-adxv", "-xds", "-dials"),
    "custom vectors": ("-fdet_vector", "-sdet_vector", "-odet_vector", "-beam_vector",
                       "-pix0_vector"),
    "twotheta": ("-twotheta", "-twotheta_axis"),
    "detector rotations": ("-detector_rotx", "-detector_roty", "-detector_rotz"),
    "thickness": ("-detector_thick", "-detector_abs", "-detector_absorb",
                  "-detector_thicksteps", "-thicksteps"),
    "pixel shape": ("-curved_det", "-point_pixel"),
    "roi": ("-roi",),
    "mask and image": ("-mask", "-img"),
    "oversampling": ("-oversample", "-oversample_thick", "-oversample_polar",
                     "-oversample_omega"),
    "outputs": ("-floatfile", "-floatimage", "-intfile", "-intimage", "-noisefile",
                "-noiseimage", "-pgmfile", "-pgmimage", "-scale", "-pgmscale", "-adc",
                "-nonoise", "-nopgm"),
    "seeds": ("-seed",),
    "console": ("-printout", "-progress", "-noprogress"),
    "ignored": (*IGNORED_OPTIONS, "-coherent"),
}

#: options of either engine never drawn, and why (the module docstring says the same)
LEFT_OUT: dict[str, str] = {
    **{o: "set by the harness per engine; refused in a case's arguments"
       for o in ("-trace_pixel", "-printout_pixel", "-phi_carryover_mode", "-omp_threads",
                 "-device", "-dtype")},
    **{o: "the simulator's own; the C reference does not know it"
       for o in ("-memory_budget_gb", "-geometry_dtype", "-trace_only")},
    **{o: "a spelling only the simulator knows"
       for o in ("-detector_absorption", "-molecular_weight", "-curved_detector")},
    **{o: "a spelling only the C reference knows" for o in ("-molecules", "-mosaic_spr",
                                                            "-mosaici")},
}

# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""-mask and -img headers: what an SMV image says about the detector, beam and phi.

Mirrors ``nb_read_mask_header`` (c_reference/src/smv.c). nanoBragg reads these headers before
the options, so that the command line overrides what they say.
"""

from __future__ import annotations

from simulator.geometry import RTD
from simulator.io import read_smv, smv_value

#: header key -> (setting, divisor to SI units)
_HEADER_VALUES = (
    ("DISTANCE", "distance", 1000.0),  # mm
    ("CLOSE_DISTANCE", "close_distance", 1000.0),  # mm
    ("WAVELENGTH", "lambda0", 1e10),  # Angstrom
    ("BEAM_CENTER_X", "Xbeam", 1000.0),  # mm
)


def read_image_headers(s, pairs, path_of, log):
    """Apply the headers of the last -mask and the last -img file of ``pairs`` to the settings.

    Reads: -mask FILE, -img FILE (in that order: the -img header wins).
    Sets: fpixels, spixels (SIZE1, SIZE2), pixel_size (PIXEL_SIZE, mm -> m), detsize_f/_s (m),
    distance, close_distance (m), lambda0 (m), Xbeam, Ybeam (m; a mask's BEAM_CENTER_Y is
    measured from the other edge), ORGX, ORGY (pixels), phi0, osc (degrees -> rad); for a mask
    also mask ((slow, fast) uint16) and mask_name. Logs "reading FILE" (stage "pre").
    Raises InputError when a file is not an SMV image.
    """
    mask_name = img_name = None
    for opt, vals in pairs:
        if opt == "-mask":
            mask_name = vals[0]
        if opt == "-img":
            img_name = vals[0]
    for kind, name in (("mask", mask_name), ("img", img_name)):
        if name is not None:
            _read_header(s, kind, name, path_of, log)


def _read_header(s, kind, name, path_of, log):
    header, w, h, data = read_smv(path_of(name))
    log.append(("pre", "reading %s" % name))
    s["fpixels"], s["spixels"] = w, h
    v = smv_value(header, "PIXEL_SIZE")
    if v is not None:
        s["pixel_size"] = v / 1000.0
    s["detsize_f"] = s["pixel_size"] * w
    s["detsize_s"] = s["pixel_size"] * h
    for key, field, scale in _HEADER_VALUES:
        v = smv_value(header, key)
        if v is not None:
            s[field] = v / scale
    v = smv_value(header, "BEAM_CENTER_Y")
    if v is not None:
        s["Ybeam"] = (s["detsize_s"] - v / 1000.0) if kind == "mask" else v / 1000.0
    for key in ("ORGX", "ORGY"):
        v = smv_value(header, key)
        if v is not None:
            s[key] = v
    v = smv_value(header, "PHI")
    if v is not None:
        s["phi0"] = v / RTD
    v = smv_value(header, "OSC_RANGE")
    if v is not None:
        s["osc"] = v / RTD
    if kind == "mask":
        s["mask"] = data
        s["mask_name"] = name

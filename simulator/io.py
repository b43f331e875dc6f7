# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""File input and output: dump, matrix, source and SMV/mask files in; float, SMV, PGM out
(HKL text files: ``simulator.hkl_file``).

Readers raise ``InputError`` with a one-line message naming file (and line); writers write to a
temporary file in the target folder and rename it, so a failed run leaves no partial output.
"""

from __future__ import annotations

import errno
import math
import os
import re
import struct
import sys
import tempfile

import numpy as np

from simulator.options import c_strtod


class InputError(Exception):
    """Bad input: the message is one line naming the option or file:line."""


class OutputError(InputError):
    """An output that cannot be written (a folder, a full disk, /dev/full, a lost console): one
    line naming the option and the path; exit status 3, as the C reference's I/O errors."""


def unwritable(option, path, exc: OSError) -> OutputError:
    """The one message of an output that cannot be written (the C reference's wording)."""
    return OutputError(f"option {option}: cannot write '{path}' ({exc.strerror or exc})")


def _open_text(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def _read_bytes(path):
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror}") from None


def read_dump(path):
    """nanoBragg's Fdump.bin: 'hmin hmax kmin kmax lmin lmax\\n\\f', then (range+1)^3 doubles."""
    data = _read_bytes(path)
    m = re.match(rb"\s*(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s+(-?\d+)\s*", data)
    if not m:
        raise InputError(f"{path}:1: malformed dump header")
    hmin, hmax, kmin, kmax, lmin, lmax = (int(x) for x in m.groups())
    hr, kr, lr = hmax - hmin + 1, kmax - kmin + 1, lmax - lmin + 1
    body = data[m.end() :]
    need = (hr + 1) * (kr + 1) * (lr + 1)
    if hr <= 0 or kr <= 0 or lr <= 0 or len(body) < need * 8:
        raise InputError(f"{path}: dump file too short")
    full = np.frombuffer(body[: need * 8], dtype="<f8").reshape(hr + 1, kr + 1, lr + 1)
    return np.array(full[:hr, :kr, :lr]), (hmin, kmin, lmin), (hmax, kmax, lmax), hr * kr * lr


def dump_bytes(table, mins, maxs) -> bytes:
    """nanoBragg's Fdump.bin of a table (see read_dump); written with the run's other outputs
    (write_all), so that a failed run leaves none."""
    hr, kr, lr = table.shape
    full = np.zeros((hr + 1, kr + 1, lr + 1))
    full[:hr, :kr, :lr] = table
    head = "%d %d %d %d %d %d\n\f" % (mins[0], maxs[0], mins[1], maxs[1], mins[2], maxs[2])
    return head.encode() + full.astype("<f8").tobytes()


_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)", re.I)


#: the longest prefix C's strtod reads as a number (hex, decimal, inf/infinity, nan/nan(chars));
#: its value is options.c_strtod's
_STRTOD_PREFIX = re.compile(
    r"[-+]?(?:0x(?:[0-9a-f]+\.?[0-9a-f]*|\.[0-9a-f]+)(?:p[-+]?[0-9]+)?"
    r"|(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:e[-+]?[0-9]+)?|inf(?:inity)?|nan(?:\([0-9a-z_]*\))?)",
    re.I | re.ASCII,
)


def read_matrix(path):
    """First nine numbers of a MOSFLM-style matrix file, read like scanf's %lg / the C
    reference's strtod (numbers may touch, as in fixed-format columns "-0.0123-0.0456"; hex is a
    number). Returns the columns (a*, b*, c*)."""
    text = _open_text(path)
    nums = []
    for n, line in enumerate(text.splitlines(), start=1):
        for tok in line.split():
            pos = 0
            while pos < len(tok) and len(nums) < 9:
                m = _STRTOD_PREFIX.match(tok, pos)
                if not m:
                    raise InputError(f"{path}:{n}: not a number: {tok!r}")
                nums.append(c_strtod(m.group(0)))
                pos = m.end()
            if len(nums) == 9:
                break
        if len(nums) == 9:
            break
    if len(nums) < 9:
        raise InputError(f"{path}: need 9 numbers for a matrix, found {len(nums)}")
    rows = [nums[0:3], nums[3:6], nums[6:9]]
    a = (rows[0][0], rows[1][0], rows[2][0])
    b = (rows[0][1], rows[1][1], rows[2][1])
    c = (rows[0][2], rows[1][2], rows[2][2])
    return a, b, c


def _c_atof(tok: str) -> float:
    m = _NUM.match(tok)
    return float(m.group(0)) if m else 0.0


def read_columns(path, ncols):
    """nanoBragg's read_text_file, as the C reference reads it: lines end at '\\n', fields are
    separated by ' \\t,;:!\\r', every field is a number C's strtod reads whole
    (options.c_strtod: hex, inf, nan(chars); not '1_0'); the first ``ncols`` are kept, missing
    values are NaN."""
    text = _open_text(path)
    out = []
    for n, line in enumerate(text.split("\n"), start=1):
        toks = [t for t in re.split(r"[ \t,;:!\r]+", line) if t]
        if not toks:
            continue
        vals = []
        for t in toks:
            v = c_strtod(t) if t == t.rstrip() else None  # strtod stops at trailing space
            if v is None:
                raise InputError(f"{path}:{n}: not a number: {t!r}")
            vals.append(v)
        vals = vals[:ncols] + [math.nan] * (ncols - len(vals))
        out.append(vals)
    if not out:
        raise InputError(f"{path}: no data")
    return out


def read_smv(path):
    """An SMV (ADSC) image: returns (header text, width, height, uint16 data (height, width))."""
    data = _read_bytes(path)
    if len(data) < 512 or not data.startswith(b"{\nHEADER_BYT"):
        raise InputError(f"{path}:1: does not look like an SMV (ADSC) image")
    header = data[:512].decode("latin-1")
    hb = smv_value(header, "HEADER_BYTES")
    hsize = 512 if hb is None or math.isnan(hb) else _header_int(hb, "HEADER_BYTES", path)
    if hsize < 0:
        raise InputError(f"{path}:1: bad HEADER_BYTES in the SMV header")
    header = data[:hsize].decode("latin-1")
    w = smv_value(header, "SIZE1")
    h = smv_value(header, "SIZE2")
    w = _header_int(w, "SIZE1", path) if w is not None else 0
    h = _header_int(h, "SIZE2", path) if h is not None else 0
    if w == 0:
        d = smv_value(header, "DETECTOR_DIMENSIONS")
        w = h = _header_int(d, "DETECTOR_DIMENSIONS", path) if d is not None else 0
    if w <= 0 or h <= 0 or len(data) < hsize + 2 * w * h:
        raise InputError(f"{path}: SMV image size does not match its header")
    arr = np.frombuffer(data[hsize : hsize + 2 * w * h], dtype="<u2").reshape(h, w).copy()
    return header, w, h, arr


def _header_int(v: float, key: str, path) -> int:
    """A number of an SMV header as an integer (truncated, as C's (int) cast); nan or inf is
    bad input."""
    if not math.isfinite(v):
        raise InputError(f"{path}:1: bad {key} in the SMV header")
    return int(v)


def smv_value(header: str, key: str):
    """nanoBragg's ValueOf: the number after '=' after the key's LAST occurrence, or None."""
    pos = header.rfind(key)
    if pos < 0:
        return None
    rest = header[pos + len(key) :]
    eq = rest.find("=")
    if eq < 0:
        return 0.0
    return _c_atof(rest[eq + 1 :].lstrip())


def _is_device(path) -> bool:
    """An existing target that is not a regular file or a folder (/dev/null, a FIFO): it is
    written through, never replaced by a rename."""
    return os.path.exists(path) and not os.path.isfile(path) and not os.path.isdir(path)


def _rename_target(option, name, path):
    """The file an output replaces: ``path``, or for a symbolic link the file it leads to (a
    link stays a link, as in the C reference and nbparity's atomic_write). A dangling link, or
    a loop of links, is refused and left as it is: writing through it would create a file
    wherever it points."""
    if not os.path.islink(path):
        return path
    try:
        os.stat(path)
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            raise OutputError(f"option {option}: cannot write '{name}' (a dangling symbolic "
                              f"link to {os.readlink(path)})") from None
        raise unwritable(option, name, exc) from None
    return os.path.realpath(path)


def _check_target(option, name, path):
    """A folder (or a name ending in '/') cannot receive an image: fail before writing."""
    if str(name).endswith(os.sep) or os.path.isdir(path):
        raise unwritable(option, name, IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR)))


def _write_temp(option, name, path, payload) -> str:
    """payload in a new temporary file next to path; returns its name (removed on failure)."""
    folder = os.path.dirname(os.path.abspath(path)) or "."
    try:
        fd, tmp = tempfile.mkstemp(prefix=".nbsim-", dir=folder)
    except OSError as exc:
        raise unwritable(option, name, exc) from None
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
            # the mode fopen gives a new file (the C reference's and upstream's), not
            # mkstemp's 0600
            os.fchmod(fh.fileno(), 0o666 & ~_umask())
    except OSError as exc:
        os.unlink(tmp)
        raise unwritable(option, name, exc) from None
    return tmp


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_device(option, name, path, payload):
    try:
        with open(path, "wb") as fh:
            fh.write(payload)
    except OSError as exc:
        raise unwritable(option, name, exc) from None


def write_all(outputs, cwd=None):
    """Write every (option, name, bytes) or none; names resolve against cwd, messages show them
    as given. Regular files go to temporary files first, then device targets are written
    through, and only then are the temporary files renamed into place: an output that cannot
    be written leaves no output of the run published."""
    targets = [(opt, name, _rename_target(opt, name, os.path.join(cwd or "", name)), data)
               for opt, name, data in outputs]
    for option, name, _path, _data in targets:
        _check_target(option, name, _path)
    staged = []
    try:
        for option, name, path, data in targets:
            if not _is_device(path):
                staged.append((option, name, path, _write_temp(option, name, path, data)))
        for option, name, path, data in targets:
            if _is_device(path):
                _write_device(option, name, path, data)
        for option, name, path, tmp in staged:
            try:
                os.replace(tmp, path)
            except OSError as exc:
                raise OutputError(
                    f"option {option}: cannot rename a temporary file to '{name}' "
                    f"({exc.strerror or exc})"
                ) from None
    finally:
        for _option, _name, _path, tmp in staged:
            if os.path.exists(tmp):
                os.unlink(tmp)


def float_bytes(image32: np.ndarray) -> bytes:
    """Raw little-endian float32, fast index fastest."""
    return np.ascontiguousarray(image32, dtype="<f4").tobytes()


def c_g(x: float) -> str:
    """printf's %g as glibc spells it: a NaN with its sign bit set is "-nan" (Python: "nan")."""
    if math.isnan(x) and math.copysign(1.0, x) < 0:
        return "-nan"
    return "%g" % x


def smv_header(h: dict, fpixels, spixels, noise=False) -> bytes:
    """nanoBragg's SMV header (padded with spaces to 512 bytes). ``h`` holds the header numbers."""
    g = c_g
    byte_order = "little_endian" if sys.byteorder == "little" else "big_endian"
    s = "{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=%s;\nTYPE=unsigned_short;\n" % byte_order
    s += "SIZE1=%d;\nSIZE2=%d;\nPIXEL_SIZE=%s;\nDISTANCE=%s;\n" % (
        fpixels,
        spixels,
        g(h["pixel_size"] * 1000.0),
        g(h["distance"] * 1000.0),
    )
    s += "WAVELENGTH=%s;\n" % g(h["lambda0"] * 1e10)
    s += "BEAM_CENTER_X=%s;\nBEAM_CENTER_Y=%s;\n" % (g(h["Xbeam"] * 1000.0), g(h["Ybeam"] * 1000))
    s += "ADXV_CENTER_X=%s;\nADXV_CENTER_Y=%s;\n" % (
        g(h["Fbeam"] * 1000.0),
        g((h["detsize_s"] - h["Sbeam"]) * 1000),
    )
    s += "MOSFLM_CENTER_X=%s;\nMOSFLM_CENTER_Y=%s;\n" % (
        g((h["Sbeam"] - 0.5 * h["pixel_size"]) * 1000.0),
        g((h["Fbeam"] - 0.5 * h["pixel_size"]) * 1000),
    )
    if noise:
        dz = (
            g((h["Sbeam"] + 0.0 * h["pixel_size"]) * 1000.0),
            g((h["Fbeam"] + 0.0 * h["pixel_size"]) * 1000),
        )
    else:
        dz = (
            g((h["Sbeam"] - 0.0 * h["pixel_size"]) * 1000.0),
            g((h["Fbeam"] - 0.0 * h["pixel_size"]) * 1000),
        )
    s += "DENZO_X_BEAM=%s;\nDENZO_Y_BEAM=%s;\n" % dz
    d = h["dials_origin"]
    s += "DIALS_ORIGIN=%s,%s,%s\n" % (g(d[0]), g(d[1]), g(d[2]))
    s += "XDS_ORGX=%s;\nXDS_ORGY=%s;\n" % (g(h["ORGX"]), g(h["ORGY"]))
    s += "CLOSE_DISTANCE=%s;\n" % g(h["close_distance"] * 1000.0)
    RTD = h["RTD"]
    s += "PHI=%s;\nOSC_START=%s;\nOSC_RANGE=%s;\n" % (
        g(h["phi0"] * RTD),
        g(h["phi0"] * RTD),
        g(h["osc"] * RTD),
    )
    s += "TWOTHETA=%s;\n" % g(h["twotheta"] * RTD)
    s += "DETECTOR_SN=000;\nBEAMLINE=fake;\n}\f"
    b = s.encode("latin-1")
    if len(b) < 512:
        b += b" " * (512 - len(b))
    return b


def smv_bytes(header: bytes, data_u16: np.ndarray) -> bytes:
    return header + np.ascontiguousarray(data_u16, dtype=np.uint16).astype("=u2").tobytes()


def pgm_bytes(data_u8: np.ndarray, fpixels, spixels, pgm_scale) -> bytes:
    head = "P5\n%d %d\n# pixels scaled by %g\n255\n" % (fpixels, spixels, pgm_scale)
    return head.encode() + np.ascontiguousarray(data_u8, dtype=np.uint8).tobytes()


def struct_f32(x: float) -> float:
    return struct.unpack("<f", struct.pack("<f", x))[0]

# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""File input and output: HKL, dump, matrix, source and SMV/mask files in; float, SMV, PGM out.

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
import warnings

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


#: nanoBragg holds Miller indices in C ints
INDEX_LIMIT = 2**31 - 1
#: the largest structure-factor table either engine allocates (cells; 2 GB of doubles), the C
#: reference's NB_MAX_HKL_CELLS: nanoBragg itself tries, and hangs or runs out of memory
MAX_HKL_CELLS = 250_000_000
#: nanoBragg's first guesses of the index range (h_min = 1e9, h_max = -1e9, C ints): a file
#: whose indices all lie beyond them keeps them as one end of its range
_RANGE_START = 10**9
_PLAIN_INT = re.compile(r"[-+]?[0-9]+")


def read_hkl(path, fill=math.nan):
    """Read 'h k l F' lines. Returns (table, mins, maxs, count, duplicates): table is
    (hr, kr, lr) float64, unlisted entries = ``fill`` (the caller's default_F; NaN by
    default), listed ones the value read last, NaN included, as in nanoBragg.
    ``duplicates`` is (number of lines repeating an earlier reflection, the first such
    reflection) or None."""
    text = _open_text(path)
    fast = _hkl_columns(text)
    if fast is not None:
        arr, F = fast
    else:
        arr, F = _hkl_rows(text, path)
    if not len(F):
        raise InputError(f"{path}:1: no HKL entries")
    mins = np.minimum(arr.min(axis=0), _RANGE_START)
    maxs = np.maximum(arr.max(axis=0), -_RANGE_START)
    shape = tuple(int(x) for x in (maxs - mins + 1))
    cells = shape[0] * shape[1] * shape[2]
    if cells > MAX_HKL_CELLS:
        raise InputError(
            f"{path}: HKL index range too large ({cells} cells, at most {MAX_HKL_CELLS})"
        )
    idx = arr - mins
    flat = (idx[:, 0] * shape[1] + idx[:, 1]) * shape[2] + idx[:, 2]
    # the value read last wins, as nanoBragg's second pass overwrites: keep each cell's last row
    _, last_rev = np.unique(flat[::-1], return_index=True)
    last = len(flat) - 1 - last_rev
    table = np.full(cells, fill, dtype=np.float64)
    table[flat[last]] = F[last]
    return (
        table.reshape(shape),
        tuple(int(x) for x in mins),
        tuple(int(x) for x in maxs),
        len(F),
        _duplicates(arr, flat),
    )


def _duplicates(arr, flat):
    """(lines repeating an earlier reflection, the first of them as (h, k, l)) or None."""
    _, first = np.unique(flat, return_index=True)
    if len(first) == len(flat):
        return None
    repeated = np.ones(len(flat), dtype=bool)
    repeated[first] = False
    i = int(np.argmax(repeated))
    return len(flat) - len(first), tuple(int(x) for x in arr[i])


def _hkl_columns(text):
    """(hkl (n, 3) int64, F (n,)) of a well-formed HKL text, converted column-wise; None when any
    line is not 'h k l F' with integer indices (then ``_hkl_rows`` finds the line to name).

    Same conversions as the line reader (numpy converts each token with int() / float()), at
    a tenth of its time: the trace of one pixel reads the whole table first. Python's int() and
    float() also take '1_0' and non-ASCII digits, which nanoBragg's scanf does not: such a
    text, or an index beyond a C int, goes to the line reader.
    """
    if not text.isascii() or "_" in text:
        return None
    fast = _hkl_bytes(text)
    if fast is not None:
        return fast
    if any(len(line.split()) not in (0, 4) for line in text.splitlines()):
        return None
    toks = text.split()
    try:
        hkl = np.array([toks[0::4], toks[1::4], toks[2::4]], dtype=np.int64).T
        F = np.array(toks[3::4], dtype=np.float64)
    except (ValueError, OverflowError):
        return None
    if hkl.size and int(np.abs(hkl).max()) > INDEX_LIMIT:
        return None
    return hkl.reshape(-1, 3), F


_BLANK = np.zeros(256, dtype=bool)
_BLANK[[9, 10, 32]] = True  # tab, newline, space
_INDEX_CHARS = np.zeros(256, dtype=bool)
_INDEX_CHARS[list(b"0123456789+-")] = True
_F_CHARS = _INDEX_CHARS.copy()
_F_CHARS[list(b".eE")] = True
_POW10 = np.array([10.0**i for i in range(23)])  # exact doubles


def _hkl_bytes(text):
    """The column path's result for a plain ASCII table (lines of 'h k l F' separated by
    spaces, tabs and newlines), checked and converted with array operations on its bytes; None
    for anything else (the column path then decides). A 270 000-line table: ~0.1 s instead of
    ~0.45 s.

    Index tokens must be [+-]digits (what int() and nanoBragg's %d read alike). An F token of
    at most 15 digits with an optional point and no exponent is M / 10^k with M and 10^k exact
    doubles: one division, correctly rounded, the value float() gives. Other F tokens are read
    by numpy's strtod (correctly rounded too); a token it cannot read to its end hands the
    text back."""
    if any(c in text for c in "\r\x0b\x0c\x1c\x1d\x1e\x1f"):
        return None  # other line breaks and blanks: splitlines() / split() decide
    b = np.frombuffer(text.encode("ascii"), dtype=np.uint8)
    blank = _BLANK[b]
    start = ~blank
    start[1:] &= blank[:-1]  # first character of each token
    count = np.cumsum(start)
    ntok = int(count[-1]) if len(count) else 0
    newlines = np.flatnonzero(b == 10)
    per_line = np.diff(np.concatenate(([0], count[newlines], [ntok])))
    if ntok == 0 or not bool(np.isin(per_line, (0, 4)).all()):
        return None
    chars = np.flatnonzero(~blank)
    tok = count[chars] - 1  # token of each character
    c = b[chars]
    index = tok % 4 < 3  # every line holds 0 or 4 tokens
    if not bool(_INDEX_CHARS[c[index]].all()) or not bool(_F_CHARS[c[~index]].all()):
        return None
    first = start[chars]
    sign = (c == ord("+")) | (c == ord("-"))
    exponent = (c == ord("e")) | (c == ord("E"))
    if bool((sign & index & ~first).any()):
        return None  # a sign inside an index
    seg = np.flatnonzero(first)  # each token's first character, in ``chars``
    digit = (c >= ord("0")) & (c <= ord("9"))
    ndigits = np.add.reduceat(digit.astype(np.int64), seg)
    if int(ndigits.min()) == 0:
        return None  # '+', '-' or '.' alone
    if not bool(exponent.any()) and not bool((sign & ~first).any()) and ndigits.max() <= 15:
        point = c == ord(".")
        if int(np.add.reduceat(point.astype(np.int64), seg).max()) > 1:
            return None
        before = np.cumsum(digit)  # digits up to and including each character
        total = before[np.append(seg[1:], len(c)) - 1]  # digits up to each token's end
        weight = _POW10[total[tok] - before]  # 10^(digits to the right)
        M = np.add.reduceat(np.where(digit, (c - ord("0")) * weight, 0.0), seg)
        k = np.zeros(ntok, dtype=np.int64)
        at = np.flatnonzero(point)
        k[tok[at]] = total[tok[at]] - before[at]  # digits after the point
        values = M / _POW10[k]
        negative = c[seg] == ord("-")
        values[negative] = -values[negative]
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                values = np.fromstring(text, dtype=np.float64, sep=" ")
            except (ValueError, DeprecationWarning):
                return None
        if values.size != ntok:
            return None
    values = values.reshape(-1, 4)
    hkl = values[:, :3]
    if float(np.abs(hkl).max()) > INDEX_LIMIT:
        return None
    return hkl.astype(np.int64), np.ascontiguousarray(values[:, 3])


def _hkl_rows(text, path):
    """The line-by-line HKL reader: (hkl, F) or InputError naming the first bad line.

    Indices are plain integers (nanoBragg's %d would stop reading at '1.0' or '1e2'), within
    a C int; F is any number C's strtod reads."""
    rows = []
    for n, line in enumerate(text.splitlines(), start=1):
        toks = line.split()
        if not toks:
            continue
        if len(toks) != 4:
            raise InputError(f"{path}:{n}: expected 'h k l F', got {len(toks)} fields")
        F = c_strtod(toks[3])
        if F is None or not all(_PLAIN_INT.fullmatch(x) for x in toks[:3]):
            raise InputError(f"{path}:{n}: malformed line (h k l must be integers, F a number)")
        h, k, l = (int(x) for x in toks[:3])
        if max(abs(h), abs(k), abs(l)) > INDEX_LIMIT:
            raise InputError(f"{path}:{n}: Miller index out of range (beyond a C int)")
        rows.append((h, k, l, F))
    arr = np.array([r[:3] for r in rows], dtype=np.int64).reshape(-1, 3)
    F = np.array([r[3] for r in rows], dtype=np.float64)
    return arr, F


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


def write_dump(path, table, mins, maxs, cwd=None):
    hr, kr, lr = table.shape
    full = np.zeros((hr + 1, kr + 1, lr + 1))
    full[:hr, :kr, :lr] = table
    head = "%d %d %d %d %d %d\n\f" % (mins[0], maxs[0], mins[1], maxs[1], mins[2], maxs[2])
    write_all([("-dump", path, head.encode() + full.astype("<f8").tobytes())], cwd=cwd)


_NUM = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|[-+]?(?:inf|nan)", re.I)


_SCANF_FLOAT = re.compile(r"[-+]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|inf(?:inity)?|nan)", re.I)


def read_matrix(path):
    """First nine numbers of a MOSFLM-style matrix file, read like scanf's %lg (numbers may touch,
    as in fixed-format columns "-0.0123-0.0456"). Returns the columns (a*, b*, c*)."""
    text = _open_text(path)
    nums = []
    for n, line in enumerate(text.splitlines(), start=1):
        for tok in line.split():
            pos = 0
            while pos < len(tok) and len(nums) < 9:
                m = _SCANF_FLOAT.match(tok, pos)
                if not m:
                    raise InputError(f"{path}:{n}: not a number: {tok!r}")
                nums.append(float(m.group(0)))
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
    """nanoBragg's read_text_file: numbers separated by ' \\t,;:!'; missing values are NaN."""
    text = _open_text(path)
    out = []
    for n, line in enumerate(text.splitlines(), start=1):
        toks = [t for t in re.split(r"[ \t,;:!]+", line.strip(" \t,;:!\r")) if t]
        if not toks:
            continue
        vals = []
        for t in toks[:ncols]:
            try:
                vals.append(float(t))
            except ValueError:
                raise InputError(f"{path}:{n}: not a number: {t!r}") from None
        vals += [math.nan] * (ncols - len(vals))
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
    except OSError as exc:
        os.unlink(tmp)
        raise unwritable(option, name, exc) from None
    return tmp


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
    targets = [(opt, name, os.path.join(cwd or "", name), data) for opt, name, data in outputs]
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

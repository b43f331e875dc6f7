"""Image-level parity of two float images (nanoBragg's -floatfile format).

The headline figure is the one the engine tests use against upstream: the maximum relative
difference over pixels above ``floor`` (1e-3) of the reference image's maximum. A difference
heat-map can be written as a PNG (grayscale, |A - B| scaled to its maximum), with a tiny encoder
on zlib so no imaging library is needed.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nbparity.atomic import atomic_write
from nbparity.cases import read_float_image


@dataclass
class ImageParity:
    shape: tuple[int, int]
    max_rel: float  # over pixels above floor * max(|reference|)
    compared_pixels: int
    correlation: float
    sum_reference: float
    sum_candidate: float
    worst: list[tuple[int, int, float, float, float]]  # slow, fast, ref, cand, rel
    #: pixels where the images disagree on NaN or infinity (a NaN against a number, +inf
    #: against -inf or a number): never within any tolerance
    nonfinite_mismatch: int = 0
    nonfinite_reference: int = 0  # NaN or infinite pixels of the reference
    #: the largest |candidate - reference| over the dark pixels (at or below the floor),
    #: relative to the reference's peak: a spot the reference does not have
    max_dark_diff: float = 0.0

    def passes(self, rtol: float) -> bool:
        return not self.problems(rtol)

    def problems(self, rtol: float) -> list[str]:
        """Why the images are not at parity under ``rtol`` (empty when they are)."""
        out = []
        if self.compared_pixels == 0:
            out.append(self.nothing_to_compare())
        if self.nonfinite_mismatch:
            out.append(f"{self.nonfinite_mismatch} pixel(s) NaN or infinite in one image and "
                       f"not the same in the other")
        if self.max_rel > rtol:
            out.append(f"max rel error {self.max_rel:.3e} above rtol {rtol:g}")
        if self.max_dark_diff > rtol and self.compared_pixels:
            out.append(f"a pixel at or below the floor differs by {self.max_dark_diff:.3e} of "
                       f"the reference's peak (above rtol {rtol:g})")
        return out

    def nothing_to_compare(self) -> str:
        pixels = self.shape[0] * self.shape[1]
        what = ("is NaN or infinite everywhere" if self.nonfinite_reference == pixels
                else "has no pixel above 1e-3 of its finite maximum (all zero, or NaN/inf "
                     "elsewhere)")
        return f"nothing to compare: the reference image {what}"


def infer_shape(path: Path, shape: tuple[int, int] | None) -> tuple[int, int]:
    if shape:
        return shape
    count = path.stat().st_size // 4
    side = int(round(count ** 0.5))
    if side * side != count:
        raise ValueError(f"{path}: {count} floats is not a square image; give --shape S F")
    return side, side


def compare_images(reference: np.ndarray, candidate: np.ndarray, floor: float = 1e-3,
                   roi: tuple[int, int, int, int] | None = None, n_worst: int = 5) -> ImageParity:
    """``roi`` = (slow_min, slow_max, fast_min, fast_max), inclusive, zero-based.

    Pixels above ``floor`` of the reference's largest finite |value| are compared by relative
    error; the others (dark pixels) by their difference relative to that peak; NaN and
    infinities must sit at the same pixels with the same values."""
    if reference.shape != candidate.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {candidate.shape}")
    r = reference.astype(np.float64)
    x = candidate.astype(np.float64)
    offset = (0, 0)
    if roi:
        s0, s1, f0, f1 = roi
        r, x, offset = r[s0:s1 + 1, f0:f1 + 1], x[s0:s1 + 1, f0:f1 + 1], (s0, f0)
    finite = np.isfinite(r) & np.isfinite(x)
    same_nonfinite = (np.isnan(r) & np.isnan(x)) | (~np.isnan(r) & (r == x))
    nonfinite_mismatch = int((~finite & ~same_nonfinite).sum())
    finite_r = np.abs(r[np.isfinite(r)])
    peak = float(finite_r.max()) if finite_r.size else 0.0
    mask = finite & (np.abs(r) > floor * peak) if peak > 0 else np.zeros(r.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mask, np.abs(x - r) / np.abs(r), 0.0)
        dark = np.where(finite & ~mask, np.abs(x - r), 0.0)
    max_dark = float(dark.max()) / peak if peak > 0 and dark.size else 0.0
    if peak == 0 and dark.size and dark.max() > 0:
        max_dark = float("inf")  # a candidate lights a pixel of an all-zero reference
    order = np.argsort(rel, axis=None)[::-1][:n_worst]
    worst = []
    for flat in order:
        s, f = np.unravel_index(flat, rel.shape)
        if rel[s, f] > 0:
            worst.append((int(s + offset[0]), int(f + offset[1]), float(r[s, f]),
                          float(x[s, f]), float(rel[s, f])))
    rf, xf = r[finite], x[finite]
    if rf.size > 1 and np.std(rf) > 0 and np.std(xf) > 0:
        corr = float(np.corrcoef(rf, xf)[0, 1])
    else:
        corr = 1.0 if np.array_equal(rf, xf) and rf.size else float("nan")
    return ImageParity(tuple(r.shape), float(rel.max()) if rel.size else 0.0,
                       int(mask.sum()), corr, float(r.sum()), float(x.sum()), worst,
                       nonfinite_mismatch, int((~np.isfinite(r)).sum()), max_dark)


def compare_files(path_a: Path, path_b: Path, shape: tuple[int, int] | None = None,
                  roi=None) -> tuple[ImageParity, np.ndarray, np.ndarray]:
    shape = infer_shape(Path(path_a), shape)
    a = read_float_image(path_a, shape)
    b = read_float_image(path_b, shape)
    return compare_images(a, b, roi=roi), a, b


def write_png_heatmap(path: Path, reference: np.ndarray, candidate: np.ndarray,
                      overwrite: bool = False) -> None:
    """|candidate - reference| as an 8-bit grayscale PNG (white = largest difference)."""
    diff = np.abs(candidate.astype(np.float64) - reference.astype(np.float64))
    top = diff.max()
    pixels = np.zeros(diff.shape, np.uint8) if top == 0 else \
        np.clip(np.round(255.0 * diff / top), 0, 255).astype(np.uint8)
    height, width = pixels.shape
    raw = b"".join(b"\x00" + pixels[row].tobytes() for row in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    png = (b"\x89PNG\r\n\x1a\n"
           + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b""))
    atomic_write(path, png, overwrite=overwrite)

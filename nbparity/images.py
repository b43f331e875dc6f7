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

    def passes(self, rtol: float) -> bool:
        return self.max_rel <= rtol


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
    """``roi`` = (slow_min, slow_max, fast_min, fast_max), inclusive, zero-based."""
    if reference.shape != candidate.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {candidate.shape}")
    r = reference.astype(np.float64)
    x = candidate.astype(np.float64)
    offset = (0, 0)
    if roi:
        s0, s1, f0, f1 = roi
        r, x, offset = r[s0:s1 + 1, f0:f1 + 1], x[s0:s1 + 1, f0:f1 + 1], (s0, f0)
    peak = float(np.max(np.abs(r))) if r.size else 0.0
    mask = np.abs(r) > floor * peak
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(mask, np.abs(x - r) / np.abs(r), 0.0)
    order = np.argsort(rel, axis=None)[::-1][:n_worst]
    worst = []
    for flat in order:
        s, f = np.unravel_index(flat, rel.shape)
        if rel[s, f] > 0:
            worst.append((int(s + offset[0]), int(f + offset[1]), float(r[s, f]),
                          float(x[s, f]), float(rel[s, f])))
    if r.size > 1 and np.std(r) > 0 and np.std(x) > 0:
        corr = float(np.corrcoef(r.ravel(), x.ravel())[0, 1])
    else:
        corr = 1.0 if np.array_equal(r, x) else float("nan")
    return ImageParity(tuple(reference.shape), float(rel.max()) if rel.size else 0.0,
                       int(mask.sum()), corr, float(r.sum()), float(x.sum()), worst)


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

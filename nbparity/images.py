"""Image-level parity of two float images (nanoBragg's -floatfile format).

The headline figure is the one the engine tests use against upstream: the maximum relative
difference over pixels above ``floor`` (1e-3) of the reference image's maximum. ``worst_pixels``
picks the pixels worth tracing; ``write_figure`` draws a comparison as a PNG (matplotlib, loaded
only when a figure is drawn).
"""

from __future__ import annotations

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

    def exit_code(self, rtol: float) -> int:
        """The contract's verdict: nothing comparable is structural (3) whatever else
        differs, any problem a divergence (1), else parity (0)."""
        from nbparity import exitcodes

        if self.compared_pixels == 0:
            return exitcodes.STRUCTURAL
        return exitcodes.DIVERGED if self.problems(rtol) else exitcodes.PARITY

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


def nonfinite_mismatches(reference: np.ndarray, candidate: np.ndarray) -> list[tuple[int, int]]:
    """Pixels where the images disagree on NaN or infinity, in raster order (slow, fast)."""
    r = reference.astype(np.float64)
    x = candidate.astype(np.float64)
    finite = np.isfinite(r) & np.isfinite(x)
    same = (np.isnan(r) & np.isnan(x)) | (~np.isnan(r) & (r == x))
    return [(int(s), int(f)) for s, f in np.argwhere(~finite & ~same)]


def worst_pixels(reference: np.ndarray, candidate: np.ndarray, n: int = 3, rtol: float = 0.0,
                 floor: float = 1e-3, nonfinite: bool = True) -> list[tuple[int, int]]:
    """The ``n`` pixels that say most about how two images differ, distinct, (slow, fast):
    pixels where they disagree on NaN/inf first (raster order; ``nonfinite`` False leaves
    them out), then the compared pixels (above ``floor`` of the reference's finite peak) by
    relative error, largest first, then the lit dark pixels (at or below the floor) by their
    difference, largest first. With ``rtol``, pixels beyond it in either class come before
    those within it. Pixels where the images are equal are never chosen."""
    if reference.shape != candidate.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {candidate.shape}")
    r = reference.astype(np.float64)
    x = candidate.astype(np.float64)
    chosen: list[tuple[int, int]] = nonfinite_mismatches(r, x)[:n] if nonfinite else []
    finite = np.isfinite(r) & np.isfinite(x)
    finite_r = np.abs(r[np.isfinite(r)])
    peak = float(finite_r.max()) if finite_r.size else 0.0
    lit = finite & (np.abs(r) > floor * peak) if peak > 0 else np.zeros(r.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.where(finite, np.abs(x - r), 0.0)
        rel = np.where(lit, diff / np.abs(r), 0.0)
        dark = np.where(finite & ~lit, diff / peak if peak > 0 else np.where(diff > 0, np.inf,
                                                                              0.0), 0.0)

    def ranked(score: np.ndarray, above: bool) -> list[tuple[int, int]]:
        keep = (score > rtol) if above else (score > 0) & (score <= rtol)
        flat = np.flatnonzero(keep)
        order = flat[np.argsort(-score.ravel()[flat], kind="stable")]
        return [(int(i // r.shape[1]), int(i % r.shape[1])) for i in order[:n]]

    for candidates in (ranked(rel, True), ranked(dark, True), ranked(rel, False),
                       ranked(dark, False)):
        for pixel in candidates:
            if len(chosen) >= n:
                return chosen
            if pixel not in chosen:
                chosen.append(pixel)
    return chosen[:n]


# --------------------------------------------------------------------------- figures

#: the figure's size in inches and its resolution: a PNG of 1500 x 520 pixels
FIGURE_SIZE = (15.0, 5.2)
FIGURE_DPI = 100
#: at most this many NaN/inf-mismatch markers are drawn (the title gives the count)
MAX_NONFINITE_MARKS = 400


@dataclass
class FigureMarks:
    """What ``write_figure`` marked, read back from the drawn markers: (slow, fast) pixels."""

    worst: list[tuple[int, int]]
    nonfinite: list[tuple[int, int]]


def write_figure(path: str | Path, reference: np.ndarray, candidate: np.ndarray,
                 parity: ImageParity, title: str = "", overwrite: bool = True,
                 marks: list[tuple[int, int]] | None = None, n_marks: int = 5) -> FigureMarks:
    """A PNG figure of an image comparison: the reference and the candidate on one shared
    logarithmic colour scale (one colour bar), and |candidate - reference| / |reference| on a
    logarithmic scale of its own (pixels where the images are equal in grey; where the
    reference is 0 and the candidate is not, in cyan). The worst pixels (``marks``, default
    ``worst_pixels(..., n_marks)`` without NaN/inf mismatches) are circled and labelled
    (slow, fast) on every panel; pixels where the images disagree on NaN/inf are marked with
    a red x. The title holds ``title`` and the metrics. Written atomically (``overwrite``
    False: FileExistsError if a file is there). Returns the marked pixels as drawn.

    matplotlib is imported here (Agg backend): commands that draw nothing do not load it."""
    import io

    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    if reference.shape != candidate.shape:
        raise ValueError(f"images differ in shape: {reference.shape} vs {candidate.shape}")
    r = np.asarray(reference, dtype=np.float64)
    x = np.asarray(candidate, dtype=np.float64)
    if marks is None:
        marks = worst_pixels(r, x, n_marks, nonfinite=False)
    marks = [(int(s), int(f)) for s, f in marks]
    nan_marks = nonfinite_mismatches(r, x)
    figure = Figure(figsize=FIGURE_SIZE, dpi=FIGURE_DPI, layout="constrained")
    axes = _draw_panels(figure, r, x)
    drawn = _draw_marks(axes, marks, nan_marks, r.shape)
    metrics = (f"max rel {parity.max_rel:.3e} over {parity.compared_pixels} compared pixels; "
               f"{parity.nonfinite_mismatch} NaN/inf mismatches; correlation "
               f"{parity.correlation:.9f}; dark pixels within {parity.max_dark_diff:.3e} of "
               f"the peak")
    heading = f"{title}\n{metrics}" if title else metrics
    figure.suptitle(heading, fontsize=10)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI)
    atomic_write(path, buffer.getvalue(), overwrite=overwrite)
    return drawn


def _image_scale(r: np.ndarray, x: np.ndarray):
    """The images' colour scale: one log scale over the positive finite values of both (zero,
    negative, NaN: no place on a log scale, black)."""
    import matplotlib
    from matplotlib import colors

    both = np.concatenate([r[np.isfinite(r) & (r > 0)], x[np.isfinite(x) & (x > 0)]])
    top = float(both.max()) if both.size else 1.0
    low = max(float(both.min()) if both.size else top * 1e-6, top * 1e-7)
    image_norm = colors.LogNorm(vmin=low, vmax=max(top, low * 10))
    image_cmap = matplotlib.colormaps["viridis"].with_extremes(bad="black")
    return image_norm, image_cmap


def _relative_difference(r: np.ndarray, x: np.ndarray):
    """|x - r| / |r| as shown (masked where not > 0), its log scale and colour map: grey where
    equal, cyan where the reference is 0 and the candidate is not."""
    import matplotlib
    from matplotlib import colors

    with np.errstate(divide="ignore", invalid="ignore"):
        diff = np.abs(x - r)
        rel = np.where(r != 0, diff / np.abs(r), np.where(diff > 0, np.inf, 0.0))
    shown = rel[np.isfinite(rel) & (rel > 0)]
    rel_top = float(shown.max()) if shown.size else 1.0
    rel_low = max(float(shown.min()) if shown.size else rel_top * 1e-3, rel_top * 1e-12)
    rel_norm = colors.LogNorm(vmin=rel_low, vmax=max(rel_top, rel_low * 10))
    rel_cmap = matplotlib.colormaps["magma"].with_extremes(bad="lightgrey", over="cyan")
    rel_shown = np.ma.masked_where(~(rel > 0) | np.isnan(rel), rel)
    return rel_shown, rel_norm, rel_cmap


def _draw_panels(figure, r: np.ndarray, x: np.ndarray):
    """The three panels (reference, candidate, relative difference) and their colour bars."""
    image_norm, image_cmap = _image_scale(r, x)
    rel_shown, rel_norm, rel_cmap = _relative_difference(r, x)
    axes = figure.subplots(1, 3)
    masked = {name: np.ma.masked_where(~(img > 0) | ~np.isfinite(img), img)
              for name, img in (("reference", r), ("candidate", x))}
    shown_ref = axes[0].imshow(masked["reference"], norm=image_norm, cmap=image_cmap,
                               origin="upper", interpolation="nearest")
    axes[1].imshow(masked["candidate"], norm=image_norm, cmap=image_cmap, origin="upper",
                   interpolation="nearest")
    shown_rel = axes[2].imshow(rel_shown, norm=rel_norm, cmap=rel_cmap, origin="upper",
                               interpolation="nearest")
    figure.colorbar(shown_ref, ax=list(axes[:2]), shrink=0.9,
                    label="intensity (log; black: <= 0 or NaN)")
    figure.colorbar(shown_rel, ax=axes[2], shrink=0.9, extend="max",
                    label="|cand - ref| / |ref| (log; grey: equal; cyan: ref 0)")
    for ax, name in zip(axes, ("reference", "candidate", "relative difference")):
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("fast", fontsize=8)
        ax.set_ylabel("slow", fontsize=8)
        ax.tick_params(labelsize=7)
    return axes


def _draw_marks(axes, marks: list[tuple[int, int]], nan_marks: list[tuple[int, int]],
                shape: tuple[int, ...]) -> FigureMarks:
    """The worst pixels circled and labelled, NaN/inf mismatches crossed, on every panel; the
    marks as drawn on the last one, read back from its markers."""
    drawn_worst, drawn_nan = [], []
    size = max(20.0, 2000.0 / max(shape))
    for index, ax in enumerate(axes):
        if marks:
            circles = ax.scatter([f for _, f in marks], [s for s, _ in marks], s=size * 4,
                                 facecolors="none", edgecolors="red", linewidths=1.2,
                                 label="worst pixels")
            for s, f in marks:
                ax.annotate(f"({s},{f})", (f, s), xytext=(4, 4), textcoords="offset points",
                            fontsize=6, color="red")
            if index == 2:
                drawn_worst = [(int(round(sy)), int(round(fx))) for fx, sy in
                               circles.get_offsets()]
        if nan_marks:
            cut = nan_marks[:MAX_NONFINITE_MARKS]
            crosses = ax.scatter([f for _, f in cut], [s for s, _ in cut], s=size * 2,
                                 marker="x", color="orangered", linewidths=1.0,
                                 label="NaN/inf mismatch")
            if index == 2:
                drawn_nan = [(int(round(sy)), int(round(fx))) for fx, sy in
                             crosses.get_offsets()]
        ax.set_xlim(-0.5, shape[1] - 0.5)
        ax.set_ylim(shape[0] - 0.5, -0.5)
    if marks or nan_marks:
        axes[2].legend(loc="lower right", fontsize=6, framealpha=0.6)
    return FigureMarks(drawn_worst, drawn_nan)

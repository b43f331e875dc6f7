"""images.write_figure: a real PNG of the expected size, the worst pixels and the NaN/inf
mismatches marked where they are; `nbparity images --png`; matplotlib loaded only to draw."""

from __future__ import annotations

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.images import (
    FIGURE_DPI,
    FIGURE_SIZE,
    compare_images,
    worst_pixels,
    write_figure,
)

WIDTH, HEIGHT = round(FIGURE_SIZE[0] * FIGURE_DPI), round(FIGURE_SIZE[1] * FIGURE_DPI)


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR chunk, after checking the signature and its CRC."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    length, kind = struct.unpack(">I4s", data[8:16])
    assert kind == b"IHDR" and length == 13
    body = data[12:16 + length]
    assert struct.unpack(">I", data[16 + length:20 + length])[0] == zlib.crc32(body)
    assert data.rstrip(b"\x00")[-8:-4] == b"IEND"
    return struct.unpack(">II", data[16:24])


def _images():
    rng = np.random.default_rng(3)
    reference = (rng.random((30, 40)) ** 6 * 1000 + 1).astype(np.float32)
    candidate = reference.copy()
    candidate[4, 9] *= 1.2      # the worst relative error
    candidate[17, 25] *= 1.05   # the second
    candidate[26, 3] *= 1.001   # the third
    candidate[12, 33] = np.nan  # a NaN where the reference has a number
    return reference, candidate


def test_write_figure_writes_a_png_with_the_worst_pixels_marked(tmp_path):
    reference, candidate = _images()
    parity = compare_images(reference, candidate)
    path = tmp_path / "figure.png"
    marks = write_figure(path, reference, candidate, parity, title="three faults")
    assert _png_size(path.read_bytes()) == (WIDTH, HEIGHT)
    assert marks.worst == [(4, 9), (17, 25), (26, 3)]  # largest relative error first
    assert marks.worst == worst_pixels(reference, candidate, 5, nonfinite=False)
    assert marks.nonfinite == [(12, 33)]
    # what was drawn is readable as an image: markers change the pixels they sit on
    import matplotlib.image

    drawn = matplotlib.image.imread(path)
    assert drawn.shape == (HEIGHT, WIDTH, 4)
    plain = tmp_path / "plain.png"
    unmarked = write_figure(plain, reference, candidate, parity, marks=[])
    assert unmarked.worst == [] and unmarked.nonfinite == [(12, 33)]
    assert not np.array_equal(drawn, matplotlib.image.imread(plain))


def test_write_figure_marks_what_it_is_given_and_refuses_to_overwrite(tmp_path):
    reference, candidate = _images()
    parity = compare_images(reference, candidate)
    path = tmp_path / "figure.png"
    marks = write_figure(path, reference, candidate, parity, marks=[(0, 0), (29, 39)])
    assert marks.worst == [(0, 0), (29, 39)]
    with pytest.raises(FileExistsError):
        write_figure(path, reference, candidate, parity, overwrite=False)
    with pytest.raises(IsADirectoryError):
        write_figure(tmp_path, reference, candidate, parity)
    # equal images, an all-zero pair: still a figure, nothing marked
    zero = np.zeros((5, 7), np.float32)
    empty = write_figure(tmp_path / "zero.png", zero, zero, compare_images(zero, zero))
    assert empty.worst == [] and empty.nonfinite == []
    assert _png_size((tmp_path / "zero.png").read_bytes()) == (WIDTH, HEIGHT)


def test_worst_pixels_order_nan_then_relative_error_then_lit_dark_pixels():
    reference = np.zeros((6, 6), np.float32)
    reference[1:5, 1:5] = 100.0
    candidate = reference.copy()
    candidate[2, 2] = 101.0     # rel 1e-2
    candidate[3, 3] = 130.0     # rel 0.3: the worst compared pixel
    candidate[0, 5] = 5.0       # a dark pixel lit
    candidate[4, 1] = np.inf    # an infinity against a number
    assert worst_pixels(reference, candidate, 5) == [(4, 1), (3, 3), (2, 2), (0, 5)]
    # beyond rtol first: the lit dark pixel (5% of the peak) before the 1% compared one
    assert worst_pixels(reference, candidate, 4, rtol=0.02) == [(4, 1), (3, 3), (0, 5), (2, 2)]
    assert worst_pixels(reference, reference, 3) == []


def test_images_png_writes_the_figure_and_refuses_a_folder(tmp_path):
    reference, candidate = _images()
    a, b = tmp_path / "a.bin", tmp_path / "b.bin"
    reference.astype("<f4").tofile(a)
    candidate.astype("<f4").tofile(b)
    png = tmp_path / "diff.png"
    result = _run("images", a, b, "--shape", 30, 40, "--png", png)
    assert result.exit_code == 1, result.output
    assert _png_size(png.read_bytes()) == (WIDTH, HEIGHT)
    folder = tmp_path / "figures"
    folder.mkdir()
    refused = _run("images", a, b, "--shape", 30, 40, "--png", folder)
    assert refused.exit_code == 2
    assert len(refused.output.strip().splitlines()) == 1 and "directory" in refused.output
    assert list(folder.iterdir()) == []


def test_commands_that_draw_nothing_do_not_load_matplotlib():
    code = ("import sys, nbparity.cli, nbparity.images, nbparity.explain; "
            "print('matplotlib' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "False"


def test_the_image_verdict_is_one_rule():
    """ImageParity.exit_code: nothing comparable is 3 whatever else differs, a problem 1, else 0
    (the images command and image gates both take it)."""
    from nbparity import exitcodes
    from nbparity.images import compare_images

    ref = np.ones((4, 5), np.float32)
    assert compare_images(ref, ref.copy()).exit_code(1e-6) == exitcodes.PARITY
    bad = ref.copy()
    bad[1, 2] = 2.0
    assert compare_images(ref, bad).exit_code(1e-6) == exitcodes.DIVERGED
    assert compare_images(ref, bad).exit_code(2.0) == exitcodes.PARITY
    nan = np.full((4, 5), np.nan, np.float32)
    assert compare_images(nan, bad).exit_code(1e-6) == exitcodes.STRUCTURAL

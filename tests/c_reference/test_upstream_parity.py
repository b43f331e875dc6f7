"""The C reference against upstream nanoBragg's own outputs on the 20 public cases."""

from __future__ import annotations

import numpy as np
import pytest

from nbparity.parse import parse_printout_text

from .conftest import CASE_IDS, CASES, run_c, strip_outputs

PRINTOUTS = [(c, s, f) for c in CASES for (s, f) in c.pixels]
PRINTOUT_IDS = [f"{c.name}-{s}_{f}" for c, s, f in PRINTOUTS]


@pytest.mark.parametrize("name", CASE_IDS)
def test_float_image_matches_upstream(case_runs, name):
    run = case_runs[name]
    ref = np.fromfile(run.case.folder / "float.bin", dtype="<f4").reshape(run.case.shape)
    got = run.image
    assert got.shape == ref.shape
    sel = ref > 1e-3 * ref.max()
    assert sel.any()
    rel = np.abs(got[sel].astype(np.float64) - ref[sel]) / np.abs(ref[sel].astype(np.float64))
    assert rel.max() <= 1e-6, f"{name}: max relative difference {rel.max():.3e}"
    # everything else (background, zeros) agrees too
    assert np.allclose(got, ref, rtol=1e-6, atol=1e-6 * float(ref.max()))


@pytest.mark.parametrize(("case", "slow", "fast"), PRINTOUTS, ids=PRINTOUT_IDS)
def test_printout_pixel_matches_upstream(c_binary, tmp_path, case, slow, fast):
    golden = (case.folder / f"printout_{slow}_{fast}.txt").read_text()
    args = [a for a in strip_outputs(case.args)]
    # the noise case's seed only matters for the noise image
    r = run_c(args + ["-nopgm", "-noprogress", "-nonoise", "-floatfile", tmp_path / "f.bin",
                      "-printout_pixel", fast, slow], cwd=case.folder)
    assert r.returncode == 0, r.stderr
    mine = parse_printout_text(r.stdout, "c")
    ref = parse_printout_text(golden, "upstream")
    assert len(mine) == len(ref) == 1
    a, b = mine[0], ref[0]
    # same text, field by field (upstream prints 6-10 significant digits)
    assert a.tokens == b.tokens
    assert (a.fast, a.slow) == (fast, slow)


def _stat_lines(text: str) -> list[str]:
    keep = ("solid angle subtended", "max_I =", "mean=", "intfile_scale")
    return [line for line in text.splitlines() if line.startswith(keep)]


@pytest.mark.parametrize("name", CASE_IDS)
def test_statistics_match_upstream(case_runs, name):
    run = case_runs[name]
    golden = (run.case.folder / "stdout.txt").read_text()
    assert _stat_lines(run.stdout) == _stat_lines(golden)


def test_console_output_matches_upstream(case_runs):
    """Setup and summary lines (not only statistics) read like upstream's."""
    skip = ("writing", "counting entries", "re-reading", "reading Fs", "TRACE_")
    for name, run in case_runs.items():
        golden = [line for line in (run.case.folder / "stdout.txt").read_text().splitlines()
                  if not line.startswith(skip)]
        mine = [line for line in run.stdout.splitlines() if not line.startswith(skip)
                and not line.startswith("  noise image") and line.strip() != ""]
        golden = [line for line in golden if line.strip() != ""]
        # the golden runs wrote a noise image only for noise_smv; drop noise parameter lines
        drop = ("  seed:", "  water droplet size:", "  noise image", "63585 photons")
        golden = [line for line in golden if not line.startswith(drop)]
        mine = [line for line in mine if not line.startswith(drop)]
        assert mine == golden, name


def test_noise_and_int_images_byte_identical(c_binary, tmp_path):
    case = next(c for c in CASES if c.name == "noise_smv")
    args = strip_outputs(case.args) + ["-nopgm", "-noprogress", "-intfile", tmp_path / "int.img",
                                       "-noisefile", tmp_path / "noise.img",
                                       "-floatfile", tmp_path / "float.bin"]
    r = run_c(args, cwd=case.folder)
    assert r.returncode == 0, r.stderr
    for name in ("int.img", "noise.img"):
        assert (tmp_path / name).read_bytes() == (case.folder / name).read_bytes(), name
    assert (tmp_path / "float.bin").read_bytes() == (case.folder / "float.bin").read_bytes()
    assert "63585 photons on noise image (0 overloads)" in r.stdout

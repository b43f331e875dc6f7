"""Differential test: every option family against the project's C reference (skipped if unbuilt).

The C reference (c_reference/, built by `make`) is an independent implementation of upstream's
algorithm; here both engines run the same command lines and must give the same float image
(1e-6 relative over pixels above 1e-3 of the max) and the same SMV / PGM / noise bytes.
"""

from __future__ import annotations

import io
import shlex
import shutil
import subprocess

import numpy as np
import pytest
from nbsim_testlib import CASES, REPO_ROOT

import simulator

C_BIN = REPO_ROOT / "c_reference" / "build" / "nanobragg-ref"

pytestmark = pytest.mark.skipif(not C_BIN.exists(), reason="C reference not built (make build)")

BASE = (
    "-cell 70 80 90 75 85 95 -hkl P1.hkl -misset 10 20 30 -lambda 1.2 -distance 120 "
    "-detpixels 24 -pixel 0.6 -N 4"
)
VARIANTS = [
    "-phi -0.5 -phistep 0.25 -phisteps 5",
    "-phi 2 -osc 3",
    "-phistep 0.5",
    "-mosaic 0.5 -mosaic_domains 4 -phi 0 -osc 0.5 -phisteps 2 -mosaic_seed 5",
    "-misset random -misset_seed 42",
    "-round_xtal -fudge 0.7",
    "-gauss_xtal -fudge 1.3",
    "-tophat_spots",
    "-square_xtal -Na 3 -Nb 1 -Nc 5",
    "-xtal_x 0.0005 -xtal_y 0.0003",
    "-N 2",
    "-N 5 -interpolate",
    "-dmin 3 -phi 0 -osc 1 -phisteps 2",
    "-energy 12000 -dispersion 2 -dispsteps 4",
    "-divergence 2 -divsteps 3",
    "-hdivrange 1 -hdivstep 0.3 -vdivrange 1 -vdivstep 0.5 -square_div",
    "-sourcefile src.txt",
    "-polar 0.5 -oversample 2 -oversample_polar",
    "-nopolar -oversample_polar",
    "-oversample 3 -oversample_omega",
    "-oversample 2 -oversample_thick -detector_thick 100",
    "-detector_thick 200 -detector_abs 300 -detector_thicksteps 4",
    "-curved_det -oversample 1",
    "-point_pixel -water 30",
    "-flux 1e12 -exposure 0.5 -beamsize 0.05",
    "-roi 3 10 5 20 -phi 0 -osc 1 -phisteps 3",
    "-mask mask.img -phi 0 -osc 1 -phisteps 3",
    "-img mask.img -distance 150",
    "-adxv -Xbeam 5 -Ybeam 8",
    "-denzo -Xbeam 5 -Ybeam 8",
    "-xds -ORGX 10 -ORGY 12",
    "-dials -ORGX 10 -ORGY 12 -twotheta 10",
    "-Xclose 6 -Yclose 7",
    "-close_distance 110",
    "-twotheta 15 -pivot beam",
    "-detector_rotx 5 -detector_roty -3 -detector_rotz 10",
    "-spindle_axis 0 1 0 -phi 10 -osc 2 -phisteps 2",
    "-twotheta_axis 0 0 1 -twotheta 5",
    "-polar_vector 0 1 0 -polar 0.9",
    "-odet_vector 2 0 0 -fdet_vector 0 0 1",
    "-beam_vector 1 0.1 0",
    "-detsize_f 12 -detsize_s 8",
    "-detpixels_f 20 -detpixels_s 30",
    "-scale 3 -adc 10 -seed -5",
]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    from simulator import io as nbio

    d = tmp_path_factory.mktemp("cref")
    shutil.copy(CASES["triclinic_hkl_misset"].folder / "P1.hkl", d / "P1.hkl")
    (d / "src.txt").write_text("-10 0 0 1 1e-10\n-10 0.01 0 1 1.1e-10\n-10 0 0.02 1\n")
    head = dict(
        pixel_size=0.6e-3,
        distance=0.12,
        lambda0=1.2e-10,
        Xbeam=0.007,
        Ybeam=0.008,
        Fbeam=0.0072,
        Sbeam=0.0075,
        detsize_s=0.0144,
        dials_origin=(1, 2, 3),
        ORGX=12,
        ORGY=13,
        close_distance=0.11,
        phi0=0.0,
        osc=0.0,
        twotheta=0.0,
        RTD=57.29577951308232,
    )
    mask = np.ones((24, 24), np.uint16)
    mask[5:9, 3:20] = 0
    mask[0, 0] = 0
    (d / "mask.img").write_bytes(nbio.smv_bytes(nbio.smv_header(head, 24, 24), mask))
    return d


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["c-parity"])
def test_same_outputs_as_c_reference(variant, mode, workdir, tmp_path):
    args = shlex.split(BASE) + shlex.split(variant) + ["-phi_carryover_mode", mode, "-seed", "7"]
    outs = {}
    for tag in ("c", "p"):
        outs[tag] = [str(tmp_path / f"{tag}.{ext}") for ext in ("bin", "img", "pgm", "noise")]
    o = lambda t: [  # noqa: E731
        "-floatfile",
        outs[t][0],
        "-intfile",
        outs[t][1],
        "-pgmfile",
        outs[t][2],
        "-noisefile",
        outs[t][3],
    ]
    proc = subprocess.run(
        [str(C_BIN), *args, *o("c")], cwd=workdir, capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr
    simulator.run_argv(args + o("p"), cwd=workdir, stdout=io.StringIO())
    a = np.fromfile(outs["c"][0], dtype="<f4").astype(np.float64)
    b = np.fromfile(outs["p"][0], dtype="<f4").astype(np.float64)
    sel = np.abs(a) > 1e-3 * np.abs(a).max()
    assert (np.abs(a[sel] - b[sel]) / np.abs(a[sel])).max() <= 1e-6
    for i in (1, 2, 3):
        assert open(outs["c"][i], "rb").read() == open(outs["p"][i], "rb").read(), outs["p"][i]

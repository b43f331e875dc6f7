"""Options no public upstream case covers: self-consistency checks and trace-alone == full."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from nbparity.parse import parse_printout_text, parse_trace_text

from .conftest import CASES, run_c, trace_lines

HKL_DIR = next(c for c in CASES if c.name == "phi_carryover").folder
BASE = ("-cell 60 60 60 90 90 90 -hkl {hkl} -misset 5 -3 7 -lambda 1 -distance 100 "
        "-detpixels 20 -pixel 0.4 -N 6")


def base(extra: str = "") -> list[str]:
    return (BASE.format(hkl=HKL_DIR / "P1.hkl") + " " + extra).split()


def image(tmp_path, args, name="f.bin", cwd=None):
    path = tmp_path / name
    r = run_c(list(args) + ["-nopgm", "-noprogress", "-nonoise", "-floatfile", path], cwd=cwd)
    assert r.returncode == 0, r.stderr
    return np.fromfile(path, dtype="<f4"), r


def test_dump_file_round_trip(c_binary, tmp_path):
    dump = tmp_path / "F.dump"
    a, _ = image(tmp_path, base(f"-dump {dump}"), "a.bin")
    assert dump.exists()
    args = [t for t in base() if t != str(HKL_DIR / "P1.hkl") and t != "-hkl"]
    b, r = image(tmp_path, args + ["-dump", dump], "b.bin")
    assert "reading Fs from" in r.stdout
    assert a.tobytes() == b.tobytes()


def test_single_source_file_equals_default_beam(c_binary, tmp_path):
    src = tmp_path / "one.src"
    src.write_text("-10 0 0 1 1e-10\n")
    a, _ = image(tmp_path, base(), "a.bin")
    b, _ = image(tmp_path, base(f"-sourcefile {src}"), "b.bin")
    assert a.tobytes() == b.tobytes()


def test_source_file_missing_columns_take_defaults(c_binary, tmp_path):
    src = tmp_path / "partial.src"
    src.write_text("-10 0 0\n\n")
    a, _ = image(tmp_path, base(), "a.bin")
    b, _ = image(tmp_path, base(f"-sourcefile {src}"), "b.bin")
    assert a.tobytes() == b.tobytes()


def _write_mask(path, fast, slow, zero_rows):
    header = f"{{\nHEADER_BYTES=512;\nDIM=2;\nSIZE1={fast};\nSIZE2={slow};\nPIXEL_SIZE=0.4;\n}}\f"
    header = header.encode().ljust(512, b" ")
    data = np.ones((slow, fast), dtype=np.uint16)
    data[:zero_rows] = 0
    path.write_bytes(header + data.tobytes())


def test_mask_skips_zero_pixels(c_binary, tmp_path):
    mask = tmp_path / "mask.img"
    _write_mask(mask, 20, 20, 5)
    a, _ = image(tmp_path, base(), "a.bin")
    b, r = image(tmp_path, base(f"-mask {mask}"), "b.bin")
    a, b = a.reshape(20, 20), b.reshape(20, 20)
    assert (b[:5] == 0).all()
    assert a[5:].tobytes() == b[5:].tobytes()
    assert "skipping zero-flagged pixels" in r.stdout


def test_mask_header_with_detector_dimensions_only(c_binary, tmp_path):
    """A header without SIZE1/SIZE2 takes its size from DETECTOR_DIMENSIONS (a missing SIZE1
    used to read as nan, so the fallback never ran and the mask was refused)."""
    mask = tmp_path / "mask.img"
    header = b"{\nHEADER_BYTES=512;\nDIM=2;\nDETECTOR_DIMENSIONS=20;\nPIXEL_SIZE=0.4;\n}\f"
    data = np.ones((20, 20), dtype=np.uint16)
    data[:5] = 0
    mask.write_bytes(header.ljust(512, b" ") + data.tobytes())
    a, _ = image(tmp_path, base(), "a.bin")
    b, r = image(tmp_path, base(f"-mask {mask}"), "b.bin")
    a, b = a.reshape(20, 20), b.reshape(20, 20)
    assert (b[:5] == 0).all()
    assert a[5:].tobytes() == b[5:].tobytes()


def test_roi_limits_rendered_pixels(c_binary, tmp_path):
    a, _ = image(tmp_path, base(), "a.bin")
    b, _ = image(tmp_path, base("-roi 2 5 3 7"), "b.bin")
    a, b = a.reshape(20, 20), b.reshape(20, 20)
    inside = np.zeros((20, 20), bool)
    inside[3:8, 2:6] = True
    assert (b[~inside] == 0).all()
    assert a[inside].tobytes() == b[inside].tobytes()


def test_printout_every_pixel(c_binary, tmp_path):
    _, r = image(tmp_path, base("-printout -detpixels 6"))
    blocks = parse_printout_text(r.stdout)
    assert len(blocks) == 36
    assert [(b.slow, b.fast) for b in blocks[:3]] == [(0, 0), (0, 1), (0, 2)]


def test_random_misset_is_reproducible(c_binary, tmp_path):
    args = [t for t in base("-misset_seed 42") if t not in ("5", "-3", "7")]
    args[args.index("-misset") + 1:args.index("-misset") + 1] = ["random"]
    a, r1 = image(tmp_path, args, "a.bin")
    b, r2 = image(tmp_path, args, "b.bin")
    assert a.tobytes() == b.tobytes()
    line = [l for l in r1.stdout.splitlines() if l.startswith("random orientation misset")]
    assert len(line) == 1
    c, _ = image(tmp_path, [t if t != "42" else "43" for t in args], "c.bin")
    assert a.tobytes() != c.tobytes()


def test_xtalsize_sets_cell_counts(c_binary, tmp_path):
    r = run_c(base("-xtalsize 0.00061 -nonoise -nopgm -trace_pixel 3 3"))
    assert r.returncode == 0, r.stderr
    frame = parse_trace_text(r.stdout).frame
    n = tuple(frame[frame.key == "N_cells"].sort_values("component")["value"])
    assert n == (102.0, 102.0, 102.0)  # ceil(0.61 um / 60 A)


def test_pgm_output(c_binary, tmp_path):
    pgm = tmp_path / "image.pgm"
    r = run_c(base(f"-pgmfile {pgm} -nonoise -noprogress"))
    assert r.returncode == 0, r.stderr
    data = pgm.read_bytes()
    assert data.startswith(b"P5\n20 20\n# pixels scaled by ")
    assert len(data.split(b"255\n", 1)[1]) == 400


def test_int_image_header(c_binary, tmp_path):
    out = tmp_path / "int.img"
    r = run_c(base(f"-intfile {out} -nonoise -nopgm -noprogress -scale 2 -adc 10"))
    assert r.returncode == 0, r.stderr
    data = out.read_bytes()
    assert len(data) == 512 + 2 * 400
    head = data[:512].decode()
    assert head.startswith("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;")
    assert "SIZE1=20;\nSIZE2=20;\nPIXEL_SIZE=0.4;" in head
    values = struct.unpack("<400H", data[512:])
    assert min(values) >= 10


def test_noise_is_reproducible_and_seed_dependent(c_binary, tmp_path):
    imgs = []
    for seed, name in ((7, "a.img"), (7, "b.img"), (8, "c.img")):
        r = run_c(base(f"-noisefile {tmp_path / name} -seed {seed} -nopgm -noprogress"))
        assert r.returncode == 0, r.stderr
        imgs.append((tmp_path / name).read_bytes())
    assert imgs[0] == imgs[1] != imgs[2]


def test_phi_step_rules(c_binary):
    def phis(extra):
        r = run_c(base(extra + " -nonoise -nopgm -trace_pixel 0 0"))
        assert r.returncode == 0, r.stderr
        return [l for l in r.stdout.splitlines() if l.startswith("  ") and "phi steps" in l][0]
    assert phis("-osc 2") == "  2 phi steps from 0 to 2 degrees"
    assert phis("-phisteps 4") == "  4 phi steps from 0 to 1 degrees"
    assert phis("-osc 1 -phistep 0.3") == "  4 phi steps from 0 to 1 degrees"
    assert phis("-phistep 0.5") == "  2 phi steps from 0 to 0.5 degrees"


def test_divergence_rules(c_binary):
    r = run_c(base("-hdivrange 1 -vdivrange 1 -hdivstep 0.3 -vdivstep 0.3 -nonoise -nopgm "
                   "-trace_pixel 0 0"))
    assert r.returncode == 0, r.stderr
    # ceil(1/0.3) = 4 steps per axis, corners cut by the round divergence
    assert "  4 divergence steps" not in r.stdout
    n = int([l for l in r.stdout.splitlines() if l.endswith(" sources")][0].split()[0])
    r2 = run_c(base("-hdivrange 1 -vdivrange 1 -hdivstep 0.3 -vdivstep 0.3 -square_div "
                    "-nonoise -nopgm -trace_pixel 0 0"))
    n2 = int([l for l in r2.stdout.splitlines() if l.endswith(" sources")][0].split()[0])
    assert n2 == 16 and n < n2


VARIANTS = {
    "curved": "-curved_det -phi 0 -osc 1 -phisteps 2",
    "thick_oversample_thick": "-detector_thick 100 -detector_thicksteps 2 -oversample_thick "
                              "-oversample 2",
    "thick_default_mu": "-detector_thick 200 -twotheta 5",
    "kahn_polar_custom": "-polar 0.9 -polar_vector 0 0.6 0.8 -beam_vector 1 0 0 -phi 0 "
                         "-osc 1 -phisteps 3",
    "nopolar_point_pixel": "-nopolar -point_pixel -oversample 2",
    "spindle_custom": "-spindle_axis 0 1 1 -phi 0 -osc 2 -phisteps 3",
    "water": "-water 20 -phi 0 -osc 1 -phisteps 2",
    "dispersion_square_div": "-dispersion 2 -dispsteps 3 -divergence 0.3 -divsteps 3 "
                             "-square_div",
    "adxv": "-adxv -Xbeam 4 -Ybeam 4",
    "denzo": "-denzo -Xbeam 4 -Ybeam 4 -detector_rotz 2",
    "xds_close": "-xds -close_distance 90 -ORGX 8 -ORGY 11",
    "custom_pivot_sample": "-fdet_vector 0 0 1 -sdet_vector 0 -1 0 -odet_vector 1 0 0 "
                           "-pivot sample -Xclose 4 -Yclose 4 -twotheta 3 "
                           "-twotheta_axis 0 0 -1",
    "gauss_mosaic": "-gauss_xtal -fudge 2 -mosaic 1 -mosaic_domains 4 -mosaic_seed 11",
    "interpolate_forced": "-interpolate -N 3",
    "energy_flux": "-energy 12398.42 -flux 1e12 -exposure 2 -beamsize 0.05",
    "default_F_with_hkl": "-default_F 7 -dmin 5",
}


@pytest.mark.parametrize("mode", ["c-parity", "spec"])
@pytest.mark.parametrize("name", sorted(VARIANTS))
def test_variant_trace_alone_equals_full(c_binary, tmp_path, name, mode):
    pixels = [(0, 0), (0, 1), (7, 13), (19, 19)]
    common = base(VARIANTS[name]) + ["-nopgm", "-noprogress", "-nonoise",
                                     "-phi_carryover_mode", mode]
    for s, f in pixels:
        common += ["-trace_pixel", s, f]
    full = run_c(common + ["-floatfile", tmp_path / "f.bin"])
    alone = run_c(common)
    assert full.returncode == 0 and alone.returncode == 0, full.stderr + alone.stderr
    assert trace_lines(alone.stdout) == trace_lines(full.stdout)
    img = np.fromfile(tmp_path / "f.bin", dtype="<f4").reshape(20, 20)
    assert np.isfinite(img).all() and img.max() > 0
    frame = parse_trace_text(full.stdout).frame
    for _, row in frame[frame.key == "I_pixel_final"].iterrows():
        assert np.float64(img[row.slow, row.fast]) == row.value


@pytest.mark.parametrize("spelling, same_as", [
    ("-curved_detector", "-curved_det"),
    ("-detector_absorption 50 -detector_thick 100", "-detector_abs 50 -detector_thick 100"),
    ("-molecular_weight 5", "-MW 5"),
    ("-molecules 5", ""),
])
def test_full_word_spellings_of_substring_options(c_binary, tmp_path, spelling, same_as):
    """Upstream matches -curved_det, -detector_abs and -molec anywhere in a token (strstr), so
    their full words are the same options; nbsim takes them too (nanobragg-facts.md, PARSING).
    The C reference refused -curved_detector, -detector_absorption and -molecular_weight."""
    a, _ = image(tmp_path, base(spelling), "a.bin")
    b, _ = image(tmp_path, base(same_as), "b.bin")
    assert a.tobytes() == b.tobytes()
    if "curved" in spelling:
        assert a.tobytes() != image(tmp_path, base(), "c.bin")[0].tobytes()

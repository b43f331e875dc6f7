"""TRACE_C output: grammar, catalogue coverage, exactness, and trace-alone == full run."""

from __future__ import annotations

import time

import numpy as np
import pytest

from nbparity import schema
from nbparity.parse import parse_trace_text

from .conftest import CASE_IDS, CASES, run_c, strip_outputs, trace_lines

SHAPE_FLAGS = ("-round_xtal", "-gauss_xtal", "-tophat_spots", "-binary_spots")


def expected_keys(args) -> set[str]:
    keys = {k.name for k in schema.CATALOGUE}
    if any(flag in args for flag in SHAPE_FLAGS):
        keys -= set(schema.SQUARE_SHAPE_ONLY)
    return keys


@pytest.mark.parametrize("name", CASE_IDS)
def test_trace_parses_and_covers_catalogue(case_runs, name):
    run = case_runs[name]
    log = parse_trace_text(run.stdout, f"{name}.log")
    frame = log.frame
    assert set(frame["engine"]) == {"C"}
    pixels = set(zip(frame["slow"], frame["fast"]))
    assert pixels == set(run.case.pixels)
    want = expected_keys(run.case.args)
    for (slow, fast), block in frame.groupby(["slow", "fast"]):
        got = set(block["key"])
        assert got == want, (slow, fast, sorted(want ^ got))
        for key in want:
            spec = schema.by_name(key)
            rows = block[block["key"] == key]
            if spec.is_step:
                per_step = rows.groupby(["phi_tic", "mos_tic"]).size()
                assert (per_step == spec.arity).all(), key
            else:
                assert len(rows) == spec.arity, key
        # one step set per phi_tic x mos_tic
        steps = block[block["key"] == "F_latt"]
        n_phi = int(block[block["key"] == "phisteps"]["value"].iloc[0])
        n_mos = int(block[block["key"] == "mosaic_domains"]["value"].iloc[0])
        assert len(steps) == n_phi * n_mos
    meta = dict(zip(frame[frame.stage == "meta"]["key"], frame[frame.stage == "meta"]["text"]))
    assert meta["schema_version"] == "1"
    assert meta["engine"] == "c-reference"
    assert meta["phi_carryover_mode"] == "c-parity"
    assert meta["dtype"] == "float64" and meta["device"] == "cpu"


def _block_key_order(stdout: str) -> list[str]:
    """Keys of the first TRACE_C block in the order they are printed (a step key once)."""
    order: list[str] = []
    for line in stdout.splitlines():
        if line.startswith("TRACE_C: "):
            key = line.split()[1]
        elif line.startswith("TRACE_C_PHI: "):
            key = line.split()[3]
        else:
            continue
        if key == "trace_pixel" and order:
            break  # the next block
        if key not in order:
            order.append(key)
    return order


@pytest.mark.parametrize("name", ["phi_carryover", "gauss_xtal"])
def test_trace_lines_follow_catalogue_order(case_runs, name):
    """trace.c prints by walking one ordered key table: the catalogue's keys, in its order."""
    run = case_runs[name]
    printed = _block_key_order(run.stdout)
    want = [k.name for k in schema.CATALOGUE if k.name in expected_keys(run.case.args)]
    assert printed == want


@pytest.mark.parametrize("name", CASE_IDS)
def test_traced_final_equals_image(case_runs, name):
    run = case_runs[name]
    frame = parse_trace_text(run.stdout).frame
    finals = frame[frame["key"] == "I_pixel_final"]
    for _, row in finals.iterrows():
        stored = run.image[row["slow"], row["fast"]]
        assert np.float64(stored) == row["value"]
        assert np.float32(row["value"]) == stored


@pytest.mark.parametrize("name", CASE_IDS)
def test_step_terms_sum_to_accumulated_intensity(case_runs, name):
    """With one source, sub-pixel, layer and no water, the traced steps are the whole sum."""
    run = case_runs[name]
    frame = parse_trace_text(run.stdout).frame
    for (_slow, _fast), block in frame.groupby(["slow", "fast"]):
        val = {k: block[block.key == k]["value"].iloc[0] for k in
               ("sources", "oversample", "I_before_scaling", "steps")}
        if val["sources"] != 1 or val["oversample"] != 1 or "-water" in run.case.args \
                or "-oversample_polar" in run.case.args:
            continue
        if "-detector_thicksteps" in run.case.args:
            continue
        terms = block[block.key == "I_term"]["value"].sum()
        assert terms == pytest.approx(val["I_before_scaling"], rel=1e-12)


def _trace_run(case_folder, args, pixels, mode, full, tmp_path):
    cmd = strip_outputs(args) + ["-nopgm", "-noprogress", "-nonoise",
                                 "-phi_carryover_mode", mode]
    for slow, fast in pixels:
        cmd += ["-trace_pixel", slow, fast]
    if full:
        cmd += ["-floatfile", tmp_path / f"full_{mode}.bin"]
    r = run_c(cmd, cwd=case_folder)
    assert r.returncode == 0, r.stderr
    if not full:
        assert "trace only" in r.stdout
    return trace_lines(r.stdout)


CARRY_CASES = [c for c in CASES if c.name in ("phi_carryover", "roi_carryover",
                                              "interpolate_small_N", "phi_sweep")]


@pytest.mark.parametrize("name", CASE_IDS)
def test_trace_alone_equals_full_run(c_binary, tmp_path, name):
    case = next(c for c in CASES if c.name == name)
    alone = _trace_run(case.folder, case.args, case.pixels, "c-parity", False, tmp_path)
    full = _trace_run(case.folder, case.args, case.pixels, "c-parity", True, tmp_path)
    assert alone == full


@pytest.mark.parametrize("mode", ["c-parity", "spec"])
@pytest.mark.parametrize("case", CARRY_CASES, ids=[c.name for c in CARRY_CASES])
def test_trace_alone_equals_full_run_both_modes(c_binary, tmp_path, case, mode):
    # the case's pixels plus a few more, including the very first evaluated pixel
    pixels = list(case.pixels) + [(0, 0), (1, 0), (case.shape[0] - 1, case.shape[1] - 1)]
    pixels = list(dict.fromkeys(pixels))
    alone = _trace_run(case.folder, case.args, pixels, mode, False, tmp_path)
    full = _trace_run(case.folder, case.args, pixels, mode, True, tmp_path)
    assert alone == full


EXTRA_CARRY = {
    # dmin cuts the first pixels of row 0: the first sweep of the run moves into the image
    "dmin_moves_first_sweep": (
        "phi_carryover",
        "-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -phi 0 -osc 1 -phisteps 3 -dmin 20 "
        "-lambda 1 -distance 100 -detpixels 32 -pixel 0.3 -N 6",
        [(0, 0), (0, 10), (0, 11), (0, 12), (0, 13), (5, 7), (31, 31)]),
    # a zero phi in the middle of the sweep (negative start)
    "zero_phi_mid_sweep": (
        "phi_carryover",
        "-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -phi -0.5 -phistep 0.25 -phisteps 4 "
        "-osc 1 -lambda 1 -distance 100 -detpixels 32 -pixel 0.3 -N 6",
        [(0, 0), (0, 1), (12, 12), (31, 31)]),
    # several sources and mosaic domains with the carry-over
    "sources_mosaic_carry": (
        "phi_carryover",
        "-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -phi 0 -osc 1 -phisteps 3 "
        "-mosaic 0.3 -mosaic_domains 3 -divergence 0.4 -divsteps 2 -lambda 1 -distance 100 "
        "-detpixels 24 -pixel 0.3 -N 6",
        [(0, 0), (0, 1), (12, 12), (23, 23)]),
    # tricubic interpolation switched off for good at pixel (0, 25) of the run
    "interpolation_switch": (
        "interpolate_small_N",
        "-cell 50 50 50 90 90 90 -hkl P1.hkl -misset 10 20 30 -N 2 -lambda 1 -distance 80 "
        "-detpixels 48 -pixel 0.3 -Xbeam 0.5 -Ybeam 0.5 -phi 0 -osc 1 -phisteps 2",
        [(0, 20), (0, 24), (0, 25), (0, 26), (1, 0), (30, 40)]),
    # interpolation that never switches off: the walk reaches the last traced pixel
    "interpolation_no_switch": (
        "phi_carryover",
        "-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -N 2 -phi 0 -osc 1 -phisteps 3 "
        "-lambda 1 -distance 300 -detpixels 24 -pixel 0.3 -round_xtal",
        [(0, 0), (3, 4), (12, 12), (23, 23)]),
}


@pytest.mark.parametrize("mode", ["c-parity", "spec"])
@pytest.mark.parametrize("name", sorted(EXTRA_CARRY))
def test_trace_alone_equals_full_run_extra(c_binary, tmp_path, name, mode):
    case_name, args, pixels = EXTRA_CARRY[name]
    folder = next(c for c in CASES if c.name == case_name).folder
    alone = _trace_run(folder, args.split(), pixels, mode, False, tmp_path)
    full = _trace_run(folder, args.split(), pixels, mode, True, tmp_path)
    assert alone == full


def test_interpolation_switch_is_visible_in_traces(c_binary, tmp_path):
    case_name, args, pixels = EXTRA_CARRY["interpolation_switch"]
    folder = next(c for c in CASES if c.name == case_name).folder
    text = _trace_run(folder, args.split(), [(0, 20), (0, 26)], "c-parity", False, tmp_path)
    frame = parse_trace_text(text).frame
    # before the switch F_cell is interpolated (not a table value), after it nearest-neighbour
    table = {round(float(line.split()[3]), 3)
             for line in (folder / "P1.hkl").read_text().splitlines() if line.strip()}
    before = frame[(frame.fast == 20) & (frame.key == "F_cell")]["value"]
    after = frame[(frame.fast == 26) & (frame.key == "F_cell")]["value"]
    assert any(round(v, 3) not in table for v in before)
    assert all(round(v, 3) in table or v == 0.0 for v in after)


def _rot_a(frame, slow, fast, phi_tic):
    rows = frame[(frame.slow == slow) & (frame.fast == fast) & (frame.key == "rot_a_angstroms")
                 & (frame.phi_tic == phi_tic) & (frame.mos_tic == 0)]
    return tuple(rows.sort_values("component")["value"])


def test_carryover_modes_differ_where_they_should(c_binary, tmp_path):
    case = next(c for c in CASES if c.name == "phi_carryover")
    logs = {}
    for mode in ("c-parity", "spec"):
        text = _trace_run(case.folder, case.args, [(0, 0), (0, 1)], mode, False, tmp_path)
        logs[mode] = parse_trace_text(text).frame
    cp, sp = logs["c-parity"], logs["spec"]
    a0 = tuple(cp[(cp.slow == 0) & (cp.fast == 0) & (cp.key == "a_angstroms")]
               .sort_values("component")["value"])
    # the very first sweep of the run sees the true phi=0 cell in both modes
    assert _rot_a(cp, 0, 0, 0) == pytest.approx(a0, rel=1e-15)
    assert _rot_a(sp, 0, 0, 0) == pytest.approx(a0, rel=1e-15)
    # the next pixel: c-parity carries the last non-zero step (phi_tic 4), spec does not
    assert _rot_a(cp, 0, 1, 0) == _rot_a(cp, 0, 1, 4)
    assert _rot_a(sp, 0, 1, 0) == pytest.approx(a0, rel=1e-15)
    assert _rot_a(sp, 0, 1, 0) != _rot_a(sp, 0, 1, 4)


def test_spec_mode_image_differs_only_through_carryover(c_binary, tmp_path):
    """Spec mode matches upstream where no phi=0 step exists (phi_sweep) bit for bit."""
    case = next(c for c in CASES if c.name == "phi_sweep")
    r = run_c(strip_outputs(case.args) + ["-nopgm", "-noprogress", "-nonoise",
                                          "-phi_carryover_mode", "spec",
                                          "-floatfile", tmp_path / "f.bin"], cwd=case.folder)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "f.bin").read_bytes() == (case.folder / "float.bin").read_bytes()


def test_tracing_one_pixel_of_a_large_detector_is_fast(c_binary):
    folder = next(c for c in CASES if c.name == "phi_carryover").folder
    args = ("-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -phi 0 -osc 1 -phisteps 10 "
            "-lambda 1 -distance 200 -detpixels_s 2527 -detpixels_f 2463 -pixel 0.172 -N 10 "
            "-nonoise -nopgm -noprogress -trace_pixel 1264 1231").split()
    start = time.perf_counter()
    r = run_c(args, cwd=folder)
    elapsed = time.perf_counter() - start
    assert r.returncode == 0, r.stderr
    assert "TRACE_C: I_pixel_final" in r.stdout
    assert elapsed < 1.0, f"tracing one pixel took {elapsed:.2f} s"


def test_traced_pixel_outside_roi_gets_setup_only(c_binary, tmp_path):
    case = next(c for c in CASES if c.name == "roi_carryover")
    text = _trace_run(case.folder, case.args, [(0, 0)], "c-parity", True, tmp_path)
    frame = parse_trace_text(text).frame
    assert "I_pixel_final" not in set(frame.key)
    assert "fdet_vec" in set(frame.key)

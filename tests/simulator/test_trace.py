# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""TRACE_PY output: catalogue coverage, bit-exact final value, trace-alone == full-image run."""

from __future__ import annotations

import io
import struct

import pytest
import torch
from nbsim_testlib import CARRYOVER_CASES, CASES, run_case, strip_outputs

import simulator
from nbparity.parse import parse_trace_text
from nbparity.schema import CATALOGUE


def _trace_args(name, pixels, mode, *extra):
    args = strip_outputs(CASES[name].args) + ["-phi_carryover_mode", mode, *extra]
    for s, f in pixels:
        args += ["-trace_pixel", str(s), str(f)]
    return args


def _simulate(name, pixels, mode, *extra):
    config = simulator.parse_argv(_trace_args(name, pixels, mode, *extra), cwd=CASES[name].folder)
    return config, simulator.simulate(config)


@pytest.mark.parametrize("name", ["phi_carryover", "mosaic", "oversample_polar", "round_xtal"])
def test_every_catalogue_key_is_emitted_and_parses(name):
    case = CASES[name]
    config, result = _simulate(name, case.pixels, "c-parity")
    frame = parse_trace_text("\n".join(result.trace_lines), source=name).frame
    emitted = set(frame["key"])
    expected = {k.name for k in CATALOGUE}
    if config.crystal.shape != "square":
        expected -= {"F_latt_a", "F_latt_b", "F_latt_c"}
    assert expected <= emitted, expected - emitted
    assert set(zip(frame["slow"], frame["fast"])) == set(case.pixels)
    steps = frame[frame["stage"] == "phi"]
    n = config.crystal.phisteps * config.crystal.mosaic_domains
    assert (
        steps.groupby(["slow", "fast"])[["phi_tic", "mos_tic"]]
        .apply(lambda g: len(set(zip(g.phi_tic, g.mos_tic))))
        .eq(n)
        .all()
    )


def _final_values(lines):
    out, pixel = {}, None
    for line in lines:
        parts = line.split()
        if parts[1] == "trace_pixel":
            pixel = (int(parts[2]), int(parts[3]))
        if parts[1] == "I_pixel_final":
            out[pixel] = float(parts[2])
    return out


@pytest.mark.parametrize(
    "name", ["cubic_default_F", "phi_carryover", "water_point_pixel", "thick_absorbing_detector"]
)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_traced_final_value_equals_image_bit_for_bit(name, dtype):
    case = CASES[name]
    config, result = _simulate(
        name, case.pixels, "c-parity", "-dtype", dtype, "-floatfile", "unused.bin"
    )
    assert not config.run.trace_only
    finals = _final_values(result.trace_lines)
    for (s, f), v in finals.items():
        # the float image's pixel (nanoBragg's floatimage is float; the -floatfile value),
        # printed as a double, as the C reference prints it
        pix = float(result.image[s, f].to(torch.float32))
        assert struct.pack("<d", v) == struct.pack("<d", pix), (s, f, v, pix)
        assert float(result.taps[(s, f)]["I_pixel_final"].to(torch.float32)) == pix
        assert float(result.taps[(s, f)]["I_pixel_final"]) == float(result.image[s, f])


@pytest.mark.parametrize(
    "name", CARRYOVER_CASES + ("interpolate_small_N", "mosaic", "divergence_dispersion")
)
@pytest.mark.parametrize("mode", ["spec", "c-parity"])
def test_pixel_traced_alone_equals_its_trace_in_full_run(name, mode):
    case = CASES[name]
    pixels = list(case.pixels) + [(case.shape[0] - 1, case.shape[1] - 1)]
    _, full = _simulate(name, pixels, mode, "-floatfile", "unused.bin")
    for px in pixels:
        cfg, alone = _simulate(name, [px], mode)
        assert cfg.run.trace_only
        assert int(alone.computed.sum()) <= 1  # only the traced pixel was computed
        block = _block(full.trace_lines, px)
        assert alone.trace_lines == block, (name, mode, px)


def _block(lines, px):
    out, keep = [], False
    for line in lines:
        if line.startswith("TRACE_PY: trace_pixel"):
            keep = line == "TRACE_PY: trace_pixel %d %d" % px
        if keep:
            out.append(line)
    return out


def test_carryover_modes_differ_only_where_expected():
    _, spec = run_case("phi_carryover", mode="spec")
    _, cpar = run_case("phi_carryover", mode="c-parity")
    # phi steps 0, 0.2, ..., 0.8: in c-parity every sweep except the first uses phi=0.8 at tic 0
    assert not bool((spec.image == cpar.image).all())


def test_dmin_cut_first_sweep_and_carryover():
    """-dmin cuts the first pixels, so the first sweep moves; tracing alone still agrees."""
    name = "phi_carryover"
    extra = ("-dmin", "8", "-roi", "0", "40", "0", "40")
    px = [(0, 0), (20, 20), (33, 21)]
    _, full = _simulate(name, px, "c-parity", *extra, "-floatfile", "unused.bin")
    for p in px:
        _, alone = _simulate(name, [p], "c-parity", *extra)
        assert alone.trace_lines == _block(full.trace_lines, p)


def test_untraced_pixel_outside_roi_has_setup_only():
    _, res = _simulate("roi_carryover", [(0, 0)], "c-parity")
    keys = {ln.split()[1] for ln in res.trace_lines}
    assert "fdet_vec" in keys and "pixel_pos_meters" not in keys and "I_pixel_final" not in keys


def test_cli_trace_output_goes_last(tmp_path):
    case = CASES["cubic_default_F"]
    out = io.StringIO()
    simulator.run_argv(
        _trace_args("cubic_default_F", [(32, 32)], "spec", "-floatfile", str(tmp_path / "f.bin")),
        cwd=case.folder,
        stdout=out,
    )
    lines = out.getvalue().splitlines()
    first = next(i for i, ln in enumerate(lines) if ln.startswith("TRACE_PY"))
    assert all(ln.startswith("TRACE_PY") for ln in lines[first:])
    assert any(ln.startswith("max_I") for ln in lines[:first])

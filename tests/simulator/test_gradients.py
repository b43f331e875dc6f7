"""Differentiability: torch.autograd.gradcheck on a small detector, both carry-over modes."""

from __future__ import annotations

import pytest
import torch
from nbsim_testlib import CASES

import simulator

BASE = (
    "-cell 70 80 90 80 95 100 -default_F 50 -misset 3 4 5 -lambda 1.1 -distance 90 "
    "-detpixels 4 -pixel 0.5 "
    "-N 4 -phi 0 -osc 1 -phisteps 3 -mosaic 0.4 -mosaic_domains 3 -mosaic_seed 11 -oversample 1"
).split()

PARAMS = {
    "cell": [70.0, 80.0, 90.0, 80.0, 95.0, 100.0],
    "misset_deg": [3.0, 4.0, 5.0],
    "distance_mm": 90.0,
    "beam_center_mm": [
        1.5,
        1.5,
    ],  # Fbeam, Sbeam: MOSFLM adds half a pixel to Ybeam, Xbeam (1.25 mm)
    "N": [4.0, 4.0, 4.0],
    "mosaic_spread_deg": 0.4,
    "lambda_A": 1.1,
}


def _inputs():
    return [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in PARAMS.values()]


@pytest.mark.parametrize("mode", ["spec", "c-parity"])
def test_gradcheck_all_parameters(mode):
    config = simulator.parse_argv(BASE + ["-phi_carryover_mode", mode])
    names = list(PARAMS)

    def f(*values):
        return simulator.simulate(config, params=dict(zip(names, values))).image

    inputs = _inputs()
    # the params reproduce the config's own values exactly
    assert torch.equal(f(*inputs).detach(), simulator.simulate(config).image)
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("mode", ["spec", "c-parity"])
def test_gradcheck_interpolated_structure_factors(mode):
    case = CASES["interpolate_small_N"]
    argv = [
        "-cell",
        "50",
        "50",
        "50",
        "90",
        "90",
        "90",
        "-hkl",
        "P1.hkl",
        "-misset",
        "10",
        "20",
        "30",
        "-N",
        "2",
        "-lambda",
        "1",
        "-distance",
        "80",
        "-detpixels",
        "4",
        "-pixel",
        "2",
        "-phi",
        "0",
        "-osc",
        "1",
        "-phisteps",
        "2",
        "-oversample",
        "1",
        "-phi_carryover_mode",
        mode,
    ]
    config = simulator.parse_argv(argv, cwd=case.folder)
    assert config.sf.interpolate

    def f(cell, mis, lam):
        return simulator.simulate(
            config, params={"cell": cell, "misset_deg": mis, "lambda_A": lam}
        ).image

    inputs = [
        torch.tensor([50.0, 50, 50, 90, 90, 90], dtype=torch.float64, requires_grad=True),
        torch.tensor([10.0, 20, 30], dtype=torch.float64, requires_grad=True),
        torch.tensor(1.0, dtype=torch.float64, requires_grad=True),
    ]
    assert torch.autograd.gradcheck(f, inputs, eps=1e-6, atol=1e-6, rtol=1e-4)


def test_gradient_reaches_every_parameter():
    config = simulator.parse_argv(BASE + ["-phi_carryover_mode", "c-parity"])
    inputs = _inputs()
    img = simulator.simulate(config, params=dict(zip(PARAMS, inputs))).image
    img.sum().backward()
    for name, t in zip(PARAMS, inputs):
        assert t.grad is not None and torch.isfinite(t.grad).all() and bool((t.grad != 0).any()), (
            name
        )


def test_no_item_or_numpy_on_parameter_paths():
    import inspect

    import simulator.crystal
    import simulator.detector
    import simulator.geometry
    import simulator.lattice
    import simulator.structure_factors

    for mod in (
        simulator.crystal,
        simulator.detector,
        simulator.geometry,
        simulator.lattice,
        simulator.structure_factors,
    ):
        src = inspect.getsource(mod)
        assert ".item()" not in src and ".detach()" not in src and ".numpy()" not in src, (
            mod.__name__
        )


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_N_from_params_decides_the_lattice_factor(dtype):
    """params["N"] replaces the command line's -N everywhere, also in the choice of which axes
    have a lattice factor: -N 1 with params N = 4 renders what -N 4 renders."""
    args = BASE + ["-dtype", dtype]
    args[args.index("-N") + 1] = "1"
    config_n1 = simulator.parse_argv(args)
    n4 = torch.tensor([4.0, 4.0, 4.0], dtype=torch.float64)
    with torch.no_grad():
        from_params = simulator.simulate(config_n1, params={"N": n4}).image
        from_cli = simulator.simulate(simulator.parse_argv(BASE + ["-dtype", dtype])).image
    torch.testing.assert_close(from_params, from_cli, rtol=1e-12, atol=0)

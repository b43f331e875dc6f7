"""CUDA: the same images as on the CPU within 1e-10 relative in float64 (skipped without a GPU)."""

from __future__ import annotations

import pytest
import torch
from nbsim_testlib import CASES, run_case, strip_outputs

import simulator

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA GPU on this machine"),
]


@pytest.mark.parametrize(
    "name",
    [
        "phi_carryover",
        "mosaic",
        "interpolate_small_N",
        "oversample_polar",
        "thick_absorbing_detector",
        "divergence_dispersion",
    ],
)
def test_cuda_matches_cpu(name):
    case = CASES[name]
    _, cpu = run_case(name)
    config = simulator.parse_argv(
        strip_outputs(case.args) + ["-phi_carryover_mode", "c-parity", "-device", "cuda"],
        cwd=case.folder,
    )
    gpu = simulator.simulate(config)
    assert gpu.image.device.type == "cuda" and gpu.image.dtype == torch.float64
    a = cpu.image
    b = gpu.image.cpu()
    sel = a.abs() > 1e-3 * a.abs().max()
    rel = ((a - b).abs()[sel] / a.abs()[sel]).max()
    assert float(rel) <= 1e-10


def test_cuda_trace_alone_equals_full():
    case = CASES["phi_carryover"]
    args = strip_outputs(case.args) + [
        "-phi_carryover_mode",
        "c-parity",
        "-device",
        "cuda",
        "-trace_pixel",
        "0",
        "1",
    ]
    full = simulator.simulate(simulator.parse_argv(args + ["-floatfile", "x.bin"], cwd=case.folder))
    alone = simulator.simulate(simulator.parse_argv(args, cwd=case.folder))
    assert full.trace_lines == alone.trace_lines

"""Memory budget: chunks are sized to it, and a large run stays within it (measured)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from nbsim_testlib import REPO_ROOT

import simulator
from simulator.chunking import bytes_per_element as _bytes_per_element

ARGS = (
    "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels {n} "
    "-pixel 0.1 -N 5 "
    "-phi 0 -osc 1 -phisteps 10 -mosaic 0.3 -mosaic_domains 10 -oversample 1 -memory_budget_gb {gb}"
)

PROBE = r"""
import json, sys, torch
import simulator

def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) * 1024
def reset_peak():
    with open('/proc/self/clear_refs', 'w') as fh:
        fh.write('5')

args = sys.argv[1]
warm = simulator.parse_argv(args.format(n=16, gb=0.0625).split())
simulator.simulate(warm)                      # load kernels and thread pools first
config = simulator.parse_argv(args.format(n=int(sys.argv[2]), gb=float(sys.argv[3])).split())
reset_peak()
base = hwm()
result = simulator.simulate(config)
peak = hwm()
print(json.dumps({"delta": peak - base, "chunk": simulator.chunk_pixels(config),
                  "pixels": config.detector.fpixels * config.detector.spixels,
                  "sum": float(result.image.sum())}))
"""


def test_chunk_arithmetic_fits_budget():
    for gb in (0.01, 0.25, 1.0):
        config = simulator.parse_argv(ARGS.format(n=2048, gb=gb).split())
        chunk = simulator.chunk_pixels(config)
        inner = (
            config.crystal.phisteps * config.crystal.mosaic_domains * len(config.beam.source_dirs)
        )
        assert chunk * inner * _bytes_per_element(config, False) <= config.run.memory_budget_bytes
        assert chunk >= 1


def test_peak_memory_of_a_large_run_stays_within_budget():
    budget_gb = 0.0625  # 64 MiB of intermediates
    n = 512  # 512 x 512 pixels x 10 phi x 10 domains = 26 million steps, about 200 chunks
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, ARGS, str(n), str(budget_gb)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["chunk"] < out["pixels"] // 10  # really chunked
    image_bytes = (
        out["pixels"] * (8 + 8 + 1) * 2
    )  # the image, the pixel index list, flags (and copies)
    assert out["delta"] <= budget_gb * 2**30 + image_bytes, out
    # and the same image as one big chunk
    big = simulator.simulate(simulator.parse_argv(ARGS.format(n=64, gb=2.0).split()))
    small = simulator.simulate(simulator.parse_argv(ARGS.format(n=64, gb=0.0005).split()))
    assert (
        simulator.chunk_pixels(simulator.parse_argv(ARGS.format(n=64, gb=0.0005).split())) < 64 * 64
    )
    assert bool((big.image == small.image).all())


def test_chunking_does_not_change_any_pixel():
    """Serial state (phi=0 carry-over, interpolation switch) crosses chunk boundaries exactly."""
    from nbsim_testlib import CASES, strip_outputs

    for name in ("interpolate_small_N", "roi_carryover", "oversample_polar"):
        case = CASES[name]
        base = strip_outputs(case.args) + ["-phi_carryover_mode", "c-parity"]
        one = simulator.parse_argv(base + ["-memory_budget_gb", "4"], cwd=case.folder)
        many = simulator.parse_argv(base + ["-memory_budget_gb", "0.0001"], cwd=case.folder)
        assert simulator.chunk_pixels(many) < 200 < simulator.chunk_pixels(one)
        a = simulator.simulate(one).image
        b = simulator.simulate(many).image
        assert bool((a == b).all()), name

"""Property tests: for random small set-ups, a traced pixel alone equals its block in a full run,
and the image does not depend on the chunk size."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nbsim_testlib import CASES

import simulator

SETUP = st.fixed_dictionaries(
    {
        "phi0": st.sampled_from(["0", "-0.5", "1"]),
        "phisteps": st.integers(1, 3),
        "domains": st.integers(1, 3),
        "oversample": st.integers(1, 2),
        "dmin": st.sampled_from(["0", "9"]),
        "roi": st.sampled_from([None, ("2", "9", "1", "7")]),
        "mode": st.sampled_from(["spec", "c-parity"]),
        "shape": st.sampled_from(["-square_xtal", "-round_xtal", "-gauss_xtal"]),
        "N": st.sampled_from(["2", "4"]),
        "pixel": st.tuples(st.integers(0, 11), st.integers(0, 11)),
    }
)


def _argv(p):
    argv = (
        "-cell 50 55 60 85 95 100 -hkl P1.hkl -misset 10 20 30 -lambda 1 -distance 80 "
        "-detpixels 12 -pixel 1.2".split()
    )
    argv += ["-N", p["N"], "-phi", p["phi0"], "-phistep", "0.5", "-phisteps", str(p["phisteps"])]
    argv += ["-oversample", str(p["oversample"]), "-dmin", p["dmin"], p["shape"]]
    if p["domains"] > 1:
        argv += ["-mosaic", "0.5", "-mosaic_domains", str(p["domains"])]
    if p["roi"]:
        argv += ["-roi", *p["roi"]]
    argv += ["-phi_carryover_mode", p["mode"], "-trace_pixel", *map(str, p["pixel"])]
    return argv


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(SETUP)
def test_trace_alone_and_chunking(p):
    folder = CASES["interpolate_small_N"].folder
    argv = _argv(p)
    alone = simulator.simulate(simulator.parse_argv(argv, cwd=folder))
    full_cfg = simulator.parse_argv(argv + ["-floatfile", "unused.bin"], cwd=folder)
    full = simulator.simulate(full_cfg)
    assert alone.trace_lines == full.trace_lines
    tiny = simulator.parse_argv(
        argv + ["-floatfile", "unused.bin", "-memory_budget_gb", "0.00001"], cwd=folder
    )
    assert simulator.chunk_pixels(tiny) < 144
    assert bool((simulator.simulate(tiny).image == full.image).all())

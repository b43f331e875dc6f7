"""The engine's fast paths (issue 13) give the values of the straightforward ones, bit for bit,
and memory follows the chunk: tricubic interpolation in upstream's operation order, the padded
nearest-neighbour lookup, chunk sizes with many sub-pixels, the OpenMP wait policy, and the
benchmark workloads' inputs."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from nbsim_testlib import REPO_ROOT

import simulator
from simulator.chunking import CACHE_ELEMENTS
from simulator.structure_factors import TRICUBIC_BLOCK, HklTable


def _table(dtype=torch.float64, seed=3, shape=(9, 11, 8), mins=(-4, -5, -3), default_F=2.5):
    tab = np.random.default_rng(seed).random(shape) * 1000
    maxs = tuple(m + s - 1 for m, s in zip(mins, shape))
    sf = SimpleNamespace(default_F=default_F, table=tab, hkls=10, hkl_min=mins, hkl_max=maxs)
    return tab, mins, HklTable(sf, dtype, "cpu")


def _lagrange4(xa, ya, x):
    """Upstream polint (nanoBragg.c), transcribed: the order of every operation kept."""
    t0 = (
        (x - xa[1])
        * (x - xa[2])
        * (x - xa[3])
        * ya[0]
        / ((xa[0] - xa[1]) * (xa[0] - xa[2]) * (xa[0] - xa[3]))
    )
    t1 = (
        (x - xa[0])
        * (x - xa[2])
        * (x - xa[3])
        * ya[1]
        / ((xa[1] - xa[0]) * (xa[1] - xa[2]) * (xa[1] - xa[3]))
    )
    t2 = (
        (x - xa[0])
        * (x - xa[1])
        * (x - xa[3])
        * ya[2]
        / ((xa[2] - xa[0]) * (xa[2] - xa[1]) * (xa[2] - xa[3]))
    )
    t3 = (
        (x - xa[0])
        * (x - xa[1])
        * (x - xa[2])
        * ya[3]
        / ((xa[3] - xa[0]) * (xa[3] - xa[1]) * (xa[3] - xa[2]))
    )
    return t0 + t1 + t2 + t3


def _polin3(tab, mins, h, k, l):
    """Upstream's polin3 over the 4x4x4 block floor-1 .. floor+2, in python floats."""
    hf, kf, lf = math.floor(h), math.floor(k), math.floor(l)
    hx = [float(hf - 1 + i) for i in range(4)]
    kx = [float(kf - 1 + i) for i in range(4)]
    lx = [float(lf - 1 + i) for i in range(4)]
    th = []
    for i1 in range(4):
        tk = []
        for i2 in range(4):
            tl = [
                tab[hf - 1 + i1 - mins[0], kf - 1 + i2 - mins[1], lf - 1 + i3 - mins[2]]
                for i3 in range(4)
            ]
            tk.append(_lagrange4(lx, tl, l))
        th.append(_lagrange4(kx, tk, k))
    return _lagrange4(hx, th, h)


def _indices(n=6000, seed=5):
    rng = np.random.default_rng(seed)
    h = rng.uniform(-3, 3.99, n)
    h[: n // 2] = np.repeat(rng.uniform(-3, 3.99, n // 100), 50) + rng.uniform(0, 1e-3, n // 2)
    k = rng.uniform(-4, 4.99, n)
    l = rng.uniform(-2, 2.99, n)
    l[5] = 1.0  # on a node
    return (torch.tensor(x) for x in (h, k, l))


def test_tricubic_is_upstream_polin3_bit_for_bit(monkeypatch):
    tab, mins, table = _table()
    h, k, l = _indices()
    valid = ~table.out_of_interpolation_range(h, k, l)
    assert 1000 < int(valid.sum()) < h.numel()
    monkeypatch.setattr("simulator.structure_factors.TRICUBIC_BLOCK", 512)  # several blocks
    with torch.no_grad():
        got = table.tricubic(h, k, l, valid)
    want = [
        _polin3(tab, mins, a, b, c) if ok else 0.0
        for a, b, c, ok in zip(h.tolist(), k.tolist(), l.tolist(), valid.tolist())
    ]
    assert torch.equal(got, torch.tensor(want, dtype=torch.float64))


def test_tricubic_need_mask_nan_and_gradient():
    _, _, table = _table()
    h, k, l = _indices(n=800)
    h[7] = float("nan")  # passes the range test, has no block: 0, never read
    valid = ~table.out_of_interpolation_range(h, k, l)
    assert bool(valid[7])
    need = torch.tensor(np.random.default_rng(1).random(h.numel()) < 0.5)
    with torch.no_grad():
        full = table.tricubic(h, k, l, valid)
        some = table.tricubic(h, k, l, valid, need=need)
    assert float(full[7]) == 0.0
    assert torch.equal(some, torch.where(need, full, torch.zeros_like(full)))
    hg = h.clone()
    hg[7] = 0.5
    hg.requires_grad_(True)
    with torch.enable_grad():
        table.tricubic(hg, k, l, ~table.out_of_interpolation_range(hg, k, l)).sum().backward()
    assert torch.isfinite(hg.grad).all() and float(hg.grad.abs().sum()) > 0


def test_tricubic_float32_table_close_to_float64():
    _, _, t64 = _table(torch.float64)
    _, _, t32 = _table(torch.float32)
    h, k, l = _indices(n=2000)
    valid = ~t64.out_of_interpolation_range(h, k, l)
    with torch.no_grad():
        a, b = t64.tricubic(h, k, l, valid), t32.tricubic(h, k, l, valid)
    assert b.dtype == torch.float32
    torch.testing.assert_close(b.double(), a, rtol=1e-4, atol=1e-2)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_nearest_lookup_matches_the_table_and_default(dtype):
    tab, mins, table = _table(dtype)
    g = torch.Generator().manual_seed(0)
    h0 = torch.randint(-7, 8, (3000,), generator=g).to(dtype)
    k0 = torch.randint(-8, 9, (3000,), generator=g).to(dtype)
    l0 = torch.randint(-5, 7, (3000,), generator=g).to(dtype)
    h0[3], k0[4], l0[5], h0[6] = float("nan"), float("inf"), -float("inf"), 1e30
    want = []
    for a, b, c in zip(h0.tolist(), k0.tolist(), l0.tolist()):
        inside = all(
            x == x and lo <= x <= lo + n - 1 for x, lo, n in zip((a, b, c), mins, tab.shape)
        )
        want.append(tab[int(a) - mins[0], int(b) - mins[1], int(c) - mins[2]] if inside else 2.5)
    got = table.nearest(h0, k0, l0)
    assert got.dtype == dtype
    assert torch.equal(got, torch.tensor(want, dtype=dtype))


@pytest.mark.parametrize("interp_now", [False, True])
def test_float32_run_looks_up_indices_beyond_2_24_exactly(interp_now):
    """structure_factor hands the rounded (float64) indices to nearest as they are: casting
    them to a float32 run's dtype first read h = 2^24 + 1 as 2^24 (the wrong row of a table
    with more than 2^24 rows along an axis, or starting there)."""
    from simulator.steps import structure_factor

    big = 2**24
    tab, mins, table = _table(torch.float32, shape=(2, 1, 1), mins=(big, 0, 0))
    model = SimpleNamespace(hkl=table, dtype=torch.float32, device="cpu")
    h0 = torch.tensor([big + 1.0, big], dtype=torch.float64)
    zero = torch.zeros(2, dtype=torch.float64)
    st = SimpleNamespace(h0=h0, k0=zero, l0=zero, h=h0, k=zero, l=zero)
    out_range = torch.ones(2, dtype=torch.bool)  # the 4x4x4 block leaves this 2x1x1 table
    got = structure_factor(model, st, interp_now, out_range, None, None)
    assert got.dtype == torch.float32
    assert got.tolist() == torch.tensor([tab[1, 0, 0], tab[0, 0, 0]], dtype=torch.float32).tolist()
    # no table: default_F in the run's dtype, whatever the indices' dtype
    no_table = SimpleNamespace(default_F=2.5, table=None, hkls=0, hkl_min=(0,) * 3, hkl_max=None)
    empty = HklTable(no_table, torch.float32, "cpu")
    assert empty.nearest(h0, zero, zero).dtype == torch.float32


def test_traced_and_printed_pixels_are_found_without_a_list_of_the_chunk(monkeypatch):
    """A chunk's traced / printed pixels are found with positions_in (searchsorted), not by
    turning every index of the chunk into a Python int (idx.tolist() and a loop per pixel)."""
    args = (
        "-cell 50 50 50 90 90 90 -default_F 1 -detpixels 128 -trace_pixel 5 7 -trace_pixel 90 3"
        " -printout_pixel 11 60 -floatfile unused.bin"
    ).split()
    config = simulator.parse_argv(args)
    sizes = []
    tolist = torch.Tensor.tolist

    def counted(self):
        sizes.append(self.numel())
        return tolist(self)

    monkeypatch.setattr(torch.Tensor, "tolist", counted)
    result = simulator.simulate(config)
    monkeypatch.undo()
    assert max(sizes) < 100  # the chunk is the whole 128 x 128 detector
    assert sorted(result.taps) == [(5, 7), (90, 3)]
    assert list(result.printouts) == [(60, 11)]


def test_chunk_follows_the_cache_not_the_oversampling():
    """85-fold oversampling is 7225 sub-pixels per pixel: the chunk shrinks to a few pixels."""
    args = (
        "-cell 79.1 79.1 38.4 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels 48 "
        "-pixel 0.555 -xtalsize 0.0005 -dmin 5"
    ).split()
    config = simulator.parse_argv(args)
    assert config.sampling.oversample == 85
    inner = config.sampling.oversample**2
    chunk = simulator.chunk_pixels(config)
    assert 1 <= chunk and chunk * inner <= CACHE_ELEMENTS
    many = simulator.parse_argv(args + ["-phisteps", "100", "-osc", "1"])
    assert simulator.chunk_pixels(many) == 1


PEAK_PROBE = r"""
import json, sys
import simulator
def hwm():
    for line in open('/proc/self/status'):
        if line.startswith('VmHWM'):
            return int(line.split()[1]) * 1024
args = sys.argv[1].split()
simulator.simulate(simulator.parse_argv(args + ['-detpixels', '2']))  # kernels, thread pools
with open('/proc/self/clear_refs', 'w') as fh:
    fh.write('5')
base = hwm()
simulator.simulate(simulator.parse_argv(args))
print(json.dumps({"delta": hwm() - base}))
"""


def test_oversampled_interpolated_run_memory_follows_the_chunk():
    """24 x 24 pixels, 85-fold oversampling, tricubic interpolation (4.2 million sub-pixels):
    with a 256-pixel floor on the chunk this took well over 1 GiB; now a few hundred MiB at most
    (the chunk's intermediates and the interpolation's blocks)."""
    args = (
        "-cell 79.1 79.1 38.4 90 90 90 -hkl P1.hkl -misset 10 20 30 -lambda 1 -distance 100 "
        "-detpixels 24 -pixel 0.555 -Xbeam 3 -Ybeam 3 -xtalsize 0.0005 -dmin 5"
    )
    hkl = REPO_ROOT / "traces" / "default" / "P1.hkl"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_PROBE, args.replace("P1.hkl", str(hkl))],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr
    delta = json.loads(proc.stdout.strip().splitlines()[-1])["delta"]
    assert delta < 384 * 2**20, delta / 2**20


def test_tricubic_block_is_cache_sized():
    assert 1024 <= TRICUBIC_BLOCK <= 16384


def test_wait_policy_follows_the_machine_at_start():
    from simulator.omp_policy import choose_wait_policy, wait_policy_for_start

    def counts(values):
        it = iter(values)
        return lambda: next(it)

    # alone on the machine (this thread is the one runnable): libgomp's spinning default
    assert choose_wait_policy(5, 0.0, counts([1, 1, 2, 1, 1])) is None
    # another busy process (a momentary blip is outvoted the other way too): PASSIVE
    assert choose_wait_policy(5, 0.0, counts([2, 2, 1, 3, 2])) == "PASSIVE"
    # no /proc: the safe choice
    assert choose_wait_policy(5, 0.0, counts([1, None, 1, 1, 1])) == "PASSIVE"
    # the chosen policy is in the environment only while libgomp starts (the with block)
    environ = {}
    with wait_policy_for_start(environ, choose=lambda: "PASSIVE") as policy:
        assert policy == "PASSIVE" and environ == {"OMP_WAIT_POLICY": "PASSIVE"}
    assert environ == {}
    with pytest.raises(ImportError):  # also when the import fails
        with wait_policy_for_start(environ, choose=lambda: "PASSIVE"):
            raise ImportError
    assert environ == {}
    with wait_policy_for_start(environ, choose=lambda: None) as policy:
        assert policy is None and environ == {}
    assert environ == {}
    environ = {"OMP_WAIT_POLICY": "ACTIVE"}  # the user's choice wins, and stays
    with wait_policy_for_start(environ, choose=lambda: "PASSIVE") as policy:
        assert policy == "ACTIVE" and environ == {"OMP_WAIT_POLICY": "ACTIVE"}
    assert environ == {"OMP_WAIT_POLICY": "ACTIVE"}


#: a child process that imports ``simulator`` with the machine's load fixed: its chooser says
#: PASSIVE (simulator.omp_policy is loaded first from its file, which imports nothing of the
#: package, so that ``import simulator`` finds the patched module in sys.modules); it prints
#: the policy the import chose, how many times the chooser ran, and the OMP_WAIT_POLICY that
#: a child process of it inherits ('-' for none). Run with OMP_DISPLAY_ENV=true, libgomp
#: prints the policy it started with on stderr.
IMPORT_WITH_A_BUSY_MACHINE = """
import importlib.util, os, subprocess, sys
spec = importlib.util.spec_from_file_location("simulator.omp_policy", sys.argv[1])
policy = importlib.util.module_from_spec(spec)
spec.loader.exec_module(policy)
calls = []
policy.choose_wait_policy = lambda: calls.append(1) or "PASSIVE"
sys.modules["simulator.omp_policy"] = policy
import simulator
child = subprocess.run(["sh", "-c", "echo ${OMP_WAIT_POLICY:--}"], capture_output=True, text=True)
print(policy.chosen, len(calls), child.stdout.strip())
"""


def _assert_libgomp_started_with(stderr, want):
    """The wait policy libgomp reports for OMP_DISPLAY_ENV is ``want`` (on Linux, where torch's
    OpenMP is libgomp; elsewhere it may print nothing of the kind)."""
    got = None
    for line in stderr.splitlines():
        if line.strip().startswith("OMP_WAIT_POLICY = "):
            got = line.split("=", 1)[1].strip().strip("'")
    assert got == want or (got is None and not sys.platform.startswith("linux")), stderr


def test_import_keeps_a_wait_policy_the_user_set():
    argv = [sys.executable, "-c", IMPORT_WITH_A_BUSY_MACHINE,
            str(REPO_ROOT / "simulator" / "omp_policy.py")]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT), OMP_WAIT_POLICY="ACTIVE")
    env["OMP_DISPLAY_ENV"] = "true"
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    # the user's: nothing is chosen, libgomp runs with it, and children inherit it
    assert out.stdout.strip() == "ACTIVE 0 ACTIVE", out.stderr
    _assert_libgomp_started_with(out.stderr, "ACTIVE")
    env.pop("OMP_WAIT_POLICY")
    out = subprocess.run(argv, capture_output=True, text=True, env=env)
    # importing simulator starts libgomp with the chosen policy, and a child process (the
    # C reference's OpenMP build run by nbparity) does not inherit it
    assert out.stdout.strip() == "PASSIVE 1 -", out.stderr
    _assert_libgomp_started_with(out.stderr, "PASSIVE")


def test_benchmark_workloads_and_their_hkl_table(tmp_path):
    from benchmarks import run

    a = run.write_p1_hkl(tmp_path / "a.hkl")
    b = run.write_p1_hkl(tmp_path / "b.hkl")
    assert a.read_bytes() == b.read_bytes()  # deterministic
    assert len(a.read_text().splitlines()) == 81 * 81 * 41
    for name in ("simple", "heavy", "hkl", "dmin", "sweep"):
        for quick in (False, True):
            args, shape = run.workload_args(name, tmp_path, quick)
            config = simulator.parse_argv(args)
            assert (config.detector.spixels, config.detector.fpixels) == shape, name
    dmin = simulator.parse_argv(run.workload_args("dmin", tmp_path)[0])
    assert dmin.sampling.oversample == 85 and dmin.sf.interpolate and dmin.beam.dmin > 0
    assert simulator.parse_argv(run.workload_args("sweep", tmp_path)[0]).sampling.oversample == 13
    assert simulator.parse_argv(run.workload_args("hkl", tmp_path)[0]).sf.table is not None


def test_hkl_byte_reader_matches_the_line_reader(tmp_path):
    """The byte-level HKL reader gives the line reader's arrays bit for bit, or hands over."""
    import random

    from benchmarks import run
    from simulator import hkl_file as io

    for path in (REPO_ROOT / "traces" / "default" / "P1.hkl", run.write_p1_hkl(tmp_path / "a")):
        text = path.read_text()
        fast = io._hkl_bytes(text)
        rows = io._hkl_rows(text, str(path))
        assert fast is not None
        np.testing.assert_array_equal(fast[0], rows[0])
        assert fast[1].tobytes() == rows[1].tobytes()
    rng = random.Random(0)
    tokens = (
        "0 1 -1 +2 12 -0 007 1.5 .5 5. -.5 0.000 -0.000 1e3 -2E-2 3.141592653589793 "
        "12345678901234 1234567890123456 99999999999 + - 1-2 e 1e .. 1.5.5 nan inf 3x +-1"
    ).split()
    taken = 0
    for _ in range(3000):
        lines = []
        for _ in range(rng.randint(1, 4)):
            n = rng.choice([0, 4, 4, 4, 3, 5])
            sep = rng.choice([" ", "  ", "\t", " \t "])
            lines.append(sep.join(rng.choice(tokens) for _ in range(n)) + rng.choice(["", " "]))
        text = "\n".join(lines) + rng.choice(["", "\n", "\n\n"])
        fast = io._hkl_bytes(text)
        if fast is None:
            continue
        taken += 1
        rows = io._hkl_rows(text, "x")  # raises if the fast path took a malformed text
        np.testing.assert_array_equal(fast[0], rows[0])
        assert fast[1].tobytes() == rows[1].tobytes(), text
    assert taken > 0


def test_hkl_byte_reader_in_small_blocks(monkeypatch):
    """Read in blocks of whole lines, the byte path gives what it gives at once (and the line
    reader): blank lines and exponents at block borders, a block of blank lines alone; a bad
    line in any block hands the whole text back."""
    from simulator import hkl_file as io

    lines = [f"{h} {-h % 7} {h % 3} {h * 1.25:.2f}" for h in range(-40, 41)]
    lines[10] = "3 4 5 1e2"  # an exponent: that block takes numpy's strtod
    lines[30:30] = ["", "   ", ""]
    text = "\n".join(lines) + "\n\n"
    whole = io._hkl_bytes(text)
    rows = io._hkl_rows(text, "x")
    for block in (1, 7, 16, 64):
        monkeypatch.setattr(io, "HKL_BLOCK_BYTES", block)
        fast = io._hkl_bytes(text)
        assert fast is not None, block
        np.testing.assert_array_equal(fast[0], whole[0])
        np.testing.assert_array_equal(fast[0], rows[0])
        assert fast[1].tobytes() == rows[1].tobytes(), block
        bad = text.replace("40 2 1 50.00", "40 2 1.0 50.00")  # the last line: the last block
        assert bad != text and io._hkl_bytes(bad) is None, block
    assert io._hkl_bytes("\n \n\t\n") is None  # no entries: the column path decides


@pytest.mark.parametrize(
    "N", [(10.0, 10.0, 10.0), (1.0, 7.0, 4.0), (1.0, 1.0, 1.0), (5.0, 1.0, 1.0)]
)
def test_square_lattice_factor_fast_path_equals_the_general_one(N):
    """Without a gradient, one finiteness test of the product replaces one per axis: the same
    values bit for bit, N at x == 0, nan where an index is nan."""
    from simulator.lattice import lattice_factor

    g = torch.Generator().manual_seed(2)
    h, k, l = ((torch.rand(4000, generator=g, dtype=torch.float64) - 0.5) * 60 for _ in "hkl")
    h[:50] = torch.round(h[:50])
    h[3], k[3], l[3] = 0.0, 0.0, 0.0
    k[9], l[11], h[13] = 0.0, float("nan"), float("inf")
    Nt = tuple(torch.tensor(n, dtype=torch.float64) for n in N)
    args = (None, None, None, Nt, 1.0, None, None, None, N)
    with torch.no_grad():
        fast, fparts = lattice_factor("square", h, k, l, *args)
    with torch.enable_grad():
        slow, sparts = lattice_factor("square", h, k, l, *args)
    assert torch.equal(torch.nan_to_num(fast, nan=-1.0), torch.nan_to_num(slow, nan=-1.0))
    for a, b in zip(fparts, sparts):
        assert torch.equal(torch.nan_to_num(a, nan=-1.0), torch.nan_to_num(b, nan=-1.0))
    if N[0] > 1:
        assert float(fast[3]) == N[0] * (N[1] if N[1] > 1 else 1) * (N[2] if N[2] > 1 else 1)


def test_start_benchmark_times_one_pixel_runs(tmp_path):
    """The start benchmark: import torch alone and each engine on the dmin workload cut to one
    pixel, every run exiting 0 (a one-pixel run that failed would time an error message)."""
    from benchmarks import run

    engs, _ = run.engines({"c-ref-serial"})
    if not engs:
        pytest.skip("the C reference is not built (make build)")
    rows = run.start_benchmark(engs, repeats=1, budget_s=60.0, tmp=tmp_path, log=lambda m: None)
    assert [r["engine"] for r in rows] == ["python -c 'import torch'", "one pixel [c-ref-serial]"]
    assert all(r["rc"] == [0] and r["median_s"] > 0 for r in rows)
    assert any(p.name == "start-c-ref-serial.bin" and p.stat().st_size == 48 * 48 * 4
               for p in tmp_path.iterdir())


@pytest.mark.parametrize("N_values", [(5.0, 1.0, 7.0), (3.0, 4.0, 2.0), (1.0, 1.0, 6.0)])
def test_square_lattice_without_a_gradient_is_the_gradient_paths_value(N_values):
    """_square_f64_nograd (one finiteness test of the product, _sincg_nograd(check=False) per
    axis, N put in at x == 0 only when needed) gives sincg's values bit for bit: zeros,
    integers, inf and nan indices included."""
    from simulator.lattice import _sincg_nograd, lattice_factor

    g = torch.Generator().manual_seed(1)
    hkl = [torch.randn(4000, generator=g, dtype=torch.float64) * 20 for _ in range(3)]
    for x in hkl:
        x[:50] = torch.round(x[:50])
    hkl[0][60:64] = torch.tensor([0.0, -0.0, math.inf, math.nan], dtype=torch.float64)
    hkl[1][70] = 0.0
    hkl[2][80:82] = torch.tensor([0.0, -math.inf], dtype=torch.float64)
    N = tuple(torch.tensor(v, dtype=torch.float64) for v in N_values)
    args = (*hkl, None, None, None, N, 1.0)
    with torch.no_grad():
        fast, fast_parts = lattice_factor("square", *args, N_values=N_values)
    with torch.enable_grad():
        want, want_parts = lattice_factor("square", *args, N_values=N_values)
    assert fast.numpy().tobytes() == want.detach().numpy().tobytes()
    for f, w in zip(fast_parts, want_parts):
        f, w = f.expand(fast.shape), w.detach().expand(fast.shape)
        assert f.numpy().tobytes() == w.numpy().tobytes()
    x = math.pi * hkl[0]
    raw = _sincg_nograd(x.clone(), N[0], N[0], check=False)
    assert torch.isnan(raw[60:62]).all()  # 0/0 left for the caller's test
    fixed = _sincg_nograd(x.clone(), N[0], N[0])
    assert fixed[60:62].tolist() == [N_values[0]] * 2

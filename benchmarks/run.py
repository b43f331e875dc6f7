"""Run the benchmarks: every engine on every benchmark, side by side in one run.

    python -m benchmarks [--only simple,heavy] [--engines torch-f64,c-serial] [--repeats 3]
                         [--budget-s 150] [--quick] [--out bench-results]

Each engine run is a subprocess (process start included); its wall time is measured here and
its peak memory is the peak resident set size the kernel reports for it (``ru_maxrss`` from
``wait4``, the child's VmHWM). Timings are medians of repeats, taken round-robin over the
engines so that drift of the machine hits every engine alike; an engine stops repeating a
benchmark once its runs add up to ``--budget-s`` (at least one run each). Speed is the C
reference's serial median divided by the engine's median, from the same run. Each image is
checked against the serial C reference's (largest relative difference over pixels above 1e-3
of the maximum), so a fast wrong engine shows.

Prints a table and writes JSON to ``bench-results/bench-<time>.json`` and
``bench-results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
C_SERIAL = ROOT / "c_reference" / "build" / "nanobragg-ref"
C_OMP = ROOT / "c_reference" / "build" / "nanobragg-ref-omp"
DEFAULT_DIR = ROOT / "traces" / "default"

SIMPLE = "-cell 100 100 100 90 90 90 -default_F 100 -lambda 1 -distance 100 -detpixels 1024 -N 5"
HEAVY = ("-cell 79.1 79.1 38.4 90 90 90 -default_F 100 -lambda 1.0 -distance 150 -detpixels 1024 "
         "-pixel 0.1 -N 10 -phi 0 -osc 0.5 -phisteps 10 -mosaic 0.2 -mosaic_domains 10 "
         "-misset 10 20 30")
# Workloads of issue 13: what nanoBragg runs look like (an HKL table, oversampling chosen by
# nanoBragg itself, a -dmin cut). P1.hkl is generated at run time (write_p1_hkl).
HKL = HEAVY.replace("-detpixels 1024", "-detpixels 512") + " -hkl P1.hkl -oversample 2"
# a 0.5 micron crystal (N = 64 x 64 x 131) on 0.555 mm pixels: nanoBragg picks 85-fold
# oversampling and (N <= 2 before -xtalsize sets it) tricubic interpolation; the beam near a
# corner, so the -dmin 5 cut removes the far sub-pixels
DMIN = ("-cell 79.1 79.1 38.4 90 90 90 -misset 10 20 30 -hkl P1.hkl -lambda 1 -distance 100 "
        "-detpixels 48 -pixel 0.555 -Xbeam 3 -Ybeam 3 -xtalsize 0.0005 -dmin 5")
# heavy's crystal on 0.8 mm pixels (automatic 13-fold oversampling), 5 phi steps x 5 domains
SWEEP = HEAVY.replace("-detpixels 1024 -pixel 0.1", "-detpixels 128 -pixel 0.8").replace(
    "-phisteps 10", "-phisteps 5").replace("-mosaic_domains 10", "-mosaic_domains 5")
TRACE_PIXEL = (685, 1039)
ALL_BENCHMARKS = ("simple", "heavy", "hkl", "dmin", "sweep", "large", "trace", "start",
                  "parse", "diff10m")
#: the workload whose set-up the start benchmark times (an HKL table to read, a tricubic run)
START_WORKLOAD = "dmin"
#: one pixel: the run reads its inputs and sets up, then has (almost) nothing to compute
ONE_PIXEL_ROI = ["-roi", "0", "0", "0", "0"]
#: each image workload: (arguments, (slow, fast) pixels, the detector size --quick uses)
IMAGE_WORKLOADS = {
    "simple": (SIMPLE, (1024, 1024), None),
    "heavy": (HEAVY, (1024, 1024), 256),
    "hkl": (HKL, (512, 512), 128),
    "dmin": (DMIN, (48, 48), 16),
    "sweep": (SWEEP, (128, 128), 64),
}


def write_p1_hkl(path: Path, cell=(79.1, 79.1, 38.4), hmax=(40, 40, 20), seed=20261213) -> Path:
    """A synthetic P1 table for heavy's cell, deterministic (same bytes for the same arguments):
    every index of |h|, |k| <= 40, |l| <= 20 (269 001 lines, 2 A resolution), Wilson-like falloff
    times Rayleigh-distributed amplitudes, as traces/make_inputs.py writes the default case's."""
    rng = np.random.default_rng(seed)
    axes = [np.arange(-m, m + 1) for m in hmax]
    h, k, l = (a.ravel() for a in np.meshgrid(*axes, indexing="ij"))
    s2 = (h / cell[0]) ** 2 + (k / cell[1]) ** 2 + (l / cell[2]) ** 2
    amplitude = 300.0 * np.exp(-4.0 * s2) * rng.rayleigh(1.0, h.size) + 1.0
    np.savetxt(path, np.column_stack((h, k, l, amplitude)), fmt=["%d", "%d", "%d", "%.3f"])
    return path


def workload_args(name: str, tmp: Path, quick: bool = False) -> tuple[list[str], tuple[int, int]]:
    """The arguments (P1.hkl as an absolute path in ``tmp``, written once) and image shape."""
    text, shape, quick_pixels = IMAGE_WORKLOADS[name]
    args = text.split()
    if "P1.hkl" in args:
        hkl = tmp / "P1.hkl"
        if not hkl.exists():
            write_p1_hkl(hkl)
        args = [str(hkl) if a == "P1.hkl" else a for a in args]
    if quick and quick_pixels:
        args = args + ["-detpixels", str(quick_pixels)]
        shape = (quick_pixels, quick_pixels)
    return args, shape


def default_case_args() -> list[str]:
    """The default case's arguments, input files as absolute paths (runs happen in a scratch
    folder: upstream nanoBragg writes files under default names into its working directory)."""
    from nbparity.engines import resolve_inputs

    cases = tomllib.loads((ROOT / "traces" / "cases.toml").read_text())
    case = next(c for c in cases["case"] if c["name"] == "default")
    return list(resolve_inputs(shlex.split(case["args"].replace("\\\n", " ")), DEFAULT_DIR))


# --------------------------------------------------------------------------- measuring

@dataclass
class Run:
    wall_s: float
    peak_rss_bytes: int
    rc: int
    stderr_tail: str = ""
    cpu_s: float = 0.0  # user + system time of the child (and its children)
    ru_maxrss_bytes: int = 0
    others_cores: float | None = None  # cores the rest of the machine kept busy meanwhile


def _busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (/proc/stat, all cores)."""
    try:
        with open("/proc/stat") as f:
            fields = f.readline().split()
    except OSError:
        return None
    if not fields or fields[0] != "cpu":
        return None
    ticks = [int(x) for x in fields[1:]]
    idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle + iowait
    return (sum(ticks[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _vm_hwm(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def measure(cmd: list[str], cwd: Path, timeout: float = 3600.0, env=None) -> Run:
    """Run ``cmd``: wall time, CPU time and the child's peak RSS.

    The peak is the child's VmHWM (/proc/<pid>/status), sampled every millisecond after its
    exec (Popen returns only then); VmHWM never decreases, so the last sample is the peak up to
    the last millisecond. ``ru_maxrss`` of wait4 is kept too, but on Linux it also counts the
    pre-exec copy of this (the runner's) process, so it overstates small engines. When no sample
    could be taken (a run of under a millisecond) the peak falls back to ``ru_maxrss``.
    """
    busy0 = _busy_seconds()
    with tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=err, env=env)
        deadline = t0 + timeout
        hwm = None
        while True:
            sample = _vm_hwm(proc.pid)
            if sample is not None:
                hwm = sample if hwm is None else max(hwm, sample)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            if time.perf_counter() > deadline:
                proc.kill()
                pid, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(0.001)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        tail = err.read().decode(errors="replace").strip().splitlines()[-3:]
    maxrss = int(usage.ru_maxrss) * 1024
    cpu = usage.ru_utime + usage.ru_stime
    busy1 = _busy_seconds()
    others = None
    if busy0 is not None and busy1 is not None and wall > 0:
        # the machine's busy time less the child's own (the sampling loop here is ~1% of a core)
        others = max(0.0, (busy1 - busy0 - cpu) / wall)
    return Run(wall, hwm if hwm is not None else maxrss, proc.returncode, "\n".join(tail),
               cpu, maxrss, others)


# --------------------------------------------------------------------------- engines

@dataclass
class Engine:
    name: str
    kind: str  # "torch" | "c"
    argv: list[str]  # prefix for an image run
    extra: list[str] = field(default_factory=list)  # appended after the case's arguments
    c_bin: str | None = None  # for nbparity trace --c-bin
    dtype: str = "float64"
    device: str = "cpu"


def cuda_available() -> bool:
    code = "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT).returncode == 0


def engines(selected: set[str] | None) -> tuple[list[Engine], list[str]]:
    """The engines of this machine; second item: notes on the ones skipped."""
    py = [sys.executable, "-m", "simulator"]
    # torch in c-parity mode: the same phi=0 carry-over as nanoBragg's serial build, so the
    # images are comparable with the C engines (the cost is the same in both modes).
    torch_extra = ["-phi_carryover_mode", "c-parity"]
    out, notes = [], []
    for dt, tag in (("float64", "f64"), ("float32", "f32")):
        out.append(Engine(f"torch-cpu-{tag}", "torch", py,
                          torch_extra + ["-dtype", dt, "-device", "cpu"], dtype=dt))
    want_cuda = selected is None or any(n.startswith("torch-cuda") for n in selected)
    if want_cuda and cuda_available():
        for dt, tag in (("float64", "f64"), ("float32", "f32")):
            out.append(Engine(f"torch-cuda-{tag}", "torch", py,
                              torch_extra + ["-dtype", dt, "-device", "cuda"], dtype=dt,
                              device="cuda"))
    elif want_cuda:
        notes.append("torch-cuda: skipped (no CUDA device)")
    if C_SERIAL.exists():
        out.append(Engine("c-ref-serial", "c", [str(C_SERIAL)], c_bin=str(C_SERIAL)))
    else:
        notes.append(f"c-ref-serial: skipped ({C_SERIAL} not built: make build)")
    if C_OMP.exists():
        out.append(Engine(f"c-ref-omp{os.cpu_count()}", "c", [str(C_OMP)], c_bin=str(C_OMP)))
    else:
        notes.append(f"c-ref-omp: skipped ({C_OMP} not built: make -C c_reference OMP=1)")
    ext = os.environ.get("NB_C_BIN")
    if ext:
        out.append(Engine("external(NB_C_BIN)", "c", [ext], c_bin=ext))
    if selected:
        out = [e for e in out if e.name in selected or e.name.rsplit("-", 1)[0] in selected
               or any(e.name.startswith(s) for s in selected)]
    return out, notes


# --------------------------------------------------------------------------- benchmarks

def _summary(runs: list[Run]) -> dict:
    walls = [r.wall_s for r in runs]
    return {"repeats": len(runs), "median_s": statistics.median(walls), "min_s": min(walls),
            "max_s": max(walls), "runs_s": walls,
            "cpu_s_median": statistics.median(r.cpu_s for r in runs),
            "peak_rss_bytes": max(r.peak_rss_bytes for r in runs),
            "ru_maxrss_bytes": max(r.ru_maxrss_bytes for r in runs),
            "others_cores_median": _median_or_none([r.others_cores for r in runs]),
            "rc": [r.rc for r in runs]}


def _median_or_none(values: list) -> float | None:
    known = [v for v in values if v is not None]
    return statistics.median(known) if known else None


def _rel_diff(img: np.ndarray, ref: np.ndarray) -> float | None:
    if img.shape != ref.shape:
        return None
    big = np.abs(ref) > 1e-3 * np.abs(ref).max()
    if not big.any():
        return float(np.abs(img - ref).max())
    return float((np.abs(img[big].astype(np.float64) - ref[big]) / np.abs(ref[big])).max())


def round_robin(jobs: list[tuple[str, list[str] | Callable[[], list[str]], Path]], repeats: int,
                budget_s: float, log, ok_rc: tuple[int, ...] = (0,)) -> dict[str, list[Run]]:
    """jobs: (name, argv or a function giving a fresh argv per run, cwd). Repeats round-robin;
    a job stops once its time passes budget, or after a run that exits outside ``ok_rc``."""
    runs: dict[str, list[Run]] = {name: [] for name, _, _ in jobs}
    spent = dict.fromkeys(runs, 0.0)
    width = max((len(name) for name in runs), default=0)
    for rep in range(repeats):
        for name, argv, cwd in jobs:
            if rep and spent[name] >= budget_s:
                continue
            if runs[name] and runs[name][-1].rc not in ok_rc:
                continue
            run = measure(argv() if callable(argv) else argv, cwd)
            runs[name].append(run)
            spent[name] += run.wall_s
            status = "" if run.rc in ok_rc else f"  rc={run.rc}: {run.stderr_tail}"
            busy = "" if run.others_cores is None else f"  others {run.others_cores:4.2f} cores"
            log(f"  {name:{width}s} run {rep + 1}: {run.wall_s:8.2f} s  "
                f"{run.peak_rss_bytes / 2**20:8.0f} MiB{busy}{status}")
    return runs


def image_benchmark(name: str, args: list[str], cwd: Path, engs: list[Engine], repeats: int,
                    budget_s: float, tmp: Path, log, shape: tuple[int, int]) -> list[dict]:
    # a working directory of its own: upstream nanoBragg writes Fdump.bin after reading -hkl
    # and reads it back in a later run without -hkl (the sweep workload would then take the hkl
    # workload's structure factors instead of -default_F)
    cwd = cwd / f"run-{name}"
    cwd.mkdir(parents=True, exist_ok=True)
    jobs, files = [], {}
    for e in engs:
        f = tmp / f"{name}-{e.name}.bin"
        files[e.name] = f
        jobs.append((e.name, e.argv + args + e.extra + ["-floatfile", str(f), "-noprogress"],
                     cwd))
    runs = round_robin(jobs, repeats, budget_s, log)
    ref_name = next((e.name for e in engs if e.name == "c-ref-serial"), None)
    ref_img = None
    if ref_name and files[ref_name].exists():
        ref_img = np.fromfile(files[ref_name], dtype=np.float32).reshape(shape)
    rows = []
    for e in engs:
        row = {"benchmark": name, "engine": e.name, **_summary(runs[e.name])}
        if ref_img is not None and files[e.name].exists() and all(r == 0 for r in row["rc"]):
            img = np.fromfile(files[e.name], dtype=np.float32).reshape(shape)
            row["max_rel_diff_vs_c_serial"] = _rel_diff(img, ref_img)
        rows.append(row)
        files[e.name].unlink(missing_ok=True)
    return rows


def trace_benchmark(engs: list[Engine], repeats: int, budget_s: float, tmp: Path, log
                    ) -> list[dict]:
    """``nbparity trace --pixel 685 1039`` end to end per engine, and each engine process alone."""
    nbp = [sys.executable, "-m", "nbparity", "trace", "--pixel", *map(str, TRACE_PIXEL)]
    args = default_case_args()
    pixel = ["-trace_pixel", *map(str, TRACE_PIXEL)]
    jobs, counter = [], [0]

    def with_fresh_bundle(argv: list[str]) -> Callable[[], list[str]]:
        def fresh() -> list[str]:  # each nbparity trace needs a bundle folder of its own
            counter[0] += 1
            return argv + ["--out", str(tmp / f"trace-bundle-{counter[0]}")]
        return fresh

    for e in engs:
        if e.device == "cuda" and e.kind == "torch":
            base = ["--engine", "py", "--device", "cuda", "--dtype", e.dtype]
        elif e.kind == "torch":
            base = ["--engine", "py", "--dtype", e.dtype]
        else:
            base = ["--engine", "c", "--c-bin", e.c_bin]
        jobs.append((f"nbparity trace [{e.name}]", with_fresh_bundle(nbp + base), ROOT))
        jobs.append((f"engine alone [{e.name}]", e.argv + args + e.extra + pixel, tmp))
    # nbparity trace with one engine exits 0; 1 would be a divergence, still a timed run
    runs = round_robin(jobs, repeats, budget_s, log, ok_rc=(0, 1))
    return [{"benchmark": "trace", "engine": name, **_summary(runs[name])} for name, _, _ in jobs]


def start_benchmark(engs: list[Engine], repeats: int, budget_s: float, tmp: Path, log
                    ) -> list[dict]:
    """The floor under every image row: each engine's whole process on the dmin workload cut to
    one pixel (start, reading P1.hkl, set-up, writing the image), and ``import torch`` alone.

    A torch row of an image benchmark can never be faster than this row; the issue-13 target
    "3x the serial C reference" is out of reach wherever a third of the C run is below it."""
    args, _ = workload_args(START_WORKLOAD, tmp)
    cwd = tmp / "run-start"
    cwd.mkdir(parents=True, exist_ok=True)
    jobs = [("python -c 'import torch'", [sys.executable, "-c", "import torch"], cwd)]
    for e in engs:
        out = tmp / f"start-{e.name}.bin"
        jobs.append((f"one pixel [{e.name}]", e.argv + args + e.extra + ONE_PIXEL_ROI
                     + ["-floatfile", str(out), "-noprogress"], cwd))
    runs = round_robin(jobs, repeats, budget_s, log)
    return [{"benchmark": "start", "engine": name, **_summary(runs[name])}
            for name, _, _ in jobs]


def parse_benchmark(repeats: int, budget_s: float, tmp: Path, log) -> list[dict]:
    """benchmarks/parse_bench.py in a subprocess (its own medians; peak RSS measured here), then
    the whole ``nbparity diff`` command on the same one-million-line pair."""
    folder = tmp / "parse"
    out_json = tmp / "parse.json"
    code = ("import json, sys; from pathlib import Path; from benchmarks import parse_bench; "
            f"r = parse_bench.run(Path({str(folder)!r}), repeats={repeats}); "
            f"Path({str(out_json)!r}).write_text(json.dumps(r))")
    run = measure([sys.executable, "-c", code], ROOT)
    if run.rc != 0:
        log(f"  parse failed: {run.stderr_tail}")
        return [{"benchmark": "parse", "engine": "nbparity", "rc": [run.rc],
                 "repeats": 0, "median_s": None, "peak_rss_bytes": run.peak_rss_bytes}]
    r = json.loads(out_json.read_text())
    log(f"  parse + compare of two {r['lines_per_log']}-line logs: "
        f"{r['total_s_median']:.2f} s (median of {r['repeats']}; parse "
        f"{r['parse_both_s_median']:.2f} s, align+compare {r['align_compare_s_median']:.2f} s), "
        f"peak {run.peak_rss_bytes / 2**20:.0f} MiB")
    rows = [{"benchmark": "parse", "engine": "nbparity (parse + align + compare)",
             "repeats": r["repeats"], "median_s": r["total_s_median"],
             "parse_both_s_median": r["parse_both_s_median"],
             "align_compare_s_median": r["align_compare_s_median"],
             "lines_per_log": r["lines_per_log"], "peak_rss_bytes": run.peak_rss_bytes,
             "rc": [0]}]
    return rows + diff_command_benchmark("parse", folder, repeats, budget_s, log)


def diff_command_benchmark(name: str, folder: Path, repeats: int, budget_s: float, log
                           ) -> list[dict]:
    """``nbparity diff --failed-only c.log py.log`` as a user runs it: a whole process (start,
    imports, reading, comparing, the table), peak RSS measured here."""
    argv = [sys.executable, "-m", "nbparity", "diff", "--failed-only",
            str(folder / "c.log"), str(folder / "py.log")]
    job = "nbparity diff (whole command)"
    runs = round_robin([(job, argv, ROOT)], repeats, budget_s, log)
    return [{"benchmark": name, "engine": job, **_summary(runs[job])}]


def diff10m_benchmark(repeats: int, budget_s: float, tmp: Path, log) -> list[dict]:
    """The whole ``nbparity diff`` command on a pair of ten-million-line logs (~0.8 GB each)."""
    from benchmarks import parse_bench

    folder = tmp / "diff10m"
    folder.mkdir(parents=True, exist_ok=True)
    lines = parse_bench.write_pair(folder, pixels=1000)
    log(f"  wrote two {lines}-line logs")
    try:
        return diff_command_benchmark("diff10m", folder, repeats, budget_s, log)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --------------------------------------------------------------------------- report

def machine() -> dict:
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "hostname": platform.node()}
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                info["cpu"] = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                info["mem_total_gib"] = round(int(line.split()[1]) / 2**20, 1)
    except OSError:
        pass
    try:
        cc = subprocess.run(["cc", "--version"], capture_output=True, text=True)
        info["cc"] = cc.stdout.splitlines()[0] if cc.stdout else None
    except OSError:
        info["cc"] = None
    code = "import torch; print(torch.__version__, torch.get_num_threads())"
    t = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    if t.returncode == 0:
        version, threads = t.stdout.split()
        info["torch"], info["torch_threads"] = version, int(threads)
    git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    info["git_commit"] = git.stdout.strip() or None
    return info


def _cores(x) -> str:
    return "" if x is None else f"{x:6.2f}"


def table(rows: list[dict]) -> str:
    head = (f"{'benchmark':10s} {'engine':40s} {'n':>2s} {'median s':>9s} {'min s':>8s} "
            f"{'cpu s':>8s} {'peak MiB':>9s} {'x C serial':>10s} {'rel diff':>9s} {'others':>6s}")
    lines = [head, "-" * len(head)]
    ref = {r["benchmark"]: r["median_s"] for r in rows
           if r["engine"] == "c-ref-serial" and r.get("median_s")}
    for r in rows:
        med = r.get("median_s")
        speed = ""
        if med and r["benchmark"] in ref:
            speed = f"{ref[r['benchmark']] / med:9.2f}x"
            r["speedup_vs_c_serial"] = ref[r["benchmark"]] / med
        diff = r.get("max_rel_diff_vs_c_serial")
        lines.append(
            f"{r['benchmark']:10s} {r['engine'][:40]:40s} {r.get('repeats', 0):2d} "
            f"{(f'{med:9.3f}' if med is not None else '      n/a')} "
            f"{(format(r['min_s'], '8.3f') if 'min_s' in r else ' ' * 8)} "
            f"{(format(r['cpu_s_median'], '8.2f') if 'cpu_s_median' in r else ' ' * 8)} "
            f"{r.get('peak_rss_bytes', 0) / 2**20:9.0f} {speed:>10s} "
            f"{(f'{diff:9.1e}' if diff is not None else ''):>9s} "
            f"{_cores(r.get('others_cores_median')):>6s}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(ALL_BENCHMARKS),
                    help="comma-separated benchmarks (default: all)")
    ap.add_argument("--engines", default=None,
                    help="comma-separated engine names or prefixes (default: all available)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=150.0,
                    help="stop repeating an engine on a benchmark once its runs take this long")
    ap.add_argument("--quick", action="store_true",
                    help="one repeat, smaller detectors (heavy 256, hkl 128, dmin 16, sweep 64), "
                    "no large, no diff10m")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    opts = ap.parse_args(argv)
    only = [b.strip() for b in opts.only.split(",") if b.strip()]
    unknown = set(only) - set(ALL_BENCHMARKS)
    if unknown:
        ap.error(f"unknown benchmark(s) {sorted(unknown)}; known: {ALL_BENCHMARKS}")
    repeats = 1 if opts.quick else opts.repeats
    if opts.quick and opts.only == ",".join(ALL_BENCHMARKS):
        only = [b for b in only if b not in ("large", "diff10m")]
    selected = {s.strip() for s in opts.engines.split(",")} if opts.engines else None
    engs, notes = engines(selected)
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)

    def log(msg: str) -> None:
        print(msg, flush=True)

    info = machine()
    info["loadavg_start"] = os.getloadavg()
    log(f"machine: {info.get('cpu')} x{info.get('cpus')}, {info.get('mem_total_gib')} GiB, "
        f"torch {info.get('torch')} ({info.get('torch_threads')} threads), {info.get('cc')}; "
        f"load average {' '.join(f'{x:.2f}' for x in info['loadavg_start'])}")
    for n in notes:
        log(n)
    rows: list[dict] = []
    t_start = time.perf_counter()
    started = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    tmp = Path(tempfile.mkdtemp(prefix="nbbench-"))
    try:
        for bench in only:
            log(f"== {bench}")
            if bench in IMAGE_WORKLOADS:
                args, shape = workload_args(bench, tmp, opts.quick)
                rows += image_benchmark(bench, args, tmp, engs, repeats, opts.budget_s, tmp,
                                        log, shape)
            elif bench == "large":
                rows += image_benchmark("large", default_case_args(), tmp, engs,
                                        repeats, opts.budget_s, tmp, log, (2527, 2463))
            elif bench == "trace":
                rows += trace_benchmark(engs, repeats, opts.budget_s, tmp, log)
            elif bench == "start":
                rows += start_benchmark(engs, repeats, opts.budget_s, tmp, log)
            elif bench == "parse":
                rows += parse_benchmark(repeats, opts.budget_s, tmp, log)
            elif bench == "diff10m":
                rows += diff10m_benchmark(repeats, opts.budget_s, tmp, log)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    total = time.perf_counter() - t_start
    text = table(rows)
    log("")
    log(text)
    info["loadavg_end"] = os.getloadavg()
    log(f"\ntotal {total:.0f} s; load average at the end "
        f"{' '.join(f'{x:.2f}' for x in info['loadavg_end'])}; 'others': cores the rest of the "
        "machine kept busy during the engine's runs (median)")
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    result = {"started_utc": started, "finished_utc": stamp, "machine": info,
              "argv": sys.argv[1:] if argv is None else argv, "quick": opts.quick,
              "notes": notes, "total_s": total, "rows": rows}
    for name in (f"bench-{stamp}.json", "latest.json"):
        (out / name).write_text(json.dumps(result, indent=2) + "\n")
    log(f"JSON: {out / f'bench-{stamp}.json'}")
    failed = [r for r in rows if any(rc not in (0, 1) for rc in r.get("rc", [0]))]
    return 1 if failed else 0

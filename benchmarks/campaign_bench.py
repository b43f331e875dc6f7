"""`campaign` benchmark: configurations per second of `nbparity fuzz` for 0, 1 and 2 workers.

    python -m benchmarks.campaign_bench [--n 40] [--seed 20261121] [--workers 0,1,2]
                                        [--tasks 400] [--out bench-results]

Each worker count runs the same campaign (same seed, same n: the same configurations) in a
fresh folder and a fresh Python process, through ``nbparity.campaign.run_campaign`` with
shrinking and explanations off (the benchmark is the evaluation's throughput; shrinking is per
class of findings, not per configuration). Reported per worker count:

- ``start s``: workers=0 loading torch, the simulator and the readers in this process and
  rendering one tiny configuration; workers=N starting a LocalCluster of N single-threaded
  worker processes and doing the same in each (``campaign._prepare_worker``);
- ``run s`` and ``cfg/s``: evaluating the n configurations (drawing, both engines, judging,
  rows written), the campaign's own figure;
- ``whole s`` and ``whole cfg/s``: the whole call, start, reports and cluster shutdown included.

A last row measures Dask's own cost per task on a 2-worker LocalCluster: ``--tasks`` no-op
tasks through the same bounded window and ``as_completed`` loop. Prints a table; writes JSON to
``bench-results/campaign-<UTC time>.json`` and ``bench-results/campaign-latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def one(workers: int, n: int, seed: int, folder: Path) -> dict:
    """One campaign (in this process, which the parent started fresh)."""
    from nbparity.campaign import CampaignSpec, run_campaign
    from nbparity.engines import EngineOptions, resolve_engine

    options = EngineOptions()
    reference = resolve_engine("c-ref", options, "--reference")
    candidate = resolve_engine("nbsim", options, "--candidate")
    load = os.getloadavg()[0]
    start = time.perf_counter()
    spec = CampaignSpec(seed=seed, n=n, reference=reference, candidate=candidate,
                        folder=folder, workers=workers, shrink=False, explain=False)
    result = run_campaign(spec)
    whole = time.perf_counter() - start
    start_s = result.start_seconds
    return {"workers": workers, "n": n, "seed": seed, "start_s": round(start_s, 3),
            "run_s": round(result.run_seconds, 3),
            "cfg_per_s": round(n / result.run_seconds, 3),
            "whole_s": round(whole, 3), "whole_cfg_per_s": round(n / whole, 3),
            "findings": result.findings, "classes": len(result.classes),
            "rows_by_worker": {w: sum(1 for r in result.rows if r["worker"] == w)
                               for w in sorted({r["worker"] for r in result.rows})},
            "loadavg_1min_before": round(load, 2)}


def _noop(x):
    return x


def overhead(tasks: int, workers: int = 2) -> dict:
    """Dask's cost per task: no-op tasks through the campaign's bounded window (4 per worker)
    and through a wide one (256: what the scheduler and this client can turn over when
    latency is hidden), each consumed with as_completed."""
    import logging

    from distributed import Client, LocalCluster, as_completed

    def through(client, window: int) -> float:
        pending = iter(range(tasks))
        start = time.perf_counter()
        stream = as_completed([client.submit(_noop, i, pure=False)
                               for _, i in zip(range(window), pending)])
        for future in stream:
            future.result()
            following = next(pending, None)
            if following is not None:
                stream.add(client.submit(_noop, following, pure=False))
        return time.perf_counter() - start

    with LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                      dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR) as cluster, \
            Client(cluster) as client:
        through(client, 8)  # warm-up
        narrow = through(client, max(8, 4 * workers))
        wide = through(client, 256)
    return {"workers": workers, "tasks": tasks,
            "ms_per_task": round(1000 * narrow / tasks, 3),
            "ms_per_task_wide_window": round(1000 * wide / tasks, 3)}


def _child(arguments: list[str]) -> dict:
    proc = subprocess.run([sys.executable, "-m", "benchmarks.campaign_bench", *arguments],
                          cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"campaign_bench {' '.join(arguments)} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def table(rows: list[dict], cost: dict | None) -> str:
    head = (f"{'workers':>7s} {'n':>4s} {'start s':>8s} {'run s':>7s} {'cfg/s':>6s} "
            f"{'whole s':>8s} {'whole cfg/s':>11s} {'findings':>8s}  rows by worker")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['workers']:>7d} {r['n']:>4d} {r['start_s']:>8.2f} {r['run_s']:>7.2f} "
                     f"{r['cfg_per_s']:>6.2f} {r['whole_s']:>8.2f} {r['whole_cfg_per_s']:>11.2f} "
                     f"{r['findings']:>8d}  {r['rows_by_worker']}")
    if cost:
        lines.append(f"dask per-task cost ({cost['workers']} workers, {cost['tasks']} no-ops): "
                     f"{cost['ms_per_task']:.2f} ms through the campaign's window, "
                     f"{cost['ms_per_task_wide_window']:.2f} ms through a window of 256")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=40)
    ap.add_argument("--seed", type=int, default=20261121)
    ap.add_argument("--workers", default="0,1,2", help="comma-separated worker counts")
    ap.add_argument("--tasks", type=int, default=400, help="no-op tasks for the Dask cost "
                                                          "(0: skip)")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    ap.add_argument("--one", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--overhead", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--folder", default=None, help=argparse.SUPPRESS)
    opts = ap.parse_args(argv)
    if opts.one is not None:  # a child: one campaign, JSON on stdout
        print(json.dumps(one(opts.one, opts.n, opts.seed, Path(opts.folder))))
        return 0
    if opts.overhead:
        print(json.dumps(overhead(opts.tasks)))
        return 0

    from benchmarks.run import machine

    rows = []
    with tempfile.TemporaryDirectory(prefix="nbparity-campaign-bench-") as tmp:
        for workers in [int(w) for w in opts.workers.split(",") if w.strip()]:
            rows.append(_child(["--one", str(workers), "--n", str(opts.n), "--seed",
                                str(opts.seed), "--folder", str(Path(tmp) / f"w{workers}")]))
            print(f"workers={workers}: {rows[-1]['cfg_per_s']:.2f} cfg/s", file=sys.stderr)
    cost = _child(["--overhead", "--tasks", str(opts.tasks)]) if opts.tasks else None
    print(table(rows, cost))
    stamp = _dt.datetime.now(_dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    data = {"benchmark": "campaign", "utc": stamp, "machine": machine(), "rows": rows,
            "dask_task_cost": cost}
    out = Path(opts.out)
    out.mkdir(parents=True, exist_ok=True)
    for name in (f"campaign-{stamp}.json", "campaign-latest.json"):
        (out / name).write_text(json.dumps(data, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

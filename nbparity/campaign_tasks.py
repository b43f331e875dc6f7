"""What a campaign runs, and where: ``evaluate_index`` (one configuration drawn and judged: one
results row, the task each worker runs) and the executors that run it in this process or on a
Dask cluster (a local one started here, or an existing one), tasks kept in a bounded window.

generate, verdict, shrink and explain are imported where they are used: a worker process
unpickling a task imports this module, and those modules load pandas and the diagnoses."""

from __future__ import annotations

import contextlib
import json
import math
import shlex
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

from nbparity import exitcodes
from nbparity.engines import Engine
from nbparity.tolerance import Tolerance

if TYPE_CHECKING:
    from nbparity.campaign_spec import CampaignSpec


class ClusterError(RuntimeError):
    """The Dask cluster could not be started or reached: one line, exit 4."""


class SchedulerUnreachable(ClusterError):
    """The Dask scheduler at the given address could not be reached (the message names it)."""


def _draw(seed: int, index: int, inputs: Path | None) -> tuple:
    """(case, pairing, dtype): ``generate.draw``; dtype is the candidate's arithmetic for this
    configuration (``candidate_for``)."""
    from nbparity.generate import draw

    drawn = draw(seed, index, inputs)
    return drawn.case, drawn.mode, drawn.dtype


def candidate_for(candidate: Engine, dtype: str | None) -> Engine:
    """The candidate of one configuration: the built-in simulator computes in the drawn dtype
    when the campaign's candidate is in float64 (a campaign asked for float32 stays float32);
    any other candidate has its own arithmetic."""
    if dtype and candidate.kind == "nbsim" and candidate.dtype == "float64":
        return replace(candidate, dtype=dtype)
    return candidate


def _evaluate(case, mode, reference, candidate, level, tolerance):
    from nbparity.verdict import evaluate

    return evaluate(case, mode, reference, candidate, level=level, tolerance=tolerance)


def _text(value) -> str:
    """A verdict field as one string (a list of diagnoses joined)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)):
        return "; ".join(str(v) for v in value)
    return str(value)


def _float(value) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.nan
    return number


def _worker_name() -> str:
    """The Dask worker's name; "local" in a process that is no worker."""
    if "distributed" not in sys.modules:  # not imported: not a worker (and stays unloaded)
        return "local"
    try:
        from distributed import get_worker

        return str(get_worker().name)
    except (ImportError, ValueError):
        return "local"


def evaluate_index(seed: int, index: int, reference: Engine, candidate: Engine,
                   level: str = "auto", tolerance: Tolerance | None = None,
                   inputs: Path | None = None) -> dict:
    """Draw configuration ``index`` of ``seed`` and judge it: one results row. The task each
    worker runs. An error of the harness itself (not an engine's, which the verdict reports) is
    a row too (exit 4, signature ``harness error: TYPE``), so one bad draw cannot stop a
    campaign of thousands; its class shows in the report."""
    start = time.perf_counter()
    case, mode, dtype = _draw(seed, index, inputs)
    candidate = candidate_for(candidate, dtype)
    row = {"index": index, "case": case.name, "mode": mode, "dtype": candidate.precision,
           "args": shlex.join(case.args), "pixels": json.dumps([list(p) for p in case.pixels])}
    try:
        verdict = _evaluate(case, mode, reference, candidate, level, tolerance)
        row.update(exit_code=int(verdict.exit_code), level=_text(verdict.level),
                   signature=_text(verdict.signature), message=_text(verdict.message),
                   key=_text(verdict.key), diagnosis=_text(verdict.diagnosis),
                   worst_rel=_float(verdict.worst_rel), seconds=_float(verdict.seconds))
    except Exception as exc:  # noqa: BLE001 - recorded, not lost: see the docstring
        row.update(exit_code=exitcodes.ENGINE_FAILED, level="error",
                   signature=f"harness error: {type(exc).__name__}",
                   message=f"{type(exc).__name__}: {exc}"[:2000], key="", diagnosis="",
                   worst_rel=math.nan, seconds=time.perf_counter() - start)
    row.update(worker=_worker_name(), finished_unix=time.time())
    return row


# --------------------------------------------------------------------------- executors


#: a tiny configuration every worker renders once before its first task
_WARM_UP = ("-cell", "40", "40", "40", "90", "90", "90", "-default_F", "10", "-N", "2",
            "-detpixels", "4", "-distance", "100", "-lambda", "1", "-phi", "0", "-osc", "1",
            "-phisteps", "2", "-nointerpolate")


def _prepare_worker(threads: int | None = None) -> str:
    """Run once on each worker (and once in this process for ``workers=0``): load torch, the
    simulator, the readers and the diagnoses, and render one tiny traced configuration, so
    that the first task does not pay ~1-2 s of imports and first-call set-up (they stay loaded
    for every task the worker runs); on a local cluster, one torch thread per single-threaded
    worker. A warm-up that fails is ignored: the tasks report their own errors."""
    import torch

    import simulator.cli  # noqa: F401 - loaded once per worker

    if threads:
        torch.set_num_threads(threads)
    with contextlib.suppress(Exception):
        import tempfile

        import nbparity.verdict  # noqa: F401 - pandas, the readers, the diagnoses
        from nbparity.engines import run_py
        from nbparity.parse import parse_trace_text

        torch.unravel_index(torch.tensor([0]), (2,))  # a lazy import inside torch
        with tempfile.TemporaryDirectory(prefix="nbparity-warm-") as work:
            run = run_py(list(_WARM_UP), [(1, 1)], Path(work))
        parse_trace_text(run.log_text, "warm-up")
    return torch.__version__


def _warm_up_plugin(threads: int | None):
    """A worker plugin that runs ``_prepare_worker`` on every worker, those that join later
    included (off the worker's event loop, which must keep answering the scheduler)."""
    import asyncio

    from distributed import WorkerPlugin

    class WarmUp(WorkerPlugin):
        async def setup(self, worker) -> None:
            await asyncio.get_running_loop().run_in_executor(None, _prepare_worker, threads)

    return WarmUp()


@contextlib.contextmanager
def _client(spec: CampaignSpec):
    """A distributed Client (None for workers=0 without a scheduler) and its worker threads."""
    if spec.scheduler is None and spec.workers == 0:
        yield None, 0
        return
    import logging

    from distributed import Client, LocalCluster

    if spec.scheduler is not None:
        try:
            client = Client(spec.scheduler, timeout=spec.connect_timeout_s)
        except (OSError, TimeoutError, ValueError) as exc:
            raise SchedulerUnreachable(f"Dask scheduler {spec.scheduler} cannot be reached: "
                                       f"{exc}".splitlines()[0]) from None
        with client:
            client.register_plugin(_warm_up_plugin(None), name="nbparity-warm-up")
            yield client, _worker_threads(client)
        return
    try:
        cluster = LocalCluster(n_workers=spec.workers, threads_per_worker=1, processes=True,
                               dashboard_address="127.0.0.1:0", silence_logs=logging.ERROR)
    except Exception as exc:  # noqa: BLE001 - Dask reports a failed start in many types
        raise ClusterError(f"a local Dask cluster of {spec.workers} workers could not start: "
                           f"{exc}".splitlines()[0]) from None
    with cluster, Client(cluster) as client:
        client.register_plugin(_warm_up_plugin(1), name="nbparity-warm-up")
        yield client, spec.workers


def _in_process(spec: CampaignSpec, todo: list[int]) -> Iterable[dict]:
    for index in todo:
        yield evaluate_index(spec.seed, index, spec.reference, spec.candidate, spec.level,
                             spec.tolerance, spec.inputs)


def evaluate_indices(seed: int, indices: list[int], reference: Engine, candidate: Engine,
                     level: str = "auto", tolerance: Tolerance | None = None,
                     inputs: Path | None = None) -> list[dict]:
    """``evaluate_index`` for several configurations: one task of a campaign with ``chunk``
    above 1 (fewer, longer tasks where the scheduler's cost per task would show)."""
    return [evaluate_index(seed, index, reference, candidate, level, tolerance, inputs)
            for index in indices]


def _worker_threads(client) -> int:
    try:
        return max(1, sum(client.nthreads().values()))
    except Exception:  # noqa: BLE001 - the window keeps its size
        return 1


def _on_cluster(client, threads: int, spec: CampaignSpec, todo: list[int]) -> Iterable[dict]:
    """Tasks in a bounded window: up to ``window`` in flight (default four per worker thread,
    at least 8; the worker count is looked up again every 5 s, so a cluster that grows — an
    adaptive jobqueue one — gets a wider window), one more submitted each time one finishes;
    a task evaluates ``chunk`` configurations."""
    from distributed import as_completed

    chunk = max(1, spec.chunk)
    pending = iter([todo[i:i + chunk] for i in range(0, len(todo), chunk)])

    def width() -> int:
        return spec.window or max(8, 4 * threads)

    def submit(indices: list[int]):
        key = f"nbparity-evaluate-{spec.seed}-{indices[0]}-{uuid.uuid4().hex[:6]}"
        return client.submit(evaluate_indices, spec.seed, indices, spec.reference,
                             spec.candidate, spec.level, spec.tolerance, spec.inputs,
                             pure=False, key=key)

    first = [submit(indices) for _, indices in zip(range(width()), pending)]
    if not first:
        return
    stream, in_flight, looked = as_completed(first), len(first), time.monotonic()
    try:
        for future in stream:
            rows = future.result()
            future.release()
            in_flight -= 1
            if not spec.window and time.monotonic() - looked > 5.0:
                threads, looked = _worker_threads(client), time.monotonic()
            while in_flight < width():
                following = next(pending, None)
                if following is None:
                    break
                stream.add(submit(following))
                in_flight += 1
            yield from rows
    finally:  # interrupted: nothing keeps running for us
        futures = list(getattr(stream, "futures", {}))
        if futures:
            client.cancel(futures)

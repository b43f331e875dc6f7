"""Parity campaigns at scale: many random configurations, on a Dask cluster, resumable.

A campaign is ``n`` configurations of one generator seed: configuration ``i`` is
``generate.draw_case(seed, i)`` (a case and its carry-over pairing, a pure function of
``(seed, i)``), judged by ``verdict.evaluate`` against the reference. ``run_campaign`` runs the
configurations a campaign folder does not hold yet and writes one row per configuration into
``results/`` (Parquet, one part file per flush), then groups the failing rows by signature,
shrinks one representative of each group to a minimal case, classifies it, explains it and
writes the reports (``report.json``, ``report.md``, ``findings.toml``, a figure per class).

Where the work runs:

- ``workers=0`` and no scheduler: in this process, one configuration after the other (no Dask);
- ``workers=N``: a ``dask.distributed.LocalCluster`` of N single-threaded worker processes,
  started and stopped here (each worker keeps torch and the simulator loaded between tasks);
- ``scheduler=ADDRESS``: an existing cluster (``Client(ADDRESS)``; e.g. one dask-jobqueue
  started on an HPC site, ``docs/design/campaigns.md``).

Tasks are kept in a bounded window (``window`` in flight, never the whole campaign at once) and
consumed with ``distributed.as_completed``; each finished row is buffered and flushed to a new
part file (written beside its final name and renamed: a part is whole or absent). The folder's
``campaign.json`` holds what makes two runs the same campaign (seed, engines, level, inputs,
tolerance); running again with the same folder evaluates only the indices no part holds (and
with a larger ``n``, extends the campaign); a different campaign in that folder is refused.

The layout, file format and resumption rule are in ``docs/design/campaigns.md``.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
import shlex
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from nbparity import exitcodes
from nbparity.atomic import atomic_write
from nbparity.engines import Engine
from nbparity.tolerance import Tolerance

CAMPAIGN_FILE = "campaign.json"
RESULTS_DIR = "results"
FIGURES_DIR = "figures"
SHRUNK_DIR = "shrunk"
INPUTS_DIR = "inputs"
FORMAT_VERSION = 1
LEVELS = ("auto", "trace", "image")

#: the columns of a results row, in file order (the Parquet schema is ``results_schema()``)
COLUMNS = ("index", "case", "mode", "dtype", "args", "pixels", "exit_code", "level", "signature",
           "message", "key", "diagnosis", "worst_rel", "seconds", "worker", "finished_unix")


class CampaignError(ValueError):
    """A campaign that cannot run as asked (another campaign in the folder, a folder in use,
    an unreadable part file): one line, exit 2."""


class ClusterError(RuntimeError):
    """The Dask cluster could not be started or reached: one line, exit 4."""


class SchedulerUnreachable(ClusterError):
    """The Dask scheduler at the given address could not be reached (the message names it)."""


# --------------------------------------------------------------------------- the spec


@dataclass
class CampaignSpec:
    """What to run and where.

    ``seed``/``n``: configurations ``0 .. n-1`` of the generator's ``seed``. ``reference`` /
    ``candidate``: the engines (``nbparity.engines.Engine``; they travel to the workers by
    pickle). ``level``: auto, trace or image (``verdict.evaluate``). ``workers``: 0 runs in this
    process, N starts a local cluster of N single-threaded worker processes; ``scheduler``: the
    address of an existing cluster instead. ``folder``: the campaign folder (created; resumable).
    ``window``: tasks in flight (0: four per worker thread, at least 8); ``chunk``:
    configurations per task (1; more on a large cluster, where each task's ~1-10 ms of
    scheduling would otherwise add up at the client). ``flush_rows`` /
    ``flush_seconds``: a part file is written when this many rows wait or this long has passed.
    """

    seed: int
    n: int
    reference: Engine
    candidate: Engine
    folder: Path
    level: str = "auto"
    workers: int = 0
    scheduler: str | None = None
    shrink: bool = True
    max_evaluations: int = 120
    explain: bool = True
    window: int = 0
    chunk: int = 1
    flush_rows: int = 256
    flush_seconds: float = 5.0
    inputs: Path | None = None
    tolerance: Tolerance | None = None
    connect_timeout_s: float = 10.0

    def __post_init__(self):
        self.folder = Path(self.folder)
        if self.level not in LEVELS:
            raise ValueError(f"level must be one of {', '.join(LEVELS)}, not {self.level!r}")
        if self.n < 0 or self.workers < 0:
            raise ValueError("n and workers must be >= 0")

    def identity(self) -> dict:
        """What makes two runs the same campaign (``n`` is not part of it: a larger ``n``
        extends the campaign, since configuration ``i`` depends on ``(seed, i)`` alone)."""
        tolerance = None
        if self.tolerance is not None:
            tolerance = {"rtol": self.tolerance.rtol, "atol": self.tolerance.atol,
                         "per_key": {k: list(v) for k, v in sorted(self.tolerance.per_key.items())},
                         "nan_equal": self.tolerance.nan_equal}
        return {"format": FORMAT_VERSION, "seed": self.seed,
                "reference": self.reference.label(), "candidate": self.candidate.label(),
                "level": self.level,
                "inputs": str(Path(self.inputs).resolve()) if self.inputs else None,
                "tolerance": tolerance}


@dataclass
class CampaignProgress:
    """What a progress callback gets after every finished configuration (and once per phase)."""

    phase: str  # "run", "shrink", "done"
    done: int  # configurations of 0 .. n-1 with a row (earlier runs included)
    total: int
    evaluated: int  # evaluated by this call
    rate: float  # configurations per second in this call
    eta_s: float | None
    findings: int  # failing configurations so far
    classes: int  # distinct signatures so far (finding classes once shrunk)


@dataclass
class FindingClass:
    """One class of findings: every failing configuration whose minimal case classifies the
    same way, reported once."""

    name: str
    count: int
    signature: str
    signatures: list[str]
    exit_code: int
    level: str
    key: str
    diagnosis: str
    message: str
    example_index: int
    example_case: str
    indices: list[int]  # the first few failing indices of the class
    minimal_case: str  # a traces/cases.toml entry
    minimal_args: list[str]
    minimal_pixels: list[list[int]]
    mode: str
    dtype: str = ""  # the candidate's arithmetic in the minimal case
    shrink_evaluations: int = 0
    explanation: str = ""
    explanation_data: dict | None = None
    figure: str | None = None  # relative to the campaign folder

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class CampaignResult:
    spec: CampaignSpec
    rows: list[dict]  # one per configuration 0 .. n-1 held by the folder, by index
    evaluated: list[int]  # the indices this call evaluated
    classes: list[FindingClass]
    run_seconds: float  # evaluating (the start excluded)
    start_seconds: float  # starting the cluster (if any) and loading the engines
    shrink_seconds: float
    workers: int  # worker threads that evaluated (0: this process)
    paths: dict[str, Path] = field(default_factory=dict)

    @property
    def findings(self) -> int:
        return sum(1 for row in self.rows if row["exit_code"] != exitcodes.PARITY)

    @property
    def rate(self) -> float:
        """Configurations per second of this call's evaluation."""
        return len(self.evaluated) / self.run_seconds if self.run_seconds > 0 else 0.0

    @property
    def exit_code(self) -> int:
        return exitcodes.DIVERGED if self.findings else exitcodes.PARITY


# --------------------------------------------------------------------------- the other modules
# generate, verdict, shrink and explain are imported where they are used: a worker process
# unpickling a task imports this module, and the modules load pandas and the diagnoses.


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


# --------------------------------------------------------------------------- the results file


def results_schema():
    import pyarrow as pa

    return pa.schema([
        ("index", pa.int64()), ("case", pa.string()), ("mode", pa.string()),
        ("dtype", pa.string()),
        ("args", pa.string()), ("pixels", pa.string()), ("exit_code", pa.int16()),
        ("level", pa.string()), ("signature", pa.string()), ("message", pa.string()),
        ("key", pa.string()), ("diagnosis", pa.string()), ("worst_rel", pa.float64()),
        ("seconds", pa.float64()), ("worker", pa.string()), ("finished_unix", pa.float64()),
    ])


def _parts(folder: Path) -> list[Path]:
    return sorted((folder / RESULTS_DIR).glob("part-*.parquet"))


def _read_part(path: Path, columns=None):
    import pyarrow.parquet as pq

    try:
        return pq.read_table(path, columns=columns)
    except (OSError, ValueError) as exc:  # pyarrow's ArrowInvalid is a ValueError
        raise CampaignError(f"{path}: not a readable results part ({exc}); remove it to run "
                            f"its configurations again") from None


def done_indices(folder: Path) -> set[int]:
    """The configurations the folder's part files hold."""
    done: set[int] = set()
    for part in _parts(Path(folder)):
        done.update(_read_part(part, ["index"]).column("index").to_pylist())
    return done


def read_rows(folder: Path, n: int | None = None) -> list[dict]:
    """Every row of the folder (indices below ``n`` when given), one per index, by index."""
    by_index: dict[int, dict] = {}
    for part in _parts(Path(folder)):
        for row in _read_part(part).to_pylist():
            if n is None or row["index"] < n:
                by_index[row["index"]] = row
    return [by_index[i] for i in sorted(by_index)]


class ResultsWriter:
    """Buffers rows and writes them as part files ``results/part-<run>-<k>.parquet``: each
    written beside its name and renamed, so a part is whole or absent (an interrupted campaign
    loses at most the rows still buffered)."""

    def __init__(self, folder: Path, flush_rows: int = 256, flush_seconds: float = 5.0):
        self.dir = Path(folder) / RESULTS_DIR
        self.dir.mkdir(parents=True, exist_ok=True)
        self.flush_rows, self.flush_seconds = max(1, flush_rows), flush_seconds
        self.run = f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"
        self.buffer: list[dict] = []
        self.count = 0
        self.last_flush = time.monotonic()
        self.written: list[Path] = []

    def add(self, row: dict) -> None:
        self.buffer.append(row)
        if (len(self.buffer) >= self.flush_rows
                or time.monotonic() - self.last_flush >= self.flush_seconds):
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.buffer:
            return
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = results_schema()
        table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in self.buffer],
                                     schema=schema)
        path = self.dir / f"part-{self.run}-{self.count:05d}.parquet"
        staging = path.with_name(f".{path.name}.tmp")
        pq.write_table(table, staging)
        os.replace(staging, path)
        self.count += 1
        self.written.append(path)
        self.buffer = []


def compact(folder: Path) -> Path | None:
    """All part files as one (written first, the others removed after: a crash in between
    leaves duplicates, which ``read_rows`` folds by index)."""
    parts = _parts(Path(folder))
    if len(parts) < 2:
        return None
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = read_rows(folder)
    table = pa.Table.from_pylist([{c: row.get(c) for c in COLUMNS} for row in rows],
                                 schema=results_schema())
    path = Path(folder) / RESULTS_DIR / f"part-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}" \
        f"-{uuid.uuid4().hex[:8]}-compact.parquet"
    staging = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, staging)
    os.replace(staging, path)
    for part in parts:
        part.unlink()
    return path


# --------------------------------------------------------------------------- the folder


@contextlib.contextmanager
def _campaign_folder(spec: CampaignSpec):
    """The folder, locked for this run, with its campaign.json checked (or written)."""
    folder = spec.folder
    try:
        folder.mkdir(parents=True, exist_ok=True)
        lock = open(folder / ".lock", "a")  # noqa: SIM115 - held for the whole run
    except OSError as exc:
        raise CampaignError(f"campaign folder {folder}: {exc.strerror or exc}") from None
    with lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise CampaignError(f"campaign folder {folder} is in use by another run") from None
        path = folder / CAMPAIGN_FILE
        identity = spec.identity()
        if path.exists():
            try:
                recorded = json.loads(path.read_text())
            except (OSError, ValueError) as exc:
                raise CampaignError(f"{path}: unreadable ({exc})") from None
            for key, value in identity.items():
                if recorded.get(key) != value:
                    raise CampaignError(
                        f"{folder} holds another campaign ({key} {recorded.get(key)!r}, "
                        f"asked {value!r}); use another --out or the same settings")
        elif {p.name for p in folder.iterdir()} - {".lock"}:
            raise CampaignError(f"{folder} exists and is not a campaign folder (no "
                                f"{CAMPAIGN_FILE}); use another --out")
        record = {**identity, "n": spec.n, "workers": spec.workers,
                  "scheduler": spec.scheduler,
                  "updated_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        atomic_write(path, json.dumps(record, indent=2) + "\n", overwrite=True)
        yield folder


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


# --------------------------------------------------------------------------- shrinking


def shrink_finding(seed: int, index: int, signature: str, reference: Engine,
                   candidate: Engine, level: str = "auto", tolerance: Tolerance | None = None,
                   inputs: Path | None = None, max_evaluations: int = 120, shrink: bool = True,
                   explain: bool = True) -> dict:
    """One representative of a signature, shrunk (``shrink.shrink``: the smallest case that
    still fails with that signature), classified (``shrink.finding_class``) and explained
    (``explain.explain``, for value and structural findings). A task like ``evaluate_index``;
    returns plain data (the images as numpy arrays) for the client to report."""
    from nbparity import shrink as shrinking

    case, mode, dtype = _draw(seed, index, inputs)
    candidate = candidate_for(candidate, dtype)
    evaluations = 0
    if shrink:
        def fails_same_way(candidate_case, candidate_mode) -> bool:
            try:
                verdict = _evaluate(candidate_case, candidate_mode, reference, candidate, level,
                                    tolerance)
            except Exception:  # noqa: BLE001 - a variant the harness cannot take is no witness
                return False
            return _text(verdict.signature) == signature

        case, evaluations = shrinking.shrink(case, mode, fails_same_way,
                                             max_evaluations=max_evaluations)
    try:
        verdict = _evaluate(case, mode, reference, candidate, level, tolerance)
    except Exception as exc:  # noqa: BLE001 - as evaluate_index
        return _unexplained(case, mode, evaluations, signature, exc)
    out = {"case": case, "mode": mode, "dtype": candidate.precision, "evaluations": evaluations,
           "class": str(shrinking.finding_class(verdict, case)),
           "exit_code": int(verdict.exit_code), "level": _text(verdict.level),
           "signature": _text(verdict.signature), "key": _text(verdict.key),
           "diagnosis": _text(verdict.diagnosis), "message": _text(verdict.message),
           "explanation": "", "explanation_data": None, "images": None}
    if explain and verdict.exit_code in (exitcodes.DIVERGED, exitcodes.STRUCTURAL):
        try:
            from nbparity.explain import explain as explaining
            from nbparity.runner import comparison_tolerance
            from nbparity.verdict import default_tolerance

            traces = tolerance if tolerance is not None else default_tolerance()
            rtol = comparison_tolerance(traces, reference, candidate).rtol  # as the verdict's
            found = explaining(case, reference, candidate, mode, rtol=rtol, tolerance=traces)
            out["explanation"] = found.render()
            out["explanation_data"] = json.loads(json.dumps(found.to_dict(), default=str))
            outcome = getattr(found, "outcome", None)
            if outcome is not None and getattr(outcome, "reference_image", None) is not None \
                    and getattr(outcome, "candidate_image", None) is not None:
                out["images"] = (outcome.reference_image, outcome.candidate_image,
                                 getattr(outcome, "parity", None))
        except Exception as exc:  # noqa: BLE001 - a report without its explanation, not none
            out["explanation"] = f"(no explanation: {type(exc).__name__}: {exc})"
    return out


def _unexplained(case, mode, evaluations, signature, exc) -> dict:
    return {"case": case, "mode": mode, "evaluations": evaluations, "class": signature,
            "exit_code": exitcodes.ENGINE_FAILED, "level": "error", "signature": signature,
            "key": "", "diagnosis": "", "message": f"{type(exc).__name__}: {exc}",
            "explanation": "", "explanation_data": None, "images": None}


def _group(rows: list[dict]) -> dict[str, list[dict]]:
    groups: dict[str, list[dict]] = {}
    for row in rows:
        if row["exit_code"] != exitcodes.PARITY:
            groups.setdefault(row["signature"], []).append(row)
    return groups


def _cache_path(spec: CampaignSpec, signature: str, index: int) -> Path:
    """Where a signature's shrunk representative is kept: re-running a finished campaign (or
    resuming one) shrinks only what it has not shrunk with these settings."""
    import hashlib

    key = json.dumps([signature, index, spec.shrink, spec.max_evaluations, spec.explain])
    return spec.folder / SHRUNK_DIR / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.pkl"


def _load_cached(path: Path) -> dict | None:
    import pickle

    try:
        with open(path, "rb") as handle:
            found = pickle.load(handle)
    except FileNotFoundError:
        return None
    except Exception:  # noqa: BLE001 - a cache that cannot be read is shrunk again
        return None
    return found if isinstance(found, dict) and "class" in found else None


def _shrink_all(spec: CampaignSpec, client, groups: dict[str, list[dict]]) -> dict[str, dict]:
    """One shrink task per signature (its lowest index is the representative), on the
    cluster when there is one; results kept in ``shrunk/`` (pickles of plain data)."""
    import pickle

    out, arguments = {}, {}
    for signature, rows in groups.items():
        cached = _load_cached(_cache_path(spec, signature, rows[0]["index"]))
        if cached is not None:
            out[signature] = cached
            continue
        arguments[signature] = (spec.seed, rows[0]["index"], signature, spec.reference,
                                spec.candidate, spec.level, spec.tolerance, spec.inputs,
                                spec.max_evaluations, spec.shrink, spec.explain)
    if client is None:
        fresh = {signature: shrink_finding(*args) for signature, args in arguments.items()}
    else:
        futures = {signature: client.submit(shrink_finding, *args, pure=False,
                                            key=f"nbparity-shrink-{uuid.uuid4().hex[:12]}")
                   for signature, args in arguments.items()}
        fresh = {signature: future.result() for signature, future in futures.items()}
    for signature, found in fresh.items():
        path = _cache_path(spec, signature, groups[signature][0]["index"])
        with contextlib.suppress(OSError, pickle.PicklingError, TypeError):
            path.parent.mkdir(exist_ok=True)
            atomic_write(path, pickle.dumps(found), overwrite=True)
    return {**out, **fresh}


def _entry(spec: CampaignSpec, case, index: int, note: str) -> str:
    """The minimal case as a case-file entry whose input files are copied into the campaign's
    ``inputs/`` (so ``findings.toml`` runs as it is: ``nbparity gate findings.toml``). They are
    drawn again here when the case was shrunk on another machine."""
    import shutil

    from nbparity.cases import INPUT_FILE_OPTIONS
    from nbparity.shrink import case_entry

    inputs = spec.folder / INPUTS_DIR
    inputs.mkdir(exist_ok=True)
    args = [str(a) for a in case.args]
    names = [v for t, v in zip(args, args[1:]) if t in INPUT_FILE_OPTIONS]
    folder = Path(case.folder)
    if names and not all((folder / name).is_file() for name in names):
        folder = _draw(spec.seed, index, spec.inputs)[0].folder  # writes them here
    for name in names:
        source, target = folder / name, inputs / Path(name).name
        if source.is_file() and not target.exists():
            shutil.copyfile(source, target)
    return case_entry(case, note, folder=INPUTS_DIR)


def _slug(text: str) -> str:
    keep = "".join(c if c.isalnum() else "-" for c in text.lower())
    return "-".join(part for part in keep.split("-") if part)[:60] or "finding"


def _classes(spec: CampaignSpec, groups: dict[str, list[dict]], shrunk: dict[str, dict]
             ) -> list[FindingClass]:
    """Signatures whose minimal cases classify the same are one class."""
    by_class: dict[str, FindingClass] = {}
    order = sorted(groups, key=lambda s: (-len(groups[s]), groups[s][0]["index"]))
    for signature in order:
        rows, found = groups[signature], shrunk[signature]
        name = found["class"] or signature
        known = by_class.get(name)
        if known is not None:
            known.count += len(rows)
            known.signatures.append(signature)
            known.indices = sorted(known.indices + [r["index"] for r in rows[:10]])[:10]
            continue
        case = found["case"]
        by_class[name] = FindingClass(
            name=name, count=len(rows), signature=signature, signatures=[signature],
            exit_code=int(rows[0]["exit_code"]), level=found["level"] or rows[0]["level"],
            key=found["key"] or rows[0]["key"] or "",
            diagnosis=found["diagnosis"] or rows[0]["diagnosis"] or "",
            message=found["message"] or rows[0]["message"] or "",
            example_index=rows[0]["index"], example_case=rows[0]["case"],
            indices=[r["index"] for r in rows[:10]],
            minimal_case=_entry(spec, case, rows[0]["index"],
                                f"{name} ({found['mode']}, {found.get('dtype', '')})"),
            minimal_args=list(case.args), minimal_pixels=[list(p) for p in case.pixels],
            mode=found["mode"], dtype=found.get("dtype", ""),
            shrink_evaluations=found["evaluations"],
            explanation=found["explanation"], explanation_data=found["explanation_data"])
        by_class[name]._images = found["images"]  # type: ignore[attr-defined]
    classes = sorted(by_class.values(), key=lambda c: (-c.count, c.example_index))
    figures = spec.folder / FIGURES_DIR
    for number, finding in enumerate(classes, 1):
        images = getattr(finding, "_images", None)
        if images is None:
            continue
        from nbparity.images import write_figure

        path = figures / f"class-{number:02d}-{_slug(finding.name)}.png"
        try:
            figures.mkdir(exist_ok=True)
            with contextlib.suppress(FileNotFoundError):
                path.unlink()  # a figure of an earlier report of this folder
            write_figure(path, images[0], images[1], images[2],
                         title=f"{finding.name} ({finding.example_case}, {finding.mode})")
            finding.figure = str(path.relative_to(spec.folder))
        except Exception as exc:  # noqa: BLE001 - the report without its figure
            finding.explanation += f"\n(no figure: {type(exc).__name__}: {exc})"
    for finding in classes:
        with contextlib.suppress(AttributeError):
            del finding._images  # type: ignore[attr-defined]
    return classes


# --------------------------------------------------------------------------- the campaign


def run_campaign(spec: CampaignSpec,
                 progress: Callable[[CampaignProgress], None] | None = None) -> CampaignResult:
    """Run the configurations of ``spec`` the folder does not hold yet, then shrink, classify,
    explain and report (``campaign_report.write_reports``). Raises CampaignError (exit 2) and
    ClusterError (exit 4); an interruption (Ctrl-C, SIGTERM, a progress callback that
    raises) keeps every row already flushed, and the rows still buffered are flushed first."""
    from nbparity import campaign_report

    with _campaign_folder(spec) as folder:
        held = read_rows(folder, spec.n)  # earlier runs' rows: only the rest is evaluated
        done = {r["index"] for r in held}
        todo = [i for i in range(spec.n) if i not in done]
        failed = [r for r in held if r["exit_code"] != exitcodes.PARITY]
        findings, failing = len(failed), {r["signature"] for r in failed}
        writer = ResultsWriter(folder, spec.flush_rows, spec.flush_seconds)
        evaluated: list[int] = []
        start = time.perf_counter()
        with _client(spec) as (client, threads):
            if client is None and todo:
                _prepare_worker()  # what each worker of a cluster does first
            start_seconds = time.perf_counter() - start
            run_start = time.perf_counter()

            def report(phase: str) -> None:
                if progress is None:
                    return
                elapsed = time.perf_counter() - run_start
                rate = len(evaluated) / elapsed if elapsed > 0 else 0.0
                left = spec.n - len(done) - len(evaluated)
                eta = left / rate if rate > 0 else None
                progress(CampaignProgress(phase, len(done) + len(evaluated), spec.n,
                                          len(evaluated), rate, eta, findings, len(failing)))

            rows = _on_cluster(client, threads, spec, todo) if client is not None \
                else _in_process(spec, todo)
            report("run")
            try:
                for row in rows:
                    writer.add(row)
                    evaluated.append(row["index"])
                    if row["exit_code"] != exitcodes.PARITY:
                        findings += 1
                        failing.add(row["signature"])
                    report("run")
            finally:
                writer.flush()
                with contextlib.suppress(Exception):
                    rows.close()  # cancels what is still in flight
            run_seconds = time.perf_counter() - run_start
            all_rows = read_rows(folder, spec.n)
            groups = _group(all_rows)
            report("shrink")
            shrink_start = time.perf_counter()
            shrunk = _shrink_all(spec, client, groups) if groups else {}
            shrink_seconds = time.perf_counter() - shrink_start
        if len(_parts(folder)) > 16:
            compact(folder)
        classes = _classes(spec, groups, shrunk)
        result = CampaignResult(spec, all_rows, evaluated, classes, run_seconds,
                                start_seconds, shrink_seconds, threads)
        result.paths = campaign_report.write_reports(result)
        report("done")
    return result

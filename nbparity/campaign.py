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

Modules: this one runs the campaign (``run_campaign``; the findings shrunk, classified and
explained); ``campaign_spec`` what a campaign is (``CampaignSpec``, re-exported here);
``campaign_tasks`` what runs on the workers and the executors; ``campaign_store`` the folder
and the results file; ``campaign_report`` the reports.
"""

from __future__ import annotations

import contextlib
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from nbparity import exitcodes
from nbparity.atomic import atomic_write
from nbparity.campaign_spec import CampaignSpec  # (also this module's interface)
from nbparity.campaign_store import (
    CampaignError,  # noqa: F401 - raised by run_campaign
    ResultsWriter,
    _campaign_folder,
    _parts,
    compact,
    read_rows,
)
from nbparity.campaign_tasks import (
    ClusterError,  # noqa: F401 - raised by run_campaign
    _client,
    _draw,
    _evaluate,
    _in_process,
    _on_cluster,
    _prepare_worker,
    _text,
    candidate_for,
)
from nbparity.engines import Engine
from nbparity.tolerance import Tolerance

FIGURES_DIR = "figures"
SHRUNK_DIR = "shrunk"
INPUTS_DIR = "inputs"


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

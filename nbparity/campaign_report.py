"""A campaign's reports: the terminal table, report.json, report.md, findings.toml, and the
progress line on stderr while it runs (``nbparity.campaign`` computes, this module shows)."""

from __future__ import annotations

import contextlib
import json
import math
from collections import Counter
from pathlib import Path

from nbparity import exitcodes
from nbparity.atomic import atomic_write

REPORT_JSON = "report.json"
REPORT_MD = "report.md"
FINDINGS_TOML = "findings.toml"


def _clean(value):
    """JSON-safe: NaN and infinities as null, paths as text."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _rate(result) -> float:
    return round(result.rate, 3)


def report_dict(result) -> dict:
    spec = result.spec
    rows = result.rows
    codes = Counter(int(r["exit_code"]) for r in rows)
    modes = Counter(r["mode"] for r in rows)
    now = set(result.evaluated)
    workers = Counter(r["worker"] for r in rows if r["index"] in now)
    return _clean({
        "campaign": {**spec.identity(), "n": spec.n, "folder": str(spec.folder),
                     "workers": spec.workers, "scheduler": spec.scheduler,
                     "shrink": spec.shrink},
        "totals": {"configurations": spec.n, "held": len(rows),
                   "evaluated_now": len(result.evaluated),
                   "passed": codes.get(exitcodes.PARITY, 0), "findings": result.findings,
                   "classes": len(result.classes),
                   "by_exit_code": {str(k): v for k, v in sorted(codes.items())},
                   "by_mode": dict(sorted(modes.items()))},
        "timing": {"run_seconds": round(result.run_seconds, 3),
                   "start_seconds": round(result.start_seconds, 3),
                   "shrink_seconds": round(result.shrink_seconds, 3),
                   "configurations_per_second": _rate(result),
                   "worker_threads": result.workers,
                   "rows_by_worker": dict(sorted(workers.items()))},
        "classes": [c.to_dict() for c in result.classes],
        "results": "results/",
        "exit_code": result.exit_code,
    })


def report_json(result) -> str:
    return json.dumps(report_dict(result), indent=2) + "\n"


def summary_line(result) -> str:
    spec = result.spec
    held = len(result.rows) - len(result.evaluated)
    return (f"campaign {spec.folder}: {len(result.rows)} of {spec.n} configurations "
            f"(seed {spec.seed}; {len(result.evaluated)} evaluated now, {held} held), "
            f"{result.findings} findings in {len(result.classes)} classes; "
            f"{result.rate:.2f} configurations/s")


def _cell(text: str, width: int = 80) -> str:
    text = " ".join(str(text).split()).replace("|", "\\|")
    return text if len(text) <= width else text[: width - 1] + "…"


def report_markdown(result) -> str:
    spec = result.spec
    data = report_dict(result)
    lines = [f"# nbparity campaign `{spec.folder.name}`", "",
             f"- seed {spec.seed}, {spec.n} configurations, level {spec.level}",
             f"- reference: {spec.reference.label()}",
             f"- candidate: {spec.candidate.label()}",
             f"- {data['totals']['passed']} at parity, {result.findings} findings in "
             f"{len(result.classes)} classes (exit codes: "
             + ", ".join(f"{k}: {v}" for k, v in data["totals"]["by_exit_code"].items()) + ")",
             f"- this run: {len(result.evaluated)} evaluated in {result.run_seconds:.1f} s "
             f"({result.rate:.2f} configurations/s, {result.workers or 'no'} worker threads; "
             f"start {result.start_seconds:.1f} s, shrinking "
             f"{result.shrink_seconds:.1f} s)",
             "- rows: `results/*.parquet` (one per configuration)", ""]
    if not result.classes:
        lines += ["No finding: every configuration is at parity.", ""]
        return "\n".join(lines)
    lines += ["| # | class | count | exit | key | diagnosis | figure |",
              "|---|---|---|---|---|---|---|"]
    for number, c in enumerate(result.classes, 1):
        figure = f"[png]({c.figure})" if c.figure else ""
        lines.append(f"| {number} | {_cell(c.name, 60)} | {c.count} | {c.exit_code} | "
                     f"{_cell(c.key, 30)} | {_cell(c.diagnosis)} | {figure} |")
    lines.append("")
    for number, c in enumerate(result.classes, 1):
        lines += [f"## {number}. {c.name}", "",
                  f"- count: {c.count} (first indices: {', '.join(map(str, c.indices))})",
                  f"- signature: `{c.signature}`"
                  + (f" (and {len(c.signatures) - 1} more: "
                     + ", ".join(f"`{s}`" for s in c.signatures[1:]) + ")"
                     if len(c.signatures) > 1 else ""),
                  f"- exit code {c.exit_code}, level {c.level}, pairing {c.mode}",
                  f"- key: {c.key or '-'}", f"- diagnosis: {c.diagnosis or '-'}"]
        if c.message:
            lines.append(f"- message: {_cell(c.message, 300)}")
        lines += [f"- example: configuration {c.example_index} (`{c.example_case}`); "
                  f"minimal case after {c.shrink_evaluations} evaluations:", "",
                  "```toml", c.minimal_case.rstrip(), "```", ""]
        if c.figure:
            lines += [f"![{c.name}]({c.figure})", ""]
        if c.explanation:
            lines += ["<details><summary>explanation</summary>", "", "```",
                      c.explanation.rstrip(), "```", "", "</details>", ""]
    return "\n".join(lines)


def findings_toml(result) -> str:
    """The minimal case of every class, as a case file to paste into traces/cases.toml."""
    return "\n".join(f"# class: {c.name} ({c.count} configurations)\n{c.minimal_case.rstrip()}\n"
                     for c in result.classes)


def table(result):
    """The classes as a rich table (for the terminal)."""
    from rich.table import Table

    out = Table(title=summary_line(result), title_justify="left")
    for column in ("#", "class", "count", "exit", "key", "diagnosis", "minimal case", "figure"):
        out.add_column(column, overflow="fold")
    for number, c in enumerate(result.classes, 1):
        minimal = f"{c.example_case}: {len(c.minimal_args)} args, {len(c.minimal_pixels)} px"
        out.add_row(str(number), c.name, str(c.count), str(c.exit_code), c.key or "-",
                    _cell(c.diagnosis or "-", 120), minimal, c.figure or "")
    return out


def write_reports(result) -> dict[str, Path]:
    folder = result.spec.folder
    paths = {"json": folder / REPORT_JSON, "markdown": folder / REPORT_MD,
             "findings": folder / FINDINGS_TOML}
    atomic_write(paths["json"], report_json(result), overwrite=True)
    atomic_write(paths["markdown"], report_markdown(result), overwrite=True)
    atomic_write(paths["findings"], findings_toml(result), overwrite=True)
    return paths


def _duration(seconds: float | None) -> str:
    if seconds is None or not math.isfinite(seconds):
        return "--:--"
    seconds = int(seconds)
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}" if hours else \
        f"{rest // 60:02d}:{rest % 60:02d}"


@contextlib.contextmanager
def progress_line(total: int):
    """A rich progress line on stderr (transient); yields the callback ``run_campaign``
    takes: done/total, configurations per second, ETA, findings so far (and their classes)."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    columns = (TextColumn("{task.description}"), BarColumn(),
               TextColumn("{task.completed}/{task.total}"),
               TextColumn("{task.fields[rate]}"), TextColumn("ETA {task.fields[eta]}"),
               TextColumn("{task.fields[findings]}"))
    with Progress(*columns, transient=True, console=Console(stderr=True)) as bar:
        task = bar.add_task("campaign", total=total, rate="", eta="--:--", findings="")

        def update(state) -> None:
            bar.update(task, description=state.phase, completed=state.done, total=state.total,
                       rate=f"{state.rate:.2f} cfg/s", eta=_duration(state.eta_s),
                       findings=f"{state.findings} findings ({state.classes} classes)")

        yield update

"""Reports of a comparison: rich tables for people; JSON, CSV, Markdown, JUnit XML for machines."""

from __future__ import annotations

import io
import json
import math
from typing import TYPE_CHECKING

from rich.console import Console
from rich.table import Table
from rich.text import Text

from nbparity.tolerance import FAILING, MISSING

if TYPE_CHECKING:  # (pandas is loaded by the comparison these functions receive)
    import pandas as pd

    from nbparity.compare import Comparison
    from nbparity.divergence import Divergence

FORMATS = ("table", "json", "csv", "markdown", "junit")
STATUS_STYLE = {"pass": "green", "fail": "bold red", "both-nan": "red",
                "precision-limited": "yellow", "missing-candidate": "magenta",
                "missing-reference": "magenta", "not-comparable": "dim", "ambiguous": "yellow"}
REPORT_COLUMNS = ["slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick", "key",
                  "ref", "cand", "abs_err", "rel_err", "max_component_diff", "status"]


def select(comparison: Comparison, keys=None, stages=None, failed_only=False,
           show_missing=True) -> pd.DataFrame:
    """The records to show: ``failed_only`` keeps value failures (fail, both-nan);
    ``show_missing`` False leaves out records present on one side only (see missing_line)."""
    # (built from the comparison's compact columns: only the rows shown become a frame)
    return comparison.select(keys, stages, statuses=FAILING if failed_only else None,
                             exclude=MISSING if not failed_only and not show_missing else None)


def missing_line(comparison: Comparison, hint: str = "--show-missing lists them") -> str:
    """Records held by one log only, in one line: how many, on which side, which keys."""
    if not comparison.count(MISSING):
        return ""
    parts = []
    for status, side in (("missing-candidate", "the reference"),
                         ("missing-reference", "the candidate")):
        keys = comparison.keys_with_status(status)
        if keys:
            shown = ", ".join(keys[:6]) + (f", … ({len(keys)} keys)" if len(keys) > 6 else "")
            count = comparison.count({status})
            parts.append(f"{count} only in {side} ({shown})")
    return f"records on one side only: {'; '.join(parts)}; {hint}\n"


def summary(comparison: Comparison) -> dict:
    """Counts and the worst record, for the summary line and machine formats."""
    worst = comparison.worst()
    count = comparison.count  # (counted on the comparison's compact status column)
    return {
        "reference": comparison.reference.source,
        "candidate": comparison.candidate.source,
        "records": comparison.n_records,
        "compared": comparison.n_records - count(MISSING | {"not-comparable"}),
        "failed": count(FAILING),
        "precision_limited": count({"precision-limited"}),
        "missing": count(MISSING),
        "not_comparable": count({"not-comparable"}),
        "ambiguous": count({"ambiguous"}),
        "skipped_lines": {"reference": comparison.reference.skipped_lines,
                          "candidate": comparison.candidate.skipped_lines},
        "rtol": comparison.tolerance.rtol,
        "atol": comparison.tolerance.atol,
        "worst": None if worst is None else {
            "key": worst.key, "pixel": [int(worst.slow), int(worst.fast)],
            "phi_tic": int(worst.phi_tic), "mos_tic": int(worst.mos_tic),
            "rel_err": _num(worst.rel_err), "status": worst.status,
            "reference": str(worst.ref), "candidate": str(worst.cand)},
    }


def summary_line(comparison: Comparison) -> str:
    s = summary(comparison)
    worst = s["worst"]
    where = ""
    if worst:
        step = ("" if worst["phi_tic"] < 0
                else f" phi_tic={worst['phi_tic']} mos_tic={worst['mos_tic']}")
        at = f"{worst['key']} pixel ({worst['pixel'][0]}, {worst['pixel'][1]}){step}"
        if worst["rel_err"] is None:  # NaN against a number, or different words: no ratio
            where = (f"; worst record {at}: {worst['reference']} vs {worst['candidate']} "
                     f"({worst['status']})")
        else:
            where = f"; worst rel error {_fmt(worst['rel_err'])} at {at}"
    extra = f", {s['precision_limited']} precision-limited" if s["precision_limited"] else ""
    extra += f", {s['ambiguous']} ambiguous" if s["ambiguous"] else ""
    return (f"{s['compared']} records compared, {s['failed']} failed{extra}, "
            f"{s['missing']} missing on one side{where}")


def log_summary(log) -> dict:
    """What the reader made of one log: grammar, inferred precision, skipped TRACE lines
    (grouped by shape) and notes (repeated keys, alias clashes)."""
    return {"source": log.source, "grammar": log.grammar, "precision": log.precision,
            "precision_digits": log.precision_digits, "ignored_lines": log.ignored_lines,
            "skipped": log.skipped, "notes": [dict(note) for note in log.notes]}


def skipped_notes(comparison: Comparison) -> list[str]:
    """One line per log whose reader skipped TRACE lines (for the commands that do not show
    ``reader_lines``): a skipped line may hold a value that was then never compared."""
    notes = []
    for role, log in (("reference", comparison.reference), ("candidate", comparison.candidate)):
        if log.skipped_lines:
            first = log.skipped[0]
            notes.append(f"{role} {log.source}: {log.skipped_lines} TRACE line(s) skipped, "
                         f"first at line {first['line']} ({first['shape']}); nbparity diff "
                         "lists them")
    return notes


def reader_lines(comparison: Comparison, max_items: int = 8) -> list[str]:
    """A short section per log: its grammar and precision, then what its reader skipped."""
    lines = []
    for role, log in (("reference", comparison.reference), ("candidate", comparison.candidate)):
        skipped = log.skipped_lines
        head = f"{role} {log.source}: {log.grammar}, precision {log.precision} " \
               f"({log.precision_digits} digits)"
        if skipped:
            head += f"; {skipped} TRACE line(s) skipped in {len(log.skipped)} shape(s)"
        lines.append(head)
        for item in log.skipped[:max_items]:
            lines.append(f"  skipped {item['count']}x {item['shape']} (first at line "
                         f"{item['line']}): {item['example']}")
        for note in log.notes[:max_items]:
            lines.append(f"  note: {note['text']}")
        hidden = max(len(log.skipped) - max_items, 0) + max(len(log.notes) - max_items, 0)
        if hidden:
            lines.append(f"  ... {hidden} more (--format json lists all)")
    return lines


def _num(v):
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return None
    if isinstance(v, float) and math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def _fmt(v) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, str):
        return v
    return f"{v:.3g}"


# --------------------------------------------------------------------------- renderers

def render(comparison: Comparison, rows: pd.DataFrame, fmt: str,
           divergences: list[Divergence] | None = None) -> str:
    if fmt == "json":
        return render_json(comparison, rows, divergences)
    if fmt == "csv":
        return rows[REPORT_COLUMNS].to_csv(index=False)
    if fmt == "markdown":
        return render_markdown(comparison, rows)
    if fmt == "junit":
        return render_junit(comparison, rows, divergences=divergences)
    return render_table(comparison, rows)


def render_table(comparison: Comparison, rows: pd.DataFrame, width: int = 160) -> str:
    table = Table(title=Text(f"{comparison.reference.source} (reference) vs "
                             f"{comparison.candidate.source} (candidate)"), show_lines=False)
    for col in ("pixel", "step", "key", "reference", "candidate", "abs err", "rel err", "status"):
        table.add_column(col, overflow="fold")
    for r in rows.itertuples(index=False):
        step = "" if r.phi_tic < 0 else f"φ{r.phi_tic} m{r.mos_tic}"
        style = STATUS_STYLE.get(r.status, "")
        # printed names and values are text, never rich markup (a legacy log may print "[/]")
        table.add_row(f"{r.slow} {r.fast}", step, Text(r.key), Text(r.ref), Text(r.cand),
                      _fmt(r.abs_err), _fmt(r.rel_err),
                      f"[{style}]{r.status}[/]" if style else r.status)
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=False, color_system=None)
    for line in reader_lines(comparison):
        console.print(line, highlight=False, markup=False, overflow="fold")
    console.print(table)
    console.print(summary_line(comparison), markup=False)
    return buffer.getvalue()


def render_json(comparison: Comparison, rows: pd.DataFrame,
                divergences: list[Divergence] | None = None) -> str:
    records = []
    for r in rows[REPORT_COLUMNS].itertuples(index=False):
        item = r._asdict()
        for k in ("abs_err", "rel_err", "max_component_diff"):
            item[k] = _num(item[k])
        for k in ("slow", "fast", "phi_tic", "mos_tic", "sub", "src", "thick"):
            item[k] = int(item[k])
        records.append(item)
    payload = {"summary": summary(comparison),
               "logs": {"reference": log_summary(comparison.reference),
                        "candidate": log_summary(comparison.candidate)},
               "records": records}
    if divergences is not None:
        payload["first_divergences"] = [divergence_dict(d) for d in divergences]
    return json.dumps(payload, indent=2)


def render_markdown(comparison: Comparison, rows: pd.DataFrame) -> str:
    lines = ["| pixel | step | key | reference | candidate | rel err | status |",
             "|---|---|---|---|---|---|---|"]
    for r in rows.itertuples(index=False):
        step = "" if r.phi_tic < 0 else f"φ{r.phi_tic} m{r.mos_tic}"
        lines.append(f"| {r.slow} {r.fast} | {step} | `{r.key}` | {r.ref} | {r.cand} | "
                     f"{_fmt(r.rel_err)} | {r.status} |")
    lines.append("")
    lines.append(summary_line(comparison))
    return "\n".join(lines) + "\n"


def render_junit(comparison: Comparison, rows: pd.DataFrame, suite: str = "nbparity",
                 divergences: list[Divergence] | None = None) -> str:
    """One testcase per record; a failing record's <failure> holds its values, errors and
    tolerance, then its pixel's first divergence with its values and diagnosis (what the
    terminal shows), so a CI page needs no second run to say why."""
    from xml.sax.saxutils import escape, quoteattr  # (imports urllib: only for JUnit output)

    roots = _divergences_by_pixel(divergences or [])
    cases = []
    failures = 0
    for r in rows.itertuples(index=False):
        step = "" if r.phi_tic < 0 else f" phi_tic={r.phi_tic} mos_tic={r.mos_tic}"
        name = f"pixel {r.slow} {r.fast}{step} {r.key}"
        body = ""
        if r.status in FAILING:
            failures += 1
            message = f"{r.key}: reference {r.ref} candidate {r.cand} rel {_fmt(r.rel_err)}"
            details = [f"{name} ({r.status})", f"reference {r.ref}", f"candidate {r.cand}",
                       f"abs error {_fmt(r.abs_err)}, rel error {_fmt(r.rel_err)} "
                       f"(rtol {r.rtol:g}, atol {r.atol:g})"]
            pixel_roots = roots.get((int(r.slow), int(r.fast)), [])
            if pixel_roots:
                details.append(render_divergences(pixel_roots).rstrip("\n"))
            text = "\n".join(details)
            body = f"<failure message={quoteattr(message)}>{escape(text)}</failure>"
        elif r.status != "pass":
            body = f"<skipped message={quoteattr(r.status)}/>"
        cases.append(f'  <testcase classname="{suite}.{r.stage}" name={quoteattr(name)}>{body}'
                     "</testcase>")
    head = (f'<testsuite name="{suite}" tests="{len(cases)}" failures="{failures}" '
            f'errors="0">')
    lines = ['<?xml version="1.0" encoding="utf-8"?>', head, *cases, "</testsuite>"]
    return "\n".join(lines) + "\n"


def _divergences_by_pixel(divergences: list[Divergence]) -> dict[tuple[int, int], list]:
    out: dict[tuple[int, int], list] = {}
    for d in divergences:
        out.setdefault(tuple(int(v) for v in d.pixel), []).append(d)
    return out


# --------------------------------------------------------------------------- divergence

def divergence_dict(d: Divergence) -> dict:
    r = d.record
    last = d.last_agreeing
    out = {
        "pixel": list(d.pixel), "stage": r.stage, "key": r.key, "phi_tic": int(r.phi_tic),
        "mos_tic": int(r.mos_tic), "reference": r.ref, "candidate": r.cand,
        "rel_err": _num(r.rel_err), "status": r.status,
        "role": "root" if d.rank else "precision", "root": d.rank,
        "roots_in_pixel": d.roots_in_pixel, "co_roots": d.co_roots,
        "also_at": [{"phi_tic": p, "mos_tic": m} for p, m in d.also_at],
        "last_agreeing": None if last is None else {
            "stage": last.stage, "key": last.key, "phi_tic": int(last.phi_tic),
            "mos_tic": int(last.mos_tic)},
        "propagated_failures": d.propagated, "diagnosis": d.diagnosis,
        "findings": [f.as_dict() for f in d.findings],
    }
    if d.precision is not None:
        out["precision_level_failures"] = {
            "count": d.precision.count, "worst_key": d.precision.worst.key,
            "worst_rel_err": _num(d.precision.worst.rel_err), "reason": d.precision.reason}
    return out


def _step_text(r) -> str:
    return "" if r.phi_tic < 0 else f" phi_tic={r.phi_tic} mos_tic={r.mos_tic}"


def render_divergences(divergences: list[Divergence], fmt: str = "table") -> str:
    """Every independent root of every failing pixel, in pipeline order, with its diagnoses."""
    if fmt == "json":
        return json.dumps([divergence_dict(d) for d in divergences], indent=2)
    if not divergences:
        return "no divergence: every compared record is within tolerance\n"
    out = []
    for d in divergences:
        r = d.record
        if d.rank == 0:
            out.append(f"no root beyond the logs' precision: {d.where()} is the first failure")
        elif d.rank == 1:
            extra = (f" (independent root 1 of {d.roots_in_pixel})"
                     if d.roots_in_pixel > 1 else "")
            out.append(f"first divergence: {d.where()}{extra}")
        else:
            out.append(f"independent root {d.rank} of {d.roots_in_pixel}: {d.where()}")
        out.append(f"  reference {r.ref}")
        out.append(f"  candidate {r.cand}")
        out.append(f"  rel error {_fmt(r.rel_err)} ({r.status})")
        if d.co_roots:
            out.append(f"  failing with it at the same step: {', '.join(d.co_roots)}")
        if d.also_at:
            steps = ", ".join(f"phi_tic={p} mos_tic={m}" for p, m in d.also_at[:8])
            more = f" and {len(d.also_at) - 8} more" if len(d.also_at) > 8 else ""
            out.append(f"  the same failure, for the same reason, at: {steps}{more}")
        if d.last_agreeing is not None:
            last = d.last_agreeing
            out.append(f"  last agreeing record: {last.stage}/{last.key}{_step_text(last)}")
        label = ("later failures at the precision level" if d.rank == 0
                 else "failures propagated from this root")
        out.append(f"  {label}: {d.propagated}")
        for sentence in d.diagnosis or ["no known signature fits; inspect the quantities the "
                                        "failing key is computed from"]:
            out.append(f"  diagnosis: {sentence}")
        if d.precision is not None and d.rank:
            p = d.precision
            out.append(f"  also {p.count} failure(s) of this pixel at the precision level, not "
                       f"roots (worst: {p.worst.key}{_step_text(p.worst)}, rel "
                       f"{_fmt(p.worst.rel_err)})")
    return "\n".join(out) + "\n"


# --------------------------------------------------------------------------- gate

def render_gate(results) -> str:
    """One line per case and pairing, then the first divergence of each failing one."""
    from nbparity import exitcodes

    verdicts = {exitcodes.PARITY: "PASS", exitcodes.DIVERGED: "DIVERGED",
                exitcodes.USAGE: "BAD INPUT", exitcodes.STRUCTURAL: "STRUCTURAL",
                exitcodes.ENGINE_FAILED: "ENGINE FAILED"}
    lines = []
    for r in results:
        detail = ""
        if r.comparison is not None:
            detail = summary_line(r.comparison)
        if r.message:
            detail = r.message
        lines.append(f"{verdicts.get(r.exit_code, r.exit_code):13} {r.case} [{r.mode}] "
                     f"({r.seconds:.1f} s): {detail}")
        lines.extend(f"{'':13} warning: {w}" for w in getattr(r, "warnings", []))
        if r.comparison is not None:
            lines.extend(f"{'':13} warning: {w}" for w in skipped_notes(r.comparison))
    failing = [r for r in results if r.divergences]
    for r in failing:
        lines.append("")
        lines.append(f"{r.case} [{r.mode}]:")
        lines.append(render_divergences(r.divergences).rstrip("\n"))
    passed = sum(1 for r in results if r.exit_code == 0)
    lines.append("")
    lines.append(f"gate: {passed} of {len(results)} case runs at parity")
    return "\n".join(lines) + "\n"


def render_gate_junit(results) -> str:
    from xml.sax.saxutils import escape, quoteattr

    cases = []
    failures = 0
    for r in results:
        name = f"{r.case} [{r.mode}]"
        body = ""
        if r.exit_code != 0:
            failures += 1
            first = r.divergences[0] if r.divergences else None
            message = r.message or (f"first divergence: {first.where()}" if first else
                                    "diverged")
            # the body holds what the terminal shows: every root, its values and diagnoses
            details = "\n".join(filter(None, [
                summary_line(r.comparison) if r.comparison is not None else "",
                render_divergences(r.divergences).rstrip("\n") if r.divergences else ""]))
            body = (f"<failure message={quoteattr(message)}>"
                    f"{escape(details or message)}</failure>")
        cases.append(f'  <testcase classname="nbparity.gate" name={quoteattr(name)} '
                     f'time="{r.seconds:.3f}">{body}</testcase>')
    head = (f'<testsuite name="nbparity-gate" tests="{len(cases)}" failures="{failures}" '
            'errors="0">')
    return "\n".join(['<?xml version="1.0" encoding="utf-8"?>', head, *cases,
                      "</testsuite>"]) + "\n"

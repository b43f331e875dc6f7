"""First divergence, causally: the independent roots of each pixel's failures, in pipeline order.

The comparison's records are in pipeline order (stage, then phi_tic, mos_tic, then key order).
The schema's dependency graph (``schema.INPUTS``) says what each key is computed from. Per pixel,
a failing record is

- **propagated** when one of its ancestors fails too (at the same step for step keys; at any
  step for final keys; setup and pixel keys feed everything after them) and that ancestor is a
  root or itself propagated: the report counts it under those roots;
- **at the precision level** (not a root) when no real failure explains it and its error is
  within what the logs' printed or computed precision explains (a float32 side: see
  ``signatures.precision_level``): such failures are labelled and summarised, never called roots;
- otherwise an **independent root**. Every root is reported, in pipeline order, with the last
  agreeing record before it and the diagnoses of ``nbparity.signatures``.

Keys outside the catalogue have no inputs in the graph: they are explained by any earlier real
failure of the pixel (the conservative reading), else they are roots.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from nbparity import schema
from nbparity.compare import Comparison
from nbparity.signatures import Finding, PixelEvidence, diagnose, precision_level
from nbparity.tolerance import FAILING

ROLE_ROOT, ROLE_PROPAGATED, ROLE_PRECISION = "root", "propagated", "precision"


@dataclass
class PrecisionNote:
    """Failures of one pixel that the logs' precision explains: how many, the worst, and why."""

    count: int
    worst: pd.Series
    reason: str


@dataclass
class Divergence:
    """One independent root failure of a pixel.

    ``propagated`` counts the pixel's failing records that descend from this root (a record
    descending from two roots counts under both). ``rank`` is the root's position among the
    pixel's roots (1 = the first in pipeline order), ``roots_in_pixel`` how many there are.
    """

    pixel: tuple[int, int]
    record: pd.Series
    last_agreeing: pd.Series | None
    propagated: int
    findings: list[Finding] = field(default_factory=list)
    rank: int = 1
    roots_in_pixel: int = 1
    precision: PrecisionNote | None = None  # the pixel's precision-level failures (first root)
    co_roots: list[str] = field(default_factory=list)  # sibling keys failing with it
    also_at: list[tuple[int, int]] = field(default_factory=list)  # (phi_tic, mos_tic) steps
    # where the same key fails for the same diagnosed reason (one cause, reported once)


    @property
    def diagnosis(self) -> list[str]:
        """The findings as sentences, each with its confidence."""
        return [str(f) for f in self.findings]

    def where(self) -> str:
        r = self.record
        step = "" if r.phi_tic < 0 else f" phi_tic={r.phi_tic} mos_tic={r.mos_tic}"
        return f"pixel ({self.pixel[0]}, {self.pixel[1]}){step} {r.stage}/{r.key}"


@dataclass
class PixelOutcome:
    """Every failing record of one pixel, classified: role and the roots it descends from."""

    rows: pd.DataFrame
    roles: dict[int, str]
    roots_of: dict[int, set[int]]
    precision_reason: dict[int, str]
    evidence: PixelEvidence  # what the pixel's records show, for the diagnoses


def first_divergences(comparison: Comparison) -> list[Divergence]:
    """The independent roots of every failing pixel, in pixel order then pipeline order.

    A pixel whose failures are all at the precision level yields one Divergence for its first
    such failure, with no root (``record`` is that failure, ``findings`` say why) so that the
    reader still sees where the tolerance was exceeded.
    """
    out: list[Divergence] = []
    records = comparison.records
    failing_pixels = records.loc[records.status.isin(FAILING), ["slow", "fast"]]
    if failing_pixels.empty:
        return out
    for (slow, fast), rows in records.groupby(["slow", "fast"], sort=True):
        if not rows.status.isin(FAILING).any():
            continue
        outcome = classify(rows, comparison)
        out.extend(_divergences((int(slow), int(fast)), outcome, comparison))
    return out


def classify(rows: pd.DataFrame, comparison: Comparison) -> PixelOutcome:
    """Roles of one pixel's failing records (rows in pipeline order)."""
    failing = rows[rows.status.isin(FAILING)]
    evidence = PixelEvidence(rows, comparison)
    roles: dict[int, str] = {}
    roots_of: dict[int, set[int]] = {}
    reasons: dict[int, str] = {}
    # the roots that real failures of each key so far descend from: from records outside the
    # φ loop (they feed everything after them), per step, and over all of them
    outside: dict[str, set[int]] = {}
    per_step: dict[str, dict[tuple, set[int]]] = {}
    every: dict[str, set[int]] = {}
    earlier_roots: set[int] = set()
    for idx, rec in zip(failing.index, failing.itertuples(index=False)):
        explained: set[int] = set()
        if schema.is_known(rec.key):
            step = _step(rec)
            for parent in schema.ancestors(rec.key):
                if rec.stage == "phi":  # a step feeds the same step of its children
                    explained |= outside.get(parent, set())
                    explained |= per_step.get(parent, {}).get(step, set())
                else:  # ... and every final record
                    explained |= every.get(parent, set())
        else:
            explained = set(earlier_roots)
        if explained:
            role = ROLE_PROPAGATED
        else:
            reason = precision_level(rows.loc[idx], evidence)
            if reason:
                roles[idx], reasons[idx] = ROLE_PRECISION, reason
                continue
            role, explained = ROLE_ROOT, {idx}
            earlier_roots.add(idx)
        roles[idx], roots_of[idx] = role, explained
        if rec.stage == "phi":
            per_step.setdefault(rec.key, {}).setdefault(_step(rec), set()).update(explained)
        else:
            outside.setdefault(rec.key, set()).update(explained)
        every.setdefault(rec.key, set()).update(explained)
    return PixelOutcome(rows, roles, roots_of, reasons, evidence)


def _step(rec) -> tuple:
    """A record's loop indices (a Series or a row tuple; ``Series.sub`` is a method, so by
    name)."""
    if isinstance(rec, pd.Series):
        return tuple(int(rec[name]) for name in ("phi_tic", "mos_tic", "sub", "src", "thick"))
    return (rec.phi_tic, rec.mos_tic, rec.sub, rec.src, rec.thick)


def _divergences(pixel: tuple[int, int], outcome: PixelOutcome, comparison: Comparison
                 ) -> list[Divergence]:
    rows, roles = outcome.rows, outcome.roles
    roots = [i for i, role in roles.items() if role == ROLE_ROOT]
    precision = [i for i, role in roles.items() if role == ROLE_PRECISION]
    note = None
    if precision:
        worst = max(precision, key=lambda i: _rel(rows.loc[i]))
        note = PrecisionNote(len(precision), rows.loc[worst], outcome.precision_reason[worst])
    groups = _sibling_groups(rows, roots)
    # the same key failing at several steps for the same diagnosed reason (or for none known:
    # the same computation, from inputs that agree) is one cause — the carry-over fails rot_a
    # at φ step 0 of every mosaic domain — reported once, with its other steps
    causes: dict[tuple, dict] = {}
    for idx, siblings in groups.items():
        record = rows.loc[idx]
        findings = diagnose(record, outcome.evidence, outcome)
        signature = (record.key, record.stage, frozenset(f.signature for f in findings))
        cause = causes.setdefault(signature, {"leader": idx, "members": set(), "also": [],
                                              "findings": findings,
                                              "co_roots": [rows.loc[i].key for i in siblings]})
        cause["members"] |= {idx, *siblings}
        if cause["leader"] != idx:
            cause["also"].append(_step(record)[:2])
    out = []
    for rank, cause in enumerate(causes.values(), start=1):
        idx, members = cause["leader"], cause["members"]
        descendants = sum(1 for i, r in outcome.roots_of.items()
                          if i not in members and r & members)
        out.append(Divergence(pixel, rows.loc[idx], _last_agreeing(rows, idx), descendants,
                              cause["findings"], rank, len(causes),
                              note if rank == 1 else None, cause["co_roots"],
                              [(int(p), int(m)) for p, m in cause["also"]]))
    if not roots and precision:
        first = precision[0]
        record = rows.loc[first]
        findings = diagnose(record, outcome.evidence, outcome)
        out.append(Divergence(pixel, record, _last_agreeing(rows, first),
                              len(precision) - 1, findings, 0, 0, note))
    return out


def _sibling_groups(rows: pd.DataFrame, roots: list[int]) -> dict[int, list[int]]:
    """Roots that fail together at one step and share an input (rot_a, rot_b and rot_c at a
    φ step; the three F_latt factors) are one cause reported once: the first in pipeline order
    leads, the others are its co-roots."""
    groups: dict[int, list[int]] = {}
    leaders_at: dict[tuple, list[tuple[int, set[str]]]] = {}  # (stage, step) → leaders
    for idx in roots:
        rec = rows.loc[idx]
        place = (rec.stage, _step(rec) if rec.stage == "phi" else None)
        inputs = set(schema.INPUTS.get(rec.key, ()))
        for leader, leader_inputs in leaders_at.get(place, ()):
            if inputs & leader_inputs:
                groups[leader].append(idx)
                break
        else:
            groups[idx] = []
            leaders_at.setdefault(place, []).append((idx, inputs))
    return groups


def _rel(record: pd.Series) -> float:
    rel = record.rel_err
    return float(rel) if rel == rel else float("inf")


def _last_agreeing(rows: pd.DataFrame, idx) -> pd.Series | None:
    before = rows.loc[:idx].iloc[:-1]
    agreeing = before[before.status == "pass"]
    return agreeing.iloc[-1] if not agreeing.empty else None

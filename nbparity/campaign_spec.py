"""What a campaign is: ``CampaignSpec`` (what to run and where) and its identity, which a
campaign folder records in ``campaign.json`` (``campaign_store``)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from nbparity.engines import Engine
from nbparity.tolerance import Tolerance

FORMAT_VERSION = 1
LEVELS = ("auto", "trace", "image")


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

"""A campaign's folder and results file: ``campaign.json`` (what makes two runs the same
campaign; the folder locked while a run holds it) and ``results/`` (one Parquet part file per
flush, read back one row per index, compacted at the end). The layout, file format and
resumption rule are in ``docs/design/campaigns.md``."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import time
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from nbparity.atomic import atomic_write

if TYPE_CHECKING:
    from nbparity.campaign_spec import CampaignSpec

CAMPAIGN_FILE = "campaign.json"
RESULTS_DIR = "results"

#: the columns of a results row, in file order (the Parquet schema is ``results_schema()``)
COLUMNS = ("index", "case", "mode", "dtype", "args", "pixels", "exit_code", "level", "signature",
           "message", "key", "diagnosis", "worst_rel", "seconds", "worker", "finished_unix")


class CampaignError(ValueError):
    """A campaign that cannot run as asked (another campaign in the folder, a folder in use,
    an unreadable part file): one line, exit 2."""


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

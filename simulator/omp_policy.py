"""libgomp's wait policy for torch's CPU threads, chosen before torch loads its OpenMP runtime.

Between two parallel tensor ops, libgomp's default keeps the worker threads spinning for a
while (~300 000 iterations) before they sleep; ``OMP_WAIT_POLICY=PASSIVE`` puts them to sleep
at once. Which is faster depends on whether anything else runs on the cores (measured on the
2-core development machine, whole ``nbsim`` runs, benchmarks/README.md):

- idle machine: spinning wins, because PASSIVE pays a wake-up of ~65 us for every parallel op
  (a 200 000-element multiply: 93 us PASSIVE, 16 us spinning, 28 us on one thread): dmin
  9.06 -> 5.95 s, hkl 7.01 -> 5.75 s, sweep 4.05 -> 3.57 s;
- one other busy process: spinning threads wait for descheduled ones and PASSIVE wins by far
  (dmin 7.71 s PASSIVE, 16.68 s spinning; sweep 4.46 vs 8.48 s).

So the policy follows the machine at start: spinning (libgomp's default) when no other process
is runnable, PASSIVE otherwise. A policy the user set (``OMP_WAIT_POLICY``) always wins. The
variable is set only while torch loads libgomp, then removed again (child processes do not
inherit it).
"""

from __future__ import annotations

import os
import time
from contextlib import contextmanager


def runnable_threads() -> int | None:
    """Threads runnable on the machine right now, this one included (/proc/loadavg's 4th
    field); None where there is no /proc."""
    try:
        with open("/proc/loadavg") as fh:
            return int(fh.read().split()[3].split("/")[0])
    except (OSError, ValueError, IndexError):
        return None


def choose_wait_policy(samples: int = 5, interval_s: float = 0.002, sample=runnable_threads
                       ) -> str | None:
    """"PASSIVE" when other threads are runnable (the median of a few samples, ~10 ms) or the
    count cannot be read (the safe choice); None (libgomp's default) when this process has the
    machine to itself."""
    counts = []
    for i in range(samples):
        counts.append(sample())
        if i + 1 < samples:
            time.sleep(interval_s)
    if any(c is None for c in counts):
        return "PASSIVE"
    others = sorted(counts)[len(counts) // 2] - 1
    return "PASSIVE" if others > 0 else None


#: the policy chosen for libgomp's start by the last ``wait_policy_for_start`` (None:
#: libgomp's spinning default; the user's OMP_WAIT_POLICY when they set one)
chosen: str | None = None


@contextmanager
def wait_policy_for_start(environ=os.environ, choose=None):
    """OMP_WAIT_POLICY set for the block that loads libgomp (``import torch``) unless the user
    set it, then the environment as it was: libgomp reads the variable once, as it loads, and
    child processes (the C reference's OpenMP build that nbparity runs after an in-process
    torch run) must not inherit a policy chosen for this process. ``choose`` () -> policy or
    None; by default this module's ``choose_wait_policy``, looked up when called (so that a
    test can replace it). Yields the policy the block runs with (module attribute ``chosen``).
    """
    global chosen
    if "OMP_WAIT_POLICY" in environ:
        chosen = environ["OMP_WAIT_POLICY"]
        yield chosen
        return
    chosen = (choose_wait_policy if choose is None else choose)()
    if chosen is None:
        yield None
        return
    environ["OMP_WAIT_POLICY"] = chosen
    try:
        yield chosen
    finally:
        environ.pop("OMP_WAIT_POLICY", None)

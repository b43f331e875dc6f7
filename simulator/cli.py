"""Command line of the torch simulator (``nbsim``)."""
from __future__ import annotations

import sys

USAGE = """usage: nbsim [nanoBragg options]

Torch implementation of nanoBragg. Options follow nanoBragg's names.
Extra options: -trace_pixel S F, -phi_carryover_mode spec|c-parity,
-device cpu|cuda, -dtype float64|float32, -memory_budget_gb G.
"""

KNOWN: set[str] = set()


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a in ("-h", "--help", "-help") for a in argv):
        sys.stdout.write(USAGE)
        return 0
    for a in argv:
        if a.startswith("-") and a not in KNOWN:
            sys.stderr.write(f"nbsim: unknown option {a}\n")
            return 2
    return 0

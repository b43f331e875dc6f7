"""Upstream nanoBragg's option-parsing side effects a command line triggers, as warnings."""

from __future__ import annotations

import re

# --------------------------------------------------------------------------- command lines


def command_line_warnings(args: list[str] | tuple[str, ...]) -> list[str]:
    """Upstream nanoBragg's option-parsing side effects a command line triggers (every option
    is a substring test there, so one token can set two things). Warnings, one sentence each."""
    args = [str(a) for a in args]
    out = []
    if "-twotheta_axis" in args and "-twotheta" not in args:
        at = args.index("-twotheta_axis")
        first = args[at + 1] if at + 1 < len(args) else "?"
        out.append(f"upstream nanoBragg reads '-twotheta_axis {first} ...' also as "
                   f"'-twotheta {first}' (and pivot sample): a stock build rotates the detector "
                   f"by {first} degrees; add an explicit -twotheta to both sides.")
    if "-misset_seed" in args:
        at = args.index("-misset_seed")
        following = args[at + 1:at + 4]
        if len(following) == 3:  # upstream's test: at least three tokens after the option
            angles = ", ".join(f"{_atof(t):g}" for t in following)
            cancelled = (" and cancels the earlier '-misset random'"
                         if "random" in args[:at] else "")
            out.append(f"upstream nanoBragg reads '-misset_seed' also as '-misset': a stock "
                       f"build sets misset = ({angles}) degrees from the next three tokens"
                       f"{cancelled}; give -misset_seed last, or -misset explicitly after it.")
    return out


_ATOF_PREFIX = re.compile(r"^\s*[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def _atof(token: str) -> float:
    """C's atof: the longest numeric prefix, 0 when there is none."""
    match = _ATOF_PREFIX.match(token)
    return float(match.group(0)) if match else 0.0

# ruff: noqa: UP031  (printf-style formatting mirrors nanoBragg's C output on purpose)
"""Structure-factor set-up: which input gives F (-hkl, a -dump file, -default_F), the
interpolation choice, and the table.

Mirrors c_reference/src/sfac.c (``nb_load_structure_factors``; the interpolation choice is at
the end of ``nb_setup_detector`` there, before the crystal's size changes N).
"""

from __future__ import annotations

import os
import sys

from simulator.config import StructureFactors
from simulator.hkl_file import read_hkl
from simulator.io import InputError, read_columns, read_dump
from simulator.options import UsageError


def dump_to_read(s, path_of):
    """The -dump file to read F from, or None; checks that the run has F and a crystal.

    Reads: hklfile, dumpfile, dump_given, default_F, matfile, cell. The dump file is explicit:
    read only when -dump names it and there is no -hkl. InputError when it is missing and no
    -default_F stands in; UsageError when there is no F at all or no crystal (-cell, -mat).
    """
    hklfile, default_F = s["hklfile"], s["default_F"]
    dump_path = path_of(s["dumpfile"])
    dump_exists = hklfile is None and s["dump_given"] and os.path.isfile(dump_path)
    if hklfile is None and s["dump_given"] and not dump_exists and default_F == 0.0:
        raise InputError(f"cannot read {s['dumpfile']}: no such file")
    if (hklfile is None and not dump_exists and default_F == 0.0) or (
        s["matfile"] is None and s["cell"][0] == 0.0
    ):
        raise UsageError(
            "need structure factors (-hkl, a -dump file or -default_F) "
            "and a crystal (-cell or -mat)"
        )
    return dump_path if dump_exists else None


def _interpolation(s, log):
    """-interpolate / -nointerpolate, or automatic: tricubic when the crystal is at most 2
    cells along an axis (of -N, before -xtalsize changes it). Logs the automatic choice
    (stage "interp")."""
    interpolate = s["interpolate"]
    if interpolate > 1:
        interpolate = 1 if (s["Na"] <= 2 or s["Nb"] <= 2 or s["Nc"] <= 2) else 0
        log.append(
            (
                "interp",
                "auto-selected tricubic interpolation of structure factors"
                if interpolate
                else "auto-selected no interpolation",
            )
        )
    return interpolate


def structure_factors(s, dump_path, path_of, log) -> StructureFactors:
    """The structure factors: the -hkl table (default_F where not listed), the -dump table
    (``dump_path`` from ``dump_to_read``), or none (default_F everywhere).

    Reads: hklfile, default_F, dumpfile, dump_given (-dump with -hkl writes the table),
    stolfile (read and checked, never used, as in nanoBragg), interpolate, Na, Nb, Nc.
    Produces: StructureFactors (dense float64 table indexed from hkl_min, the count of listed
    reflections, interpolation off when there are none). Logs the reads (stage "hkl"); a
    reflection listed twice is a warning on stderr. InputError for a bad file.
    """
    interpolate = _interpolation(s, log)
    hklfile, default_F = s["hklfile"], s["default_F"]
    sf_table, mins, maxs, hkls, dump_file = None, (0, 0, 0), (0, 0, 0), 0, None
    if hklfile is None:
        if dump_path is not None:
            log.append(("hkl", "reading Fs from %s" % s["dumpfile"]))
            sf_table, mins, maxs, hkls = read_dump(dump_path)
    else:
        sf_table, mins, maxs, hkls, duplicates = read_hkl(path_of(hklfile), fill=default_F)
        if duplicates is not None:
            _warn_duplicates(hklfile, *duplicates)
        log.append(("hkl", "counting entries in %s" % hklfile))
        if default_F != 0.0:
            log.append(("hkl", "initializing to default_F = %g:" % default_F))
            log.append(("hkl", "done initializing:"))
        log.append(("hkl", "re-reading %s" % hklfile))
        if s["dump_given"]:  # written with the run's outputs (simulator.output.write_outputs)
            dump_file = s["dumpfile"]
            log.append(("hkl", "writing dump file for next time: %s" % s["dumpfile"]))
    if hkls == 0:
        interpolate = 0
    if s["stolfile"] is not None:
        log.append(("hkl", "reading %s" % s["stolfile"]))
        read_columns(path_of(s["stolfile"]), 2)  # read and checked, never used (as in nanoBragg)
    return StructureFactors(
        table=sf_table,
        hkl_min=tuple(mins),
        hkl_max=tuple(maxs),
        hkls=hkls,
        default_F=default_F,
        interpolate=bool(interpolate),
        dump_file=dump_file,
    )


def _warn_duplicates(name, count, first):
    """A reflection listed twice: nanoBragg keeps the value read last, silently; both engines
    do the same and say so on stderr (the C reference's nb_warn, same words)."""
    h, k, l = first
    sys.stderr.write(
        f"nbsim: warning: {name}: {count} {'lines repeat' if count > 1 else 'line repeats'} a "
        f"reflection listed earlier (the first: {h} {k} {l}); the value read last is used, as in "
        "nanoBragg\n"
    )

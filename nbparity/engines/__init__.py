"""The engines nbparity runs, as plug-ins: the only place nbparity reaches the simulator.

An engine is named on the command line (``--reference ENGINE`` / ``--candidate ENGINE``):

- ``c-ref``: the project's C reference (or the build ``--c-bin`` / ``$NB_C_BIN`` names), run as
  a subprocess with ``-trace_pixel``; a binary that does not know ``-trace_pixel`` is a stock
  nanoBragg and is run as one (below);
- ``nbsim``: the torch simulator, in process (``simulator.cli.run_argv``), so a gate over many
  cases pays torch's start-up once;
- ``nanobragg:PATH`` (or ``nanobragg`` with ``--c-bin``): a stock nanoBragg build, run once per
  pixel with ``-printout_pixel F S`` in a scratch folder (its images are discarded) and read by
  the printout reader;
- a path to an engine profile (``*.toml``, ``nbparity.profiles``): a port's own command;
- a path to an executable: ``c-ref`` if it knows ``-trace_pixel``, else a stock nanoBragg.

Every engine returns an ``EngineRun``; failures raise ``EngineError`` (exit code 4) with a
one-line message carrying the stderr tail, and an engine whose output holds no trace record is
a failure with the reason and a hint, never an empty success.

Modules: ``runs`` (running the built-in engines), ``engine`` (``Engine`` and the checks of its
output), ``resolve`` (an ENGINE argument → ``Engine``).
"""
from __future__ import annotations

from nbparity.engines.engine import NO_RECORD_HINT, Engine
from nbparity.engines.resolve import BUILTINS, EngineOptions, is_stock_nanobragg, resolve_engine
from nbparity.engines.runs import (
    DEFAULT_C_BIN,
    DEFAULT_TIMEOUT_S,
    GATE_MODES,
    INPUT_FILE_OPTIONS,
    MODES,
    OUTPUT_FILE_OPTIONS,
    EngineError,
    EngineRun,
    c_binary_available,
    find_c_binary,
    mode_args,
    resolve_inputs,
    run_c,
    run_nbsim_in_process,
    run_py,
    sha256_of,
    strip_output_options,
    trace_args,
)

__all__ = [
    "BUILTINS", "DEFAULT_C_BIN", "DEFAULT_TIMEOUT_S", "GATE_MODES", "INPUT_FILE_OPTIONS", "MODES",
    "NO_RECORD_HINT", "OUTPUT_FILE_OPTIONS", "Engine", "EngineError", "EngineOptions",
    "EngineRun", "c_binary_available", "find_c_binary", "is_stock_nanobragg", "mode_args",
    "resolve_engine", "resolve_inputs", "run_c", "run_nbsim_in_process", "run_py", "sha256_of",
    "strip_output_options", "trace_args",
]

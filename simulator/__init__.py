"""Vectorised, differentiable PyTorch implementation of nanoBragg (the torch engine of nbparity).

Python API
----------
``config = simulator.parse_argv(argv, cwd=None)``
    nanoBragg command-line tokens (without the program name) -> a frozen
    :class:`simulator.config.SimulationConfig`. Input files named in ``argv`` (``-hkl``, ``-mat``,
    ``-sourcefile``, ``-mask``, ``-img``, ``-dump``) resolve relative to ``cwd``. Bad input raises
    :class:`UsageError` or :class:`InputError` (one-line messages naming the option or file:line).

``result = simulator.simulate(config, params=None)``
    Runs the engine and returns a :class:`SimulationResult`:

    - ``result.image``: (slow, fast) tensor on the config's device and dtype (photons per pixel);
    - ``result.trace_lines``: the ``TRACE_PY`` / ``TRACE_PY_PHI`` lines of the pixels requested
      with ``-trace_pixel S F`` (empty list otherwise);
    - ``result.taps``: ``{(slow, fast): {key: tensor}}``, the production tensors those lines print;
    - ``result.setup``, ``result.printouts``, ``result.omega_sum``: numbers for the output stage.

    ``params`` optionally maps names in :data:`PARAM_NAMES` to tensors (command-line units):
    ``cell`` (6: a b c in Angstrom, alpha beta gamma in degrees), ``misset_deg`` (3),
    ``distance_mm``, ``beam_center_mm`` (2: F, S as the detector pivot uses them),
    ``N`` (3), ``mosaic_spread_deg``, ``lambda_A``. Gradients flow from ``result.image`` to them.

``result = simulator.run_argv(argv, cwd=None, stdout=None)``
    Everything ``nbsim`` does: parse, simulate, print nanoBragg's lines and write the files.
    An output that cannot be written raises :class:`OutputError` (an :class:`InputError`;
    ``nbsim`` exits 3 on it, 2 on other bad input).

Command line: ``nbsim`` / ``python -m simulator`` (see ``simulator/README.md``).
The package never imports ``nbparity``.
"""

from simulator.omp_policy import wait_policy_for_start as _wait_policy_for_start

# torch loads its OpenMP runtime here (libgomp reads OMP_WAIT_POLICY once, when it loads):
# spinning worker threads on an idle machine, sleeping ones when other work shares the cores
# (see simulator/omp_policy.py for the measurements). A value the user set wins; a chosen one
# is set only for this import (child processes do not inherit it).
with _wait_policy_for_start():
    import torch as _torch  # noqa: F401

from simulator.cli import UsageError, main, parse_argv, run_argv  # noqa: E402
from simulator.config import SimulationConfig  # noqa: E402
from simulator.engine import PARAM_NAMES, SimulationResult, chunk_pixels, simulate  # noqa: E402
from simulator.io import InputError, OutputError  # noqa: E402

__all__ = [
    "PARAM_NAMES",
    "InputError",
    "OutputError",
    "SimulationConfig",
    "SimulationResult",
    "UsageError",
    "chunk_pixels",
    "main",
    "parse_argv",
    "run_argv",
    "simulate",
]

"""An ENGINE argument (``c-ref``, ``nbsim``, ``nanobragg:PATH``, a profile, an executable)
resolved to an ``Engine`` under the command line's settings (``EngineOptions``)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from nbparity.engines.engine import Engine
from nbparity.engines.runs import DEFAULT_TIMEOUT_S, find_c_binary
from nbparity.profiles import ProfileError, load_profile


def is_stock_nanobragg(binary: Path) -> bool:
    """A build that does not know -trace_pixel (the project's C reference does; upstream's
    nanoBragg.c has no such option): the option's name is absent from the executable."""
    try:
        with open(binary, "rb") as handle:
            data = handle.read(64 << 20)
    except OSError:
        return False
    return b"-trace_pixel" not in data


@dataclass
class EngineOptions:
    """The command line's engine settings that built-in engines take."""

    c_bin: str | None = None
    c_mode: str | None = None
    mode: str = "spec"  # the simulator's
    omp_threads: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    timeout_s: float = DEFAULT_TIMEOUT_S


BUILTINS = ("c-ref", "nbsim", "nanobragg")


def resolve_engine(spec: str, options: EngineOptions, option_name: str) -> Engine:
    """An ENGINE argument → Engine. Raises ValueError (a usage error naming the option) for
    a name nbparity does not know and EngineError (exit 4) for a missing binary."""
    kind, _, path = spec.partition(":")
    if kind == "c-ref":
        binary = find_c_binary(path or options.c_bin)
        if is_stock_nanobragg(binary):
            return _stock(binary, options, option_name)
        return Engine("c-ref", "c-ref" if not (path or options.c_bin) else binary.name,
                      binary, options.c_mode, options.omp_threads,
                      timeout_s=options.timeout_s)
    if kind == "nbsim" and not path:
        return Engine("nbsim", "nbsim", mode=options.mode, omp_threads=options.omp_threads,
                      device=options.device, dtype=options.dtype)
    if kind == "nanobragg":
        return _stock(find_c_binary(path or options.c_bin), options, option_name)
    candidate = Path(spec)
    if candidate.suffix == ".toml":
        try:
            profile = load_profile(candidate)
            if profile.keymap is not None:  # a bad key map is found before anything runs
                from nbparity.keymap import load_keymap

                load_keymap(profile.keymap)
        except (ProfileError, ValueError) as exc:
            raise ValueError(f"{option_name}: {exc}") from None
        return Engine("profile", profile.name, profile=profile)
    if candidate.is_file() and os.access(candidate, os.X_OK):
        return resolve_engine(f"c-ref:{candidate}", options, option_name)
    raise ValueError(f"{option_name}: unknown engine {spec!r} (c-ref, nbsim, nanobragg:PATH, "
                     f"an engine profile .toml, or an executable)")


def _stock(binary: Path, options: EngineOptions, option_name: str) -> Engine:
    if options.c_mode not in (None, "c-parity"):
        raise ValueError(f"{option_name}: a stock nanoBragg ({binary}) has only its own φ=0 "
                         f"behaviour (c-parity in a serial build): --c-mode {options.c_mode} "
                         f"cannot apply")
    return Engine("nanobragg", binary.name, binary, timeout_s=options.timeout_s)

"""``Engine``: one engine as a plug-in (a built-in, a stock nanoBragg, a port's profile): it
traces pixels and renders images, and its output is checked to hold what was asked for (a trace
record per pixel, an image of the case's size)."""

from __future__ import annotations

import contextlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from nbparity.engines.runs import (
    DEFAULT_TIMEOUT_S,
    EngineError,
    EngineRun,
    _subprocess,
    _tail,
    find_c_binary,
    mode_args,
    run_c,
    run_nbsim_in_process,
    run_py,
    sha256_of,
    strip_output_options,
)
from nbparity.profiles import Profile, expand, expand_image, trace_destination

# --------------------------------------------------------------------------- plug-ins

#: what a run's output must hold to count as a trace: a TRACE line or a printout block
_TRACE_LINE = re.compile(r"^TRACE", re.M)
NO_RECORD_HINT = ("a stock nanoBragg prints only -printout_pixel blocks: name it "
                  "--reference nanobragg:PATH; a port needs an engine profile that says how to "
                  "ask it for a pixel and where its trace goes (README, 'Compare your own port')")


@dataclass
class Engine:
    """One engine as a plug-in. ``kind``: c-ref, nbsim, nanobragg or profile.

    ``mode`` is the φ=0 carry-over mode for the built-ins (None: the engine's own default);
    ``precision`` the arithmetic its log comes from (float32 raises the comparison's rtol
    floor); ``keymap`` a key map file for its log; ``tolerance`` per-key overrides for it.
    """

    kind: str
    name: str
    binary: Path | None = None
    mode: str | None = None
    omp_threads: int | None = None
    device: str = "cpu"
    dtype: str = "float64"
    timeout_s: float = DEFAULT_TIMEOUT_S
    profile: Profile | None = None

    @property
    def mode_aware(self) -> bool:
        """Whether the carry-over pairings of a gate change this engine."""
        return self.kind in ("c-ref", "nbsim")

    @property
    def precision(self) -> str:
        if self.profile is not None:
            return self.profile.precision
        return self.dtype if self.kind == "nbsim" else "float64"

    @property
    def can_trace(self) -> bool:
        """Whether it can trace a pixel (an image-only profile cannot)."""
        return self.profile.can_trace if self.profile is not None else True

    @property
    def keymap(self) -> Path | None:
        return self.profile.keymap if self.profile is not None else None

    @property
    def tolerance(self) -> dict[str, tuple[float, float]]:
        return dict(self.profile.tolerance) if self.profile is not None else {}

    def label(self) -> str:
        """The engine as reports name it: kind, mode and arithmetic where they apply."""
        details = []
        if self.kind == "c-ref":
            details.append(self.mode or "c-parity (default)")
        elif self.kind == "nbsim":
            details += [self.mode or "spec", self.dtype, self.device]
        elif self.kind == "nanobragg":
            details.append("stock, -printout_pixel")
        else:
            details.append(f"profile {self.profile.path.name}, {self.precision}")
        if self.mode == "c-parity-omp":
            details.append(f"{self.omp_threads or 1} threads")
        return f"{self.name} [{', '.join(details)}]"

    def with_mode(self, mode: str, role: str) -> Engine:
        """The engine in a gate pairing: ``c-parity`` keeps the C engine's own default and puts
        the simulator in c-parity; ``spec`` puts both in spec. Other engines are unchanged."""
        if self.kind == "c-ref":
            return replace(self, mode=None if mode == "c-parity" else mode)
        if self.kind == "nbsim":
            return replace(self, mode=mode)
        return self

    def run(self, args: list[str], pixels: list[tuple[int, int]], workdir: Path,
            case_dir: Path | None = None) -> EngineRun:
        if self.kind == "c-ref":
            run = run_c(args, pixels, workdir, str(self.binary) if self.binary else None,
                        self.mode, self.timeout_s, self.omp_threads)
        elif self.kind == "nbsim":
            run = run_py(args, pixels, workdir, self.mode or "spec", self.device, self.dtype,
                         self.omp_threads)
        elif self.kind == "nanobragg":
            run = self._run_stock(args, pixels)
        else:
            if not self.can_trace:
                raise EngineError(f"{self.name}: its profile {self.profile.path} asks for no "
                                  f"pixels (an image-only engine): it cannot trace; compare "
                                  f"its images (nbparity explain) or give its command "
                                  f"{{pixels}}")
            run = self._run_profile(args, pixels, workdir, case_dir)
        run.details["engine"] = self.label()
        _require_records(self, run, pixels)
        return run

    # ---- images: one untraced run that writes the float image

    def render_image(self, args: list[str], workdir: Path, case_dir: Path | None = None):
        """Run the engine as configured (mode, dtype, device) on a nanoBragg command line,
        untraced, and return the float image it writes (``-floatfile``: little-endian float32)
        as a (slow, fast) numpy array, shape from ``cases.detector_shape(args)``.

        Inputs resolve from ``case_dir``; the output options of ``args`` are dropped (and a
        ``-dump`` written with ``-hkl`` goes into ``workdir``), so nothing is written outside
        ``workdir`` (a profile writes where its ``workdir`` and ``image`` say). EngineError
        (exit 4) with the stderr tail on failure; a profile without ``image`` cannot."""
        from nbparity.cases import CaseFileError, detector_shape

        args = [str(a) for a in args]
        try:
            shape = detector_shape(args)
        except CaseFileError as exc:
            raise EngineError(f"{self.name}: {exc}") from None
        workdir = Path(workdir).absolute()
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise EngineError(f"{self.name}: cannot make its folder {workdir}: "
                              f"{exc.strerror or exc}") from None
        image = workdir / f"image-{self.kind}-{os.getpid()}-{next(_IMAGE_COUNTER)}.bin"
        try:
            if self.kind == "profile":
                return self._render_profile(args, workdir, case_dir, shape)
            run_args = image_run_args(args, workdir, case_dir)
            if self.kind == "nbsim":
                self._render_py(run_args + ["-floatfile", str(image)], workdir)
            else:
                self._render_c(run_args + ["-floatfile", str(image)], workdir)
            return _read_image(self, image, shape, "")
        finally:
            with contextlib.suppress(OSError):
                image.unlink()

    def _render_c(self, argv: list[str], workdir: Path) -> None:
        if self.kind == "nanobragg":  # upstream also writes a noise image unless told not to
            binary, extra, label = self.binary or find_c_binary(None), ["-nonoise"], self.name
        else:
            binary = find_c_binary(str(self.binary) if self.binary else None)
            extra, label = mode_args(self.mode, self.omp_threads), "C engine"
        proc = _subprocess([str(binary), *argv, *extra], workdir, self.timeout_s, label)
        if proc.returncode != 0:
            raise EngineError(f"{label} exited with status {proc.returncode}: "
                              f"{_tail(proc.stderr or proc.stdout)}")

    def _render_py(self, argv: list[str], workdir: Path) -> None:
        """The simulator's own run path (``run_argv``): the file it writes is its -floatfile."""
        run_nbsim_in_process([*argv, *mode_args(self.mode or "spec", self.omp_threads),
                              "-device", self.device, "-dtype", self.dtype], workdir)

    def _render_profile(self, args: list[str], workdir: Path, case_dir: Path | None,
                        shape: tuple[int, int]):
        profile = self.profile
        if profile.image is None:
            raise EngineError(f"{self.name}: image-level comparison needs 'image' (where its "
                              f"float image lands, e.g. image = \"{{workdir}}/image.bin\") and, "
                              f"unless it is -floatfile {{image}}, 'image_args' in "
                              f"{profile.path}")
        run_args = image_run_args(args, workdir, case_dir, keep_dump=False)
        with _workdir(profile, workdir, case_dir) as cwd:
            values = {"python": sys.executable, "profile_dir": profile.folder,
                      "case_dir": case_dir or cwd, "workdir": cwd}
            command, image = expand_image(profile, run_args, values)
            with contextlib.suppress(OSError):  # a stale image of an earlier run is no answer
                if image.is_file():
                    image.unlink()
            proc = _subprocess(command, cwd, profile.timeout_s, self.name,
                               {**os.environ, **profile.env})
            if proc.returncode != 0:
                raise EngineError(f"{self.name} exited with status {proc.returncode}: "
                                  f"{_tail(proc.stderr or proc.stdout)}")
            return _read_image(self, image, shape,
                               f"; check 'image' and 'image_args' in {profile.path}")

    # ---- a stock nanoBragg: one run per pixel, printout blocks

    def _run_stock(self, args: list[str], pixels: list[tuple[int, int]]) -> EngineRun:
        binary = self.binary or find_c_binary(None)
        texts, commands, seconds = [], [], 0.0
        for slow, fast in pixels:
            command = [str(binary), *strip_output_options(args), "-nonoise",
                       "-printout_pixel", str(fast), str(slow)]
            # its images (floatimage.bin, intimage.img, ...) land in a scratch folder
            with tempfile.TemporaryDirectory(prefix="nbparity-stock-") as scratch:
                start = time.perf_counter()
                proc = _subprocess(command, Path(scratch), self.timeout_s, self.name)
                seconds += time.perf_counter() - start
            if proc.returncode != 0:
                raise EngineError(f"{self.name} exited with status {proc.returncode} for pixel "
                                  f"({slow}, {fast}): {_tail(proc.stderr or proc.stdout)}")
            if not _has_block(proc.stdout, slow, fast):
                raise EngineError(f"{self.name} printed no -printout_pixel block for pixel "
                                  f"({slow}, {fast}) (its output ends: {_tail(proc.stdout)}); "
                                  f"is {binary} a nanoBragg build?")
            texts.append(proc.stdout)
            commands.append(command)
        return EngineRun("c", commands[0], "".join(texts), seconds,
                         {"binary": str(binary), "binary_sha256": sha256_of(binary),
                          "runs": len(commands), "all_commands": commands})

    # ---- a port's own command, from its profile

    def _run_profile(self, args: list[str], pixels: list[tuple[int, int]], workdir: Path,
                     case_dir: Path | None) -> EngineRun:
        profile = self.profile
        batches = [[p] for p in pixels] if profile.one_run_per_pixel else [pixels]
        texts, commands, seconds = [], [], 0.0
        for batch in batches:
            with _workdir(profile, workdir, case_dir) as cwd:
                values = {"python": sys.executable, "profile_dir": profile.folder,
                          "case_dir": case_dir or cwd, "workdir": cwd}
                if profile.one_run_per_pixel:  # {slow}/{fast} may name this run's trace file
                    values.update(slow=batch[0][0] + profile.pixel_base,
                                  fast=batch[0][1] + profile.pixel_base)
                command = expand(profile, list(args), batch, values)
                env = {**os.environ, **profile.env}
                start = time.perf_counter()
                proc = _subprocess(command, cwd, profile.timeout_s, self.name, env)
                seconds += time.perf_counter() - start
                if proc.returncode != 0:
                    raise EngineError(f"{self.name} exited with status {proc.returncode}: "
                                      f"{_tail(proc.stderr or proc.stdout)}")
                texts.append(_read_trace(self, profile, values, proc))
            commands.append(command)
        return EngineRun("py", commands[0], "".join(texts), seconds,
                         {"profile": str(profile.path), "runs": len(commands),
                          "all_commands": commands})


_IMAGE_COUNTER = itertools.count()


def image_run_args(args: list[str], workdir: Path, case_dir: Path | None,
                   keep_dump: bool = True) -> list[str]:
    """A command line for an image run: input files absolute (from ``case_dir``), the image
    outputs (-floatfile, -intfile, -noisefile, -pgmfile and their -...image spellings) dropped;
    a ``-dump`` that is written (with ``-hkl``) goes into ``workdir`` under its own name
    (``keep_dump`` False: dropped), one that is read (without ``-hkl``) is an input."""
    from nbparity.cases import INPUT_FILE_OPTIONS as CASE_INPUTS
    from nbparity.cases import OUTPUT_FILE_OPTIONS as CASE_OUTPUTS

    args = [str(a) for a in args]
    writes_dump = "-hkl" in args[:-1]
    out, i = [], 0
    while i < len(args):
        token = args[i]
        value = args[i + 1] if i + 1 < len(args) else None
        if value is None:
            out.append(token)
        elif token == "-dump" and writes_dump:
            if keep_dump:
                out += [token, str(Path(workdir) / (Path(value).name or "Fdump.bin"))]
            i += 2
            continue
        elif token in CASE_OUTPUTS and token != "-dump":
            i += 2
            continue
        elif token in (*CASE_INPUTS, "-dump") and case_dir is not None \
                and not os.path.isabs(value):
            out += [token, str((Path(case_dir) / value).resolve())]
            i += 2
            continue
        else:
            out.append(token)
        i += 1
    return out


def _read_image(engine: Engine, path: Path, shape: tuple[int, int], hint: str):
    """The float image an engine wrote, as (slow, fast) float32; EngineError if absent or of
    the wrong size."""
    import numpy as np

    try:
        data = np.fromfile(path, dtype="<f4")
    except OSError as exc:
        raise EngineError(f"{engine.name} wrote no image at {path} "
                          f"({exc.strerror or exc}){hint}") from None
    if data.size != shape[0] * shape[1]:
        raise EngineError(f"{engine.name}: its image {path} holds {data.size} floats, not the "
                          f"{shape[0]} x {shape[1]} (slow x fast) of its command line{hint}")
    return data.reshape(shape)


def _has_block(text: str, slow: int, fast: int) -> bool:
    # the printout reader's own header pattern (imported here: it loads pandas, which a
    # one-engine trace of the C reference does without)
    from nbparity.parse import printout_pixels

    return (slow, fast) in printout_pixels(text)


@contextlib.contextmanager
def _workdir(profile: Profile, bundle_dir: Path, case_dir: Path | None):
    """The folder a profile's command runs in: a fresh scratch folder (removed after), the
    case's input folder, or the profile's own folder."""
    if profile.workdir == "case" and case_dir is not None:
        yield case_dir
    elif profile.workdir == "profile":
        yield profile.folder
    else:
        scratch = Path(tempfile.mkdtemp(prefix="nbparity-port-"))
        try:
            yield scratch
        finally:
            shutil.rmtree(scratch, ignore_errors=True)


def _read_trace(engine: Engine, profile: Profile, values: dict,
                proc: subprocess.CompletedProcess) -> str:
    where = trace_destination(profile, values)
    if where == "stdout":
        return proc.stdout
    if where == "stderr":
        return proc.stderr
    try:
        text = Path(where).read_text(errors="replace")
    except OSError as exc:
        raise EngineError(f"{engine.name}: its trace file {where} cannot be read "
                          f"({exc.strerror or exc}); check 'trace' in {profile.path}") from None
    return text if text.endswith("\n") or not text else text + "\n"


def _require_records(engine: Engine, run: EngineRun, pixels) -> None:
    """An engine whose output holds no trace record has failed, whatever its exit status."""
    if _TRACE_LINE.search(run.log_text):
        return
    from nbparity.parse import printout_pixels

    if printout_pixels(run.log_text):
        return
    if engine.kind == "c-ref":
        hint = (f"{engine.binary or 'the C engine'} does not seem to know -trace_pixel; "
                + NO_RECORD_HINT)
    elif engine.kind == "profile":
        hint = (f"check 'command', 'pixel_args' and 'trace' in {engine.profile.path} (the "
                f"trace was read from {engine.profile.trace})")
    else:
        hint = NO_RECORD_HINT
    raise EngineError(f"{engine.name} ran but printed no trace record for "
                      f"{', '.join(f'({s}, {f})' for s, f in pixels)}: {hint}")

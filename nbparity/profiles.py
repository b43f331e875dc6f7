"""Engine profiles: how to run a port (or any nanoBragg build) and where its trace goes, in TOML.

A profile lets ``nbparity trace/gate/fuzz --reference/--candidate PROFILE.toml`` run an engine
nbparity knows nothing about. Its keys (all but ``command`` optional)::

    name = "myport"                       # the engine's label in reports (default: file stem)
    command = ["{python}", "port.py", "{args}", "{pixels}"]
    pixel_args = ["--trace-pixel", "{slow}", "{fast}"]   # per traced pixel, the port's order
    one_run_per_pixel = false             # true: one run per pixel ({pixels} is that pixel)
    pixel_base = 0                        # 1 when the port numbers pixels from one (on its
                                          # command line and in its log)
    trace = "stdout"                      # stdout | stderr | a file, e.g. "{workdir}/trace.log"
    precision = "float64"                 # float64 | float32 (sets the comparison's rtol floor)
    keymap = "port.keymap.toml"           # renames/unit factors for its log (relative to this file)
    workdir = "temp"                      # temp (a fresh folder) | case (the case's input folder)
                                          # | profile (this file's folder)
    timeout_s = 300
    [env]                                 # extra environment variables
    OMP_NUM_THREADS = "1"
    [tolerance]                           # per-key tolerances for logs of this engine
    I_pixel_final = [1e-4, 0]
    image = "{workdir}/image.bin"         # image-level comparison (``nbparity explain``,
                                          # campaigns): where its float image lands
    image_args = ["-floatfile", "{image}"]  # what asks the port for it (this default when
                                          # ``image`` is given; [] if it writes it anyway)

Placeholders: ``{args}`` (a whole element: the nanoBragg arguments, one element each),
``{pixels}`` (a whole element: ``pixel_args`` once per traced pixel), ``{slow}`` / ``{fast}``
(in ``pixel_args``, or anywhere when ``one_run_per_pixel``), ``{python}`` (this Python),
``{profile_dir}``, ``{case_dir}``, ``{workdir}``, and ``{image}`` (in ``image_args`` only: the
path ``image`` names). Anything else in braces is an error naming the profile file and the key.
Relative paths in ``command`` run from the working folder; use ``{profile_dir}/...`` for files
beside the profile.

An image run (``Engine.render_image``) runs ``command`` with ``{args}`` followed by
``image_args`` and ``{pixels}`` empty (``{slow}``/``{fast}`` of a per-pixel command are pixel
(0, 0)), and reads ``image`` (little-endian float32, slow rows of fast pixels; relative paths
from the working folder). A profile with ``image`` may leave pixels out of ``command``
entirely: an image-only engine, which image-level comparisons run and tracing refuses.
"""

from __future__ import annotations

import re
import string
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

KNOWN_KEYS = frozenset({"name", "command", "pixel_args", "one_run_per_pixel", "pixel_base",
                        "trace", "precision", "keymap", "workdir", "timeout_s", "env",
                        "tolerance", "image", "image_args"})
PLACEHOLDERS = frozenset({"args", "pixels", "slow", "fast", "python", "profile_dir",
                          "case_dir", "workdir", "image"})
#: what ``image`` may name (a file of the run), and what ``image_args`` may
IMAGE_PLACEHOLDERS = frozenset({"python", "profile_dir", "case_dir", "workdir"})
IMAGE_ARGS_PLACEHOLDERS = IMAGE_PLACEHOLDERS | {"image"}
#: image_args when ``image`` is given without them: nanoBragg's own option
DEFAULT_IMAGE_ARGS = ("-floatfile", "{image}")
WORKDIRS = ("temp", "case", "profile")
PRECISIONS = ("float64", "float32")


class ProfileError(ValueError):
    """A malformed profile; the message names the file (and line or key)."""


@dataclass(frozen=True)
class Profile:
    """A parsed engine profile (paths absolute)."""

    path: Path
    name: str
    command: tuple[str, ...]
    pixel_args: tuple[str, ...] = ("-trace_pixel", "{slow}", "{fast}")
    one_run_per_pixel: bool = False
    pixel_base: int = 0
    trace: str = "stdout"
    precision: str = "float64"
    keymap: Path | None = None
    workdir: str = "temp"
    timeout_s: float = 300.0
    env: dict[str, str] = field(default_factory=dict)
    tolerance: dict[str, tuple[float, float]] = field(default_factory=dict)
    image: str | None = None  # where an image run's float image lands (None: no image runs)
    image_args: tuple[str, ...] = ()

    @property
    def folder(self) -> Path:
        return self.path.parent

    @property
    def can_trace(self) -> bool:
        """Whether its command asks for pixels (an image-only profile's does not)."""
        joined = " ".join(self.command)
        return "{pixels}" in self.command or "{slow}" in joined or "{fast}" in joined


def load_profile(path: str | Path) -> Profile:
    """Read and check a profile; ProfileError (one line) on anything wrong."""
    path = Path(path).resolve()
    try:
        data = tomllib.loads(path.read_text())
    except OSError as exc:
        raise ProfileError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ProfileError(f"{path}: {exc}") from None
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        raise ProfileError(f"{path}: unknown key {unknown[0]!r} (known: "
                           f"{', '.join(sorted(KNOWN_KEYS))})")
    command = _strings(path, data, "command", required=True)
    pixel_args = _strings(path, data, "pixel_args") or Profile.pixel_args
    one_run = _typed(path, data, "one_run_per_pixel", bool, False)
    for item in command:
        _check_placeholders(path, "command", item, PLACEHOLDERS - {"image"})
    for item in pixel_args:  # once per pixel: the arguments and pixel list are not there
        _check_placeholders(path, "pixel_args", item, PLACEHOLDERS - {"args", "pixels", "image"})
    if "{pixels}" in command and ("{slow}" in " ".join(command) or "{fast}" in " ".join(command)):
        raise ProfileError(f"{path}: command: give pixels either as {{pixels}} or as "
                           f"{{slow}}/{{fast}}, not both")
    image, image_args = _image(path, data)
    uses_pixels = "{pixels}" in command or any("{slow}" in c or "{fast}" in c for c in command)
    if not uses_pixels and image is None:
        raise ProfileError(f"{path}: command: no {{pixels}} (or {{slow}}/{{fast}}) element: "
                           f"the engine would not know which pixels to trace (an image-only "
                           f"engine gives 'image' instead)")
    if not one_run and any("{slow}" in c or "{fast}" in c for c in command):
        raise ProfileError(f"{path}: command: {{slow}}/{{fast}} need one_run_per_pixel = true "
                           f"(or use {{pixels}} with pixel_args)")
    trace = _typed(path, data, "trace", str, "stdout")
    if trace not in ("stdout", "stderr"):  # a file: one per run, so a pixel only per pixel run
        _check_placeholders(path, "trace", trace, PLACEHOLDERS - {"args", "pixels", "image"}
                            - (set() if one_run else {"slow", "fast"}))
    precision = _choice(path, data, "precision", PRECISIONS, "float64")
    workdir = _choice(path, data, "workdir", WORKDIRS, "temp")
    base = _typed(path, data, "pixel_base", int, 0)
    if base not in (0, 1):
        raise ProfileError(f"{path}: pixel_base: 0 or 1, not {base}")
    timeout = _typed(path, data, "timeout_s", (int, float), 300.0)
    if not timeout > 0:
        raise ProfileError(f"{path}: timeout_s: must be positive, not {timeout}")
    keymap = data.get("keymap")
    if keymap is not None and not isinstance(keymap, str):
        raise ProfileError(f"{path}: keymap: a file name")
    keymap_path = (path.parent / keymap).resolve() if keymap else None
    if keymap_path is not None and not keymap_path.is_file():
        raise ProfileError(f"{path}: keymap: {keymap_path} not found")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ProfileError(f"{path}: [env]: string values only")
    return Profile(path, _typed(path, data, "name", str, path.stem), tuple(command),
                   tuple(pixel_args), one_run, base, trace, precision, keymap_path, workdir,
                   float(timeout), dict(env), _tolerances(path, data.get("tolerance", {})),
                   image, image_args)


def _image(path: Path, data: dict) -> tuple[str | None, tuple[str, ...]]:
    """``image`` (a file, not a stream) and ``image_args`` (default ``-floatfile {image}``;
    ``[]`` for a port that writes its image unasked)."""
    image = data.get("image")
    if image is not None:
        if not isinstance(image, str) or not image.strip():
            raise ProfileError(f"{path}: image: a file name, e.g. \"{{workdir}}/image.bin\"")
        if image in ("stdout", "stderr"):
            raise ProfileError(f"{path}: image: a file, not {image} (the image is binary)")
        _check_placeholders(path, "image", image, IMAGE_PLACEHOLDERS)
    if "image_args" not in data:
        return image, DEFAULT_IMAGE_ARGS if image is not None else ()
    value = data["image_args"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{path}: image_args: a list of strings")
    if image is None:
        raise ProfileError(f"{path}: image_args: needs 'image' (where the image lands)")
    for item in value:
        _check_placeholders(path, "image_args", item, IMAGE_ARGS_PLACEHOLDERS)
    return image, tuple(value)


def _strings(path: Path, data: dict, key: str, required: bool = False) -> list[str]:
    value = data.get(key)
    if value is None:
        if required:
            raise ProfileError(f"{path}: {key}: required (a list of strings)")
        return []
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise ProfileError(f"{path}: {key}: a non-empty list of strings")
    return value


def _typed(path: Path, data: dict, key: str, kind, default):
    value = data.get(key, default)
    if isinstance(value, bool) and kind is not bool:
        raise ProfileError(f"{path}: {key}: not a boolean")
    if not isinstance(value, kind):
        raise ProfileError(f"{path}: {key}: wrong type ({type(value).__name__})")
    return value


def _choice(path: Path, data: dict, key: str, choices: tuple[str, ...], default: str) -> str:
    value = data.get(key, default)
    if value not in choices:
        raise ProfileError(f"{path}: {key}: {value!r} is not one of {', '.join(choices)}")
    return value


def _check_placeholders(path: Path, key: str, text: str, allowed: frozenset[str]) -> None:
    try:
        names = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
    except ValueError as exc:
        raise ProfileError(f"{path}: {key}: {text!r}: {exc}") from None
    for name in names:
        if name not in allowed:
            what = "unknown placeholder" if name not in PLACEHOLDERS else "placeholder"
            raise ProfileError(f"{path}: {key}: {what} {{{name}}} in {text!r} cannot be used "
                               f"here (allowed: {', '.join(sorted(allowed))})")
    if ("{args}" in text or "{pixels}" in text) and text not in ("{args}", "{pixels}"):
        raise ProfileError(f"{path}: {key}: {{args}} and {{pixels}} must be whole elements, "
                           f"not part of {text!r}")


def _tolerances(path: Path, table) -> dict[str, tuple[float, float]]:
    if not isinstance(table, dict):
        raise ProfileError(f"{path}: [tolerance]: a table of KEY = RTOL or [RTOL, ATOL]")
    out = {}
    for key, value in table.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            pair = (float(value), 0.0)
        elif (isinstance(value, list) and 1 <= len(value) <= 2
              and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)):
            pair = (float(value[0]), float(value[1]) if len(value) == 2 else 0.0)
        else:
            raise ProfileError(f"{path}: [tolerance] {key}: RTOL or [RTOL, ATOL]")
        if not all(v >= 0 and v == v for v in pair):
            raise ProfileError(f"{path}: [tolerance] {key}: tolerances are non-negative numbers")
        out[key] = pair
    return out


_BRACED = re.compile(r"\{(\w+)\}")


def expand(profile: Profile, args: list[str], pixels: list[tuple[int, int]], values: dict
           ) -> list[str]:
    """The command line for one run: ``{args}`` and ``{pixels}`` spread into elements, the
    other placeholders substituted (``values``: python, case_dir, workdir, ...)."""
    base = profile.pixel_base

    values = {**values, "profile_dir": profile.folder}

    def fill(text: str, extra: dict) -> str:
        return _BRACED.sub(lambda m: str({**values, **extra}[m.group(1)]), text)

    per_pixel = ({"slow": pixels[0][0] + base, "fast": pixels[0][1] + base}
                 if profile.one_run_per_pixel and pixels else {})
    out: list[str] = []
    for item in profile.command:
        if item == "{args}":
            out.extend(args)
        elif item == "{pixels}":
            for s, f in pixels:
                out.extend(fill(a, {"slow": s + base, "fast": f + base})
                           for a in profile.pixel_args)
        else:
            out.append(fill(item, per_pixel))
    return out


def expand_image(profile: Profile, args: list[str], values: dict) -> tuple[list[str], Path]:
    """The command line of an image run, and the image file it writes (relative to
    ``values["workdir"]`` when the profile's ``image`` is relative)."""
    values = {**values, "profile_dir": profile.folder}
    image = Path(_BRACED.sub(lambda m: str(values[m.group(1)]), profile.image))
    if not image.is_absolute():
        image = Path(values["workdir"]) / image
    extra = [_BRACED.sub(lambda m: str({**values, "image": image}[m.group(1)]), item)
             for item in profile.image_args]
    # no pixel, except where a per-pixel command names {slow}/{fast}: there pixel (0, 0)
    pixel = [(0, 0)] if profile.one_run_per_pixel and "{pixels}" not in profile.command \
        and profile.can_trace else []
    return expand(profile, [*args, *extra], pixel, values), image


def trace_destination(profile: Profile, values: dict) -> str | Path:
    """"stdout", "stderr", or the trace file's path for a run."""
    if profile.trace in ("stdout", "stderr"):
        return profile.trace
    text = _BRACED.sub(lambda m: str({**values, "profile_dir": profile.folder}[m.group(1)]),
                       profile.trace)
    return Path(text)

"""Key maps: names a log prints → the trace contract's keys, with unit factors.

One alias table for the toolkit. ``BUILTIN`` holds the names instrumented nanoBragg builds and
ports are known to print (``lambda_meters``, ``pix0_vector``, ``k_frac`` ...); a user key map
(``--keymap FILE``, TOML) adds to it or overrides it. The readers apply a key map in one place
(``nbparity.parse.legacy``): built-in aliases to lines outside the contract grammar, a user key
map to every line. An alias is never applied to a name whose target the log also prints under the
contract name: the reader reports that clash and keeps the aliased name as it was printed.

TOML format, one entry per printed name (quote names holding dots or brackets)::

    lambda_meters = { to = "lambda_angstroms", factor = 1e10 }
    k_frac = "hkl_frac[1]"                          # component 1 (zero-based) of hkl_frac
    pix0 = "pix0_vector_meters"                    # a plain rename
    "ROTSTAR.ap_y" = { to = "rot_a_star_y", placement = "step" }

Table fields: ``to`` (required), ``component`` (int), ``factor`` (finite, non-zero; multiplies
every value), ``placement`` (``"pixel"``: the record drops its loop indices; ``"step"``: a
record printed outside the loop becomes step (phi_tic 0, mos_tic 0)). Entries may also sit in
a ``[keys]`` table.
"""

from __future__ import annotations

import math
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from nbparity import schema

PLACEMENTS = ("pixel", "step")
_TARGET_RE = re.compile(r"^([^\s\[\]]+)(?:\[(\d+)\])?$")
_FIELDS = frozenset({"to", "component", "factor", "placement"})


class KeyMapError(ValueError):
    """A bad key map; the message is one line naming ``file:line`` and the entry."""


@dataclass(frozen=True)
class Alias:
    """What a printed name becomes: ``target`` (component ``component`` of it, if given),
    values times ``factor``, placed at pixel or step level (None: as printed)."""

    target: str
    component: int | None = None
    factor: float = 1.0
    placement: str | None = None
    origin: str = "built-in"  # where the entry comes from: "built-in" or "FILE:LINE"


class KeyMap:
    """Printed name → Alias. ``over(base)``: this map's entries win over ``base``'s."""

    def __init__(self, entries: dict[str, Alias] | None = None, source: str = "built-in"):
        self.entries: dict[str, Alias] = dict(entries or {})
        self.source = source

    def get(self, name: str) -> Alias | None:
        return self.entries.get(name)

    def __contains__(self, name: str) -> bool:
        return name in self.entries

    def __len__(self) -> int:
        return len(self.entries)

    def __bool__(self) -> bool:
        return bool(self.entries)

    @property
    def names(self) -> frozenset[str]:
        """The printed names this map translates."""
        return frozenset(self.entries)

    @property
    def targets(self) -> frozenset[str]:
        return frozenset(alias.target for alias in self.entries.values())

    def over(self, base: KeyMap | None) -> KeyMap:
        if base is None or not base:
            return self
        return KeyMap({**base.entries, **self.entries}, f"{self.source} over {base.source}")

    def __repr__(self) -> str:
        return f"KeyMap({len(self.entries)} entries from {self.source})"


def _builtin() -> KeyMap:
    entries: dict[str, Alias] = {
        # names of nanoBragg's own variables and earlier instrumented builds
        "pix0_vector": Alias("pix0_vector_meters"),
        "omega_pixel": Alias("omega_pixel_sr"),
        "distance_m": Alias("distance_meters"),
        "close_distance_m": Alias("close_distance_meters"),
        "lambda_meters": Alias("lambda_angstroms", factor=1e10),
        "r_e_sqr": Alias("r_e_sqr_m2"),
        "fluence": Alias("fluence_photons_per_m2"),
        "I_before_scaling_pre_polar": Alias("I_before_scaling"),
        "F_cell_interpolated": Alias("F_cell"),
        "F_cell_nearest": Alias("F_cell"),
        "h_frac": Alias("hkl_frac", 0), "k_frac": Alias("hkl_frac", 1),
        "l_frac": Alias("hkl_frac", 2),
        "h0": Alias("hkl_rounded", 0), "k0": Alias("hkl_rounded", 1),
        "l0": Alias("hkl_rounded", 2),
    }
    for axis in ("fdet", "sdet", "odet", "beam", "polar", "spindle"):
        entries[f"{axis}_vector"] = Alias(f"{axis}_vec")
    # twotheta is the last detector rotation: a vector after it is the contract's final one
    # (the *_after_rotx/roty/rotz stages have no contract key and stay extra keys)
    for axis in ("fdet", "sdet", "odet"):
        for printed in (f"{axis}_after_twotheta", f"{axis}_vec_after_twotheta",
                        f"{axis}_vector_after_twotheta"):
            entries[printed] = Alias(f"{axis}_vec")
    return KeyMap(entries, "built-in")


#: The built-in alias table (legacy and ported builds' names → contract keys).
BUILTIN = _builtin()


# --------------------------------------------------------------------------- TOML

def load_keymap(path: str | Path) -> KeyMap:
    """A user key map from a TOML file; KeyMapError (one line, ``file:line``) on bad input."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise KeyMapError(f"{path}:0: cannot read key map ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise KeyMapError(f"{path}:1: key map is not UTF-8 text") from None
    return parse_keymap_text(text, str(path))


def parse_keymap_text(text: str, source: str = "<keymap>") -> KeyMap:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        match = re.search(r"at line (\d+)", str(exc))
        line = match.group(1) if match else "1"
        message = re.sub(r"\s*\(at line \d+, column \d+\)", "", str(exc))
        raise KeyMapError(f"{source}:{line}: not valid TOML: {message}") from None
    if isinstance(data.get("keys"), dict) and not _is_entry(data["keys"]):
        nested = data.pop("keys")
        clash = set(nested) & set(data)
        if clash:
            name = sorted(clash)[0]
            raise KeyMapError(f"{source}:{_line_of(text, name)}: {name} is given twice")
        data.update(nested)
    entries = {}
    for name, spec in data.items():
        where = f"{source}:{_line_of(text, name)}"
        entries[name] = _entry(name, spec, where)
    return KeyMap(entries, source)


def _is_entry(value) -> bool:
    return isinstance(value, dict) and "to" in value


def _entry(name: str, spec, where: str) -> Alias:
    if isinstance(spec, str):
        target, component = _target(spec, name, where)
        return _checked(Alias(target, component, 1.0, None, where), name, where)
    if not isinstance(spec, dict):
        raise KeyMapError(f"{where}: {name}: expected \"target\", \"target[i]\" or a table "
                          f"with 'to', found {type(spec).__name__}")
    if "to" not in spec:
        raise KeyMapError(f"{where}: {name}: a table needs 'to' (a name with dots must be "
                          f"quoted: \"{name}.x\" = ...)")
    unknown = sorted(set(spec) - _FIELDS)
    if unknown:
        raise KeyMapError(f"{where}: {name}: unknown field {unknown[0]!r} (fields: to, "
                          f"component, factor, placement)")
    if not isinstance(spec["to"], str):
        raise KeyMapError(f"{where}: {name}: 'to' must be a string")
    target, component = _target(spec["to"], name, where)
    if "component" in spec:
        if component is not None:
            raise KeyMapError(f"{where}: {name}: component given twice")
        component = spec["component"]
        if not isinstance(component, int) or isinstance(component, bool) or component < 0:
            raise KeyMapError(f"{where}: {name}: component must be an integer >= 0")
    factor = spec.get("factor", 1.0)
    if (not isinstance(factor, (int, float)) or isinstance(factor, bool)
            or not math.isfinite(factor) or factor == 0):
        raise KeyMapError(f"{where}: {name}: factor must be a finite non-zero number")
    placement = spec.get("placement")
    if placement is not None and placement not in PLACEMENTS:
        raise KeyMapError(f"{where}: {name}: placement must be \"pixel\" or \"step\"")
    return _checked(Alias(target, component, float(factor), placement, where), name, where)


def _target(text: str, name: str, where: str) -> tuple[str, int | None]:
    match = _TARGET_RE.match(text.strip())
    if not match:
        raise KeyMapError(f"{where}: {name}: target {text!r} is not NAME or NAME[i]")
    return match.group(1), None if match.group(2) is None else int(match.group(2))


def _checked(alias: Alias, name: str, where: str) -> Alias:
    if schema.is_known(alias.target):
        key = schema.by_name(alias.target)
        if alias.component is not None and alias.component >= key.arity:
            raise KeyMapError(f"{where}: {name}: {alias.target} has {key.arity} component(s), "
                              f"no component {alias.component}")
        if alias.factor != 1.0 and key.kind != "real":
            raise KeyMapError(f"{where}: {name}: a factor applies to real values; "
                              f"{alias.target} holds {key.kind}s")
    if alias.target == name and alias.component is None and alias.factor == 1.0:
        raise KeyMapError(f"{where}: {name}: maps onto itself")
    return alias


def _line_of(text: str, name: str) -> int:
    """The line of a TOML key (bare or quoted); 1 when not found."""
    pattern = re.compile(r"^[ \t]*(?:" + re.escape(name) + r"|\"" + re.escape(name) + r"\"|'"
                         + re.escape(name) + r"')[ \t]*[=.]", re.M)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else 1

"""The key catalogue of the trace contract (version 1): the one place that knows it.

Every key both engines print, with its stage, how many values it carries, its unit and
the kind of those values. The catalogue's order is the pipeline (causal) order that
``first-divergence`` walks: stage first, then the key order inside the stage.

The contract document is ``trace-contract.md`` of the design notes; tests pin this module to it.
"""

from __future__ import annotations

from dataclasses import dataclass

SCHEMA_VERSION = 1

#: Stages in pipeline order. ``meta`` is never compared numerically.
STAGES: tuple[str, ...] = ("meta", "setup", "pixel", "phi", "final")

#: Value kinds: reals compare with the tolerance model, ints and words exactly.
KINDS: tuple[str, ...] = ("real", "int", "word")

#: Stages whose records are step lines (``TRACE_<E>_PHI: phi_tic=.. mos_tic=..``).
STEP_STAGES: frozenset[str] = frozenset({"phi"})


@dataclass(frozen=True)
class Key:
    """One catalogue entry.

    name:  the key as printed.
    stage: one of STAGES.
    arity: how many values follow the key.
    unit:  unit or meaning, as in the contract.
    kind:  one of KINDS.
    order: position in pipeline order over the whole catalogue (0-based).
    """

    name: str
    stage: str
    arity: int
    unit: str
    kind: str
    order: int

    @property
    def is_step(self) -> bool:
        return self.stage in STEP_STAGES

    @property
    def is_vector(self) -> bool:
        return self.arity == 3 and self.kind == "real"


# (name, stage, arity, unit, kind), in the contract's order.
_ROWS: tuple[tuple[str, str, int, str, str], ...] = (
    # meta
    ("trace_pixel", "meta", 2, "slow fast, zero-based", "int"),
    ("schema_version", "meta", 1, "contract version", "int"),
    ("engine", "meta", 1, "engine name", "word"),
    ("phi_carryover_mode", "meta", 1, "spec, c-parity or c-parity-omp", "word"),
    ("dtype", "meta", 1, "float64 or float32", "word"),
    ("device", "meta", 1, "cpu or cuda", "word"),
    # setup
    ("fdet_vec", "setup", 3, "unit vector", "real"),
    ("sdet_vec", "setup", 3, "unit vector", "real"),
    ("odet_vec", "setup", 3, "unit vector", "real"),
    ("beam_vec", "setup", 3, "unit vector", "real"),
    ("polar_vec", "setup", 3, "unit vector", "real"),
    ("spindle_vec", "setup", 3, "unit vector", "real"),
    ("pix0_vector_meters", "setup", 3, "m", "real"),
    ("distance_meters", "setup", 1, "m", "real"),
    ("close_distance_meters", "setup", 1, "m", "real"),
    ("a_angstroms", "setup", 3, "angstrom", "real"),
    ("b_angstroms", "setup", 3, "angstrom", "real"),
    ("c_angstroms", "setup", 3, "angstrom", "real"),
    ("a_star_A_inv", "setup", 3, "1/angstrom", "real"),
    ("b_star_A_inv", "setup", 3, "1/angstrom", "real"),
    ("c_star_A_inv", "setup", 3, "1/angstrom", "real"),
    ("V_cell_A3", "setup", 1, "angstrom^3", "real"),
    ("N_cells", "setup", 3, "Na Nb Nc (real: differentiable in the torch engine)", "real"),
    ("phi0_deg", "setup", 1, "deg", "real"),
    ("phistep_deg", "setup", 1, "deg", "real"),
    ("phisteps", "setup", 1, "count", "int"),
    ("mosaic_domains", "setup", 1, "count", "int"),
    ("sources", "setup", 1, "count", "int"),
    ("oversample", "setup", 1, "count", "int"),
    ("steps", "setup", 1, "count used for normalisation", "int"),
    ("r_e_sqr_m2", "setup", 1, "m^2", "real"),
    ("fluence_photons_per_m2", "setup", 1, "photons/m^2", "real"),
    # pixel (thickness 0, sub-pixel (0,0), source 0)
    ("pixel_pos_meters", "pixel", 3, "m", "real"),
    ("R_distance_meters", "pixel", 1, "m", "real"),
    ("omega_pixel_sr", "pixel", 1, "sr", "real"),
    ("obliquity_factor", "pixel", 1, "close_distance / R", "real"),
    ("diffracted_vec", "pixel", 3, "unit vector", "real"),
    ("incident_vec", "pixel", 3, "unit vector", "real"),
    ("lambda_angstroms", "pixel", 1, "angstrom", "real"),
    ("scattering_vec_A_inv", "pixel", 3, "1/angstrom", "real"),
    ("stol_A_inv", "pixel", 1, "1/angstrom", "real"),
    ("polar", "pixel", 1, "polarisation factor", "real"),
    ("capture_fraction", "pixel", 1, "fraction of layer 0", "real"),
    # phi (step lines, one set per phi_tic x mos_tic)
    ("phi_deg", "phi", 1, "deg", "real"),
    ("rot_a_angstroms", "phi", 3, "angstrom", "real"),
    ("rot_b_angstroms", "phi", 3, "angstrom", "real"),
    ("rot_c_angstroms", "phi", 3, "angstrom", "real"),
    ("hkl_frac", "phi", 3, "fractional h k l", "real"),
    ("hkl_rounded", "phi", 3, "ceil(x - 0.5)", "int"),
    ("F_latt_a", "phi", 1, "lattice factor along a (square shape)", "real"),
    ("F_latt_b", "phi", 1, "lattice factor along b (square shape)", "real"),
    ("F_latt_c", "phi", 1, "lattice factor along c (square shape)", "real"),
    ("F_latt", "phi", 1, "lattice factor", "real"),
    ("F_cell", "phi", 1, "structure factor", "real"),
    ("I_term", "phi", 1, "F_cell^2 F_latt^2", "real"),
    # final
    ("I_before_scaling", "final", 1, "accumulated sum", "real"),
    ("polar_applied", "final", 1, "polarisation factor used", "real"),
    ("omega_applied_sr", "final", 1, "sr", "real"),
    ("capture_fraction_applied", "final", 1, "capture fraction used", "real"),
    ("I_pixel_final", "final", 1, "photons", "real"),
)

#: The dependency graph of the pipeline: each key's direct inputs among the catalogue's keys
#: (what nanoBragg computes it from). ``first-divergence`` uses it to tell an independent root
#: (a failing key no failing input explains) from a failure propagated from one. Keys with no
#: entry are inputs of the run (read from the command line or files). Step keys' inputs at the
#: same step; final keys take their step inputs at every step.
INPUTS: dict[str, tuple[str, ...]] = {
    "pix0_vector_meters": ("fdet_vec", "sdet_vec", "odet_vec", "beam_vec"),
    "distance_meters": ("pix0_vector_meters", "odet_vec", "beam_vec"),
    "close_distance_meters": ("pix0_vector_meters", "odet_vec"),
    "a_star_A_inv": ("a_angstroms", "b_angstroms", "c_angstroms"),
    "b_star_A_inv": ("a_angstroms", "b_angstroms", "c_angstroms"),
    "c_star_A_inv": ("a_angstroms", "b_angstroms", "c_angstroms"),
    "V_cell_A3": ("a_angstroms", "b_angstroms", "c_angstroms"),
    "steps": ("phisteps", "mosaic_domains", "sources", "oversample"),
    "pixel_pos_meters": ("pix0_vector_meters", "fdet_vec", "sdet_vec", "oversample"),
    "R_distance_meters": ("pixel_pos_meters",),
    "omega_pixel_sr": ("R_distance_meters", "close_distance_meters"),
    "obliquity_factor": ("R_distance_meters", "close_distance_meters"),
    "diffracted_vec": ("pixel_pos_meters", "R_distance_meters"),
    "incident_vec": ("beam_vec",),
    "scattering_vec_A_inv": ("diffracted_vec", "incident_vec", "lambda_angstroms"),
    "stol_A_inv": ("scattering_vec_A_inv",),
    "polar": ("diffracted_vec", "incident_vec", "polar_vec"),
    "capture_fraction": ("diffracted_vec", "odet_vec"),
    "phi_deg": ("phi0_deg", "phistep_deg"),
    "rot_a_angstroms": ("a_angstroms", "phi_deg", "spindle_vec"),
    "rot_b_angstroms": ("b_angstroms", "phi_deg", "spindle_vec"),
    "rot_c_angstroms": ("c_angstroms", "phi_deg", "spindle_vec"),
    "hkl_frac": ("rot_a_angstroms", "rot_b_angstroms", "rot_c_angstroms",
                 "scattering_vec_A_inv"),
    "hkl_rounded": ("hkl_frac",),
    "F_latt_a": ("hkl_frac", "N_cells"),
    "F_latt_b": ("hkl_frac", "N_cells"),
    "F_latt_c": ("hkl_frac", "N_cells"),
    "F_latt": ("F_latt_a", "F_latt_b", "F_latt_c", "hkl_frac", "N_cells"),
    "F_cell": ("hkl_rounded", "hkl_frac"),
    "I_term": ("F_cell", "F_latt"),
    "I_before_scaling": ("I_term", "capture_fraction"),
    "polar_applied": ("polar",),
    "omega_applied_sr": ("omega_pixel_sr",),
    "capture_fraction_applied": ("capture_fraction",),
    "I_pixel_final": ("I_before_scaling", "polar_applied", "omega_applied_sr",
                      "capture_fraction_applied", "r_e_sqr_m2", "fluence_photons_per_m2",
                      "steps"),
}


def _closure(graph: dict[str, tuple[str, ...]]) -> dict[str, frozenset[str]]:
    out: dict[str, frozenset[str]] = {}

    def visit(name: str) -> frozenset[str]:
        if name not in out:
            found = set(graph.get(name, ()))
            for parent in graph.get(name, ()):
                found |= visit(parent)
            out[name] = frozenset(found)
        return out[name]

    for name in graph:
        visit(name)
    return out


_ANCESTORS = _closure(INPUTS)


def ancestors(name: str) -> frozenset[str]:
    """Every catalogue key ``name`` is computed from, directly or not (empty for run inputs and
    for keys outside the catalogue)."""
    return _ANCESTORS.get(name, frozenset())


CATALOGUE: tuple[Key, ...] = tuple(
    Key(name, stage, arity, unit, kind, order)
    for order, (name, stage, arity, unit, kind) in enumerate(_ROWS)
)

_BY_NAME: dict[str, Key] = {key.name: key for key in CATALOGUE}
#: every catalogue key's name
NAMES: frozenset[str] = frozenset(_BY_NAME)

#: Keys the catalogue marks as optional: printed for the square crystal shape only.
SQUARE_SHAPE_ONLY: frozenset[str] = frozenset({"F_latt_a", "F_latt_b", "F_latt_c"})


def by_name(name: str) -> Key:
    """The catalogue entry for ``name``; KeyError if the contract has no such key."""
    return _BY_NAME[name]


def is_known(name: str) -> bool:
    return name in _BY_NAME


def keys_in_stage(stage: str) -> tuple[Key, ...]:
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    return tuple(key for key in CATALOGUE if key.stage == stage)


def stage_rank(stage: str) -> int:
    """Position of a stage in pipeline order (unknown stages sort last)."""
    return STAGES.index(stage) if stage in STAGES else len(STAGES)


def key_rank(name: str) -> int:
    """Position of a key in pipeline order (engine-specific keys sort after the catalogue)."""
    key = _BY_NAME.get(name)
    return key.order if key is not None else len(CATALOGUE)

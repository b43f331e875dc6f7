"""Frozen configuration of one simulation, as resolved from a nanoBragg command line.

Units inside are SI (metres, radians) unless a field's comment says otherwise; the command
line's units (mm, degrees, Angstrom, mrad, microns, eV, percent) are converted when an option is
read, by its entry in the option table (``simulator.options``). Every default and derivation of
nanoBragg (automatic phi steps, oversampling, conventions, pivots, ...) has already been
applied by the set-up derivations (``simulator.setup``, one per config below), so the engine
only reads numbers from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CrystalConfig:
    """Crystal: cell or matrix, misset, size, shape, rotation and mosaic domains
    (``simulator.setup.crystal``; phi and domain counts from ``simulator.setup.sampling``)."""

    user_cell: bool
    cell: tuple[
        float, float, float, float, float, float
    ]  # a b c (Angstrom), alpha beta gamma (degrees)
    matrix: tuple[Vec3, Vec3, Vec3] | None  # a*, b*, c* rows of -mat (scaled by 1/lambda later)
    misset_rad: Vec3 | None  # None: no misset
    N: Vec3  # Na Nb Nc (unit cells per edge) after -xtalsize etc.
    shape: str  # square | round | gauss | tophat
    fudge: float  # shape factor (dimensionless)
    phi0: float  # rad
    phistep: float  # rad
    phisteps: int
    osc: float  # rad
    spindle: Vec3  # unit vector
    mosaic_spread: float  # rad
    mosaic_domains: int
    # per domain: axis (3), powf factor, angle (rad), as nanoBragg's float arithmetic made them
    mosaic_axes: tuple[Vec3, ...]
    mosaic_factors: tuple[float, ...]
    mosaic_angles: tuple[float, ...]


@dataclass(frozen=True)
class StructureFactors:
    """HKL table (dense, default_F where not listed) and lookup mode (``simulator.setup.sfac``)."""

    table: np.ndarray | None = field(compare=False)  # (h_range, k_range, l_range) float64, or None
    hkl_min: tuple[int, int, int]
    hkl_max: tuple[int, int, int]
    hkls: int  # reflections listed (0: none, default_F everywhere)
    default_F: float  # electrons (F's unit)
    interpolate: bool  # tricubic interpolation of F between table entries
    # -dump with -hkl: the dump file to write (as given), with the run's other outputs
    dump_file: str | None = None


@dataclass(frozen=True)
class BeamConfig:
    """Beam: wavelength, sources, polarisation, fluence, water background
    (``simulator.setup.beam``; directions from the detector frame's convention)."""

    lambda0: float  # m
    beam_vector: Vec3  # unit vector, sample towards detector
    polar_vector: Vec3  # unit E-vector
    vert_vector: Vec3  # unit vector beam x polar
    source_dirs: tuple[Vec3, ...]  # unit vectors from the sample towards each source
    source_lambdas: tuple[float, ...]  # m
    source_from_file: bool
    source_lambda_factors: tuple[float, ...] | None  # lambda = lambda0 * factor (generated sources)
    dispersion: float  # fraction of lambda0 (full range)
    dispstep: float  # fraction of lambda0
    dispsteps: int
    hdivrange: float  # rad
    hdivstep: float  # rad
    hdivsteps: int
    vdivrange: float  # rad
    vdivstep: float  # rad
    vdivsteps: int
    divsteps: int  # divergence points kept (0 with a -sourcefile)
    polarization: float  # Kahn factor
    nopolar: bool
    fluence: float  # photons/m^2
    r_e_sqr: float  # m^2, classical electron radius squared
    water_size: float  # m
    I_bg: float  # water background, nanoBragg's I_bg (from fluence and water_size)
    dmin: float  # m, resolution cut (0: none)


@dataclass(frozen=True)
class DetectorConfig:
    """Detector: size, convention, pivot, unrotated vectors, beam centre, thickness, ROI
    (``simulator.setup.detector``; layers from ``simulator.setup.sampling``). Placement (pix0,
    rotated vectors) is ``simulator.detector.detector_setup`` of this config."""

    fpixels: int
    spixels: int
    pixel_size: float  # m
    detsize_f: float  # m
    detsize_s: float  # m
    convention: str  # mosflm | xds | adxv | denzo | dials | custom
    pivot: str  # beam | sample
    distance: float  # m, as given (or the default)
    close_distance: float | None  # m, if given
    fdet: Vec3  # unit vectors before the rotations
    sdet: Vec3
    odet: Vec3
    twotheta_axis: Vec3  # as given (not unitized, as in nanoBragg)
    rotx: float  # rad
    roty: float  # rad
    rotz: float  # rad
    twotheta: float  # rad
    Fbeam: float  # m, beam centre along fdet / sdet (BEAM pivot)
    Sbeam: float  # m
    Fclose: float  # m, point nearest the sample (SAMPLE pivot)
    Sclose: float  # m
    Xbeam: float  # m, in the convention's words (for the image header)
    Ybeam: float  # m
    Xclose: float  # m
    Yclose: float  # m
    curved: bool
    point_pixel: bool
    thick: float  # m
    thickstep: float  # m
    thicksteps: int
    mu: float  # 1/m
    roi: tuple[int, int, int, int]  # xmin xmax ymin ymax (fast, slow; inclusive)
    mask: np.ndarray | None = field(compare=False)  # (slow, fast) uint16, 0 = skip


@dataclass(frozen=True)
class SamplingConfig:
    """Sub-pixels per pixel side and which factors are evaluated per sub-pixel
    (``simulator.setup.sampling``)."""

    oversample: int
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool


@dataclass(frozen=True)
class OutputConfig:
    """Files written and lines printed (``simulator.setup.run``); names relative to ``cwd``."""

    floatfile: str | None
    intfile: str | None
    pgmfile: str | None
    noisefile: str | None
    write_pgm: bool
    calculate_noise: bool
    intfile_scale: float  # counts per photon (0: automatic)
    pgm_scale: float  # (0: automatic)
    adc_offset: float  # counts
    seed: int  # stored negated, as nanoBragg does
    printout: bool
    printout_pixel: tuple[int, int] | None  # (fast, slow), nanoBragg order
    progress: bool


@dataclass(frozen=True)
class RunConfig:
    """Options of this engine that nanoBragg does not have (``simulator.setup.run``)."""

    trace_pixels: tuple[tuple[int, int], ...]  # (slow, fast)
    phi_carryover_mode: str  # spec | c-parity | c-parity-omp
    device: str
    dtype: str  # float64 | float32
    memory_budget_bytes: int
    trace_only: bool  # compute the traced pixels only, not the whole image
    geometry_dtype: str = "float64"  # dtype of the geometry up to h, k, l (see engine)
    # c-parity-omp: threads of the OpenMP static schedule whose blocks of slow rows each restart
    # the phi=0 carry-over (see simulator.engine.thread_blocks); unused by the other modes
    omp_threads: int = 1


@dataclass(frozen=True)
class SimulationConfig:
    """Everything one run needs, built by ``simulator.setup.build_config``."""

    crystal: CrystalConfig
    sf: StructureFactors
    beam: BeamConfig
    detector: DetectorConfig
    sampling: SamplingConfig
    output: OutputConfig
    run: RunConfig
    rng_state: tuple  # ran1's shared table after the set-up draws (feeds the noise image)
    argv: tuple[str, ...] = ()
    cwd: str = "."
    log: tuple[str, ...] = ()  # set-up messages in nanoBragg's words

    @property
    def steps(self) -> int:
        """nanoBragg's normalisation count: sources x domains x phi steps x oversample^2."""
        return (
            len(self.beam.source_dirs)
            * self.crystal.mosaic_domains
            * self.crystal.phisteps
            * self.sampling.oversample**2
        )

    @property
    def shape(self) -> tuple[int, int]:
        return (self.detector.spixels, self.detector.fpixels)

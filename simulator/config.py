"""Frozen configuration of one simulation, as resolved from a nanoBragg command line.

Units inside are SI (metres, radians) unless a field name says otherwise; the command line's
units (mm, degrees, Angstrom, mrad, microns) are converted by ``simulator.cli``. Every default and
derivation of nanoBragg (automatic phi steps, oversampling, conventions, pivots, ...) has already
been applied, so the engine only reads numbers from here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Vec3 = tuple[float, float, float]


@dataclass(frozen=True)
class CrystalConfig:
    """Crystal: cell or matrix, misset, size, shape, rotation and mosaic domains."""

    user_cell: bool
    cell: tuple[
        float, float, float, float, float, float
    ]  # a b c (Angstrom), alpha beta gamma (degrees)
    matrix: tuple[Vec3, Vec3, Vec3] | None  # a*, b*, c* rows of -mat (scaled by 1/lambda later)
    misset_rad: Vec3 | None  # None: no misset
    N: Vec3  # Na Nb Nc after -xtalsize etc.
    shape: str  # square | round | gauss | tophat
    fudge: float
    phi0: float  # rad
    phistep: float  # rad
    phisteps: int
    osc: float  # rad
    spindle: Vec3
    mosaic_spread: float  # rad
    mosaic_domains: int
    # per domain: axis (3), powf factor, angle (rad), as nanoBragg's float arithmetic made them
    mosaic_axes: tuple[Vec3, ...]
    mosaic_factors: tuple[float, ...]
    mosaic_angles: tuple[float, ...]


@dataclass(frozen=True)
class StructureFactors:
    """HKL table (dense, default_F where not listed) and lookup mode."""

    table: np.ndarray | None = field(compare=False)  # (h_range, k_range, l_range) float64, or None
    hkl_min: tuple[int, int, int]
    hkl_max: tuple[int, int, int]
    hkls: int
    default_F: float
    interpolate: bool


@dataclass(frozen=True)
class BeamConfig:
    """Beam: wavelength, sources, polarisation, fluence, water background."""

    lambda0: float  # m
    beam_vector: Vec3
    polar_vector: Vec3
    vert_vector: Vec3
    source_dirs: tuple[Vec3, ...]  # unit vectors from the sample towards each source
    source_lambdas: tuple[float, ...]  # m
    source_from_file: bool
    source_lambda_factors: tuple[float, ...] | None  # lambda = lambda0 * factor (generated sources)
    dispersion: float
    dispstep: float
    dispsteps: int
    hdivrange: float
    hdivstep: float
    hdivsteps: int
    vdivrange: float
    vdivstep: float
    vdivsteps: int
    divsteps: int
    polarization: float  # Kahn factor
    nopolar: bool
    fluence: float
    r_e_sqr: float
    water_size: float  # m
    I_bg: float
    dmin: float  # m


@dataclass(frozen=True)
class DetectorConfig:
    """Detector: size, convention, pivot, unrotated vectors, beam centre, thickness, ROI."""

    fpixels: int
    spixels: int
    pixel_size: float  # m
    detsize_f: float
    detsize_s: float
    convention: str  # mosflm | xds | adxv | denzo | dials | custom
    pivot: str  # beam | sample
    distance: float  # m, as given (or the default)
    close_distance: float | None  # m, if given
    fdet: Vec3
    sdet: Vec3
    odet: Vec3
    twotheta_axis: Vec3
    rotx: float
    roty: float
    rotz: float
    twotheta: float
    Fbeam: float
    Sbeam: float
    Fclose: float
    Sclose: float
    Xbeam: float  # for the image header
    Ybeam: float
    Xclose: float
    Yclose: float
    curved: bool
    point_pixel: bool
    thick: float  # m
    thickstep: float
    thicksteps: int
    mu: float  # 1/m
    roi: tuple[int, int, int, int]  # xmin xmax ymin ymax (fast, slow; inclusive)
    mask: np.ndarray | None = field(compare=False)  # (slow, fast) uint16, 0 = skip


@dataclass(frozen=True)
class SamplingConfig:
    oversample: int
    oversample_thick: bool
    oversample_polar: bool
    oversample_omega: bool


@dataclass(frozen=True)
class OutputConfig:
    floatfile: str | None
    intfile: str | None
    pgmfile: str | None
    noisefile: str | None
    write_pgm: bool
    calculate_noise: bool
    intfile_scale: float
    pgm_scale: float
    adc_offset: float
    seed: int  # stored negated, as nanoBragg does
    printout: bool
    printout_pixel: tuple[int, int] | None  # (fast, slow), nanoBragg order
    progress: bool


@dataclass(frozen=True)
class RunConfig:
    """Options of this engine that nanoBragg does not have."""

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

"""Writes the input files of the named cases into traces/default/.

Synthetic, deterministic data (no experiment behind it): an orthorhombic cell in a general
orientation as a MOSFLM matrix (A.mat), P1 structure factors on a +-16 index cube (P1.hkl), a
source list (sources.txt: X Y Z weight wavelength-in-metres per line) and a 64 x 64 SMV mask
(mask.img: 0 = skip the pixel). Run it from the repository root only to regenerate them
(`python traces/make_inputs.py`); the files are committed, so nothing runs it at test time.
"""

from pathlib import Path

import numpy as np

FOLDER = Path(__file__).resolve().parent / "default"
CELL_A = (27.0, 32.0, 34.5)  # Angstrom, alpha = beta = gamma = 90
WAVELENGTH_A = 0.9768
ORIENTATION_DEG = (23.0, -41.0, 67.0)  # rotations about x, then y, then z
HKL_RANGE = 16


def rotation(rx: float, ry: float, rz: float) -> np.ndarray:
    cx, cy, cz = np.cos(np.radians([rx, ry, rz]))
    sx, sy, sz = np.sin(np.radians([rx, ry, rz]))
    r_x = np.array([[1, 0, 0], [0, cx, -sx], [0, sx, cx]])
    r_y = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    r_z = np.array([[cz, -sz, 0], [sz, cz, 0], [0, 0, 1]])
    return r_z @ r_y @ r_x


def write_matrix() -> None:
    u = rotation(*ORIENTATION_DEG)
    # Columns: a*, b*, c* (1/Angstrom), times the wavelength as MOSFLM writes them.
    recip = u @ np.diag([1.0 / a for a in CELL_A]) * WAVELENGTH_A
    lines = [" ".join(f"{v:12.8f}" for v in row) for row in recip]
    lines += ["       0.000       0.000       0.000"]
    lines += [" ".join(f"{v:11.7f}" for v in row) for row in u]
    lines += [" ".join(f"{v:11.4f}" for v in (*CELL_A, 90.0, 90.0, 90.0))]
    lines += ["       0.000       0.000       0.000"]
    (FOLDER / "A.mat").write_text("\n".join(lines) + "\n")


def write_hkl() -> None:
    rng = np.random.default_rng(20261121)
    idx = np.arange(-HKL_RANGE, HKL_RANGE + 1)
    h, k, l = (a.ravel() for a in np.meshgrid(idx, idx, idx, indexing="ij"))
    # Wilson-like falloff with resolution, times random amplitudes.
    s2 = (h / CELL_A[0]) ** 2 + (k / CELL_A[1]) ** 2 + (l / CELL_A[2]) ** 2
    amplitude = 300.0 * np.exp(-4.0 * s2) * rng.rayleigh(1.0, h.size) + 1.0
    with open(FOLDER / "P1.hkl", "w") as out:
        for row in zip(h, k, l, amplitude):
            out.write(f"{row[0]} {row[1]} {row[2]} {row[3]:.3f}\n")


def write_sources() -> None:
    # Three sources 10 m upstream of a MOSFLM-convention beam (+x), slightly off axis, with
    # three wavelengths.
    rows = [(-10.0, 0.0, 0.0, 1.0, 1.0e-10), (-10.0, 0.002, 0.0, 1.0, 1.01e-10),
            (-10.0, 0.0, -0.0015, 0.5, 0.99e-10)]
    (FOLDER / "sources.txt").write_text("".join(" ".join(f"{v:g}" for v in row) + "\n"
                                                for row in rows))


def write_mask(size: int = 64) -> None:
    mask = np.ones((size, size), dtype="<u2")
    mask[10:20, 30:50] = 0  # a rectangle (slow 10..19, fast 30..49)
    mask[:, 5] = 0  # a dead column (fast 5)
    mask[0, :3] = 0  # the first pixels of the raster: the run's first sweep moves
    header = ("{\nHEADER_BYTES=512;\nDIM=2;\nBYTE_ORDER=little_endian;\nTYPE=unsigned_short;\n"
              f"SIZE1={size};\nSIZE2={size};\nPIXEL_SIZE=0.3;\n}}\n")
    (FOLDER / "mask.img").write_bytes(header.encode().ljust(512, b" ") + mask.tobytes())


if __name__ == "__main__":
    FOLDER.mkdir(exist_ok=True)
    write_matrix()
    write_hkl()
    write_sources()
    write_mask()

"""nanoBragg's random numbers and small helpers."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from simulator import rng
from simulator.crystal import phi_angles
from simulator.geometry import RTD, rotate_axis, rotate_xyz
from simulator.lattice import sincg, sincg_index


def test_ran1_park_miller_sequence():
    table = rng.Ran1Table()
    seed = rng.Seed(-1)
    values = [rng.ran1(seed, table) for _ in range(5)]
    assert all(0.0 < v < 1.0 for v in values)
    # each value is a float32 number
    assert all(rng.f32(v) == v for v in values)
    # a new stream with the same seed after a reseed repeats the sequence
    table2 = rng.Ran1Table()
    assert [rng.ran1(rng.Seed(-1), table2)] == [values[0]]


def test_mosaic_matrices_are_rotations():
    table = rng.Ran1Table()
    seed = rng.Seed(-12345678)
    for _ in range(20):
        axis, factor, ang = rng.mosaic_rotation_draw(0.5 / RTD, seed, table)
        u = np.array(rng.umat_from_axis_angle(axis, ang)).reshape(3, 3)
        assert np.allclose(u @ u.T, np.eye(3), atol=1e-12)
        assert abs(ang) <= 0.5 / RTD * 1.0000001
        assert 0.0 <= factor <= 1.0


def test_umat2misset_inverts_xyz_rotation():
    rx, ry, rz = 0.1, -0.2, 0.3
    v = torch.eye(3, dtype=torch.float64)
    cols = rotate_xyz(v, rx, ry, rz)  # rows: images of x, y, z
    u = cols.T.reshape(-1).tolist()
    got = rng.umat2misset(u)
    assert got == pytest.approx((rx, ry, rz), abs=1e-12)


def test_poisson_deviates_have_the_right_mean():
    gen = rng.NoiseGenerator(-7, rng.Ran1Table())
    for mean in (0.5, 5.0, 50.0, 2e6):
        draws = [gen.poidev(mean) for _ in range(2000 if mean < 1e6 else 200)]
        assert abs(np.mean(draws) - mean) < 5 * math.sqrt(mean / len(draws)) + 1e-9
        assert all(d == int(d) for d in draws) or mean > 1e6


def test_phi_carryover_tables():
    class C:
        phi0, phistep, phisteps = 0.0, 0.25 / RTD, 4

    normal, first = phi_angles(C, "c-parity")
    assert first[0] == 0.0 and normal[0] == C.phistep * 3
    assert normal[1:] == first[1:]
    spec_n, spec_f = phi_angles(C, "spec")
    assert spec_n == spec_f and spec_n[0] == 0.0

    class D:
        phi0, phistep, phisteps = -0.5 / RTD, 0.25 / RTD, 5  # tic 2 is exactly 0

    normal, first = phi_angles(D, "c-parity")
    assert normal[2] == normal[1] == first[2]


def test_rotate_axis_zero_angle_is_identity():
    v = torch.tensor([0.3, -0.0, 0.7], dtype=torch.float64)
    axis = torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64)
    assert torch.equal(
        rotate_axis(v, axis, 0.0), torch.tensor([0.3, 0.0, 0.7], dtype=torch.float64)
    )


def test_sincg_reduced_form_matches_direct_in_float64():
    h = torch.linspace(-7.3, 9.1, 997, dtype=torch.float64)
    h = h[
        (h - torch.round(h)).abs() > 1e-9
    ]  # at exact integers upstream's direct formula is 0/0 noise
    for N in (2.0, 3.0, 5.0, 8.0):
        direct = sincg(math.pi * h, torch.tensor(N, dtype=torch.float64))
        reduced = sincg_index(h, torch.tensor(N, dtype=torch.float64), N)
        assert torch.allclose(direct, reduced, rtol=1e-9, atol=1e-9)

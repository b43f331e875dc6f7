"""The tolerance model and alignment (nbparity.compare) on synthetic contract logs."""

from __future__ import annotations

import copy
import math

import pytest

from nbparity import exitcodes
from nbparity.compare import StructuralMismatch, Tolerance, compare_logs
from nbparity.parse import parse_trace_text

BASE = {
    (3, 7): {
        "pixel": {"fdet_vec": (0.0, 0.0, 1.0), "sdet_vec": (0.0, -1.0, 0.0),
                  "distance_meters": 0.1, "N_cells": (5.0, 5.0, 5.0), "phisteps": 2,
                  "pixel_pos_meters": (0.1, 0.0012, -0.0034)},
        "steps": {(0, 0): {"phi_deg": 0.0, "rot_a_angstroms": (100.0, 0.0, 0.0),
                           "hkl_frac": (0.25, -1.5, 2.0), "hkl_rounded": (0, -1, 2),
                           "F_latt": 12.5},
                  (1, 0): {"phi_deg": 0.5, "rot_a_angstroms": (99.99, 0.87, 0.0),
                           "hkl_frac": (0.26, -1.5, 2.0), "hkl_rounded": (0, -1, 2),
                           "F_latt": 11.5}},
        "final": {"I_before_scaling": 300.0, "I_pixel_final": 17.25},
    }
}


def _compare(ref, cand, **tol):
    return compare_logs(parse_trace_text(ref, "c.log"), parse_trace_text(cand, "py.log"),
                        Tolerance(**tol))


def _mutated(make_log, path, value, engine="PY", **kw):
    pixels = copy.deepcopy(BASE)
    node = pixels[(3, 7)]
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return make_log(engine, pixels, **kw)


def _status(comparison, key, phi_tic=-1):
    rows = comparison.records
    row = rows[(rows.key == key) & (rows.phi_tic == phi_tic)]
    assert len(row) == 1
    return row.iloc[0]


def test_identical_logs_pass_every_record(make_log):
    result = _compare(make_log("C", BASE), make_log("PY", BASE))
    assert set(result.records.status) == {"pass"}
    assert result.exit_code() == exitcodes.PARITY
    assert len(result.records) == 6 + 2 * 5 + 2


def test_scalar_rule_is_relative_to_the_reference(make_log):
    ok = _compare(make_log("C", BASE), _mutated(make_log, ["pixel", "distance_meters"],
                                                0.1 * (1 + 0.9e-6)))
    bad = _compare(make_log("C", BASE), _mutated(make_log, ["pixel", "distance_meters"],
                                                 0.1 * (1 + 1.1e-6)))
    assert _status(ok, "distance_meters").status == "pass"
    row = _status(bad, "distance_meters")
    assert row.status == "fail" and row.rel_err == pytest.approx(1.1e-6, rel=1e-6)
    assert bad.exit_code() == exitcodes.DIVERGED


def test_vector_rule_uses_norms_and_reports_largest_component(make_log):
    cand = _mutated(make_log, ["pixel", "pixel_pos_meters"], (0.1, 0.0012 + 3e-8, -0.0034))
    row = _status(_compare(make_log("C", BASE), cand), "pixel_pos_meters")
    norm = math.sqrt(0.1**2 + 0.0012**2 + 0.0034**2)
    assert row.rel_err == pytest.approx(3e-8 / norm, rel=1e-6)
    assert row.max_component_diff == pytest.approx(3e-8, rel=1e-6)
    assert row.status == "pass"  # 3e-7 relative to the norm... below 1e-6
    tight = _compare(make_log("C", BASE), cand, rtol=1e-7)
    assert _status(tight, "pixel_pos_meters").status == "fail"


def test_per_key_override_and_atol(make_log):
    cand = _mutated(make_log, ["final", "I_pixel_final"], 17.25 + 1e-3)
    ref = make_log("C", BASE)
    assert _status(_compare(ref, cand), "I_pixel_final").status == "fail"
    loose = _compare(ref, cand, per_key={"I_pixel_final": (1e-4, 0.0)})
    assert _status(loose, "I_pixel_final").status == "pass"
    assert _status(_compare(ref, cand, atol=2e-3), "I_pixel_final").status == "pass"


def test_integers_compare_exactly(make_log):
    pixels = copy.deepcopy(BASE)
    pixels[(3, 7)]["steps"][(1, 0)]["hkl_rounded"] = (0, -1, 3)
    result = _compare(make_log("C", BASE), make_log("PY", pixels))
    assert _status(result, "hkl_rounded", phi_tic=1).status == "fail"
    assert _status(result, "hkl_rounded", phi_tic=0).status == "pass"


def test_nan_and_inf_rules(make_log):
    ref_nan = _mutated(make_log, ["final", "I_pixel_final"], float("nan"), engine="C")
    cand_nan = _mutated(make_log, ["final", "I_pixel_final"], float("nan"))
    assert _status(_compare(ref_nan, cand_nan), "I_pixel_final").status == "both-nan"
    assert _status(_compare(ref_nan, cand_nan, nan_equal=True), "I_pixel_final").status == "pass"
    assert _status(_compare(make_log("C", BASE), cand_nan), "I_pixel_final").status == "fail"
    ref_inf = _mutated(make_log, ["final", "I_pixel_final"], float("inf"), engine="C")
    cand_inf = _mutated(make_log, ["final", "I_pixel_final"], float("inf"))
    cand_minf = _mutated(make_log, ["final", "I_pixel_final"], float("-inf"))
    assert _status(_compare(ref_inf, cand_inf), "I_pixel_final").status == "pass"
    assert _status(_compare(ref_inf, cand_minf), "I_pixel_final").status == "fail"
    zero_ref = _mutated(make_log, ["final", "I_pixel_final"], 0.0, engine="C")
    assert _status(_compare(zero_ref, make_log("PY", BASE)), "I_pixel_final").rel_err == math.inf


def test_missing_keys_listed_and_strict_makes_them_structural(make_log):
    pixels = copy.deepcopy(BASE)
    del pixels[(3, 7)]["final"]["I_before_scaling"]
    pixels[(3, 7)]["pixel"]["py_only_key"] = 1.5
    result = _compare(make_log("C", BASE), make_log("PY", pixels))
    statuses = dict(zip(result.records.key, result.records.status))
    assert statuses["I_before_scaling"] == "missing-candidate"
    assert statuses["py_only_key"] == "missing-reference"
    assert result.exit_code() == exitcodes.PARITY
    assert result.exit_code(strict=True) == exitcodes.STRUCTURAL


def test_different_pixels_are_structural(make_log):
    other = {(4, 7): BASE[(3, 7)]}
    with pytest.raises(StructuralMismatch, match=r"different pixels: .*\(3, 7\).*\(4, 7\)"):
        _compare(make_log("C", BASE), make_log("PY", other))


def test_records_come_in_pipeline_order(make_log):
    records = _compare(make_log("C", BASE), make_log("PY", BASE)).records
    stages = list(records.stage)
    assert stages.index("setup") < stages.index("pixel") < stages.index("phi") < \
        stages.index("final")
    steps = records[records.stage == "phi"]
    assert list(steps.phi_tic) == sorted(steps.phi_tic)


def test_precision_limited_printout_is_marked_not_failed(upstream_dir, make_log):
    printout = parse_trace_text((upstream_dir / "cubic_default_F" / "printout_32_32.txt")
                                .read_text(), "printout.txt")
    cand = make_log("PY", {(32, 32): {"final": {
        "I_pixel_final": 149.96244812345,      # agrees with the printed 149.9624481
        "polar_applied": 0.9999865559,
        "omega_applied_sr": 1.6e-05,           # printed 1.599935469e-05: a real difference
        "I_before_scaling": 3.37434e+08 * (1 + 1e-7)}}})
    result = compare_logs(printout, parse_trace_text(cand, "py.log"), Tolerance(rtol=1e-10))
    statuses = dict(zip(result.records.key, result.records.status))
    assert statuses["I_pixel_final"] == "precision-limited"
    assert statuses["I_before_scaling"] == "precision-limited"
    assert statuses["omega_applied_sr"] == "fail"

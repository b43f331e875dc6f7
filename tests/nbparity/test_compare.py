"""The tolerance model and alignment (nbparity.compare) on synthetic contract logs."""

from __future__ import annotations

import copy
import math
import random

import pandas as pd
import pytest

from nbparity import exitcodes, schema
from nbparity.compare import StructuralMismatch, compare_logs
from nbparity.parse import parse_trace_text
from nbparity.tolerance import Tolerance

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


def _steps_log(engine, order=None, drop=(), extra=()):
    # 0.1 as the contract's %.17g prints it (a bare "0.1" is a low-precision value)
    lines = [f"TRACE_{engine}: trace_pixel 3 7",
             f"TRACE_{engine}: distance_meters 0.10000000000000001"]
    steps = [f"TRACE_{engine}_PHI: phi_tic={i} mos_tic={j} {key} {value}"
             for i in range(3) for j in range(2)
             for key, value in (("F_latt_a", 2.5), ("phi_deg", i / 2), ("F_cell", 100 + j),
                                ("hkl_rounded", "1 -2 3"), ("I_term", 0.25 * i))]
    steps = [s for k, s in enumerate(steps) if k not in drop] + list(extra)
    if order is not None:
        steps = [steps[k] for k in order]
    return "\n".join([*lines, *steps, f"TRACE_{engine}: I_pixel_final 17"]) + "\n"


def test_alignment_does_not_depend_on_line_order():
    shuffled = list(range(30))
    random.Random(1).shuffle(shuffled)
    plain = _compare(_steps_log("C"), _steps_log("PY")).records
    mixed = _compare(_steps_log("C"), _steps_log("PY", order=shuffled)).records
    same = [c for c in plain.columns if c != "cand_line"]
    pd.testing.assert_frame_equal(plain[same], mixed[same])
    assert sorted(plain.cand_line) == sorted(mixed.cand_line)


def test_records_missing_on_either_side_sit_in_pipeline_order():
    ref = _steps_log("C", drop=(3, 17))
    cand = _steps_log("PY", drop=(8,), extra=["TRACE_PY_PHI: phi_tic=1 mos_tic=0 py_key 1"])
    records = _compare(ref, cand).records
    statuses = records.status.value_counts().to_dict()
    assert statuses == {"pass": 29, "missing-reference": 3, "missing-candidate": 1}
    rank = records.stage.map(schema.stage_rank)
    key = ["slow", "fast", "_stage", "phi_tic", "mos_tic", "thick", "sub", "src", "order", "key"]
    ordered = records.assign(_stage=rank).sort_values(key, kind="stable").drop(columns="_stage")
    pd.testing.assert_frame_equal(records, ordered.reset_index(drop=True))
    py_key = records[records.key == "py_key"].iloc[0]
    assert (py_key.phi_tic, py_key.status) == (1, "missing-reference")


def test_a_record_held_twice_after_alignment_is_structural():
    # a last-iteration record (phi_tic = -2) lands on the candidate's last step, which this
    # reference also holds
    ref = _steps_log("C", extra=["TRACE_C_PHI: phi_tic=-2 mos_tic=-2 I_term 0.5"])
    with pytest.raises(StructuralMismatch, match="c.log holds record I_term for pixel 3 7 twice"):
        _compare(ref, _steps_log("PY"))


def test_command_line_tolerance_wins_over_the_case_file():
    """trace and gate merge a case's [tolerance] with --tol the same way: --tol wins per key,
    the case's keys still apply, and rtol/atol/nan_equal come from the command line."""
    cli = Tolerance(2e-6, 1e-30, {"F_latt": (1e-3, 0.0)}, nan_equal=True)
    merged = cli.under_case({"F_latt": (0.5, 0.5), "I_pixel_final": (1e-6, 1.4e-45)})
    assert merged.per_key == {"F_latt": (1e-3, 0.0), "I_pixel_final": (1e-6, 1.4e-45)}
    assert (merged.rtol, merged.atol, merged.nan_equal) == (2e-6, 1e-30, True)
    assert cli.per_key == {"F_latt": (1e-3, 0.0)}  # the command line's settings are not changed


def test_keys_outside_the_catalogue_keep_their_log_order():
    from nbparity.compare import compare_logs
    from nbparity.parse import parse_trace_text

    text = ("TRACE_C: zeta_extra 1\nTRACE_C: alpha_extra 2\nTRACE_C: I_pixel_final 3\n"
            "TRACE_C: mid_extra 4\n")
    log = parse_trace_text(text, "c.log")
    keys = list(compare_logs(log, parse_trace_text(text.replace("TRACE_C", "TRACE_PY"),
                                                   "py.log")).records.key)
    extras = [k for k in keys if k.endswith("_extra")]
    assert extras == ["zeta_extra", "alpha_extra", "mid_extra"]

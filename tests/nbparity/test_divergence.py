"""First divergence and its diagnoses (nbparity.divergence) on synthetic contract logs."""

from __future__ import annotations

import copy

from nbparity.compare import compare_logs
from nbparity.divergence import first_divergences
from nbparity.parse import parse_trace_text
from nbparity.tolerance import Tolerance

PIXEL = (20, 45)
ROT0 = {"rot_a_angstroms": (100.0, 0.0, 0.0), "rot_b_angstroms": (0.0, 100.0, 0.0),
        "rot_c_angstroms": (0.0, 0.0, 100.0)}
ROT_LAST = {"rot_a_angstroms": (99.9847695, 1.7452406, 0.0),
            "rot_b_angstroms": (-1.7452406, 99.9847695, 0.0),
            "rot_c_angstroms": (0.0, 0.0, 100.0)}


def _block(rot_at_zero=ROT0, phi0=0.0, pixel_pos=(0.1, 0.0012, -0.0034)):
    return {PIXEL: {
        "pixel": {"fdet_vec": (0.0, 0.0, 1.0), "sdet_vec": (0.0, -1.0, 0.0),
                  "odet_vec": (1.0, 0.0, 0.0), "pixel_pos_meters": pixel_pos,
                  "distance_meters": 0.1},
        "steps": {(0, 0): {"phi_deg": phi0, **rot_at_zero, "F_latt": 3.0},
                  (1, 0): {"phi_deg": 0.5, **ROT0, "F_latt": 4.0},
                  (2, 0): {"phi_deg": 1.0, **ROT_LAST, "F_latt": 5.0}},
        "final": {"I_before_scaling": 50.0, "I_pixel_final": 2.5},
    }}


def _first(ref_text, cand_text, **tol):
    comparison = compare_logs(parse_trace_text(ref_text, "c.log"),
                              parse_trace_text(cand_text, "py.log"), Tolerance(**tol))
    found = first_divergences(comparison)
    return found[0] if found else None


def _with(block, key, value, stage="pixel"):
    block = copy.deepcopy(block)
    block[PIXEL][stage][key] = value
    return block


def test_no_divergence_when_logs_agree(make_log):
    assert _first(make_log("C", _block()), make_log("PY", _block())) is None


def test_carryover_is_named_with_the_mode_switch(make_log):
    ref = make_log("C", _block(rot_at_zero=ROT_LAST), mode="c-parity")
    cand = make_log("PY", _block(), mode="spec")
    found = _first(ref, cand)
    assert found.record.key == "rot_a_angstroms" and found.record.phi_tic == 0
    assert found.last_agreeing.key == "phi_deg"
    assert found.co_roots == ["rot_b_angstroms"]  # one cause, reported once
    assert found.roots_in_pixel == 1
    text = " ".join(found.diagnosis)
    assert "carry-over" in text and "--phi-carryover-mode c-parity" in text


def test_carryover_the_other_way_suggests_spec(make_log):
    ref = make_log("C", _block(), mode="spec")
    cand = make_log("PY", _block(rot_at_zero=ROT_LAST), mode="c-parity")
    text = " ".join(_first(ref, cand).diagnosis)
    assert "carry-over" in text and "--phi-carryover-mode spec" in text


def test_a_rotation_error_at_nonzero_phi_is_not_called_carryover(make_log):
    ref = make_log("C", _block(rot_at_zero=ROT_LAST, phi0=0.25))
    cand = make_log("PY", _block(phi0=0.25))
    found = _first(ref, cand)
    assert found.record.key == "rot_a_angstroms"
    assert not any("carry-over" in d for d in found.diagnosis)


def test_unit_factor_sign_flip_and_swapped_components(make_log):
    ref = make_log("C", _block())
    metres = _first(ref, make_log("PY", _with(_block(), "distance_meters", 100.0)))
    assert metres.record.key == "distance_meters"
    assert any("1e3" in d for d in metres.diagnosis)
    flipped = _first(ref, make_log("PY", _with(_block(), "odet_vec", (-1.0, 0.0, 0.0))))
    assert any("sign flip" in d for d in flipped.diagnosis)
    swapped = _first(ref, make_log("PY", _with(_block(), "pixel_pos_meters",
                                                (0.0012, 0.1, -0.0034))))
    assert any("swapped components" in d for d in swapped.diagnosis)


def test_half_pixel_offset_along_fast(make_log):
    ref = make_log("C", _block())
    shifted = _with(_block(), "pixel_pos_meters", (0.1, 0.0012, -0.0034 + 0.00005))
    found = _first(ref, make_log("PY", shifted))
    assert found.record.key == "pixel_pos_meters"
    assert any("+5e-05 m along fast" in d and "half-pixel" in d for d in found.diagnosis)


def test_slow_fast_swap(make_log):
    # Pixel (20, 45) vs (45, 20) with 0.1 mm pixels: the position moves by 25 pixels along
    # +fast and -25 along slow... i.e. (slow - fast) * pixel along fast, the opposite along slow.
    pixel = 1e-4
    d_fast = (PIXEL[0] - PIXEL[1]) * pixel
    d_slow = -d_fast
    base = (0.1, 0.0012, -0.0034)
    # fdet = (0, 0, 1), sdet = (0, -1, 0)
    moved = (base[0], base[1] - d_slow, base[2] + d_fast)
    found = _first(make_log("C", _block()), make_log("PY", _with(_block(), "pixel_pos_meters",
                                                                  moved)))
    assert any("slow/fast swap" in d and "(45, 20)" in d for d in found.diagnosis)


def test_float32_rounding_is_recognised(make_log):
    ref = make_log("C", _block())
    cand = make_log("PY", _with(_block(), "distance_meters", 0.1 * (1 + 3e-8)),
                    dtype="float32")
    found = _first(ref, cand, rtol=1e-8)
    assert any("float32 rounding" in d for d in found.diagnosis)
    plain = make_log("PY", _with(_block(), "distance_meters", 0.1 * (1 + 3e-8)))
    assert not any("float32" in d for d in _first(ref, plain, rtol=1e-8).diagnosis)


def test_float32_rounding_near_zero_advises_an_absolute_tolerance(make_log):
    """Under float32's rtol already, float32 rounding of a step value near zero (its key's
    scale in the pixel set by other steps) is a large relative error: the advice is an
    absolute tolerance at the key's scale, not --rtol 1e-4 again."""
    def block(small):
        return {PIXEL: {"steps": {(0, 0): {"F_latt": 1000.0}, (1, 0): {"F_latt": small}}}}

    ref = make_log("C", block(0.001))
    cand = make_log("PY", block(0.001 + 1e-6), dtype="float32")
    found = _first(ref, cand, rtol=1e-4)
    assert found is not None and found.record.key == "F_latt"
    text = " ".join(found.diagnosis)
    assert "float32 rounding" in text and "--tol F_latt=RTOL,ATOL" in text
    assert "--rtol 1e-4" not in text
    assert "--rtol 1e-4" in " ".join(_first(ref, cand, rtol=1e-8).diagnosis)


# --------------------------------------------------------------------------- causal roots

def test_both_sides_carrying_is_never_called_a_carryover(make_log):
    """Both logs carry the last step's vectors into φ=0 (both c-parity) and differ elsewhere:
    no carry-over advice (it would make things worse)."""
    ref = make_log("C", _block(rot_at_zero=ROT_LAST), mode="c-parity")
    block = _block(rot_at_zero=ROT_LAST)
    block[PIXEL]["steps"][(0, 0)]["F_latt"] = 3.5
    cand = make_log("PY", block, mode="c-parity")
    found = _first(ref, cand)
    assert found.record.key == "F_latt"
    assert not any("carry-over" in d for d in found.diagnosis)


def test_carryover_is_named_from_the_reference_alone(make_log):
    """The candidate prints only final values; the reference's φ step 0 equals its last step
    while the spindle moves."""
    ref = make_log("C", _block(rot_at_zero=ROT_LAST), mode="c-parity")
    block = _block()
    block[PIXEL]["steps"] = {}
    block[PIXEL]["final"]["I_before_scaling"] = 62.0
    found = _first(ref, make_log("PY", block, mode="spec"))
    assert found.record.key == "I_before_scaling"
    carry = [f for f in found.findings if f.signature == "carry-over"]
    assert carry and carry[0].confidence == "likely"
    assert "does not print the rotated vectors" in carry[0].text


def test_a_reference_without_carryover_names_nothing_from_one_log(make_log):
    ref = make_log("C", _block(), mode="c-parity")  # φ step 0 is the true orientation
    block = _block()
    block[PIXEL]["steps"] = {}
    block[PIXEL]["final"]["I_before_scaling"] = 62.0
    found = _first(ref, make_log("PY", block, mode="spec"))
    assert not any(f.signature == "carry-over" for f in found.findings)


def test_independent_roots_are_all_reported_and_descendants_counted(make_log):
    """Two unrelated faults: distance (setup) and F_latt at one step; I_before_scaling follows
    F_latt; pixel_pos passes, so the distance does not explain F_latt."""
    cand = _with(_block(), "distance_meters", 0.2)
    cand[PIXEL]["steps"][(1, 0)]["F_latt"] = 4.5
    cand[PIXEL]["final"]["I_before_scaling"] = 51.0
    found = first_divergences(compare_logs(parse_trace_text(make_log("C", _block()), "c.log"),
                                           parse_trace_text(make_log("PY", cand), "py.log")))
    assert [(d.record.key, d.rank) for d in found] == [("distance_meters", 1), ("F_latt", 2)]
    assert found[0].roots_in_pixel == 2
    assert found[1].propagated == 1  # I_before_scaling, from F_latt


def test_float32_level_differences_are_labelled_not_roots(make_log):
    """A float32 candidate: pix0 off by 7e-6 (rounding) and the rotated vectors at φ step 0 off
    by 1e-3 (a real fault): the root is the rotation, and I_before_scaling's large error is
    propagated from it, not from pix0."""
    pix0 = (0.1, 0.0012, -0.0034)
    ref_block = _block()
    ref_block[PIXEL]["pixel"]["pix0_vector_meters"] = pix0
    cand_block = copy.deepcopy(ref_block)
    cand_block[PIXEL]["pixel"]["pix0_vector_meters"] = tuple(v * (1 + 7e-6) for v in pix0)
    cand_block[PIXEL]["steps"][(0, 0)]["rot_a_angstroms"] = (100.1, 0.0, 0.0)
    cand_block[PIXEL]["final"]["I_before_scaling"] = 38.0
    found = _first(make_log("C", ref_block), make_log("PY", cand_block, dtype="float32"))
    assert found.record.key == "rot_a_angstroms" and found.roots_in_pixel == 1
    assert found.propagated == 1
    assert found.precision is not None and found.precision.worst.key == "pix0_vector_meters"


def test_subpixel_position_against_pixel_centre(make_log):
    """Oversample 3: the contract's position is sub-pixel (0,0); the candidate printed the
    pixel centre, pixel·(N−1)/(2N) further along fast and slow."""
    pixel, n = 1e-4, 3
    shift = pixel * (n - 1) / (2 * n)
    base = (0.1, 0.0012, -0.0034)  # fdet = (0, 0, 1), sdet = (0, -1, 0)
    ref = _block()
    ref[PIXEL]["pixel"]["oversample"] = 3
    cand = _with(ref, "pixel_pos_meters", (base[0], base[1] - shift, base[2] + shift))
    found = _first(make_log("C", ref), make_log("PY", cand))
    sub = [f for f in found.findings if f.signature == "subpixel-position"]
    assert sub and "sub-pixel (0,0)" in sub[0].text and "N=3" in sub[0].text
    # a half-pixel offset along fast only is not this signature
    half = _with(ref, "pixel_pos_meters", (base[0], base[1], base[2] + pixel / 2))
    assert not any(f.signature == "subpixel-position"
                   for f in _first(make_log("C", ref), make_log("PY", half)).findings)


def test_one_cause_at_several_mosaic_domains_is_reported_once(make_log):
    """The carry-over fails the rotated vectors at φ step 0 of every mosaic domain: one root,
    with the other steps listed."""
    def with_domain(block):
        steps = block[PIXEL]["steps"]
        for (phi_tic, _), keys in list(steps.items()):
            steps[(phi_tic, 1)] = dict(keys)
        return block

    ref = make_log("C", with_domain(_block(rot_at_zero=ROT_LAST)), mode="c-parity")
    cand = make_log("PY", with_domain(_block()), mode="spec")
    found = first_divergences(compare_logs(parse_trace_text(ref, "c.log"),
                                           parse_trace_text(cand, "py.log")))
    assert len(found) == 1 and found[0].also_at == [(0, 1)]
    assert any(f.signature == "carry-over" for f in found[0].findings)


def test_a_key_failing_at_every_step_for_no_known_reason_is_one_cause(make_log):
    """rot_a off at each of 50 steps, inputs agreeing: one root with 49 more steps, not 50
    roots (the walk over a pixel's failures is linear: evidence is gathered once per pixel)."""
    def block(shift):
        steps = {(t, 0): {"phi_deg": 0.1 * t, "rot_a_angstroms": (100.0 + shift * t, 1.0, 0.0),
                          "F_latt": 3.0 + shift * t} for t in range(50)}
        return {PIXEL: {"pixel": {"fdet_vec": (0.0, 0.0, 1.0)}, "steps": steps,
                        "final": {"I_pixel_final": 1.0 + shift}}}

    found = first_divergences(compare_logs(parse_trace_text(make_log("C", block(0.0)), "c"),
                                           parse_trace_text(make_log("PY", block(0.01)), "p")))
    assert [(d.record.key, d.record.phi_tic) for d in found] == [("rot_a_angstroms", 1)]
    assert len(found[0].also_at) == 48 and found[0].also_at[0] == (2, 0)
    assert found[0].propagated == 49 + 1  # F_latt at each failing step, and I_pixel_final

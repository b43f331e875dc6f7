"""The pytest plugin: `assert_parity` as a fixture, from files and from text."""

from __future__ import annotations

import pytest

BLOCK = {(1, 2): {"pixel": {"distance_meters": 0.1},
                  "steps": {(0, 0): {"F_latt": 3.0}}, "final": {"I_pixel_final": 2.0}}}


def test_fixture_passes_on_parity_and_returns_the_comparison(assert_parity, make_log, tmp_path):
    c = tmp_path / "c.log"
    c.write_text(make_log("C", BLOCK))
    comparison = assert_parity(c, make_log("PY", BLOCK))
    assert len(comparison.records) == 3


def test_fixture_fails_with_the_first_divergence(assert_parity, make_log):
    bad = {(1, 2): {**BLOCK[(1, 2)], "steps": {(0, 0): {"F_latt": 3.1}},
                    "final": {"I_pixel_final": 2.2}}}
    with pytest.raises(AssertionError) as info:
        assert_parity(make_log("C", BLOCK), make_log("PY", bad))
    text = str(info.value)
    assert "first divergence: pixel (1, 2) phi_tic=0 mos_tic=0 phi/F_latt" in text
    assert "2 failed" in text
    assert_parity(make_log("C", BLOCK), make_log("PY", bad), tol={"F_latt": (0.1, 0.0),
                                                                  "I_pixel_final": (0.2, 0.0)})


def test_strict_mode_fails_on_missing_keys(assert_parity, make_log):
    fewer = {(1, 2): {"pixel": {"distance_meters": 0.1}, "final": {"I_pixel_final": 2.0}}}
    assert_parity(make_log("C", BLOCK), make_log("PY", fewer))
    with pytest.raises(AssertionError, match="keys missing on one side: F_latt"):
        assert_parity(make_log("C", BLOCK), make_log("PY", fewer), strict=True)


def test_assert_parity_takes_a_key_map_and_shows_the_fix(tmp_path):
    from nbparity.pytest_plugin import assert_parity

    keymap = tmp_path / "k.toml"
    keymap.write_text('my_distance = { to = "distance_meters", factor = 1e-3 }\n')
    reference = "TRACE_C: trace_pixel 1 2\nTRACE_C: distance_meters 0.1\n"
    assert_parity(reference, "TRACE_PY: trace_pixel 1 2\nTRACE_PY: my_distance 100\n",
                  keymap=keymap)
    with pytest.raises(AssertionError, match=r"unit factor.*Fix: .*\[certain\]"):
        assert_parity(reference, "TRACE_PY: trace_pixel 1 2\nTRACE_PY: distance_meters 100\n")

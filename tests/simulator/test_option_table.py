"""The option table (simulator/options.py, issue 15): one entry per option, each handler runs."""

from __future__ import annotations

import pytest

import simulator.cli
from simulator.options import OPTIONS, UsageError, apply_options, defaults, split_argv

#: a valid value token for the options whose values are words or need a particular number
WORDS = {
    "-pivot": "sample",
    "-phi_carryover_mode": "c-parity",
    "-device": "cpu",
    "-dtype": "float32",
    "-geometry_dtype": "float32",
    "-omp_threads": "2",
}


def _values(name, option):
    if option.count == -6:
        return ["30", "40", "50", "90", "90", "90"]
    if option.count == -3:
        return ["1", "2", "3"]
    if option.count == 0:
        return []
    return [WORDS.get(name, "2")] * option.count


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_option_reads_and_applies_a_value(name):
    option = OPTIONS[name]
    argv = [name, *_values(name, option)]
    if option.count == 0 and name.startswith("-curved"):
        argv.append("-nonoise")  # nanoBragg needs a token after -curved_det
    pairs = split_argv(argv)
    assert pairs[0][0] == name
    s = defaults()
    apply_options(s, pairs)
    assert set(s) >= set(defaults())  # a handler adds no setting the defaults do not name


def test_the_command_line_view_is_the_table():
    assert simulator.cli._OPTS == {name: o.count for name, o in OPTIONS.items()}


def test_values_are_read_in_command_line_order_after_splitting():
    pairs = split_argv(["-N", "x", "-lambda", "-1"])  # splitting reads no value
    with pytest.raises(UsageError, match="bad value for -N: 'x'"):
        apply_options(defaults(), pairs)


def test_units_are_converted_by_the_table():
    s = apply_options(defaults(), split_argv(
        ["-distance", "90", "-phi", "180", "-lambda", "1", "-detector_thick", "100",
         "-dispersion", "2", "-divergence", "1", "-dmin", "2", "-energy", "12398.42"]
    ))  # fmt: skip
    assert s["distance"] == 90 / 1000.0
    assert s["phi0"] == pytest.approx(3.141592653589793)
    assert s["detector_thick"] == 100 * 1e-6
    assert s["dispersion"] == 0.02
    assert s["hdivrange"] == s["vdivrange"] == 1e-3
    assert s["dmin"] == 2e-10
    assert s["lambda0"] == pytest.approx(1e-10)  # -energy came last

"""The option table (simulator/options.py, issue 15): one entry per option, each handler runs."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest

from simulator.options import OPTIONS, UsageError, apply_options, defaults, split_argv

#: the C reference's option parser (its option names are string literals there)
C_OPTIONS_SOURCE = Path(__file__).resolve().parents[2] / "c_reference" / "src" / "options.c"

#: options of this engine alone, which the C reference does not take
ENGINE_ONLY = {"-device", "-dtype", "-geometry_dtype", "-memory_budget_gb", "-trace_only"}

#: a valid value token for the options whose values are words or need a particular number
#: (-device: not the default, so that storing it changes the settings)
WORDS = {
    "-pivot": "sample",
    "-phi_carryover_mode": "c-parity",
    "-device": "cuda",
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


#: options whose handler honestly changes no setting
NO_EFFECT = {
    # nanoBragg accepts them, reads the value and ignores it (options.c's IGNORED_VALUE, and
    # -coherent, which takes no value)
    "-MW", "-coherent", "-density", "-molec", "-molecular_weight", "-molecules", "-sample_den",
    "-sample_density", "-stolout",
    # their image headers are read before the options (simulator.setup.smv), the value is only
    # skipped here
    "-img", "-mask",
}  # fmt: skip

#: options that set their settings to the defaults -> an option that first moves them away
SETS_THE_DEFAULT = {
    "-mosflm": "-xds",
    "-progress": "-noprogress",
    "-round_div": "-square_div",
    "-square_xtal": "-round_xtal",
}


@pytest.mark.parametrize("name", sorted(OPTIONS))
def test_every_option_reads_and_applies_a_value(name):
    option = OPTIONS[name]
    argv = [name, *_values(name, option)]
    if option.count == 0 and name.startswith("-curved"):
        argv.append("-nonoise")  # nanoBragg needs a token after -curved_det
    pairs = split_argv(argv)
    assert pairs[0][0] == name
    s = defaults()
    if name in SETS_THE_DEFAULT:
        apply_options(s, split_argv([SETS_THE_DEFAULT[name]]))
        assert s != defaults()
    before = copy.deepcopy(s)
    apply_options(s, pairs[:1])  # the option alone (not -curved_det's following -nonoise)
    assert set(s) == set(defaults())  # a handler adds no setting the defaults do not name
    if name in NO_EFFECT:
        assert s == before
    else:
        assert s != before  # the option sets something
        if name in SETS_THE_DEFAULT:
            assert s == defaults()


def test_no_effect_lists_name_options():
    assert NO_EFFECT <= set(OPTIONS) and set(SETS_THE_DEFAULT) <= set(OPTIONS)
    assert not NO_EFFECT & set(SETS_THE_DEFAULT)


def test_the_table_holds_the_c_references_options_and_this_engines():
    c_names = set(re.findall(r'"(-\w+)"', C_OPTIONS_SOURCE.read_text()))
    assert len(c_names) > 150  # the parser's names were found
    assert set(OPTIONS) == c_names | ENGINE_ONLY
    assert not c_names & ENGINE_ONLY


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

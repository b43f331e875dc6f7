"""Key maps (nbparity.keymap): the built-in alias table, user TOML maps, and how the readers
apply them (renames, unit factors, component picks, placement, clashes)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from nbparity import keymap
from nbparity.cli import cli
from nbparity.compare import compare_logs
from nbparity.keymap import BUILTIN, Alias, KeyMapError, load_keymap, parse_keymap_text
from nbparity.parse import parse_trace_file, parse_trace_text


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _status(comparison, key, phi_tic=-1):
    rows = comparison.records
    rows = rows[(rows.key == key) & (rows.phi_tic == phi_tic)]
    assert len(rows) == 1, key
    return rows.iloc[0]


def test_builtin_table_holds_the_known_names_with_their_units():
    assert BUILTIN.get("lambda_meters") == Alias("lambda_angstroms", factor=1e10)
    assert BUILTIN.get("k_frac") == Alias("hkl_frac", 1)
    for printed, target in (("pix0_vector", "pix0_vector_meters"),
                            ("omega_pixel", "omega_pixel_sr"), ("distance_m", "distance_meters"),
                            ("r_e_sqr", "r_e_sqr_m2"), ("I_before_scaling_pre_polar",
                                                        "I_before_scaling"),
                            ("F_cell_interpolated", "F_cell"), ("F_cell_nearest", "F_cell"),
                            ("fdet_after_twotheta", "fdet_vec")):
        assert BUILTIN.get(printed).target == target, printed
    assert "fdet_after_rotz" not in BUILTIN  # an intermediate vector: no contract key
    assert "rot_a_star_A_inv" not in BUILTIN
    # the parse module no longer has a table of its own
    from nbparity import parse
    assert not hasattr(parse, "LEGACY_KEYS")


def test_builtin_map_renames_and_scales_lambda_meters(make_log, tmp_path):
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text("TRACE_C: lambda_meters 9.768e-11\nTRACE_C: distance_m 0.231274\n")
    p.write_text(make_log("PY", {(1, 2): {"pixel": {"lambda_angstroms": 0.9768,
                                                    "distance_meters": 0.231274}}}))
    result = _run("diff", c, p, "--format", "json")
    assert result.exit_code == 0, result.output
    records = {r["key"]: r for r in json.loads(result.output)["records"]}
    assert records["lambda_angstroms"]["status"] in ("pass", "precision-limited")
    assert records["lambda_angstroms"]["ref"] == "9.768e-11 (x1e+10)"
    assert records["distance_meters"]["status"] in ("pass", "precision-limited")
    wrong = tmp_path / "wrong.log"
    wrong.write_text(make_log("PY", {(1, 2): {"pixel": {"lambda_angstroms": 0.9868,
                                                        "distance_meters": 0.231274}}}))
    assert _run("diff", c, wrong).exit_code == 1


USER_MAP = '''\
# a port's own names
wavelength_m = { to = "lambda_angstroms", factor = 1e10 }
kk = "hkl_frac[1]"
hh = { to = "hkl_frac", component = 0 }
om = { to = "omega_pixel_sr", placement = "pixel" }
Fc = { to = "F_cell", placement = "step" }
"ROTSTAR.ap_y" = "rot_a_star_y"
'''


def test_user_keymap_renames_scales_picks_and_places(tmp_path):
    path = tmp_path / "port.keymap.toml"
    path.write_text(USER_MAP)
    kmap = load_keymap(path)
    assert kmap.get("kk") == Alias("hkl_frac", 1, origin=f"{path}:3")
    log = parse_trace_text(
        "TRACE_PY: wavelength_m 9.768e-11\n"
        "TRACE_PY: Fc 12.5\n"
        "TRACE_PY_PHI phi_tic=0 hh=0.25 kk=-1.5 om=1.5e-7\n"
        "TRACE_PY_ROTSTAR phi_tic=0 ap_y=0.0123\n"
        "TRACE_PY: k_frac 9\n"
        "TRACE_PY: unmapped_key 3\n", "py.log", keymap=kmap)
    rows = {(r.key, r.phi_tic): r for r in log.records.itertuples()}
    assert rows[("lambda_angstroms", -1)].v0 == pytest.approx(0.9768)
    hkl = rows[("hkl_frac", 0)]
    assert (hkl.v0, hkl.v1, hkl.mask) == (0.25, -1.5, 0b011)
    assert rows[("omega_pixel_sr", -1)].stage == "pixel"  # placed at pixel level
    assert rows[("F_cell", 0)].mos_tic == 0  # placed at step level: the first step
    assert ("ROTSTAR.rot_a_star_y", 0) not in rows and ("rot_a_star_y", 0) in rows
    assert ("hkl_frac", -1) in rows  # the built-in alias still applies under a user map
    assert ("unmapped_key", -1) in rows  # a name no map knows stays itself
    contract = parse_trace_text(
        "TRACE_C: trace_pixel 1 2\nTRACE_C: lambda_angstroms 0.9768\n"
        "TRACE_C: omega_pixel_sr 1.5e-07\n"
        "TRACE_C_PHI: phi_tic=0 mos_tic=0 hkl_frac 0.25 -1.5 3\n"
        "TRACE_C_PHI: phi_tic=0 mos_tic=0 F_cell 12.5\n", "c.log")
    result = compare_logs(contract, log)
    assert _status(result, "lambda_angstroms").status in ("pass", "precision-limited")
    assert _status(result, "hkl_frac", 0).status in ("pass", "precision-limited")
    assert _status(result, "F_cell", 0).status in ("pass", "precision-limited")
    assert _status(result, "omega_pixel_sr").status in ("pass", "precision-limited")


def test_keymap_option_on_diff_and_first_divergence(tmp_path):
    kmap = tmp_path / "m.toml"
    kmap.write_text('wavelength_m = { to = "lambda_angstroms", factor = 1e10 }\n')
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text("TRACE_C: lambda_angstroms 0.9768\n")
    p.write_text("TRACE_PY: wavelength_m 9.768e-11\n")
    assert _run("diff", c, p).exit_code == 3  # nothing in common without the map
    for command in ("diff", "first-divergence"):
        assert _run(command, c, p, "--keymap", kmap).exit_code == 0
    assert _run("diff", c, p, "--candidate-keymap", kmap).exit_code == 0
    assert _run("diff", c, p, "--reference-keymap", kmap).exit_code == 3


def test_a_user_keymap_applies_to_contract_logs_and_their_fast_path(make_log, tmp_path):
    block = {(1, 2): {"pixel": {"polar": 0.5},
                      "steps": {(0, 0): {"F_latt": 2.0}, (1, 0): {"F_latt": 3.0}}}}
    ref = parse_trace_text(make_log("C", block), "c.log")
    kmap = parse_keymap_text('F_latt = { to = "F_latt_scaled", factor = 2 }\n', "m.toml")
    cand = parse_trace_text(make_log("PY", block), "py.log", keymap=kmap)
    values = dict(zip(zip(cand.records.key, cand.records.phi_tic), cand.records.v0))
    assert values[("F_latt_scaled", 1)] == 6.0 and ("F_latt", 1) not in values
    assert set(compare_logs(ref, ref).records.status) == {"pass"}


def test_an_alias_never_overwrites_the_contract_name_the_log_prints():
    log = parse_trace_text("TRACE_C: lambda_angstroms 0.9768\nTRACE_C: lambda_meters 9.9e-11\n"
                           "TRACE_C: hkl_frac 1 2 3\nTRACE_C: k_frac 7\n", "c.log")
    values = dict(zip(log.records.key, log.records.text))
    assert values["lambda_angstroms"] == "0.9768" and values["lambda_meters"] == "9.9e-11"
    assert values["hkl_frac"] == "1 2 3" and values["k_frac"] == "7"
    clashes = {note["key"]: note for note in log.notes if note["kind"] == "alias clash"}
    assert set(clashes) == {"lambda_meters", "k_frac"}
    assert clashes["lambda_meters"]["lines"] == [2]
    assert "also prints" in clashes["lambda_meters"]["text"]


@pytest.mark.parametrize("text, where", [
    ("a = \n", "m.toml:1: not valid TOML"),
    ('\n\nx = "hkl_frac[7]"\n', "m.toml:3: x: hkl_frac has 3 component(s), no component 7"),
    ('y = { to = "polar", factor = 0 }\n', "m.toml:1: y: factor must be a finite non-zero"),
    ('y = { to = "polar", scale = 2 }\n', "m.toml:1: y: unknown field 'scale'"),
    ('y = { to = "polar", placement = "row" }\n', "m.toml:1: y: placement must be"),
    ("y = 3\n", "m.toml:1: y: expected"),
    ('ROTSTAR.ap_y = "x"\n', "m.toml:1: ROTSTAR: a table needs 'to'"),
    ('y = "two words"\n', "m.toml:1: y: target 'two words' is not NAME or NAME[i]"),
    ('y = { to = "hkl_rounded", factor = 2 }\n', "m.toml:1: y: a factor applies to real"),
    ('[keys]\ny = "polar"\nz = { to = "polar", component = -1 }\n',
     "m.toml:3: z: component must be an integer >= 0"),
])
def test_bad_keymaps_are_one_line_naming_file_line_and_key(tmp_path, text, where):
    path = tmp_path / "m.toml"
    path.write_text(text)
    with pytest.raises(KeyMapError) as info:
        load_keymap(path)
    message = str(info.value)
    assert message.startswith(str(tmp_path / where)), message
    assert "\n" not in message
    c = tmp_path / "c.log"
    c.write_text("TRACE_C: polar 0.5\n")
    result = _run("diff", c, c, "--keymap", path)
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_keymap_file_is_a_usage_error(tmp_path):
    c = tmp_path / "c.log"
    c.write_text("TRACE_C: polar 0.5\n")
    result = _run("diff", c, c, "--keymap", tmp_path / "none.toml")
    assert result.exit_code == 2 and "cannot read key map" in result.output


def test_keys_table_and_parse_trace_file_keymap(tmp_path):
    kmap = parse_keymap_text('[keys]\nwl = { to = "lambda_angstroms", factor = 1e10 }\n')
    assert len(kmap) == 1 and "wl" in kmap and kmap.names == {"wl"}
    path = tmp_path / "py.log"
    path.write_text("TRACE_PY: wl 1e-10\n")
    log = parse_trace_file(path, keymap=kmap)
    assert log.records.key.tolist() == ["lambda_angstroms"]
    assert log.records.v0.tolist() == [pytest.approx(1.0)]
    assert keymap.KeyMap().over(BUILTIN).get("k_frac") == BUILTIN.get("k_frac")


def test_a_mapped_name_whose_values_do_not_fit_is_skipped_not_fatal(make_log):
    kmap = parse_keymap_text('wl = "pix0_vector_meters"\n', "m.toml")
    text = make_log("PY", {(1, 2): {"pixel": {"polar": 0.5, "wl": 1.0}}})
    log = parse_trace_text(text, "py.log", keymap=kmap)
    assert [item["shape"] for item in log.skipped] == [
        "TRACE_PY: pix0_vector_meters (as wl): 1 value(s), the contract's key takes 3"]
    assert "polar" in set(log.records.key)


LEGACY = __import__("pathlib").Path(__file__).parents[1] / "data" / "legacy"


def test_an_instrumented_c_log_against_a_ports_log_through_the_builtin_map():
    """Fixtures: a C build printing nanoBragg's names and units, a port printing the contract's
    names in its own shapes; the built-in table lines them up."""
    c, p = LEGACY / "c_instrumented.log", LEGACY / "py_port.log"
    result = _run("diff", c, p, "--format", "json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    statuses = {(r["key"], r["phi_tic"]): r["status"] for r in data["records"]}
    for key in ("pix0_vector_meters", "distance_meters", "lambda_angstroms", "omega_pixel_sr",
                "r_e_sqr_m2", "I_before_scaling", "detector_convention", "angles_rad.rotx",
                "a_star"):
        assert statuses[(key, -1)] == "pass", key
    for key in ("phi_deg", "hkl_frac", "F_latt"):
        assert statuses[(key, 0)] == statuses[(key, 1)] == "pass", key
    assert statuses[("hkl_rounded", 0)] == "pass"
    assert statuses[("TRICUBIC.[0,1,2]", -1)] == "missing-reference"
    assert [s["line"] for s in data["logs"]["reference"]["skipped"]] == [16]
    assert data["logs"]["candidate"]["skipped"] == []
    assert _run("diff", c, p, "--strict").exit_code == 3
    assert _run("first-divergence", c, p).exit_code == 0


def test_component_picks_onto_a_key_outside_the_catalogue_merge():
    kmap = parse_keymap_text('kk = "myvec[1]"\njj = "myvec[0]"\n')
    log = parse_trace_text("TRACE_C: kk 2\nTRACE_C: jj 1\n", "c.log", keymap=kmap)
    row = log.records.iloc[0]
    assert (row.key, row.text, row.v0, row.v1) == ("myvec", "1 2", 1.0, 2.0)

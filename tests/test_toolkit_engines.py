"""The toolkit through real engine runs: trace bundles, the carry-over diagnosis, the gate."""

from __future__ import annotations

import json
import re

from click.testing import CliRunner

from nbparity.cli import cli
from nbparity.parse import parse_trace_file


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def test_trace_carryover_case_diverges_in_spec_and_passes_in_c_parity(c_binary, upstream_dir,
                                                                       tmp_path):
    args_file = upstream_dir / "phi_carryover" / "args.txt"
    spec = _run("trace", "--args-file", args_file, "--pixel", 33, 21, "--out", tmp_path / "spec")
    assert spec.exit_code == 1, spec.output
    assert "first divergence: pixel (33, 21) phi_tic=0 mos_tic=0 phi/rot_a_angstroms" in \
        spec.output
    assert "carry-over" in spec.output and "--phi-carryover-mode c-parity" in spec.output
    parity = _run("trace", "--args-file", args_file, "--pixel", 33, 21, "--out",
                  tmp_path / "cp", "--phi-carryover-mode", "c-parity")
    assert parity.exit_code == 0, parity.output
    assert "PARITY" in parity.output
    manifest = json.loads((tmp_path / "cp" / "run.json").read_text())
    assert manifest["phi_carryover_mode"]["py"] == "c-parity"
    assert set(manifest["files_sha256"]) == {"c.log", "py.log"}
    # The bundle's logs are the comparison's inputs: diff on them agrees with trace.
    diff = _run("diff", tmp_path / "cp" / "c.log", tmp_path / "cp" / "py.log", "--format", "json")
    assert diff.exit_code == 0
    assert json.loads(diff.output)["summary"]["failed"] == 0


def test_both_engines_emit_every_catalogue_key_the_case_needs(c_binary, upstream_dir, tmp_path):
    from nbparity import schema

    result = _run("trace", "--args-file", upstream_dir / "mosaic" / "args.txt", "--pixel", 32, 32,
                  "--out", tmp_path / "b", "--phi-carryover-mode", "c-parity")
    assert result.exit_code == 0, result.output
    for name in ("c.log", "py.log"):
        keys = set(parse_trace_file(tmp_path / "b" / name).records.key)
        assert {k.name for k in schema.CATALOGUE} <= keys, name


def test_spec_against_spec_passes(c_binary, upstream_dir, tmp_path):
    result = _run("trace", "--args-file", upstream_dir / "roi_carryover" / "args.txt",
                  "--pixel", 5, 10, "--pixel", 30, 30, "--c-mode", "spec",
                  "--out", tmp_path / "b")
    assert result.exit_code == 0, result.output


def test_float32_candidate_is_diagnosed_as_rounding(c_binary, upstream_dir, tmp_path):
    result = _run("trace", "--args-file", upstream_dir / "cubic_default_F" / "args.txt",
                  "--pixel", 20, 45, "--dtype", "float32", "--rtol", "1e-9",
                  "--out", tmp_path / "b")
    assert result.exit_code == 1, result.output
    assert "float32 rounding" in result.output


def test_gate_on_a_small_case_file_in_both_pairings(c_binary, tmp_path, upstream_dir):
    cases = tmp_path / "cases.toml"
    cases.write_text(
        "[[case]]\n"
        'name = "carry"\n'
        f'folder = "{upstream_dir / "phi_carryover"}"\n'
        'args = "-cell 60 60 60 90 90 90 -hkl P1.hkl -misset 5 -3 7 -phi 0 -osc 1 -phisteps 5 '
        '-lambda 1 -distance 100 -detpixels 64 -pixel 0.3 -N 6"\n'
        "pixels = [[0, 0], [33, 21]]\n")
    junit = tmp_path / "gate.xml"
    result = _run("gate", cases, "--junit", junit)
    assert result.exit_code == 0, result.output
    assert "gate: 2 of 2 case runs at parity" in result.output
    assert 'failures="0"' in junit.read_text()


def test_stock_printout_of_real_nanobragg_diffs_against_a_torch_trace(upstream_dir, tmp_path):
    """Upstream's own -printout_pixel text (legacy input) against a fresh torch trace."""
    folder = upstream_dir / "matrix_file"
    traced = _run("trace", "--engine", "py", "--args-file", folder / "args.txt", "--pixel", 40,
                  40, "--phi-carryover-mode", "c-parity", "--out", tmp_path / "b")
    assert traced.exit_code == 0, traced.output
    result = _run("diff", folder / "printout_40_40.txt", tmp_path / "b" / "py.log",
                  "--format", "json")
    assert result.exit_code == 0, result.output
    records = {r["key"]: r["status"] for r in json.loads(result.output)["records"]}
    for key in ("I_pixel_final", "polar_applied", "omega_applied_sr", "rot_a_angstroms"):
        assert records[key] == "pass", key
    assert records["hkl_frac"] == "precision-limited"  # printed with %f: 6 decimals


def test_a_stock_printout_compares_on_either_side_and_against_a_printout(upstream_dir, tmp_path):
    """The printout's last-iteration values stand at the other log's last step whichever side
    it is on (as candidate its F_cell was never compared: exit 3 for a right printout, and a
    wrong one between two printouts passed)."""
    folder = upstream_dir / "matrix_file"
    printout = folder / "printout_40_40.txt"
    traced = _run("trace", "--engine", "py", "--args-file", folder / "args.txt", "--pixel", 40,
                  40, "--phi-carryover-mode", "c-parity", "--out", tmp_path / "b")
    assert traced.exit_code == 0, traced.output
    py_log = tmp_path / "b" / "py.log"
    text = printout.read_text()
    F_cell = re.search(r"F_cell=(\S+)", text).group(1)
    wrong = tmp_path / "wrong.txt"
    wrong.write_text(text.replace(f"F_cell={F_cell}", f"F_cell={float(F_cell) * 2 + 1:g}"))
    for reference, candidate, expected in ((py_log, printout, 0), (py_log, wrong, 1),
                                           (printout, printout, 0), (printout, wrong, 1),
                                           (wrong, py_log, 1)):
        result = _run("diff", reference, candidate, "--format", "json")
        assert result.exit_code == expected, (reference.name, candidate.name, result.output)
        statuses = {r["key"]: r["status"] for r in json.loads(result.output)["records"]}
        right = ("pass", "precision-limited")  # %g printout digits
        assert statuses["F_cell"] in (right if expected == 0 else ("fail",))

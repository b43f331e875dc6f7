"""`nbparity diff` and `nbparity first-divergence` through click's runner."""

from __future__ import annotations

import copy
import json
import xml.etree.ElementTree as ET

import pytest
from click.testing import CliRunner

from nbparity.cli import cli

PIXEL = (3, 7)
BLOCK = {PIXEL: {
    "pixel": {"fdet_vec": (0.0, 0.0, 1.0), "distance_meters": 0.1},
    "steps": {(0, 0): {"phi_deg": 0.0, "F_latt": 12.5}, (1, 0): {"phi_deg": 0.5, "F_latt": 2.0}},
    "final": {"I_pixel_final": 17.25},
}}


@pytest.fixture
def logs(tmp_path, make_log):
    def write(cand_block=BLOCK, ref_block=BLOCK):
        c, p = tmp_path / "c.log", tmp_path / "py.log"
        c.write_text(make_log("C", ref_block))
        p.write_text(make_log("PY", cand_block))
        return str(c), str(p)
    return write


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _diverged():
    block = copy.deepcopy(BLOCK)
    block[PIXEL]["steps"][(1, 0)]["F_latt"] = 2.5
    block[PIXEL]["final"]["I_pixel_final"] = 20.0
    return block


def test_diff_of_equal_logs_exits_0_with_summary(logs):
    result = _run("diff", *logs())
    assert result.exit_code == 0, result.output
    assert "7 records compared, 0 failed" in result.output


def test_diff_reports_failures_and_exits_1(logs):
    result = _run("diff", *logs(_diverged()), "--failed-only")
    assert result.exit_code == 1
    assert "F_latt" in result.output and "fail" in result.output
    assert "fdet_vec" not in result.output
    assert "worst rel error 0.25 at F_latt pixel (3, 7) phi_tic=1" in result.output


def test_diff_keys_and_stage_filters(logs):
    result = _run("diff", *logs(_diverged()), "--keys", "I_pixel_final", "--format", "csv")
    lines = result.output.strip().splitlines()
    assert len(lines) == 2 and ",I_pixel_final," in lines[1]
    result = _run("diff", *logs(_diverged()), "--stage", "phi", "--format", "csv")
    assert {line.split(",")[2] for line in result.output.strip().splitlines()[1:]} == {"phi"}


def test_diff_json_markdown_junit(logs):
    c, p = logs(_diverged())
    data = json.loads(_run("diff", c, p, "--format", "json").output)
    assert data["summary"]["failed"] == 2 and data["summary"]["worst"]["key"] == "F_latt"
    markdown = _run("diff", c, p, "--format", "markdown").output
    assert markdown.startswith("| pixel |") and "`F_latt`" in markdown
    junit = ET.fromstring(_run("diff", c, p, "--format", "junit").output)
    assert junit.get("failures") == "2" and int(junit.get("tests")) == 7


def test_per_key_tolerance_option(logs):
    c, p = logs(_diverged())
    result = _run("diff", c, p, "--tol", "F_latt=0.3", "--tol", "I_pixel_final=0.2,0")
    assert result.exit_code == 0, result.output
    bad = _run("diff", c, p, "--tol", "F_latt")
    assert bad.exit_code == 2 and "KEY=RTOL" in bad.output


def test_output_file_is_written_once_and_never_overwritten(logs, tmp_path):
    c, p = logs()
    out = tmp_path / "report.json"
    assert _run("diff", c, p, "--format", "json", "--output", out).exit_code == 0
    first = out.read_text()
    again = _run("diff", c, p, "--output", out)
    assert again.exit_code == 2 and "exists" in again.output
    assert out.read_text() == first
    assert _run("diff", c, p, "--output", out, "--force").exit_code == 0
    unwritable = _run("diff", c, p, "--output", tmp_path / "no" / "such" / "dir" / "r.txt")
    assert unwritable.exit_code == 2 and "cannot write" in unwritable.output


@pytest.mark.parametrize(
    "content, code, words",
    [
        ("", 2, "c.log:1: no TRACE_ lines"),
        ("TRACE_C: trace_pixel 3 7\nTRACE_C: F_latt\n", 2, "c.log:2: key F_latt has no value"),
        ("TRACE_C: trace_pixel 3 7\nTRACE_C: polar 1\nTRACE_C: polar 1\n", 3, "duplicate"),
        ("TRACE_C: trace_pixel 9 9\nTRACE_C: polar 1\n", 3, "different pixels"),
        ("TRACE_C: trace_pixel 3 7\nTRACE_C: unrelated_key 1\n", 3, "share no comparable"),
    ],
)
def test_bad_logs_give_one_line_and_contract_codes(tmp_path, logs, content, code, words):
    _, p = logs()
    c = tmp_path / "c.log"
    c.write_text(content)
    result = _run("diff", c, p)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert "Traceback" not in result.output


def test_missing_and_binary_files(tmp_path, logs):
    _, p = logs()
    missing = _run("diff", tmp_path / "nope.log", p)
    assert missing.exit_code == 2 and "cannot read" in missing.output
    binary = tmp_path / "bin.log"
    binary.write_bytes(bytes(range(256)))
    result = _run("first-divergence", binary, p)
    assert result.exit_code == 2 and "binary data" in result.output


def test_first_divergence_names_root_and_propagation(logs):
    result = _run("first-divergence", *logs(_diverged()))
    assert result.exit_code == 1
    assert "first divergence: pixel (3, 7) phi_tic=1 mos_tic=0 phi/F_latt" in result.output
    assert "failures propagated from this root: 1" in result.output
    data = json.loads(_run("first-divergence", *logs(_diverged()), "--format", "json").output)
    assert data[0]["key"] == "F_latt" and data[0]["last_agreeing"]["key"] == "phi_deg"


def test_first_divergence_of_equal_logs(logs):
    result = _run("first-divergence", *logs())
    assert result.exit_code == 0 and "no divergence" in result.output


def test_missing_records_are_one_line_unless_asked_for(tmp_path, make_log):
    ref = {(3, 7): {"pixel": {"distance_meters": 0.1, "R_distance_meters": 0.11},
                    "steps": {(0, 0): {"F_latt": 2.0}}}}
    cand = {(3, 7): {"pixel": {"distance_meters": 0.1},
                     "steps": {(0, 0): {"F_latt": 2.5}}}}
    c, p = tmp_path / "c.log", tmp_path / "p.log"
    c.write_text(make_log("C", ref))
    p.write_text(make_log("PY", cand))
    table = _run("diff", c, p)
    assert "missing-candidate" not in table.output
    assert "records on one side only: 1 only in the reference (R_distance_meters)" in \
        table.output
    listed = _run("diff", c, p, "--show-missing")
    assert "missing-candidate" in listed.output
    failed = _run("diff", c, p, "--failed-only", "--format", "json")
    assert [r["key"] for r in json.loads(failed.output)["records"]] == ["F_latt"]

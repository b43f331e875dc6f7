"""Case files, case arguments and run bundles (docs/design/case-files.md).

Every malformed case file, bad detector option, unsafe name or output path, harness option in
a case's arguments and unusable --out is one line on stderr with exit 2, never a traceback.
A tiny shell script plays the C engine, so nothing here needs a build.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbparity import bundle as bundle_module
from nbparity.cases import (
    CASE_KEYS,
    FILE_KEYS,
    HARNESS_OPTIONS,
    INPUT_FILE_OPTIONS,
    OUTPUT_FILE_OPTIONS,
    TRACES_DIR,
    UPSTREAM_DIR,
    Case,
    CaseFileError,
    detector_shape,
    engine_args,
    input_warnings,
    load_cases,
)
from nbparity.cli import cli

REPO = Path(__file__).resolve().parents[2]
GOOD = 'name = "x"\nargs = "-cell 50 50 50 90 90 90 -default_F 1 -detpixels 8"\n'


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _one_line_usage_error(result, *words):
    """Exit 2, exactly one line on stderr holding every word, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.output
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


@pytest.fixture
def fake_c(tmp_path):
    """A stand-in C engine: a contract block per -trace_pixel; for each output-file option it
    writes the file it is given (so where outputs land can be checked)."""
    script = tmp_path / "fake-nanobragg"
    outputs = " | ".join(f'"{o}"' for o in OUTPUT_FILE_OPTIONS)
    script.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        while [ $# -gt 0 ]; do
          case "$1" in
            -trace_pixel)
              echo "TRACE_C: trace_pixel $2 $3"; echo "TRACE_C: I_pixel_final 1.5"; shift 2;;
            {outputs})
              echo written > "$2"; shift;;
          esac
          shift
        done
        """))
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    return script


def _case_file(tmp_path, text: str, name: str = "cases.toml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


# --------------------------------------------------------------------------- item 1: files

MALFORMED = [
    # (file text, words the one error line must hold)
    (f"pixles = 3\n[[case]]\n{GOOD}", ["cases.toml:1", "unknown key 'pixles'"]),
    ('[[case]]\nname = "x"\narg = "-detpixels 8"\n', ["cases.toml:3", "case 'x'",
                                                      "unknown key 'arg'"]),
    (f"[[case]]\n{GOOD}pixel = [[1, 2]]\n", ["cases.toml:4", "case 'x'", "unknown key 'pixel'"]),
    ('[[case]]\nname = "x"\n', ["case 'x'", "missing key 'args'"]),
    ('[[case]]\nargs = "-detpixels 8"\n', ["[[case]] number 1", "missing key 'name'"]),
    (f'[[case]]\n{GOOD}pixels = "abc"\n', ["case 'x'", "pixels", "'abc'"]),
    (f"[[case]]\n{GOOD}pixels = [[1, 2, 3]]\n", ["case 'x'", "[1, 2, 3]", "pair"]),
    (f'[[case]]\n{GOOD}pixels = [["x", "y"]]\n', ["case 'x'", "['x', 'y']", "pair"]),
    (f"[[case]]\n{GOOD}pixels = [[1.5, 2]]\n", ["case 'x'", "whole numbers"]),
    (f"[[case]]\n{GOOD}pixels = [[-1, 2]]\n", ["case 'x'", "[-1, 2] is outside the 8 x 8"]),
    (f"[[case]]\n{GOOD}pixels = [[8, 2]]\n", ["case 'x'", "[8, 2] is outside the 8 x 8"]),
    (f"[[case]]\n{GOOD}pixels = [[1, 2], [1, 2]]\n", ["case 'x'", "[1, 2] is listed twice"]),
    (f"[[case]]\n{GOOD}folder = 5\n", ["case 'x'", "folder must be"]),
    (f'[[case]]\n{GOOD}folder = "no-such-folder"\n', ["case 'x'", "no-such-folder"]),
    (f'[[case]]\n{GOOD}inputs = "P1.hkl"\n', ["case 'x'", "inputs must be a list"]),
    (f"[case]\n{GOOD}", ["cases.toml:1", "[case] is a single table", "[[case]]"]),
    ("case = 5\n", ["'case' must be [[case]] tables"]),
    ("[tolerance]\nF_latt = 1e-5\n", ["no [[case]] tables"]),
    (f"[[case]]\n{GOOD}tolerance = 3\n", ["case 'x'", "tolerance must be a table"]),
    (f"tolerance = 3\n[[case]]\n{GOOD}", ["[tolerance]", "must be a table"]),
    (f"[[case]]\n{GOOD}[case.tolerance]\nF_latt = nan\n", ["cases.toml:5", "case 'x'",
                                                          "F_latt", "nan"]),
    (f"[[case]]\n{GOOD}[case.tolerance]\nF_latt = [1e-6, -1]\n", ["case 'x'", "F_latt", "-1"]),
    (f"[tolerance]\nF_latt = -1e-6\n[[case]]\n{GOOD}", ["cases.toml:2", "[tolerance]",
                                                       "F_latt"]),
    (f"[tolerance]\nF_latt = inf\n[[case]]\n{GOOD}", ["[tolerance]", "F_latt", "inf"]),
    (f'[[case]]\n{GOOD}[case.tolerance]\nF_latt = "x"\n', ["case 'x'", "tolerance for F_latt"]),
    ('[[case]]\nname = "x"\nargs = "-detpixels 8 -hkl \'P1.hkl"\n',
     ["cases.toml:3", "case 'x'", "args", "No closing quotation"]),
    (f"[[case]]\n{GOOD}[[case]]\n{GOOD}", ["cases.toml:4", "case 'x'", "second case"]),
    ("[[case]\n", ["not valid TOML"]),
]


@pytest.mark.parametrize("text, words", MALFORMED,
                         ids=[f"{i}-{w[-1][:24]}" for i, (_, w) in enumerate(MALFORMED)])
@pytest.mark.parametrize("command", ["cases", "gate", "trace"])
def test_malformed_case_file_is_one_line_exit_2(tmp_path, text, words, command):
    path = _case_file(tmp_path, text)
    argv = {"cases": ["cases", "--cases-file", path],
            "gate": ["gate", path],
            "trace": ["trace", "--cases-file", path, "--case", "x", "--engine", "py",
                      "--out", tmp_path / "bundle"]}[command]
    line = _one_line_usage_error(_run(*argv), *words)
    assert "case 0 needs a name" not in line
    assert not (tmp_path / "bundle").exists()


@pytest.mark.parametrize("command", ["cases", "gate"])
def test_unreadable_case_files_are_one_line_exit_2(tmp_path, command):
    binary = tmp_path / "latin1.toml"
    binary.write_bytes(b'[[case]]\nname = "caf\xe9"\nargs = "-detpixels 8"\n')
    argv = ["cases", "--cases-file"] if command == "cases" else ["gate"]
    _one_line_usage_error(_run(*argv, binary), "latin1.toml:2", "not UTF-8")
    _one_line_usage_error(_run(*argv, tmp_path / "missing.toml"), "missing.toml",
                          "No such file")


def test_case_file_errors_through_the_installed_command(tmp_path):
    """The real entry point, in its own process: one stderr line, exit 2, no traceback."""
    binary = tmp_path / "bad.toml"
    binary.write_bytes(b"\xff\xfe[[case]]\n")
    for argv in (["cases", "--cases-file", str(binary)],
                 ["trace", "--engine", "c", "--pixel", "1", "1", "--", "-pixel", "0"]):
        proc = subprocess.run([sys.executable, "-m", "nbparity", *argv], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert "Traceback" not in proc.stderr + proc.stdout


def test_the_project_case_files_load_clean():
    for path in (TRACES_DIR / "cases.toml", UPSTREAM_DIR / "cases.toml"):
        cases = load_cases(path)
        assert cases and all(input_warnings(case) == [] for case in cases)


def test_explicit_folder_is_used_and_default_folder_falls_back(tmp_path):
    (tmp_path / "inputs").mkdir()
    (tmp_path / "y").mkdir()
    path = _case_file(tmp_path, f'[[case]]\n{GOOD}folder = "inputs"\n'
                                f'[[case]]\nname = "y"\nargs = "-detpixels 8"\n'
                                f'[[case]]\nname = "z"\nargs = "-detpixels 8"\n')
    x, y, z = load_cases(path)
    assert (x.folder, y.folder, z.folder) == (tmp_path / "inputs", tmp_path / "y", tmp_path)


# --------------------------------------------------------------------------- item 2: shape

@pytest.mark.parametrize("args, words", [
    (["-pixel", "0"], "-pixel 0"),
    (["-pixel", "-0.1"], "-pixel -0.1"),
    (["-pixel", "nan"], "-pixel nan"),
    (["-detsize", "inf"], "-detsize inf"),
    (["-detsize_s", "-5"], "-detsize_s -5"),
    (["-detpixels", "abc"], "-detpixels abc: not a whole number"),
    (["-detpixels", "0"], "-detpixels 0"),
    (["-detpixels_f", "-3"], "-detpixels_f -3"),
    (["-detpixels_y", "6.5"], "-detpixels_y 6.5"),
    (["-detsize", "0.01", "-pixel", "1"], "no pixels"),
])
def test_detector_options_are_checked(tmp_path, fake_c, args, words):
    with pytest.raises(CaseFileError, match=re.escape(words)):
        detector_shape(args)
    # through trace -- ARGS (was a ZeroDivisionError / ValueError traceback)
    result = _run("trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 0, 0,
                  "--out", tmp_path / "b", "--", *args)
    _one_line_usage_error(result, "-- ARGS", words)
    # in a case file: names the file, the case and the option
    path = _case_file(tmp_path, f'[[case]]\nname = "x"\nargs = "{" ".join(args)}"\n')
    _one_line_usage_error(_run("cases", "--cases-file", path), "case 'x'", "args", words)
    # in an --args-file
    args_file = tmp_path / "my.args"
    args_file.write_text(" ".join(args))
    result = _run("trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 0, 0,
                  "--out", tmp_path / "b", "--args-file", args_file)
    _one_line_usage_error(result, "--args-file", words)


# --------------------------------------------------------------------------- item 3: names

@pytest.mark.parametrize("name", ["../../x", "a/b", "..", ".", ".hidden", "", "-x", "a b"])
def test_case_names_are_plain_names(tmp_path, name):
    path = _case_file(tmp_path, f'[[case]]\nname = "{name}"\nargs = "-detpixels 8"\n')
    _one_line_usage_error(_run("cases", "--cases-file", path), "cases.toml:2",
                          "a case name is")


def test_golden_never_writes_outside_its_folder(tmp_path, fake_c):
    root = tmp_path / "root"
    (root / "a" / "b").mkdir(parents=True)
    path = _case_file(root, '[[case]]\nname = "../../x"\nargs = "-detpixels 8"\n'
                            'pixels = [[1, 1]]\n')
    before = sorted(p for p in tmp_path.rglob("*"))
    result = _run("golden", path, "--out", root / "a" / "b" / "golden", "--c-bin", fake_c)
    _one_line_usage_error(result, "../../x", "a case name is")
    assert sorted(p for p in tmp_path.rglob("*")) == before
    # the library refuses such a name too (a Case built in code skips the file's checks)
    from nbparity.runner import write_golden

    case = Case("../../x", root, ("-detpixels", "8"), ((1, 1),), (8, 8))
    with pytest.raises(ValueError, match="a case name is"):
        write_golden([case], root / "a" / "b" / "golden", str(fake_c))
    assert sorted(p for p in tmp_path.rglob("*")) == before


# --------------------------------------------------------------------------- item 3: outputs

@pytest.mark.parametrize("option", OUTPUT_FILE_OPTIONS)
@pytest.mark.parametrize("value", ["/abs/x.img", "../y.img", "sub/z.img", ".."])
def test_output_files_outside_the_run_are_refused(tmp_path, fake_c, option, value):
    path = _case_file(tmp_path, f'[[case]]\n{GOOD[:-2]} {option} {value}"\n'
                                'pixels = [[1, 1]]\n')
    for argv in (["cases", "--cases-file", path], ["gate", path, "--c-bin", fake_c],
                 ["trace", "--cases-file", path, "--case", "x", "--engine", "c", "--c-bin",
                  fake_c, "--out", tmp_path / "b"],
                 ["trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 1, 1, "--out",
                  tmp_path / "b", "--", "-detpixels", "8", option, value]):
        _one_line_usage_error(_run(*argv), f"{option} {value}", "plain file name")
    assert not (tmp_path / "b").exists()


def test_output_files_are_written_into_the_bundle_per_engine(tmp_path, fake_c, monkeypatch):
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    out = tmp_path / "bundle"
    result = _run("trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 1, 1, "--out", out,
                  "--", "-detpixels", "8", "-floatfile", "f.bin", "-intfile", "i.img",
                  "-noisefile", "n.img", "-pgmfile", "p.pgm", "-dump", "F.bin")
    assert result.exit_code == 0, result.output
    names = sorted(p.name for p in out.iterdir())
    assert names == ["c-F.bin", "c-f.bin", "c-i.img", "c-n.img", "c-p.pgm", "c.log",
                     "run.json"]
    manifest = json.loads((out / "run.json").read_text())
    assert set(manifest["files_sha256"]) == set(names) - {"run.json"}
    assert list(work.iterdir()) == []  # nothing in the folder the command ran from
    # each engine gets its own names, absolute, in the run's folder
    case = Case("x", work, ("-floatfile", "f.bin", "-hkl", "P1.hkl"), (), (8, 8))
    assert engine_args(case, tmp_path, "py") == [
        "-floatfile", str(tmp_path / "py-f.bin"), "-hkl", str((work / "P1.hkl").resolve())]


def test_every_file_option_of_the_engines_is_classified():
    """Each option the C reference reads a file name for is an input or an output here."""
    source = (REPO / "c_reference" / "src" / "options.c").read_text()
    file_options = set()
    for line in source.splitlines():
        if re.search(r"s->\w*file = val_word", line):
            file_options.update(re.findall(r'is\(o, "(-[A-Za-z0-9_]+)"\)', line))
    assert file_options and file_options <= set(INPUT_FILE_OPTIONS) | set(OUTPUT_FILE_OPTIONS)
    from nbparity import engines

    assert engines.OUTPUT_FILE_OPTIONS <= set(OUTPUT_FILE_OPTIONS)
    assert engines.INPUT_FILE_OPTIONS <= set(INPUT_FILE_OPTIONS)


# --------------------------------------------------------------------------- item 3: inputs

def test_inputs_outside_the_case_folder_are_warned_in_run_json(tmp_path, fake_c):
    folder = tmp_path / "cases"
    (folder / "x").mkdir(parents=True)
    (folder / "x" / "P1.hkl").write_text("0 0 0 1\n")
    outside = tmp_path / "elsewhere.mat"
    outside.write_text("")
    path = _case_file(folder, f'[[case]]\n{GOOD[:-2]} -hkl P1.hkl -hkl ../../etc/x '
                              f'-matrix {outside}"\npixels = [[1, 1]]\n')
    out = tmp_path / "bundle"
    result = _run("trace", "--cases-file", path, "--case", "x", "--engine", "c", "--c-bin",
                  fake_c, "--out", out)
    assert result.exit_code == 0, result.output
    warnings = json.loads((out / "run.json").read_text())["warnings"]
    assert len(warnings) == 2, warnings
    assert "-hkl ../../etc/x is outside the case's folder" in warnings[0]
    assert f"-matrix {outside} is outside" in warnings[1]
    assert all(w in result.stderr for w in warnings)


# --------------------------------------------------------------------------- item 4

@pytest.mark.parametrize("option, value, hint", [
    ("-phi_carryover_mode", "spec", "--phi-carryover-mode"),
    ("-phi_carryover_mode", "c-parity", "--mode"),
    ("-omp_threads", "2", "--omp-threads"),
    ("-trace_pixel", "1 1", "--pixel"),
    ("-printout_pixel", "1 1", "pixels"),
    ("-device", "cpu", "--device"),
    ("-dtype", "float32", "--dtype"),
])
def test_harness_options_in_a_case_are_refused(tmp_path, fake_c, option, value, hint):
    assert option in HARNESS_OPTIONS
    path = _case_file(tmp_path, f'[[case]]\n{GOOD[:-2]} {option} {value}"\n'
                                'pixels = [[1, 1]]\n')
    for argv in (["cases", "--cases-file", path], ["gate", path, "--c-bin", fake_c],
                 ["trace", "--cases-file", path, "--case", "x", "--engine", "py",
                  "--out", tmp_path / "b"],
                 ["trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 1, 1, "--out",
                  tmp_path / "b", "--", "-detpixels", "8", option, *value.split()]):
        _one_line_usage_error(_run(*argv), option, "not allowed", hint)
    assert not (tmp_path / "b").exists()


def test_the_runner_refuses_harness_options_of_a_case_built_in_code(tmp_path):
    from nbparity.runner import TraceRequest, trace_case

    case = Case("x", tmp_path, ("-detpixels", "8", "-phi_carryover_mode", "c-parity"), (),
                (8, 8))
    with pytest.raises(ValueError, match="case x: -phi_carryover_mode: not allowed"):
        trace_case(TraceRequest(case, [(1, 1)], None, None), tmp_path / "b")
    assert not (tmp_path / "b").exists()


def test_gate_case_without_pixels_is_a_usage_error_not_a_pass(tmp_path, fake_c):
    path = _case_file(tmp_path, f"[[case]]\n{GOOD}")
    result = _run("gate", path, "--c-bin", fake_c, "--reference", fake_c, "--candidate",
                  fake_c, "--mode", "c-parity")
    assert result.exit_code == 2, result.output
    assert "case x: no pixels to trace" in result.output


# --------------------------------------------------------------------------- item 5: --out

def _trace_to(out, fake_c):
    return _run("trace", "--engine", "c", "--c-bin", fake_c, "--pixel", 1, 1, "--out", out,
                "--", "-detpixels", "8")


def test_out_as_a_dangling_symlink_is_one_line_exit_2(tmp_path, fake_c):
    link = tmp_path / "out"
    link.symlink_to(tmp_path / "nowhere")
    _one_line_usage_error(_trace_to(link, fake_c), "--out", "symbolic link", "does not exist")
    assert link.is_symlink() and not (tmp_path / "nowhere").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-nanobragg", "out"]


def test_out_as_a_symlink_to_a_folder_or_a_file_or_a_folder(tmp_path, fake_c):
    (tmp_path / "dir").mkdir()
    (tmp_path / "file").write_text("keep")
    (tmp_path / "to-dir").symlink_to(tmp_path / "dir")
    _one_line_usage_error(_trace_to(tmp_path / "to-dir", fake_c), "symbolic link")
    _one_line_usage_error(_trace_to(tmp_path / "file", fake_c), "--out")
    _one_line_usage_error(_trace_to(tmp_path / "dir", fake_c), "never overwritten")
    assert list((tmp_path / "dir").iterdir()) == [] and (tmp_path / "file").read_text() == "keep"


def test_out_in_a_folder_that_cannot_be_written(tmp_path, fake_c, monkeypatch):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    if os.access(locked, os.W_OK):  # root writes anyway: play the refusal
        def refuse(*args, **kwargs):
            raise PermissionError(13, "Permission denied")
        monkeypatch.setattr(bundle_module.tempfile, "mkdtemp", refuse)
    try:
        _one_line_usage_error(_trace_to(locked / "b", fake_c), "--out", "Permission denied")
    finally:
        locked.chmod(0o755)
    assert list(locked.iterdir()) == []


def test_out_that_cannot_be_renamed_into_place_leaves_nothing(tmp_path, fake_c, monkeypatch):
    def refuse(src, dst):
        raise OSError(18, "Invalid cross-device link")
    monkeypatch.setattr(bundle_module.os, "rename", refuse)
    _one_line_usage_error(_trace_to(tmp_path / "b", fake_c), "--out", "cross-device")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-nanobragg"]


# --------------------------------------------------------------------------- item 6: doc

def test_the_case_file_doc_covers_the_format():
    doc = (REPO / "docs" / "design" / "case-files.md").read_text()
    for word in (*FILE_KEYS, *CASE_KEYS, *HARNESS_OPTIONS, *OUTPUT_FILE_OPTIONS,
                 *INPUT_FILE_OPTIONS, "run.json", "warnings"):
        assert f"`{word}" in doc, word
    import nbparity.cases

    assert "docs/design/case-files.md" in nbparity.cases.__doc__
    contract = (REPO / "docs" / "design" / "trace-contract.md").read_text()
    assert "case-files.md" in contract


def test_a_bundle_file_that_cannot_be_written_is_one_line_and_leaves_nothing(
        tmp_path, fake_c, monkeypatch):
    def full(self, *args, **kwargs):
        raise OSError(28, "No space left on device", str(self))
    monkeypatch.setattr(Path, "write_text", full)
    _one_line_usage_error(_trace_to(tmp_path / "b", fake_c), "--out", "No space left")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake-nanobragg"]

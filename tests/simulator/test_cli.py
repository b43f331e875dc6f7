"""Command line: help, usage errors, bad input (exit 2, one line, no traceback, no output)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import torch
from nbsim_testlib import CASES, REPO_ROOT, strip_outputs

import simulator
from simulator.cli import main

SMALL = (
    "-cell 100 100 100 90 90 90 -default_F 10 -lambda 1 -distance 100 -detpixels 8 -pixel 0.4 -N 3"
).split()


def run_cli(args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "simulator", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(REPO_ROOT)},
        timeout=300,
    )


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_exits_0(flag, capsys):
    assert main([flag]) == 0
    assert "usage" in capsys.readouterr().out


def test_unknown_option_exits_2_naming_it(capsys):
    assert main(SMALL + ["-no_such_option"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "-no_such_option" in err


def test_python_m_simulator_unknown_option(tmp_path):
    proc = run_cli(["-bogus"], tmp_path)
    assert proc.returncode == 2
    assert "-bogus" in proc.stderr and "Traceback" not in proc.stderr
    assert proc.stderr.count("\n") == 1


@pytest.mark.parametrize(
    "args, needle",
    [
        (["-N", "abc"], "-N"),
        (["-distance", "x1"], "-distance"),
        (["-phi_carryover_mode", "maybe"], "-phi_carryover_mode"),
        (["-dtype", "float16"], "-dtype"),
        (["-device", "tpu"], "-device"),
        (["-memory_budget_gb", "-1"], "-memory_budget_gb"),
        (["-memory_budget_gb", "1e300"], "-memory_budget_gb"),
        (["-memory_budget_gb", "8589934592"], "-memory_budget_gb"),
        (["-pivot", "elsewhere"], "-pivot"),
        (["-trace_pixel", "100", "0"], "-trace_pixel"),
        (["-roi", "1", "2"], "-roi"),
        (["-N", "nan"], "-N"),
        (["-detpixels", "inf"], "-detpixels"),
        (["-roi", "0", "1e30", "0", "3"], "-roi"),
        (["-mosaic", "1", "-mosaic_seed", "1e30"], "-mosaic_seed"),
    ],
)
def test_bad_values_exit_2(args, needle, tmp_path, capsys):
    assert main(SMALL + args + ["-floatfile", str(tmp_path / "f.bin")]) == 2
    err = capsys.readouterr().err
    assert needle in err and err.count("\n") == 1
    assert not (tmp_path / "f.bin").exists()


def test_missing_structure_factors_and_cell(capsys):
    assert main(["-distance", "100"]) == 2
    assert capsys.readouterr().err.count("\n") == 1


def test_unreadable_hkl_names_file(tmp_path, capsys):
    assert (
        main(SMALL + ["-hkl", str(tmp_path / "missing.hkl"), "-floatfile", str(tmp_path / "f.bin")])
        == 2
    )
    err = capsys.readouterr().err
    assert "missing.hkl" in err and err.count("\n") == 1
    assert not (tmp_path / "f.bin").exists()


def test_malformed_hkl_names_file_and_line(tmp_path, capsys):
    bad = tmp_path / "bad.hkl"
    bad.write_text("0 0 0 10\n1 0 0 5\n1 x 0 3\n")
    assert main(SMALL + ["-hkl", str(bad), "-floatfile", str(tmp_path / "f.bin")]) == 2
    err = capsys.readouterr().err
    assert "bad.hkl:3" in err and err.count("\n") == 1
    assert not (tmp_path / "f.bin").exists()


def test_malformed_matrix_file(tmp_path, capsys):
    bad = tmp_path / "A.mat"
    bad.write_text("0.01 0 0\n0 zero 0\n")
    argv = [
        "-mat",
        str(bad),
        "-default_F",
        "1",
        "-detpixels",
        "8",
        "-floatfile",
        str(tmp_path / "f.bin"),
    ]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "A.mat:2" in err
    assert not (tmp_path / "f.bin").exists()


@pytest.mark.parametrize(
    "fields",
    [
        "HEADER_BYTES=inf;SIZE1=8;SIZE2=8;",
        "HEADER_BYTES=-5;SIZE1=8;SIZE2=8;",
        "HEADER_BYTES=512;SIZE1=nan;SIZE2=8;",
    ],
)
def test_malformed_smv_header_names_file(fields, tmp_path, capsys):
    head = ("{\n" + fields.replace(";", ";\n") + "}").encode()
    (tmp_path / "m.img").write_bytes(head + b" " * (512 - len(head)) + bytes(128))
    argv = SMALL + ["-mask", str(tmp_path / "m.img"), "-floatfile", str(tmp_path / "f.bin")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "m.img" in err and err.count("\n") == 1
    assert not (tmp_path / "f.bin").exists()


def test_impossible_geometry(tmp_path, capsys):
    argv = SMALL + ["-pixel", "0", "-floatfile", str(tmp_path / "f.bin")]
    assert main(argv) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(SMALL + ["-cell", "100", "100", "100", "90", "90", "180"]) == 2


def test_missing_value(capsys):
    assert main(SMALL + ["-distance"]) == 2
    assert "-distance" in capsys.readouterr().err


@pytest.mark.skipif(torch.cuda.is_available(), reason="a GPU is present")
def test_cuda_without_gpu_exits_2(tmp_path):
    proc = run_cli(SMALL + ["-device", "cuda", "-floatfile", "f.bin"], tmp_path)
    assert proc.returncode == 2
    assert "cuda" in proc.stderr.lower() and "Traceback" not in proc.stderr
    assert not (tmp_path / "f.bin").exists()


def test_cli_writes_outputs_and_inputs_resolve_against_cwd(tmp_path):
    case = CASES["triclinic_hkl_misset"]
    args = strip_outputs(case.args) + [
        "-floatfile",
        str(tmp_path / "f.bin"),
        "-intfile",
        str(tmp_path / "i.img"),
        "-pgmfile",
        str(tmp_path / "p.pgm"),
        "-nonoise",
    ]
    proc = run_cli(args, case.folder)
    assert proc.returncode == 0, proc.stderr
    assert (tmp_path / "f.bin").stat().st_size == 4 * case.shape[0] * case.shape[1]
    assert (tmp_path / "i.img").stat().st_size == 512 + 2 * case.shape[0] * case.shape[1]
    assert (tmp_path / "p.pgm").read_bytes().startswith(b"P5\n64 64\n")
    assert "max_I = " in proc.stdout
    left = [p for p in os.listdir(tmp_path) if p.startswith(".nbsim-")]
    assert not left


def test_run_argv_in_process(tmp_path):
    case = CASES["cubic_default_F"]
    out = tmp_path / "f.bin"
    res = simulator.run_argv(
        strip_outputs(case.args)
        + ["-floatfile", str(out), "-intfile", str(tmp_path / "i.img"), "-nonoise", "-nopgm"],
        cwd=case.folder,
        stdout=open(os.devnull, "w"),
    )
    assert res.image.shape == case.shape
    assert out.exists()


@pytest.mark.parametrize(
    "args",
    [
        ["-cell", "100", "100", "100", "10", "10", "100"],
        ["-cell", "100", "100", "100", "120", "120", "120"],
        ["-lambda", "0"],
        ["-energy", "0"],
        ["-detpixels_f", "0", "-detsize_f", "0"],
        ["-pixel", "inf"],
        ["-osc", "inf", "-phistep", "1"],
    ],
)
def test_impossible_inputs_exit_2(args, tmp_path, capsys):
    assert main(SMALL + args + ["-floatfile", str(tmp_path / "f.bin")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "f.bin").exists()


def test_unwritable_output_exits_3_without_partial_files(tmp_path, capsys):
    """An output that cannot be written is an I/O error: exit 3, as the C reference."""
    missing = tmp_path / "no_such_dir" / "f.bin"
    assert main(SMALL + ["-floatfile", str(tmp_path / "f0.bin"), "-intfile", str(missing)]) == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"option -intfile: cannot write '{missing}'" in err
    assert not (tmp_path / "f0.bin").exists()  # nothing is written when one output fails
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".nbsim-")]


@pytest.mark.parametrize(
    "tok, want", [("0x1p1025", "inf"), ("-0X1P1025", "-inf"), (" 0x1.8p2000 ", "inf")]
)
def test_hex_beyond_a_double_reads_as_inf_as_strtod(tok, want):
    """C's strtod gives +-HUGE_VAL for a hex number beyond a double; float.fromhex raised
    OverflowError ('nbsim: internal error', exit 1)."""
    assert simulator.cli.c_strtod(tok) == float(want)


def test_hex_beyond_a_double_in_default_f_and_hkl_runs_as_inf(tmp_path, capsys):
    """-default_F 0x1p1025 and an HKL line '1 2 3 0x1p1025' run as the C reference does (exit 0,
    F = inf), the same image as the spelled-out inf."""
    import numpy as np

    def image(args, name):
        out = tmp_path / name
        assert main(SMALL + args + ["-floatfile", str(out)]) == 0
        return np.fromfile(out, dtype=np.float32)

    assert image(["-default_F", "0x1p1025"], "a.bin").tobytes() == image(
        ["-default_F", "inf"], "b.bin"
    ).tobytes()
    hkl_hex, hkl_inf = tmp_path / "hex.hkl", tmp_path / "inf.hkl"
    hkl_hex.write_text("0 0 0 1\n1 2 3 0x1p1025\n")
    hkl_inf.write_text("0 0 0 1\n1 2 3 inf\n")
    assert image(["-hkl", str(hkl_hex)], "c.bin").tobytes() == image(
        ["-hkl", str(hkl_inf)], "d.bin"
    ).tobytes()

"""`nbparity trace`, `gate`, `cases` and `images` with stand-in engines and bad input.

Real engine runs are tested in tests/test_toolkit_engines.py; here a tiny shell script plays the
C engine, so bundles, time-outs, crashes and exit codes can be checked without a build.
"""

from __future__ import annotations

import json
import stat
import struct
import textwrap

import numpy as np
import pytest
from click.testing import CliRunner

from nbparity.cli import cli


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture
def fake_c(tmp_path):
    """A stand-in C engine: prints a contract block for each -trace_pixel it is given."""
    def make(body: str = "", exit_code: int = 0, sleep: float = 0.0):
        script = tmp_path / "fake-nanobragg"
        script.write_text(textwrap.dedent(f"""\
            #!/bin/sh
            sleep {sleep}
            while [ $# -gt 0 ]; do
              if [ "$1" = "-trace_pixel" ]; then
                echo "TRACE_C: trace_pixel $2 $3"
                echo "TRACE_C: engine fake"
                echo "TRACE_C: I_pixel_final 1.5"
                shift 2
              fi
              shift
            done
            {body}
            exit {exit_code}
            """))
        script.chmod(script.stat().st_mode | stat.S_IEXEC)
        return script
    return make


def test_cases_lists_the_default_case():
    result = _run("cases")
    assert result.exit_code == 0
    assert "default" in result.output and "2527 x 2463" in result.output


def test_trace_c_only_writes_a_bundle_with_manifest(fake_c, tmp_path):
    out = tmp_path / "bundle"
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--pixel", 685, 1039,
                  "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["c.log", "run.json"]
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["case"] == "default" and manifest["pixels"] == [[685, 1039]]
    assert manifest["commands"]["c"][-3:] == ["-trace_pixel", "685", "1039"]
    assert set(manifest["files_sha256"]) == {"c.log"}
    assert manifest["git"]["commit"] is None or len(manifest["git"]["commit"]) == 40
    assert "TRACE_C: trace_pixel 685 1039" in (out / "c.log").read_text()
    # Input files of the case were made absolute (the engines run in the bundle folder).
    mat = manifest["commands"]["c"][manifest["commands"]["c"].index("-mat") + 1]
    assert mat.endswith("traces/default/A.mat") and mat.startswith("/")


def test_existing_bundle_is_never_overwritten(fake_c, tmp_path):
    out = tmp_path / "bundle"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--pixel", 1, 1, "--out", out)
    assert result.exit_code == 2 and "never overwritten" in result.output
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


@pytest.mark.parametrize(
    "kwargs, words",
    [({"exit_code": 3, "body": "echo 'boom: bad geometry' >&2"}, "status 3: boom: bad geometry"),
     ({"sleep": 5}, "timed out after 1 s")],
    ids=["crash", "timeout"],
)
def test_failing_engine_exits_4_and_leaves_no_bundle(fake_c, tmp_path, kwargs, words):
    out = tmp_path / "bundle"
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(**kwargs), "--pixel", 1, 1,
                  "--out", out, "--timeout", 1)
    assert result.exit_code == 4, result.output
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".bundle")]


def test_missing_c_binary_exits_4(tmp_path):
    result = _run("trace", "--engine", "c", "--c-bin", tmp_path / "nope", "--pixel", 1, 1,
                  "--out", tmp_path / "b")
    assert result.exit_code == 4 and "missing or not executable" in result.output


@pytest.mark.parametrize(
    "args, words",
    [(["--case", "no-such-case"], "no case named"),
     (["--pixel", 3000, 5], "outside the 2527 x 2463"),
     (["--args-file", "/no/such/file"], "cannot read"),
     (["--device", "gpu"], "Invalid value for '--device'"),
     (["--case", "default", "--", "-cell", "1"], "give one of")],
)
def test_trace_bad_input_is_one_line_exit_2(fake_c, tmp_path, args, words):
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--out", tmp_path / "b", *args)
    assert result.exit_code == 2, result.output
    assert words in result.output
    assert len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("threads", [0, -3, 2**31, 99999999999])
def test_omp_threads_out_of_range_is_a_usage_error(fake_c, tmp_path, threads):
    out = tmp_path / "b"
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--c-mode", "c-parity-omp",
                  "--omp-threads", threads, "--pixel", 1, 1, "--out", out)
    assert result.exit_code == 2, result.output
    assert "--omp-threads" in result.output and len(result.output.strip().splitlines()) == 1
    assert not out.exists()
    fine = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--c-mode", "c-parity-omp",
                "--omp-threads", 2**31 - 1, "--pixel", 1, 1, "--out", out)
    assert fine.exit_code == 0, fine.output


def test_cuda_without_gpu_is_a_usage_error(tmp_path):
    torch = pytest.importorskip("torch")
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    result = _run("trace", "--device", "cuda", "--pixel", 1, 1, "--out", tmp_path / "b")
    assert result.exit_code == 2 and "no CUDA GPU" in result.output


def test_gate_reports_engine_failure_per_case_and_writes_junit(tmp_path, fake_c):
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "tiny"\nargs = "-cell 50 50 50 90 90 90 -default_F 1 '
                     '-detpixels 8"\npixels = [[1, 2]]\n')
    junit = tmp_path / "gate.xml"
    result = _run("gate", cases, "--c-bin", fake_c(exit_code=9, body="echo kaput >&2"),
                  "--junit", junit, "--mode", "c-parity")
    assert result.exit_code == 4, result.output
    assert "ENGINE FAILED" in result.output and "kaput" in result.output
    assert 'failures="1"' in junit.read_text()
    none = _run("gate", cases, "-k", "zzz")
    assert none.exit_code == 2 and "no case matches" in none.output


def test_gate_rejects_a_malformed_case_file(tmp_path):
    cases = tmp_path / "cases.toml"
    cases.write_text("[[case]]\nname = 'x'\n")
    result = _run("gate", cases)
    assert result.exit_code == 2 and "needs a name and an args string" in result.output


def _image(path, data):
    np.asarray(data, dtype="<f4").tofile(path)
    return path


def test_images_parity_and_png(tmp_path):
    rng = np.random.default_rng(1)
    base = rng.random((6, 4)) * 100 + 1
    a = _image(tmp_path / "a.bin", base)
    b = _image(tmp_path / "b.bin", base)
    same = _run("images", a, b, "--shape", 6, 4)
    assert same.exit_code == 0 and "max rel error 0.000e+00" in same.output
    changed = base.copy()
    changed[2, 3] *= 1.01
    c = _image(tmp_path / "c.bin", changed)
    png = tmp_path / "diff.png"
    result = _run("images", a, c, "--shape", 6, 4, "--png", png)
    assert result.exit_code == 1
    assert "pixel (2, 3)" in result.output
    data = png.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    # the figure of nbparity.images.write_figure (tests/nbparity/test_images.py checks its content)
    assert struct.unpack(">II", data[16:24]) == (1500, 520)
    again = _run("images", a, c, "--shape", 6, 4, "--png", png)
    assert again.exit_code == 2 and "exists" in again.output
    roi = _run("images", a, c, "--shape", 6, 4, "--roi", 0, 1, 0, 3)
    assert roi.exit_code == 0


def test_images_bad_input(tmp_path):
    a = _image(tmp_path / "a.bin", np.ones(10))
    result = _run("images", a, a)
    assert result.exit_code == 2 and "not a square image" in result.output
    missing = _run("images", a, tmp_path / "none.bin", "--shape", 2, 5)
    assert missing.exit_code == 2


@pytest.mark.parametrize(
    "args, words",
    [(["--roi", -2, 3, 0, 5], "--roi"),        # negative: numpy would count from the end
     (["--roi", 3, 1, 0, 5], "--roi"),         # inverted: an empty region
     (["--roi", 0, 10, 0, 5], "--roi"),        # past the image: numpy would clip
     (["--roi", 0, 3, 0, 6], "--roi"),         # F1 = F: the bounds are inclusive
     (["--shape", -4, -6], "--shape"),
     (["--shape", 0, 6], "--shape")],
    ids=["negative", "inverted", "past-slow", "past-fast", "negative-shape", "zero-shape"],
)
def test_images_roi_and_shape_must_fit_the_image(tmp_path, args, words):
    base = np.arange(1, 25, dtype=float).reshape(4, 6)
    changed = base.copy()
    changed[1, 0] *= 2
    a, b = _image(tmp_path / "a.bin", base), _image(tmp_path / "b.bin", changed)
    shape = [] if "--shape" in args else ["--shape", 4, 6]
    result = _run("images", a, b, *shape, *args)
    assert result.exit_code == 2, result.output
    assert words in result.output and len(result.output.strip().splitlines()) == 1
    assert "pixel" not in result.output and "nothing to compare" not in result.output
    whole = _run("images", a, b, "--shape", 4, 6, "--roi", 0, 3, 0, 5)  # the largest region
    assert whole.exit_code == 1 and "pixel (1, 0)" in whole.output
    corner = _run("images", a, b, "--shape", 4, 6, "--roi", 3, 3, 5, 5)  # one pixel
    assert corner.exit_code == 0 and "shape 1 x 1" in corner.output


def test_images_empty_or_ragged_file_is_named(tmp_path):
    a = _image(tmp_path / "a.bin", np.ones(4))
    empty = tmp_path / "empty.bin"
    empty.write_bytes(b"")
    ragged = tmp_path / "ragged.bin"
    ragged.write_bytes(b"\0" * 7)  # one float and three stray bytes
    for args, name in [([empty, empty], "empty.bin"), ([a, empty, "--shape", 2, 2], "empty.bin"),
                       ([ragged, ragged], "ragged.bin"),
                       ([a, ragged, "--shape", 2, 2], "ragged.bin")]:
        result = _run("images", *args)
        assert result.exit_code == 2, result.output
        assert name in result.output and len(result.output.strip().splitlines()) == 1
        assert "nothing to compare" not in result.output
    short = _run("images", a, _image(tmp_path / "b.bin", np.ones(3)), "--shape", 2, 2)
    assert short.exit_code == 2 and "b.bin: holds 3 floats, expected 2 x 2" in short.output


def test_gate_refuses_a_non_deterministic_engine(tmp_path, fake_c):
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "tiny"\nargs = "-cell 50 50 50 90 90 90 -default_F 1 '
                     '-detpixels 8"\npixels = [[1, 2]]\n')
    flaky = fake_c(body='echo "TRACE_C: polar 0.$$"')
    result = _run("gate", cases, "--c-bin", flaky, "--mode", "spec")
    assert result.exit_code == 4, result.output
    assert "fake-nanobragg [spec] is not deterministic on case tiny" in result.output
    assert "not compared" in result.output


def test_unwritable_bundle_folder_is_a_one_line_usage_error(fake_c, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    result = _run("trace", "--engine", "c", "--c-bin", fake_c(), "--pixel", 1, 1,
                  "--out", blocker / "bundle")
    assert result.exit_code == 2, result.output
    assert "cannot create" in result.output and len(result.output.strip().splitlines()) == 1

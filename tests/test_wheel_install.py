"""nbparity installed the way a port team installs it: a wheel in the port's own environment.

The slow test builds the project's wheel (sdist first, as `python -m build` does, so MANIFEST.in
is checked too), installs it into a fresh virtual environment that sees the dependencies of this
project's .venv (torch, pandas, ...) but not the clone, and runs the toolkit from a folder
outside the clone: the embedded default case and the C reference come from the wheel alone.
The fast tests check nbparity.resources: the cache build of the C sources (its flags, its bits,
its failure message, concurrent first uses).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbparity import resources
from nbparity.cli import cli

REPO_ROOT = Path(__file__).resolve().parent.parent
SMALL_CASE = ["-cell", "70", "80", "90", "75", "85", "95", "-default_F", "10",
              "-detpixels", "32", "-N", "3"]


def _env(cache: Path, extra_path: Path | None = None) -> dict[str, str]:
    """The environment of a user's shell: nothing that points into the clone or at a C build."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "NB_C_BIN", "VIRTUAL_ENV", "PYTHONHOME", "CC")}
    env["XDG_CACHE_HOME"] = str(cache)
    if extra_path is not None:
        env["PATH"] = f"{extra_path}{os.pathsep}{env.get('PATH', '')}"
    return env


def _run(command, cwd: Path, env: dict[str, str], timeout: float = 120):
    return subprocess.run([str(c) for c in command], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=timeout)


def _ok(proc: subprocess.CompletedProcess, expected: int = 0) -> subprocess.CompletedProcess:
    assert proc.returncode == expected, (
        f"exit {proc.returncode} (expected {expected}) from {proc.args}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """A fresh venv holding only the wheel; the main .venv's site-packages on its path."""
    base = tmp_path_factory.mktemp("wheel-install")
    dist, venv = base / "dist", base / "venv"
    build_env = _env(base / "build-cache")  # pip's own cache stays out of the checked one
    # The sdist from the clone (only nbparity.egg-info, git-ignored, is written there), then
    # the wheel from the sdist: no build/ folder of the clone can leak stale files into it.
    sdist = _ok(_run([sys.executable, "-c",
                      "import sys; from setuptools import build_meta; "
                      "print(build_meta.build_sdist(sys.argv[1]))", dist],
                     REPO_ROOT, build_env))
    sdist_path = dist / sdist.stdout.strip().splitlines()[-1]
    _ok(_run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
              "--disable-pip-version-check", "-q", "-w", dist, sdist_path], base,
             build_env, timeout=300))
    (wheel,) = dist.glob("nbparity-*.whl")
    # --without-pip plus this venv's pip aimed at it (--python): a second of work instead of
    # bootstrapping pip; the scripts still get the new venv's interpreter.
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", venv], base, build_env))
    python = venv / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps",
              "--no-index", "--disable-pip-version-check", "-q", wheel], base,
             build_env, timeout=300))
    site = Path(_ok(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()"
                          "['purelib'])"], base, build_env)).stdout.strip())
    # A path line of a .pth is added to sys.path, but the .pth files in that folder are not
    # run: torch & co. become importable while the clone's editable finder stays inactive.
    (site / "_main_venv_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = base / "port"  # the port's folder, outside the clone
    work.mkdir()
    return {"python": python, "bin": venv / "bin", "site": site, "work": work,
            "cache": base / "cache", "wheel": wheel, "venv": venv}


@pytest.mark.slow
def test_wheel_works_from_the_ports_folder(installed):
    py, bin_dir, work, cache = (installed[k] for k in ("python", "bin", "work", "cache"))
    env = _env(cache, bin_dir)
    assert not cache.exists()

    # The wheel carries the default case, its inputs and the C sources; git holds them once.
    names = subprocess.run([sys.executable, "-m", "zipfile", "-l", installed["wheel"]],
                           capture_output=True, text=True, check=True).stdout
    for member in ("nbparity/_data/traces/cases.toml", "nbparity/_data/traces/default/P1.hkl",
                   "nbparity/_data/traces/default/A.mat", "nbparity/_data/c_reference/Makefile",
                   "nbparity/_data/c_reference/src/main.c", "nbparity/resources.py"):
        assert member in names, f"{member} is not in the wheel"

    # The installed package is the wheel's, and the clone is nowhere on sys.path.
    where = json.loads(_ok(_run([py, "-c", textwrap.dedent("""\
        import json, sys, nbparity, simulator
        from nbparity import resources
        print(json.dumps({"nbparity": nbparity.__file__, "simulator": simulator.__file__,
                          "root": str(resources.repo_root()), "path": sys.path}))""")],
        work, env)).stdout)
    venv = str(installed["venv"])
    assert where["nbparity"].startswith(venv) and where["simulator"].startswith(venv), where
    assert where["root"] == "None"
    assert not any(p and Path(p).resolve() == REPO_ROOT for p in where["path"]), where["path"]

    # First use: the default case from the package data, the C reference built into the cache.
    first = _ok(_run([bin_dir / "nbparity", "trace", "--pixel", 685, 1039,
                      "--phi-carryover-mode", "c-parity"], work, env))
    assert first.stderr.count("nbparity: building the C reference into") == 1, first.stderr
    assert "PARITY" in first.stdout
    (built,) = (cache / "nbparity").glob("*/nanobragg-ref")
    assert os.access(built, os.X_OK)
    stamp = built.stat().st_mtime_ns
    (bundle,) = (work / "runs").iterdir()  # the bundle goes to the current folder's runs/
    manifest = json.loads((bundle / "run.json").read_text())
    assert manifest["git"] == {"commit": None, "dirty": None}  # the clone's commit is not it
    assert manifest["case_folder"].startswith(venv)

    # Second use: no rebuild, same binary.
    second = _ok(_run([bin_dir / "nbparity", "trace", "--pixel", 685, 1039,
                       "--phi-carryover-mode", "c-parity"], work, env))
    assert "building" not in second.stderr, second.stderr
    assert built.stat().st_mtime_ns == stamp
    assert len(list((cache / "nbparity").glob("*/nanobragg-ref"))) == 1

    # diff on two logs in the port's folder: parity, then a value that diverges.
    c_log, py_log = bundle / "c.log", bundle / "py.log"
    shutil.copy(c_log, work / "c.log")
    shutil.copy(py_log, work / "py.log")
    bad = re.sub(r"(TRACE_PY: I_pixel_final )(\S+)",
                 lambda m: m.group(1) + repr(2 * float(m.group(2))), py_log.read_text())
    assert bad != py_log.read_text()
    (work / "bad.log").write_text(bad)
    _ok(_run([bin_dir / "nbparity", "diff", "c.log", "py.log"], work, env))
    diverged = _ok(_run([bin_dir / "nbparity", "diff", "c.log", "bad.log"], work, env), 1)
    assert "I_pixel_final" in diverged.stdout

    # The pytest plugin of the installed wheel, in the port's own test file.
    (work / "test_port.py").write_text(textwrap.dedent(f"""\
        import sys
        import pytest

        def test_parity(assert_parity):
            assert sys.modules["nbparity"].__file__.startswith({venv!r})
            assert_parity("c.log", "py.log")

        def test_divergence_fails(assert_parity):
            with pytest.raises(AssertionError, match="I_pixel_final"):
                assert_parity("c.log", "bad.log")
        """))
    tests = _ok(_run([py, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_port.py"],
                     work, env))
    assert "2 passed" in tests.stdout


def test_cache_build_flags_match_the_makefile():
    """The cache build must give the bits of `make build`: the Makefile's flags, less -Werror."""
    makefile = (REPO_ROOT / "c_reference" / "Makefile").read_text()
    flags = " ".join(re.findall(r"^(?:STD|WARN|OPT|CFLAGS_ALL|LDLIBS_ALL)\s*\??=\s*(.*)$",
                                makefile, re.M))
    expected = set(flags.replace("$(STD)", "").replace("$(WARN)", "").replace("$(OPT)", "")
                   .replace("$(CFLAGS)", "").split()) - {"-Werror"}
    assert expected == set(resources.C_FLAGS) | set(resources.C_LIBS)


def test_concurrent_first_uses_build_once_and_match_make_build(tmp_path, c_binary):
    """Three processes asking at once: one build, renamed into place, whose traces are the
    bits of the Makefile's build."""
    env = _env(tmp_path / "cache")
    code = ("from pathlib import Path; from nbparity import resources; "
            f"print(resources.build_c_reference(Path({str(REPO_ROOT / 'c_reference')!r})))")
    procs = [subprocess.Popen([sys.executable, "-c", code], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(3)]
    results = [(p.communicate(timeout=300), p.returncode) for p in procs]
    assert all(rc == 0 for _, rc in results), results
    paths = {out.strip() for (out, _), _ in results}
    assert len(paths) == 1
    built = Path(paths.pop())
    assert built.parent.parent == tmp_path / "cache" / "nbparity"
    assert sum(err.count("building the C reference") for (_, err), _ in results) == 1
    # no temporary build folder left behind
    assert sorted(p.name for p in built.parent.iterdir()) == [".lock", "nanobragg-ref"]

    def trace(binary: Path, name: str) -> tuple[str, bytes]:
        folder = tmp_path / name  # the same relative output name: stdout names it
        folder.mkdir()
        proc = subprocess.run([binary, *SMALL_CASE, "-trace_pixel", "10", "12",
                               "-floatfile", "image.bin"],
                              capture_output=True, text=True, cwd=folder, timeout=120)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout, (folder / "image.bin").read_bytes()

    assert trace(built, "cache-build") == trace(c_binary, "make-build")


@pytest.fixture
def as_installed(tmp_path, monkeypatch):
    """nbparity.resources behaving as in an installed wheel: package data from a tmp copy."""
    data = tmp_path / "_data"
    shutil.copytree(REPO_ROOT / "c_reference" / "src", data / "c_reference" / "src")
    monkeypatch.setattr(resources, "repo_root", lambda: None)
    monkeypatch.setattr(resources, "DATA_DIR", data)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("NB_C_BIN", raising=False)
    return data


def test_failed_build_is_one_line_and_exit_4(as_installed, tmp_path, monkeypatch):
    compiler = tmp_path / "broken-cc"
    compiler.write_text("#!/bin/sh\necho 'src/main.c:3:1: error: expected ; before }' >&2\n"
                        "echo '    3 | }' >&2\necho 'compilation terminated.' >&2\nexit 1\n")
    compiler.chmod(0o755)
    monkeypatch.setenv("CC", str(compiler))
    result = CliRunner().invoke(cli, ["trace", "--engine", "c", "--pixel", "1", "1",
                                      "--out", str(tmp_path / "b"), "--", *SMALL_CASE])
    assert result.exit_code == 4, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = [ln for ln in result.output.splitlines() if ln.strip()]
    assert lines[0].startswith("nbparity: building the C reference into")
    assert len(lines) == 2 and "failed: src/main.c:3:1: error: expected ; before }" in lines[1]
    assert not list((tmp_path / "cache").glob("nbparity/*/nanobragg-ref"))  # nothing half-built
    assert not list((tmp_path / "cache").glob("nbparity/*/.nanobragg-ref.*"))


def test_missing_compiler_is_one_line(as_installed, monkeypatch, tmp_path):
    monkeypatch.setenv("CC", str(tmp_path / "no-such-cc"))
    with pytest.raises(resources.BuildError, match="no C compiler .*no-such-cc"):
        resources.c_reference_binary()


def test_resources_in_the_clone():
    assert resources.repo_root() == REPO_ROOT
    assert resources.cases_file() == REPO_ROOT / "traces" / "cases.toml"
    assert resources.golden_dir() == REPO_ROOT / "traces" / "golden"
    assert resources.c_source_dir() == REPO_ROOT / "c_reference"


def test_cache_key_follows_the_sources_and_the_compiler(as_installed, monkeypatch):
    monkeypatch.setenv("CC", "cc")
    key = resources.build_key()
    assert len(key) == 16 and key == resources.build_key()
    main_c = as_installed / "c_reference" / "src" / "main.c"
    main_c.write_text(main_c.read_text() + "\n/* changed */\n")
    changed = resources.build_key()
    assert changed != key
    monkeypatch.setenv("CC", "gcc")
    assert resources.build_key() != changed


def test_golden_dir_outside_a_clone_is_the_current_folder(as_installed):
    assert resources.golden_dir() == Path("golden")
    assert resources.cases_file() == as_installed / "traces" / "cases.toml"

"""Lost and replaced data, and the nbparity process as CI runs it: what --output / --junit /
golden logs do to what is already there (devices, FIFOs, modes, links), SIGTERM, a standard
output that cannot be written, and running out of memory while reading a log."""

from __future__ import annotations

import contextlib
import os
import signal
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from nbparity.atomic import atomic_write
from nbparity.cli import cli, main

BLOCK = {(3, 7): {"pixel": {"distance_meters": 0.1}, "steps": {(0, 0): {"F_latt": 12.5}},
                  "final": {"I_pixel_final": 17.25}}}


def _run(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


def _nbparity(*args, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nbparity", *map(str, args)], text=True,
                          timeout=120, **kwargs)


def _one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in text, text
    return lines[0]


@pytest.fixture
def logs(tmp_path, make_log):
    c, p = tmp_path / "c.log", tmp_path / "py.log"
    c.write_text(make_log("C", BLOCK))
    p.write_text(make_log("PY", BLOCK))
    return c, p


@pytest.fixture
def umask():
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


@pytest.fixture
def null_device(tmp_path):
    """A private /dev/null (a character device made with mknod, root only): what the test
    checks is that it is still a device afterwards, which on the real /dev/null of a machine
    would mean breaking that machine when the check fails."""
    if os.geteuid() != 0:
        pytest.skip("mknod needs root; the FIFO tests cover the same path")
    path = tmp_path / "null"
    try:
        os.mknod(path, stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.close(os.open(path, os.O_WRONLY))
    except OSError as exc:
        pytest.skip(f"no character device here: {exc}")
    return path


@pytest.fixture
def tiny_gate(tmp_path):
    """A gate of one case whose reference and candidate are a shell script (no C build)."""
    port = tmp_path / "port.sh"
    port.write_text('#!/bin/sh\necho "TRACE_PY: trace_pixel $1 $2"\n'
                    'echo "TRACE_PY: I_pixel_final 1.5"\n')
    port.chmod(0o755)
    profile = tmp_path / "p.toml"
    profile.write_text('command = ["{profile_dir}/port.sh", "{slow}", "{fast}"]\n'
                       'one_run_per_pixel = true\n')
    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "tiny"\nargs = "-N 1"\npixels = [[5, 6]]\n')

    def gate(junit):
        return _run("gate", cases, "--reference", profile, "--candidate", profile,
                    "--no-determinism", "--junit", junit)
    return gate


def _fifo_reader(path: Path) -> int:
    """A FIFO at ``path`` with a reader already there (non-blocking, so no thread: what a
    writer writes waits in the pipe's buffer)."""
    os.mkfifo(path)
    return os.open(path, os.O_RDONLY | os.O_NONBLOCK)


def _drain(fd: int) -> bytes:
    data = b""
    with contextlib.suppress(BlockingIOError):
        while chunk := os.read(fd, 65536):
            data += chunk
    os.close(fd)
    return data


# --------------------------------------------------------------------------- 1. what is there

def test_output_into_a_character_device_leaves_it_a_device(logs, null_device):
    result = _run("diff", *logs, "--output", null_device, "--force")
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(null_device).st_mode)
    # a device is written, not replaced: no --force needed (nothing is lost)
    assert _run("diff", *logs, "--output", null_device).exit_code == 0


def test_junit_into_a_character_device_leaves_it_a_device(tiny_gate, null_device):
    result = tiny_gate(null_device)
    assert result.exit_code == 0, result.output
    assert stat.S_ISCHR(os.stat(null_device).st_mode)


def test_output_into_a_fifo_reaches_its_reader(logs, tmp_path):
    fifo = tmp_path / "report.fifo"
    reader = _fifo_reader(fifo)
    result = _run("diff", *logs, "--format", "json", "--output", fifo, "--force")
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b'"I_pixel_final"' in _drain(reader)


def test_junit_into_a_fifo_reaches_its_reader(tiny_gate, tmp_path):
    fifo = tmp_path / "junit.fifo"
    reader = _fifo_reader(fifo)
    result = tiny_gate(fifo)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert b"<testsuite" in _drain(reader)


def test_a_fifo_nobody_reads_is_one_line_not_a_hang(logs, tmp_path):
    fifo = tmp_path / "report.fifo"
    os.mkfifo(fifo)
    result = _run("diff", *logs, "--output", fifo, "--force")
    assert result.exit_code == 2
    assert "a FIFO with no reader" in _one_line(result.output)
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)


def test_a_replaced_file_keeps_its_mode(logs, tmp_path, umask):
    out = tmp_path / "r.txt"
    out.write_text("old\n")
    out.chmod(0o644)
    umask(0o077)  # neither the umask nor mkstemp's 0600 may decide it
    assert _run("diff", *logs, "--output", out, "--force").exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == 0o644 and "I_pixel_final" in out.read_text()


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640)])
def test_a_new_file_gets_the_umask_default(logs, tmp_path, umask, mask, mode):
    umask(mask)
    out = tmp_path / "r.txt"
    assert _run("diff", *logs, "--output", out).exit_code == 0
    assert stat.S_IMODE(out.stat().st_mode) == mode


def test_a_rewritten_golden_log_keeps_its_mode(tmp_path, monkeypatch, umask):
    from nbparity import runner
    from nbparity.cases import load_cases

    cases = tmp_path / "cases.toml"
    cases.write_text('[[case]]\nname = "tiny"\nargs = "-N 1"\npixels = [[5, 6]]\n')
    case = load_cases(cases)[0]
    monkeypatch.setattr(runner, "c_trace_text", lambda case, mode, c_bin=None: f"new {mode}\n")
    out = tmp_path / "golden"
    out.mkdir()
    for mode in runner.GOLDEN_MODES:
        (out / runner.golden_name(case, mode)).write_text("old\n")
        (out / runner.golden_name(case, mode)).chmod(0o664)
    umask(0o077)
    written = runner.write_golden([case], out)
    assert len(written) == len(runner.GOLDEN_MODES)
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o664
        assert path.read_text().startswith("new ")


def test_a_link_to_a_file_keeps_its_link(logs, tmp_path):
    target = tmp_path / "real.txt"
    target.write_text("old\n")
    link = tmp_path / "link.txt"
    link.symlink_to("real.txt")
    assert _run("diff", *logs, "--output", link, "--force").exit_code == 0
    assert link.is_symlink() and "I_pixel_final" in target.read_text()


def test_a_directory_is_refused_in_one_line(logs, tmp_path):
    folder = tmp_path / "d"
    folder.mkdir()
    with pytest.raises(IsADirectoryError):
        atomic_write(folder, "x", overwrite=True)
    result = _run("diff", *logs, "--output", folder, "--force")
    assert result.exit_code == 2
    _one_line(result.output)
    assert folder.is_dir()


# --------------------------------------------------------------------------- 4. no such place

@pytest.mark.parametrize("link_to", ["missing.txt", "no/such/folder/r.txt"])
def test_output_to_a_dangling_link_is_one_line(logs, tmp_path, link_to):
    link = tmp_path / "out.txt"
    link.symlink_to(link_to)
    for force in ([], ["--force"]):
        result = _run("diff", *logs, "--output", link, *force)
        assert result.exit_code == 2
        assert "dangling symbolic link" in _one_line(result.output)
        assert link.is_symlink() and os.readlink(link) == link_to  # the link is untouched
    assert not (tmp_path / "missing.txt").exists()


def test_junit_to_a_dangling_link_or_a_missing_folder_is_one_line(tiny_gate, tmp_path):
    link = tmp_path / "junit.xml"
    link.symlink_to("missing.xml")
    for junit, says in ((link, "dangling symbolic link"),
                        (tmp_path / "no" / "such" / "j.xml", "No such file or directory")):
        result = tiny_gate(junit)
        assert result.exit_code == 2
        assert "--junit" in result.output and says in result.output
        assert "Traceback" not in result.output
    assert link.is_symlink()


def test_output_in_a_missing_folder_is_one_line(logs, tmp_path):
    result = _run("diff", *logs, "--output", tmp_path / "no" / "such" / "r.txt")
    assert result.exit_code == 2
    assert "No such file or directory" in _one_line(result.output)


# --------------------------------------------------------------------------- 3. standard output

@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="no /dev/full")
@pytest.mark.parametrize("command", [["schema"], ["cases"], ["diff", "{c}", "{p}"]])
def test_a_full_standard_output_is_one_line_exit_2(logs, command):
    args = [a.format(c=logs[0], p=logs[1]) for a in command]
    with open("/dev/full", "w") as full:
        proc = _nbparity(*args, stdout=full, stderr=subprocess.PIPE)
    assert proc.returncode == 2, proc.stderr
    assert _one_line(proc.stderr) == ("nbparity: error: cannot write to standard output: "
                                      "No space left on device")


@pytest.mark.parametrize("command", [["schema"], ["diff", "{c}", "{p}"]])
def test_a_closed_pipe_stays_quiet(logs, command):
    args = [a.format(c=logs[0], p=logs[1]) for a in command]
    proc = subprocess.Popen([sys.executable, "-m", "nbparity", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    proc.stdout.close()  # the reader is gone before anything is written (`| head -0`)
    err = proc.stderr.read()
    assert proc.wait(timeout=120) == 1
    assert err == ""


# --------------------------------------------------------------------------- 5. out of memory

def test_out_of_memory_reading_a_log_names_the_file_and_its_size(logs, monkeypatch, capsys):
    import nbparity.parse.reading

    def no_memory(path):
        raise MemoryError

    monkeypatch.setattr(nbparity.parse.reading, "_read_file", no_memory)
    with pytest.raises(SystemExit) as exit_:
        main(["diff", str(logs[0]), str(logs[1])])
    assert exit_.value.code == 2
    line = _one_line(capsys.readouterr().err)
    size = logs[0].stat().st_size
    assert str(logs[0]) in line and f"out of memory while reading this log ({size} bytes)" in line


def test_out_of_memory_anywhere_else_is_one_line(logs, monkeypatch, capsys):
    import nbparity.compare

    def no_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr(nbparity.compare, "compare_logs", no_memory)
    with pytest.raises(SystemExit) as exit_:
        main(["diff", str(logs[0]), str(logs[1])])
    assert exit_.value.code == 2
    assert _one_line(capsys.readouterr().err) == "nbparity: error: out of memory"


# --------------------------------------------------------------------------- 2. SIGTERM, SIGINT

def _gone(pid: int, within_s: float = 10.0) -> bool:
    """True once ``pid`` has exited (a zombie counts: a container's init may not reap)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            return True
        if fields[0] in ("Z", "X"):
            return True
        time.sleep(0.05)
    return False


def _read_pid(path: Path, deadline: float) -> int:
    while time.monotonic() < deadline:
        with contextlib.suppress(FileNotFoundError):
            text = path.read_text()
            if text.endswith("\n"):
                return int(text)
        time.sleep(0.05)
    raise AssertionError(f"{path} never written")


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs /proc")
@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 130)])
def test_a_signal_stops_the_engines_and_leaves_nothing_behind(tmp_path, signum, code):
    """A cancelled CI job: the engine (a profile running a shell that started a `sleep` of its
    own) is killed with everything it started, the hidden staging folder and the engine's
    scratch folder go, and the command says so in one line."""
    port = tmp_path / "port.sh"
    port.write_text(textwrap.dedent(f"""\
        #!/bin/sh
        echo $$ > "{tmp_path}/engine.pid"
        sleep 120 &
        echo $! > "{tmp_path}/grandchild.pid"
        wait
        """))
    port.chmod(0o755)
    profile = tmp_path / "slow.toml"
    profile.write_text('command = ["{profile_dir}/port.sh", "{args}", "{pixels}"]\n')
    work, scratch = tmp_path / "work", tmp_path / "tmp"
    work.mkdir()
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}
    proc = subprocess.Popen([sys.executable, "-m", "nbparity", "trace", "--engine", "py",
                             "--candidate", str(profile), "--pixel", "5", "6", "--", "-N", "1"],
                            cwd=work, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 90
        engine = _read_pid(tmp_path / "engine.pid", deadline)
        grandchild = _read_pid(tmp_path / "grandchild.pid", deadline)
        assert list(scratch.glob("nbparity-port-*")) and list(work.glob("runs/.trace-*"))
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    try:
        assert proc.returncode == code, (out, err)
        assert "Traceback" not in err
        if signum == signal.SIGTERM:
            assert _one_line(err).startswith("nbparity: terminated (SIGTERM)")
        assert _gone(engine) and _gone(grandchild)
    finally:  # a failing run must not leave its sleep behind either
        for pid in (engine, grandchild):
            with contextlib.suppress(OSError):
                if str(tmp_path) in Path(f"/proc/{pid}/cmdline").read_text() or \
                        Path(f"/proc/{pid}/comm").read_text().strip() == "sleep":
                    os.kill(pid, signal.SIGKILL)
    assert list(work.glob("runs/*")) + list(work.glob("runs/.*")) == []  # no (partial) bundle
    assert list(scratch.iterdir()) == []

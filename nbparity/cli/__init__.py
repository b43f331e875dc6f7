"""The ``nbparity`` command line: a click group whose commands stay thin.

Every error reaches the user as one line on stderr plus the contract's exit code
(``nbparity.exitcodes``), never a traceback.

One module per command family: ``group`` (the click group, ``Failure``, output helpers),
``options`` (shared options: tolerances, key maps, cases, engines), ``diff`` (diff,
first-divergence), ``trace`` (schema, cases, trace, gate, golden), ``fuzz`` and ``images``
(images, explain). Here: ``main`` and ``console_main``, which turn what no command can into one
line (SIGTERM, an unwritable standard output, running out of memory).
"""

from __future__ import annotations

import contextlib
import errno
import os
import sys

import click

from nbparity import exitcodes, signals
from nbparity.cli import diff, fuzz, images, trace  # noqa: F401 - the commands register
from nbparity.cli.group import cli

# errors of a write whose stream has no file name: the standard output (full disk, quota, I/O
# error, closed); a closed pipe (EPIPE) is not one: `nbparity ... | head` stays quiet
_WRITE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EIO, errno.EBADF, errno.EROFS}
_stdout_reported = False


def _say(message: str) -> None:
    """One line on stderr, if stderr still takes one."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(f"nbparity: {message}", err=True)


def _stdout_failed(exc: OSError) -> None:
    global _stdout_reported
    if not _stdout_reported:
        _stdout_reported = True
        _say(f"error: cannot write to standard output: {exc.strerror or exc}")


def main(argv: list[str] | None = None) -> int:
    """Run one command; returns its exit code (callable in process, e.g. from tests).

    What no command can turn into its own one-line error ends here as one: SIGTERM (exit 143,
    see ``nbparity.signals``), a standard output that cannot be written (exit 2) and running
    out of memory (exit 2: an input too large to read here).
    """
    out_of_memory = False
    try:
        result = cli.main(args=argv, prog_name="nbparity")
    except signals.Terminated:
        _say("terminated (SIGTERM): engines stopped, partial output removed")
        sys.exit(signals.EXIT_CODE)
    except MemoryError:
        out_of_memory = True  # reported below, once the frames that hold the memory are gone
    except OSError as exc:
        if exc.errno == errno.EPIPE:  # the reader left (`| head`): nothing to say
            sys.exit(1)
        if exc.filename is not None or exc.errno not in _WRITE_ERRNOS:
            raise
        _stdout_failed(exc)
        sys.exit(exitcodes.USAGE)
    if out_of_memory:
        _say("error: out of memory")
        sys.exit(exitcodes.USAGE)
    return result if isinstance(result, int) else 0


def console_main() -> None:
    """The ``nbparity`` script and ``python -m nbparity``: ``main()``, then a quick exit.

    When the command returns, its output is written and every file is closed and renamed into
    place; the interpreter's teardown would only free memory, which takes ~0.5 s once torch is
    loaded (a quarter of `nbparity trace`'s 2 s budget). So flush and leave. SIGTERM unwinds
    the command as Ctrl-C does (``nbparity.signals``) while it runs.
    """
    signals.install()
    try:
        try:
            code = main()
        except SystemExit as exc:  # commands end with sys.exit(code)
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        signals.uninstall()
    except signals.Terminated:  # after the command's end, before uninstall(): output complete
        _say("terminated (SIGTERM)")
        code = signals.EXIT_CODE
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except ValueError:
            pass
        except OSError as exc:  # output still buffered and lost: never a silent exit 0
            if stream is sys.stdout and exc.errno != errno.EPIPE:
                _stdout_failed(exc)
                code = code or exitcodes.USAGE
    os._exit(code)


__all__ = ["cli", "console_main", "main"]

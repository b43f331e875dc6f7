"""SIGTERM as an exception, so that a cancelled run cleans up as Ctrl-C does.

A CI job that is cancelled (or times out) gets SIGTERM, whose default action ends the process
at once: a trace's hidden staging folder, the scratch folders and the engines it started would
be left behind. ``install()`` (the ``nbparity`` script calls it) makes SIGTERM raise
``Terminated`` in the main thread instead: every ``with`` block and ``finally`` unwinds (the
bundle removes its staging folder, temporary folders go), the engine runner kills the engine's
process group (``nbparity.engines``), and the command exits 143 (128 + SIGTERM, what a shell
reports for a process SIGTERM ended) with one line on stderr.

``Terminated`` derives from BaseException, not KeyboardInterrupt: click turns a
KeyboardInterrupt into its "Aborted" (exit 130, which Ctrl-C keeps), and no ``except
Exception`` may swallow it.
"""

from __future__ import annotations

import signal

EXIT_CODE = 128 + signal.SIGTERM  # 143


class Terminated(BaseException):
    """The process received SIGTERM."""


def _raise_terminated(signum, frame) -> None:
    # once: a second SIGTERM must not break off the clean-up the first one started
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise Terminated()


def install() -> None:
    """Raise ``Terminated`` on SIGTERM (main thread only, as Python's handlers run there)."""
    signal.signal(signal.SIGTERM, _raise_terminated)


def uninstall() -> None:
    """Back to dying at once: once a command has returned there is nothing left to clean."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)

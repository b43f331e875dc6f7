"""Writes that never leave a half file and never replace what is not a regular file.

A regular file (new, or replaced with ``overwrite``) is written into a temporary file beside it
and renamed into place: a reader sees the old content or the new one, never a part. What the
rename would destroy is not replaced: a character or block device (``/dev/null``, ``/dev/stdout``)
or a FIFO (a named pipe, ``--output >(gzip > r.gz)``) is opened and written directly, as a
shell's ``>`` would (no ``--force`` needed: nothing is replaced; a block device, which holds
data as a file does, is written in place only with ``overwrite``); a symbolic link to a file keeps
its link (its target is replaced); a directory, a dangling link and anything else are refused
with an OSError whose ``strerror`` says why. A replaced file keeps its permission mode (and,
where allowed, its owner); a new one gets the mode a plain ``open`` gives (0666 less the umask),
not the temporary file's 0600.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import stat
import tempfile
from pathlib import Path


def atomic_write(path: str | Path, data: bytes | str, overwrite: bool = False) -> Path:
    """Write ``data`` to ``path``; FileExistsError if a regular file is there and ``overwrite``
    is False; another OSError (naming ``path``) if it cannot be written."""
    path = Path(path)
    payload = data.encode() if isinstance(data, str) else data
    try:
        st = os.stat(path)  # follows links: what a write would reach
    except FileNotFoundError:
        if os.path.islink(path):
            raise FileNotFoundError(errno.ENOENT, "a dangling symbolic link (to "
                                    f"{os.readlink(path)})", str(path)) from None
        st = None
    if st is not None:
        if stat.S_ISBLK(st.st_mode) and not overwrite:  # a disk holds data, as a file does
            raise FileExistsError(errno.EEXIST, "exists", str(path))
        if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            _write_special(path, payload, stat.S_ISFIFO(st.st_mode))
            return path
        if stat.S_ISDIR(st.st_mode):
            raise IsADirectoryError(errno.EISDIR, "a directory", str(path))
        if not stat.S_ISREG(st.st_mode):
            raise OSError(errno.EINVAL, "not a regular file, a device or a FIFO", str(path))
        if not overwrite:
            raise FileExistsError(errno.EEXIST, "exists", str(path))
        target = Path(os.path.realpath(path))  # a link keeps its link: its target is replaced
        mode = stat.S_IMODE(st.st_mode)
    else:
        target, mode = path, 0o666 & ~_umask()
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            if st is not None and (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                with contextlib.suppress(OSError):  # only root may give a file away
                    os.fchown(handle.fileno(), st.st_uid, st.st_gid)
            os.fchmod(handle.fileno(), mode)  # after fchown, which clears set-id bits
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    return path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_special(path: Path, payload: bytes, fifo: bool) -> None:
    """Write into a device or a FIFO in place. A FIFO is opened without blocking first, so that
    one nobody reads is an error (ENXIO) instead of a wait for ever."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        if fifo and exc.errno == errno.ENXIO:
            raise OSError(errno.ENXIO, "a FIFO with no reader", str(path)) from None
        raise
    with os.fdopen(fd, "wb") as handle:
        flags = fcntl.fcntl(fd, fcntl.F_GETFL)
        fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~os.O_NONBLOCK)  # then write as anyone would
        handle.write(payload)

"""The readers' entry points: a log's text or file, sent to the reader its grammar needs (a
stock printout, the contract fast path, the line-by-line reader)."""

from __future__ import annotations

import gzip
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from nbparity.parse import legacy
from nbparity.parse.builder import _RecordBuilder
from nbparity.parse.contract import (
    _ASCII_OTHER_BREAKS,
    _BLOCK_BYTES,
    _FULL_DIGITS_RE,
    _TRACE_PIXEL_RE,
    _finish_contract,
    _memory_blocks,
    _parse_contract_fast,
    _StepScan,
)
from nbparity.parse.log import TraceLog
from nbparity.parse.printout import _looks_like_printout, parse_printout_log
from nbparity.parse.records import TraceFormatError

if TYPE_CHECKING:
    from nbparity.keymap import KeyMap


def parse_trace_text(text: str, source: str = "<string>", keymap: KeyMap | None = None
                     ) -> TraceLog:
    """Parse a trace log in the contract grammar, a legacy instrumented form or a stock
    printout.

    The grammar is decided by the log itself: a log holding ``trace_pixel`` records is a
    contract log (its grammar lines are strict, duplicates are structural errors); otherwise
    it is legacy (read tolerantly: lines that cannot be read are skipped and listed in
    ``TraceLog.skipped``; a key printed again for the same record keeps the first and is
    noted). ``keymap``: a user key map (``nbparity.keymap.load_keymap``) applied to every
    line, over the built-in aliases (which apply to lines outside the contract grammar).
    Contract logs take a vectorised path for their step lines (the bulk of a log); anything
    unusual falls back to the line-by-line reader, which names the offending line.
    """
    if "\x00" in text:
        raise TraceFormatError(f"{source}:1: binary data, not a trace log")
    return _parse_log(_LogText(text, None), source, keymap)


class _LogText:
    """A log as text and as UTF-8 bytes; a file arrives as bytes, a string as text, and the
    other form is made only when a reader needs it (decoding 80 MB costs a tenth of a second).
    """

    def __init__(self, text: str | None, data: bytes | None):
        self._text, self._data = text, data  # data, when given, is ASCII

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = self._data.decode("ascii")
        return self._text

    @property
    def data(self) -> bytes:
        if self._data is None:
            self._data = self._text.encode("utf-8", "surrogatepass")
        return self._data

    def newline_separated(self) -> bytes:
        """The bytes with "\\n" as the only line break, lines as str.splitlines() numbers them."""
        if self._text is None and not any(b in self._data for b in _ASCII_OTHER_BREAKS):
            return self._data
        if _has_other_breaks(self.text):
            return "\n".join(self.text.splitlines()).encode("utf-8", "surrogatepass")
        return self.data


def _parse_log(log: _LogText, source: str, keymap: KeyMap | None = None,
               fast_path: bool = True) -> TraceLog:
    """``fast_path`` False: the caller's fast path already found that this log needs the line
    reader."""
    contract = _TRACE_PIXEL_RE.search(log.data) is not None
    # a printout block alone is a stock run's; beside TRACE lines (a hand-instrumented build
    # run with -printout_pixel) the TRACE lines are the trace, the block console output
    if (not contract and _looks_like_printout(log.text)
            and _ANY_TRACE_LINE_RE.search(log.data) is None):
        return parse_printout_log(log.text, source)
    # A contract log is exact when it prints round-trip digits (%.17g); a contract-shaped log
    # written by hand or by a port with %g or %.6f is read at the precision it prints.
    exact = contract and _FULL_DIGITS_RE.search(log.data) is not None
    if exact and fast_path:
        fast = _parse_contract_fast(_memory_blocks(log.newline_separated()), source, keymap)
        if fast is not None:
            return fast
    builder = _RecordBuilder(source, on_duplicate="error" if contract else "first",
                             keymap=keymap)
    builder.round_trip = contract
    ignored = legacy.read_lines(builder, enumerate(log.text.splitlines(), start=1), contract)
    if not builder.tokens:
        if builder.skipped:
            first = builder.skipped_list()[0]
            count = sum(entry[0] for entry in builder.skipped.values())
            raise TraceFormatError(f"{source}:{first['line']}: no TRACE_ line could be read "
                                   f"({count} skipped; first: {first['shape']})")
        raise TraceFormatError(f"{source}:1: no TRACE_ lines found (empty or not a trace log)")
    # Contract logs print values with %.17g: exact for doubles, no resolution limit.
    records = builder.records(exact=exact)
    return TraceLog(source, records, "contract" if contract else "legacy",
                    dict(builder.repeated), ignored, builder.skipped_list(),
                    builder.notes_list(), np.array(sorted(builder.ambiguous), np.int64),
                    None if exact else builder.precision)


# characters other than str.splitlines() breaks at besides "\n"
#: a line of the legacy reader's (TRACE_<NAME>: ..., TRACE: ..., TRACE ...)
_ANY_TRACE_LINE_RE = re.compile(rb"^[ \t]*TRACE[_: ]", re.M)
_OTHER_BREAKS_RE = re.compile("[\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]")


def _has_other_breaks(text: str) -> bool:
    if text.isascii():  # the common case: substring tests run at memchr speed
        return any(ch in text for ch in "\r\x0b\x0c\x1c\x1d\x1e")
    return _OTHER_BREAKS_RE.search(text) is not None


def parse_trace_file(path: str | Path, keymap: KeyMap | None = None) -> TraceLog:
    """Read and parse a log file (``keymap`` as for ``parse_trace_text``); unreadable files,
    and files too large for the memory left, raise TraceFormatError naming the file."""
    path = Path(path)
    try:
        return _parse_trace_file(path, keymap)
    except MemoryError:
        pass  # raised below, once this handler has let go of the frames that hold the buffers
    try:
        size = f" ({os.stat(path).st_size} bytes)"
    except OSError:
        size = ""
    raise TraceFormatError(f"{path}:0: out of memory while reading this log{size}")


def _parse_trace_file(path: Path, keymap: KeyMap | None) -> TraceLog:
    try:
        log_file = _read_file(path)
    except OSError as exc:
        raise TraceFormatError(f"{path}:0: cannot read ({exc.strerror or exc})") from None
    with log_file:
        try:
            fast = _parse_contract_stream(log_file, str(path), keymap)
            data = log_file.whole() if fast is _WHOLE or fast is None else None
        except (OSError, EOFError) as exc:  # EOFError: a gzip file cut short
            reason = getattr(exc, "strerror", None) or exc or "cut short"
            raise TraceFormatError(f"{path}:0: cannot read ({reason})") from None
    if data is None:
        return fast
    if b"\x00" in data:
        raise TraceFormatError(f"{path}:1: binary data, not a trace log")
    if data.isascii():  # the common case: no need to decode (the fast path reads bytes)
        return _parse_log(_LogText(None, data), str(path), keymap, fast_path=fast is _WHOLE)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        # stray bytes (a banner in Latin-1) do not make a log unreadable: they are kept as lone
        # surrogates, and the line reader skips and reports the TRACE lines that hold any
        text = data.decode("utf-8", "surrogateescape")
    return parse_trace_text(text, str(path), keymap)


#: _parse_contract_stream's answer for a log it leaves to the whole-file readers
_WHOLE = object()


def _parse_contract_stream(log_file: _LogFile, source: str, keymap: KeyMap | None):
    """A contract log read block by block (no copy of the whole file is ever held): its
    TraceLog; None when it needs the line reader; _WHOLE when the whole-file readers decide
    (a first block without a trace_pixel line or a full-precision number, NUL bytes, bytes
    that are not ASCII, line breaks other than "\n"): they give the same records."""
    scan = _StepScan()
    for data, size in log_file.blocks():
        if (b"\x00" in data or not data.isascii()
                or any(data.find(brk, 0, size) >= 0 for brk in _ASCII_OTHER_BREAKS)):
            return _WHOLE
        if scan.lines == 0 and not (_TRACE_PIXEL_RE.search(data, 0, size)
                                    and _FULL_DIGITS_RE.search(data, 0, size)):
            return _WHOLE  # (a legacy log, a printout, a contract log printed with %g)
        scan.add(data, size)
    if scan.lines == 0:
        return _WHOLE  # an empty file
    return _finish_contract(scan, source, keymap)


class _LogFile:
    """A log file, open: read in blocks of whole lines, or whole. A gzip file (its first two
    bytes 1f 8b) is read through gzip; a stream that cannot seek (a pipe, ``<(zcat ...)``)
    keeps the blocks it has given, so that it can still be read whole."""

    def __init__(self, path: Path):
        self._raw = path.open("rb")
        try:
            gzipped = self._raw.peek(2)[:2] == b"\x1f\x8b"
        except OSError:
            gzipped = False  # (peek fails where read would: the read reports it)
        self.stream = gzip.GzipFile(fileobj=self._raw) if gzipped else self._raw
        self._given: list[bytes] | None = None if self.stream.seekable() else []

    def __enter__(self) -> _LogFile:
        return self

    def __exit__(self, *exc) -> None:
        self.stream.close()
        self._raw.close()

    def blocks(self):
        """(data, size): data[:size] is whole lines, about _BLOCK_BYTES of them (the last
        block: the rest of the file, its last line perhaps without a newline)."""
        pending: list[bytes] = []  # a line longer than a block, so far
        while True:
            chunk = self.stream.read(_BLOCK_BYTES)
            if self._given is not None:
                self._given.append(chunk)
            if not chunk:
                if pending:
                    data = b"".join(pending)
                    yield data, len(data)
                return
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                pending.append(chunk)
                continue
            data = b"".join([*pending, chunk]) if pending else chunk
            yield data, len(data) - len(chunk) + cut
            pending = [chunk[cut:]] if cut < len(chunk) else []

    def whole(self) -> bytearray:
        """The file's bytes, from its start."""
        if self._given is not None:  # a stream: what blocks() gave, then the rest
            data = bytearray(b"".join(self._given))
            self._given = None
            data += self.stream.read()
            return data
        self.stream.seek(0)
        size = os.fstat(self.stream.fileno()).st_size
        data = bytearray(size)
        del data[self.stream.readinto(data):]
        data += self.stream.read()  # a file that grew meanwhile
        return data


def _read_file(path: Path) -> _LogFile:
    """The log file, opened for reading (in blocks, or whole)."""
    return _LogFile(path)

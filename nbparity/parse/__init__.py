"""Trace readers: every trace grammar the toolkit accepts, into one tidy pandas frame.

One reader per format, one module each:

- ``contract``: the contract grammar (version 1), ``TRACE_<E>: key v...`` and
  ``TRACE_<E>_PHI: phi_tic=i mos_tic=j [idx=n ...] key v...``: the vectorised fast path for its
  plain step lines, which hands every other line to the line reader;
- ``legacy``: the line-by-line reader, the reference for contract lines and the tolerant reader
  of legacy and ad-hoc instrumented logs (lines it cannot read are skipped and reported, never
  fatal); key maps (``nbparity.keymap``) are applied here only;
- ``printout``: the stock nanoBragg ``-printout_pixel`` block.

``reading`` holds the entry points (``parse_trace_text``, ``parse_trace_file``: a log's grammar
decides its reader); ``records`` what every reader shares (record identity, catalogue lookups,
errors), ``precision`` how precisely a log prints, ``builder`` the line reader's record
collector, ``columns`` the fast path's compact records and ``log`` the ``TraceLog`` they all
make.

The frame has one row per value component::

    engine slow fast stage phi_tic mos_tic sub src thick key component value text kind
    resolution line

``value`` is float (NaN for words), ``text`` the printed token. Index columns hold -1 where
the record has no such index. ``resolution`` is half a unit in the last printed digit (0 when the
value was printed round-trip exact with ``%.17g``), with the digits inferred per log from how it
prints (``TraceLog.precision``), so the comparison can tell precision-limited records from real
failures. Errors raise ``TraceFormatError`` naming ``file:line``.

Speed: a contract log is nearly all plain step lines. ``contract._parse_contract_fast`` finds
them with array operations on the log's bytes (line heads compared as 8-byte words, no Python
object per line) and reads their numbers with pyarrow's correctly rounded cast (like
``float()``); every other line goes to the line-by-line reader, which is the reference: the fast
path gives the same records and errors, or hands the whole log to it. ``TraceLog.frame`` (one
row per component) is built only when asked for.
"""

from nbparity.parse.log import TraceLog
from nbparity.parse.precision import FULL_DIGITS, G_DIGITS, infer_precision
from nbparity.parse.printout import (
    PRINTOUT_FINAL_KEYS,
    PRINTOUT_LAST_STEP_KEYS,
    PrintoutBlock,
    parse_printout_log,
    parse_printout_text,
    printout_pixels,
)
from nbparity.parse.reading import parse_trace_file, parse_trace_text
from nbparity.parse.records import (
    COLUMNS,
    INDEX_TOKENS,
    NO_INDEX,
    RECORD_ID,
    DuplicateRecordError,
    TraceFormatError,
)

__all__ = [
    "COLUMNS", "FULL_DIGITS", "G_DIGITS", "INDEX_TOKENS", "NO_INDEX", "PRINTOUT_FINAL_KEYS",
    "PRINTOUT_LAST_STEP_KEYS", "RECORD_ID", "DuplicateRecordError", "PrintoutBlock",
    "TraceFormatError", "TraceLog", "infer_precision", "parse_printout_log",
    "parse_printout_text", "parse_trace_file", "parse_trace_text", "printout_pixels",
]

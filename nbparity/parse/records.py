"""What every trace reader shares: the identity of a record and the frame's columns, the
catalogue's kinds, arities and stages by key name, the readers' errors and the checks of a
single token (a number, a pixel coordinate or loop index)."""

from __future__ import annotations

import math
import re

from nbparity import schema

COLUMNS = (
    "engine", "slow", "fast", "stage", "phi_tic", "mos_tic", "sub", "src", "thick",
    "key", "component", "value", "text", "kind", "resolution", "line",
)
INDEX_TOKENS = ("phi_tic", "mos_tic", "sub", "src", "thick")
NO_INDEX = -1
RECORD_ID = ("slow", "fast", "stage", *INDEX_TOKENS, "key")
_NO_INDICES = (NO_INDEX,) * len(INDEX_TOKENS)

_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# The number grammar, written once: an integer, a real, or a spelling of _SPECIAL (any case).
_REAL_TEXT = r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?"
_INT_RE = re.compile(r"^[+-]?\d+$")
_REAL_RE = re.compile(rf"^{_REAL_TEXT}$")
_SPECIAL = {"nan": math.nan, "-nan": math.nan, "inf": math.inf, "+inf": math.inf,
            "-inf": -math.inf, "infinity": math.inf, "-infinity": -math.inf}
#: every number the readers accept (_INT_RE, _REAL_RE, _SPECIAL's spellings), in one match
_NUMBER_RE = re.compile(
    rf"(?:{_REAL_TEXT}|(?i:{'|'.join(map(re.escape, sorted(_SPECIAL, key=len, reverse=True)))}))\Z")

_KNOWN = frozenset(key.name for key in schema.CATALOGUE)
_KIND_OF = {key.name: key.kind for key in schema.CATALOGUE}
_ARITY_OF = {key.name: key.arity for key in schema.CATALOGUE}
_STAGE_OF = {key.name: key.stage for key in schema.CATALOGUE}


class TraceFormatError(ValueError):
    """Unreadable or malformed input; the message starts with ``file:line``."""


class DuplicateRecordError(TraceFormatError):
    """The same (pixel, indices, key) twice in one contract log: a structural error."""


class RecordOutsideBlockError(DuplicateRecordError):
    """A record before the first ``trace_pixel`` line of a contract log: it belongs to no
    pixel. A structural error like a duplicate (and a subclass of it, so that every command
    that answers a duplicate with exit 3 answers this one so too)."""


#: pixel coordinates and loop indices must fit the records' int64 columns (with room to spare)
_INT_LIMIT = 2**62


def _small_int(text: str, where: str, what: str) -> int:
    """``text`` as an integer that fits the records' columns; anything else (``5.0``, ``nan``,
    a number past 2**62) is a TraceFormatError naming ``where`` and ``what``."""
    if not _INT_RE.fullmatch(text):
        raise TraceFormatError(f"{where}: {what} needs an integer, found {text!r}")
    value = int(text)
    if abs(value) >= _INT_LIMIT:
        raise TraceFormatError(f"{where}: {what} {text} is out of range")
    return value


def is_number(token: str) -> bool:
    """A token the readers take as a number (``_NUMBER_RE``)."""
    return _NUMBER_RE.match(token) is not None


def _number(token: str, where: str) -> float:
    if not is_number(token):
        raise TraceFormatError(f"{where}: {token!r} is not a number")
    special = _SPECIAL.get(token.lower())
    return special if special is not None else float(token)

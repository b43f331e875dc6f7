"""The line-by-line trace reader: the contract lines the fast path leaves, and every legacy shape.

Contract-grammar lines (``TRACE_<E>: key v...`` and ``TRACE_<E>_PHI: phi_tic=i ... key v...``
in a log holding ``trace_pixel`` lines) are held to the grammar: a malformed one is an error
naming ``file:line``; one before the log's first ``trace_pixel`` line belongs to no pixel and
is a structural error (``RecordOutsideBlockError``, exit 3), a line of another shape there is
skipped and reported. Every other line is read tolerantly, in any log:

- a head ``TRACE[_<E>][_<TAG>...][:]``: ``<E>`` an engine (C, PY, C2, ... or an engine the
  log prints plain lines for), ``PHI`` the step stream, any other tag a sub-stream whose keys
  are kept as ``<TAG>.<key>`` (``TRACE_PY_ROTSTAR phi_tic=0 ap_y=1`` → step key
  ``ROTSTAR.ap_y``); a bare ``TRACE:`` is free text;
- loop indices (``phi_tic=``, ``mos_tic=``, ``sub=``, ``src=``, ``thick=``) anywhere in the
  line make its records step records (a missing phi_tic or mos_tic is 0);
- a body with ``name=value`` (or ``name = value``) fields gives one record per field; otherwise
  ``key v v v``. A value is numbers (``[1 0 0; 0 1 0; 0 0 1]`` and ``[a, b, c]`` brackets
  allowed), words (compared as text), or a ``name:value`` list (one record ``key.name`` each);
- a line naming the traced pixel (``tracing pixel (spixel=685, fpixel=1039)``) sets the pixel
  of the records that follow it (and of those before the first such line). The names are whole
  words: ``spixel``/``slow_pixel``/``slowpixel`` and the ``f``/``fast`` ones, with ``=`` or
  ``:``; bare ``slow``/``fast`` only right after the word ``pixel`` (``subpixel slow=0`` is no
  declaration). What the line holds besides the declaration and its label is read as the
  line's records (``spixel=685 fpixel=1039 I_pixel_final 0.07``), or skipped and reported;
- a contract key's values must fit the catalogue (count, numbers, integers: an integral float
  such as ``-8.000000000000000e+00`` is the integer -8).

A line that cannot be read this way is skipped and reported (``_RecordBuilder.skip``: grouped
by shape, with a count, an example and its first line number). A trace line is one starting
with ``TRACE`` followed by ``_``, ``:``, a blank or its end, or one where such a head follows a
prefix of only (``_PREFIXED_RE``) blanks (spaces, tabs), bracketed tags of up to 64 characters
(``[thread 3]``, ``[rank 0][12:00:01]``) and numbered tags ending in a colon (a word of up to
12 letters, an optional `` ``/``_``/``#``/``-``, up to 6 digits: ``thread 3:``, ``T3:``, ``3:``),
in any sequence: ``[thread 3] TRACE_C: I_pixel_final 0.07`` is read as ``TRACE_C:
I_pixel_final 0.07`` (in a contract log, a grammar line so prefixed is held to the grammar;
whether a log is a contract log is decided by unprefixed ``trace_pixel`` lines only). A
``TRACE...:`` head after any other text (``INFO:root:TRACE_PY: ...``, ``12:00:01 TRACE_C:
...``) is skipped and reported, not read. Every other line is engine output, counted as
ignored. Key maps (``nbparity.keymap``) are applied
here and only here, after the whole log is read, so that an alias whose target the log also
prints is reported as a clash instead of overwriting it.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass

from nbparity import schema
from nbparity.keymap import BUILTIN, Alias, KeyMap
from nbparity.parse.builder import _RecordBuilder
from nbparity.parse.records import (
    _INT_RE,
    _KEY_RE,
    INDEX_TOKENS,
    NO_INDEX,
    RecordOutsideBlockError,
    TraceFormatError,
    _small_int,
    is_number,
)

_NO_INDICES = (NO_INDEX,) * len(INDEX_TOKENS)
#: more values than this on one line are not a trace record (and would not fit the mask bits)
MAX_VALUES = 48

_UNDECODED_RE = re.compile("[\udc80-\udcff]")
# a TRACE head inside a line (not TRACEBACK, not xTRACE): "TRACE", "_<A>"..., then ":" or a blank
_INNER_HEAD_RE = re.compile(r"(?<![A-Za-z0-9_])TRACE(?:_[A-Za-z0-9]+)*(?=[:\s]|$)(:?)")
# what may stand before a TRACE head: blanks, [bracketed tags] and numbered tags ending in ":"
_PREFIXED_RE = re.compile(r"[ \t]*(?:(?:\[[^\[\]\n]{1,64}\]|[A-Za-z]{0,12}[ _#-]?\d{1,6}:)"
                          r"[ \t]*)*")
_BAD_PREFIX = ""  # _trace_part's answer for a TRACE head after other text
_AFTER_TRACE = ("_", ":", " ", "\t", "")  # what may follow "TRACE" in a trace line's head
_HEAD_RE = re.compile(r"^TRACE((?:_[A-Za-z0-9]+)*)(?=[:\s]|$)\s*(:?)(.*)$")
_CONTRACT_HEAD_RE = re.compile(r"^_([A-Z][A-Z0-9]*)(_PHI)?$")
_ENGINE_LIKE_RE = re.compile(r"^(C|PY)[0-9]*$")
_INDEX_RE = re.compile(r"(?<!\S)(phi_tic|mos_tic|sub|src|thick)\s*=\s*(\S*)")
_FIELD_RE = re.compile(r"(?:(?<=\s)|^)([^\s=]+)\s*=(?!=)")
_NAMED_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*):(\S+)$")
_WORD_RE = re.compile(r"[^\s()\[\]{},;:#=-]+")
_SPLIT_RE = re.compile(r"[\s,;\[\]()]+")
# A pixel declaration: whole words only (``subpixel slow=0`` and ``I_spixel=3`` are not one);
# bare ``slow``/``fast`` only right after the word ``pixel`` (``tracing pixel (slow=1, fast=2)``)
_COORD = r"\s*[=:]\s*(\d+)(?![\w.])"
_BETWEEN = r"[^=:\n]*?"  # what may stand between the two coordinates: no other field
_CONTEXT = r"\b(?i:pixel)\b[\s(\[{,:]*"
_SLOW, _FAST = r"(?:spixel|slow_?pixel)", r"(?:fpixel|fast_?pixel)"
_DECLARATIONS = (
    (re.compile(rf"(?:\b{_SLOW}|{_CONTEXT}slow){_COORD}{_BETWEEN}\b(?:{_FAST}|fast){_COORD}"),
     False),
    (re.compile(rf"(?:\b{_FAST}|{_CONTEXT}fast){_COORD}{_BETWEEN}\b(?:{_SLOW}|slow){_COORD}"),
     True),
)
#: words of a declaration's label (``tracing pixel (...)``): not a record
_LABEL_WORDS = frozenset({"tracing", "trace", "traced", "pixel", "at", "for", "the"})


@dataclass
class _Entry:
    """One value read from a line, before the key map: the record it will become."""

    line: int
    engine: str
    pixel: tuple[int, int]
    indices: tuple[int, ...]
    key: str
    tokens: list[str]
    components: list[int] | None = None
    strict: bool = False  # a contract-grammar line: the catalogue's rules raise
    head: str = ""  # the line's head, for skip shapes
    text: str = ""  # the whole line, for the skip summary
    numeric: bool | None = None  # all tokens are numbers (None: not yet known)


def read_lines(builder: _RecordBuilder, numbered_lines, contract: bool) -> int:
    """Read ``(line number, text)`` pairs into ``builder``; returns how many lines were not
    TRACE lines. ``contract``: the log holds ``trace_pixel`` lines (its grammar lines are
    strict). The builder's ``keymap`` (a user key map) applies to every line, the built-in
    aliases to lines outside the contract grammar."""
    lines = numbered_lines if isinstance(numbered_lines, list) else list(numbered_lines)
    reader = _Reader(builder, contract, lines)
    entries = reader.read(lines)
    _add_mapped(builder, entries, builder.keymap)
    return reader.ignored


class _Reader:
    def __init__(self, builder: _RecordBuilder, contract: bool, lines: list):
        self.builder = builder
        self.source = builder.source
        self.contract = contract
        self.ignored = 0
        self.traces = [_trace_part(text) for _, text in lines]  # (read() takes the same lines)
        heads = [match.groups() for trace in self.traces if trace
                 for match in [_HEAD_RE.match(trace)] if match]
        plain = [comps.split("_")[1] for comps, _, _ in heads
                 if comps and (comps.count("_") == 1 or comps.endswith("_PHI")
                               and comps.count("_") == 2)]
        self.engines = {"C", "PY", *plain}
        # the label of free-text and tag-only lines: the log's most printed engine (first on ties)
        self.default_engine = Counter(plain).most_common(1)[0][0] if plain else "TRACE"
        # bytes a file held that are not UTF-8 arrive as lone surrogates (parse_trace_file)
        self.undecoded = any(_UNDECODED_RE.search(text) for _, text in lines)
        self.pixel = (NO_INDEX, NO_INDEX)
        self.in_block = False  # a contract log: a trace_pixel line has been read
        if not contract:  # records before the first pixel line belong to that pixel
            for trace in self.traces:
                match = _HEAD_RE.match(trace) if trace else None
                found = _declared_pixel(match.group(3)) if match else None
                if found is not None and found[0] is not None:
                    self.pixel = found[0]
                    break

    def read(self, lines: list) -> list[_Entry]:
        entries: list[_Entry] = []
        for (lineno, text), trace in zip(lines, self.traces, strict=True):
            if trace is None:  # not TRACEBACK, not a TRACE head
                self.ignored += 1
                continue
            if trace == _BAD_PREFIX:
                self.builder.skip("TRACE line after text that is not a thread tag", lineno,
                                  text)
                continue
            if self.undecoded and _UNDECODED_RE.search(text):
                self.builder.skip("TRACE line with bytes that are not UTF-8", lineno,
                                  text.encode("utf-8", "surrogateescape").decode("latin-1"))
                continue
            match = _HEAD_RE.match(trace)
            if match is None:
                self.builder.skip("TRACE... line without a TRACE_<NAME> head", lineno, text)
                continue
            comps, colon, rest = match.groups()
            head = f"TRACE{comps}{colon}"
            strict = self.contract and colon == ":" and _CONTRACT_HEAD_RE.match(comps)
            if strict:
                read = self._contract_line(lineno, strict.group(1), strict.group(2) is not None,
                                           rest, head)
                if read and not self.in_block:
                    raise RecordOutsideBlockError(f"{self.source}:{lineno}: {read[0].key} before "
                                                  f"the first trace_pixel line")
                entries += read
                continue
            if self.contract and not self.in_block:  # a record that would belong to no pixel
                self.builder.skip(f"{head} line before the first trace_pixel line", lineno, text)
                continue
            declared = _declared_pixel(rest)
            if declared is not None:
                pixel, start, end = declared
                if self.contract:
                    self.builder.skip(f"{head} pixel declaration (trace_pixel decides in a "
                                      f"contract log)", lineno, text)
                    continue
                if pixel is None:
                    self.builder.skip(f"{head} pixel declaration out of range", lineno, text)
                    continue
                self.pixel = pixel
                # the rest of the line (``spixel=1 fpixel=2 I_pixel_final 0.07``) is read
                rest = _after_declaration(rest, start, end)
                if not rest:
                    continue
            engine, tag, step = self._stream(comps)
            entries += self._body(lineno, text, engine, tag, step, rest, head)
        return entries

    def _stream(self, comps: str) -> tuple[str, str, bool]:
        """(engine, sub-stream tag, whether it is the PHI stream) of a head's components."""
        parts = comps.split("_")[1:]
        if not parts:
            return self.default_engine, "", False
        if parts[0] in self.engines or _ENGINE_LIKE_RE.match(parts[0]):
            engine, parts = parts[0], parts[1:]
        else:
            engine = self.default_engine
        if parts == ["PHI"]:
            return engine, "", True
        return engine, "_".join(parts), False

    # ----------------------------------------------------------------- contract lines

    def _contract_line(self, lineno, engine, step, rest, head) -> list[_Entry]:
        where = f"{self.source}:{lineno}"
        if step:
            return self._contract_step(lineno, engine, rest, head)
        if not rest.strip():
            self.builder.skip(f"{head} line without a key", lineno, f"{head}{rest}")
            return []
        key, tokens = split_pixel_line(rest, where)
        if not tokens and not schema.is_known(key):  # a marker line, not a malformed record
            self.builder.skip(f"{head} key without a value", lineno, f"{head} {rest.strip()}")
            return []
        if key == "trace_pixel":
            if len(tokens) != 2 or not all(_INT_RE.match(t) for t in tokens):
                raise TraceFormatError(f"{where}: trace_pixel needs two integers: slow fast")
            self.pixel = (_small_int(tokens[0], where, "trace_pixel"),
                          _small_int(tokens[1], where, "trace_pixel"))
            self.in_block = True
        return [_Entry(lineno, engine, self.pixel, _NO_INDICES, key, tokens, None, True, head,
                       f"{head} {rest.strip()}")]

    def _contract_step(self, lineno, engine, rest, head) -> list[_Entry]:
        where = f"{self.source}:{lineno}"
        parts = rest.split()
        indices: dict[str, int] = {}
        pos = 0
        while pos < len(parts) and "=" in parts[pos] and parts[pos].split("=")[0] in INDEX_TOKENS:
            name, _, value = parts[pos].partition("=")
            if not _INT_RE.match(value):
                raise TraceFormatError(f"{where}: index {name} needs an integer, found "
                                       f"{value!r}")
            indices[name] = _small_int(value, where, f"index {name}")
            pos += 1
        if "phi_tic" not in indices:
            raise TraceFormatError(f"{where}: step line without phi_tic=")
        indices.setdefault("mos_tic", 0)
        index_tuple = tuple(indices.get(name, NO_INDEX) for name in INDEX_TOKENS)
        rest_tokens = parts[pos:]
        if not rest_tokens:
            raise TraceFormatError(f"{where}: step line without a key")
        if "=" in rest_tokens[0]:  # a line of key=value fields: a legacy shape, read as such
            return self._fields(lineno, engine, "", index_tuple, " ".join(rest_tokens), head,
                                f"{head} {rest.strip()}")
        key, tokens = rest_tokens[0], rest_tokens[1:]
        if not _KEY_RE.match(key):
            raise TraceFormatError(f"{where}: {key!r} is not a valid key")
        if not tokens:
            if not schema.is_known(key):  # a marker line, not a malformed record
                self.builder.skip(f"{head} key without a value", lineno,
                                  f"{head} {rest.strip()}")
                return []
            raise TraceFormatError(f"{where}: key {key} has no value")
        return [_Entry(lineno, engine, self.pixel, index_tuple, key, tokens, None, True, head,
                       f"{head} {rest.strip()}")]

    # ----------------------------------------------------------------- tolerant lines

    def _body(self, lineno, text, engine, tag, step, rest, head) -> list[_Entry]:
        indices: dict[str, int] = {}
        for match in _INDEX_RE.finditer(rest):
            name, value = match.groups()
            if not _INT_RE.match(value) or abs(int(value)) >= 2**62:
                self.builder.skip(f"{head} index {name}= without an integer", lineno, text)
                return []
            indices[name] = int(value)
        body = _INDEX_RE.sub(" ", rest).strip()
        if step and "phi_tic" not in indices and "mos_tic" not in indices:
            self.builder.skip(f"{head} step line without phi_tic=", lineno, text)
            return []
        if indices:
            indices.setdefault("phi_tic", 0)
            indices.setdefault("mos_tic", 0)
        index_tuple = tuple(indices.get(name, NO_INDEX) for name in INDEX_TOKENS)
        if not body:
            self.builder.skip(f"{head} line without a key", lineno, text)
            return []
        if _FIELD_RE.search(body):
            return self._fields(lineno, engine, tag, index_tuple, body, head, text)
        key, values = (body.split(None, 1) + [""])[:2]  # any blank ends the key (a tab too)
        key = key.rstrip(":")
        if not _is_key(key):
            self.builder.skip(f"{head} text without a key", lineno, text)
            return []
        return self._values(lineno, engine, tag, index_tuple, key, values, head, text)

    def _fields(self, lineno, engine, tag, indices, body, head, text=None) -> list[_Entry]:
        """``name=value`` fields (anything before the first is a label, not a value)."""
        text = body if text is None else text
        fields = list(_FIELD_RE.finditer(body))
        out: list[_Entry] = []
        for i, match in enumerate(fields):
            end = fields[i + 1].start() if i + 1 < len(fields) else len(body)
            key = match.group(1)
            if not _is_key(key):
                self.builder.skip(f"{head} field without a key name", lineno, text)
                continue
            out += self._values(lineno, engine, tag, indices, key, body[match.end():end], head,
                                text)
        return out

    def _values(self, lineno, engine, tag, indices, key, values, head, text) -> list[_Entry]:
        name = f"{tag}.{key}" if tag else key
        parsed = parse_values(values)
        if isinstance(parsed, str):
            self.builder.skip(f"{head} {parsed}", lineno, text)
            return []
        kind, items = parsed
        if kind == "named":
            return [_Entry(lineno, engine, self.pixel, indices, f"{name}.{sub}", [token],
                           None, False, head, text, is_number(token)) for sub, token in items]
        return [_Entry(lineno, engine, self.pixel, indices, name, items, None, False, head,
                       text, kind == "numbers")]


def _trace_part(text: str) -> str | None:
    """The trace line a line holds, from its ``TRACE`` head on (after an accepted prefix: see
    the module's docstring); ``_BAD_PREFIX`` for a ``TRACE...:`` head after other text; None for
    engine output."""
    if text.startswith("TRACE"):
        return text if text[5:6] in _AFTER_TRACE else None
    if "TRACE" not in text:
        return None
    inner = _INNER_HEAD_RE.search(text)
    if inner is None:
        return None
    if _PREFIXED_RE.fullmatch(text, 0, inner.start()):
        return text[inner.start():]
    return _BAD_PREFIX if inner.group(1) else None


def split_pixel_line(rest: str, where: str) -> tuple[str, list[str]]:
    """A contract pixel line's key and values (``key v...``, or the legacy ``key=v v v``);
    a key the grammar does not allow is an error, a catalogue key without values too."""
    body = rest.strip()
    if "=" in body.split()[0]:  # legacy TRACE_C:key=v1 v2 v3
        key, _, values = body.partition("=")
        key, tokens = key.strip(), values.split()
    else:
        parts = body.split()
        key, tokens = parts[0], parts[1:]
    if not _KEY_RE.match(key):
        raise TraceFormatError(f"{where}: {key!r} is not a valid key")
    if not tokens and schema.is_known(key):
        raise TraceFormatError(f"{where}: key {key} has no value")
    return key, tokens


def _declared_pixel(body: str) -> tuple[tuple[int, int] | None, int, int] | None:
    """The pixel a line's body declares (None where a number is out of range) and where the
    declaration stands in ``body``; None when it declares none."""
    if "pixel" not in body.lower():
        return None
    found = [(match, fast_first) for pattern, fast_first in _DECLARATIONS
             for match in [pattern.search(body)] if match]
    if not found:
        return None
    match, fast_first = min(found, key=lambda item: item[0].start())
    a, b = int(match.group(1)), int(match.group(2))
    pixel = None if max(a, b) >= 2**62 else (b, a) if fast_first else (a, b)
    return pixel, match.start(), match.end()


def _after_declaration(body: str, start: int, end: int) -> str:
    """A body without its pixel declaration: what is left to read as records. Its label
    (``tracing pixel (``) and closing brackets go with it."""
    before = body[:start].rstrip(" \t([{,;:")
    if all(word.lower() in _LABEL_WORDS for word in _WORD_RE.findall(before)):
        before = ""
    after = body[end:].lstrip(" \t)]},;")
    return f"{before} {after}".strip()


def _is_key(name: str) -> bool:
    """A printed name: has a letter or digit and is not itself a number (``----`` and ``0.5``
    are not keys; ``|a_star|``, ``[0,1,2]`` and ``-Fbeam*fdet_vector[1]`` are)."""
    return bool(name) and any(ch.isalnum() for ch in name) and not is_number(name)


def parse_values(text: str):
    """("named", [(name, token)]) for a ``name:value`` list, ("numbers", tokens) (brackets,
    commas and semicolons separate) or ("words", tokens); a skip reason (str) otherwise."""
    stripped = text.strip().rstrip(",;").strip()
    if not stripped:
        return "key without a value"
    words = stripped.split()
    if ":" in stripped and all(_NAMED_RE.match(w) for w in words):
        items = [_NAMED_RE.match(w).groups() for w in words]
        if len({name for name, _ in items}) != len(items):
            return "name:value list naming a component twice"
        return "named", items
    if not _balanced(stripped):
        return "value with unbalanced brackets"
    numbers = [t for t in _SPLIT_RE.split(stripped) if t]
    kind, tokens = "numbers", numbers
    if not (numbers and all(is_number(t) for t in numbers)):
        kind, tokens = "words", words
    if len(tokens) > MAX_VALUES:
        return f"more than {MAX_VALUES} values"
    return kind, tokens


def _balanced(text: str) -> bool:
    if not any(ch in text for ch in "[]()"):
        return True
    depth = 0
    for ch in text:
        if ch in "[(":
            depth += 1
        elif ch in "])":
            depth -= 1
            if depth < 0:
                return False
    return depth == 0


# --------------------------------------------------------------------------- key map

def _add_mapped(builder: _RecordBuilder, entries: list[_Entry], user: KeyMap | None) -> None:
    """Apply the key maps and hand the entries to the builder (the one place aliases apply)."""
    printed = {e.key for e in entries} | builder.reserved_names
    clashes: dict[str, tuple[_Entry, Alias]] = {}
    for entry in entries:
        alias = user.get(entry.key) if user else None
        if alias is None and not entry.strict:
            alias = BUILTIN.get(entry.key)
        key, components, factor, indices = entry.key, entry.components, 1.0, entry.indices
        if alias is not None and alias.target in printed and alias.target != entry.key:
            clashes.setdefault(entry.key, (entry, alias))
            alias = None
        if alias is not None:
            if alias.component is not None:
                if len(entry.tokens) != 1:
                    builder.skip(f"{entry.head} {entry.key}: {len(entry.tokens)} values for "
                                 f"one component of {alias.target}", entry.line, entry.text)
                    continue
                components = [alias.component]
            key, factor = alias.target, alias.factor
            if alias.placement == "pixel":
                indices = _NO_INDICES
            elif alias.placement == "step" and indices == _NO_INDICES:
                indices = (0, 0, *_NO_INDICES[2:])
        tokens = entry.tokens
        numeric = entry.numeric if entry.numeric is not None else all(map(is_number, tokens))
        # the catalogue's rules raise for the contract's own lines; a line outside the grammar,
        # or a name a key map translated, that does not fit is skipped and reported
        if (not entry.strict or key != entry.key) and schema.is_known(key):
            checked = _fit_catalogue(key, tokens, components, numeric)
            if isinstance(checked, str):
                mapped = f" (as {entry.key})" if key != entry.key else ""
                builder.skip(f"{entry.head} {key}{mapped}: {checked}", entry.line, entry.text)
                continue
            tokens = checked
        step = indices != _NO_INDICES
        stage = schema.by_name(key).stage if schema.is_known(key) else ("phi" if step
                                                                         else "extra")
        # a number outside the catalogue compares under the tolerance even when it printed
        # as an integer (a %g log's "1" may be 1.0000001 in the other log)
        kind = None if entry.strict or schema.is_known(key) else (
            "real" if numeric else "word")
        builder.add(entry.line, entry.engine, entry.pixel, stage, indices, key, tokens,
                    components, factor=factor, kind=kind)
    for name, (entry, alias) in clashes.items():
        builder.note("alias clash", name, [entry.line],
                     f"{name} (line {entry.line}) would map onto {alias.target}, which the log "
                     f"also prints: kept as {name}")


def _fit_catalogue(key: str, tokens: list[str], components: list[int] | None, numeric: bool):
    """The tokens as the catalogue key takes them, or why they do not fit (a str);
    ``numeric``: every token is a number."""
    spec = schema.by_name(key)
    if components is None and len(tokens) != spec.arity:
        return f"{len(tokens)} value(s), the contract's key takes {spec.arity}"
    if spec.kind == "word":
        return tokens
    if not numeric:
        return f"a value that is not a number for a {spec.kind} key"
    if spec.kind == "real":
        return tokens
    out = []
    for token in tokens:
        if _INT_RE.match(token):
            out.append(token)
            continue
        value = float(token)
        if not math.isfinite(value) or value != math.floor(value) or abs(value) >= 2**53:
            return "a value that is not an integer for an integer key"
        out.append(str(int(value)))  # an integral float, as printed by %e or %g
    return out

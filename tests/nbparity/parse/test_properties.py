"""Property-based tests: the reader either parses or raises TraceFormatError, never crashes,
and round-trips what the engines print."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from nbparity import schema
from nbparity.compare import compare_logs
from nbparity.parse import TraceFormatError, parse_trace_text

REAL_KEYS = [k for k in schema.CATALOGUE if k.kind == "real" and not k.is_step]
reals = st.floats(allow_nan=True, allow_infinity=True, width=64)


def _fmt(v: float) -> str:
    if math.isnan(v):
        return "nan"
    return format(v, ".17g")


@st.composite
def contract_logs(draw):
    slow, fast = draw(st.integers(0, 5000)), draw(st.integers(0, 5000))
    keys = draw(st.lists(st.sampled_from(REAL_KEYS), min_size=1, max_size=12, unique=True))
    lines = [f"TRACE_C: trace_pixel {slow} {fast}"]
    values = {}
    for key in keys:
        vals = draw(st.lists(reals, min_size=key.arity, max_size=key.arity))
        values[key.name] = vals
        lines.append(f"TRACE_C: {key.name} " + " ".join(_fmt(v) for v in vals))
    return "\n".join(lines) + "\n", (slow, fast), values


@given(contract_logs())
@settings(max_examples=150, deadline=None)
def test_printed_values_round_trip_exactly(case):
    text, pixel, values = case
    log = parse_trace_text(text, "gen.log")
    assert log.pixels == [pixel]
    frame = log.frame
    for key, vals in values.items():
        got = frame[frame.key == key].value.tolist()
        assert len(got) == len(vals)
        for a, b in zip(got, vals):
            assert (math.isnan(a) and math.isnan(b)) or a == b


@given(contract_logs())
@settings(max_examples=60, deadline=None)
def test_a_log_compared_with_itself_never_fails_outside_nan(case):
    text, _, _ = case
    log = parse_trace_text(text, "gen.log")
    records = compare_logs(log, log).records
    assert set(records.status) <= {"pass", "both-nan"}


@st.composite
def mutated_logs(draw):
    text, _, _ = draw(contract_logs())
    chars = list(text)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "insert", "replace", "truncate"]))
        if not chars:
            break
        pos = draw(st.integers(0, len(chars) - 1))
        if op == "delete":
            del chars[pos]
        elif op == "insert":
            chars.insert(pos, draw(st.sampled_from(list(" =:_-.e\n\t0123456789xTRACE\x00é"))))
        elif op == "replace":
            chars[pos] = draw(st.characters())
        else:
            chars = chars[:pos]
    return "".join(chars)


@given(st.one_of(mutated_logs(), st.text(max_size=400)))
@settings(max_examples=400, deadline=None)
def test_random_and_mutated_logs_parse_or_fail_cleanly(text):
    try:
        log = parse_trace_text(text, "fuzz.log")
    except TraceFormatError as exc:
        message = str(exc)
        assert message.startswith("fuzz.log:")
        assert "\n" not in message
    else:
        assert {"key", "value", "slow", "fast"} <= set(log.frame.columns)

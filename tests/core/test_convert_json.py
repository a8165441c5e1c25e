"""The JSON fast paths give what the standard library gives, for every input.

``parse_json`` hands a text to orjson unless it has a run of 19 digits (orjson reads an
integer past 64 bits as a float); ``dump_json_bytes`` hands plain data to orjson. These
property tests pin results and errors to ``json.loads`` and ``dump_json(...).encode()``.
"""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async import _convert

orjson = pytest.importorskip("orjson")


def outcome_loads(function: Any, text: Any) -> Any:
    try:
        return ("ok", repr(function(text)))  # repr: NaN != NaN, -0.0 == 0.0
    except RecursionError:
        return ("error", _convert.JSONTooDeep)
    except _convert.JSONTooDeep:
        return ("error", _convert.JSONTooDeep)
    except ValueError:
        return ("error", ValueError)


# Numbers in every written form: decimals with many digits, exponents, integers around
# and past the 64-bit limits (where orjson turns to floats).
digits = st.text("0123456789", min_size=1, max_size=40).map(lambda d: d.lstrip("0") or "0")
number_texts = st.one_of(
    st.builds(lambda s, d: f"{s}{d}", st.sampled_from(["", "-"]), digits),
    st.builds(
        lambda s, d, f, e: f"{s}{d}.{f}{e}",
        st.sampled_from(["", "-"]),
        digits,
        st.text("0123456789", min_size=1, max_size=30),
        st.sampled_from(["", "e5", "E-300", "e+22", "e308", "e-330", "e400"]),
    ),
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "9223372036854775807",
            "1234567890123456789",
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
strings = st.text() | digits.map(lambda d: "id " + d * 3)
documents = st.recursive(
    st.sampled_from(["null", "true", "false"]) | strings.map(json.dumps) | number_texts,
    lambda inner: (
        st.lists(inner, max_size=4).map(lambda items: "[" + ",".join(items) + "]")
        | st.dictionaries(strings, inner, max_size=4).map(
            lambda d: "{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in d.items()) + "}"
        )
    ),
    max_leaves=10,
)


@settings(max_examples=800, deadline=None)
@given(text=documents, as_bytes=st.booleans())
def test_parse_json_gives_what_json_loads_gives(text: str, as_bytes: bool) -> None:
    data: str | bytes = text.encode() if as_bytes else text
    assert outcome_loads(_convert.parse_json, data) == outcome_loads(json.loads, data)


@pytest.mark.parametrize(
    "text",
    [
        "18446744073709551616",
        "[-9223372036854775809]",
        '{"n": 123456789012345678901234567890}',
        '{"a": "x", "b": [1, 2, {"c": 99999999999999999999}]}',
    ],
)
def test_an_integer_past_64_bits_stays_exact(text: str) -> None:
    assert repr(orjson.loads(text)) != repr(json.loads(text))  # orjson: a float
    assert repr(_convert.parse_json(text)) == repr(json.loads(text))
    assert repr(_convert.parse_json(text.encode())) == repr(json.loads(text))


@pytest.mark.parametrize(
    "text", ['"\ud800"', '["\udfff", 1]', "\ufeff[1]", "[1e400]", "NaN", '{"a":1,}']
)
def test_what_orjson_refuses_json_loads_decides(text: str) -> None:
    assert outcome_loads(_convert.parse_json, text) == outcome_loads(json.loads, text)


def test_a_digit_run_in_a_string_costs_speed_only() -> None:
    text = '{"body": "call 12345678901234567890", "n": 1.5}'
    assert _convert.parse_json(text) == {"body": "call 12345678901234567890", "n": 1.5}


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats()
    | st.text()
    | st.sampled_from(["\ud800", "a\x00\x1f\x7f\u2028\ufeff", "\U0001f600"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(st.text(max_size=5), inner, max_size=4)
        | st.dictionaries(st.integers(-5, 5) | st.booleans() | st.none(), inner, max_size=2)
    ),
    max_leaves=12,
)


def outcome_dumps(function: Any, data: Any) -> Any:
    try:
        return ("ok", function(data))
    except Exception as exc:
        return ("error", type(exc))


@settings(max_examples=800, deadline=None)
@given(json_values)
def test_dump_json_bytes_writes_the_bytes_of_dump_json(data: Any) -> None:
    expected = outcome_dumps(lambda d: _convert.dump_json(d).encode(), data)
    assert outcome_dumps(_convert.dump_json_bytes, data) == expected


@pytest.mark.parametrize(
    "data",
    [
        {"n": 1e16, "m": 1e-07},  # orjson writes 1e16 and 1e-7
        [math.nan, math.inf],  # orjson writes null
        {"big": 2**64},  # orjson refuses it
        {1: "a", None: "b"},  # keys json.dumps converts
        ("a", ["b"]),  # a tuple is a list to json.dumps
    ],
)
def test_what_orjson_writes_otherwise_goes_to_json_dumps(data: Any) -> None:
    assert _convert.dump_json_bytes(data) == _convert.dump_json(data).encode()


def test_a_cycle_raises_as_json_dumps_does() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular"):
        _convert.dump_json_bytes({"a": loop})


def test_a_request_body_goes_through_orjson() -> None:
    """The fast case is taken (a regression would only cost speed, so it is pinned)."""
    body = {"body": 'héllo "there"\n', "bodyType": "standard", "n": 3, "ok": True}
    calls: list[Any] = []
    real = _convert._fast_dumps
    assert real is not None

    def spy(data: Any) -> bytes:
        calls.append(data)
        return real(data)

    _convert._fast_dumps = spy
    try:
        assert _convert.dump_json_bytes(body) == _convert.dump_json(body).encode()
    finally:
        _convert._fast_dumps = real
    assert calls == [body]

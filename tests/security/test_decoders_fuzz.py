"""Every decoder fed deep, long and invalid-unicode input, under a time and memory budget.

The decoders: ``parse_json``, ``structure`` and ``loads`` of every model, the stream's
``decode_frame``, the error-body decoding of a non-2xx reply, ``SavedSession.from_json``,
and the redaction of server text. Each example runs under a wall-clock budget (SIGALRM:
an exponential decoder fails the test instead of hanging it) and its peak of traced
memory is bounded by a constant plus a multiple of the input's size. Each decoder may
only answer as documented: a value, or its one documented error type.

Shrinking is off: a failure here is a budget overrun, and shrinking would replay the
slow examples again and again.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import httpx
import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from wire_budget import within

from webchat_async import _convert, models
from webchat_async._events import Event, UnknownEvent, decode_frame
from webchat_async._http import error_from_response
from webchat_async._redact import TEXT_LIMIT, clip, redact
from webchat_async._saved import SavedSession
from webchat_async.errors import ApiError, DecodeError

# Per example: seconds (a 2-core CI machine, tracemalloc on) and bytes of traced peak.
TIME_BUDGET = 3.0
MEMORY_BASE = 32 << 20
MEMORY_PER_INPUT_CHAR = 64

FUZZ = settings(
    max_examples=60,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@contextmanager
def budget(size: int, what: str) -> Iterator[None]:
    tracemalloc.start()
    try:
        with within(TIME_BUDGET, what):
            yield
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    limit = MEMORY_BASE + MEMORY_PER_INPUT_CHAR * size
    assert peak <= limit, f"{what}: {peak:,} bytes at peak for {size:,} characters of input"


# -- inputs ----------------------------------------------------------------------------

# Field names of every model (camelCase) and of the frames: the keys a decoder reads.
KEYS = sorted(
    {_convert.camel(field.name) for cls in models.MODELS for field in attrs.fields(cls)}
    | {"topicName", "eventBody", "metadata", "type", "message", "errors", "jwt", "baseUrl"}
)
SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
strings = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.one_of(SURROGATES, st.characters()), max_size=10),
    st.sampled_from(["eyJ", "bearer ", "/jwt/", "?token=", "2024-05-01T12:00:00.000Z"]),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), strings)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS), inner, max_size=5)
    ),
    max_leaves=30,
)

# A container nested `depth` levels: the shapes the decoders recurse into.
NESTINGS = {
    "arrays": ("[", "]"),
    "objects": ('{"a":', "}"),
    "errors": ('{"message":"m","errors":[', "]}"),
    "event bodies": ('{"topicName":"v2.x","eventBody":', "}"),
    "senders": ('{"id":"m","sender":', "}"),
}


@st.composite
def deep_texts(draw: st.DrawFn) -> str:
    head, tail = NESTINGS[draw(st.sampled_from(sorted(NESTINGS)))]
    depth = draw(st.integers(0, 3000))
    leaf = json.dumps(draw(json_values))
    return head * depth + leaf + tail * draw(st.sampled_from([depth, max(depth - 1, 0)]))


@st.composite
def long_texts(draw: st.DrawFn) -> str:
    unit = draw(st.sampled_from(["eyJ", "eyJa.", "bearer ", "/jwt/", "?token=", "a", "\\u"]))
    count = draw(st.integers(0, 300_000 // len(unit)))
    inner = unit * count
    if draw(st.booleans()):
        return json.dumps({"message": inner, "code": inner[:1000], "eventBody": {"body": inner}})
    return inner


@st.composite
def unicode_texts(draw: st.DrawFn) -> str:
    value = draw(json_values)
    ascii_only = draw(st.booleans())  # \ud800 escapes, or the characters themselves
    text = json.dumps(value, ensure_ascii=ascii_only)
    if ascii_only:
        return text
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        pass  # raw surrogates: a str from anywhere but a socket
    return text


any_text = st.one_of(deep_texts(), long_texts(), unicode_texts(), st.text(max_size=200))

WORST_ERROR_BODY = '{"message":"m","errors":[' * 170 + "{}" + "]}" * 170
WORST_REDACTION = "eyJ" * 100_000


def _printable(text: str) -> None:
    text.encode("utf-8")  # a lone surrogate here would fail whoever prints it


# -- the decoders ----------------------------------------------------------------------


@FUZZ
@given(any_text, st.booleans())
@example(WORST_ERROR_BODY, False)
@example("[" * 100_000, True)
def test_parse_json(text: str, as_bytes: bool) -> None:
    raw: str | bytes = text
    if as_bytes:
        raw = text.encode("utf-8", "surrogatepass")
    with budget(len(text), "parse_json"):
        try:
            _convert.parse_json(raw)
        except ValueError:
            pass


@FUZZ
@given(any_text, st.sampled_from(models.MODELS))
@example(WORST_ERROR_BODY, models.ErrorBody)
def test_structure_and_loads_of_every_model(text: str, cls: type[Any]) -> None:
    with budget(len(text), f"loads {cls.__name__}"):
        try:
            data = _convert.parse_json(text)
        except ValueError:
            data = None
        try:
            structured = _convert.structure(data, cls)
        except DecodeError as exc:
            _printable(str(exc))
        else:
            assert type(structured) is cls
        try:
            loaded = _convert.loads(text, cls)
        except DecodeError as exc:
            _printable(str(exc))
        else:
            assert type(loaded) is cls
            assert _convert.lone_surrogate_path(loaded) is None  # refused, named


@FUZZ
@given(any_text)
@example(WORST_ERROR_BODY)
@example(json.dumps({"topicName": "v2.x", "eventBody": {"a": "\ud800"}}))
def test_decode_frame(text: str) -> None:
    with budget(len(text), "decode_frame"):
        event = decode_frame(text)
    assert event is None or isinstance(event, Event)
    if isinstance(event, UnknownEvent):
        _printable(event.raw)
        _printable(repr(event))
    elif event is not None:
        assert _convert.lone_surrogate_path(event) is None


@FUZZ
@given(any_text, st.sampled_from([400, 401, 403, 404, 409, 413, 429, 500, 503]))
@example(WORST_ERROR_BODY, 400)
@example(json.dumps({"message": WORST_REDACTION}), 500)
def test_error_body_decoding(text: str, status: int) -> None:
    content = text.encode("utf-8", "surrogatepass")
    response = httpx.Response(status, content=content, headers={"content-type": "application/json"})
    with budget(len(text), "the error reply"):
        exc = error_from_response(response, "GET", "/api/v2/x")
    assert isinstance(exc, ApiError) and exc.status == status
    for shown in (str(exc), repr(exc), exc.message):
        _printable(shown)
        assert len(shown) <= 5 * TEXT_LIMIT


@FUZZ
@given(st.one_of(any_text, json_values.map(json.dumps)))
def test_saved_session_loading(text: str) -> None:
    with budget(len(text), "SavedSession.from_json"):
        try:
            saved = SavedSession.from_json(text)
        except ValueError:
            return
    assert isinstance(saved, SavedSession)


@FUZZ
@given(any_text)
@example(WORST_REDACTION)
def test_redaction(text: str) -> None:
    functions: list[Callable[[str], str]] = [redact, clip]
    with budget(len(text), "redaction"):
        redacted, clipped = (function(text) for function in functions)
    assert redact(redacted) == redacted
    assert len(clipped) <= TEXT_LIMIT or not clipped.isascii()
    _printable(clipped)


def test_the_budget_catches_a_runaway() -> None:
    # The budget itself: a decoder that loops is stopped and reported, not waited for.
    with pytest.raises(pytest.fail.Exception, match="did not finish within"), budget(1, "spin"):
        while True:
            pass

"""Property tests: whatever the service sends, decoding either succeeds or says why.

* Every model of ``webchat_async.models.MODELS`` takes any JSON value, and JSON shaped
  like the model with wrong types in random fields: it parses, or raises the SDK's own
  :class:`~webchat_async.errors.DecodeError`; never ``AttributeError``, ``KeyError``,
  ``TypeError`` or anything else.
* :func:`webchat_async._events.decode_frame` takes any text (or bytes), and frames shaped
  like the stream's events with random damage: it returns an ``Event`` or ``None``.
"""

from __future__ import annotations

import datetime
import json
import types
import typing
from collections import Counter
from collections.abc import Iterator
from typing import Any

import attrs
import pytest
import respx
from chaos_support import SCALE, figures
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from webchat_async import models
from webchat_async._convert import camel, format_datetime, loads, structure
from webchat_async._events import Event, UnknownEvent, decode_frame
from webchat_async.api import WebChatApi
from webchat_async.auth import ClientCredentials
from webchat_async.errors import BadRequestError, DecodeError
from webchat_async.session import SavedSession

PROPERTY = settings(
    max_examples=60 * SCALE,
    deadline=None,
    database=None,  # no .hypothesis directory written by the suite
    derandomize=True,  # the same examples on every run: a failure reproduces
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=25,
)
datetimes = st.datetimes(timezones=st.just(datetime.timezone.utc)).map(
    format_datetime
) | st.sampled_from(
    ["2024-05-01T12:00:00Z", "2024-05-01T12:00:00.123+02:00", "2024-05-01", "", "Z", "now"]
)


def _unwrap_optional(tp: Any) -> Any:
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return tp


_shaped_cache: dict[type, st.SearchStrategy[dict[str, Any]]] = {}


def well_typed(tp: Any) -> st.SearchStrategy[Any]:
    """Values of the wire type of ``tp`` (what a correct server sends)."""
    tp = _unwrap_optional(tp)
    origin = typing.get_origin(tp)
    if origin is list:
        (item,) = typing.get_args(tp)
        return st.lists(field_value(item), max_size=3)
    if origin is dict:
        return st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3)
    if isinstance(tp, type) and issubclass(tp, models._OpenEnum):
        # Known values and values from the future.
        return st.sampled_from([m.value for m in tp]) | st.text(max_size=12)
    if tp is str:
        return st.text(max_size=20)
    if tp is int:
        return st.integers(min_value=-(2**40), max_value=2**40)
    if tp is bool:
        return st.booleans()
    if tp is datetime.datetime:
        return datetimes
    if attrs.has(tp):
        return st.deferred(lambda: shaped(tp))
    raise AssertionError(f"no strategy for {tp!r}")


def field_value(tp: Any) -> st.SearchStrategy[Any]:
    """Mostly the right type, sometimes any JSON value at all (a wrong type)."""
    return st.one_of(well_typed(tp), well_typed(tp), json_values)


def shaped(cls: type) -> st.SearchStrategy[dict[str, Any]]:
    """JSON objects with the model's camelCase keys, each present or not, some mistyped."""
    if cls not in _shaped_cache:
        hints = typing.get_type_hints(cls)
        optional = {camel(a.name): field_value(hints[a.name]) for a in attrs.fields(cls)}
        extra = st.dictionaries(st.text(max_size=10), json_values, max_size=2)
        _shaped_cache[cls] = st.builds(
            lambda known, unknown: {**unknown, **known},
            st.fixed_dictionaries({}, optional=optional),
            extra,
        )
    return _shaped_cache[cls]


#: Outcomes over the whole module, printed as one figure line at its end.
TALLY: Counter[str] = Counter()


@pytest.fixture(scope="module", autouse=True)
def tally() -> Iterator[None]:
    yield
    figures(
        "CHAOS properties",
        inputs=sum(TALLY.values()),
        parsed=TALLY["parsed"],
        decode_errors=TALLY["error"],
        frames=TALLY["frame"],
        escapes=0,  # any escape fails its test before this line
    )


def decodes_or_says_why(data: Any, cls: type) -> str:
    try:
        value = structure(data, cls)
    except DecodeError as exc:
        # The SDK's own error, with a text that names no value.
        assert str(exc)
        TALLY["error"] += 1
        return "error"
    assert isinstance(value, cls)
    repr(value)
    TALLY["parsed"] += 1
    return "parsed"


MODEL_IDS = [cls.__name__ for cls in models.MODELS]


@pytest.mark.parametrize("cls", models.MODELS, ids=MODEL_IDS)
@PROPERTY
@given(data=json_values)
def test_any_json_value_parses_or_raises_decode_error(cls: type, data: Any) -> None:
    decodes_or_says_why(data, cls)
    text = json.dumps(data)
    try:
        loads(text, cls)
    except DecodeError:
        pass


@pytest.mark.parametrize("cls", models.MODELS, ids=MODEL_IDS)
@PROPERTY
@given(data=st.data())
def test_model_shaped_json_with_wrong_types_parses_or_raises_decode_error(
    cls: type, data: st.DataObject
) -> None:
    payload = data.draw(shaped(cls))
    decodes_or_says_why(payload, cls)


def test_every_model_is_covered_and_both_outcomes_happen() -> None:
    # The strategies can build every model, and they do produce both outcomes (a property
    # test that only ever saw parse errors would prove little).
    outcomes: dict[str, set[str]] = {}

    @settings(max_examples=80, deadline=None, database=None, derandomize=True)
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        cls = data.draw(st.sampled_from(models.MODELS))
        outcome = decodes_or_says_why(data.draw(shaped(cls)), cls)
        outcomes.setdefault("all", set()).add(outcome)

    run()
    assert outcomes["all"] == {"parsed", "error"}
    for cls in models.MODELS:
        assert isinstance(structure({}, cls), cls)


# -- decode_frame -------------------------------------------------------------------------

_CHATS = "v2.conversations.chats.c-1."
topics = st.sampled_from(
    [
        _CHATS + "messages",
        _CHATS + "members",
        _CHATS + "mediarequests",
        "channel.metadata",
        "v2.system.socket_closing",
        "v2.conversations.chats.",
        "",
    ]
) | st.text(max_size=30)
kinds = (
    st.sampled_from(["message", "typing-indicator", "member-change", "media-request"]) | json_values
)
bodies = st.one_of(
    shaped(models.WebChatMessage),
    shaped(models.WebChatTyping),
    shaped(models.WebChatGuestMediaRequest),
    st.fixed_dictionaries(
        {},
        optional={
            "member": shaped(models.WebChatMemberInfo) | json_values,
            "conversation": st.fixed_dictionaries({}, optional={"id": json_values}),
            "timestamp": datetimes | json_values,
        },
    ),
    st.fixed_dictionaries(
        {"message": st.sampled_from(["WebSocket Heartbeat", "pong"]) | st.text()}
    ),
    json_values,
)
frames = st.fixed_dictionaries(
    {},
    optional={
        "topicName": topics | json_values,
        "version": st.just("2") | json_values,
        "eventBody": bodies,
        "metadata": (
            st.fixed_dictionaries({}, optional={"type": kinds, "CorrelationId": json_values})
            | json_values
        ),
    },
)


def _is_event_or_none(result: object) -> None:
    TALLY["frame"] += 1
    assert result is None or isinstance(result, Event), result
    if isinstance(result, UnknownEvent):
        assert len(result.raw) <= 64 * 1024
    repr(result)


@PROPERTY
@given(text=st.text())
@example(text="[" * 100_000)
@example(text='{"topicName":"x","eventBody":' + "[" * 10_000 + "]" * 10_000 + "}")
@example(text="\ud800")
@example(text='{"topicName": "channel.metadata"}')
@example(text="x" * (1024 * 1024 + 1))
def test_decode_frame_takes_any_text(text: str) -> None:
    _is_event_or_none(decode_frame(text))


@PROPERTY
@given(raw=st.binary())
@example(raw=b"\xff\xfe")
@example(raw=b'{"topicName": "channel.metadata", "eventBody": {"message": "pong"}}')
def test_decode_frame_takes_any_bytes(raw: bytes) -> None:
    _is_event_or_none(decode_frame(raw))


@PROPERTY
@given(frame=frames)
def test_decode_frame_takes_any_event_shaped_frame(frame: dict[str, Any]) -> None:
    _is_event_or_none(decode_frame(json.dumps(frame)))


# -- JSON nested past the parser's recursion limit -----------------------------------------
#
# A few hundred kilobytes of "[[[[..." make json.loads raise RecursionError, which is not a
# ValueError: every place that parses what the service (or a user) sends must catch it.

DEEP = "[" * 100_000 + "]" * 100_000
BASE = "https://api.mypurecloud.com"
FAKE_JWT = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJjaGFvcyJ9.c2lnbmF0dXJl"


async def test_a_deeply_nested_error_body_still_gives_the_status_error() -> None:
    path = "/api/v2/webchat/guest/conversations/c-1/members/m-1"
    async with WebChatApi(guest_token=FAKE_JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(path).respond(400, content=DEEP.encode())
            with pytest.raises(BadRequestError) as info:
                await api.get_webchat_guest_conversation_member("c-1", "m-1")
    assert info.value.status == 400 and info.value.body is None


async def test_a_deeply_nested_token_response_is_a_decode_error() -> None:
    credentials = ClientCredentials("client", "secret")
    async with WebChatApi(credentials=credentials, max_retries=0) as api:
        with respx.mock() as router:
            router.post("https://login.mypurecloud.com/oauth/token").respond(
                200, content=DEEP.encode()
            )
            with pytest.raises(DecodeError):
                await api.get_webchat_settings()


async def test_a_deeply_nested_response_body_is_a_decode_error() -> None:
    async with WebChatApi(guest_token=FAKE_JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get("/api/v2/webchat/guest/conversations/c-1/members/m-1").respond(
                200, content=DEEP.encode()
            )
            with pytest.raises(DecodeError):
                await api.get_webchat_guest_conversation_member("c-1", "m-1")


def test_a_deeply_nested_saved_session_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        SavedSession.from_json(DEEP)

"""The fast paths of the converter give what the general paths give, for every input.

The specialised structure functions (``_convert._fast_structurer``), the ``Z`` timestamp
shortcut and orjson in ``parse_json`` only speed up the common case; these property
tests pin that results and errors are those of the cattrs functions and ``json.loads``.
"""

from __future__ import annotations

import datetime
import json
from typing import Any

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async import _convert, models
from webchat_async.errors import DecodeError
from webchat_async.models import (
    WebChatMemberInfo,
    WebChatMessage,
    WebChatTyping,
)

HOT = [WebChatMessage, WebChatMemberInfo, WebChatTyping]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.text(max_size=8),
    st.sampled_from(["standard", "notice", "AGENT", "CUSTOMER", "CONNECTED"]),
    st.sampled_from(["2026-11-30T12:00:00.123Z", "2026-11-30T12:00:00Z", "2026-13-30T12:00Z"]),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=8,
)
keys = st.sampled_from(
    ["id", "name", "body", "bodyType", "timestamp", "selfUri", "conversation", "sender",
     "displayName", "role", "joinDate", "authenticatedGuest", "customFields", "state", "x"]
)  # fmt: skip
objects = st.recursive(
    st.dictionaries(keys, values, max_size=6),
    lambda inner: st.dictionaries(keys, values | inner, max_size=6),
    max_leaves=12,
)


def slow(data: Any, cls: type[Any]) -> Any:
    hook = _convert.get_converter().get_structure_hook(cls)
    return hook.__globals__["slow"](data, cls)


def outcome(function: Any, data: Any, cls: type[Any]) -> Any:
    try:
        return ("ok", function(data, cls))
    except Exception as exc:
        return ("error", type(exc))


@pytest.mark.parametrize("cls", HOT)
def test_the_hot_models_have_a_fast_structure_function(cls: type[Any]) -> None:
    hook = _convert.get_converter().get_structure_hook(cls)
    assert hook.__name__ == "structure_fast"


@settings(max_examples=400, deadline=None)
@given(data=objects, cls=st.sampled_from(HOT))
def test_fast_structure_equals_the_cattrs_function(data: dict[str, Any], cls: type[Any]) -> None:
    fast = _convert.get_converter().get_structure_hook(cls)
    assert outcome(fast, data, cls) == outcome(slow, data, cls)


@settings(max_examples=400, deadline=None)
@given(data=st.data())
def test_every_model_built_by_its_slots_equals_the_cattrs_function(data: st.DataObject) -> None:
    # The fast functions set each slot themselves (not through attrs's __init__): for
    # every model, the instance must be what cls(...) builds, attribute for attribute.
    cls = data.draw(st.sampled_from(models.MODELS))
    fast = _convert.get_converter().get_structure_hook(cls)
    assert "new" in fast.__globals__  # this model is built slot by slot
    names = [_convert.camel(field.name) for field in attrs.fields(cls)]
    obj = data.draw(st.dictionaries(st.sampled_from([*names, "x"]), values, max_size=6))
    got, expected = outcome(fast, obj, cls), outcome(slow, obj, cls)
    assert got == expected
    assert repr(got) == repr(expected)


def described(function: Any, data: Any) -> Any:
    try:
        return ("ok", function(data))
    except DecodeError as exc:
        return ("error", str(exc))


@settings(max_examples=300, deadline=None)
@given(data=objects | values, cls=st.sampled_from(HOT))
def test_structurer_gives_what_structure_gives_errors_included(data: Any, cls: type[Any]) -> None:
    # The direct function of the event path: same result, same DecodeError text.
    assert described(_convert.structurer(cls), data) == described(
        lambda d: _convert.structure(d, cls), data
    )


# Nested members drawn from a few ids, with varying content: the interning table of a
# structure function sees repeats, changes under one id, and values of other types.
members = st.fixed_dictionaries(
    {"id": st.sampled_from(["m1", "m2"])},
    optional={
        "displayName": st.sampled_from(["Ann", "Bob"]),
        "role": st.sampled_from(["AGENT", "CUSTOMER", "NEW_ROLE"]),
        "joinDate": st.sampled_from(["2026-11-30T12:00:00.123Z", "2026-13-30T12:00Z"]),
        "authenticatedGuest": st.sampled_from([True, "true", 1]),
        "customFields": st.sampled_from([{"k": "v"}, {"k": 1}, "k"]),
        "x": values,
    },
)
nested = st.one_of(members, st.integers(), st.just("m1"), st.none())


@settings(max_examples=300, deadline=None)
@given(
    frames=st.lists(
        st.fixed_dictionaries(
            {"id": st.text(max_size=3), "sender": nested, "conversation": nested},
            optional={"timestamp": st.sampled_from(["2026-11-30T12:00:00.123Z", "x" * 24 + "Z"])},
        ),
        max_size=8,
    ),
    cls=st.sampled_from([WebChatMessage, WebChatTyping]),
)
def test_shared_nested_objects_give_what_the_cattrs_function_gives(
    frames: list[dict[str, Any]], cls: type[Any]
) -> None:
    fast = _convert.get_converter().get_structure_hook(cls)
    for data in frames:
        got, expected = outcome(fast, data, cls), outcome(slow, data, cls)
        assert got == expected
        assert repr(got) == repr(expected)  # every slot set, as by __init__
        if got[0] == "ok":
            assert outcome(lambda o, _: hash(o), got[1], cls) == outcome(
                lambda o, _: hash(o), expected[1], cls
            )


def test_equal_nested_objects_are_built_once() -> None:
    hook = _convert.structurer(WebChatMessage)
    sender = {"id": "s1", "displayName": "Ann"}
    conversation = {"id": "c1"}
    first = hook({"id": "a", "sender": dict(sender), "conversation": conversation})
    second = hook({"id": "b", "sender": dict(sender), "conversation": conversation})
    assert first.sender is second.sender
    assert first.conversation is second.conversation
    # The same id with other content is built anew, and its latest form is kept.
    renamed = hook({"id": "c", "sender": {"id": "s1", "displayName": "Bob"}})
    assert renamed.sender == WebChatMemberInfo(id="s1", display_name="Bob")
    assert hook({"id": "d", "sender": {"id": "s1"}}).sender == WebChatMemberInfo(id="s1")
    # Only all-string objects are shared: a mutable field is never shared.
    fields = {"id": "s2", "customFields": {"k": "v"}}
    one = hook({"id": "e", "sender": fields}).sender
    two = hook({"id": "f", "sender": fields}).sender
    assert one is not None and two is not None
    assert one == two and one is not two and one.custom_fields is not two.custom_fields
    # Equal is not enough: True == 1, but only True is a boolean.
    assert hook({"id": "g", "sender": {"id": "s3", "authenticatedGuest": True}}).sender
    with pytest.raises(DecodeError, match=r"\$\.sender"):
        hook({"id": "h", "sender": {"id": "s3", "authenticatedGuest": 1}})


def test_the_table_of_shared_objects_is_bounded() -> None:
    fast = _convert.get_converter().get_structure_hook(WebChatMessage)
    table = fast.__globals__["T_sender"]
    for i in range(3 * _convert._INTERN_LIMIT):
        message = fast({"id": "m", "sender": {"id": f"s{i}"}}, WebChatMessage)
        assert message.sender == WebChatMemberInfo(id=f"s{i}")
        assert len(table) <= _convert._INTERN_LIMIT


def test_a_field_of_the_wrong_type_still_gets_the_detailed_error() -> None:
    with pytest.raises(DecodeError, match=r"\$\.sender"):
        _convert.structure({"id": "m", "sender": "not an object"}, WebChatMessage)
    with pytest.raises(DecodeError, match=r"\$\.timestamp"):
        _convert.structure({"id": "m", "timestamp": "2026-13-30T12:00:00.000Z"}, WebChatMessage)
    # A number where an id goes is tolerated, as by the general path.
    assert _convert.structure({"id": 12}, WebChatMessage).id == "12"


@given(st.text(max_size=30))
def test_timestamp_shortcut_agrees_with_the_general_parse(suffix: str) -> None:
    text = ("2026-11-30T12:00:00." + suffix)[:23] + "Z"
    try:
        fast = ("ok", _convert.parse_datetime(text))
    except ValueError as exc:
        fast = ("error", type(exc))
    general = text[:-1] + "+00:00"
    try:
        expected = ("ok", _convert.parse_datetime(general))
    except ValueError as exc:
        expected = ("error", type(exc))
    assert fast == expected


# 24 characters ending in "Z", the form the structure functions parse inline: near misses
# of the service's form (a "." elsewhere, other separators, 1 to 6 fraction digits).
near_timestamps = st.one_of(
    st.text(max_size=30).map(lambda suffix: ("2026-11-30T12:00:00." + suffix)[:23] + "Z"),
    st.text(alphabet="0123456789-:T. +Z", min_size=23, max_size=23).map(lambda t: t + "Z"),
    st.sampled_from(
        [
            "2026-11-30.12:00:00.123Z",
            "2026-11-30 12:00:00.123Z",
            "2026-11-30T12:00.123456Z",
            "2026-11-30T12:00:00.1+0Z",
            "2026-11-30T12:00:00+0000Z",
            "2026-02-30T12:00:00.123Z",
        ]
    ),
)


@settings(max_examples=500, deadline=None)
@given(near_timestamps, st.sampled_from([WebChatMessage, WebChatMemberInfo, WebChatTyping]))
def test_the_inline_timestamp_parse_gives_what_parse_datetime_gives(
    text: str, cls: type[Any]
) -> None:
    key = "joinDate" if cls is WebChatMemberInfo else "timestamp"
    data = {"id": "x", key: text}
    fast = _convert.get_converter().get_structure_hook(cls)
    assert outcome(fast, data, cls) == outcome(slow, data, cls)


json_texts = st.one_of(
    st.recursive(
        st.none() | st.booleans() | st.integers(-(2**80), 2**80) | st.floats() | st.text(),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    ).map(json.dumps),
    st.text(max_size=20),
    st.sampled_from(['"\\ud800"', "NaN", "[1e999]", "[" * 2000 + "]" * 2000, '{"a":1,}']),
)


@settings(max_examples=300, deadline=None)
@given(json_texts)
def test_parse_json_gives_what_json_loads_gives(text: str) -> None:
    try:
        expected: Any = ("ok", json.loads(text))
    except RecursionError:
        expected = ("error", _convert.JSONTooDeep)
    except ValueError:
        expected = ("error", ValueError)
    try:
        got: Any = ("ok", _convert.parse_json(text))
    except _convert.JSONTooDeep:
        got = ("error", _convert.JSONTooDeep)
    except ValueError:
        got = ("error", ValueError)
    # NaN != NaN: the reprs are compared (the same for equal values and for NaN).
    assert repr(got) == repr(expected)


def test_slot_builder_builds_what_the_class_builds() -> None:

    from webchat_async.messaging._models import Participant, StructuredMessage

    build = _convert.slot_builder(StructuredMessage)
    assert build is not StructuredMessage  # the fast path applies to it
    at = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
    values = ("m", "Text", "Outbound", "hi", at, "c", Participant("Sam"), (), (), {}, "Bot")
    built = build(*values)
    assert type(built) is StructuredMessage
    assert built == StructuredMessage(*values)
    assert attrs.astuple(built, recurse=False) == values
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        built.text = "changed"  # type: ignore[misc]

    @attrs.frozen
    class Checked:
        n: int = attrs.field(validator=attrs.validators.instance_of(int))

    assert _convert.slot_builder(Checked) is Checked  # a validator: the class's own init

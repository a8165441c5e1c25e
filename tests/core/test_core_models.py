"""Models and the converter: lossless round trips, tolerance, enums, datetimes, errors."""

from __future__ import annotations

import datetime
import json
from typing import Any

import attrs
import pytest
from core_support import FULL_EXAMPLES, JWT, STREAM_URI, example

from webchat_async import _convert, models
from webchat_async.errors import DecodeError


def test_every_model_has_a_full_example() -> None:
    assert set(FULL_EXAMPLES) == set(models.MODELS)


@pytest.mark.parametrize("cls", models.MODELS, ids=lambda c: c.__name__)
def test_example_sets_every_field(cls: type) -> None:
    wire_names = {_convert.camel(f.name) for f in attrs.fields(cls)}
    assert set(FULL_EXAMPLES[cls]) == wire_names


@pytest.mark.parametrize("cls", models.MODELS, ids=lambda c: c.__name__)
def test_round_trip_is_lossless(cls: type) -> None:
    data = example(cls)
    obj = _convert.structure(data, cls)
    assert isinstance(obj, cls)
    assert _convert.unstructure(obj) == data
    # Through text as well, as it travels.
    assert json.loads(_convert.dumps(_convert.loads(json.dumps(data), cls))) == data


def test_structured_values_have_python_types() -> None:
    msg = _convert.structure(example(models.WebChatMessage), models.WebChatMessage)
    assert msg.body_type is models.BodyType.STANDARD
    assert msg.timestamp == datetime.datetime(
        2024, 5, 1, 12, 0, 5, 250000, tzinfo=datetime.timezone.utc
    )
    assert msg.sender is not None and msg.sender.role is models.MemberRole.AGENT
    assert msg.conversation is not None and msg.conversation.id == "c-1"
    member = _convert.structure(example(models.WebChatMemberInfo), models.WebChatMemberInfo)
    assert member.custom_fields == {"plan": "gold", "ticket": "T-42"}
    assert member.authenticated_guest is False


def test_unknown_keys_are_ignored() -> None:
    data = example(models.WebChatMessage)
    data["brandNewField"] = {"nested": [1, 2]}
    data["sender"]["futureFlag"] = True
    msg = _convert.structure(data, models.WebChatMessage)
    assert msg.id == "msg-1"
    assert "brandNewField" not in _convert.unstructure(msg)


@pytest.mark.parametrize(
    ("cls", "key", "enum"),
    [
        (models.WebChatMessage, "bodyType", models.BodyType),
        (models.WebChatMemberInfo, "role", models.MemberRole),
        (models.WebChatMemberInfo, "state", models.MemberState),
        (models.WebChatGuestMediaRequest, "state", models.MediaRequestState),
    ],
)
def test_unknown_enum_values_are_kept(cls: type, key: str, enum: type) -> None:
    data = example(cls)
    data[key] = "SOMETHING_NEW"
    obj = _convert.structure(data, cls)
    value = getattr(obj, _snake(key))
    assert isinstance(value, enum)
    assert value == "SOMETHING_NEW"
    assert not value.is_known
    assert _convert.unstructure(obj)[key] == "SOMETHING_NEW"


def test_known_enum_value_is_known() -> None:
    assert models.MemberState("CONNECTED").is_known


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-05-01T12:00:00Z", datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc)),
        (
            "2024-05-01T12:00:00.123Z",
            datetime.datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=datetime.timezone.utc),
        ),
        (
            "2024-05-01T14:00:00+02:00",
            datetime.datetime(2024, 5, 1, 12, tzinfo=datetime.timezone.utc),
        ),
        (
            "2024-05-01T07:30:00.5-04:30",
            datetime.datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=datetime.timezone.utc),
        ),
    ],
)
def test_datetimes_with_z_and_offsets(text: str, expected: datetime.datetime) -> None:
    typing_event = _convert.structure({"timestamp": text}, models.WebChatTyping)
    assert typing_event.timestamp == expected
    assert typing_event.timestamp is not None and typing_event.timestamp.utcoffset() is not None


def test_utc_datetimes_are_written_with_z() -> None:
    stamp = datetime.datetime(2024, 5, 1, 12, 0, 0, 7000, tzinfo=datetime.timezone.utc)
    data = _convert.unstructure(models.WebChatTyping(timestamp=stamp))
    assert data == {"timestamp": "2024-05-01T12:00:00.007Z"}


@pytest.mark.parametrize(
    ("cls", "data"),
    [
        (models.WebChatMessage, {"timestamp": 12}),
        (models.WebChatMessage, {"timestamp": "yesterday"}),
        (models.WebChatMessage, {"sender": "m-1"}),
        (models.WebChatMessage, {"body": {"text": "x"}}),
        (models.WebChatMessageEntityList, {"entities": "msg-1"}),
        (models.WebChatMemberInfoEntityList, {"pageSize": "many"}),
        (models.WebChatSettings, {"requireDeployment": "yes"}),
        (models.WebChatMemberInfo, {"role": 3}),
    ],
)
def test_wrong_types_raise_decode_error(cls: type, data: dict[str, Any]) -> None:
    with pytest.raises(DecodeError):
        _convert.structure(data, cls)


def test_decode_error_on_non_object_and_bad_json() -> None:
    with pytest.raises(DecodeError):
        _convert.structure([1, 2], models.WebChatMessage)
    with pytest.raises(DecodeError):
        _convert.loads(b"{not json", models.WebChatMessage)


def test_decode_error_does_not_echo_the_value() -> None:
    with pytest.raises(DecodeError) as info:
        _convert.structure({"jwt": {"token": JWT}}, models.CreateWebChatConversationResponse)
    assert JWT not in str(info.value)


def test_none_fields_are_left_out_of_request_bodies() -> None:
    body = models.CreateWebChatMessageRequest(body="hi")
    assert _convert.unstructure(body) == {"body": "hi"}


def test_secret_fields_are_masked_in_repr() -> None:
    created = _convert.structure(
        example(models.CreateWebChatConversationResponse), models.CreateWebChatConversationResponse
    )
    assert JWT not in repr(created)
    assert STREAM_URI not in repr(created)
    request = _convert.structure(
        example(models.CreateWebChatConversationRequest), models.CreateWebChatConversationRequest
    )
    assert "signed-data-token" not in repr(request)


def _snake(name: str) -> str:
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def test_is_known_looks_at_values_not_member_names() -> None:
    from webchat_async.models import BodyType

    assert BodyType("standard").is_known
    upper = BodyType("STANDARD")  # the member's *name*, not a value the service sends
    assert not upper.is_known and upper != BodyType.STANDARD


@pytest.mark.parametrize("cls", list(FULL_EXAMPLES), ids=lambda c: c.__name__)
def test_models_compare_hash_and_show_as_attrs_would(cls: type) -> None:
    # The models share one written __eq__/__hash__/__repr__ (issue 11: attrs compiled them
    # per class at import); what a caller sees is what attrs generated.
    obj = _convert.structure(example(cls), cls)
    twin = _convert.structure(example(cls), cls)
    names = [a.name for a in attrs.fields(cls)]
    assert obj == twin and not obj != twin and obj is not twin
    assert obj != cls() and not obj == cls()
    assert obj.__eq__(object()) is NotImplemented and obj != object()
    changed = attrs.evolve(obj, **{names[-1]: "changed"})
    assert changed != obj
    assert hash(cls()) == hash(cls())
    try:
        hash(tuple(getattr(obj, n) for n in names))
    except TypeError:  # a list or dict inside: unhashable, as with attrs
        with pytest.raises(TypeError):
            hash(obj)
    else:
        assert hash(obj) == hash(twin)
    text = repr(obj)
    assert text.startswith(f"{cls.__name__}({names[0]}=") and text.endswith(")")
    shown = [a.name for a in attrs.fields(cls) if a.repr is not False]
    assert repr(cls()) == f"{cls.__name__}({', '.join(f'{n}=None' for n in shown)})"

"""The Web Messaging wire format: exact client frames, server frames of spec §2-§5, and
hostile frames (docs/messaging-protocol.md#frames, #hostile-frames)."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async import _convert
from webchat_async.messaging._actions import (
    CloseSession,
    ConfigureSession,
    DeleteAttachment,
    Echo,
    GetAttachment,
    GetJwt,
    OnAttachment,
    OnMessage,
    encode,
)
from webchat_async.messaging._models import (
    AttachmentContent,
    AttachmentDeleted,
    ConnectionClosed,
    Frame,
    GenerateUrlError,
    JwtResponse,
    Logout,
    Participant,
    PresenceEvent,
    PresignedUrl,
    QuickReplyContent,
    RawContent,
    RawEvent,
    SessionCleared,
    SessionExpired,
    SessionResponse,
    StringFrame,
    StructuredMessage,
    TooManyRequests,
    TypingEvent,
    Unknown,
    UploadFailure,
    UploadSuccess,
)
from webchat_async.messaging._wire import (
    MAX_FRAME_SIZE,
    MAX_PAGE_SIZE,
    decode_frame,
    decode_message,
    decode_page,
)

TOKEN = "00000000-secret-token-4d6f"


def frame(cls: str, body: Any, kind: str = "message", code: int = 200, **extra: Any) -> str:
    return json.dumps({"type": kind, "class": cls, "code": code, "body": body, **extra})


# -- client -> server ----------------------------------------------------------------------


def test_every_action_encodes_to_the_exact_json_of_spec_section_3() -> None:
    cases: list[tuple[Any, dict[str, Any]]] = [
        (
            ConfigureSession(
                TOKEN, "dep-1", "t1", start_new=True, customer_id="c", customer_session_id="s"
            ),
            {
                "action": "configureSession",
                "token": TOKEN,
                "tracingId": "t1",
                "deploymentId": "dep-1",
                "startNew": True,
                "journeyContext": {
                    "customer": {"id": "c", "idType": "cookie"},
                    "customerSession": {"id": "s", "type": "web"},
                },
            },
        ),
        (
            ConfigureSession(TOKEN, "dep-1", "t1"),
            {
                "action": "configureSession",
                "token": TOKEN,
                "tracingId": "t1",
                "deploymentId": "dep-1",
            },
        ),
        (
            OnMessage(
                TOKEN,
                "t2",
                "Text",
                "hi",
                metadata={"customMessageId": "c1"},
                custom_attributes={"plan": "gold"},
            ),
            {
                "action": "onMessage",
                "token": TOKEN,
                "tracingId": "t2",
                "message": {
                    "type": "Text",
                    "text": "hi",
                    "metadata": {"customMessageId": "c1"},
                    "channel": {"metadata": {"customAttributes": {"plan": "gold"}}},
                },
            },
        ),
        (
            OnMessage(TOKEN, "t3", "Event", events=(("Typing", "On"),)),
            {
                "action": "onMessage",
                "token": TOKEN,
                "tracingId": "t3",
                "message": {
                    "type": "Event",
                    "events": [{"eventType": "Typing", "typing": {"type": "On"}}],
                },
            },
        ),
        (
            OnMessage(TOKEN, "t4", "Event", events=(("Presence", "Join"),)),
            {
                "action": "onMessage",
                "token": TOKEN,
                "tracingId": "t4",
                "message": {
                    "type": "Event",
                    "events": [{"eventType": "Presence", "presence": {"type": "Join"}}],
                },
            },
        ),
        (
            OnMessage(TOKEN, "t5", "Text", attachment_ids=("a1",)),
            {
                "action": "onMessage",
                "token": TOKEN,
                "tracingId": "t5",
                "message": {
                    "type": "Text",
                    "content": [{"contentType": "Attachment", "attachment": {"id": "a1"}}],
                },
            },
        ),
        (
            Echo(TOKEN, "t6"),
            {
                "action": "echo",
                "token": TOKEN,
                "tracingId": "t6",
                "message": {"type": "Text", "text": "ping"},
            },
        ),
        (GetJwt(TOKEN, "t7"), {"action": "getJwt", "token": TOKEN, "tracingId": "t7"}),
        (
            OnAttachment(TOKEN, "t8", "a1", "cat.png", "image/png", 2048, "md5"),
            {
                "action": "onAttachment",
                "token": TOKEN,
                "tracingId": "t8",
                "attachmentId": "a1",
                "fileName": "cat.png",
                "fileType": "image/png",
                "fileSize": 2048,
                "fileMd5": "md5",
                "errorsAsJson": True,
            },
        ),
        (
            GetAttachment(TOKEN, "t9", "a1"),
            {"action": "getAttachment", "token": TOKEN, "tracingId": "t9", "attachmentId": "a1"},
        ),
        (
            DeleteAttachment(TOKEN, "t10", "a1"),
            {
                "action": "deleteAttachment",
                "token": TOKEN,
                "tracingId": "t10",
                "attachmentId": "a1",
            },
        ),
        (
            CloseSession(TOKEN, "t11"),
            {
                "action": "closeSession",
                "token": TOKEN,
                "tracingId": "t11",
                "closeAllConnections": True,
            },
        ),
    ]
    for action, expected in cases:
        text = encode(action)
        assert json.loads(text) == expected
        # Compact, and the envelope first: action, token, tracingId.
        assert " " not in text.replace(" ", "") and ": " not in text
        assert list(json.loads(text))[:3] == ["action", "token", "tracingId"]


def test_no_action_shows_its_token_in_a_repr() -> None:
    actions = [
        ConfigureSession(TOKEN, "d", "t"),
        OnMessage(TOKEN, "t", text="x"),
        Echo(TOKEN, "t"),
        GetJwt(TOKEN, "t"),
        OnAttachment(TOKEN, "t", "a", "f", "image/png"),
        GetAttachment(TOKEN, "t", "a"),
        DeleteAttachment(TOKEN, "t", "a"),
        CloseSession(TOKEN, "t"),
    ]
    for action in actions:
        assert TOKEN not in repr(action) and "***" in repr(action)


def test_non_ascii_text_goes_out_as_it_is() -> None:
    assert '"text":"héllo ✓"' in encode(OnMessage(TOKEN, "t", text="héllo ✓"))


# -- server -> client: the classes of spec §2 ------------------------------------------------


def test_too_many_requests_frame_of_spec_section_5() -> None:
    text = (
        '{"type": "response", "class": "TooManyRequestsErrorMessage", "code": 429, "body": '
        '{"retryAfter": 3, "errorCode": 4029, "errorMessage": "Message rate too high for '
        'this session"}}'
    )
    assert decode_frame(text) == Frame(
        True, 429, TooManyRequests(3.0, 4029, "Message rate too high for this session")
    )


def test_read_only_string_frame_of_spec_section_4() -> None:
    text = frame(
        "string", "Session is read-only, no new messages allowed", "response", 409, tracingId="t1"
    )
    assert decode_frame(text) == Frame(
        True, 409, StringFrame("Session is read-only, no new messages allowed"), "t1"
    )


def test_echo_response_with_expiry_metadata() -> None:
    body = {
        "id": "e1",
        "type": "Text",
        "text": "ping",
        "direction": "Inbound",
        "channel": {"time": "2026-01-01T10:00:00.123Z", "messageId": "e1"},
        "metadata": {"durationSeconds": "3600", "expirationDate": "1767265200", "n": 5},
    }
    decoded = decode_frame(frame("StructuredMessage", body, "response", tracingId="t9"))
    assert decoded.response and decoded.tracing_id == "t9"
    message = decoded.body
    assert isinstance(message, StructuredMessage)
    assert message.text == "ping" and message.inbound
    # Only string values are kept: a number where the spec says string is dropped.
    assert message.metadata == {"durationSeconds": "3600", "expirationDate": "1767265200"}


def test_structured_message_with_every_part() -> None:
    body = {
        "id": "m1",
        "type": "Structured",
        "text": "pick one",
        "direction": "Outbound",
        "originatingEntity": "Bot",
        "unknownKey": {"ignored": True},
        "channel": {
            "time": "2026-01-01T10:00:00.123Z",
            "messageId": "c1",
            "type": "Private",
            "from": {"nickname": "Ann", "firstName": "A", "lastName": "B", "image": "https://img"},
        },
        "content": [
            {
                "contentType": "QuickReply",
                "quickReply": {"text": "Yes", "payload": "y", "action": "Message"},
            },
            {
                "contentType": "Attachment",
                "attachment": {
                    "id": "a1",
                    "url": "https://f",
                    "filename": "f.png",
                    "fileSize": 10,
                    "mediaType": "Image",
                    "mime": "image/png",
                },
            },
            {"contentType": "Carousel", "carousel": {"cards": []}},
        ],
        "events": [
            {"eventType": "Typing", "typing": {"type": "On", "duration": 5000}},
            {"eventType": "Presence", "presence": {"type": "Join"}},
            {"eventType": "CoBrowse", "coBrowse": {"type": "Offering"}},
        ],
    }
    message = decode_frame(frame("StructuredMessage", body)).body
    assert isinstance(message, StructuredMessage)
    assert message.id == "m1" and message.type == "Structured" and not message.inbound
    assert message.time == datetime.datetime(2026, 1, 1, 10, 0, 0, 123000, datetime.timezone.utc)
    assert message.channel_message_id == "c1"
    assert message.sender == Participant("Ann", "A", "B", "https://img")
    assert message.originating_entity == "Bot"
    quick, attachment, carousel = message.content
    assert quick == QuickReplyContent("Yes", "y", "Message")
    assert attachment == AttachmentContent(
        "a1", "https://f", "f.png", 10, "Image", "image/png", None, None
    )
    assert isinstance(carousel, RawContent) and carousel.content_type == "Carousel"
    assert carousel.raw["carousel"] == {"cards": []}
    typing, presence, cobrowse = message.events
    assert typing == TypingEvent("On", 5000)
    assert presence == PresenceEvent("Join")
    assert isinstance(cobrowse, RawEvent) and cobrowse.event_type == "CoBrowse"


def test_session_response_of_spec_section_3() -> None:
    body = {
        "connected": True,
        "newSession": True,
        "readOnly": False,
        "clearedExistingSession": False,
        "allowedMedia": {
            "inbound": {
                "fileTypes": [{"type": "image/png"}, {"type": "*/*"}],
                "maxFileSizeKB": 10240,
            }
        },
        "blockedExtensions": [".exe", ".bat"],
        "maxCustomDataBytes": 2048,
        "durationSeconds": 259200,
        "expirationDate": 1767484800,
        "autoStarted": True,
    }
    decoded = decode_frame(frame("SessionResponse", body, "response", tracingId="t"))
    response = decoded.body
    assert isinstance(response, SessionResponse)
    assert response.connected and response.new_session and response.auto_started
    assert not response.read_only and not response.cleared_existing_session
    assert response.allowed_media is not None
    assert response.allowed_media.file_types == ("image/png", "*/*")
    assert response.allowed_media.max_file_size_kb == 10240
    assert response.blocked_extensions == (".exe", ".bat")
    assert response.max_custom_data_bytes == 2048
    assert (response.duration_seconds, response.expiration_date) == (259200, 1767484800)


def test_the_other_classes() -> None:
    presigned = decode_frame(
        frame(
            "PresignedUrlResponse",
            {
                "attachmentId": "a1",
                "headers": {"x-amz-tagging": "t"},
                "url": "https://up?sig=S",
                "fileName": "f.png",
                "fileSize": 3,
                "fileType": "image/png",
            },
            "response",
        )
    ).body
    assert presigned == PresignedUrl(
        "a1", "https://up?sig=S", {"x-amz-tagging": "t"}, "f.png", 3, "image/png"
    )
    assert "sig=S" not in repr(presigned)  # a signed URL grants the upload
    cases: list[tuple[str, Any, Any]] = [
        ("AttachmentDeletedResponse", {"attachmentId": "a1"}, AttachmentDeleted("a1")),
        (
            "UploadSuccessEvent",
            {"attachmentId": "a1", "downloadUrl": "https://d", "timestamp": "2026-01-01T00:00:00Z"},
            UploadSuccess("a1", "https://d", "2026-01-01T00:00:00Z"),
        ),
        (
            "UploadFailureEvent",
            {
                "attachmentId": "a1",
                "errorCode": 4001,
                "errorMessage": "file type",
                "timestamp": "x",
            },
            UploadFailure("a1", 4001, "file type", "x"),
        ),
        (
            "GenerateUrlError",
            {"attachmentId": "a1", "errorCode": 4002, "errorMessage": "size"},
            GenerateUrlError("a1", 4002, "size"),
        ),
        (
            "JwtResponse",
            {"jwt": "eyJhbGciOi.eyJzdWIi.c2ln", "exp": 1767484800},
            JwtResponse("eyJhbGciOi.eyJzdWIi.c2ln", 1767484800),
        ),
        ("SessionExpiredEvent", {}, SessionExpired()),
        (
            "ConnectionClosedEvent",
            {"reason": "signed in elsewhere"},
            ConnectionClosed("signed in elsewhere"),
        ),
        ("ConnectionClosedEvent", {}, ConnectionClosed(None)),
        ("LogoutEvent", {}, Logout()),
        ("SessionClearedEvent", {}, SessionCleared()),
    ]
    for cls, body, expected in cases:
        assert decode_frame(frame(cls, body)).body == expected, cls
    jwt = decode_frame(frame("JwtResponse", {"jwt": "eyJhbGciOi.eyJzdWIi.c2ln", "exp": 1}))
    assert "eyJ" not in repr(jwt)


def test_unknown_class_is_kept_raw() -> None:
    text = frame("GetConfigurationResponse", {"x": 1}, "response", tracingId="t")
    decoded = decode_frame(text)
    assert decoded.response and decoded.tracing_id == "t" and decoded.code == 200
    assert decoded.body == Unknown("unknown class", "GetConfigurationResponse", text)


def test_history_entity_decodes_alone() -> None:
    assert decode_message({"id": "m", "type": "Text", "text": "x"}) == StructuredMessage(
        "m", "Text", text="x"
    )
    assert decode_message({"id": 5}) is None
    assert decode_message("not an object") is None


# -- hostile frames ------------------------------------------------------------------------


def test_hostile_frames_become_unknown_naming_the_reason() -> None:
    message = {"id": "m", "type": "Text", "text": "x", "channel": {"time": "2026-01-01T00:00:00Z"}}
    cases = {
        "x" * (MAX_FRAME_SIZE + 1): "frame too large",
        "[" * 100_000 + "]" * 100_000: "JSON nested too deeply",
        "{not json": "invalid JSON",
        "[1, 2]": "not an object",
        json.dumps(
            {"type": "message", "class": "string", "code": "200", "body": "x"}
        ): "bad envelope",
        json.dumps({"type": "message", "class": 5, "code": 200, "body": "x"}): "bad envelope",
        json.dumps(
            {"type": "message", "class": "string", "code": True, "body": "x"}
        ): "bad envelope",
        frame("StructuredMessage", {**message, "text": 5}): "text: expected a string",
        frame(
            "StructuredMessage", {**message, "channel": {"time": 7}}
        ): "channel.time: expected an ISO-8601 time",
        frame(
            "StructuredMessage", {**message, "channel": {"time": "yesterday"}}
        ): "channel.time: expected an ISO-8601 time",
        frame("StructuredMessage", {**message, "content": {"a": 1}}): "content: expected a list",
        frame(
            "StructuredMessage", {**message, "events": [{"eventType": 3}]}
        ): "eventType: expected a string",
        frame("StructuredMessage", "a string"): "body: expected an object",
        frame("SessionResponse", {"connected": "maybe"}): "connected: expected a boolean",
        frame(
            "SessionResponse", {"blockedExtensions": [1]}
        ): "blockedExtensions: expected a list of strings",
        frame("JwtResponse", {"exp": 1}): "jwt: expected a string",
        frame("string", {"not": "text"}): "body: expected a string",
        frame("StructuredMessage", {**message, "text": "\ud800"}).replace(
            "\\ud800", "\\uD800"
        ): "text with a lone surrogate",
        frame(
            "StructuredMessage", {**message, "metadata": {"\udc00": "x"}}
        ): "text with a lone surrogate",
    }
    for text, reason in cases.items():
        decoded = decode_frame(text)
        assert isinstance(decoded.body, Unknown), text[:80]
        assert decoded.body.reason == reason, (text[:80], decoded.body.reason)
        assert len(decoded.body.raw) <= 64 * 1024


def test_a_valid_surrogate_pair_is_text_not_a_fault() -> None:
    text = frame("StructuredMessage", {"id": "m", "type": "Text", "text": "😀"})
    assert "\\ud83d\\ude00" in text  # json.dumps escapes it as a pair
    body = decode_frame(text).body
    assert isinstance(body, StructuredMessage) and body.text == "😀"


def test_binary_frames() -> None:
    good = frame("LogoutEvent", {}).encode()
    assert decode_frame(good).body == Logout()
    bad = decode_frame(b"\xff\xfe")
    assert isinstance(bad.body, Unknown) and bad.body.reason == "frame not UTF-8"


def test_a_huge_integer_where_a_count_goes_is_refused() -> None:
    body = decode_frame(frame("SessionResponse", {"durationSeconds": "9" * 5000})).body
    assert isinstance(body, Unknown) and body.reason == "durationSeconds: expected an integer"


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(), children, max_size=4)
    ),
    max_leaves=20,
)
CLASSES = st.sampled_from(
    [
        "StructuredMessage",
        "SessionResponse",
        "PresignedUrlResponse",
        "AttachmentDeletedResponse",
        "UploadSuccessEvent",
        "UploadFailureEvent",
        "GenerateUrlError",
        "JwtResponse",
        "SessionExpiredEvent",
        "TooManyRequestsErrorMessage",
        "ConnectionClosedEvent",
        "LogoutEvent",
        "SessionClearedEvent",
        "string",
        "Nope",
    ]
)


@settings(max_examples=300, deadline=None)
@given(cls=CLASSES, body=JSON, code=st.integers(-(2**70), 2**70) | JSON)
def test_decode_never_raises_on_any_body(cls: str, body: Any, code: Any) -> None:
    decoded = decode_frame(
        json.dumps({"type": "message", "class": cls, "code": code, "body": body})
    )
    assert isinstance(decoded, Frame)


@settings(max_examples=300, deadline=None)
@given(text=st.text() | st.binary())
def test_decode_never_raises_on_any_text(text: str | bytes) -> None:
    assert isinstance(decode_frame(text), Frame)


def test_history_page_of_the_documented_shape() -> None:
    good = {"id": "m2", "type": "Text", "text": "b", "channel": {"time": "2026-01-01T00:00:02Z"}}
    text = json.dumps(
        {
            "entities": [good, {"id": "m1", "text": 5}, "junk"],
            "pageSize": 25,
            "pageNumber": 2,
            "total": 30,
            "pageCount": 2,
        }
    )
    page = decode_page(text)
    assert page is not None
    assert [m.id for m in page.entities] == ["m2"]
    assert (page.page_number, page.page_count, page.skipped) == (2, 2, 2)
    assert decode_page(text.encode()) == page


def test_history_pages_that_are_not_pages() -> None:
    for text in [
        "x" * (MAX_PAGE_SIZE + 1),
        "{",
        "[]",
        '{"entities": {}}',
        '{"entities": [], "pageCount": "many"}',
        '{"entities": [{"id": "\\udc00"}]}',
        "[" * 100_000,
    ]:
        assert decode_page(text) is None, text[:40]
    assert decode_page(b"\xff") is None
    many = decode_page(json.dumps({"entities": [{"id": str(n)} for n in range(2000)]}))
    assert many is not None and len(many.entities) == 500  # bounded, whatever the page says


# Numbers in the forms that matter: around and past the 64-bit limits (where orjson reads
# an integer as a float), decimals, exponents.
NUMBER_TEXTS = st.one_of(
    st.integers(-(2**70), 2**70).map(str),
    st.sampled_from(
        [
            "9223372036854775807",
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "3600.0",
            "1e19",
            "1e400",
            "-0.0",
        ]
    ),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
)
NUMBERED_FRAME = (
    '{"type":"message","class":"StructuredMessage","code":%s,"body":{"id":"m","type":"Text",'
    '"text":"hi","content":[{"contentType":"Card","card":{"n":%s,"l":[1,%s]}},'
    '{"contentType":"Attachment","attachment":{"fileSize":%s}}],'
    '"events":[{"eventType":"CoBrowse","x":{"y":%s}},'
    '{"eventType":"Typing","typing":{"type":"On","duration":%s}}]}}'
)


def decode_without_orjson(text: str | bytes) -> Frame:
    """What decode_frame gives where orjson is not installed."""
    saved = (_convert._fast_loads, _convert._orjson_looked_up)
    _convert._fast_loads, _convert._orjson_looked_up = None, True
    try:
        return decode_frame(text)
    finally:
        _convert._fast_loads, _convert._orjson_looked_up = saved


@settings(max_examples=400, deadline=None)
@given(numbers=st.lists(NUMBER_TEXTS, min_size=6, max_size=6), as_bytes=st.booleans())
def test_a_frame_decodes_the_same_with_or_without_orjson(
    numbers: list[str], as_bytes: bool
) -> None:
    # decode_frame skips parse_json's look for long digit runs: the integers it keeps are
    # bounded to 64 bits, and a raw value holding a float past them is decoded again
    # exactly, so orjson's reading of a large integer as a float never shows.
    text = NUMBERED_FRAME % tuple(numbers)
    data: str | bytes = text.encode() if as_bytes else text
    assert decode_frame(data) == decode_without_orjson(data)


def test_an_integer_past_64_bits_in_a_raw_content_stays_exact() -> None:
    big = 123456789012345678901234567890
    text = frame(
        "StructuredMessage",
        {"id": "m", "type": "Text", "content": [{"contentType": "Card", "card": {"n": big}}]},
    )
    body = decode_frame(text.encode()).body
    assert isinstance(body, StructuredMessage)
    content = body.content[0]
    assert isinstance(content, RawContent) and content.raw["card"]["n"] == big


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, 10**30, 1e19, -1e30])
def test_an_integer_field_past_64_bits_is_refused_by_either_parser(value: float) -> None:
    text = frame("SessionResponse", {"durationSeconds": value})
    for decoded in (decode_frame(text), decode_without_orjson(text)):
        assert isinstance(decoded.body, Unknown)
        assert decoded.body.reason == "durationSeconds: expected an integer"

"""Ids, tokens, secrets and URLs holding a control character are refused where given.

A CR or LF in a token would end the ``Authorization`` header and start another (header
injection); in an id or a URL it would reach a request line. Before, such a value was
taken and failed (or worse) at the first request. Every entry point now raises
:class:`InvalidValueError` (a ``ValueError``) at once, naming the parameter and never
showing a secret's value. Nothing is sent: the API points at a port where nobody listens,
so a value that got through would give a connection error instead.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import respx
from core_support import ACCESS_TOKEN, CLIENT_ID, CLIENT_SECRET, JWT, STREAM_URI

from webchat_async import GuestSession, SavedSession, SessionOptions
from webchat_async._http import HttpClient
from webchat_async._validate import check_stream_uri
from webchat_async.api import WebChatApi
from webchat_async.auth import BearerAuth, ClientCredentials, ClientCredentialsAuth
from webchat_async.errors import DecodeError, InvalidValueError, WebChatError
from webchat_async.models import CreateWebChatConversationRequest, GuestMemberInfo

NOWHERE = "http://127.0.0.1:9"  # the discard port: nobody answers
CONTROLS = ["\r\n", "\n", "\r", "\x00", "\t", "\x7f", "\x85"]
INJECTED = "\r\nX-Injected: 1"


def refused(call: Callable[[], object], name: str, *, secret: str | None = None) -> None:
    with pytest.raises(InvalidValueError) as caught:
        call()
    assert caught.value.name == name
    assert str(caught.value).startswith(f"{name} contains ")
    assert isinstance(caught.value, ValueError)
    if secret is not None:
        assert secret not in str(caught.value) and "X-Injected" not in str(caught.value)


async def refused_async(call: Callable[[], Any], name: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        await call()
    assert caught.value.name == name


# -- tokens and secrets --------------------------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS)
def test_tokens_with_a_control_character_are_refused_by_every_constructor(control: str) -> None:
    bad_jwt = JWT[:20] + control + JWT[20:]
    bad_access = ACCESS_TOKEN + control
    refused(lambda: BearerAuth(bad_jwt), "token", secret=JWT[:20])
    refused(
        lambda: WebChatApi(base_url=NOWHERE, guest_token=bad_jwt), "guest_token", secret=JWT[:20]
    )
    refused(
        lambda: WebChatApi(base_url=NOWHERE, access_token=bad_access),
        "access_token",
        secret=ACCESS_TOKEN,
    )
    api = WebChatApi(base_url=NOWHERE)
    refused(lambda: api.with_options(guest_token=bad_jwt), "guest_token", secret=JWT[:20])
    refused(lambda: api.with_options(access_token=bad_access), "access_token", secret=ACCESS_TOKEN)


@pytest.mark.parametrize("bad", [JWT + INJECTED, JWT + " x", "é" + JWT, JWT + "\u2028"])
def test_a_token_is_printable_ascii_without_spaces(bad: str) -> None:
    refused(lambda: WebChatApi(base_url=NOWHERE, guest_token=bad), "guest_token", secret=JWT)


@pytest.mark.parametrize("control", CONTROLS)
def test_client_credentials_with_a_control_character_are_refused(control: str) -> None:
    refused(lambda: ClientCredentials(CLIENT_ID + control, CLIENT_SECRET), "client_id")
    refused(
        lambda: ClientCredentials(CLIENT_ID, CLIENT_SECRET + control),
        "client_secret",
        secret=CLIENT_SECRET,
    )
    # A secret read from a file with its newline: refused at once, not a 401 later.
    refused(lambda: ClientCredentials(CLIENT_ID, CLIENT_SECRET + "\n"), "client_secret")


def test_a_token_url_with_a_control_character_is_refused() -> None:
    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    http = HttpClient()
    refused(
        lambda: ClientCredentialsAuth(
            credentials, token_url=f"{NOWHERE}/oauth/token{INJECTED}", http=http
        ),
        "token_url",
    )


@respx.mock(base_url=NOWHERE)
async def test_an_access_token_from_the_server_with_a_newline_is_a_decode_error(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post("/oauth/token").respond(
        200, json={"access_token": ACCESS_TOKEN + INJECTED, "token_type": "bearer"}
    )
    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    async with WebChatApi(base_url=NOWHERE, credentials=credentials) as api:
        with pytest.raises(DecodeError, match="access_token is not a token") as caught:
            await api.get_webchat_deployments()
    assert ACCESS_TOKEN not in str(caught.value)


# -- URLs ---------------------------------------------------------------------------------


@pytest.mark.parametrize("control", CONTROLS)
def test_base_urls_with_a_control_character_are_refused(control: str) -> None:
    refused(lambda: WebChatApi(base_url=f"{NOWHERE}/a{control}b"), "base_url")
    refused(lambda: WebChatApi(base_url=NOWHERE, login_url=f"{NOWHERE}/{control}x"), "login_url")


def test_outer_whitespace_of_a_base_url_is_still_trimmed() -> None:
    assert WebChatApi(base_url=f" {NOWHERE}/ \n").base_url == NOWHERE


@pytest.mark.parametrize("control", CONTROLS)
def test_a_stream_uri_with_a_control_character_is_refused_without_showing_it(
    control: str,
) -> None:
    refused(
        lambda: check_stream_uri(STREAM_URI + control, allow_insecure=False),
        "event_stream_uri",
        secret=JWT,
    )


def test_a_proxy_with_a_control_character_is_refused_without_showing_it() -> None:
    refused(
        lambda: SessionOptions(proxy="http://user:pa55@proxy.example:3128\r\n"),
        "SessionOptions.proxy",
        secret="pa55",
    )


# -- ids -----------------------------------------------------------------------------------

ID_CALLS: list[tuple[str, Callable[[WebChatApi, str], Any]]] = [
    ("deployment_id", lambda api, bad: api.get_webchat_deployment(bad)),
    ("deployment_id", lambda api, bad: api.delete_webchat_deployment(bad)),
    (
        "conversation_id",
        lambda api, bad: api.get_webchat_guest_conversation_member(bad, "m-1"),
    ),
    ("member_id", lambda api, bad: api.get_webchat_guest_conversation_member("c-1", bad)),
    ("member_id", lambda api, bad: api.delete_webchat_guest_conversation_member("c-1", bad)),
    ("message_id", lambda api, bad: api.get_webchat_guest_conversation_message("c-1", bad)),
    ("conversation_id", lambda api, bad: api.get_webchat_guest_conversation_messages(bad)),
    ("after", lambda api, bad: api.get_webchat_guest_conversation_messages("c-1", after=bad)),
    ("before", lambda api, bad: api.get_webchat_guest_conversation_messages("c-1", before=bad)),
    (
        "media_request_id",
        lambda api, bad: api.get_webchat_guest_conversation_mediarequest("c-1", bad),
    ),
    (
        "organization_id",
        lambda api, bad: api.post_webchat_guest_conversations(
            CreateWebChatConversationRequest(
                organization_id=bad,
                deployment_id="d-1",
                member_info=GuestMemberInfo(display_name="Ann"),
            )
        ),
    ),
    (
        "deployment_id",
        lambda api, bad: api.post_webchat_guest_conversations(
            CreateWebChatConversationRequest(
                organization_id="o-1",
                deployment_id=bad,
                member_info=GuestMemberInfo(display_name="Ann"),
            )
        ),
    ),
]


@pytest.mark.parametrize("control", ["\r\n", "\x00", "\x1b"])
@pytest.mark.parametrize(("name", "call"), ID_CALLS)
async def test_ids_with_a_control_character_are_refused_before_a_request(
    name: str, call: Callable[[WebChatApi, str], Any], control: str
) -> None:
    async with WebChatApi(
        base_url=NOWHERE, guest_token=JWT, access_token=ACCESS_TOKEN, max_retries=0
    ) as api:
        await refused_async(lambda: call(api, f"id-1{control}X-Injected: 1"), name)


async def test_an_id_error_names_the_character_and_its_place() -> None:
    async with WebChatApi(base_url=NOWHERE, guest_token=JWT) as api:
        with pytest.raises(InvalidValueError) as caught:
            await api.get_webchat_guest_conversation_member("c-1\r\nX: y", "m")
    assert str(caught.value) == "conversation_id contains a control character (U+000D at index 3)"


@pytest.mark.parametrize("field", ["organization_id", "deployment_id", "base_url"])
def test_guest_session_start_refuses_at_the_call(field: str) -> None:
    arguments: dict[str, Any] = {
        "organization_id": "o-1",
        "deployment_id": "d-1",
        "base_url": NOWHERE,
    }
    arguments[field] += INJECTED
    refused(
        lambda: GuestSession.start(member_info=GuestMemberInfo(display_name="Ann"), **arguments),
        field,
    )


# -- saved sessions -------------------------------------------------------------------------

SAVED: dict[str, Any] = {
    "conversationId": "c-1",
    "memberId": "m-1",
    "jwt": JWT,
    "eventStreamUri": STREAM_URI,
    "lastMessageId": "msg-1",
    "baseUrl": "https://api.mypurecloud.com",
    "lastMessageTimestamp": "2024-01-02T03:04:05.678Z",
    "idsAtTimestamp": ["msg-1"],
}
SAVED_FIELDS = {
    "conversationId": "conversation_id",
    "memberId": "member_id",
    "jwt": "jwt",
    "eventStreamUri": "event_stream_uri",
    "lastMessageId": "last_message_id",
    "baseUrl": "base_url",
    "idsAtTimestamp": "ids_at_timestamp",
}


def test_a_clean_saved_session_loads() -> None:
    assert SavedSession.from_json(json.dumps(SAVED)).jwt == JWT


@pytest.mark.parametrize(("key", "name"), SAVED_FIELDS.items())
def test_a_saved_session_with_a_control_character_does_not_load(key: str, name: str) -> None:
    data = dict(SAVED)
    data[key] = [f"msg-1{INJECTED}"] if key == "idsAtTimestamp" else data[key] + INJECTED
    refused(lambda: SavedSession.from_json(json.dumps(data)), name, secret=JWT)
    # Built directly (a store of the user's own) it is refused too.
    fields = SavedSession.from_json(json.dumps(SAVED))
    kwargs = {f: getattr(fields, f) for f in SAVED_FIELDS.values()}
    kwargs[name] = (f"msg-1{INJECTED}",) if key == "idsAtTimestamp" else kwargs[name] + INJECTED
    refused(lambda: SavedSession(**kwargs), name, secret=JWT)


@respx.mock(base_url=NOWHERE)
async def test_a_create_answer_whose_jwt_holds_a_newline_ends_the_start_cleanly(
    respx_mock: respx.MockRouter,
) -> None:
    respx_mock.post("/api/v2/webchat/guest/conversations").respond(
        200,
        json={
            "id": "c-1",
            "jwt": JWT + INJECTED,
            "eventStreamUri": "ws://127.0.0.1:9/chat/jwt/x",
            "member": {"id": "m-1"},
        },
    )
    starter = GuestSession.start(
        organization_id="o-1",
        deployment_id="d-1",
        member_info=GuestMemberInfo(display_name="Ann"),
        base_url=NOWHERE,
    )
    with pytest.raises(WebChatError, match="create-conversation response: jwt contains") as caught:
        await starter
    assert JWT not in str(caught.value)


# -- lone surrogates: the other string no request can carry ---------------------------------


def _not_unicode(call: Callable[[], object], name: str) -> None:
    with pytest.raises(InvalidValueError) as caught:
        call()
    assert caught.value.name == name
    assert str(caught.value) == f"{name} is not valid unicode (it holds a lone surrogate)"


async def test_a_cursor_with_a_lone_surrogate_is_refused_before_a_request() -> None:
    # Before, the query's encoding raised UnicodeEncodeError from deep inside the request.
    async with WebChatApi(base_url=NOWHERE, guest_token=JWT, max_retries=0) as api:
        for query in ("after", "before"):
            with pytest.raises(InvalidValueError) as caught:
                await api.get_webchat_guest_conversation_messages("c-1", **{query: "m-\ud800"})
            assert caught.value.name == query


@pytest.mark.parametrize(("key", "name"), SAVED_FIELDS.items())
def test_a_saved_session_with_a_lone_surrogate_does_not_load(key: str, name: str) -> None:
    if key == "jwt":
        return  # a token is printable ASCII: refused by that rule (above)
    data = dict(SAVED)
    data[key] = ["msg-\ud800"] if key == "idsAtTimestamp" else data[key] + "\ud800"
    # As a store gives it back: JSON text holding the escape (json.dumps writes one).
    _not_unicode(lambda: SavedSession.from_json(json.dumps(data)), name)

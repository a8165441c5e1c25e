"""Error mapping (status -> exception, fields), decode errors, transport errors, closing."""

from __future__ import annotations

import httpx
import pytest
import respx
from core_support import BASE, CONVERSATIONS, JWT, MESSAGE, example, make_api

from webchat_async import models
from webchat_async.errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SessionClosedError,
)

MESSAGES = f"{CONVERSATIONS}/c-1/messages"


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (409, ConflictError),
        (413, ApiError),
        (429, RateLimitError),
        (500, ServerError),
        (503, ServerError),
        (504, ServerError),
        (418, ApiError),
    ],
)
async def test_status_maps_to_error_class_with_all_fields(status: int, cls: type) -> None:
    body = example(models.ErrorBody) | {"status": status}
    async with make_api(guest_token=JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).respond(
                status, json=body, headers={"inin-correlation-id": "corr-42"}
            )
            with pytest.raises(ApiError) as info:
                await api.get_webchat_guest_conversation_messages("c-1", max_results=5, after="x")
    exc = info.value
    assert type(exc) is cls
    assert exc.status == status
    assert exc.code == "invalid.value"
    assert exc.message == "The body is too long"
    assert exc.context_id == "ctx-123"
    assert exc.request_id == "corr-42"
    assert exc.method == "GET"
    assert exc.path == MESSAGES  # no query string
    assert exc.body is not None
    assert exc.body.details is not None and exc.body.details[0].field_name == "body"
    assert exc.body.limit is not None and exc.body.limit.value == 300
    text = str(exc)
    assert f"GET {MESSAGES}: {status} invalid.value: The body is too long" in text
    assert "ctx-123" in text
    assert "maxResults" not in text


async def test_conversation_state_error() -> None:
    body = {"status": 400, "code": "chat.error.conversation.state", "message": "Chat ended"}
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            router.post(f"{CONVERSATIONS}/c-1/members/m-1/messages").respond(400, json=body)
            with pytest.raises(BadRequestError) as info:
                await api.post_webchat_guest_conversation_member_messages(
                    "c-1", "m-1", models.CreateWebChatMessageRequest(body="hi")
                )
    assert info.value.code == "chat.error.conversation.state"


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html><body>502 Bad Gateway nginx</body></html>", "text/html"),
        (b"", "text/plain"),
        (b"[1, 2]", "application/json"),
        (b'{"message": {"nested": true}, "code": 5}', "application/json"),
        (b"{truncated", "application/json"),
    ],
    ids=["html", "empty", "json-list", "wrong-types", "broken-json"],
)
async def test_non_error_body_gives_a_clean_api_error(content: bytes, content_type: str) -> None:
    async with make_api(guest_token=JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).respond(502, content=content, content_type=content_type)
            with pytest.raises(ServerError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    exc = info.value
    assert exc.status == 502
    assert exc.body is None
    assert exc.code is None
    assert exc.message == "HTTP 502 Bad Gateway"
    assert "html" not in str(exc) and "nginx" not in str(exc)


async def test_server_message_is_redacted() -> None:
    body = {
        "status": 400,
        "code": "bad.request",
        "message": f"Invalid token {JWT} for stream wss://s.example/chat/jwt/{JWT}",
        "messageWithParams": f"Invalid token {JWT}",
        "messageParams": {"token": JWT},
        "errors": [{"message": f"Authorization: Bearer {JWT}"}],
    }
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).respond(400, json=body)
            with pytest.raises(BadRequestError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    exc = info.value
    assert JWT not in str(exc)
    assert JWT not in repr(exc)
    assert JWT not in exc.message
    assert exc.body is not None
    assert JWT not in repr(exc.body)


@pytest.mark.parametrize(
    ("error", "cls"),
    [
        (httpx.ConnectError("[Errno 111] Connection refused"), ApiConnectionError),
        (httpx.ReadTimeout("timed out"), ApiTimeoutError),
        (httpx.RemoteProtocolError("peer closed"), ApiConnectionError),
    ],
)
async def test_transport_errors(error: Exception, cls: type) -> None:
    async with make_api(guest_token=JWT, max_retries=0) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).mock(side_effect=error)
            with pytest.raises(ApiConnectionError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    assert type(info.value) is cls
    assert f"GET {MESSAGES}" in str(info.value)
    assert info.value.__cause__ is error


@pytest.mark.parametrize(
    "content",
    [b"", b"not json", b"[]", b'"a string"', b'{"entities": "nope"}', b'{"pageSize": "x"}'],
    ids=["empty", "text", "list", "string", "entities-wrong", "pagesize-wrong"],
)
async def test_malformed_success_bodies_raise_decode_error(content: bytes) -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(MESSAGES).respond(200, content=content)
            with pytest.raises(DecodeError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    assert f"GET {MESSAGES}" in str(info.value)


async def test_decode_error_does_not_leak_the_jwt() -> None:
    async with make_api() as api:
        with respx.mock(base_url=BASE) as router:
            router.post(CONVERSATIONS).respond(200, json={"id": "c", "jwt": {"value": JWT}})
            with pytest.raises(DecodeError) as info:
                await api.post_webchat_guest_conversations(
                    models.CreateWebChatConversationRequest(deployment_id="d")
                )
    assert JWT not in str(info.value)


async def test_redirects_are_not_followed() -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            router.get(MESSAGES).respond(302, headers={"Location": "https://evil.example/x"})
            evil = router.get("https://evil.example/x").respond(200, json={})
            with pytest.raises(ApiError) as info:
                await api.get_webchat_guest_conversation_messages("c-1")
    assert info.value.status == 302
    assert evil.call_count == 0


# -- closing -------------------------------------------------------------------------------


async def test_calls_after_aclose_raise_session_closed() -> None:
    api = make_api(guest_token=JWT)
    await api.aclose()
    assert api.is_closed
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        route = router.route().respond(200, json=MESSAGE)
        with pytest.raises(SessionClosedError):
            await api.get_webchat_guest_conversation_message("c-1", "m-1")
        with pytest.raises(SessionClosedError):
            async with api:
                pass
    assert route.call_count == 0


async def test_closing_a_derived_client_keeps_the_shared_pool() -> None:
    async with make_api() as api:
        guest = api.with_options(guest_token=JWT)
        await guest.aclose()
        assert guest.is_closed and not api.is_closed
        with respx.mock(base_url=BASE) as router:
            router.post(CONVERSATIONS).respond(200, json={"id": "c-1"})
            created = await api.post_webchat_guest_conversations(
                models.CreateWebChatConversationRequest(deployment_id="d")
            )
    assert created.id == "c-1"
    assert api.is_closed and guest.is_closed


async def test_closing_the_owner_closes_the_pool_for_derived_clients() -> None:
    api = make_api()
    guest = api.with_options(guest_token=JWT)
    await api.aclose()
    with pytest.raises(SessionClosedError):
        await guest.get_webchat_guest_conversation_message("c-1", "m-1")


async def test_injected_http_client_is_not_closed() -> None:
    async with httpx.AsyncClient() as client:
        async with make_api(http_client=client, guest_token=JWT) as api:
            with respx.mock(base_url=BASE) as router:
                route = router.get(f"{MESSAGES}/m-1").respond(200, json=MESSAGE)
                await api.get_webchat_guest_conversation_message("c-1", "m-1")
        assert not client.is_closed
        assert route.calls.last.request.headers["accept"] == "application/json"


def test_injected_http_client_must_be_an_async_client() -> None:
    with httpx.Client() as client, pytest.raises(TypeError):
        make_api(http_client=client)

"""Logging: useful lines (method, path, status, duration, retries) and never a secret."""

from __future__ import annotations

import logging

import httpx
import pytest
import respx
from core_support import (
    ACCESS_TOKEN,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    CONVERSATIONS,
    CREATED,
    JWT,
    LOGIN,
    MESSAGE,
    SECRETS,
    make_api,
)

from webchat_async import models
from webchat_async.auth import ClientCredentials
from webchat_async.errors import ApiConnectionError, BadRequestError

MEMBER_MESSAGES = f"{CONVERSATIONS}/c-1/members/m-guest-1/messages"


def assert_clean(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"secret leaked into: {text[:200]}"


async def test_no_secret_in_logs_reprs_or_errors(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, httpx's, everything
    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    errors: list[BaseException] = []
    async with make_api(credentials=credentials) as api:
        with respx.mock(assert_all_called=False) as router:
            router.post(f"{LOGIN}/oauth/token").mock(
                side_effect=[
                    httpx.Response(
                        200, json={"access_token": "stale-" + ACCESS_TOKEN, "expires_in": 3600}
                    ),
                    httpx.Response(200, json={"access_token": ACCESS_TOKEN, "expires_in": 3600}),
                ]
            )
            router.get(f"{BASE}/api/v2/webchat/settings").mock(
                side_effect=[httpx.Response(401), httpx.Response(200, json={})]
            )
            router.post(f"{BASE}{CONVERSATIONS}").respond(200, json=CREATED)
            router.post(f"{BASE}{MEMBER_MESSAGES}").mock(
                side_effect=[
                    # 429: refused before processing, so a POST may go again (a 503 may
                    # come after the message was stored: not retried).
                    httpx.Response(429, headers={"Retry-After": "1"}),
                    httpx.Response(200, json=MESSAGE),
                    httpx.Response(
                        400,
                        json={"code": "bad.request", "message": f"bad jwt {JWT} at {CREATED}"},
                    ),
                ]
            )
            router.get(f"{BASE}{CONVERSATIONS}/c-1/messages").mock(
                side_effect=httpx.ConnectError(f"failed for Bearer {JWT}")
            )

            await api.get_webchat_settings()  # token, 401, refresh, retry
            created = await api.post_webchat_guest_conversations(
                models.CreateWebChatConversationRequest(deployment_id="dep-1")
            )
            guest = api.with_options(guest_token=created.jwt)
            body = models.CreateWebChatMessageRequest(body="hi")
            await guest.post_webchat_guest_conversation_member_messages("c-1", "m-guest-1", body)
            try:
                await guest.post_webchat_guest_conversation_member_messages(
                    "c-1", "m-guest-1", body
                )
            except BadRequestError as exc:
                errors.append(exc)
            try:
                await guest.get_webchat_guest_conversation_messages("c-1")
            except ApiConnectionError as exc:
                errors.append(exc)
            reprs = [
                repr(api),
                repr(guest),
                repr(created),
                repr(credentials),
                repr(api._admin_auth),
            ]

    assert len(errors) == 2
    assert_clean(*reprs)
    for exc in errors:
        # Our text is redacted even when the transport's message is not; the httpx
        # exception stays chained as __cause__ for debugging (real ones carry no headers).
        assert_clean(str(exc), repr(exc), repr(getattr(exc, "body", None)), *map(str, exc.args))
    records = caplog.records
    assert records, "nothing was logged"
    for record in records:
        assert_clean(record.getMessage(), str(record.args))

    ours = [r.getMessage() for r in records if r.name.startswith("webchat_async")]
    # The lines are there and useful: method, path, status, duration, attempt, retries.
    assert any(
        m.startswith(f"POST {MEMBER_MESSAGES} -> 429; retry 1 of 3 in 1.00 s") for m in ours
    ), ours
    assert any(m.startswith(f"POST {MEMBER_MESSAGES} -> 200 (") and "attempt 2" in m for m in ours)
    assert any(m.startswith("GET /api/v2/webchat/settings -> 401; retrying") for m in ours)
    assert any(m.startswith(f"POST {MEMBER_MESSAGES} -> 400") for m in ours)
    assert any("ConnectError" in m for m in ours)
    assert any(m.startswith("POST /oauth/token -> 200") for m in ours)


async def test_logging_disabled_costs_no_formatting(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="webchat_async")
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(f"{CONVERSATIONS}/c-1/messages/msg-1").respond(200, json=MESSAGE)
            await api.get_webchat_guest_conversation_message("c-1", "msg-1")
    assert not [r for r in caplog.records if r.name.startswith("webchat_async")]

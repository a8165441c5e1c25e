"""``with_options``: derived clients share the pool and the OAuth token, change what is asked."""

from __future__ import annotations

import httpx
import pytest
import respx
from core_support import (
    ACCESS_TOKEN,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    CONVERSATIONS,
    JWT,
    LOGIN,
    MESSAGE,
    SleepRecorder,
    make_api,
)

from webchat_async.auth import ClientCredentials
from webchat_async.errors import ServerError

MESSAGE_PATH = f"{CONVERSATIONS}/c-1/messages/msg-1"


async def test_derived_client_shares_pool_and_token() -> None:
    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    async with make_api(credentials=credentials) as api:
        guest = api.with_options(guest_token=JWT)
        assert guest._http._client is api._http._client
        assert guest.base_url == api.base_url and guest.login_url == api.login_url
        with respx.mock() as router:
            tokens = router.post(f"{LOGIN}/oauth/token").respond(
                200, json={"access_token": ACCESS_TOKEN, "expires_in": 3600}
            )
            settings = router.get(f"{BASE}/api/v2/webchat/settings").respond(200, json={})
            message = router.get(f"{BASE}{MESSAGE_PATH}").respond(200, json=MESSAGE)
            await api.get_webchat_settings()
            await guest.get_webchat_settings()
            await guest.get_webchat_guest_conversation_message("c-1", "msg-1")
    assert tokens.call_count == 1
    assert [c.request.headers["authorization"] for c in settings.calls] == [
        f"Bearer {ACCESS_TOKEN}"
    ] * 2
    assert message.calls.last.request.headers["authorization"] == f"Bearer {JWT}"


async def test_options_can_be_replaced_or_removed() -> None:
    async with make_api(guest_token=JWT, access_token=ACCESS_TOKEN) as api:
        other = api.with_options(guest_token="eyJ0.eyJ1.c2ln", access_token=None)
        with pytest.raises(ValueError, match="OAuth"):
            await other.get_webchat_settings()
        no_guest = api.with_options(guest_token=None)
        with pytest.raises(ValueError, match="guest"):
            await no_guest.get_webchat_guest_conversation_message("c-1", "msg-1")
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGE_PATH).respond(200, json=MESSAGE)
            await other.get_webchat_guest_conversation_message("c-1", "msg-1")
        assert route.calls.last.request.headers["authorization"] == "Bearer eyJ0.eyJ1.c2ln"
        assert "eyJ0.eyJ1.c2ln" not in repr(other)


async def test_retry_options_can_change_per_derived_client() -> None:
    sleeps = SleepRecorder()
    async with make_api(sleeps, guest_token=JWT) as api:
        once = api.with_options(max_retries=0)
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGE_PATH).mock(
                side_effect=[httpx.Response(503)] * 2 + [httpx.Response(200, json=MESSAGE)]
            )
            with pytest.raises(ServerError):
                await once.get_webchat_guest_conversation_message("c-1", "msg-1")
            assert route.call_count == 1
            await api.get_webchat_guest_conversation_message("c-1", "msg-1")
            assert route.call_count == 3
    assert sleeps.delays == [0.0]


async def test_timeout_per_derived_client() -> None:
    async with make_api(guest_token=JWT) as api:
        quick = api.with_options(timeout=2.0)
        with respx.mock(base_url=BASE) as router:
            route = router.get(MESSAGE_PATH).respond(200, json=MESSAGE)
            await quick.get_webchat_guest_conversation_message("c-1", "msg-1")
            await api.get_webchat_guest_conversation_message("c-1", "msg-1")
    timeouts = [c.request.extensions["timeout"] for c in route.calls]
    assert timeouts[0] == httpx.Timeout(2.0).as_dict()
    assert timeouts[1] == {"connect": 5.0, "read": 30.0, "write": 30.0, "pool": 10.0}


async def test_injected_client_keeps_its_own_timeout() -> None:
    async with httpx.AsyncClient(timeout=httpx.Timeout(7.0)) as client:
        async with make_api(http_client=client, guest_token=JWT) as api:
            with respx.mock(base_url=BASE) as router:
                route = router.get(MESSAGE_PATH).respond(200, json=MESSAGE)
                await api.get_webchat_guest_conversation_message("c-1", "msg-1")
    assert route.calls.last.request.extensions["timeout"] == httpx.Timeout(7.0).as_dict()


async def test_with_options_keeps_an_injected_clients_unbounded_timeout() -> None:
    import httpx

    from webchat_async import WebChatApi

    async with httpx.AsyncClient(timeout=None) as client:
        api = WebChatApi(base_url="http://127.0.0.1:9", http_client=client)
        guest = api.with_options(guest_token="eyJ.e30.sig")
        assert guest._http.timeout == client.timeout
        timed = api.with_options(timeout=2.0)
        assert timed._http.timeout.read == 2.0

"""OAuth client credentials: the token request, caching, refresh, 401 handling, one shared fetch."""

from __future__ import annotations

import asyncio
import base64
import urllib.parse
from typing import Any

import httpx
import pytest
import respx
from core_support import (
    ACCESS_TOKEN,
    BASE,
    CLIENT_ID,
    CLIENT_SECRET,
    DEPLOYMENT_LIST,
    LOGIN,
    SleepRecorder,
    make_api,
    zero_retry,
)

from webchat_async._http import HttpClient
from webchat_async.auth import AccessToken, BearerAuth, ClientCredentials, ClientCredentialsAuth
from webchat_async.errors import AuthenticationError, DecodeError

TOKEN_URL = f"{LOGIN}/oauth/token"
DEPLOYMENTS = "/api/v2/webchat/deployments"
CREDENTIALS = ClientCredentials(CLIENT_ID, CLIENT_SECRET)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def token_reply(value: str, expires_in: Any = 3600) -> httpx.Response:
    body = {"access_token": value, "token_type": "bearer", "expires_in": expires_in}
    return httpx.Response(200, json=body)


def make_auth(clock: Clock, **kwargs: Any) -> tuple[ClientCredentialsAuth, HttpClient]:
    http = HttpClient(retry=zero_retry(SleepRecorder()))
    return ClientCredentialsAuth(
        CREDENTIALS, token_url=TOKEN_URL, http=http, clock=clock, **kwargs
    ), http


def test_client_credentials_repr_masks_the_secret() -> None:
    assert repr(CREDENTIALS) == f"ClientCredentials(client_id={CLIENT_ID!r}, client_secret='***')"
    assert CLIENT_SECRET not in repr(CREDENTIALS)
    assert CLIENT_SECRET not in str(CREDENTIALS)


@pytest.mark.parametrize(("client_id", "secret"), [("", "s"), ("id", ""), ("id", None)])
def test_client_credentials_must_be_non_empty(client_id: str, secret: Any) -> None:
    with pytest.raises(ValueError):
        ClientCredentials(client_id, secret)


def test_token_objects_mask_their_value() -> None:
    assert ACCESS_TOKEN not in repr(AccessToken(ACCESS_TOKEN, 5.0))
    assert ACCESS_TOKEN not in repr(BearerAuth(ACCESS_TOKEN))
    auth, _ = make_auth(Clock())
    assert CLIENT_SECRET not in repr(auth)


async def test_token_request_is_a_client_credentials_grant() -> None:
    auth, http = make_auth(Clock())
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(return_value=token_reply(ACCESS_TOKEN))
        assert await auth.authorization() == f"Bearer {ACCESS_TOKEN}"
    await http.aclose()
    request = route.calls.last.request
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert urllib.parse.parse_qs(request.content.decode()) == {"grant_type": ["client_credentials"]}
    basic = base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
    assert request.headers["authorization"] == f"Basic {basic}"


async def test_token_is_reused_before_expiry_and_refreshed_after() -> None:
    clock = Clock(1000.0)
    auth, http = make_auth(clock, refresh_margin=60.0)
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            side_effect=[token_reply("token-1", 3600), token_reply("token-2", 3600)]
        )
        assert await auth.authorization() == "Bearer token-1"
        clock.now = 1000.0 + 3600 - 61  # still more than the margin before expiry
        assert await auth.authorization() == "Bearer token-1"
        assert route.call_count == 1
        clock.now = 1000.0 + 3600 - 60  # within the margin: replaced
        assert await auth.authorization() == "Bearer token-2"
        assert route.call_count == 2
        assert await auth.authorization() == "Bearer token-2"
        assert route.call_count == 2
    await http.aclose()


async def test_short_lived_token_margin_is_at_most_half_its_life() -> None:
    clock = Clock(0.0)
    auth, http = make_auth(clock, refresh_margin=60.0)
    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(
            side_effect=[token_reply("short", 10), token_reply("next", 10)]
        )
        await auth.authorization()
        clock.now = 4.9
        assert await auth.authorization() == "Bearer short"
        clock.now = 5.0
        assert await auth.authorization() == "Bearer next"
        assert route.call_count == 2
    await http.aclose()


async def test_token_without_expiry_is_kept() -> None:
    clock = Clock(0.0)
    auth, http = make_auth(clock)
    with respx.mock() as router:
        router.post(TOKEN_URL).respond(200, json={"access_token": "forever"})
        await auth.authorization()
        clock.now = 1e9
        assert await auth.authorization() == "Bearer forever"
    await http.aclose()


async def test_concurrent_callers_share_one_refresh() -> None:
    clock = Clock(0.0)
    auth, http = make_auth(clock)
    gate = asyncio.Event()
    callers = 10
    checked: set[asyncio.Task[Any] | None] = set()
    all_checked = asyncio.Event()

    def counting_clock() -> float:
        checked.add(asyncio.current_task())
        if len(checked) >= callers:
            all_checked.set()
        return clock.now

    async def slow_token(request: httpx.Request) -> httpx.Response:
        await gate.wait()
        return token_reply("fresh", 3600)

    with respx.mock() as router:
        route = router.post(TOKEN_URL).mock(side_effect=[token_reply("old", 100)])
        await auth.authorization()  # a token that will be expired below
        route.mock(side_effect=slow_token)
        auth._clock = counting_clock
        clock.now = 10_000.0
        checked.clear()
        tasks = [asyncio.create_task(auth.authorization()) for _ in range(callers)]
        # Every caller has seen the expired token before the one refresh completes.
        await asyncio.wait_for(all_checked.wait(), 5)
        gate.set()
        results = await asyncio.wait_for(asyncio.gather(*tasks), 5)
    await http.aclose()
    assert results == ["Bearer fresh"] * callers
    assert route.call_count == 2  # the first token, then one shared refresh


async def test_401_refreshes_once_and_retries_once() -> None:
    credentials = ClientCredentials(CLIENT_ID, CLIENT_SECRET)
    async with make_api(credentials=credentials) as api:
        with respx.mock() as router:
            tokens = router.post(TOKEN_URL).mock(
                side_effect=[token_reply("token-1"), token_reply("token-2")]
            )
            calls = router.get(f"{BASE}{DEPLOYMENTS}").mock(
                side_effect=[httpx.Response(401), httpx.Response(200, json=DEPLOYMENT_LIST)]
            )
            listing = await api.get_webchat_deployments()
    assert listing.total == 1
    assert tokens.call_count == 2
    assert [c.request.headers["authorization"] for c in calls.calls] == [
        "Bearer token-1",
        "Bearer token-2",
    ]


async def test_second_401_raises_authentication_error() -> None:
    async with make_api(credentials=CREDENTIALS) as api:
        with respx.mock() as router:
            tokens = router.post(TOKEN_URL).mock(
                side_effect=[token_reply("token-1"), token_reply("token-2"), token_reply("x")]
            )
            calls = router.get(f"{BASE}{DEPLOYMENTS}").mock(
                return_value=httpx.Response(401, json={"code": "bad.credentials", "status": 401})
            )
            with pytest.raises(AuthenticationError) as info:
                await api.get_webchat_deployments()
    assert info.value.code == "bad.credentials"
    assert tokens.call_count == 2
    assert calls.call_count == 2


async def test_static_access_token_401_is_final() -> None:
    async with make_api(access_token=ACCESS_TOKEN) as api:
        with respx.mock(base_url=BASE) as router:
            calls = router.get(DEPLOYMENTS).respond(401)
            with pytest.raises(AuthenticationError):
                await api.get_webchat_deployments()
    assert calls.call_count == 1


async def test_token_is_fetched_from_the_login_host_of_the_region() -> None:
    async with make_api(region="eu-west-1", credentials=CREDENTIALS) as api:
        with respx.mock() as router:
            tokens = router.post("https://login.mypurecloud.ie/oauth/token").mock(
                return_value=token_reply(ACCESS_TOKEN)
            )
            router.get("https://api.mypurecloud.ie/api/v2/webchat/settings").respond(
                200, json={"requireDeployment": False}
            )
            await api.get_webchat_settings()
    assert tokens.call_count == 1


async def test_simulator_base_url_serves_the_token_too() -> None:
    base = "http://127.0.0.1:9999"
    async with make_api(base_url=base, credentials=CREDENTIALS) as api:
        assert api.login_url == base
        with respx.mock() as router:
            tokens = router.post(f"{base}/oauth/token").mock(return_value=token_reply("t"))
            router.get(f"{base}/api/v2/webchat/settings").respond(200, json={})
            await api.get_webchat_settings()
    assert tokens.call_count == 1


async def test_bad_client_credentials_raise_authentication_error_without_secrets() -> None:
    async with make_api(credentials=CREDENTIALS) as api:
        with respx.mock() as router:
            router.post(TOKEN_URL).respond(
                401, json={"error": "invalid_client", "error_description": "Bad client"}
            )
            with pytest.raises(AuthenticationError) as info:
                await api.get_webchat_settings()
    assert info.value.code == "invalid_client"
    assert info.value.message == "Bad client"
    assert CLIENT_SECRET not in str(info.value)


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1]",
        b'{"token_type": "bearer"}',
        b'{"access_token": "", "expires_in": 5}',
        b'{"access_token": "secret-ish", "token_type": "mac"}',
        b'{"access_token": "secret-ish", "expires_in": "soon"}',
        b'{"access_token": "secret-ish", "expires_in": -1}',
    ],
)
async def test_malformed_token_responses_raise_decode_error(body: bytes) -> None:
    auth, http = make_auth(Clock())
    with respx.mock() as router:
        router.post(TOKEN_URL).respond(200, content=body)
        with pytest.raises(DecodeError) as info:
            await auth.authorization()
    await http.aclose()
    assert "secret-ish" not in str(info.value)


async def test_credentials_and_access_token_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        make_api(credentials=CREDENTIALS, access_token=ACCESS_TOKEN)

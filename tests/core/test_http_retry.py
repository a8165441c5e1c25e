"""The retry policy: what is retried for which method, how long it waits, when it stops."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import respx
from core_support import (
    ACCESS_TOKEN,
    BASE,
    CONVERSATIONS,
    DEPLOYMENT,
    JWT,
    MEDIA_REQUEST,
    MESSAGE,
    SleepRecorder,
    make_api,
)

from webchat_async import models
from webchat_async._http import Retry, parse_retry_after
from webchat_async.api import WebChatApi
from webchat_async.errors import (
    ApiConnectionError,
    ApiTimeoutError,
    AuthenticationError,
    RateLimitError,
    ServerError,
)

POST_MESSAGE = f"{CONVERSATIONS}/c-1/members/m-1/messages"
GET_MESSAGE = f"{CONVERSATIONS}/c-1/messages/msg-1"


def send(api: WebChatApi) -> Awaitable[Any]:
    body = models.CreateWebChatMessageRequest(body="only once, please")
    return api.post_webchat_guest_conversation_member_messages("c-1", "m-1", body)


def get(api: WebChatApi) -> Awaitable[Any]:
    return api.get_webchat_guest_conversation_message("c-1", "msg-1")


OK = httpx.Response(200, json=MESSAGE)


async def run(
    path: str,
    method: str,
    call: Callable[[WebChatApi], Awaitable[Any]],
    side_effect: list[Any],
    **api_kwargs: Any,
) -> tuple[respx.Route, SleepRecorder, Any]:
    """Run ``call`` against ``side_effect``; return the route, the sleeps and the outcome."""
    sleeps = SleepRecorder()
    api_kwargs.setdefault("guest_token", JWT)
    async with make_api(sleeps, **api_kwargs) as api:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            route = router.request(method, path).mock(side_effect=side_effect)
            try:
                outcome: Any = await call(api)
            except Exception as exc:
                outcome = exc
    return route, sleeps, outcome


# -- POST: retried only when the request certainly did not take effect --------------------


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(429),
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("connect timed out"),
        httpx.PoolTimeout("no connection free"),
    ],
    ids=["429", "ConnectError", "ConnectTimeout", "PoolTimeout"],
)
async def test_post_is_retried_when_not_processed(first: Any) -> None:
    route, sleeps, outcome = await run(POST_MESSAGE, "POST", send, [first, OK])
    assert isinstance(outcome, models.WebChatMessage), outcome
    assert route.call_count == 2
    assert sleeps.delays == [0.0]
    # The retry sends the very same body.
    assert route.calls[0].request.content == route.calls[1].request.content


@pytest.mark.parametrize(
    ("first", "error"),
    [
        (httpx.Response(502), ServerError),
        # A gateway 503 may come after the message was stored (docs/protocol.md).
        (httpx.Response(503), ServerError),
        (httpx.Response(504), ServerError),
        (httpx.ReadTimeout("read timed out"), ApiTimeoutError),
        (httpx.WriteTimeout("write timed out"), ApiTimeoutError),
        (httpx.ReadError("connection reset"), ApiConnectionError),
        (httpx.RemoteProtocolError("server disconnected"), ApiConnectionError),
    ],
    ids=["502", "503", "504", "ReadTimeout", "WriteTimeout", "ReadError", "RemoteProtocolError"],
)
async def test_post_is_not_retried_when_it_may_have_taken_effect(
    first: Any, error: type[Exception]
) -> None:
    route, sleeps, outcome = await run(POST_MESSAGE, "POST", send, [first, OK])
    assert isinstance(outcome, error)
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_typing_and_create_posts_follow_the_same_rule() -> None:
    typing_path = f"{CONVERSATIONS}/c-1/members/m-1/typing"
    route, _, outcome = await run(
        typing_path,
        "POST",
        lambda api: api.post_webchat_guest_conversation_member_typing("c-1", "m-1"),
        [httpx.Response(504), httpx.Response(200, json={"id": "t"})],
    )
    assert isinstance(outcome, ServerError) and route.call_count == 1
    route, _, outcome = await run(
        CONVERSATIONS,
        "POST",
        lambda api: api.post_webchat_guest_conversations(
            models.CreateWebChatConversationRequest(deployment_id="d")
        ),
        [httpx.Response(429), httpx.Response(200, json={"id": "c-1"})],
    )
    assert isinstance(outcome, models.CreateWebChatConversationResponse)
    assert route.call_count == 2
    route, _, outcome = await run(
        CONVERSATIONS,
        "POST",
        lambda api: api.post_webchat_guest_conversations(
            models.CreateWebChatConversationRequest(deployment_id="d")
        ),
        [httpx.Response(503), httpx.Response(200, json={"id": "c-1"})],
    )
    assert isinstance(outcome, ServerError) and route.call_count == 1


# -- idempotent methods: retried on every transient failure -------------------------------


@pytest.mark.parametrize(
    "first",
    [
        httpx.Response(429),
        httpx.Response(502),
        httpx.Response(503),
        httpx.Response(504),
        httpx.ConnectError("refused"),
        httpx.ReadTimeout("read timed out"),
        httpx.ReadError("reset"),
        httpx.RemoteProtocolError("server disconnected"),
    ],
    ids=["429", "502", "503", "504", "ConnectError", "ReadTimeout", "ReadError", "Protocol"],
)
async def test_get_is_retried(first: Any) -> None:
    route, sleeps, outcome = await run(GET_MESSAGE, "GET", get, [first, OK])
    assert isinstance(outcome, models.WebChatMessage)
    assert route.call_count == 2
    assert len(sleeps.delays) == 1


async def test_put_is_retried_on_502_504_and_read_errors() -> None:
    side_effect = [
        httpx.Response(502),
        httpx.Response(504),
        httpx.ReadTimeout("slow"),
        httpx.Response(200, json=DEPLOYMENT),
    ]
    route, sleeps, outcome = await run(
        "/api/v2/webchat/deployments/dep-1",
        "PUT",
        lambda api: api.put_webchat_deployment("dep-1", models.WebChatDeployment(name="x")),
        side_effect,
        access_token=ACCESS_TOKEN,
    )
    assert not isinstance(outcome, Exception), outcome
    assert route.call_count == 4
    assert len(sleeps.delays) == 3


DELETE_AND_PATCH = pytest.mark.parametrize(
    ("method", "path", "call", "reply"),
    [
        (
            "DELETE",
            "/api/v2/webchat/settings",
            lambda api: api.delete_webchat_settings(),
            httpx.Response(204),
        ),
        (
            "PATCH",
            f"{CONVERSATIONS}/c-1/mediarequests/mr-1",
            lambda api: api.patch_webchat_guest_conversation_mediarequest(
                "c-1", "mr-1", models.WebChatGuestMediaRequest(state="DECLINED")
            ),
            httpx.Response(200, json=MEDIA_REQUEST),
        ),
    ],
    ids=["DELETE", "PATCH"],
)


@DELETE_AND_PATCH
@pytest.mark.parametrize(
    "failure",
    [httpx.Response(502), httpx.Response(504), httpx.ReadTimeout("slow")],
    ids=["502", "504", "ReadTimeout"],
)
async def test_delete_and_patch_are_not_retried_when_they_may_have_taken_effect(
    method: str,
    path: str,
    call: Callable[[WebChatApi], Awaitable[Any]],
    reply: httpx.Response,
    failure: Any,
) -> None:
    # A second DELETE answers 404 and a second PATCH of a media request 409: retrying a
    # success nobody saw would report a failure.
    route, sleeps, outcome = await run(
        path, method, call, [failure, reply], access_token=ACCESS_TOKEN
    )
    assert isinstance(outcome, Exception)
    assert route.call_count == 1
    assert sleeps.delays == []


@DELETE_AND_PATCH
@pytest.mark.parametrize(
    "failure",
    [httpx.Response(429), httpx.Response(503), httpx.ConnectError("refused")],
    ids=["429", "503", "ConnectError"],
)
async def test_delete_and_patch_are_retried_when_nothing_happened(
    method: str,
    path: str,
    call: Callable[[WebChatApi], Awaitable[Any]],
    reply: httpx.Response,
    failure: Any,
) -> None:
    route, sleeps, outcome = await run(
        path, method, call, [failure, reply], access_token=ACCESS_TOKEN
    )
    assert not isinstance(outcome, Exception), outcome
    assert route.call_count == 2
    assert len(sleeps.delays) == 1


# -- limits and schedule ---------------------------------------------------------------------


async def test_retries_stop_after_max_retries() -> None:
    route, sleeps, outcome = await run(GET_MESSAGE, "GET", get, [httpx.Response(503)] * 10)
    assert isinstance(outcome, ServerError)
    assert outcome.status == 503
    assert route.call_count == 4  # the first attempt and max_retries=3 retries
    assert len(sleeps.delays) == 3


async def test_max_retries_zero_sends_once() -> None:
    route, sleeps, outcome = await run(
        GET_MESSAGE, "GET", get, [httpx.Response(503), OK], max_retries=0
    )
    assert isinstance(outcome, ServerError)
    assert route.call_count == 1
    assert sleeps.delays == []


async def test_connection_errors_exhausted_raise_api_connection_error() -> None:
    route, _, outcome = await run(GET_MESSAGE, "GET", get, [httpx.ConnectError("refused")] * 5)
    assert type(outcome) is ApiConnectionError
    assert route.call_count == 4
    route, _, outcome = await run(GET_MESSAGE, "GET", get, [httpx.ConnectTimeout("slow")] * 5)
    assert type(outcome) is ApiTimeoutError
    assert isinstance(outcome, ApiConnectionError)


async def test_exponential_backoff_schedule_with_cap() -> None:
    sleeps = SleepRecorder()
    retry = Retry(backoff_factor=1.0, backoff_max=3.0, jitter=0, sleep=sleeps)
    async with WebChatApi(guest_token=JWT, retry=retry, max_retries=4) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(GET_MESSAGE).mock(side_effect=[httpx.Response(502)] * 4 + [OK])
            await get(api)
    assert sleeps.delays == [1.0, 2.0, 3.0, 3.0]


def test_jitter_takes_a_random_fraction_off() -> None:
    retry = Retry(backoff_factor=2.0, jitter=0.5, random=lambda: 1.0)
    assert retry.delay(1) == 1.0  # 2.0 minus half of it
    assert Retry(backoff_factor=2.0, jitter=0.5, random=lambda: 0.0).delay(1) == 2.0
    delays = {Retry(backoff_factor=1.0).delay(3) for _ in range(50)}
    assert all(2.0 <= d <= 4.0 for d in delays) and len(delays) > 1


@pytest.mark.parametrize(
    "kwargs",
    [
        {"backoff_factor": -1},
        {"backoff_max": float("inf")},
        {"jitter": 1.5},
        {"max_retry_after": -2},
    ],
)
def test_retry_rejects_bad_values(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Retry(**kwargs)


@pytest.mark.parametrize("value", [-1, True, 2.5])
def test_max_retries_must_be_a_non_negative_int(value: Any) -> None:
    with pytest.raises(ValueError, match="max_retries"):
        WebChatApi(max_retries=value)


# -- Retry-After -------------------------------------------------------------------------------


async def test_retry_after_is_honoured() -> None:
    first = httpx.Response(429, headers={"Retry-After": "7"})
    _, sleeps, outcome = await run(POST_MESSAGE, "POST", send, [first, OK])
    assert isinstance(outcome, models.WebChatMessage)
    assert sleeps.delays == [7.0]
    first = httpx.Response(503, headers={"Retry-After": "7"})
    _, sleeps, outcome = await run(GET_MESSAGE, "GET", get, [first, OK])
    assert isinstance(outcome, models.WebChatMessage)
    assert sleeps.delays == [7.0]


async def test_retry_after_is_capped() -> None:
    first = httpx.Response(429, headers={"Retry-After": "3600"})
    _, sleeps, _ = await run(GET_MESSAGE, "GET", get, [first, OK])
    assert sleeps.delays == [60.0]
    sleeps = SleepRecorder()
    async with WebChatApi(guest_token=JWT, retry=Retry(max_retry_after=5.0, sleep=sleeps)) as api:
        with respx.mock(base_url=BASE) as router:
            router.get(GET_MESSAGE).mock(side_effect=[first, OK])
            await get(api)
    assert sleeps.delays == [5.0]


async def test_rate_limit_error_carries_retry_after_when_retries_run_out() -> None:
    limited = httpx.Response(
        429,
        headers={"Retry-After": "2", "inin-correlation-id": "corr-1"},
        json={"status": 429, "code": "too.many.requests", "message": "Rate limit exceeded"},
    )
    route, sleeps, outcome = await run(POST_MESSAGE, "POST", send, [limited] * 5)
    assert isinstance(outcome, RateLimitError)
    assert outcome.retry_after == 2.0
    assert outcome.code == "too.many.requests"
    assert outcome.request_id == "corr-1"
    assert route.call_count == 4
    assert sleeps.delays == [2.0, 2.0, 2.0]


def test_parse_retry_after() -> None:
    assert parse_retry_after(None) is None
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("-4") == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after("nan") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    parsed = parse_retry_after(future)
    assert parsed is not None and 25 <= parsed <= 31
    past = email.utils.formatdate(time.time() - 30, usegmt=True)
    assert parse_retry_after(past) == 0.0


# -- 401 is not a transient failure ----------------------------------------------------------


async def test_guest_401_is_not_retried() -> None:
    route, sleeps, outcome = await run(
        GET_MESSAGE, "GET", get, [httpx.Response(401, json={"code": "bad.credentials"}), OK]
    )
    assert isinstance(outcome, AuthenticationError)
    assert route.call_count == 1
    assert sleeps.delays == []

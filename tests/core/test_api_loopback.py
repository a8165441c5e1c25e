"""Real sockets on 127.0.0.1: the wire format end to end, and a real refused connection."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from typing import Any

import attrs
import pytest
from aiohttp import web
from core_support import JWT, MESSAGE, SleepRecorder, make_api, zero_retry
from loopback import serving

from webchat_async import models
from webchat_async.errors import ApiConnectionError, NotFoundError


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, list[dict[str, Any]]]]:
    seen: list[dict[str, Any]] = []

    async def send_message(request: web.Request) -> web.Response:
        seen.append(
            {
                "raw_path": request.raw_path,
                "headers": dict(request.headers),
                "body": await request.json(),
            }
        )
        return web.json_response({**MESSAGE, "body": (await request.json())["body"]})

    async def missing(request: web.Request) -> web.Response:
        return web.json_response(
            {"status": 404, "code": "not.found", "message": "No such member"},
            status=404,
            headers={"inin-correlation-id": "corr-7"},
        )

    app = web.Application()
    app.router.add_post(
        "/api/v2/webchat/guest/conversations/{c}/members/{m}/messages", send_message
    )
    app.router.add_get("/api/v2/webchat/guest/conversations/{c}/members/{m}", missing)
    async with serving(app) as base:
        yield base, seen


async def test_round_trip_over_a_real_socket(server: tuple[str, list[dict[str, Any]]]) -> None:
    base, seen = server
    async with make_api(base_url=base, guest_token=JWT) as api:
        body = models.CreateWebChatMessageRequest(
            body="héllo ✓", body_type=models.BodyType.STANDARD
        )
        sent = await api.post_webchat_guest_conversation_member_messages("c 1", "m/1", body)
        with pytest.raises(NotFoundError) as info:
            await api.get_webchat_guest_conversation_member("c-1", "gone")
    assert sent.body == "héllo ✓"
    (request,) = seen
    assert request["raw_path"] == "/api/v2/webchat/guest/conversations/c%201/members/m%2F1/messages"
    assert request["headers"]["Authorization"] == f"Bearer {JWT}"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["Accept"] == "application/json"
    assert request["body"] == {"body": "héllo ✓", "bodyType": "standard"}
    assert info.value.request_id == "corr-7"
    assert info.value.code == "not.found"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_refused_connection_is_retried_even_for_post() -> None:
    sleeps = SleepRecorder()
    base = f"http://127.0.0.1:{_closed_port()}"
    # A refusal on the loopback fails at once by default (tests/cli/test_cli_refused.py);
    # retrying it too, it stands for any refusal: nothing was sent.
    retry = attrs.evolve(zero_retry(sleeps), retry_refused_loopback=True)
    async with make_api(sleeps, base_url=base, guest_token=JWT, retry=retry) as api:
        with pytest.raises(ApiConnectionError) as info:
            await api.post_webchat_guest_conversation_member_messages(
                "c-1", "m-1", models.CreateWebChatMessageRequest(body="hi")
            )
    assert len(sleeps.delays) == 3  # nothing was sent, so every retry was safe
    assert "ConnectError" in str(info.value)
    assert JWT not in str(info.value)

"""Transport errors a person can act on, against real sockets on 127.0.0.1.

A closed port names the host and port; a server that never answers names the request
(method and path, never the JWT) and the timeout that ran out.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest

from webchat_async import ApiConnectionError, ApiTimeoutError, WebChatApi
from webchat_async._http import transport_error_text

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJndWVzdCJ9.c2VjcmV0LXNpZ25hdHVyZQ"


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


@pytest.fixture
async def silent_server() -> AsyncIterator[int]:
    """A server that accepts connections, reads the request and never answers."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        await reader.read(65536)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        for writer in held:
            writer.close()
        await server.wait_closed()


async def test_a_closed_port_names_host_and_port() -> None:
    port = closed_port()
    api = WebChatApi(base_url=f"http://127.0.0.1:{port}", access_token="t0ken", max_retries=0)
    async with api:
        with pytest.raises(ApiConnectionError) as info:
            (await api.get_webchat_deployments(),)
    text = str(info.value)
    assert type(info.value) is ApiConnectionError
    assert text.startswith("GET /api/v2/webchat/deployments: cannot connect to ")
    assert f"127.0.0.1:{port}" in text
    assert "ConnectError" in text


async def test_a_server_that_never_answers_names_the_request_and_the_timeout(
    silent_server: int,
) -> None:
    api = WebChatApi(
        base_url=f"http://127.0.0.1:{silent_server}", guest_token=JWT, timeout=0.25, max_retries=0
    )
    async with api:
        with pytest.raises(ApiTimeoutError) as info:
            await api.get_webchat_guest_conversation_messages("c-1", max_results=5)
    text = str(info.value)
    assert text == (
        "GET /api/v2/webchat/guest/conversations/c-1/messages: no response from "
        f"127.0.0.1:{silent_server} within 0.25 s (read timeout)"
    )
    assert JWT not in text and JWT not in repr(info.value)
    assert "maxResults" not in text  # the path, not the query


async def test_a_post_that_times_out_names_its_method_too(silent_server: int) -> None:
    async with WebChatApi(
        base_url=f"http://127.0.0.1:{silent_server}", guest_token=JWT, timeout=0.2
    ) as api:
        with pytest.raises(ApiTimeoutError, match=r"^POST /api/v2/.*/members/m-1/typing: "):
            await api.post_webchat_guest_conversation_member_typing("c-1", "m-1")


@pytest.mark.parametrize(
    ("phase", "failure", "expected"),
    [
        ("connect", "no connection to {where}", "no connection to h:443 within 5 s"),
        ("write", "could not send the request to {where}", "to h:443 within 5 s (write"),
        ("pool", "no free connection to {where}", "no free connection to h:443 within 5 s"),
    ],
)
def test_each_timeout_phase_is_named(phase: str, failure: str, expected: str) -> None:
    text = transport_error_text(
        "GET", "/p", host="h", port=443, failure=failure, timeout_phase=phase, timeout=5.0
    )
    assert expected in text and f"({phase} timeout)" in text


def test_the_text_is_redacted() -> None:
    text = transport_error_text(
        "GET", "/p", host="h", port=1, failure="cannot connect to {where}", detail=f"jwt {JWT}"
    )
    assert JWT not in text

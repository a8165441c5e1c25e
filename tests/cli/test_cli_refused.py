"""A wrong port on this machine fails at once, naming the address (issue 25, item 5).

A refused connection to the loopback means nothing listens on that port (a typo, the
simulator not started): retrying cannot help, so the SDK does not retry it, and the error
says which address was tried. Elsewhere a refusal may be a server restarting behind a load
balancer, and is retried as before.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator

import httpx
import pytest

from webchat_async import WebChatApi
from webchat_async._http import Retry
from webchat_async.cli import main
from webchat_async.errors import ApiConnectionError
from webchat_async.models import CreateWebChatConversationRequest, GuestMemberInfo


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A port on 127.0.0.1 that is bound but not listening: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


async def test_a_refused_loopback_connection_is_not_retried(closed_port: int) -> None:
    pauses: list[float] = []

    async def record(seconds: float) -> None:
        pauses.append(seconds)

    retry = Retry(sleep=record)
    async with WebChatApi(base_url=f"http://127.0.0.1:{closed_port}", retry=retry) as api:
        with pytest.raises(ApiConnectionError) as caught:
            await api.post_webchat_guest_conversations(
                CreateWebChatConversationRequest(
                    organization_id="org",
                    deployment_id="dep",
                    member_info=GuestMemberInfo(display_name="Ann"),
                )
            )
    assert pauses == []  # failed on the first attempt
    text = str(caught.value)
    assert f"cannot connect to 127.0.0.1:{closed_port}: nothing listens there" in text
    assert "is the port right" in text


def test_only_a_refusal_on_the_loopback_skips_the_retries() -> None:
    from webchat_async._http import _refused_on_loopback

    refused = httpx.ConnectError("Connection refused")
    refused.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert _refused_on_loopback(refused, httpx.URL("http://localhost:8080/x"))
    assert _refused_on_loopback(refused, httpx.URL("http://[::1]:8080/x"))
    assert not _refused_on_loopback(refused, httpx.URL("https://api.mypurecloud.ie/x"))
    other = httpx.ConnectError("Name or service not known")
    other.__cause__ = OSError(-2, "Name or service not known")
    assert not _refused_on_loopback(other, httpx.URL("http://127.0.0.1:8080/x"))


def test_the_command_line_names_the_address(
    closed_port: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("GENESYS_CLIENT_SECRET", "a-secret-value")
    url = f"http://127.0.0.1:{closed_port}"
    assert main(["deployments", "list", "--client-id", "x", "--base-url", url]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ")
    assert f"127.0.0.1:{closed_port}: nothing listens there" in err
    assert len(err.splitlines()) == 1
    assert "a-secret-value" not in err

"""MessagingSession attachments on the simulator: upload and the message carrying it, an
upload the service fails, and files refused before anything is sent."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from wm_session_support import client_tasks, start

from webchat_async.errors import AttachmentError
from webchat_async.messaging._models import AttachmentContent
from webchat_async.simulator import Agent, Simulator


@pytest.fixture
async def quiet() -> AsyncIterator[Simulator]:
    async with Simulator(agent=Agent(greeting=None), heartbeat_interval=None) as sim:
        yield sim


def attachments_held(sim: Simulator, token: str) -> int:
    return len(sim._messaging.state.sessions[token].attachments)


async def test_an_attachment_is_uploaded_then_sent(quiet: Simulator) -> None:
    async with start(quiet) as session:
        data = b"%PDF-1.4 hello"
        echo = await session.send_attachment(
            data, filename="invoice.pdf", content_type="application/pdf", text="my invoice"
        )
        assert echo.text == "my invoice" and echo.inbound
        (content,) = echo.content
        assert isinstance(content, AttachmentContent) and content.id
        (held,) = quiet._messaging.state.sessions[session.token].attachments.values()
        assert held.data == data and held.file_name == "invoice.pdf"
        # It is in the history, and its download URL gives the bytes back.
        (stored,) = [m async for m in session.history()]
        (stored_content,) = stored.message.content
        assert isinstance(stored_content, AttachmentContent) and stored_content.url
        async with httpx.AsyncClient() as client:
            assert (await client.get(stored_content.url)).content == data


async def test_an_upload_failure_raises_with_the_code(quiet: Simulator) -> None:
    async with start(quiet) as session:
        quiet.faults.fail_uploads(1, error_code=4003)
        with pytest.raises(AttachmentError) as raised:
            await session.send_attachment(b"x", filename="a.txt", content_type="text/plain")
        assert raised.value.code == 4003
        assert [m async for m in session.history()] == []  # no message carries it
        # The session goes on.
        await session.send_attachment(b"y", filename="b.txt", content_type="text/plain")
    assert not client_tasks()


@pytest.mark.parametrize(
    ("filename", "content_type", "size", "says"),
    [
        ("tool.exe", "application/pdf", 10, ".exe"),
        ("photo.bmp", "image/bmp", 10, "image/bmp"),
        ("big.png", "image/png", 10 * 1024 * 1024 + 1, "10240 KB"),
    ],
)
async def test_a_refused_file_is_not_sent(
    quiet: Simulator, filename: str, content_type: str, size: int, says: str
) -> None:
    async with start(quiet) as session:
        await session.send_message("hi")  # the session's limits are known
        with pytest.raises(AttachmentError) as raised:
            await session.send_attachment(
                b"\0" * size, filename=filename, content_type=content_type
            )
        assert raised.value.code is None  # refused here, not by the service
        assert says in str(raised.value)
        assert attachments_held(quiet, session.token) == 0  # no presign was asked


async def test_bad_arguments(quiet: Simulator) -> None:
    async with start(quiet) as session:
        with pytest.raises(TypeError):
            await session.send_attachment("text", filename="a.txt", content_type="text/plain")  # type: ignore[arg-type]
        with pytest.raises(ValueError):
            await session.send_attachment(b"x", filename="", content_type="text/plain")
        with pytest.raises(ValueError):
            await session.send_attachment(b"x", filename="a\r\n.txt", content_type="text/plain")

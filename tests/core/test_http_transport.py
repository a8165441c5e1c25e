"""The default transport (aiohttp under httpx's API) against real loopback servers.

The retry policy resends a POST only after an error that proves nothing was sent; these
tests pin that the transport raises such an error only when that is true.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import httpx
import pytest

from webchat_async._http import HttpClient, LeanAnswer, Retry
from webchat_async._transport import AiohttpTransport
from webchat_async.errors import ApiConnectionError, ApiError, ApiTimeoutError, RateLimitError

PATH = "/api/v2/webchat/guest/conversations/c/members/m/messages"


async def _no_sleep(_: float) -> None:
    return None


NO_WAIT = Retry(backoff_factor=0, sleep=_no_sleep)

Handler = Callable[[bytes, asyncio.StreamWriter], Awaitable[None]]


class StoringServer:
    """An HTTP/1.1 server on 127.0.0.1 that stores every request body it receives whole."""

    def __init__(self, answer: Handler) -> None:
        self.stored: list[bytes] = []
        self.heads: list[bytes] = []
        self.connections = 0
        self._answer = answer
        self.port = 0

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                self.heads.append(head)
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.strip().lower() == b"content-length":
                        length = int(value)
                body = await reader.readexactly(length)
                self.stored.append(body)
                await self._answer(body, writer)
                if writer.is_closing():
                    return
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    @asynccontextmanager
    async def running(self) -> AsyncIterator[StoringServer]:
        server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        try:
            yield self
        finally:
            server.close()
            await server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"


async def drop(_: bytes, writer: asyncio.StreamWriter) -> None:
    """Store the message, then close the connection without an answer."""
    writer.close()


async def ok(body: bytes, writer: asyncio.StreamWriter) -> None:
    payload = json.dumps({"id": "m1", "body": json.loads(body)["body"]}).encode()
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(payload)).encode() + b"\r\n\r\n" + payload
    )
    await writer.drain()


async def test_default_client_uses_the_aiohttp_transport() -> None:
    client = HttpClient()
    try:
        assert isinstance(client._client._transport, AiohttpTransport)
    finally:
        await client.aclose()


async def test_a_post_the_server_stored_before_dropping_the_connection_is_not_resent() -> None:
    async with StoringServer(drop).running() as server:
        client = HttpClient(max_retries=3, retry=NO_WAIT)
        try:
            with pytest.raises(ApiConnectionError) as caught:
                await client.request("POST", server.url, path=PATH, json_body={"body": "hi"})
        finally:
            await client.aclose()
    assert server.stored == [b'{"body":"hi"}']
    assert not isinstance(caught.value.__cause__, (httpx.ConnectError, httpx.ConnectTimeout))
    # The host and port once: the transport carries the reason only.
    assert str(caught.value) == (
        f"POST {PATH}: request to 127.0.0.1:{server.port} failed "
        "(RemoteProtocolError: the server closed the connection before answering)"
    )


async def test_a_get_on_a_dropped_connection_is_retried_by_the_policy_alone() -> None:
    async with StoringServer(drop).running() as server:
        client = HttpClient(max_retries=2, retry=NO_WAIT)
        try:
            with pytest.raises(ApiConnectionError):
                await client.request("GET", server.url, path=PATH)
        finally:
            await client.aclose()
    # The first attempt and two retries of the policy; aiohttp resends nothing itself.
    assert len(server.stored) == 3


async def test_a_delete_on_a_reused_connection_that_drops_is_sent_once() -> None:
    answers = [ok, drop]

    async def first_ok_then_drop(body: bytes, writer: asyncio.StreamWriter) -> None:
        await answers.pop(0)(body, writer)

    async with StoringServer(first_ok_then_drop).running() as server:
        client = HttpClient(max_retries=3, retry=NO_WAIT)
        try:
            await client.request("POST", server.url, path=PATH, json_body={"body": "a"})
            with pytest.raises(ApiConnectionError):
                await client.request("DELETE", server.url, path=PATH)
        finally:
            await client.aclose()
    assert len(server.stored) == 2 and server.connections == 1


async def test_a_refused_connection_is_a_connect_error_naming_host_and_port() -> None:
    async with StoringServer(ok).running() as server:
        port = server.port
    attempts: list[float] = []

    async def record(delay: float) -> None:
        attempts.append(delay)

    # Retried as a refusal anywhere would be (on the loopback it fails at once by default:
    # tests/cli/test_cli_refused.py).
    retry = Retry(backoff_factor=0, sleep=record, retry_refused_loopback=True)
    client = HttpClient(max_retries=2, retry=retry)
    try:
        with pytest.raises(ApiConnectionError) as caught:
            await client.request(
                "POST", f"http://127.0.0.1:{port}{PATH}", path=PATH, json_body={"body": "x"}
            )
    finally:
        await client.aclose()
    # One sentence, the address once (it read "cannot connect to 127.0.0.1:9 (ConnectError:
    # cannot connect to 127.0.0.1:9: Connect call failed ('127.0.0.1', 9))").
    assert str(caught.value) == (
        f"POST {PATH}: cannot connect to 127.0.0.1:{port} (ConnectError: Connection refused)"
    )
    # Nothing was sent: a POST may go again.
    assert len(attempts) == 2


async def test_a_read_timeout_names_the_request_and_the_limit() -> None:
    release = asyncio.Event()

    async def never(_: bytes, writer: asyncio.StreamWriter) -> None:
        await release.wait()  # no answer until the test is done
        writer.close()

    async with StoringServer(never).running() as server:
        client = HttpClient(timeout=httpx.Timeout(5.0, read=0.05), max_retries=3, retry=NO_WAIT)
        try:
            expected = r"POST /api/\S+: no response from 127\.0\.0\.1:\d+ within 0\.05 s"
            with pytest.raises(ApiTimeoutError, match=expected):
                await client.request("POST", server.url, path=PATH, json_body={"body": "x"})
        finally:
            await client.aclose()
            # Python 3.12+ waits for open connections when the server closes.
            release.set()
    assert len(server.stored) == 1


async def test_a_2xx_answer_comes_back_whole() -> None:
    async with StoringServer(ok).running() as server:
        client = HttpClient()
        try:
            response = await client.request(
                "POST", server.url, path=PATH, json_body={"body": "héllo"}
            )
        finally:
            await client.aclose()
    # The lean path's own answer: no httpx.Response is built for a success.
    assert isinstance(response, LeanAnswer)
    assert response.status_code == 200 and response.reason == b"OK"
    assert json.loads(response.content) == {"id": "m1", "body": "héllo"}
    assert (b"Content-Type", b"application/json") in response.raw_headers


async def test_an_injected_client_keeps_its_own_transport() -> None:
    transport = httpx.MockTransport(lambda request: httpx.Response(204))
    async with httpx.AsyncClient(transport=transport) as injected:
        client = HttpClient(injected)
        assert client._client is injected and injected._transport is transport
        response = await client.request("GET", "http://x.test/a", path="/a")
        assert response.status_code == 204
        await client.aclose()
        assert not injected.is_closed


def canned(*answers: bytes) -> Handler:
    """Answer each request with the next of ``answers`` (raw HTTP/1.1 responses)."""
    left = list(answers)

    async def answer(_: bytes, writer: asyncio.StreamWriter) -> None:
        writer.write(left.pop(0))
        await writer.drain()

    return answer


def raw_response(status: str, body: bytes, *headers: str) -> bytes:
    head = "".join(f"{header}\r\n" for header in headers)
    return (
        f"HTTP/1.1 {status}\r\n{head}Content-Length: {len(body)}\r\n\r\n".encode("latin-1") + body
    )


ERROR_BODY = json.dumps(
    {"message": "no such member", "code": "not.found", "status": 404, "contextId": "ctx-1"}
).encode()


def error_fields(error: ApiError) -> tuple[object, ...]:
    retry_after = error.retry_after if isinstance(error, RateLimitError) else None
    return (
        type(error),
        str(error),
        error.status,
        error.code,
        error.context_id,
        error.request_id,
        error.body,
        retry_after,
    )


@pytest.mark.parametrize(
    "answer",
    [
        raw_response(
            "404 Not Found",
            ERROR_BODY,
            "Content-Type: application/json",
            "inin-correlation-id: r-9",
        ),
        raw_response("429 Too Many Requests", b"", "Retry-After: 7"),
        raw_response("502 Bad Gateway", b"<html>proxy</html>", "Content-Type: text/html"),
        raw_response("418 I'm a teapot", b"{}"),
    ],
    ids=["404-error-body", "429-retry-after", "502-html", "418-empty-object"],
)
async def test_the_lean_path_maps_an_error_as_httpx_does(answer: bytes) -> None:
    """A failure is mapped from an httpx.Response on both paths: the same error."""
    async with StoringServer(canned(answer)).running() as server:
        client = HttpClient(max_retries=0)
        try:
            with pytest.raises(ApiError) as lean:
                await client.request("POST", server.url, path=PATH, json_body={"body": "x"})
        finally:
            await client.aclose()
        async with httpx.AsyncClient() as injected:  # httpx's own transport
            via_httpx = HttpClient(injected, max_retries=0)
            server._answer = canned(answer)
            with pytest.raises(ApiError) as expected:
                await via_httpx.request("POST", server.url, path=PATH, json_body={"body": "x"})
    assert error_fields(lean.value) == error_fields(expected.value)


async def test_the_lean_path_honours_retry_after_then_returns_the_success() -> None:
    delays: list[float] = []

    async def record(delay: float) -> None:
        delays.append(delay)

    answers = canned(
        raw_response("429 Too Many Requests", b"", "Retry-After: 3"),
        raw_response("200 OK", b'{"id":"m1"}', "Content-Type: application/json"),
    )
    async with StoringServer(answers).running() as server:
        client = HttpClient(max_retries=2, retry=Retry(backoff_factor=0, sleep=record))
        try:
            answer = await client.request("POST", server.url, path=PATH, json_body={"body": "x"})
        finally:
            await client.aclose()
    assert delays == [3.0]
    assert answer.status_code == 200 and answer.content == b'{"id":"m1"}'
    assert server.stored == [b'{"body":"x"}', b'{"body":"x"}']


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
async def test_a_compressed_answer_is_decoded(encoding: str) -> None:
    """The client asks for gzip and deflate (httpx's Accept-Encoding); the body the API
    reads is the decoded JSON, on a success and in an error."""
    import zlib

    def compress(data: bytes) -> bytes:
        wbits = 31 if encoding == "gzip" else 15  # gzip / zlib wrappers
        packer = zlib.compressobj(wbits=wbits)
        return packer.compress(data) + packer.flush()

    message = json.dumps({"id": "m1", "body": "squeezed " * 50}).encode()
    answers = canned(
        raw_response(
            "200 OK",
            compress(message),
            "Content-Type: application/json",
            f"Content-Encoding: {encoding}",
        ),
        raw_response(
            "404 Not Found",
            compress(ERROR_BODY),
            "Content-Type: application/json",
            f"Content-Encoding: {encoding}",
        ),
    )
    async with StoringServer(answers).running() as server:
        client = HttpClient(max_retries=0)
        try:
            answer = await client.request("GET", server.url, path=PATH)
            with pytest.raises(ApiError) as caught:
                await client.request("GET", server.url, path=PATH)
        finally:
            await client.aclose()
    assert answer.content == message
    assert caught.value.code == "not.found" and caught.value.context_id == "ctx-1"


async def test_the_request_carries_the_sdk_headers_once_and_none_of_aiohttp() -> None:
    async with StoringServer(ok).running() as server:
        client = HttpClient()
        try:
            await client.request(
                "POST",
                server.url,
                path=PATH,
                json_body={"body": "x"},
                headers={"X-Extra": "1", "accept": "application/json; v=2"},
            )
        finally:
            await client.aclose()
    lines = [line for line in server.heads[0].decode().split("\r\n")[1:] if line]
    names = [line.partition(":")[0].lower() for line in lines]
    assert len(names) == len(set(names)), names
    fields = {name: line.partition(":")[2].strip() for name, line in zip(names, lines, strict=True)}
    from webchat_async import __version__

    assert fields["user-agent"] == f"webchat-async/{__version__}"
    assert fields["accept"] == "application/json; v=2"  # the request's own wins
    assert fields["accept-encoding"] == "gzip, deflate"
    assert fields["content-type"] == "application/json"
    assert fields["x-extra"] == "1"


async def test_the_lean_path_refreshes_a_rejected_token_once() -> None:
    class Rotating:
        def __init__(self) -> None:
            self.token = "Bearer one"
            self.rejected: list[str] = []

        async def authorization(self) -> str:
            return self.token

        async def refresh(self, rejected: str) -> bool:
            self.rejected.append(rejected)
            self.token = "Bearer two"
            return True

    answers = canned(
        raw_response("401 Unauthorized", b'{"code":"bad.credentials"}'),
        raw_response("200 OK", b'{"id":"m1"}'),
    )
    auth = Rotating()
    async with StoringServer(answers).running() as server:
        client = HttpClient(max_retries=0)
        try:
            answer = await client.request(
                "POST", server.url, path=PATH, json_body={"body": "x"}, auth=auth
            )
        finally:
            await client.aclose()
    assert answer.content == b'{"id":"m1"}' and auth.rejected == ["Bearer one"]
    sent = [
        line for head in server.heads for line in head.split(b"\r\n") if b"uthorization" in line
    ]
    assert sent == [b"Authorization: Bearer one", b"Authorization: Bearer two"]


async def test_the_transport_under_an_httpx_client_decodes_as_httpx_does() -> None:
    import gzip

    message = json.dumps({"id": "m1"}).encode()
    answers = canned(
        raw_response("200 OK", gzip.compress(message), "Content-Encoding: gzip"),
        raw_response("503 Service Unavailable", b"", "Retry-After: 4"),
    )
    async with StoringServer(answers).running() as server:
        transport = AiohttpTransport(limits=httpx.Limits(max_connections=2))
        async with httpx.AsyncClient(transport=transport) as client:
            first = await client.get(server.url)
            second = await client.get(server.url)
    assert first.status_code == 200 and first.content == message
    assert second.status_code == 503 and second.reason_phrase == "Service Unavailable"
    assert second.headers["retry-after"] == "4"

"""The default transport under ``httpx``'s API: aiohttp's connection pool.

httpcore's pool (httpx's default transport) probes every idle connection at every pool
event and matches every waiting request against every connection: with a hundred chats
on one client that was ~70% of the client's CPU, and the SDK ran at a third of the
official thread-per-chat SDK's throughput (benchmarks/rest_load.py). aiohttp's pool
hands a connection over in O(1) and learns of a closed connection from the event loop,
not by probing it.

httpx stays the API (requests, responses, ``http_client=`` injection, respx): only the
bytes go through aiohttp. A response is read whole before it is returned; every answer of
this API is a small JSON document.

What was sent decides a retry
-----------------------------
:class:`~webchat_async._http.HttpClient` retries a ``POST`` only after a failure that
proves nothing was sent: ``httpx.ConnectError``, ``ConnectTimeout`` or ``PoolTimeout``.
So only errors raised while a connection was being acquired map to those:

* ``aiohttp.ClientConnectorError`` (refused, DNS, TLS handshake) -> ``ConnectError``;
* ``aiohttp.ConnectionTimeoutError`` (connecting, or waiting for the pool) ->
  ``ConnectTimeout``.

Everything after that point is ambiguous (the request may have been processed): a server
that disconnects after the request went out (``ServerDisconnectedError``), a reset
(``ClientOSError``), a payload error -> ``RemoteProtocolError`` / ``ReadError``; a read
timeout -> ``ReadTimeout``. (``httpx_aiohttp`` maps every ``ClientConnectionError``,
these included, to ``ConnectTimeout``: a POST would then be sent twice.)
aiohttp's own resend of an idempotent request on a reused connection is turned off: the
retry policy decides alone, and a ``DELETE`` is not sent twice behind its back.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

__all__ = ["AiohttpTransport"]

_EXTENSIONS_HTTP11 = b"HTTP/1.1"


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that sends through one ``aiohttp.ClientSession``.

    The session (and aiohttp itself, ~40 ms of import) is created on the first request,
    inside the running loop; :meth:`aclose` closes it.
    """

    def __init__(self, *, limits: httpx.Limits, trust_env: bool = True) -> None:
        self._limits = limits
        self._trust_env = trust_env
        self._session: aiohttp.ClientSession | None = None
        self._ssl: ssl.SSLContext | None = None
        self._timeouts: dict[tuple[Any, ...], aiohttp.ClientTimeout] = {}
        self._closed = False

    def _open(self) -> aiohttp.ClientSession:
        import aiohttp

        if self._closed:
            raise httpx.ConnectError("the transport is closed")
        limits = self._limits
        connector = aiohttp.TCPConnector(
            limit=limits.max_connections or 0,
            limit_per_host=0,
            keepalive_timeout=limits.keepalive_expiry or 5.0,
        )
        session = aiohttp.ClientSession(
            connector=connector,
            # The bytes are handed to httpx as they came: httpx decodes Content-Encoding.
            auto_decompress=False,
            trust_env=self._trust_env,
            # aiohttp would add its own; the request carries httpx's (the SDK's) headers.
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Accept", "Content-Type"),
        )
        # aiohttp resends an idempotent request (DELETE included) once when a reused
        # connection turns out closed. The retry policy of HttpClient decides alone.
        session._retry_connection = False
        self._session = session
        return session

    def _timeout(self, request: httpx.Request) -> aiohttp.ClientTimeout:
        spec = request.extensions.get("timeout") or {}
        key = (spec.get("connect"), spec.get("read"), spec.get("pool"))
        timeout = self._timeouts.get(key)
        if timeout is None:
            import aiohttp

            connect, read, pool = key
            # aiohttp's `connect` covers waiting for the pool and connecting.
            whole = None if connect is None or pool is None else connect + pool
            timeout = aiohttp.ClientTimeout(
                total=None, connect=whole, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = timeout
        return timeout

    @property
    def ssl_context(self) -> ssl.SSLContext:
        """The TLS context of ``https`` requests (built on first use)."""
        return self._ssl_context()

    def pool_in_use(self) -> tuple[int, int]:
        """``(requests waiting for a connection, connections busy)``: for tests."""
        session = self._session
        if session is None or session.closed:
            return 0, 0
        connector: Any = session.connector
        waiting = sum(len(waiters) for waiters in connector._waiters.values())
        return waiting, len(connector._acquired)

    def _ssl_context(self) -> ssl.SSLContext:
        if self._ssl is None:
            # The trust store httpx would use (certifi), so the transport changes nothing.
            self._ssl = httpx.create_ssl_context()
        return self._ssl

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request``; return the whole response (see the module docs for errors)."""
        session = self._session or self._open()
        url = request.url
        content = request.content  # the SDK's requests are never streamed
        try:
            async with session.request(
                request.method,
                str(url),
                headers=request.headers,
                data=content or None,
                allow_redirects=False,
                timeout=self._timeout(request),
                ssl=self._ssl_context() if url.scheme == "https" else True,
            ) as response:
                body = await response.read()
                status = response.status
                headers = response.raw_headers
                reason = response.reason
        except Exception as exc:
            mapped = _map_error(exc, request)
            if mapped is None:
                raise
            raise mapped from exc
        return httpx.Response(
            status,
            headers=headers,
            content=body,
            request=request,
            extensions={
                "http_version": _EXTENSIONS_HTTP11,
                "reason_phrase": reason.encode("ascii", "replace") if reason else b"",
            },
        )

    async def aclose(self) -> None:
        """Close the session and its connections."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _where(request: httpx.Request) -> str:
    url = request.url
    port = url.port or (443 if url.scheme == "https" else 80)
    return f"{url.host}:{port}"


def _seconds(request: httpx.Request, kind: str) -> str:
    value = (request.extensions.get("timeout") or {}).get(kind)
    return "no limit" if value is None else f"{value:g} s"


def _map_error(exc: Exception, request: httpx.Request) -> httpx.TransportError | None:
    """The httpx error for an aiohttp one; ``None`` for what is not a transport error."""
    import aiohttp

    where = _where(request)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(
            f"no connection to {where} within {_seconds(request, 'connect')}", request=request
        )
    if isinstance(exc, aiohttp.ClientConnectorError):
        reason = exc.os_error.strerror or type(exc.os_error).__name__
        return httpx.ConnectError(f"cannot connect to {where}: {reason}", request=request)
    if isinstance(exc, aiohttp.ServerTimeoutError):  # SocketTimeoutError: a read
        return httpx.ReadTimeout(
            f"{request.method} to {where}: no answer within {_seconds(request, 'read')}",
            request=request,
        )
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError(
            f"{where} closed the connection before answering", request=request
        )
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError(f"malformed answer from {where}", request=request)
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol(f"invalid URL for {where}", request=request)
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        # Any other connection failure happened while or after the request was written.
        return httpx.ReadError(
            f"connection to {where} failed: {type(exc).__name__}", request=request
        )
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.ReadTimeout(f"{request.method} to {where}: timed out", request=request)
    return None

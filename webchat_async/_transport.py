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
import os
import ssl
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

#: aiohttp's raw response headers: (name, value) byte pairs.
RawHeaders = tuple[tuple[bytes, bytes], ...]

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
        self._proxies: dict[str, str] = {}

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
            # aiohttp's trust_env reads the proxy variables and ~/.netrc in a thread at
            # every request (two executor jobs per message); they are read once here.
            trust_env=False,
        )
        # aiohttp resends an idempotent request (DELETE included) once when a reused
        # connection turns out closed. The retry policy of HttpClient decides alone.
        session._retry_connection = False
        if self._trust_env:
            import urllib.request

            self._proxies = urllib.request.getproxies()
        self._session = session
        return session

    def _proxy(self, url: str) -> str | None:
        """The proxy for ``url`` from the environment (``HTTPS_PROXY``, ``NO_PROXY``...)."""
        import urllib.parse
        import urllib.request

        proxies = self._proxies
        parts = urllib.parse.urlsplit(url)
        proxy = proxies.get(parts.scheme)
        if proxy is None or urllib.request.proxy_bypass(parts.hostname or ""):
            return None
        return proxy

    def client_timeout(self, timeout: httpx.Timeout | Mapping[str, Any]) -> aiohttp.ClientTimeout:
        """aiohttp's timeout for httpx's (cached: a handful of distinct values per client)."""
        if isinstance(timeout, httpx.Timeout):
            key = (timeout.connect, timeout.read, timeout.pool)
        else:
            key = (timeout.get("connect"), timeout.get("read"), timeout.get("pool"))
        found = self._timeouts.get(key)
        if found is None:
            import aiohttp

            connect, read, pool = key
            # aiohttp's `connect` covers waiting for the pool and connecting.
            whole = None if connect is None or pool is None else connect + pool
            found = aiohttp.ClientTimeout(
                total=None, connect=whole, sock_connect=connect, sock_read=read
            )
            self._timeouts[key] = found
        return found

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
        url = request.url
        spec = request.extensions.get("timeout") or {}
        status, reason, headers, body, _ = await self.send(
            request.method,
            str(url),
            request.headers,
            request.content or None,  # the SDK's requests are never streamed
            self.client_timeout(spec),
            https=url.scheme == "https",
        )
        return httpx.Response(
            status,
            headers=headers,
            content=body,
            request=request,
            extensions={"http_version": _EXTENSIONS_HTTP11, "reason_phrase": reason},
        )

    async def send(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str],
        content: bytes | None,
        timeout: aiohttp.ClientTimeout,
        *,
        https: bool,
    ) -> tuple[int, bytes, RawHeaders, bytes, bool]:
        """Send one request: ``(status, reason phrase, raw headers, whole body, encoded)``.

        ``encoded``: the answer has a ``Content-Encoding`` (gzip...), so the body is as
        it came, for httpx to decode (it chose the ``Accept-Encoding`` the client sends).

        Raises the ``httpx.TransportError`` of the module docs.
        """
        session = self._session or self._open()
        try:
            async with session.request(
                method,
                url,
                headers=headers,
                data=content,
                allow_redirects=False,
                timeout=timeout,
                ssl=self._ssl_context() if https else True,
                proxy=self._proxy(url) if self._proxies else None,
            ) as response:
                body = await response.read()
                reason = response.reason
                return (
                    response.status,
                    reason.encode("ascii", "replace") if reason else b"",
                    response.raw_headers,
                    body,
                    "Content-Encoding" in response.headers,
                )
        except Exception as exc:
            mapped = _map_error(exc, timeout)
            if mapped is None:
                raise
            raise mapped from exc

    async def aclose(self) -> None:
        """Close the session and its connections."""
        self._closed = True
        session, self._session = self._session, None
        if session is not None:
            await session.close()


def _os_reason(error: OSError) -> str:
    """Why a connection failed, without the address (the error text names it once).

    asyncio words a refused connection "Connect call failed ('127.0.0.1', 9)"; the errno
    says it plainly ("Connection refused"). TLS and name-resolution errors have their own
    codes, and their own texts say more.
    """
    import socket

    code = error.errno
    if code is not None and code > 0 and not isinstance(error, (ssl.SSLError, socket.gaierror)):
        return os.strerror(code)
    return error.strerror or str(error) or type(error).__name__


def _seconds(value: float | None) -> str:
    return "no limit" if value is None else f"{value:g} s"


def _map_error(exc: Exception, timeout: aiohttp.ClientTimeout) -> httpx.TransportError | None:
    """The httpx error for an aiohttp one; ``None`` for what is not a transport error.

    The error carries the low-level reason only: the request, the host and the port are
    written once, by :func:`~webchat_async._http.transport_error_text`, which wraps it.
    """
    import aiohttp

    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(f"no connection within {_seconds(timeout.sock_connect)}")
    if isinstance(exc, aiohttp.ClientConnectorError):
        return httpx.ConnectError(_os_reason(exc.os_error))
    if isinstance(exc, aiohttp.ServerTimeoutError):  # SocketTimeoutError: a read
        return httpx.ReadTimeout(f"no answer within {_seconds(timeout.sock_read)}")
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return httpx.RemoteProtocolError("the server closed the connection before answering")
    if isinstance(exc, (aiohttp.ClientPayloadError, aiohttp.ClientResponseError)):
        return httpx.RemoteProtocolError("malformed answer")
    if isinstance(exc, aiohttp.InvalidURL):
        return httpx.UnsupportedProtocol("invalid URL")
    if isinstance(exc, (aiohttp.ClientError, OSError)):
        # Any other connection failure happened while or after the request was written.
        reason = exc.strerror if isinstance(exc, OSError) else None
        return httpx.ReadError(reason or type(exc).__name__)
    if isinstance(exc, asyncio.TimeoutError):
        return httpx.ReadTimeout("timed out")
    return None

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

How much is read
----------------
A body is read up to a limit (``max_size``, 16 MiB by default: the largest answer of the
API, a page of 100 messages of 4,000 characters, is under 5 MB even with every character
escaped), measured on the bytes received and again after decompression: a declared
``Content-Length`` over it is refused before a byte of the body is read, and a body that
grows past it, or a small gzip body that inflates past it, is refused as soon as it does
(:class:`BodyTooLarge`), the connection closed. Decompression is done here, chunk by
chunk, each step asked for no more than what is left of the limit, so memory stays
bounded by the limit whatever the compression ratio. The SDK asks for ``gzip`` and
``deflate`` only; a body in another encoding is passed on undecoded (and then fails to
decode as JSON). The answer handed on carries the decoded body, without its
``Content-Encoding`` and ``Content-Length``.

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
import zlib
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    import aiohttp

#: aiohttp's raw response headers: (name, value) byte pairs.
RawHeaders = tuple[tuple[bytes, bytes], ...]

__all__ = [
    "ACCEPT_ENCODING",
    "DEFAULT_MAX_RESPONSE_SIZE",
    "AiohttpTransport",
    "BodyReader",
    "BodyTooLarge",
    "without_encoding",
]

_EXTENSIONS_HTTP11 = b"HTTP/1.1"

#: The default limit of a response body, in bytes, before and after decompression.
DEFAULT_MAX_RESPONSE_SIZE = 16 * 1024 * 1024

#: What the SDK's requests send as ``Accept-Encoding``: the encodings :class:`BodyReader`
#: decodes with a bound (httpx would add ``br`` and ``zstd`` when their packages are
#: installed, and decode them without one).
ACCEPT_ENCODING = "gzip, deflate"

_HEADERS_OF_THE_ENCODED_BODY = (b"content-encoding", b"content-length")
# The most one zlib call may give: memory holds the limit plus one step, not twice the limit.
_STEP = 256 * 1024


class BodyTooLarge(Exception):
    """A response body went over the limit (:class:`~webchat_async._http.HttpClient`
    turns it into :class:`~webchat_async.errors.ResponseTooLarge`)."""

    def __init__(self, status: int, limit: int) -> None:
        super().__init__(f"HTTP {status}: the body is over the {limit}-byte limit")
        self.status = status
        self.limit = limit


class _Inflate:
    """One zlib stage (gzip or deflate) whose output never goes past the limit."""

    __slots__ = ("_can_fall_back", "_head", "_zlib", "produced")

    def __init__(self, encoding: str) -> None:
        # "deflate" means the zlib wrapper; some servers send raw deflate (as httpx, the
        # first failure of a deflate body switches to raw).
        wbits = zlib.MAX_WBITS | 16 if encoding != "deflate" else zlib.MAX_WBITS
        self._zlib = zlib.decompressobj(wbits)
        self._can_fall_back = encoding == "deflate"
        # The first bytes, until zlib has checked its 2-byte header: a header split over
        # two chunks is told from raw deflate only at the second.
        self._head = b""
        self.produced = 0

    def pieces(self, data: bytes, limit: int) -> Iterator[bytes]:
        """Inflate ``data`` in pieces of at most ``_STEP`` bytes, and stop one byte past
        ``limit`` in all (which the caller refuses): a bomb is stopped inside one chunk,
        and no piece is bigger than a step (one call for the whole limit would hold the
        limit twice while zlib's buffer is copied out)."""
        while data:
            try:
                out = self._zlib.decompress(data, min(_STEP, limit - self.produced + 1))
            except zlib.error as exc:
                if not self._can_fall_back:
                    raise _decoding_error(exc) from None
                self._can_fall_back = False
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)
                data, self._head = self._head + data, b""
                continue
            if self._can_fall_back:
                self._head += data
                if len(self._head) >= 2:  # the header was checked
                    self._can_fall_back = False
                    self._head = b""
            self.produced += len(out)
            if out:
                yield out
            if self.produced > limit:
                return
            data = self._zlib.unconsumed_tail

    def flush(self) -> bytes:
        # All input was consumed (the output limit was not hit), so nothing big is held.
        try:
            out = self._zlib.flush()
        except zlib.error as exc:  # pragma: no cover - zlib raises in decompress first
            raise _decoding_error(exc) from None
        self.produced += len(out)
        return out


def _decoding_error(exc: zlib.error) -> Exception:
    return httpx.DecodingError(f"the compressed body is invalid ({exc})")


class BodyReader:
    """Collects a body chunk by chunk: decoded, and refused past ``limit`` bytes.

    ``encoding`` is the ``Content-Encoding`` header (encodings in the order they were
    applied); ``gzip``, ``x-gzip`` and ``deflate`` are decoded, ``identity`` and unknown
    ones left as they are (as httpx does).
    """

    __slots__ = ("_limit", "_parts", "_raw", "_size", "_stages", "_status")

    def __init__(self, encoding: str | None, limit: int, status: int) -> None:
        self._limit = limit
        self._status = status
        self._raw = 0
        self._size = 0
        self._parts: list[bytes] = []
        self._stages: list[_Inflate] = []
        if encoding:
            names = [name.strip().lower() for name in encoding.split(",")]
            for name in reversed(names):  # the last applied is the first undone
                if name in ("gzip", "x-gzip", "deflate"):
                    self._stages.append(_Inflate(name))

    def feed(self, chunk: bytes) -> None:
        """Take the next chunk as received; :class:`BodyTooLarge` past the limit."""
        limit = self._limit
        self._raw += len(chunk)
        if self._raw > limit:
            raise BodyTooLarge(self._status, limit)
        self._keep(chunk, 0)

    def _keep(self, data: bytes, stage: int) -> None:
        """Pass ``data`` through the stages from ``stage`` on, and keep what comes out."""
        limit = self._limit
        if stage == len(self._stages):
            if data:
                self._size += len(data)
                if self._size > limit:  # pragma: no cover - the stages stop at the limit
                    raise BodyTooLarge(self._status, limit)
                self._parts.append(data)
            return
        inflate = self._stages[stage]
        for piece in inflate.pieces(data, limit):
            if inflate.produced > limit:
                raise BodyTooLarge(self._status, limit)
            self._keep(piece, stage + 1)

    def finish(self) -> bytes:
        """The whole decoded body."""
        for index, stage in enumerate(self._stages):
            self._keep(stage.flush(), index + 1)
        parts = self._parts
        return parts[0] if len(parts) == 1 else b"".join(parts)


def without_encoding(raw_headers: RawHeaders) -> RawHeaders:
    """The headers of a body handed on decoded: no ``Content-Encoding`` and no
    ``Content-Length`` (which counted the encoded bytes)."""
    return tuple(
        pair for pair in raw_headers if pair[0].lower() not in _HEADERS_OF_THE_ENCODED_BODY
    )


class AiohttpTransport(httpx.AsyncBaseTransport):
    """An ``httpx`` transport that sends through one ``aiohttp.ClientSession``.

    The session (and aiohttp itself, ~40 ms of import) is created on the first request,
    inside the running loop; :meth:`aclose` closes it.
    """

    def __init__(
        self,
        *,
        limits: httpx.Limits,
        trust_env: bool = True,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        self._limits = limits
        self._trust_env = trust_env
        #: The body limit of :meth:`handle_async_request` (:meth:`send` takes its own).
        self.max_response_size = max_response_size
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
        """Send ``request``; return the whole response, decoded (see the module docs for
        errors and for the body limit, ``max_response_size`` here)."""
        url = request.url
        spec = request.extensions.get("timeout") or {}
        status, reason, headers, body = await self.send(
            request.method,
            str(url),
            request.headers,
            request.content or None,  # the SDK's requests are never streamed
            self.client_timeout(spec),
            https=url.scheme == "https",
            max_size=self.max_response_size,
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
        max_size: int,
    ) -> tuple[int, bytes, RawHeaders, bytes]:
        """Send one request: ``(status, reason phrase, raw headers, whole body)``.

        The body is decoded (gzip, deflate) and at most ``max_size`` bytes, before and
        after decoding; the headers of a decoded body lose ``Content-Encoding`` and
        ``Content-Length``.

        Raises the ``httpx.TransportError`` of the module docs, :class:`BodyTooLarge`, and
        ``httpx.DecodingError`` for a compressed body that does not inflate.
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
                status = response.status
                length = response.content_length
                if length is not None and length > max_size:
                    response.close()  # not a byte of the body is read
                    raise BodyTooLarge(status, max_size)
                encoding = response.headers.get("Content-Encoding")
                raw_headers = response.raw_headers
                if encoding is None and length is not None:
                    # The common answer: aiohttp reads exactly Content-Length bytes.
                    body = await response.read()
                else:
                    body = await _read_bounded(response, encoding, max_size)
                    if encoding is not None:
                        raw_headers = without_encoding(raw_headers)
                reason = response.reason
                return (
                    status,
                    reason.encode("ascii", "replace") if reason else b"",
                    raw_headers,
                    body,
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


async def _read_bounded(
    response: aiohttp.ClientResponse, encoding: str | None, max_size: int
) -> bytes:
    """The body of ``response`` through a :class:`BodyReader`; the connection is closed
    (not reused) when the body is refused."""
    reader = BodyReader(encoding, max_size, response.status)
    stream = response.content
    try:
        while True:
            chunk = await stream.readany()
            if not chunk:
                return reader.finish()
            reader.feed(chunk)
    except (BodyTooLarge, httpx.DecodingError):
        response.close()
        raise


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

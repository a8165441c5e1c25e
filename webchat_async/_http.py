"""The HTTP transport: one ``httpx.AsyncClient``, the retry policy, error mapping and logging.

Every request of the SDK (API calls and the OAuth token request) goes through
:meth:`HttpClient.request`; nothing else sends or retries.

When a retry is safe
--------------------
A retry must never double an effect (two chat messages, two deployments), nor turn a
request that worked into an error. So:

* ``GET`` and ``PUT`` are retried on 429, 502, 503, 504 and on any transport error: they
  read, or replace a whole resource, and a second time answers as the first did.
* ``POST``, ``DELETE`` and ``PATCH`` are retried only when the request certainly did not
  take effect. A second ``POST`` would double a message; a second ``DELETE`` answers 404
  (or 400 for a guest who has left) and a second ``PATCH`` of a media request 409, so a
  retry after a success that was not seen would report a failure:

  - 429: the rate limiter rejects a request before it is processed;
  - 503, for ``DELETE`` and ``PATCH`` only: a gateway may answer 503 after the service
    acted (docs/protocol.md#unknown-503-on-a-post), so a ``POST`` is not repeated on it
    (``GuestSession.send_message`` checks the messages before sending again);
  - ``httpx.ConnectError`` / ``ConnectTimeout`` / ``PoolTimeout``: no connection was made,
    so not a byte of the request was sent.

  502, 504, read/write timeouts and a connection dropped mid-request are ambiguous (the
  service may have acted before the failure), so these methods raise at once there.

A caller that knows better passes ``idempotent=`` (the OAuth token request does: minting a
second token has no effect worth avoiding).
"""

from __future__ import annotations

import asyncio
import collections
import datetime
import logging
import math
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol
from urllib.parse import urlencode

import attrs
import httpx

from . import _convert
from ._aio import within
from ._backoff import Backoff, finite_non_negative
from ._redact import clip, clip_fields, redact
from ._transport import (
    ACCEPT_ENCODING,
    DEFAULT_MAX_RESPONSE_SIZE,
    AiohttpTransport,
    BodyReader,
    BodyTooLarge,
    RawHeaders,
    without_encoding,
)
from ._validate import _is_loopback as is_loopback
from ._validate import check_int, check_timeout
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    DecodeError,
    RateLimitError,
    ResponseTooLarge,
    SessionClosedError,
    error_for_status,
)
from .models import ErrorBody

__all__ = [
    "DEFAULT_MAX_RESPONSE_SIZE",
    "DEFAULT_TIMEOUT",
    "Answer",
    "Auth",
    "HttpClient",
    "LeanAnswer",
    "Retry",
    "parse_retry_after",
]

logger = logging.getLogger("webchat_async.http")

#: Finite by default: a request that hangs forever would hang the chat session with it.
DEFAULT_TIMEOUT = httpx.Timeout(connect=5.0, read=30.0, write=30.0, pool=10.0)

# Methods whose repetition answers as the first attempt did (see the module docstring).
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT"})
_RETRY_STATUSES = frozenset({429, 502, 503, 504})
# Answers that say the request was not processed: safe to retry whatever the method.
_NOT_PROCESSED_STATUSES = frozenset({429, 503})
# Failures before a connection existed: nothing was sent, safe to retry whatever the method.
_NOT_SENT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# Accept-Encoding on every request, an injected client's too: the encodings the body
# reader decodes with a bound (webchat_async/_transport.py, "How much is read").
_JSON_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": ACCEPT_ENCODING,
    "Content-Type": "application/json",
}
_FORM_HEADERS = {
    "Accept": "application/json",
    "Accept-Encoding": ACCEPT_ENCODING,
    "Content-Type": "application/x-www-form-urlencoded",
}
_ACCEPT_HEADERS = {"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING}


def _client_headers() -> dict[str, str]:
    """The headers of a client the SDK creates.

    The version comes from the package, read when a client is made: asking
    ``importlib.metadata`` at import time cost about 5 ms of every ``import webchat_async``
    (benchmarks/import_time.py).
    """
    from . import __version__

    return {"Accept": "application/json", "User-Agent": f"webchat-async/{__version__}"}


def _merged_headers(client: httpx.Headers, request: Mapping[str, str]) -> dict[str, str]:
    """What httpx sends: the client's headers under the request's, names compared
    without case. They hold ``Accept``, ``Accept-Encoding`` and ``User-Agent``, so aiohttp
    adds none of its own (a ``skip_auto_headers`` set cost ~2 us per request)."""
    merged = httpx.Headers(client)
    merged.update(request)
    return dict(merged.items())


#: The pool of a client the SDK creates: httpx's defaults, spelled out because the
#: request gate of :class:`HttpClient` is sized on them.
_LIMITS = httpx.Limits(max_connections=100, max_keepalive_connections=20)

# What respx (and any other patcher) replaces to mock a client: while it is the original,
# the lean path below may skip httpx's client; when it is not, requests go through httpx.
_TRANSPORT_FOR_URL = httpx.AsyncClient._transport_for_url


class Auth(Protocol):
    """What :meth:`HttpClient.request` needs from a credential."""

    async def authorization(self) -> str:
        """The ``Authorization`` header value to send now."""
        ...

    async def refresh(self, rejected: str) -> bool:
        """The service answered 401 to ``rejected``; return true if a retry may succeed."""
        ...


class _Gate:
    """At most ``size`` requests in the pool at once; the others wait their turn, in order.

    ``asyncio.Semaphore`` does the same, but its ``locked()`` builds a generator on each
    call and ``acquire()`` calls it again: ~1 us of every request, about a third of the
    SDK's own work around the transport. Entering a free gate here is a test and a
    decrement. A place given up is handed to the first waiter still waiting (never to a
    newcomer), and a waiter cancelled just after it was handed one passes it on.
    """

    __slots__ = ("_free", "_waiters")

    def __init__(self, size: int) -> None:
        self._free = size
        self._waiters: collections.deque[asyncio.Future[None]] = collections.deque()

    @property
    def free(self) -> int:
        """Places free now (for tests)."""
        return self._free

    def try_enter(self) -> bool:
        """Take a place if one is free and nobody waits; false otherwise."""
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return True
        return False

    async def enter(self, timeout: float | None) -> None:
        """Wait for a place, at most ``timeout`` seconds (``asyncio.TimeoutError``)."""
        if self.try_enter():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            await within(timeout, waiter)
        except BaseException:  # a timeout or a cancellation of the caller
            if waiter.done() and not waiter.cancelled():
                self.leave()  # the place came at the same time: hand it on
            elif waiter in self._waiters:
                self._waiters.remove(waiter)
            raise

    def leave(self) -> None:
        """Give a place back: to the first waiter still waiting, else to the pool."""
        waiters = self._waiters
        while waiters:
            waiter = waiters.popleft()
            if not waiter.done():  # a waiter whose wait ended is skipped
                waiter.set_result(None)
                return
        self._free += 1


class Answer(Protocol):
    """What :meth:`HttpClient.request` returns: the 2xx answer, read whole.

    An ``httpx.Response`` when the request went through httpx (an injected or a mocked
    client), the lean path's own :class:`LeanAnswer` otherwise; callers read no more.
    """

    @property
    def status_code(self) -> int:
        """The HTTP status (2xx)."""
        ...

    @property
    def content(self) -> bytes:
        """The whole body."""
        ...


class LeanAnswer:
    """An answer of the lean path, as aiohttp read it.

    Building an ``httpx.Response`` (headers parsed into ``httpx.Headers``, the body
    wrapped in a stream and read back) was ~10 us of a call that costs the bare transport
    ~160 us (benchmarks/rest_load.py, one chat): a success needs only the body, so one is
    built only for a failure (:meth:`response`), and errors are mapped from it by the one
    function that maps them, :func:`error_from_response`.
    """

    __slots__ = ("content", "raw_headers", "reason", "status_code")

    def __init__(
        self, status_code: int, reason: bytes, raw_headers: RawHeaders, content: bytes
    ) -> None:
        self.status_code = status_code
        self.reason = reason
        self.raw_headers = raw_headers
        self.content = content

    def response(self) -> httpx.Response:
        """The answer as an ``httpx.Response``."""
        return httpx.Response(
            self.status_code,
            headers=self.raw_headers,
            content=self.content,
            extensions={"http_version": b"HTTP/1.1", "reason_phrase": self.reason},
        )


@attrs.frozen
class Retry(Backoff):
    """The HTTP retry schedule: a :class:`~webchat_async.Backoff` (the one backoff type)
    whose first two fields keep the names ``backoff_factor`` (``initial``) and
    ``backoff_max`` (``maximum``) as keywords, and which honours ``Retry-After``.

    Retry ``n`` waits ``min(backoff_max, backoff_factor * 2**(n-1))``, of which a random
    ``jitter`` fraction is taken off. A ``Retry-After`` header on a 429 or 503 replaces the
    schedule, capped at ``max_retry_after`` seconds.

    Tests inject ``sleep`` (to record delays instead of waiting) and ``random``:

    ```python
    Retry(backoff_factor=0, sleep=recorder)
    ```
    """

    initial: float = attrs.field(default=0.5, alias="backoff_factor", validator=finite_non_negative)
    maximum: float = attrs.field(default=8.0, alias="backoff_max", validator=finite_non_negative)
    max_retry_after: float = attrs.field(default=60.0, kw_only=True, validator=finite_non_negative)
    #: Retry a refused connection to this machine (``localhost``, 127.0.0.0/8, ``::1``) as
    #: any other failure before sending. Off by default: nothing listens on that port (a
    #: wrong port, a server not started), so the error comes at once instead of after the
    #: retries. Turn it on for a local server that may be restarting.
    retry_refused_loopback: bool = attrs.field(default=False, kw_only=True)
    sleep: Callable[[float], Awaitable[None]] = attrs.field(
        default=asyncio.sleep, repr=False, kw_only=True
    )

    def delay(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        if retry_after is not None:
            return min(retry_after, self.max_retry_after)
        return super().delay(retry)


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` in seconds: a number of seconds (the service's form) or an HTTP date."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            import email.utils  # only for the rare HTTP-date form: ~2.5 ms at import

            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=datetime.timezone.utc)
        seconds = (when - datetime.datetime.now(datetime.timezone.utc)).total_seconds()
    if not math.isfinite(seconds):
        return None
    return max(0.0, seconds)


class HttpClient:
    """Sends requests through one ``httpx.AsyncClient`` with retries and error mapping.

    Cheap to :meth:`derive`: derived instances share the pool but not its ownership, so
    closing one of them never closes the pool under the others.

    An answer's body is read up to ``max_response_size`` bytes, before and after
    decompression, on either path (the SDK's own client or an injected one); past it the
    request raises :class:`~webchat_async.errors.ResponseTooLarge` and is not retried.
    """

    __slots__ = (
        "_client",
        "_closed",
        "_gate",
        "_lean",
        "_lean_headers",
        "_owns_client",
        "max_response_size",
        "max_retries",
        "retry",
        "timeout",
    )

    def __init__(
        self,
        client: httpx.AsyncClient | None = None,
        *,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int = 3,
        retry: Retry | None = None,
        max_response_size: int = DEFAULT_MAX_RESPONSE_SIZE,
    ) -> None:
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError("max_retries must be an int >= 0")
        self.max_response_size = check_int(max_response_size, "max_response_size", minimum=1)
        if client is not None and timeout is None:
            # An injected client's own timeout is the caller's choice; keep it.
            self.timeout = client.timeout
        else:
            self.timeout = check_timeout(timeout, DEFAULT_TIMEOUT)
        self.max_retries = max_retries
        self.retry = retry if retry is not None else Retry()
        self._owns_client = client is None
        self._gate: _Gate | None = None
        self._lean: AiohttpTransport | None = None
        self._lean_headers: dict[int, dict[str, str]] = {}
        if client is None:
            # TLS verification stays on and redirects are not followed: a redirect is
            # never needed by this API, and following one could carry a token elsewhere.
            # Creating the client opens no socket.
            # trust_env=False: the transport reads the proxy variables itself; httpx would
            # mount httpcore transports for them.
            self._lean = AiohttpTransport(limits=_LIMITS, max_response_size=max_response_size)
            client = httpx.AsyncClient(
                timeout=self.timeout,
                follow_redirects=False,
                headers=_client_headers(),
                limits=_LIMITS,
                transport=self._lean,
                trust_env=False,
            )
            self._lean_headers = {
                id(base): _merged_headers(client.headers, base)
                for base in (_JSON_HEADERS, _FORM_HEADERS, _ACCEPT_HEADERS)
            }
            # httpcore's pool matches every waiting request against every connection
            # each time one frees up: with a thousand sessions on one client that is
            # quadratic and takes most of the CPU (benchmarks/many_sessions.py). Requests
            # beyond the pool's size wait here instead, in O(1); no more than
            # max_connections run at once either way. (An injected client's limits are
            # unknown here: it is not gated.)
            self._gate = _Gate(_LIMITS.max_connections or 100)
        self._client = client
        self._closed = False

    def derive(
        self,
        *,
        timeout: httpx.Timeout | float | None = None,
        max_retries: int | None = None,
        retry: Retry | None = None,
        max_response_size: int | None = None,
    ) -> HttpClient:
        """A new instance on the same pool (which it does not own)."""
        derived = HttpClient(
            self._client,
            timeout=timeout,
            max_retries=self.max_retries if max_retries is None else max_retries,
            retry=retry if retry is not None else self.retry,
            max_response_size=(
                self.max_response_size if max_response_size is None else max_response_size
            ),
        )
        if timeout is None:
            # Inherited as it is: it was checked (or is the injected client's own choice).
            derived.timeout = self.timeout
        derived._owns_client = False
        derived._gate = self._gate
        derived._lean = self._lean
        derived._lean_headers = self._lean_headers
        return derived

    @property
    def is_closed(self) -> bool:
        """Whether this instance, or the pool it uses, is closed."""
        return self._closed or self._client.is_closed

    async def aclose(self) -> None:
        """Close; the pool too if this instance created it."""
        self._closed = True
        if self._owns_client:
            await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        path: str,
        params: Mapping[str, str] | None = None,
        json_body: Any = None,
        form: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: Auth | None = None,
        idempotent: bool | None = None,
        raw_body: bytes | None = None,
    ) -> Answer:
        """Send a request, retrying where safe; return the 2xx answer or raise.

        ``path`` names the request in logs and errors (it carries no query string).
        ``raw_body`` is sent as it is (an attachment's bytes; ``headers`` give its type).

        Raises:
            ApiError: a non-2xx answer (the subclass chosen by status).
            ApiConnectionError, ApiTimeoutError: the transport failed.
            ResponseTooLarge: the answer's body is over ``max_response_size``.
            DecodeError: a compressed body does not inflate.
            SessionClosedError: the client is closed.
        """
        if self.is_closed:
            raise SessionClosedError("the client is closed")
        retry_any = method in _IDEMPOTENT_METHODS if idempotent is None else idempotent
        content: bytes | None = None
        if json_body is not None:
            # Encoded once, outside the loop: a retry sends the very same bytes.
            content = _convert.dump_json_bytes(json_body)
            base_headers = _JSON_HEADERS
        elif form is not None:
            content = urlencode(form).encode()
            base_headers = _FORM_HEADERS
        elif raw_body is not None:
            content = bytes(raw_body)
            base_headers = _ACCEPT_HEADERS
        else:
            base_headers = _ACCEPT_HEADERS
        lean = self._lean
        if lean is not None and type(self._client)._transport_for_url is not _TRANSPORT_FOR_URL:
            lean = None  # the client is mocked (respx): go through httpx
        if lean is not None:
            # What httpx would merge in: the client's headers under the request's (merged
            # once per header set: reading httpx.Headers costs a few us per request).
            send_headers = dict(self._lean_headers[id(base_headers)])
            if params:
                url = f"{url}?{urlencode(params)}"
        else:
            send_headers = dict(base_headers)
        if headers:
            send_headers.update(headers)

        retries = 0
        refreshed = False
        while True:
            sent_auth = ""
            if auth is not None:
                sent_auth = await auth.authorization()
                send_headers["Authorization"] = sent_auth
            started = time.perf_counter()
            answer: LeanAnswer | httpx.Response
            try:
                if lean is not None:
                    answer = await self._send_lean(lean, method, url, send_headers, content)
                else:
                    request = self._client.build_request(
                        method,
                        url,
                        params=params,
                        content=content,
                        headers=send_headers,
                        timeout=self.timeout,
                    )
                    answer = await self._send(request)
            except httpx.TransportError as exc:
                # The lean path builds no httpx.Request: its URL is taken from the base.
                target = request.url if lean is None else self._client.base_url.join(url)
                refused = not self.retry.retry_refused_loopback and _refused_on_loopback(
                    exc, target
                )
                if (
                    retries < self.max_retries
                    and (retry_any or isinstance(exc, _NOT_SENT_ERRORS))
                    and not refused
                ):
                    retries += 1
                    await self._pause(method, path, type(exc).__name__, retries, None)
                    continue
                _log_failure(method, path, type(exc).__name__, started)
                raise _transport_error(exc, method, path, target, self.timeout, refused) from exc
            except BodyTooLarge as exc:
                # Not retried: the same request would bring the same body.
                _log_failure(method, path, "a body over the limit", started)
                target = request.url if lean is None else self._client.base_url.join(url)
                raise _too_large(exc, method, path, target) from None
            except httpx.DecodingError as exc:
                _log_failure(method, path, "a body that does not decode", started)
                raise DecodeError(f"{method} {redact(path)}: {exc}") from None

            status = answer.status_code
            if 200 <= status < 300:
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug(
                        "%s %s -> %d (%.1f ms, attempt %d)",
                        method,
                        redact(path),
                        status,
                        (time.perf_counter() - started) * 1000,
                        retries + 1,
                    )
                return answer
            response = answer.response() if isinstance(answer, LeanAnswer) else answer
            if status == 401 and auth is not None and not refreshed:
                # One refresh and one retry: a second 401 means the credentials are bad. A
                # 401 is answered before the request is processed, so a POST may go again.
                refreshed = True
                if await auth.refresh(sent_auth):
                    if logger.isEnabledFor(logging.DEBUG):
                        logger.debug(
                            "%s %s -> 401; retrying with a new token", method, redact(path)
                        )
                    continue
            if (
                status in _RETRY_STATUSES
                and retries < self.max_retries
                and (retry_any or status in _NOT_PROCESSED_STATUSES)
                and not (status == 503 and method == "POST" and not retry_any)
            ):
                retries += 1
                after = parse_retry_after(response.headers.get("retry-after"))
                await self._pause(method, path, str(status), retries, after)
                continue
            _log_failure(method, path, str(status), started)
            raise error_from_response(response, method, path)

    async def _send(self, request: httpx.Request) -> httpx.Response:
        gate = self._gate
        if gate is None:
            return await self._send_bounded(request)
        if not gate.try_enter():
            await self._wait_at(gate)
        try:
            return await self._send_bounded(request)
        finally:
            gate.leave()

    async def _send_bounded(self, request: httpx.Request) -> httpx.Response:
        """Send through httpx; read the body as the lean path does (bounded, decoded).

        httpx's own reading would take a body whole, and inflate a compressed chunk
        whole (a 64 KiB gzip chunk can be 64 MiB).
        """
        limit = self.max_response_size
        response = await self._client.send(request, stream=True)
        try:
            status = response.status_code
            if response.is_stream_consumed:  # read already (a mock): only the size to check
                if len(response.content) > limit:
                    raise BodyTooLarge(status, limit)
                return response
            length = response.headers.get("content-length")
            if length is not None and length.isdigit() and int(length) > limit:
                raise BodyTooLarge(status, limit)
            encoding = response.headers.get("content-encoding")
            reader = BodyReader(encoding, limit, status)
            async for chunk in response.aiter_raw():
                reader.feed(chunk)
            raw = response.headers.raw
            return httpx.Response(
                status,
                headers=raw if encoding is None else without_encoding(tuple(raw)),
                content=reader.finish(),
                request=request,
                extensions=response.extensions,
            )
        finally:
            await response.aclose()

    async def _wait_at(self, gate: _Gate) -> None:
        """Wait for a place in the pool; the pool timeout bounds the whole wait.

        In the caller's task (``_aio.within``): ``asyncio.wait_for`` before 3.12 ran each
        wait in a task of its own, one per request beyond the pool's hundred
        (benchmarks/rest_load.py, 1,000 chats).
        """
        try:
            await gate.enter(self.timeout.pool)
        except asyncio.TimeoutError:
            raise httpx.PoolTimeout("timed out waiting for a connection") from None

    async def _send_lean(
        self,
        lean: AiohttpTransport,
        method: str,
        url: str,
        headers: dict[str, str],
        content: bytes | None,
    ) -> LeanAnswer:
        """The client the SDK created, without httpx's client layer.

        httpx's request building (URL parsing, header merging), its auth/redirect/cookie
        loop and its response streaming were about half of the client CPU of a message
        (benchmarks/rest_load.py); none of them does anything for this client (no auth
        flow, no redirects, aiohttp keeps the cookies). A compressed answer is decoded by
        the transport, with the body limit (webchat_async/_transport.py).
        """
        gate = self._gate
        if gate is not None and not gate.try_enter():
            await self._wait_at(gate)
        try:
            status, reason, raw_headers, body = await lean.send(
                method,
                url,
                headers,
                content,
                lean.client_timeout(self.timeout),
                https=url.startswith("https:"),
                max_size=self.max_response_size,
            )
        finally:
            if gate is not None:
                gate.leave()
        return LeanAnswer(status, reason, raw_headers, body)

    async def _pause(
        self, method: str, path: str, reason: str, retry: int, retry_after: float | None
    ) -> None:
        delay = self.retry.delay(retry, retry_after)
        if logger.isEnabledFor(logging.INFO):
            logger.info(
                "%s %s -> %s; retry %d of %d in %.2f s",
                method,
                redact(path),
                reason,
                retry,
                self.max_retries,
                delay,
            )
        await self.retry.sleep(delay)


def _log_failure(method: str, path: str, reason: str, started: float) -> None:
    if logger.isEnabledFor(logging.DEBUG):
        elapsed = (time.perf_counter() - started) * 1000
        logger.debug("%s %s -> %s (%.1f ms); giving up", method, redact(path), reason, elapsed)


# What each httpx timeout means to a person, and which phase of httpx.Timeout it is.
_TIMEOUT_PHASES: dict[type[httpx.TimeoutException], tuple[str, str]] = {
    httpx.ConnectTimeout: ("connect", "no connection to {where}"),
    httpx.ReadTimeout: ("read", "no response from {where}"),
    httpx.WriteTimeout: ("write", "could not send the request to {where}"),
    httpx.PoolTimeout: ("pool", "no free connection to {where} (too many requests at once)"),
}


def transport_error_text(
    method: str,
    path: str,
    *,
    host: str,
    port: int,
    failure: str,
    detail: str = "",
    timeout_phase: str | None = None,
    timeout: float | None = None,
) -> str:
    """The text of a transport error: the request, where it went, and what to look at.

    ``failure`` is a sentence fragment with ``{where}`` for ``host:port``; a timeout names
    its phase and its value, so the reader knows which setting to change. ``path`` carries
    no query string, and the result is redacted, so no secret reaches the text.
    """
    where = f"{host}:{port}"
    text = f"{method} {path}: {failure.format(where=where)}"
    if timeout_phase is not None:
        within = "" if timeout is None else f" within {timeout:g} s"
        text += f"{within} ({timeout_phase} timeout)"
    if detail:
        text += f" ({detail})"
    return clip(text)


def _refused_on_loopback(exc: BaseException, url: httpx.URL) -> bool:
    """Whether ``exc`` is a refused connection to this machine: nothing listens on that port
    (a wrong port, the simulator not started), which waiting does not change, so the
    retries would only delay the error by seconds."""
    if not isinstance(exc, httpx.ConnectError) or not is_loopback(url.host):
        return False
    cause: BaseException | None = exc
    for _ in range(8):  # the chain is short (httpx <- aiohttp <- OSError); bound it anyway
        if cause is None:
            return False
        if isinstance(cause, ConnectionRefusedError):
            return True
        cause = cause.__cause__ or cause.__context__
    return False


def _transport_error(
    exc: httpx.TransportError,
    method: str,
    path: str,
    url: httpx.URL,
    timeout: httpx.Timeout,
    refused: bool = False,
) -> ApiConnectionError:
    port = url.port or (443 if url.scheme == "https" else 80)
    host = url.host
    for kind, (phase, failure) in _TIMEOUT_PHASES.items():
        if isinstance(exc, kind):
            return ApiTimeoutError(
                transport_error_text(
                    method,
                    path,
                    host=host,
                    port=port,
                    failure=failure,
                    timeout_phase=phase,
                    timeout=getattr(timeout, phase),
                )
            )
    detail = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if isinstance(exc, httpx.TimeoutException):  # a timeout kind httpx may add later
        return ApiTimeoutError(
            transport_error_text(
                method, path, host=host, port=port, failure="timed out at {where}", detail=detail
            )
        )
    failure = (
        "cannot connect to {where}: nothing listens there (connection refused; is the "
        "port right, is the server started?)"
        if refused
        else "cannot connect to {where}"
        if isinstance(exc, httpx.ConnectError)
        else "request to {where} failed"
    )
    return ApiConnectionError(
        transport_error_text(method, path, host=host, port=port, failure=failure, detail=detail)
    )


def _too_large(exc: BodyTooLarge, method: str, path: str, url: httpx.URL) -> ResponseTooLarge:
    port = url.port or (443 if url.scheme == "https" else 80)
    failure = (
        f"the answer from {{where}} (HTTP {exc.status}) is over max_response_size "
        f"({exc.limit:,} bytes, as received or once decompressed); it was not read further"
    )
    return ResponseTooLarge(
        transport_error_text(method, path, host=url.host, port=port, failure=failure),
        limit=exc.limit,
        status=exc.status,
        method=method,
        path=redact(path),
    )


def _scrub(body: ErrorBody) -> ErrorBody:
    """The error body with every text redacted (servers echo request data) and cut to
    ``TEXT_LIMIT`` characters (an exception keeps its body)."""
    return clip_fields(body)


def error_from_response(response: httpx.Response, method: str, path: str) -> ApiError:
    """Map a non-2xx response to the :class:`ApiError` subclass for its status.

    A body that is not an ``ErrorBody`` (an HTML page from a proxy, an OAuth error) still
    gives a clean error; the raw body text is never put in the message.
    """
    status = response.status_code
    body: ErrorBody | None = None
    code: str | None = None
    message: str | None = None
    data: Any = None
    if response.content:
        try:
            data = _convert.parse_json(response.content)
        except ValueError:
            data = None
    if isinstance(data, dict):
        try:
            body = _scrub(_convert.structure(data, ErrorBody))
        except DecodeError:  # an object, but not an ErrorBody (fields of other types)
            body = None
        if body is not None:
            code, message = body.code, body.message
        # The OAuth token endpoint answers {"error": ..., "error_description": ...}.
        if code is None and isinstance(data.get("error"), str):
            code = data["error"]
            description = data.get("error_description")
            if isinstance(description, str) and message is None:
                message = clip(description)
    if not message:
        message = f"HTTP {status} {response.reason_phrase}".rstrip()
    fields: dict[str, Any] = {
        "code": code,
        "message": message,
        "context_id": body.context_id if body is not None else None,
        "request_id": response.headers.get("inin-correlation-id"),
        "body": body,
        "method": method,
        "path": redact(path),
    }
    cls = error_for_status(status)
    if issubclass(cls, RateLimitError):
        return cls(
            status, retry_after=parse_retry_after(response.headers.get("retry-after")), **fields
        )
    return cls(status, **fields)

"""The Web Messaging driver's I/O pieces: where the service is, the websocket, and the
history and upload requests. No protocol rule lives here (they are in the core)."""

from __future__ import annotations

import asyncio
import logging
from typing import Literal
from urllib.parse import quote, urlencode, urlsplit

import attrs
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, InvalidURI, WebSocketException

from .._http import HttpClient
from .._redact import RedactingFilter, redact
from .._validate import _is_loopback, check_base_url, check_no_controls
from .._websocket import Connection
from ..auth import BearerAuth
from ..errors import (
    ApiConnectionError,
    ApiError,
    DecodeError,
    PermissionDeniedError,
    StreamError,
    WebChatError,
)
from ..regions import resolve_region
from ._outputs import FetchHistory, HistoryPage
from ._wire import decode_page

__all__ = ["Hosts", "Refused", "SocketFailed", "fetch_page", "open_socket", "upload"]

logger = logging.getLogger("webchat_async.messaging")

#: Frames longer than this (bytes) are refused by the websocket library from their header,
#: before their payload is read (the core's decoder refuses over 1 Mi characters).
MAX_FRAME_BYTES = 1024 * 1024

#: Frames the websocket library buffers unread before it stops reading the socket.
MAX_QUEUE = 16

_HISTORY_PATH = "/api/v2/webmessaging/messages"

# The logger handed to websockets. At DEBUG it writes every frame, and every client frame
# carries the session token: those records are dropped, the others redacted.
_ws_logger = logging.getLogger("webchat_async.messaging.websocket")


class _NoFrames(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno > logging.DEBUG


_ws_logger.addFilter(_NoFrames())
_ws_logger.addFilter(RedactingFilter())


@attrs.frozen
class Hosts:
    """Where one deployment's Web Messaging service is (docs/messaging-protocol.md#hosts)."""

    socket_url: str
    history_url: str
    config_url: str
    #: ``http://`` to a host other than loopback was allowed (``allow_insecure_http``).
    insecure_ok: bool

    @classmethod
    def build(
        cls,
        deployment_id: str,
        *,
        region: str | None,
        base_url: str | None,
        application: str,
        allow_insecure_http: bool,
    ) -> Hosts:
        """The URLs for ``region`` (a code or domain) or a custom ``base_url``
        (``http://127.0.0.1:PORT``: one server serves all three)."""
        check_no_controls(deployment_id, "deployment_id")
        if not deployment_id:
            raise ValueError("deployment_id must be a non-empty string")
        query = urlencode({"deploymentId": deployment_id, "application": application})
        deployment = quote(deployment_id, safe="")
        if base_url is not None:
            base = check_base_url(base_url, "base_url", allow_insecure_http=allow_insecure_http)
            scheme, rest = base.split("://", 1)
            ws_scheme = "wss" if scheme == "https" else "ws"
            return cls(
                f"{ws_scheme}://{rest}/v1?{query}",
                base + _HISTORY_PATH,
                f"{base}/webdeployments/v1/deployments/{deployment}/config.json",
                allow_insecure_http,
            )
        found = resolve_region(region if region is not None else "us-east-1")
        return cls(
            f"{found.webmessaging_base}/v1?{query}",
            found.api_base + _HISTORY_PATH,
            f"https://api-cdn.{found.domain}/webdeployments/v1/deployments/{deployment}/config.json",
            allow_insecure_http,
        )


class SocketFailed(Exception):
    """A socket could not be opened; worth another attempt."""


class Refused(Exception):
    """The handshake was refused for good (HTTP 403: wrong deployment, origin not allowed)."""

    def __init__(self, error: WebChatError) -> None:
        super().__init__(str(error))
        self.error = error


async def open_socket(
    url: str,
    *,
    origin: str,
    open_timeout: float,
    ping_interval: float,
    ping_timeout: float,
    proxy: str | Literal[True] | None,
) -> ClientConnection:
    """One websocket to the service, with the ``Origin`` header and bounded frames.

    Raises :class:`Refused` for a final refusal, :class:`SocketFailed` otherwise.
    """
    try:
        ws = await connect(
            url,
            additional_headers={"Origin": origin},
            # Frames are small JSON; per-message deflate would cost memory per socket and
            # let a small frame inflate.
            compression=None,
            max_size=MAX_FRAME_BYTES,
            max_queue=MAX_QUEUE,
            # The websocket ping of the protocol notes (the mobile SDK pings every 15 s);
            # the core's echo is the protocol-level keepalive beside it.
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            open_timeout=open_timeout,
            close_timeout=2.0,
            proxy=proxy,
            logger=_ws_logger,
            create_connection=Connection,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        message = f"Web Messaging handshake refused with HTTP {status}"
        if status == 403:
            raise Refused(PermissionDeniedError(403, message=message)) from None
        if 400 <= status < 500 and status not in (408, 429):
            raise Refused(StreamError(message)) from None
        raise SocketFailed(message) from None
    except InvalidURI:
        raise Refused(StreamError("the Web Messaging URL is not a valid websocket URI")) from None
    except (OSError, asyncio.TimeoutError, WebSocketException) as exc:
        raise SocketFailed(redact(f"{type(exc).__name__}: {exc}")) from None
    # The handshake's headers are never read again (issue 11: bytes per idle session).
    ws.request = None
    if ws.response is not None:
        ws.response.headers.clear()
    return ws


async def fetch_page(
    http: HttpClient, url: str, origin: str, request: FetchHistory
) -> HistoryPage | None:
    """One history page, newest first; ``None`` when it could not be read (the core retries)."""
    try:
        answer = await http.request(
            "GET",
            url,
            path=_HISTORY_PATH,
            params={"pageNumber": str(request.page_number), "pageSize": str(request.page_size)},
            headers={"Origin": origin},
            auth=BearerAuth(request.jwt, name="jwt"),
        )
    except (ApiError, ApiConnectionError, DecodeError, ValueError) as exc:
        logger.info("history page %d failed: %r", request.page_number, exc)
        return None
    page = decode_page(answer.content)
    if page is None:
        logger.info("history page %d is not a page", request.page_number)
    elif page.skipped:
        logger.warning("history page %d: %d entries did not decode", page.page_number, page.skipped)
    return page


def upload_url_ok(url: str, insecure_ok: bool) -> bool:
    """A presigned URL the bytes may go to: ``https``, or ``http`` to loopback (the
    simulator) or where ``allow_insecure_http`` allowed it."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if not parts.hostname or parts.username or parts.password:
        return False
    if parts.scheme == "https":
        return True
    return parts.scheme == "http" and (insecure_ok or _is_loopback(parts.hostname))


async def upload(
    http: HttpClient, url: str, headers: dict[str, str], data: bytes, insecure_ok: bool
) -> bool:
    """``PUT`` an attachment's bytes to its presigned URL with its headers; ``True`` on 2xx."""
    if not upload_url_ok(url, insecure_ok):
        logger.warning("attachment upload refused: the presigned URL is not https")
        return False
    try:
        await http.request(
            "PUT", url, path="(presigned upload)", headers=headers, raw_body=data, idempotent=True
        )
    except (ApiError, ApiConnectionError, DecodeError, ValueError) as exc:
        logger.info("attachment upload failed: %s", type(exc).__name__)
        return False
    return True

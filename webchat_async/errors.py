"""Exceptions raised by webchat-async.

Every exception the SDK raises on purpose derives from :class:`WebChatError`. HTTP errors
are :class:`ApiError` subclasses chosen by status; transport failures are
:class:`ApiConnectionError` / :class:`ApiTimeoutError`. No exception text ever contains a
guest JWT, an access token, a client secret or the event stream URI.

For example:

```python
try:
    await api.get_webchat_deployment("nope")
except NotFoundError as exc:
    print(exc.status, exc.code, exc.context_id)
```

"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._redact import clip

if TYPE_CHECKING:
    from .models import ErrorBody

__all__ = [
    "WebChatError",
    "ApiError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "ConflictError",
    "RateLimitError",
    "ServerError",
    "ApiConnectionError",
    "ApiTimeoutError",
    "DecodeError",
    "StreamError",
    "HandshakeRefused",
    "SessionClosedError",
    "error_for_status",
    "ResponseTooLarge",
    "InvalidValueError",
]


class WebChatError(Exception):
    """Base class of every error raised by webchat-async."""


class ApiError(WebChatError):
    """The service answered with a non-2xx status.

    Attributes:
        status: the HTTP status code.
        code: the ``code`` of the error body (``"not.found"``), or ``None``.
        message: the human message of the error body, or a generic one.
        context_id: the ``contextId`` Genesys support asks for, or ``None``.
        request_id: the ``inin-correlation-id`` response header, or ``None``.
        body: the parsed :class:`~webchat_async.models.ErrorBody`, or ``None`` when the
            body was not JSON.
        method, path: the request that failed (the path carries no query string).

    The texts that come from the server (``code``, ``message``, ``context_id``,
    ``request_id``) are redacted and cut to :data:`~webchat_async._redact.TEXT_LIMIT`
    (2,000) characters each, the length of what was cut noted.
    """

    def __init__(
        self,
        status: int,
        *,
        code: str | None = None,
        message: str | None = None,
        context_id: str | None = None,
        request_id: str | None = None,
        body: ErrorBody | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        self.status = status
        self.code = _clip(code)
        self.message = clip(message) if message else f"HTTP {status}"
        self.context_id = _clip(context_id)
        self.request_id = _clip(request_id)
        self.body = body
        self.method = method
        self.path = path
        super().__init__(self._text())

    def _text(self) -> str:
        where = f"{self.method} {self.path}: " if self.method and self.path else ""
        text = f"{where}{self.status}"
        if self.code:
            text += f" {self.code}"
        text += f": {self.message}"
        if self.context_id:
            text += f" (contextId {self.context_id})"
        return text

    def __repr__(self) -> str:
        name = type(self).__name__
        return f"{name}(status={self.status}, code={self.code!r}, context_id={self.context_id!r})"


def _clip(text: str | None) -> str | None:
    return None if text is None else clip(text)


class BadRequestError(ApiError):
    """400: the request was invalid (see ``body.details`` for the field)."""


class AuthenticationError(ApiError):
    """401: missing, wrong or expired credentials (guest JWT or OAuth token).

    Also raised when the event stream handshake is refused with 401; reconnecting is
    pointless then, so the session stops.
    """


class PermissionDeniedError(ApiError):
    """403: the credentials are valid but not for this resource."""


class NotFoundError(ApiError):
    """404: the conversation, member, message, deployment or media request does not exist."""


class ConflictError(ApiError):
    """409: the state change is not allowed (for example a media request already answered)."""


class RateLimitError(ApiError):
    """429: too many requests. ``retry_after`` is the server's ``Retry-After`` in seconds."""

    def __init__(
        self, status: int = 429, *, retry_after: float | None = None, **kwargs: object
    ) -> None:
        self.retry_after = retry_after
        super().__init__(status, **kwargs)  # type: ignore[arg-type]


class ServerError(ApiError):
    """5xx: the service failed."""


class ApiConnectionError(WebChatError):
    """The request could not be sent or no response came (DNS, refused, reset)."""


class ApiTimeoutError(ApiConnectionError):
    """The request timed out."""


class DecodeError(WebChatError, ValueError):
    """A response body or a stream frame could not be decoded into the expected model."""


class StreamError(WebChatError):
    """The event stream failed for good (reconnect gave up, or the handshake was refused)."""


class HandshakeRefused(StreamError):
    """The handshake was refused with a final 4xx status other than 401/403.

    The service answers 400 (``chat.error.conversation.state``) once the conversation has
    ended for the guest, and 404 for one it does not know.
    """

    def __init__(self, status: int) -> None:
        super().__init__(f"event stream handshake refused with HTTP {status}")
        self.status = status


class SessionClosedError(WebChatError):
    """The session (or client) is closed, or the conversation has ended for the guest."""


class ResponseTooLarge(ApiConnectionError):
    """An answer's body was over the size limit (``max_response_size`` of
    :class:`~webchat_async.api.WebChatApi`, 16 MiB by default), measured after
    decompression: it was not read further, and the request is not retried.

    A connection error, because no usable answer came; as after a read timeout, the
    request may have taken effect.

    Attributes:
        limit: the limit in bytes.
        status: the HTTP status of the answer.
        method, path: the request (the path carries no query string).
    """

    def __init__(self, text: str, *, limit: int, status: int, method: str, path: str) -> None:
        super().__init__(text)
        self.limit = limit
        self.status = status
        self.method = method
        self.path = path


class InvalidValueError(WebChatError, ValueError):
    """An id, a token, a secret or a URL holds a character it must not: a control
    character (CR, LF, NUL...) could end an HTTP header and start another, and a token is
    printable ASCII. Raised where the value is given; the text names the parameter and
    the character, never the value (it may be a secret).

    Attributes:
        name: the parameter (``"guest_token"``, ``"conversation_id"``, ...).
    """

    def __init__(self, text: str, *, name: str) -> None:
        super().__init__(text)
        self.name = name


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    429: RateLimitError,
}


def error_for_status(status: int) -> type[ApiError]:
    """The :class:`ApiError` subclass for an HTTP status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    if status >= 500:
        return ServerError
    return ApiError


# -- Web Messaging (docs/messaging-protocol.md#errors) -------------------------------------


class MessagingError(WebChatError):
    """The Web Messaging service refused a request or ended the session.

    Attributes:
        code: the service's code (``409``, ``4006``, ``4011``, ...), or ``None`` when the
            refusal came without one.
    """

    def __init__(self, message: str, *, code: int | None = None) -> None:
        super().__init__(message if code is None else f"{message} (code {code})")
        self.code = code


class SessionReadOnlyError(MessagingError, SessionClosedError):
    """409: the conversation has ended; the session can read its history but not send."""


class SessionExpiredError(MessagingError, SessionClosedError):
    """4006 (or ``SessionExpiredEvent``): the session expired; its transcript is reset."""


class SessionNotFoundError(MessagingError, SessionClosedError):
    """4007: the service does not know the session."""


class MessageTooLongError(MessagingError):
    """4011: the message is longer than the service accepts (it was not stored)."""


class CustomAttributesTooLargeError(MessagingError):
    """4013: the custom attributes exceed the deployment's limit (2,048 bytes by default)."""


class MessageRateLimitError(MessagingError):
    """4029: the rate limit refused the message and no retry could send it in time."""

    def __init__(
        self, message: str, *, code: int | None = 4029, retry_after: float | None = None
    ) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after


class AttachmentError(MessagingError):
    """An attachment was refused: its type, size or extension before any upload (``code``
    ``None``), or by the service (4001-4010, an upload failure)."""


__all__ += [
    "MessagingError",
    "SessionReadOnlyError",
    "SessionExpiredError",
    "SessionNotFoundError",
    "MessageTooLongError",
    "CustomAttributesTooLargeError",
    "MessageRateLimitError",
    "AttachmentError",
]


# -- Fan-out of a session's events (webchat_async/_fanout.py) ------------------------------


class ConcurrentIterationError(WebChatError, RuntimeError):
    """A second consumer read a session's ``events()`` while another was reading it; give
    every consumer but one its own copy with ``session.subscribe()``."""


class SubscriberLagError(WebChatError):
    """A subscriber (or ``events()`` beside subscribers) fell more events behind the newest
    than its limit and was detached: the events it missed are not delivered to it.

    Attributes:
        behind: how many events it was behind when detached.
    """

    def __init__(self, message: str, *, behind: int) -> None:
        super().__init__(message)
        self.behind = behind


class SessionInUseError(WebChatError):
    """The conversation is already live: in this :class:`~webchat_async.service.
    SessionRegistry`, or (its lease held) in another process. Resuming it again would
    attach a second socket to the same guest (docs/service.md#the-same-saved-session-twice)."""


__all__ += ["ConcurrentIterationError", "SubscriberLagError", "SessionInUseError"]

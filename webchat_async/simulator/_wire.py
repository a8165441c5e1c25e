"""Request parsing and error answers shared by the simulator's routes.

A handler raises :class:`Failure`; the middleware turns it into an ``ErrorBody`` answer
(with the request's ``contextId``) the way the service does.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from aiohttp import web

from .._convert import dump_json, parse_json, structure, unstructure
from ..errors import DecodeError
from ..models import Detail, ErrorBody

__all__ = [
    "Failure",
    "basic_auth",
    "bearer",
    "bool_query",
    "form_str",
    "int_query",
    "invalid",
    "json_response",
    "read_body",
    "state_error",
    "str_query",
]

T = TypeVar("T")

_DEFAULT_MESSAGES = {
    400: "The request could not be understood by the server due to malformed syntax.",
    401: "No authentication bearer token specified in authorization header.",
    403: "You are not authorized to perform the requested action.",
    404: "The requested resource was not found.",
    405: "The requested method is not allowed on this resource.",
    409: "The request conflicts with the current state of the resource.",
    429: "Rate limit exceeded the maximum.",
    500: "The server encountered an unexpected condition.",
    502: "The server received an invalid response from an upstream server.",
    503: "Service Unavailable - The server is currently unavailable (because it is "
    "overloaded or down for maintenance).",
    504: "The request timed out.",
}
_CODES = {
    400: "bad.request",
    401: "bad.credentials",
    403: "not.authorized",
    404: "not.found",
    405: "method.not.allowed",
    409: "conflict",
    413: "request.entity.too.large",
    429: "too.many.requests",
    500: "internal.server.error",
    502: "bad.gateway",
    503: "service.unavailable",
    504: "gateway.timeout",
}


class Failure(Exception):
    """An error answer: status, ``ErrorBody.code`` and (for validation) the field at fault."""

    def __init__(
        self,
        status: int,
        code: str | None = None,
        message: str | None = None,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.status = status
        self.code = code or _CODES.get(status, "error")
        self.message = message or _DEFAULT_MESSAGES.get(status, f"HTTP {status}")
        self.field = field
        self.headers = headers or {}
        super().__init__(f"{status} {self.code}")

    def response(self, context_id: str) -> web.Response:
        details = None
        if self.field is not None:
            details = [Detail(error_code=self.code, field_name=self.field)]
        body = ErrorBody(
            status=self.status,
            code=self.code,
            message=self.message,
            message_with_params=self.message,
            message_params={},
            context_id=context_id,
            details=details or [],
            errors=[],
        )
        return json_response(unstructure(body), status=self.status, headers=self.headers)


def invalid(field: str, message: str) -> Failure:
    return Failure(400, "invalid.value", message, field=field)


def state_error() -> Failure:
    return Failure(
        400,
        "chat.error.conversation.state",
        "The conversation is not in a state that allows this operation.",
    )


def json_response(
    data: Any, *, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        text=dump_json(data),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def bearer(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    # Genesys accepts the scheme in any case ("bearer" too).
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


async def read_body(request: web.Request, cls: type[T], *, required: bool = True) -> T | None:
    """Decode the JSON body into ``cls``; a missing (or ``null``) body is 400 if required."""
    text = await request.text()
    if not text.strip():
        data = None
    else:
        try:
            data = parse_json(text)
        except ValueError:
            raise Failure(400, "bad.request", "The request body is not valid JSON.") from None
    if data is None:
        if required:
            raise invalid("body", "A request body is required.")
        return None
    try:
        return structure(data, cls)
    except DecodeError:
        raise invalid("body", f"The request body is not a valid {cls.__name__}.") from None


def int_query(request: web.Request, name: str, default: int, lo: int, hi: int | None) -> int:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise invalid(name, f"{name} must be an integer.") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise invalid(name, f"{name} must be {bound}.")
    return value


def str_query(request: web.Request, name: str) -> str | None:
    """A query value, or ``None`` when absent or empty: the official JavaScript client sends
    every optional parameter, empty when unset, and the service takes that as "not given"
    (docs/protocol.md#empty-query-values)."""
    return request.query.get(name) or None


def bool_query(request: web.Request, name: str) -> bool:
    raw = (str_query(request, name) or "false").lower()
    if raw not in ("true", "false"):
        raise invalid(name, f"{name} must be true or false.")
    return raw == "true"


def form_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def basic_auth(request: web.Request) -> tuple[str | None, str | None]:
    header = request.headers.get("Authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return None, None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    client_id, sep, secret = decoded.partition(":")
    return (client_id, secret) if sep else (None, None)

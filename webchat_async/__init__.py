"""webchat-async: an asyncio-native SDK for the Genesys Cloud Web Chat v2 API."""

from __future__ import annotations

from . import models
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SessionClosedError,
    StreamError,
    WebChatError,
)
from .models import GuestMemberInfo
from .regions import Region, resolve_region

__version__ = "0.1.0"

__all__ = [
    "ApiConnectionError",
    "ApiError",
    "ApiTimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "DecodeError",
    "GuestMemberInfo",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "Region",
    "ServerError",
    "SessionClosedError",
    "StreamError",
    "WebChatError",
    "models",
    "resolve_region",
    "__version__",
]

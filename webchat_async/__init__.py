"""webchat-async: an asyncio-native SDK for the Genesys Cloud Web Chat v2 API.

Guest side::

    from webchat_async import GuestSession, GuestMemberInfo, MessageReceived

    async with GuestSession.start(
        organization_id=ORG, deployment_id=DEP,
        member_info=GuestMemberInfo(display_name="Ann"), region="eu-west-1",
    ) as session:
        await session.send_message("Hello")
        async for event in session.events():
            ...

Admin side (and every one of the 19 operations): :class:`WebChatApi`. A local simulator of
the service lives in :mod:`webchat_async.simulator` (extra ``webchat-async[simulator]``).
"""

from __future__ import annotations

from . import models
from ._backoff import Backoff
from ._events import (
    AnyEvent,
    ConversationEnded,
    Event,
    MediaRequestReceived,
    MemberJoined,
    MemberLeft,
    MemberStateChanged,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from ._http import Retry
from .api import WebChatApi
from .auth import ClientCredentials
from .errors import (
    ApiConnectionError,
    ApiError,
    ApiTimeoutError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    DecodeError,
    HandshakeRefused,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SessionClosedError,
    StreamError,
    WebChatError,
)
from .models import GuestMemberInfo
from .regions import REGIONS, Region, resolve_region
from .session import GuestSession, SavedSession, SessionOptions

__version__ = "0.1.0"

__all__ = [
    # clients
    "GuestSession",
    "SavedSession",
    "SessionOptions",
    "WebChatApi",
    "ClientCredentials",
    "Retry",
    "Backoff",
    # events
    "Event",
    "AnyEvent",
    "MessageReceived",
    "TypingStarted",
    "MemberStateChanged",
    "MemberJoined",
    "MemberLeft",
    "MediaRequestReceived",
    "StreamDisconnected",
    "StreamReconnected",
    "ConversationEnded",
    "UnknownEvent",
    # errors
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
    # models and regions
    "models",
    "GuestMemberInfo",
    "Region",
    "REGIONS",
    "resolve_region",
    "__version__",
]

"""webchat-async: an asyncio-native SDK for the Genesys Cloud Web Chat v2 API.

Guest side:

```python
from webchat_async import GuestSession, GuestMemberInfo, MessageReceived

async with GuestSession.start(
    organization_id=ORG, deployment_id=DEP,
    member_info=GuestMemberInfo(display_name="Ann"), region="eu-west-1",
) as session:
    await session.send_message("Hello")
    async for event in session.events():
        ...
```

Admin side (and every one of the 19 operations): :class:`WebChatApi`. A local simulator of
the service lives in :mod:`webchat_async.simulator` (no extra: it serves with aiohttp).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # what type checkers and IDEs see; at run time each is loaded on first use
    from . import models
    from ._backoff import Backoff
    from ._capabilities import Capabilities
    from ._events import (
        AnyEvent,
        ConversationEnded,
        Event,
        MediaRequestReceived,
        MemberJoined,
        MemberLeft,
        MemberStateChanged,
        MessageReceived,
        SessionClosed,
        SessionExpiring,
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
        InvalidValueError,
        NotFoundError,
        PermissionDeniedError,
        RateLimitError,
        ResponseTooLarge,
        ServerError,
        SessionClosedError,
        StreamError,
        WebChatError,
    )
    from .models import GuestMemberInfo
    from .regions import REGIONS, Region, resolve_region
    from .session import GuestSession, SavedSession, SessionOptions

# Each public name and the submodule that defines it. ``import webchat_async`` loads none
# of them (issue 11: asyncio, attrs and the ~30 model classes cost more than httpx itself);
# the first use of a name loads its submodule (PEP 562). ``from webchat_async import X``
# and ``webchat_async.X`` both work as before.
_WHERE: dict[str, str] = {
    "models": "models",
    "GuestMemberInfo": "models",
    "Backoff": "_backoff",
    "Capabilities": "_capabilities",
    "Retry": "_http",
    "WebChatApi": "api",
    "ClientCredentials": "auth",
    "Region": "regions",
    "REGIONS": "regions",
    "resolve_region": "regions",
    "GuestSession": "session",
    "SavedSession": "session",
    "SessionOptions": "session",
    **dict.fromkeys(
        (
            "AnyEvent",
            "ConversationEnded",
            "Event",
            "MediaRequestReceived",
            "MemberJoined",
            "MemberLeft",
            "MemberStateChanged",
            "MessageReceived",
            "SessionClosed",
            "SessionExpiring",
            "StreamDisconnected",
            "StreamReconnected",
            "TypingStarted",
            "UnknownEvent",
        ),
        "_events",
    ),
    **dict.fromkeys(
        (
            "ApiConnectionError",
            "ApiError",
            "ApiTimeoutError",
            "AuthenticationError",
            "BadRequestError",
            "ConflictError",
            "DecodeError",
            "HandshakeRefused",
            "NotFoundError",
            "PermissionDeniedError",
            "RateLimitError",
            "ServerError",
            "SessionClosedError",
            "StreamError",
            "WebChatError",
            "ResponseTooLarge",
            "InvalidValueError",
        ),
        "errors",
    ),
}

if not TYPE_CHECKING:  # hidden from type checkers: an unknown name stays an error there

    def __getattr__(name: str) -> Any:
        where = _WHERE.get(name)
        if where is None:
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
        module = importlib.import_module(f"{__name__}.{where}")
        value = module if name == where else getattr(module, name)
        globals()[name] = value  # the next lookup is a plain module attribute
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


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
    "SessionExpiring",
    "SessionClosed",
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
    "ResponseTooLarge",
    "InvalidValueError",
    # models and regions
    "models",
    "GuestMemberInfo",
    "Region",
    "REGIONS",
    "resolve_region",
    "__version__",
    # what a session's protocol supports (both protocols)
    "Capabilities",
]

"""What ``GuestSession.start`` and ``MessagingSession.start`` return: an object that can be
awaited (the session) or used with ``async with`` (the session, closed at the end)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["Starter", "close_on_exit"]


class _Closing(Protocol):
    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...


S = TypeVar("S", bound=_Closing)


class Starter(Generic[S]):
    """``await`` it for the session, or ``async with`` it (the session's ``__aexit__`` runs
    at the end of the block). ``open_`` is called once, when either begins."""

    __slots__ = ("_open", "_session")

    def __init__(self, open_: Callable[[], Awaitable[S]]) -> None:
        self._open = open_
        self._session: S | None = None

    def __await__(self) -> Generator[Any, None, S]:
        return self._open().__await__()

    async def __aenter__(self) -> S:
        self._session = await self._open()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        session = self._session
        if session is None:  # __aenter__ raised: there is no session to close
            return
        self._session = None
        await session.__aexit__(exc_type, exc, tb)


async def close_on_exit(
    aclose: Callable[[], Awaitable[None]], exc: BaseException | None, logger: logging.Logger
) -> None:
    """A session's ``__aexit__``: close it; when the block raised, the block's own error
    wins, and an error while closing is only logged."""
    if exc is None:
        await aclose()
        return
    try:
        await aclose()
    except Exception as close_error:
        logger.warning("error while closing the session: %r", close_error)

"""What ``GuestSession.start`` and ``MessagingSession.start`` return: an object that can be
awaited (the session) or used with ``async with`` (the session, closed at the end).

Forgetting the ``await`` or the ``async with`` is the first mistake a newcomer makes, so the
starter answers every other use with an error that says what to write instead (and warns,
like a coroutine, when it is dropped without ever being used).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Awaitable, Callable, Generator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, NoReturn, Protocol, TypeVar

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
    at the end of the block). ``open_`` is called once, when either begins; ``what`` names
    the call in the hints (``"GuestSession.start"``)."""

    __slots__ = ("_open", "_session", "_used", "_what")

    def __init__(self, open_: Callable[[], Awaitable[S]], what: str) -> None:
        self._open = open_
        self._what = what
        self._session: S | None = None
        self._used = False

    def __repr__(self) -> str:
        return f"<{self._what}(...) starter: await it or use it with async with>"

    def __await__(self) -> Generator[Any, None, S]:
        self._used = True
        return self._open().__await__()

    async def __aenter__(self) -> S:
        self._used = True
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

    def close(self) -> None:
        """Discard the starter without opening a session (as ``coroutine.close()``): no
        "never awaited" warning follows."""
        self._used = True

    def _hint(self) -> str:
        return (
            f"write `async with {self._what}(...) as session:` "
            f"or `session = await {self._what}(...)`"
        )

    # Hidden from type checkers, which already reject these uses: declaring them would make
    # `with`, `async for` and any attribute look valid to mypy.
    if not TYPE_CHECKING:

        def __getattr__(self, name: str) -> NoReturn:
            if name.startswith("__") or name in Starter.__slots__:
                raise AttributeError(name)
            self._used = True
            raise AttributeError(
                f"{self._what}(...) returns a starter, not the session, so it has no "
                f"{name!r}: {self._hint()}"
            )

        def __enter__(self) -> NoReturn:
            self._used = True
            raise TypeError(f"{self._what}(...) needs `async with`, not `with`: {self._hint()}")

        def __exit__(self, *exc_info: object) -> None:
            return None

        def __aiter__(self) -> NoReturn:
            self._used = True
            raise TypeError(
                f"{self._what}(...) returns a starter, not the session (the await is "
                f"missing): {self._hint()}, then `async for event in session`"
            )

    def __del__(self) -> None:
        # A warning only, as for a coroutine never awaited: a finalizer schedules nothing.
        if not getattr(self, "_used", True):
            self._used = True
            warnings.warn(
                f"{self._what}(...) was never awaited, so no session was opened: {self._hint()}",
                RuntimeWarning,
                stacklevel=2,
                source=self,
            )


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

"""Guest chats served from a web service: a registry of live sessions (docs/service.md).

A web service (FastAPI, Starlette, aiohttp) that starts chats for browsers and streams their
events needs the same few things every time: the sessions by conversation id, closed with
the app; a timeout for a chat whose browser never came back; a choice of what a restart
does to open chats; and, with more than one process, a shared place for saved sessions
that two processes never both resume. :class:`SessionRegistry` is that, owned by the app's
lifespan:

```python
registry = SessionRegistry(store=RedisStore.from_url(url, prefix="myapp:chats:"))

@contextlib.asynccontextmanager
async def lifespan(app):
    async with registry:                       # closes every chat at shutdown
        await registry.resume_all()            # the chats the last process saved
        yield

session = await registry.add(GuestSession.start(...))       # a new chat
async with registry.subscribe(conversation_id) as events:   # one browser's stream
    async for event in events:
        yield event.to_dict()
```

**The same saved session resumed twice.** Two sessions resumed from one
:class:`~webchat_async.SavedSession` are two sockets on one guest: each gets every message,
and the first to close with ``leave`` ends the chat for both. The registry never lets that
happen: in one registry a conversation is live at most once (:meth:`adopt` of a live one
raises :class:`~webchat_async.errors.SessionInUseError`, :meth:`resume` returns the live
session), and across processes a chat is resumed only by the process that holds its lease
in the store (the worker fleet's leases: :class:`~webchat_async.worker.MemoryStore`,
:class:`~webchat_async.worker.RedisStore`); a lease another process holds raises
``SessionInUseError``, and a lease lost (another process took the chat after this one
stopped renewing) closes the session here without leaving.
"""

from __future__ import annotations

import asyncio
import logging
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Literal

from ._aio import cancel_and_wait
from ._events import AnyEvent
from ._fanout import DEFAULT_SUBSCRIBER_LIMIT, Subscription
from ._saved import SavedSession
from .errors import SessionClosedError, SessionInUseError, WebChatError

if TYPE_CHECKING:
    from .session import GuestSession
    from .worker import SessionStore

# Subscription: what GuestSession.subscribe() and MessagingSession.subscribe() return;
# defined beside the fan-out, named here for annotations.
__all__ = ["SessionRegistry", "ShutdownMode", "Subscription"]

logger = logging.getLogger("webchat_async.service")

#: What :meth:`SessionRegistry.aclose` does to each open chat (see :class:`SessionRegistry`).
ShutdownMode = Literal["leave", "keep", "save"]

_MODES = ("leave", "keep", "save")

#: Sessions one registry holds at most, by default.
DEFAULT_MAX_SESSIONS = 10_000

#: Chats :meth:`SessionRegistry.resume_all` resumes at most in one call.
MAX_RESUME = 10_000


class _Entry:
    __slots__ = ("last_used", "session", "subscribers", "token")

    def __init__(self, session: GuestSession, token: int | None, now: float) -> None:
        self.session = session
        self.token = token
        self.last_used = now
        self.subscribers = 0


class SessionRegistry:
    """The live guest sessions of one process, by conversation id.

    Use it with ``async with`` (an app's lifespan): entering starts its one background
    task (idle timeouts, lease renewals, chats that ended); leaving closes every session
    as ``shutdown`` says.

    Args:
        store: where saved sessions and their leases live; the worker fleet's
            :class:`~webchat_async.worker.MemoryStore` (one process) or
            :class:`~webchat_async.worker.RedisStore` (several; give the registry its own
            ``prefix`` so the fleet's workers never take its chats). ``None``: sessions
            are only in this process (``shutdown="save"`` then refused).
        shutdown: what closing the registry does to each open chat: ``"leave"`` the
            guest leaves (the chat ends; removed from the store); ``"keep"`` the socket
            closes and the chat stays open on the service (removed from the store: whoever
            holds its :class:`~webchat_async.SavedSession` may resume it); ``"save"`` the
            socket closes, the chat stays open, its saved session and position are written
            to the store and its lease released, for the next process's :meth:`resume_all`
            (a rolling deploy). Default: ``"save"`` with a store, ``"leave"`` without.
        idle_timeout: seconds a session with no subscriber and no :meth:`get` may stay
            before the guest leaves and it is closed (``None``: never).
        lease: seconds a store lease lasts; renewed every third of it.
        owner: this process's name in the store (default: host, pid and a random part).
        max_sessions: sessions held at most (:meth:`add` refuses more).
        clock: seconds, monotonic, for the idle timeout (tests pass their own).
    """

    def __init__(
        self,
        *,
        store: SessionStore | None = None,
        shutdown: ShutdownMode | None = None,
        idle_timeout: float | None = 600.0,
        lease: float = 30.0,
        owner: str | None = None,
        max_sessions: int = DEFAULT_MAX_SESSIONS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if shutdown is None:
            shutdown = "leave" if store is None else "save"
        if shutdown not in _MODES:
            raise ValueError(f"shutdown must be one of {_MODES}, not {shutdown!r}")
        if shutdown == "save" and store is None:
            raise ValueError('shutdown="save" needs a store to save the sessions in')
        if idle_timeout is not None and not idle_timeout > 0:
            raise ValueError("idle_timeout must be > 0 seconds, or None")
        if not 0 < lease <= 3600:
            raise ValueError("lease must be > 0 and at most 3,600 seconds")
        if not 1 <= max_sessions <= 1_000_000:
            raise ValueError("max_sessions must be 1 to 1,000,000")
        self._store = store
        self._shutdown: ShutdownMode = shutdown
        self._idle = idle_timeout
        self._lease = lease
        self._owner = owner or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self._max = max_sessions
        self._clock = clock
        self._entries: dict[str, _Entry] = {}
        self._task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None
        self._closed = False
        # Conversations being started or resumed: counted against max_sessions, and a
        # second resume of one waits for nobody, it is refused.
        self._pending: set[str] = set()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SessionRegistry {state} sessions={len(self._entries)} shutdown={self._shutdown}>"

    # -- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> SessionRegistry:
        if self._closed:
            raise SessionClosedError("the registry is closed")
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._maintain())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self, *, shutdown: ShutdownMode | None = None) -> None:
        """Stop the background task and close every session as ``shutdown`` (default: the
        registry's) says; idempotent. Raises the background task's error, if it failed."""
        if self._closed:
            return
        mode = self._shutdown if shutdown is None else shutdown
        if mode not in _MODES:
            raise ValueError(f"shutdown must be one of {_MODES}, not {mode!r}")
        if mode == "save" and self._store is None:
            raise ValueError('shutdown="save" needs a store')
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            await cancel_and_wait(task)
        entries = list(self._entries.items())
        self._entries.clear()
        # Concurrently: a deploy's grace period is short and each close is a round trip.
        results = await asyncio.gather(
            *(self._shut(cid, entry, mode) for cid, entry in entries), return_exceptions=True
        )
        for (cid, _), result in zip(entries, results, strict=True):
            if isinstance(result, BaseException):
                logger.warning("closing conversation %s failed: %r", cid, result)
        if self._failure is not None:
            raise self._failure

    async def _shut(self, cid: str, entry: _Entry, mode: ShutdownMode) -> None:
        session, store, token = entry.session, self._store, entry.token
        if mode == "save" and store is not None and token is not None and not session.ended:
            from .worker import Progress

            saved = session.save()
            try:
                await store.commit(
                    cid, token, Progress(saved=saved.to_json(), position=None), ttl=self._lease
                )
            finally:
                await session.aclose(leave=False)
            await store.release(cid, self._owner, token, reserve=0)
            return
        await session.aclose(leave=mode == "leave")
        if store is not None and token is not None:
            await store.finish(cid, self._owner, token)

    # -- sessions ---------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, conversation_id: object) -> bool:
        return conversation_id in self._entries

    def __iter__(self) -> Iterator[str]:
        """The conversation ids of the live sessions."""
        return iter(list(self._entries))

    def get(self, conversation_id: str) -> GuestSession:
        """The live session of ``conversation_id`` (it counts as used: the idle timeout
        starts again); ``KeyError`` if there is none here."""
        entry = self._entries[conversation_id]
        entry.last_used = self._clock()
        return entry.session

    def subscribe(
        self, conversation_id: str, *, limit: int = DEFAULT_SUBSCRIBER_LIMIT
    ) -> Subscription[AnyEvent]:
        """:meth:`GuestSession.subscribe <webchat_async.GuestSession.subscribe>` on the
        session of ``conversation_id``; no idle timeout runs while a subscription is open.
        ``KeyError`` if there is no such session here."""
        entry = self._entries[conversation_id]
        subscription = entry.session.subscribe(limit=limit)
        entry.subscribers += 1
        entry.last_used = self._clock()
        return _Counted(subscription, entry, self._clock)

    async def add(self, starting: Awaitable[GuestSession]) -> GuestSession:
        """Await a new session (``GuestSession.start(...)``) and hold it; with a store, the
        chat is recorded there and its lease taken. The session is closed (leaving the
        chat) if it cannot be held."""
        try:
            self._check_room()
        except WebChatError:
            # Refused before it started: discarded as a coroutine would be (no "never
            # awaited" warning for what the registry chose not to await).
            close = getattr(starting, "close", None)
            if callable(close):
                close()
            raise
        session = await starting
        cid = session.conversation_id
        try:
            if cid in self._entries or cid in self._pending:
                raise SessionInUseError(f"conversation {cid} is already live here")
            token = None
            if self._store is not None:
                saved = session.save()  # what the store keeps; closing says leave or not
                await self._store.add_chat(cid, saved.to_json(), saved.base_url, reserve=0)
                claim = await self._store.claim(cid, self._owner, ttl=self._lease)
                if claim is None:
                    raise SessionInUseError(f"conversation {cid} was claimed by another owner")
                token = claim.token
        except BaseException:
            await session.aclose(leave=True)
            raise
        self._entries[cid] = _Entry(session, token, self._clock())
        return session

    async def adopt(
        self,
        saved: SavedSession,
        open_: Callable[[SavedSession], Awaitable[GuestSession]] | None = None,
    ) -> GuestSession:
        """Resume ``saved`` here (``GuestSession.resume``, or ``open_(saved)`` for your own
        options) and hold it. :class:`~webchat_async.errors.SessionInUseError` if the
        conversation is live in this registry already: resuming it twice would attach a
        second socket."""
        cid = saved.conversation_id
        if cid in self._entries or cid in self._pending:
            raise SessionInUseError(
                f"conversation {cid} is already live here: use registry.get() or "
                "registry.subscribe() instead of resuming it again"
            )
        self._check_room()
        self._pending.add(cid)
        try:
            session = await self._open(saved, open_)
        finally:
            self._pending.discard(cid)
        self._entries[cid] = _Entry(session, None, self._clock())
        return session

    async def resume(
        self,
        conversation_id: str,
        open_: Callable[[SavedSession], Awaitable[GuestSession]] | None = None,
    ) -> GuestSession:
        """The session of ``conversation_id``: the live one if this registry holds it, else
        resumed from the store once its lease is taken.
        :class:`~webchat_async.errors.SessionInUseError` if another process holds the
        lease or the store does not have it; ``KeyError`` without a store."""
        entry = self._entries.get(conversation_id)
        if entry is not None:
            entry.last_used = self._clock()
            return entry.session
        store = self._store
        if store is None:
            raise KeyError(conversation_id)
        if conversation_id in self._pending:
            raise SessionInUseError(f"conversation {conversation_id} is being resumed here")
        self._check_room()
        self._pending.add(conversation_id)
        try:
            claim = await store.claim(conversation_id, self._owner, ttl=self._lease)
            if claim is None:
                raise SessionInUseError(
                    f"conversation {conversation_id} is held by another process (or unknown)"
                )
            try:
                session = await self._open(SavedSession.from_json(claim.saved), open_)
            except BaseException:
                await store.release(conversation_id, self._owner, claim.token, reserve=0)
                raise
        finally:
            self._pending.discard(conversation_id)
        self._entries[conversation_id] = _Entry(session, claim.token, self._clock())
        return session

    async def resume_all(
        self,
        open_: Callable[[SavedSession], Awaitable[GuestSession]] | None = None,
        *,
        limit: int = MAX_RESUME,
    ) -> list[str]:
        """Resume every chat of the store that no process holds (those a ``"save"``
        shutdown left, and those of a process that died), at most ``limit``; returns their
        ids. A chat another process takes meanwhile, or that fails to resume, is skipped
        (logged)."""
        store = self._store
        if store is None:
            return []
        if not 1 <= limit <= MAX_RESUME:
            raise ValueError(f"limit must be 1 to {MAX_RESUME:,}")
        scan = await store.scan(limit)
        resumed: list[str] = []
        for cid, _age in scan.claimable:
            if cid in self._entries:
                continue
            try:
                await self.resume(cid, open_)
            except (SessionInUseError, WebChatError, ValueError) as exc:
                logger.warning("conversation %s not resumed: %r", cid, exc)
                continue
            resumed.append(cid)
        return resumed

    async def close(self, conversation_id: str, *, leave: bool = True) -> None:
        """Close the session of ``conversation_id`` (leaving the chat unless ``leave`` is
        false) and forget it, here and in the store; nothing if there is none."""
        entry = self._entries.pop(conversation_id, None)
        if entry is None:
            return
        await self._shut(conversation_id, entry, "leave" if leave else "keep")

    async def _open(
        self,
        saved: SavedSession,
        open_: Callable[[SavedSession], Awaitable[GuestSession]] | None,
    ) -> GuestSession:
        if self._closed:
            raise SessionClosedError("the registry is closed")
        if open_ is not None:
            return await open_(saved)
        from .session import GuestSession

        return await GuestSession.resume(saved)

    def _check_room(self) -> None:
        if self._closed:
            raise SessionClosedError("the registry is closed")
        if len(self._entries) + len(self._pending) >= self._max:
            raise WebChatError(f"the registry holds {self._max:,} sessions, its maximum")

    # -- the background task ----------------------------------------------------------------

    async def _maintain(self) -> None:
        """Every third of a lease: renew the leases, close the chats that ended, lost their
        lease or stayed idle. An error here is raised by :meth:`aclose`."""
        every = self._lease / 3
        if self._idle is not None:
            every = min(every, self._idle / 2)
        try:
            while True:
                await asyncio.sleep(every)
                await self.sweep()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self._failure = exc
            logger.error("the session registry's background task failed: %r", exc)

    async def sweep(self) -> None:
        """One round of the background task, now (tests and an app's own timer call it)."""
        store = self._store
        if store is not None:
            leases = {c: e.token for c, e in self._entries.items() if e.token is not None}
            lost = await store.renew(self._owner, leases, ttl=self._lease) if leases else set()
            for cid in lost:
                entry = self._entries.pop(cid, None)
                if entry is not None:
                    logger.warning("lease on conversation %s lost: closed here", cid)
                    await entry.session.aclose(leave=False)
        now = self._clock()
        for cid, entry in list(self._entries.items()):
            session = entry.session
            if session.ended:
                if entry.subscribers == 0:
                    await self.close(cid, leave=False)
            elif (
                self._idle is not None
                and entry.subscribers == 0
                and now - entry.last_used >= self._idle
            ):
                logger.info("conversation %s idle for %.0f s: leaving", cid, now - entry.last_used)
                await self.close(cid, leave=True)


class _Counted(Subscription[AnyEvent]):
    """A subscription that the registry counts as a user of its session until closed."""

    __slots__ = ("_clock_fn", "_entry")

    def __init__(
        self, inner: Subscription[AnyEvent], entry: _Entry, clock: Callable[[], float]
    ) -> None:
        super().__init__(inner._fanout, inner._reader)
        self._entry = entry
        self._clock_fn = clock

    def close(self) -> None:
        if not self._closed:
            self._entry.subscribers -= 1
            self._entry.last_used = self._clock_fn()
        super().close()

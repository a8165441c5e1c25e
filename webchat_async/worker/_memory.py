"""``MemoryStore``: the :class:`SessionStore` of one process (the embedded default).

The same rules as the Redis store (fencing tokens, leases, reservations, load placement),
kept in dictionaries; the clock is injectable so tests move time instead of waiting.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable, Mapping, Sequence

import attrs

from .._saved import SavedSession
from ._lua import PRUNE_LEASES
from ._model import (
    WEBCHAT,
    ChatProtocol,
    ChatStatus,
    Claim,
    FleetStatus,
    LeaseLost,
    PendingSends,
    Progress,
    WorkerStatus,
)
from ._store import Scan

__all__ = ["MemoryStore"]


@attrs.define
class _Chat:
    saved: str = attrs.field(repr=False)
    base_url: str
    owner: str = ""
    token: int = 0
    expires: float = 0.0
    reserved: str = ""
    never_held: bool = True
    position: str | None = None
    outstanding: tuple[str, ...] = ()
    pending: PendingSends | None = None
    failing_since: float | None = None
    protocol: ChatProtocol = WEBCHAT


#: Chats given up that the store remembers (oldest forgotten first).
_GIVEN_UP_KEPT = 1000


@attrs.define
class _Worker:
    expires: float
    concurrency: int
    host: str
    pid: int
    ttl: float
    owned: set[str] = attrs.field(factory=set)
    inbox: collections.deque[str] = attrs.field(factory=collections.deque)
    wake: asyncio.Event = attrs.field(factory=asyncio.Event)


class MemoryStore:
    """A :class:`~webchat_async.worker.SessionStore` in this process's memory.

    Args:
        clock: seconds, monotonic (``time.monotonic``); tests pass their own to expire
            leases without waiting.
    """

    def __init__(self, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chats: dict[str, _Chat] = {}
        self._workers: dict[str, _Worker] = {}
        self.counters: collections.Counter[str] = collections.Counter()
        self._given_up: collections.OrderedDict[str, str] = collections.OrderedDict()

    def __repr__(self) -> str:
        return f"<MemoryStore chats={len(self._chats)} workers={len(self._workers)}>"

    def seal_saved(self, saved: SavedSession) -> SavedSession:
        """``saved`` itself: the memory of this process needs no encryption (see
        :meth:`SessionStore.seal_saved`)."""
        return saved

    # -- placement ---------------------------------------------------------------------

    def _live(self, now: float) -> dict[str, _Worker]:
        return {w: info for w, info in self._workers.items() if info.expires > now}

    def _pick(self, now: float, exclude: str = "") -> str | None:
        # As the Redis store's `pick`: the least loaded, and first among the workers that
        # renewed within the last half of their lease (one that missed a renewal is
        # likely dead, and a chat reserved for it would wait out the reservation).
        best: str | None = None
        best_key = (True, 0)
        for worker_id, info in self._live(now).items():
            if worker_id == exclude:
                continue
            load = len(info.owned) + len(info.inbox)
            key = (info.expires - now < info.ttl / 2, load)
            if load < info.concurrency and (best is None or key < best_key):
                best, best_key = worker_id, key
        return best

    def _hand(
        self, conversation_id: str, chat: _Chat, now: float, target: str | None, reserve: float
    ) -> None:
        chat.owner = ""
        if target is None:
            chat.reserved, chat.expires = "", 0.0
            return
        chat.reserved, chat.expires = target, now + reserve
        worker = self._workers[target]
        worker.inbox.append(conversation_id)
        worker.wake.set()

    async def add_chat(
        self,
        conversation_id: str,
        saved: str,
        base_url: str,
        *,
        reserve: float,
        protocol: ChatProtocol = WEBCHAT,
    ) -> str | None:
        """See :meth:`SessionStore.add_chat`."""
        if conversation_id in self._chats:
            raise ValueError(f"chat {conversation_id} is already in the store")
        now = self._clock()
        chat = self._chats[conversation_id] = _Chat(
            saved=saved, base_url=base_url, protocol=protocol
        )
        target = self._pick(now)
        self._hand(conversation_id, chat, now, target, reserve)
        self.counters["added"] += 1
        return target

    # -- workers -----------------------------------------------------------------------

    async def register(
        self, worker_id: str, *, ttl: float, concurrency: int, host: str, pid: int
    ) -> None:
        """See :meth:`SessionStore.register`."""
        now = self._clock()
        info = self._workers.get(worker_id)
        if info is None:
            self._workers[worker_id] = _Worker(now + ttl, concurrency, host, pid, ttl)
        else:
            info.expires, info.concurrency, info.ttl = now + ttl, concurrency, ttl

    async def unregister(self, worker_id: str) -> None:
        """See :meth:`SessionStore.unregister`."""
        self._workers.pop(worker_id, None)

    async def next_assigned(self, worker_id: str, timeout: float, limit: int) -> list[str]:
        """See :meth:`SessionStore.next_assigned`."""
        info = self._workers.get(worker_id)
        if info is None:
            return []
        if not info.inbox:
            info.wake.clear()
            try:
                await asyncio.wait_for(info.wake.wait(), timeout)
            except asyncio.TimeoutError:
                return []
        return [info.inbox.popleft() for _ in range(min(limit, len(info.inbox)))]

    async def scan(self, limit: int) -> Scan:
        """See :meth:`SessionStore.scan`."""
        now = self._clock()
        claimable = [
            (cid, float("inf") if chat.never_held and not chat.reserved else now - chat.expires)
            for cid, chat in self._chats.items()
            if chat.expires <= now
        ][:limit]
        loads = {w: len(i.owned) + len(i.inbox) for w, i in self._live(now).items()}
        return Scan(claimable, loads, len(self._chats))

    # -- leases ------------------------------------------------------------------------

    async def claim(self, conversation_id: str, worker_id: str, *, ttl: float) -> Claim | None:
        """See :meth:`SessionStore.claim`."""
        chat = self._chats.get(conversation_id)
        now = self._clock()
        if chat is None or (chat.owner == worker_id and chat.expires > now):
            return None
        free = chat.expires <= now or (chat.owner == "" and chat.reserved == worker_id)
        if not free:
            return None
        previous = chat.owner or None
        if previous is not None:
            self.counters["takeovers"] += 1
            old = self._workers.get(previous)
            if old is not None:
                old.owned.discard(conversation_id)
        chat.token += 1
        chat.owner, chat.reserved, chat.expires = worker_id, "", now + ttl
        chat.never_held = False
        owner = self._workers.get(worker_id)
        if owner is not None:
            owner.owned.add(conversation_id)
        self.counters["claims"] += 1
        return Claim(
            conversation_id=conversation_id,
            token=chat.token,
            saved=chat.saved,
            base_url=chat.base_url,
            position=chat.position,
            outstanding=chat.outstanding,
            pending=chat.pending,
            previous_owner=previous,
            failing_for=None if chat.failing_since is None else now - chat.failing_since,
            protocol=chat.protocol,
        )

    def _fenced(self, conversation_id: str, token: int) -> _Chat:
        chat = self._chats.get(conversation_id)
        if chat is None or chat.token != token or chat.owner == "":
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")
        return chat

    async def renew(self, worker_id: str, leases: Mapping[str, int], *, ttl: float) -> set[str]:
        """See :meth:`SessionStore.renew`."""
        now = self._clock()
        info = self._workers.get(worker_id)
        if info is not None:
            info.expires = now + ttl
        # As the Redis store: workers not heard of for PRUNE_LEASES leases are dropped.
        for dead in [w for w, i in self._workers.items() if i.expires < now - PRUNE_LEASES * ttl]:
            del self._workers[dead]
        lost = set()
        for cid, token in leases.items():
            chat = self._chats.get(cid)
            if chat is None or chat.owner != worker_id or chat.token != token:
                lost.add(cid)
            else:
                chat.expires = now + ttl
        return lost

    async def record_send(
        self,
        conversation_id: str,
        token: int,
        event_key: str,
        index: int,
        body: str,
        *,
        send_margin: float,
    ) -> None:
        """See :meth:`SessionStore.record_send`."""
        chat = self._fenced(conversation_id, token)
        if chat.expires - self._clock() < send_margin:
            raise LeaseLost(f"too little of the lease on chat {conversation_id} is left")
        pending = chat.pending
        bodies = (
            list(pending.bodies) if pending is not None and pending.event_key == event_key else []
        )
        if index < len(bodies):
            bodies[index] = body
        else:
            bodies.append(body)
        chat.pending = PendingSends(event_key=event_key, bodies=tuple(bodies))

    async def commit(
        self, conversation_id: str, token: int, progress: Progress, *, ttl: float
    ) -> None:
        """See :meth:`SessionStore.commit`."""
        chat = self._fenced(conversation_id, token)
        if progress.saved:
            chat.saved = progress.saved
        chat.position = progress.position
        chat.outstanding = progress.outstanding
        chat.pending = None
        chat.failing_since = None
        chat.expires = self._clock() + ttl
        self.counters["handled"] += 1
        if progress.failed:
            self.counters["handler_errors"] += 1

    async def release(
        self,
        conversation_id: str,
        worker_id: str,
        token: int,
        *,
        reserve: float,
        failed: bool = False,
    ) -> str | None:
        """See :meth:`SessionStore.release`."""
        chat = self._fenced(conversation_id, token)
        if failed and chat.failing_since is None:
            chat.failing_since = self._clock()
        owner = self._workers.get(worker_id)
        if owner is not None:
            owner.owned.discard(conversation_id)
        now = self._clock()
        target = self._pick(now, exclude=worker_id)
        self._hand(conversation_id, chat, now, target, reserve)
        self.counters["handovers"] += 1
        return target

    async def finish(self, conversation_id: str, worker_id: str, token: int) -> None:
        """See :meth:`SessionStore.finish`."""
        self._fenced(conversation_id, token)
        del self._chats[conversation_id]
        owner = self._workers.get(worker_id)
        if owner is not None:
            owner.owned.discard(conversation_id)
        self.counters["finished"] += 1

    async def give_up(
        self, conversation_id: str, worker_id: str, token: int, *, reason: str
    ) -> None:
        """See :meth:`SessionStore.give_up`."""
        await self.finish(conversation_id, worker_id, token)
        self.counters["given_up"] += 1
        self._given_up.pop(conversation_id, None)
        self._given_up[conversation_id] = reason
        while len(self._given_up) > _GIVEN_UP_KEPT:
            self._given_up.popitem(last=False)

    async def restore(
        self, worker_id: str, held: Sequence[Claim], *, ttl: float
    ) -> set[str] | None:
        """See :meth:`SessionStore.restore`: always ``None`` (this process's memory is
        not lost while a worker in it runs)."""
        return None

    async def status(self, *, chat_limit: int = 1000) -> FleetStatus:
        """See :meth:`SessionStore.status`."""
        now = self._clock()
        workers = tuple(
            WorkerStatus(
                worker_id=w,
                alive=i.expires > now,
                expires_in=i.expires - now,
                chats=len(i.owned),
                concurrency=i.concurrency,
                host=i.host,
                pid=i.pid,
            )
            for w, i in sorted(self._workers.items())
        )
        chats = tuple(
            ChatStatus(
                conversation_id=cid,
                owner=c.owner,
                token=c.token,
                expires_in=c.expires - now,
                reserved_for=c.reserved,
                protocol=c.protocol,
            )
            for cid, c in list(self._chats.items())[:chat_limit]
        )
        given_up = dict(list(reversed(self._given_up.items()))[:chat_limit])
        return FleetStatus(
            workers=workers, chats=chats, counters=dict(self.counters), given_up=given_up
        )

    async def aclose(self) -> None:
        """Nothing to release."""

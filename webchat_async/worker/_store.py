"""The ``SessionStore`` protocol: where a fleet keeps its chats, leases and progress.

Every write that concerns one chat carries the fencing token of the caller's lease and is
applied only if that token is still the chat's current one, atomically with the check: a
worker that lost a chat (paused past its lease, then resumed) cannot overwrite what the new
owner committed. Two implementations: :class:`~webchat_async.worker.MemoryStore` (one
process) and :class:`~webchat_async.worker.RedisStore` (a fleet).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from .._saved import SavedSession
from ._model import WEBCHAT, ChatProtocol, Claim, FleetStatus, Progress

__all__ = ["Scan", "SessionStore"]


class Scan:
    """What :meth:`SessionStore.scan` found: chats free to claim and the fleet's load.

    ``claimable`` lists ``(conversation_id, seconds since its lease ran out)``; a chat that
    never had an owner counts as long expired. ``loads`` maps each live worker to the chats
    it holds or has been handed.
    """

    __slots__ = ("claimable", "loads", "total")

    def __init__(
        self, claimable: list[tuple[str, float]], loads: dict[str, int], total: int
    ) -> None:
        self.claimable = claimable
        self.loads = loads
        self.total = total

    def __repr__(self) -> str:
        return (
            f"<Scan claimable={len(self.claimable)} workers={len(self.loads)} total={self.total}>"
        )


@runtime_checkable
class SessionStore(Protocol):
    """Chats, their leases (owner, fencing token, expiry), committed progress and the
    fleet's live workers. Times are in seconds on the store's own clock.

    Fenced writes (:meth:`record_send`, :meth:`commit`, :meth:`release`, :meth:`finish`)
    raise :class:`~webchat_async.worker.LeaseLost` when ``token`` is no longer the chat's
    current token (or, for a send, when less than ``send_margin`` of the lease is left).
    Connection failures raise :class:`~webchat_async.worker.StoreError`.
    """

    def seal_saved(self, saved: SavedSession) -> SavedSession:
        """The form of ``saved`` this store writes: its secrets (``jwt``,
        ``event_stream_uri``) encrypted when the store has encryption keys, else
        ``saved`` itself. A worker calls it once per chat and builds every commit's
        ``Progress.saved`` from the result (only the position changes between commits);
        :meth:`claim` gives the saved session back in clear."""
        ...

    async def add_chat(
        self,
        conversation_id: str,
        saved: str,
        base_url: str,
        *,
        reserve: float,
        protocol: ChatProtocol = WEBCHAT,
    ) -> str | None:
        """Store a new chat of ``protocol`` and hand it to the least loaded live worker
        with room (reserved for it for ``reserve`` seconds); returns that worker, or
        ``None`` when none is live (any worker claims it then). ``saved`` is a secret
        (a ``SavedSession``'s JSON, or a Web Messaging chat's record with its token)."""
        ...

    async def register(
        self, worker_id: str, *, ttl: float, concurrency: int, host: str, pid: int
    ) -> None:
        """Announce a live worker for ``ttl`` seconds (renewed by :meth:`renew`)."""
        ...

    async def unregister(self, worker_id: str) -> None:
        """Remove a worker that stopped (after it released its chats)."""
        ...

    async def next_assigned(self, worker_id: str, timeout: float, limit: int) -> list[str]:
        """The chats handed to ``worker_id`` (started or released to it), at most ``limit``;
        waits up to ``timeout`` seconds (> 0) for the first; empty if none came."""
        ...

    async def scan(self, limit: int) -> Scan:
        """Chats whose lease ran out (or that nobody was given), and the live workers'
        loads."""
        ...

    async def claim(self, conversation_id: str, worker_id: str, *, ttl: float) -> Claim | None:
        """Take the chat's lease for ``ttl`` seconds if it is free (expired, never held, or
        reserved for this worker), with a new fencing token; ``None`` if it is held by
        another worker or gone."""
        ...

    async def renew(self, worker_id: str, leases: Mapping[str, int], *, ttl: float) -> set[str]:
        """Extend the worker's heartbeat and each lease in ``leases`` (conversation id to
        token) by ``ttl`` seconds; returns the chats whose token is no longer current."""
        ...

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
        """Record, before it is made, that the handler of ``event_key`` makes its
        ``index``-th send (from 0); ``body`` is what identifies the text (a worker passes
        a digest of it, never the text); replaces what was recorded in that place."""
        ...

    async def commit(
        self, conversation_id: str, token: int, progress: Progress, *, ttl: float
    ) -> None:
        """Store the progress after an event was handled (clears the recorded sends) and
        extend the lease; one round trip."""
        ...

    async def release(
        self,
        conversation_id: str,
        worker_id: str,
        token: int,
        *,
        reserve: float,
        failed: bool = False,
    ) -> str | None:
        """Let the chat go and hand it to the least loaded other live worker (reserved for
        ``reserve`` seconds); returns that worker, or ``None`` (free for any). ``failed``:
        the chat could not be resumed or streamed here (the store notes when that first
        happened after the last commit: :attr:`Claim.failing_for`)."""
        ...

    async def give_up(
        self, conversation_id: str, worker_id: str, token: int, *, reason: str
    ) -> None:
        """Remove the chat (as :meth:`finish`, counted as finished and as given up)
        because it cannot go on anywhere, and keep ``reason`` among the chats given up
        lately (:attr:`FleetStatus.given_up`)."""
        ...

    async def finish(self, conversation_id: str, worker_id: str, token: int) -> None:
        """The chat is over: remove it."""
        ...

    async def restore(
        self, worker_id: str, held: Sequence[Claim], *, ttl: float
    ) -> set[str] | None:
        """After :class:`~webchat_async.worker.StoreReset`: if the store lost its state
        since ``worker_id`` registered, register it again and write back each chat of
        ``held`` (its committed record and the sends recorded for the event in hand,
        leased for ``ttl`` seconds), except a chat the store now has under a newer token;
        returns the ids written back. ``None`` if the store did not lose its state (the
        chats that raised were finished or taken by others)."""
        ...

    async def status(self, *, chat_limit: int = 1000) -> FleetStatus:
        """Workers, chats (at most ``chat_limit``) and counters."""
        ...

    async def aclose(self) -> None:
        """Release the store's connections."""
        ...

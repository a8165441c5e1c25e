"""The Redis key layout of a fleet (pure: names only).

Every key starts with the store's prefix (``webchat:`` by default), so several fleets (or
test runs) share one Redis without meeting:

=================================  ======  ===================================================
key                                type    holds
=================================  ======  ===================================================
``{p}chat:{conversation id}``      hash    saved session, base URL, owner, token, reserved
                                           worker, position, outstanding sends, pending
                                           sends, protocol (``proto``: webchat, messaging)
``{p}leases``                      zset    conversation id -> lease expiry (ms); 0: nobody's
``{p}workers``                     zset    worker id -> heartbeat expiry (ms)
``{p}worker:{worker id}``          hash    concurrency, host, pid
``{p}owned:{worker id}``           set     conversation ids the worker holds
``{p}inbox:{worker id}``           list    conversation ids handed to the worker
``{p}stats``                       hash    counters: added, claims, takeovers, handled, ...
``{p}log``                         stream  claim / release / finish records (capped)
``{p}given_up``                    stream  chats given up: id, reason (capped)
``{p}epoch``                       string  a random marker of the store's state: gone or
                                           changed, the store lost its state (a Redis
                                           restarted empty) and workers write theirs back
=================================  ======  ===================================================

Every key expires (see :mod:`._lua`): a chat's hash ``retention`` past its lease, a
worker's own keys one lease past its heartbeat, the shared ones no earlier than any chat.

The Lua scripts build the per-chat and per-worker names from the prefix the same way
(:data:`LUA_NAMES`), so a standalone Redis (or one shard) is assumed.
"""

from __future__ import annotations

__all__ = ["DEFAULT_PREFIX", "LUA_NAMES", "Keys"]

DEFAULT_PREFIX = "webchat:"

#: The same names, as Lua functions of the prefix ``P`` (prepended to every script).
LUA_NAMES = """
local function chat_key(P, cid) return P .. 'chat:' .. cid end
local function owned_key(P, w) return P .. 'owned:' .. w end
local function inbox_key(P, w) return P .. 'inbox:' .. w end
local function worker_key(P, w) return P .. 'worker:' .. w end
"""


class Keys:
    """The key names under one prefix."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str = DEFAULT_PREFIX) -> None:
        if not prefix or any(c.isspace() for c in prefix):
            raise ValueError("a key prefix is a non-empty string without spaces")
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"Keys({self.prefix!r})"

    def chat(self, conversation_id: str) -> str:
        """The chat's hash."""
        return f"{self.prefix}chat:{conversation_id}"

    @property
    def leases(self) -> str:
        """Sorted set: conversation id by lease expiry."""
        return f"{self.prefix}leases"

    @property
    def workers(self) -> str:
        """Sorted set: worker id by heartbeat expiry."""
        return f"{self.prefix}workers"

    def worker(self, worker_id: str) -> str:
        """The worker's description."""
        return f"{self.prefix}worker:{worker_id}"

    def owned(self, worker_id: str) -> str:
        """Set: the chats the worker holds."""
        return f"{self.prefix}owned:{worker_id}"

    def inbox(self, worker_id: str) -> str:
        """List: chats handed to the worker, first in first out."""
        return f"{self.prefix}inbox:{worker_id}"

    @property
    def stats(self) -> str:
        """Hash of counters."""
        return f"{self.prefix}stats"

    @property
    def log(self) -> str:
        """Stream of claim, release and finish records."""
        return f"{self.prefix}log"

    @property
    def epoch(self) -> str:
        """The marker of the store's state (set by the first worker to register)."""
        return f"{self.prefix}epoch"

    @property
    def given_up(self) -> str:
        """Stream of the chats given up and why (capped)."""
        return f"{self.prefix}given_up"

"""``RedisStore``: the :class:`SessionStore` of a fleet, on Redis through ``redis.asyncio``.

Each fenced write is one Lua script (:mod:`._lua`): the token check and the write happen in
one atomic step and one round trip. Commits, the write of every handled event, are
batched: those made while a batch is on the wire go out together in the next call, as one
script that checks each commit's token on its own (one command for the batch: a pipeline
of one script per commit cost the client about as much as the events themselves).
redis-py is imported when a store is created, so
``import webchat_async.worker`` works without the ``redis`` extra.

Secrets at rest: with :class:`~webchat_async.worker.Encryption` keys the saved session's
JWT and stream URI are written encrypted (once per chat, see :meth:`RedisStore.seal_saved`);
every key expires (see :mod:`._lua`); recorded sends are digests, not texts.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import secrets
import warnings
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .._saved import SavedSession
from . import _lua
from ._crypto import Encryption, open_saved, seal_saved, seal_text
from ._keys import DEFAULT_PREFIX, Keys
from ._model import (
    WEBCHAT,
    ChatProtocol,
    ChatStatus,
    Claim,
    FleetStatus,
    InsecureStoreWarning,
    LeaseLost,
    PendingSends,
    Progress,
    StoreError,
    StoreReset,
    WorkerStatus,
    read_protocol,
)
from ._store import Scan

if TYPE_CHECKING:
    from redis.asyncio import Redis

__all__ = ["RedisStore"]


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode()
    return "" if value is None else str(value)


def _ids(raw: Any) -> tuple[str, ...]:
    # cjson writes an empty list as {}: both mean none.
    data = json.loads(_text(raw) or "[]")
    return tuple(str(x) for x in data) if isinstance(data, list) else ()


#: A commit waiting for the next batch: the lease length (ms), whether the handler failed,
#: the script's five values for it, and the future its caller waits on.
_Commit = tuple[int, bool, tuple[Any, ...], "asyncio.Future[Any]"]


#: Commits per script call at most: a call runs alone on the server, and a command's
#: size stays bounded however many chats are busy at once.
_MAX_BATCH = 500


def _protocol_of(text: str) -> ChatProtocol:
    """A stored protocol for ``status`` (which lists what it cannot run too)."""
    try:
        return read_protocol(text)
    except StoreError:
        return WEBCHAT


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))


#: How long a chat nobody renews is kept by default: a day past its lease.
DEFAULT_RETENTION = 86400.0

#: Seconds a store call may take by default before it fails with StoreError (a stalled or
#: unreachable Redis); the worker retries its fenced writes until its lease runs out.
DEFAULT_TIMEOUT = 2.0


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _exposure(client: Redis) -> tuple[bool, bool]:
    """(the server is on another host, the connection is plaintext TCP), read from the
    client's pool settings: nothing is sent."""
    pool = getattr(client, "connection_pool", None)
    kwargs: Mapping[str, Any] = getattr(pool, "connection_kwargs", None) or {}
    if "path" in kwargs:  # a Unix socket: this host
        return False, False
    remote = not _is_loopback(str(kwargs.get("host") or "localhost"))
    connection_class = getattr(pool, "connection_class", None)
    tls = "SSL" in getattr(connection_class, "__name__", "") or bool(kwargs.get("ssl"))
    return remote, not tls


class RedisStore:
    """A :class:`~webchat_async.worker.SessionStore` on a Redis server (7 or later).

    Args:
        client: a ``redis.asyncio.Redis``; prefer :meth:`from_url`.
        prefix: put before every key, so several fleets share one Redis.
        clock: seconds; ``None`` (the default) uses the Redis server's clock, which every
            worker shares. Tests pass their own to move leases forward without waiting.
        owns_client: close ``client`` in :meth:`aclose`.
        encryption: keys that encrypt the guest credentials (the saved session's JWT
            and stream URI) before they reach Redis (the ``encryption`` extra). Without
            them they are stored in clear. Every worker and ``Fleet`` of a fleet needs
            the same keys.
        retention: seconds a chat's keys are kept after its lease (or reservation) ran
            out with nobody renewing it; every claim, renewal, commit and release pushes
            the expiry on, so a held chat never expires. A finished chat is deleted at
            once. A worker's own keys expire one lease after its last heartbeat.
        timeout: seconds each store call may take (waiting for a pooled connection
            included) before it raises :class:`~webchat_async.worker.StoreError`; a
            stalled Redis then fails calls instead of holding them for ever. A blocking
            wait for handed chats gets this much on top of its own wait.

    Connection failures raise :class:`~webchat_async.worker.StoreError`; the URL (which
    may hold a password) is never part of a message. A client on a host other than this
    one warns (:class:`~webchat_async.worker.InsecureStoreWarning`, once per store) when
    the connection is plaintext (``redis://``: use ``rediss://``) or the store has no
    ``encryption``.
    """

    def __init__(
        self,
        client: Redis,
        *,
        prefix: str = DEFAULT_PREFIX,
        clock: Callable[[], float] | None = None,
        owns_client: bool = False,
        encryption: Encryption | None = None,
        retention: float = DEFAULT_RETENTION,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        if not retention > 0:
            raise ValueError("retention must be > 0 seconds")
        if not timeout > 0:
            raise ValueError("timeout must be > 0 seconds")
        self._timeout = timeout
        if encryption is not None and not isinstance(encryption, Encryption):
            raise TypeError("encryption is an Encryption([key, ...]) or None")
        self._redis = client
        self._encryption = encryption
        self._retention = _ms(retention)
        remote, plaintext = _exposure(client)
        if remote and (plaintext or encryption is None):
            problems = []
            if plaintext:
                problems.append("the connection is plaintext redis:// (use rediss://, TLS)")
            if encryption is None:
                problems.append(
                    "the guest credentials are stored unencrypted "
                    "(pass encryption=Encryption(keys))"
                )
            warnings.warn(
                "RedisStore on a host other than this one: " + "; ".join(problems),
                InsecureStoreWarning,
                stacklevel=2,
            )
        self.keys = Keys(prefix)
        self._clock = clock
        self._owns = owns_client
        #: Network round trips made so far (a pipeline counts one): for measurements.
        self.round_trips = 0
        self._batch: list[_Commit] = []
        self._flusher: asyncio.Task[None] | None = None
        #: Per worker registered through this store: the epoch it registered under (the
        #: marker of the store's state) and what it registered with (for RESTORE).
        self._epochs: dict[str, str] = {}
        self._registrations: dict[str, tuple[int, str, int]] = {}
        self._scripts = {
            name: client.register_script(getattr(_lua, name))
            for name in ("ADD", "REGISTER", "SCAN", "CLAIM", "RENEW", "RECORD_SEND", "COMMIT",
                         "RELEASE", "FINISH", "RESTORE", "GIVE_UP")
        }  # fmt: skip

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        prefix: str = DEFAULT_PREFIX,
        max_connections: int = 64,
        clock: Callable[[], float] | None = None,
        encryption: Encryption | None = None,
        retention: float = DEFAULT_RETENTION,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> RedisStore:
        """A store on ``redis://HOST:PORT/DB`` (``rediss://`` for TLS) with a bounded
        connection pool (callers wait for a free connection rather than opening one per
        chat). Nothing is sent until the first command. The other arguments: see
        :class:`RedisStore`."""
        try:
            from redis.asyncio import BlockingConnectionPool, Redis
        except ImportError:  # pragma: no cover - depends on the environment
            raise StoreError(
                "RedisStore needs redis-py: pip install 'webchat-async[redis]'"
            ) from None
        try:
            # The pool's own wait for a free connection, and the connect, are bounded by
            # the same timeout as a call (each call is also bounded as a whole, in _run).
            pool = BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=timeout,
                socket_connect_timeout=timeout,
            )
        except ValueError:
            raise ValueError("not a redis:// URL (redis://HOST:PORT/DB)") from None
        # from_pool: the client owns the pool and closes it with itself.
        return cls(
            Redis.from_pool(pool),
            prefix=prefix,
            clock=clock,
            owns_client=True,
            encryption=encryption,
            retention=retention,
            timeout=timeout,
        )

    def __repr__(self) -> str:
        keys = "encrypted" if self._encryption is not None else "plaintext"
        return f"<RedisStore prefix={self.keys.prefix!r} secrets={keys}>"

    @property
    def encryption(self) -> Encryption | None:
        """The keys the store encrypts with (``None``: secrets stored in clear)."""
        return self._encryption

    def seal_saved(self, saved: SavedSession) -> SavedSession:
        """See :meth:`SessionStore.seal_saved`: with ``encryption``, ``saved`` with its
        JWT and stream URI encrypted under the first key (two Fernet encryptions)."""
        return seal_saved(saved, self._encryption)

    @property
    def client(self) -> Redis:
        """The ``redis.asyncio.Redis`` client (tests read the keys through it)."""
        return self._redis

    def _now(self) -> int:
        return 0 if self._clock is None else _ms(self._clock())

    async def _run(self, name: str, keys: Sequence[str], args: Sequence[Any]) -> Any:
        from redis.exceptions import RedisError

        self.round_trips += 1
        try:
            return await self._bounded(self._scripts[name](keys=list(keys), args=list(args)))
        except RedisError as exc:
            # Only the class: a redis-py message can carry the host and port.
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from None

    async def _bounded(self, call: Awaitable[Any], extra: float = 0.0) -> Any:
        """``call``, or StoreError once it took ``timeout`` (plus ``extra``) seconds: a
        stalled Redis (paused, partitioned) fails the call instead of holding it. redis-py
        drops the connection of a call cancelled mid-way, so no late answer is misread."""
        try:
            return await asyncio.wait_for(call, self._timeout + extra)
        except asyncio.TimeoutError:
            raise StoreError(
                f"the Redis store did not answer within {self._timeout + extra:g} s"
            ) from None

    # -- placement ---------------------------------------------------------------------

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
        k = self.keys
        answer = await self._run(
            "ADD",
            (k.chat(conversation_id), k.leases, k.workers, k.stats),
            (
                k.prefix,
                conversation_id,
                seal_text(saved, self._encryption),
                base_url,
                self._now(),
                _ms(reserve),
                self._retention,
                protocol,
            ),
        )
        if _text(answer[0]) == "exists":
            raise ValueError(f"chat {conversation_id} is already in the store")
        return _text(answer[1]) or None

    # -- workers -----------------------------------------------------------------------

    async def register(
        self, worker_id: str, *, ttl: float, concurrency: int, host: str, pid: int
    ) -> None:
        """See :meth:`SessionStore.register`."""
        k = self.keys
        epoch = await self._run(
            "REGISTER",
            (k.workers, k.worker(worker_id), k.epoch),
            (worker_id, self._now(), _ms(ttl), concurrency, host, pid, self._retention,
             secrets.token_hex(8)),
        )  # fmt: skip
        self._epochs[worker_id] = _text(epoch)
        self._registrations[worker_id] = (concurrency, host, pid)

    async def unregister(self, worker_id: str) -> None:
        """See :meth:`SessionStore.unregister`."""
        from redis.exceptions import RedisError

        k = self.keys
        try:
            async with self._redis.pipeline(transaction=True) as pipe:
                pipe.zrem(k.workers, worker_id)
                pipe.delete(k.worker(worker_id), k.inbox(worker_id), k.owned(worker_id))
                await self._bounded(pipe.execute())
        except RedisError as exc:
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from None
        finally:
            self._epochs.pop(worker_id, None)
            self._registrations.pop(worker_id, None)

    async def next_assigned(self, worker_id: str, timeout: float, limit: int) -> list[str]:
        """See :meth:`SessionStore.next_assigned` (``BLPOP`` for the first, then ``LPOP``
        for up to ``limit - 1`` more: a hand-over of many chats is taken in two calls)."""
        from redis.exceptions import RedisError

        key = self.keys.inbox(worker_id)
        try:
            self.round_trips += 1
            first = await self._bounded(self._redis.blpop([key], timeout=timeout), timeout)
            if first is None:
                return []
            handed = [_text(first[1])]
            if limit > 1:
                self.round_trips += 1
                more = await self._bounded(self._redis.lpop(key, limit - 1))
                handed += [_text(cid) for cid in more or ()]
        except RedisError as exc:
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from None
        return handed

    async def scan(self, limit: int) -> Scan:
        """See :meth:`SessionStore.scan`."""
        k = self.keys
        now, total, rows, loads = await self._run(
            "SCAN", (k.leases, k.workers), (k.prefix, self._now(), limit)
        )
        now = int(now)
        claimable = []
        for i in range(0, len(rows), 2):
            score = float(_text(rows[i + 1]))
            age = float("inf") if score == 0 else (now - score) / 1000
            claimable.append((_text(rows[i]), age))
        load_map = {_text(loads[i]): int(loads[i + 1]) for i in range(0, len(loads), 2)}
        return Scan(claimable, load_map, int(total))

    # -- leases ------------------------------------------------------------------------

    async def claim(self, conversation_id: str, worker_id: str, *, ttl: float) -> Claim | None:
        """See :meth:`SessionStore.claim`."""
        k = self.keys
        answer = await self._run(
            "CLAIM",
            (k.chat(conversation_id), k.leases, k.stats),
            (k.prefix, conversation_id, worker_id, self._now(), _ms(ttl), self._retention),
        )
        if _text(answer[0]) != "ok":
            return None
        token, saved, base, position, outstanding, event_key, sends, previous = answer[1:9]
        failing = _text(answer[9]) if len(answer) > 9 else ""
        protocol = read_protocol(_text(answer[10]) if len(answer) > 10 else "")
        pending = None
        if _text(event_key):
            pending = PendingSends(event_key=_text(event_key), bodies=_ids(sends))
        return Claim(
            conversation_id=conversation_id,
            token=int(token),
            # DecryptionError (a StoreError) when the keys do not fit: the lease just
            # taken then runs out and another worker (with the right keys) can claim it.
            saved=open_saved(_text(saved), self._encryption, conversation_id),
            base_url=_text(base),
            position=_text(position) or None,
            outstanding=_ids(outstanding),
            pending=pending,
            previous_owner=_text(previous) or None,
            failing_for=int(failing) / 1000 if failing else None,
            protocol=protocol,
        )

    async def renew(self, worker_id: str, leases: Mapping[str, int], *, ttl: float) -> set[str]:
        """See :meth:`SessionStore.renew` (one script for the heartbeat and every lease)."""
        k = self.keys
        epoch = self._epochs.get(worker_id, "")
        args: list[Any] = [k.prefix, worker_id, self._now(), _ms(ttl), self._retention, epoch]
        for cid, token in leases.items():
            args += (cid, token)
        answer = await self._run("RENEW", (k.workers, k.leases, k.epoch), args)
        if _text(answer[0]) == "reset":
            raise StoreReset(f"the store lost its state since worker {worker_id} registered")
        return {_text(cid) for cid in answer[1:]}

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
        answer = await self._run(
            "RECORD_SEND",
            (self.keys.chat(conversation_id), self.keys.leases),
            (conversation_id, token, event_key, index, body, self._now(), _ms(send_margin)),
        )
        if answer == 0:
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")
        if answer == -1:
            raise LeaseLost(f"too little of the lease on chat {conversation_id} is left")
        if answer == -2:
            raise StoreReset(f"the store has no record of chat {conversation_id}")

    async def commit(
        self, conversation_id: str, token: int, progress: Progress, *, ttl: float
    ) -> None:
        """See :meth:`SessionStore.commit` (batched with the other chats' commits)."""
        outstanding = progress.outstanding
        saved = progress.saved
        if self._encryption is not None and saved:
            # A worker's text comes from seal_saved (one substring test); any other is
            # sealed here.
            saved = seal_text(saved, self._encryption)
        values = (
            conversation_id, token, saved, progress.position or "",
            json.dumps(list(outstanding)) if outstanding else "[]",
        )  # fmt: skip
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._batch.append((_ms(ttl), progress.failed, values, future))
        if self._flusher is None:
            self._flusher = asyncio.get_running_loop().create_task(self._flush())
        answer = await future
        if answer == 2:
            raise StoreReset(f"the store has no record of chat {conversation_id}")
        if answer == 0:
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")

    async def _flush(self) -> None:
        """Send the waiting commits, one script call per batch (per lease length, which is
        the same for every commit of a worker), until none is left."""
        k = self.keys
        batch: list[_Commit] = []
        try:
            while self._batch:
                batch, self._batch = self._batch, []
                groups: dict[int, list[_Commit]] = {}
                for entry in batch:
                    groups.setdefault(entry[0], []).append(entry)
                chunks = [
                    (ttl_ms, entries[i : i + _MAX_BATCH])
                    for ttl_ms, entries in groups.items()
                    for i in range(0, len(entries), _MAX_BATCH)
                ]
                for ttl_ms, group in chunks:
                    failed = "".join("1" if entry[1] else "0" for entry in group)
                    arguments: list[Any] = [
                        k.prefix, self._now(), ttl_ms, failed, self._retention
                    ]  # fmt: skip
                    for entry in group:
                        arguments += entry[2]
                    answers: Sequence[Any]
                    try:
                        answers = _text(await self._run("COMMIT", (k.leases, k.stats), arguments))
                    except StoreError as exc:
                        answers = [exc] * len(group)
                    if len(answers) != len(group):  # pragma: no cover - a broken server
                        answers = [StoreError("the Redis store answered a commit oddly")] * len(
                            group
                        )
                    for (_, _, _, future), answer in zip(group, answers, strict=True):
                        if future.done():
                            continue  # the caller was cancelled; the commit went out anyway
                        if isinstance(answer, BaseException):
                            future.set_exception(answer)
                        else:
                            future.set_result(int(answer) if answer in ("1", "2") else 0)
                batch = []
        finally:
            self._flusher = None
            # Cancelled while sending (the loop is closing): nobody must wait for ever.
            for *_, future in batch + self._batch:
                if not future.done():
                    future.set_exception(StoreError("the Redis store was closed"))
            self._batch = []

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
        k = self.keys
        answer = await self._run(
            "RELEASE",
            (k.chat(conversation_id), k.leases, k.workers, k.stats),
            (
                k.prefix,
                conversation_id,
                worker_id,
                token,
                self._now(),
                _ms(reserve),
                self._retention,
                "1" if failed else "0",
            ),
        )
        if _text(answer[0]) == "gone":
            raise StoreReset(f"the store has no record of chat {conversation_id}")
        if _text(answer[0]) != "ok":
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")
        return _text(answer[1]) or None

    async def restore(
        self, worker_id: str, held: Sequence[Claim], *, ttl: float
    ) -> set[str] | None:
        """See :meth:`SessionStore.restore` (one script: the check of the epoch, the
        registration and every chat written back, atomically). The saved sessions are
        sealed as a commit seals them."""
        k = self.keys
        concurrency, host, pid = self._registrations.get(worker_id, (0, "", 0))
        args: list[Any] = [
            k.prefix, worker_id, self._now(), _ms(ttl), self._retention,
            self._epochs.get(worker_id, ""), secrets.token_hex(8), concurrency, host, pid,
        ]  # fmt: skip
        for claim in held:
            saved = claim.saved
            if self._encryption is not None:
                saved = seal_text(saved, self._encryption)
            pending = claim.pending
            args += (
                claim.conversation_id, claim.token, saved, claim.base_url, claim.position or "",
                json.dumps(list(claim.outstanding)),
                pending.event_key if pending is not None else "",
                json.dumps(list(pending.bodies)) if pending is not None else "[]",
                claim.protocol,
            )  # fmt: skip
        answer = await self._run(
            "RESTORE",
            (k.workers, k.leases, k.epoch, k.worker(worker_id), k.owned(worker_id), k.stats),
            args,
        )
        if _text(answer[0]) != "restored":
            return None
        self._epochs[worker_id] = _text(answer[1])
        return {_text(cid) for cid in answer[2:]}

    async def finish(self, conversation_id: str, worker_id: str, token: int) -> None:
        """See :meth:`SessionStore.finish`."""
        k = self.keys
        answer = await self._run(
            "FINISH",
            (k.chat(conversation_id), k.leases, k.stats),
            (k.prefix, conversation_id, worker_id, token, self._now(), self._retention),
        )
        if answer == 0:
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")

    async def give_up(
        self, conversation_id: str, worker_id: str, token: int, *, reason: str
    ) -> None:
        """See :meth:`SessionStore.give_up`."""
        k = self.keys
        answer = await self._run(
            "GIVE_UP",
            (k.chat(conversation_id), k.leases, k.stats, k.given_up),
            (k.prefix, conversation_id, worker_id, token, self._now(), self._retention,
             reason[:500]),
        )  # fmt: skip
        if answer == 0:
            raise LeaseLost(f"the lease on chat {conversation_id} was lost")

    async def _read_status(self, chat_limit: int) -> tuple[Any, Any, Any, Any, Any, Any]:
        """The raw reads of :meth:`status`: the time, workers, leases, counters, the given
        up, and each worker's and chat's details."""
        k = self.keys
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.time()
            pipe.zrange(k.workers, 0, -1, withscores=True)
            pipe.zrange(k.leases, 0, chat_limit - 1, withscores=True)
            pipe.hgetall(k.stats)
            pipe.xrevrange(k.given_up, "+", "-", count=chat_limit)
            now_pair, worker_rows, lease_rows, counters, gave_up = await self._bounded(
                pipe.execute()
            )
        now = (
            self._now()
            if self._clock is not None
            else int(now_pair[0]) * 1000 + int(now_pair[1]) // 1000
        )
        async with self._redis.pipeline(transaction=False) as pipe:
            for worker, _ in worker_rows:
                pipe.hmget(k.worker(_text(worker)), "concurrency", "host", "pid")
                pipe.scard(k.owned(_text(worker)))
            for cid, _ in lease_rows:
                pipe.hmget(k.chat(_text(cid)), "owner", "token", "reserved", "proto")
            details = await self._bounded(pipe.execute())
        return now, worker_rows, lease_rows, counters, gave_up, details

    async def status(self, *, chat_limit: int = 1000) -> FleetStatus:
        """See :meth:`SessionStore.status` (reads, in two pipelined round trips)."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import RedisError

        try:
            try:
                read = await self._read_status(chat_limit)
            except RedisConnectionError:
                # A pooled connection from before a server restart fails once (redis-py
                # 8.1 does not send the pipeline again itself; 8.2 does): a read is safe
                # to send again, on a new connection.
                read = await self._read_status(chat_limit)
        except RedisError as exc:
            raise StoreError(f"the Redis store failed: {type(exc).__name__}") from None
        now, worker_rows, lease_rows, counters, gave_up, details = read
        workers = []
        for i, (worker, score) in enumerate(worker_rows):
            (concurrency, host, pid), held = details[2 * i], details[2 * i + 1]
            workers.append(
                WorkerStatus(
                    worker_id=_text(worker),
                    alive=score > now,
                    expires_in=(score - now) / 1000,
                    chats=int(held),
                    concurrency=int(_text(concurrency) or 0),
                    host=_text(host),
                    pid=int(_text(pid) or 0),
                )
            )
        chats = []
        offset = 2 * len(worker_rows)
        for j, (cid, score) in enumerate(lease_rows):
            owner, token, reserved, proto = details[offset + j]
            chats.append(
                ChatStatus(
                    conversation_id=_text(cid),
                    owner=_text(owner),
                    token=int(_text(token) or 0),
                    expires_in=(score - now) / 1000 if score else 0.0,
                    reserved_for=_text(reserved),
                    protocol=_protocol_of(_text(proto)),
                )
            )
        return FleetStatus(
            workers=tuple(workers),
            chats=tuple(chats),
            counters={_text(name): int(value) for name, value in counters.items()},
            given_up={
                _text(fields.get(b"chat")): _text(fields.get(b"reason")) for _, fields in gave_up
            },
        )

    async def aclose(self) -> None:
        """Wait for the commits on the way, then close the client if this store created it
        (:meth:`from_url`)."""
        flusher = self._flusher
        if flusher is not None:
            await asyncio.wait({flusher})
        if self._owns:
            await self._redis.aclose()

"""``Worker``: holds chats from a store by lease and runs a handler for each of their events.

Three kinds of task, all owned by :meth:`Worker.run` and ended with it: the *intake* (takes
chats handed to this worker at once, and every ``scan_interval`` claims chats whose lease
ran out, up to a fair share of the fleet's load), the *renewal* (every third of the lease,
one store call renews the heartbeat and every lease; chats reported lost are stopped), and
one *runner* per chat (:class:`~webchat_async.worker._chat.ChatRunner`).
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import random
import secrets
import socket
import time
from collections.abc import Callable, Generator
from types import TracebackType
from typing import Any

import attrs

from .._aio import cancel_and_wait, cancel_until_done
from .._options import SessionOptions
from ..api import WebChatApi
from ..messaging import CoreOptions
from ._balance import shed_count
from ._chat import ChatRunner, Handler, Outcome
from ._memory import MemoryStore
from ._model import MESSAGING, LeaseLost, StoreError, StoreReset
from ._store import Scan, SessionStore
from ._wm_chat import MessagingRunner

__all__ = ["Worker"]

logger = logging.getLogger("webchat_async.worker")


class Worker:
    """Runs ``handler(chat, event)`` for every event of every chat it holds.

    For example:

    ```python
    async def echo(chat: Chat, event: Event) -> None:
        if isinstance(event, MessageReceived) and not chat.is_own(event.message):
            await chat.send_message(f"echo: {event.message.body}")

    worker = Worker(echo, store=RedisStore.from_url("redis://127.0.0.1:6379/0"))
    await worker.run()          # until worker.stop() (e.g. on SIGTERM): hands over
    ```

    Stopping is one call, :meth:`stop`: ``await worker.stop()`` hands every chat over and
    returns once the worker has stopped; ``worker.stop()`` without ``await`` (a signal
    handler) only asks.

    Args:
        handler: ``async def handler(chat, event)``; an exception is logged and counted,
            and the event is committed as handled (it is not retried).
        store: where chats and leases live; default a new :class:`MemoryStore`.
        concurrency: the most chats held at once.
        lease: seconds a lease lasts without renewal (renewed every third of it). A worker
            that dies loses its chats to others about this long after its last renewal.
        send_margin: a message is sent only while at least this much of the lease is left
            (default: half the lease); see the guarantees in ``docs/workers.md``.
        scan_interval: seconds between looks for chats whose lease ran out (default: a
            quarter of the lease).
        handover_timeout: seconds a hand-over waits for handlers to finish their event
            (default: the send margin); past it they are cancelled, uncommitted.
        give_up_after: seconds a chat may keep failing to resume or stream (a service
            that no longer answers for it), over every worker that tries it, with no
            event committed, before it is removed from the store; the reason shows in
            :attr:`FleetStatus.given_up <webchat_async.worker.FleetStatus>`. A
            conversation the service reports gone (400/401/403/404) is removed at once.
        rebalance: at a scan that finds no chat to claim, hand chats over to the workers
            below their fair share when the fleet's load is uneven past
            ``rebalance_slack`` (a worker that joins, or replaces one in a rolling
            restart, gets its share); see ``docs/workers.md``.
        rebalance_slack: how uneven the fleet may be, in chats beyond one, before chats
            move (>= 1, so that rounding never moves a chat back).
        worker_id: a name unique in the fleet (default: host, pid and a random part).
        session_options: options of every resumed Web Chat v2 session (``leave_on_exit``
            is forced off).
        messaging_options: the core options of every reattached Web Messaging session
            (:class:`~webchat_async.messaging.CoreOptions`; default: its defaults).
        clock: local monotonic seconds for lease deadlines (tests move it); scans are
            paced by the event loop's clock.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        store: SessionStore | None = None,
        concurrency: int = 100,
        lease: float = 10.0,
        send_margin: float | None = None,
        scan_interval: float | None = None,
        handover_timeout: float | None = None,
        give_up_after: float = 600.0,
        rebalance: bool = True,
        rebalance_slack: int = 1,
        worker_id: str | None = None,
        session_options: SessionOptions | None = None,
        clock: Callable[[], float] = time.monotonic,
        messaging_options: CoreOptions | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be >= 1")
        if not lease > 0:
            raise ValueError("lease must be > 0 seconds")
        self._handler = handler
        self._store: SessionStore = store if store is not None else MemoryStore()
        self._concurrency = concurrency
        self._lease = lease
        self._send_margin = lease / 2 if send_margin is None else send_margin
        if not 0 <= self._send_margin < lease:
            raise ValueError("send_margin must be >= 0 and below the lease")
        self._scan_interval = lease / 4 if scan_interval is None else scan_interval
        self._handover_timeout = self._send_margin if handover_timeout is None else handover_timeout
        if not give_up_after > 0:
            raise ValueError("give_up_after must be > 0 seconds")
        if rebalance_slack < 1:
            raise ValueError("rebalance_slack must be >= 1")
        self._rebalance = rebalance
        self._slack = rebalance_slack
        #: Scans made, and chats handed over to even the load (both for tests and logs);
        #: the loads of the last scan that could have moved chats (see _shed).
        self._scans = 0
        self._rebalanced = 0
        self._settled: dict[str, int] | None = None
        self._give_up_after = give_up_after
        self._host = socket.gethostname()
        self.id = worker_id or f"{self._host}-{os.getpid()}-{secrets.token_hex(3)}"
        options = session_options if session_options is not None else SessionOptions()
        self._options = attrs.evolve(options, leave_on_exit=False)
        self._messaging_options = messaging_options or CoreOptions()
        self._clock = clock
        self._runners: dict[str, ChatRunner] = {}
        self._apis: dict[str, WebChatApi] = {}
        self._room = asyncio.Event()
        self._stop = asyncio.Event()
        self._errors: list[BaseException] = []
        self._running = False
        self._registered = False
        self._renewing = False
        self._main: asyncio.Task[None] | None = None
        self._changed = asyncio.Condition()
        #: Write-backs after the store lost its state: one at a time, counted.
        self._restoring = asyncio.Lock()
        self._restores = 0
        #: Set while the worker is not running (what ``await stop()`` waits for).
        self._idle = asyncio.Event()
        self._idle.set()

    def __repr__(self) -> str:
        return f"<Worker {self.id} chats={len(self._runners)}/{self._concurrency}>"

    @property
    def store(self) -> SessionStore:
        """The store the worker takes its chats from."""
        return self._store

    @property
    def chats(self) -> tuple[str, ...]:
        """The conversation ids held now."""
        return tuple(self._runners)

    @property
    def scans(self) -> int:
        """How many scans of the store this worker made (one every ``scan_interval``)."""
        return self._scans

    @property
    def rebalanced(self) -> int:
        """How many chats this worker handed over to even the fleet's load."""
        return self._rebalanced

    def stop(self) -> _Stopping:
        """Hand every chat over and stop the worker (:meth:`run` returns, or the
        ``async with`` block's worker ends).

        ``await worker.stop()`` returns once that is done (at once if the worker is not
        running); called without ``await`` (from a signal handler, or code without an
        event loop) it only asks, and returns at once. Each chat stops after the event
        being handled (committed); a handler still running after ``handover_timeout`` is
        cancelled and its event handled again by the next owner. Not from a handler: the
        hand-over would wait for it. Errors that stopped the worker are raised by
        :meth:`run` (or the ``async with`` block), not here.
        """
        self._stop.set()
        return _Stopping(self)

    async def _stopped(self) -> None:
        await self._idle.wait()

    async def wait_for(
        self, predicate: Callable[[Worker], bool], *, timeout: float | None = None
    ) -> None:
        """Return once ``predicate(worker)`` holds; it is checked whenever the worker takes
        or lets go of a chat. ``asyncio.TimeoutError`` after ``timeout`` seconds."""

        async def until() -> None:
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

        await asyncio.wait_for(until(), timeout)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- lifetime ----------------------------------------------------------------------

    async def run(self) -> None:
        """Hold and handle chats until :meth:`stop`; then hand them over and return.

        Cancelling it also hands the chats over. Raises what stopped it early (the store
        refusing the registration, a bug in the worker).
        """
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._idle.clear()
        try:
            await self._register()
            await self._serve()
        finally:
            self._running = False
            self._idle.set()

    async def _register(self) -> None:
        await self._store.register(
            self.id,
            ttl=self._lease,
            concurrency=self._concurrency,
            host=self._host,
            pid=os.getpid(),
        )
        self._registered = True

    async def _serve(self) -> None:
        loop = asyncio.get_running_loop()
        self._renewing = True
        renew = loop.create_task(self._renew_loop(), name=f"worker-renew-{self.id}")
        intake = loop.create_task(self._intake_loop(), name=f"worker-intake-{self.id}")
        stop = loop.create_task(self._stop.wait())
        try:
            await asyncio.wait({renew, intake, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            self._stop.set()
            await cancel_and_wait(stop)
            intake.cancel()
            try:
                # Hand over first: stopping the intake can take a scan interval (see
                # _intake_loop), and a chat claimed meanwhile is handed over after it.
                await self._hand_over()
                await cancel_and_wait(intake)
                await self._hand_over()
            finally:
                self._renewing = False
                await cancel_and_wait(renew)
                await self._close()
        for task in (intake, renew):
            if not task.cancelled() and task.exception() is not None:
                self._errors.append(task.exception())  # type: ignore[arg-type]
        if self._errors:
            raise self._errors[0]

    async def __aenter__(self) -> Worker:
        """Register with the store, then run in a background task until the block ends
        (which hands the chats over and raises what stopped the worker, if anything)."""
        if self._running:
            raise RuntimeError("the worker is already running")
        self._running = True
        self._idle.clear()
        try:
            await self._register()
        except BaseException:
            self._running = False
            self._idle.set()
            raise
        self._main = asyncio.get_running_loop().create_task(self._serve_then_idle())
        return self

    async def _serve_then_idle(self) -> None:
        try:
            await self._serve()
        finally:
            self._running = False
            self._idle.set()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
        main, self._main = self._main, None
        if main is not None:
            await main

    async def _hand_over(self) -> None:
        runners = list(self._runners.values())
        for runner in runners:
            runner.request_stop()
        tasks = {r.task for r in runners if r.task is not None}
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=self._handover_timeout)
            # Cancelled again while they run: a handler (or a library under it) that
            # swallowed the first cancellation would otherwise hold the hand-over, and the
            # worker's exit, for ever. Each round leaves a runner the hand-over time to
            # release its chat.
            stubborn = await cancel_until_done(late, max(self._handover_timeout, 0.1))
            for task in stubborn:
                logger.warning("worker %s: %s needed more than one cancellation to stop",
                               self.id, task.get_name())  # fmt: skip

    async def _close(self) -> None:
        try:
            await self._store.unregister(self.id)
        except StoreError as exc:
            logger.warning("worker %s: unregistering failed: %s", self.id, exc)
        apis, self._apis = list(self._apis.values()), {}
        for api in apis:
            await api.aclose()

    # -- intake ------------------------------------------------------------------------

    async def _intake_loop(self) -> None:
        # Scans are paced by the event loop's clock; ``clock`` is for leases (tests move it).
        now = asyncio.get_running_loop().time
        next_scan = now()
        # The flag, not only the cancellation, ends the loop: redis-py can swallow the
        # cancellation of a blocking command (redis/redis-py#2028); BLPOP then returns
        # within a scan interval and the loop sees the flag.
        while not self._stop.is_set():
            room = self._concurrency - len(self._runners)
            wait = max(0.0, next_scan - now())
            if room > 0 and wait > 0.001:
                try:
                    handed = await self._store.next_assigned(self.id, wait, room)
                except StoreError as exc:
                    logger.warning("worker %s: %s", self.id, exc)
                    handed = []
                    await asyncio.sleep(wait)
                if handed:
                    # Claimed side by side: a hand-over of many chats lands at once.
                    await asyncio.gather(*(self._claim_quietly(cid) for cid in handed))
                    continue
            elif room <= 0:
                self._room.clear()
                try:
                    await asyncio.wait_for(self._room.wait(), wait)
                except asyncio.TimeoutError:
                    pass
            if now() >= next_scan:
                next_scan = now() + self._scan_interval
                try:
                    await self._scan()
                except StoreError as exc:
                    logger.warning("worker %s: %s", self.id, exc)

    async def _scan(self) -> None:
        room = self._concurrency - len(self._runners)
        if room <= 0 and not self._rebalance:
            return
        # Whether chats of this worker are on their way out, before the store is read:
        # loads read while a hand-over runs (or that one finished during the read) are
        # stale, and shedding on them hands over twice (the cause of the chats that came
        # back to their old owner in the reverted rebalance).
        moving = self._moving()
        scan = await self._store.scan(limit=max(100, 4 * max(room, 1)))
        try:
            if scan.claimable:
                self._settled = None
                if room > 0:
                    await self._claim_expired(scan, room)
            elif self._rebalance:
                self._shed(scan, moving or self._moving())
        finally:
            self._scans += 1
            await self._notify()

    def _moving(self) -> bool:
        return any(r.stopping for r in self._runners.values())

    def _shed(self, scan: Scan, moving: bool) -> None:
        """Hand over this worker's part of the fleet's excess (see :mod:`._balance`) the
        way :meth:`stop` does: each chat after its event, committed, released to the least
        loaded other worker. Only on loads that have settled: the same in two scans in a
        row, nothing of this worker's moving, and every chat counted."""
        loads = dict(scan.loads)
        # Every chat of the store is counted by a live worker (none between a hand-over
        # and its claim, none waiting for a dead worker's lease), and this worker's count
        # is what it holds.
        counted = sum(loads.values()) == scan.total
        if moving or self._stop.is_set() or not counted or loads.get(self.id) != len(self._runners):
            self._settled = None
            return
        if loads != self._settled:
            self._settled = loads
            return
        count = min(len(self._runners), shed_count(loads, self.id, slack=self._slack))
        if count <= 0:
            return
        self._settled = None
        held = sorted(self._runners.values(), key=lambda r: r.busy)  # idle ones first
        for runner in held[:count]:
            runner.request_stop()
        self._rebalanced += count
        logger.info("worker %s hands %d chats over to even the load (%d held, %d workers)",
                    self.id, count, loads[self.id], len(loads))  # fmt: skip

    async def _claim_expired(self, scan: Scan, room: int) -> None:
        live = max(1, len(scan.loads | {self.id: 0}))
        fair = math.ceil(scan.total / live)
        quota = min(room, fair - len(self._runners))
        candidates = list(scan.claimable)
        random.shuffle(candidates)  # workers scanning at once spread over the chats
        # Up to its fair share a worker claims at once; above it, it leaves a chat to the
        # others for one scan interval (they scan as often), then takes what is left.
        # Claims go side by side: a busy worker takes a dead one's chats in one round.
        first = [cid for cid, _ in candidates[: max(0, quota)]]
        taken = sum(await asyncio.gather(*(self._claim_quietly(cid) for cid in first)))
        room -= taken
        chosen = set(first)
        rest = [cid for cid, age in candidates if cid not in chosen and age >= self._scan_interval]
        if room > 0 and rest:
            await asyncio.gather(*(self._claim_quietly(cid) for cid in rest[:room]))

    async def _claim_quietly(self, conversation_id: str) -> bool:
        try:
            return await self._claim(conversation_id)
        except StoreError as exc:
            logger.warning("worker %s: %s", self.id, exc)
            return False

    async def _claim(self, conversation_id: str) -> bool:
        if conversation_id in self._runners or self._stop.is_set():
            return False
        sent_at = self._clock()
        claim = await self._store.claim(conversation_id, self.id, ttl=self._lease)
        if claim is None:
            return False
        api = self._apis.get(claim.base_url)
        if api is None:
            api = self._apis[claim.base_url] = WebChatApi(base_url=claim.base_url)
        common: dict[str, Any] = dict(
            worker_id=self.id,
            store=self._store,
            handler=self._handler,
            api=api,
            options=self._options,
            lease=self._lease,
            send_margin=self._send_margin,
            clock=self._clock,
            claimed_at=sent_at,
            recover=self._restore,
            generation=lambda: self._restores,
            give_up_after=self._give_up_after,
        )
        runner: ChatRunner
        if claim.protocol == MESSAGING:
            runner = MessagingRunner(claim, messaging_options=self._messaging_options, **common)
        else:
            runner = ChatRunner(claim, **common)
        self._runners[conversation_id] = runner
        runner.task = asyncio.get_running_loop().create_task(
            self._drive(runner), name=f"worker-chat-{conversation_id[:8]}"
        )
        await self._notify()
        if claim.previous_owner:
            logger.info("worker %s took chat %s over from %s (token %d)", self.id,
                        conversation_id, claim.previous_owner, claim.token)  # fmt: skip
        return True

    async def _drive(self, runner: ChatRunner) -> Outcome:
        try:
            return await runner.run()
        except (LeaseLost, StoreError) as exc:
            # A fenced write was refused or the store is out of reach: the chat is left to
            # its lease (another worker, or this one, claims it once it runs out).
            logger.warning("chat %s stopped here: %s", runner.conversation_id, exc)
            return "lost"
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._errors.append(exc)
            self._stop.set()
            raise
        finally:
            self._runners.pop(runner.conversation_id, None)
            self._room.set()
            await self._notify()

    # -- renewal -----------------------------------------------------------------------

    async def _renew_loop(self) -> None:
        every = self._lease / 3
        # The flag ends the loop as the stop flag does the intake's: a renewal whose
        # cancellation the store's client swallowed (redis/redis-py#2028) would otherwise
        # renew for ever, and the worker would never finish stopping. (Leases are renewed
        # through the hand-over: a handler finishing its event may still send.)
        while self._renewing:
            await asyncio.sleep(every)
            if self._renewing:
                await self.renew()

    async def renew(self) -> None:
        """Renew the heartbeat and every lease now (done every third of the lease);
        stop the chats whose lease was lost, or ran out locally while the store was out of
        reach."""
        sent_at = self._clock()
        seen = self._restores
        leases = {cid: r.token for cid, r in self._runners.items() if not r.stopping}
        try:
            try:
                lost = await self._store.renew(self.id, leases, ttl=self._lease)
            except StoreReset:
                await self._restore(seen)
                sent_at = self._clock()
                leases = {cid: r.token for cid, r in self._runners.items() if not r.stopping}
                lost = await self._store.renew(self.id, leases, ttl=self._lease)
        except StoreError as exc:
            logger.warning("worker %s: renewing failed: %s", self.id, exc)
        else:
            for cid, token in leases.items():
                runner = self._runners.get(cid)
                if runner is None or runner.token != token:
                    continue
                if cid in lost:
                    logger.warning("worker %s lost chat %s", self.id, cid)
                    runner.lose()
                else:
                    runner.renewed(sent_at)
        now = self._clock()
        for runner in list(self._runners.values()):
            if now >= runner.deadline and not runner.lost:
                logger.warning("worker %s: lease on chat %s ran out", self.id,
                               runner.conversation_id)  # fmt: skip
                runner.lose()

    async def _restore(self, seen: int) -> bool:
        """After a :class:`StoreReset` seen when ``seen`` write-backs had been done: if the
        store lost its state, write back every chat held here (one store call) and stop
        the ones the store now has under a newer token. Returns whether a write-back was
        done since ``seen`` (the caller tries its write again); ``False``: the store did
        not lose its state (the chat was finished or taken by another worker)."""
        async with self._restoring:
            if self._restores > seen:
                return True
            held = [c for r in list(self._runners.values()) if (c := r.holding()) is not None]
            sent_at = self._clock()
            restored = await self._store.restore(self.id, held, ttl=self._lease)
            if restored is None:
                return False
            self._restores += 1
            for claim in held:
                runner = self._runners.get(claim.conversation_id)
                if runner is None or runner.token != claim.token:
                    continue
                if claim.conversation_id in restored:
                    runner.renewed(sent_at)
                else:
                    runner.lose()
            logger.warning(
                "worker %s: the store lost its state (a Redis restarted without "
                "persistence?): wrote back %d of the %d chats held here",
                self.id, len(restored), len(held),
            )  # fmt: skip
            return True


class _Stopping:
    """What :meth:`Worker.stop` returns: awaiting it waits until the worker stopped; not
    awaiting it leaves nothing behind (no coroutine is made until then)."""

    __slots__ = ("_worker",)

    def __init__(self, worker: Worker) -> None:
        self._worker = worker

    def __await__(self) -> Generator[object, None, None]:
        return self._worker._stopped().__await__()

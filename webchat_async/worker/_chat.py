"""One chat held by a worker: the handler's view of it (:class:`Chat`) and the task that
drives it (:class:`ChatRunner`).

The runner resumes the committed session, then for each event: runs the handler, and
commits the new position with the sends the handler made (one store write). Sends go
through :class:`Chat`, which refuses them once the lease is gone and records each one in the
store (fenced) before it is posted, so that an owner taking over after a crash can tell
which sends of the interrupted event were made (see :mod:`._replay`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

import attrs

from .._events import ConversationEnded, Event, MessageReceived
from .._inbound import Position
from .._options import SessionOptions
from .._saved import SavedJson, SavedSession
from ..api import WebChatApi
from ..errors import (
    ApiError,
    AuthenticationError,
    BadRequestError,
    HandshakeRefused,
    NotFoundError,
    PermissionDeniedError,
    WebChatError,
)
from ..messaging._models import StructuredMessage
from ..models import BodyType, WebChatMessage
from ..session import GuestSession
from ._model import Claim, LeaseLost, PendingSends, Progress, StoreError, StoreReset
from ._replay import made_sends, own_uncommitted, send_digest
from ._store import SessionStore

__all__ = ["Chat", "ChatRunner", "Handler", "Outcome", "SentMessage"]

logger = logging.getLogger("webchat_async.worker")


class Handler(Protocol):
    """What a worker runs: ``async def handler(chat, event) -> None``, called for each event
    of every chat it holds (see :class:`Chat` for the sends it may make)."""

    def __call__(self, chat: Chat, event: Event, /) -> Awaitable[None]: ...


#: What a send returns: the message as the service stored it (a ``WebChatMessage`` on Web
#: Chat v2, the echoed ``StructuredMessage`` on Web Messaging).
SentMessage = WebChatMessage | StructuredMessage

#: How a runner ended: the chat ended (removed from the store); stopped for a hand-over;
#: the lease was lost; the chat could not go on here (released for another worker).
Outcome = str

#: Errors after which a chat cannot be resumed anywhere (the conversation is gone or ended).
_FINAL = (AuthenticationError, PermissionDeniedError, HandshakeRefused, NotFoundError,
          BadRequestError)  # fmt: skip
#: Committed sends whose echo is still to come, at most (a bound on the record's size).
_MAX_OUTSTANDING = 256
#: Seconds between two tries of a store write that failed (doubling up to the maximum);
#: the tries end with the lease.
_RETRY_FIRST = 0.05
_RETRY_MAX = 1.0

_T = TypeVar("_T")


class Chat:
    """What a handler gets with each event: the chat, and the sends a worker may make.

    Sends are fenced: after the worker lost the chat's lease they raise
    :class:`~webchat_async.worker.LeaseLost` without reaching the service. A message send
    is recorded before it is posted; when an event is handled again by a new owner (the
    old one died before committing it), the handler's k-th send for that event returns
    the message the old owner already posted, if it did, instead of posting again.
    """

    __slots__ = ("_event_key", "_index", "_replay", "_runner", "_sent")

    def __init__(self, runner: ChatRunner) -> None:
        self._runner = runner
        self._event_key = ""
        self._index = 0
        self._replay: Sequence[SentMessage | None] = ()
        self._sent: list[str] = []

    def __repr__(self) -> str:
        return f"<Chat conversation_id={self.conversation_id!r} event={self._event_key!r}>"

    @property
    def conversation_id(self) -> str:
        """The conversation id."""
        return self._runner.conversation_id

    @property
    def member_id(self) -> str:
        """The guest's member id (the sender id of its own messages) on Web Chat v2; empty
        on Web Messaging, which has no member ids (use :meth:`is_own`)."""
        return self._runner.member_id

    @property
    def protocol(self) -> str:
        """The chat's protocol: ``"webchat"`` (Web Chat v2) or ``"messaging"``."""
        return self._runner.claim.protocol

    @property
    def worker_id(self) -> str:
        """The worker handling the chat now."""
        return self._runner.worker_id

    @property
    def event_key(self) -> str:
        """The key of the event being handled: the message id for a message (the same
        when the event is handled again after a takeover), otherwise a key unique to this
        lease. Use it for the idempotence of your own side effects."""
        return self._event_key

    def is_own(self, message: WebChatMessage | StructuredMessage) -> bool:
        """Whether ``message`` was sent by this chat's guest (the service echoes them): on
        either protocol (``MessageReceived.from_guest`` says the same)."""
        if isinstance(message, StructuredMessage):
            return message.inbound
        return message.sender is not None and message.sender.id == self.member_id

    async def send_message(
        self, text: str, *, body_type: BodyType | str | None = None
    ) -> SentMessage:
        """Send a message as the guest, at most once per send of this event; returns it
        as the service stored it. ``body_type`` is Web Chat v2's (Web Messaging sends
        text only: anything but ``None`` or ``"standard"`` raises ``ValueError`` there)."""
        index = self._index
        self._index += 1
        try:
            self._runner.check_lease()
            if index < len(self._replay):
                made = self._replay[index]
                if made is not None:
                    if made.id is None:
                        raise RuntimeError("a replayed reply has no message id")
                    self._sent.append(made.id)
                    return made
            self._runner.check_body_type(body_type)
            client_id = await self._runner.record_send(self._event_key, index, text)
            # Again after the store's answer: a worker paused in between must not post.
            self._runner.check_lease()
        except LeaseLost:
            # Fenced: the event must not be committed here even if the handler catches
            # this (a reply it could not send would be lost); the next owner handles it.
            self._runner.lost = True
            raise
        message = await self._runner.post(text, body_type, client_id)
        if message.id:
            self._sent.append(message.id)
        return message

    async def send_typing(self) -> None:
        """Send a typing indicator (a hint: not recorded, may repeat after a takeover)."""
        self._runner.check_lease()
        await self._runner.typing()

    async def leave(self) -> None:
        """Leave the conversation (idempotent); the chat then ends. On Web Messaging,
        where a guest cannot end the conversation, the guest session is closed and the
        fleet forgets the chat."""
        self._runner.check_lease()
        await self._runner.leave()

    def _begin(self, key: str, replay: Sequence[SentMessage | None]) -> None:
        self._event_key = key
        self._index = 0
        self._replay = replay
        self._sent = []


class ChatRunner:
    """Drives one claimed chat until it ends, is handed over, or its lease is lost."""

    def __init__(
        self,
        claim: Claim,
        *,
        worker_id: str,
        store: SessionStore,
        handler: Handler,
        api: WebChatApi,
        options: SessionOptions,
        lease: float,
        send_margin: float,
        clock: Callable[[], float] = time.monotonic,
        claimed_at: float,
        recover: Callable[[int], Awaitable[bool]] | None = None,
        generation: Callable[[], int] = lambda: 0,
        give_up_after: float = 600.0,
    ) -> None:
        self.claim = claim
        self._give_up_after = give_up_after
        self._claimed_at = claimed_at
        self._committed_here = False
        self._failure = "the stream failed"
        self.conversation_id = claim.conversation_id
        self.token = claim.token
        self.worker_id = worker_id
        self._store = store
        self._handler = handler
        self._api = api
        self._options = options
        self._lease = lease
        self._send_margin = send_margin
        self._clock = clock
        #: Local time after which this worker stops acting even without news from the
        #: store: the lease was written at or after the moment the renewal was sent.
        self.deadline = claimed_at + lease
        self.member_id = ""
        self._session: GuestSession | None = None
        #: The session's saved JSON, written once per delivery position (most of it never
        #: changes: :class:`SavedJson` quotes that part once).
        self._saved_json: SavedJson | None = None
        self._saved_at: Position | None = None
        self._saved = ""
        self._position = claim.position
        self._outstanding = list(claim.outstanding)
        #: After a StoreReset: writes back what the store lost (see Worker._restore);
        #: ``generation`` counts the write-backs done so far.
        self._recover = recover
        self._generation = generation
        #: What the store holds for the chat, as this runner last wrote it: written back
        #: if the store loses its state. The saved text is in clear until the first commit.
        self._committed = Progress(
            saved=claim.saved, position=claim.position, outstanding=claim.outstanding
        )
        #: The stored record in clear (written back whole after a store reset).
        self._record = claim.saved
        self._ledger: PendingSends | None = claim.pending
        self._serial = 0
        self.busy = False
        self.stopping = False
        self.lost = False
        #: Set before the chat is released, finished or given up: from then on no send
        #: of this worker's reaches the service (see check_lease).
        self._let_go = False
        self.task: asyncio.Task[Outcome] | None = None

    def __repr__(self) -> str:
        return f"<ChatRunner {self.conversation_id} token={self.token} busy={self.busy}>"

    @property
    def session(self) -> GuestSession:
        """The resumed session (set while the runner runs)."""
        if self._session is None:
            raise RuntimeError("the chat's session is not resumed yet (or is over)")
        return self._session

    # -- what differs per protocol (Web Chat v2 here; see _wm_chat.MessagingRunner) -----

    def check_body_type(self, body_type: BodyType | str | None) -> None:
        """Raise ``ValueError`` for a body type the protocol cannot send."""

    async def post(
        self, text: str, body_type: BodyType | str | None, client_id: str | None
    ) -> SentMessage:
        """Post a message the ledger recorded (``client_id``: what the record names)."""
        return await self.session.send_message(text, body_type=body_type)

    async def typing(self) -> None:
        """Send a typing indicator."""
        await self.session.send_typing()

    async def leave(self) -> None:
        """Leave the conversation."""
        await self.session.leave()

    def ledger_entry(self, text: str) -> tuple[str, str | None]:
        """What the ledger records for a send of ``text`` (a digest: no guest text), and
        the client id the post will carry (``None``: the protocol has none)."""
        return send_digest(self.conversation_id, text), None

    # -- the lease ---------------------------------------------------------------------

    def renewed(self, sent_at: float) -> None:
        """A renewal sent at ``sent_at`` (local clock) was accepted."""
        self.deadline = max(self.deadline, sent_at + self._lease)

    def check_lease(self) -> None:
        """Raise :class:`LeaseLost` if this worker may no longer act on the chat: the
        lease is lost or ran out here, or the runner is letting the chat go (handing it
        over, finishing it): a move is a fence, whatever task of the handler sends."""
        if self._let_go:
            raise LeaseLost(f"chat {self.conversation_id} was handed over or ended here")
        self._check_held()

    def _check_held(self) -> None:
        if self.lost or self._clock() >= self.deadline:
            raise LeaseLost(f"the lease on chat {self.conversation_id} was lost")

    def lose(self) -> None:
        """The lease is gone: stop at once, sends refused."""
        self.lost = True
        if self.task is not None and not self.task.done():
            self.task.cancel()

    def request_stop(self) -> None:
        """Stop after the event being handled (at once when idle), for a hand-over."""
        self.stopping = True
        if not self.busy and self.task is not None and not self.task.done():
            self.task.cancel()

    def holding(self) -> Claim | None:
        """What the store should hold for the chat (its last committed record and the
        sends recorded since), or ``None`` once the lease is gone here."""
        if self.lost or self._clock() >= self.deadline:
            return None
        return Claim(
            conversation_id=self.conversation_id,
            token=self.token,
            saved=self._committed.saved,
            base_url=self.claim.base_url,
            position=self._committed.position,
            outstanding=self._committed.outstanding,
            pending=self._ledger,
            protocol=self.claim.protocol,
        )

    async def _fenced(self, call: Callable[[], Awaitable[_T]]) -> _T:
        """A store write for the chat, tried again while the store is out of reach (each
        try bounded by the store's timeout), and after the store lost its state once the
        worker wrote back what it holds, for as long as the lease lasts here: the caller
        then gets :class:`LeaseLost`, never the store's error."""
        delay = _RETRY_FIRST
        while True:
            self._check_held()
            seen = self._generation()
            try:
                try:
                    return await call()
                except StoreReset:
                    if self._recover is None or not await self._recover(seen):
                        raise
                    continue  # written back (or lost: check_lease says which)
            except StoreError as exc:
                logger.info("chat %s: store write failed, trying again: %s",
                            self.conversation_id, exc)  # fmt: skip
            left = self.deadline - self._clock()
            await asyncio.sleep(max(0.0, min(delay, left)))
            delay = min(delay * 2, _RETRY_MAX)

    async def record_send(self, event_key: str, index: int, body: str) -> str | None:
        """Record a send in the store (fenced) before it is made: a digest of the text,
        which is all a takeover needs to recognise it (the store keeps no guest text),
        and on Web Messaging the client id the message will carry (returned)."""
        digest, client_id = self.ledger_entry(body)
        await self._fenced(
            lambda: self._store.record_send(
                self.conversation_id,
                self.token,
                event_key,
                index,
                digest,
                send_margin=self._send_margin,
            )
        )
        # The store's own rule (the k-th place, or appended), kept for a write-back.
        ledger = self._ledger
        bodies = list(ledger.bodies) if ledger and ledger.event_key == event_key else []
        if index < len(bodies):
            bodies[index] = digest
        else:
            bodies.append(digest)
        self._ledger = PendingSends(event_key=event_key, bodies=tuple(bodies))
        return client_id

    # -- running -----------------------------------------------------------------------

    async def run(self) -> Outcome:
        """Resume the chat and handle its events; returns how it ended."""
        ended = await self._open()
        if ended is not None:
            return ended
        try:
            try:
                outcome = await self._handle_all()
            except asyncio.CancelledError:
                # request_stop() and lose() cancel an idle runner; any other cancel is not ours.
                if not (self.stopping or self.lost):
                    raise
                outcome = "lost" if self.lost else "stopped"
            if outcome == "stopped":
                # Before closing the socket: the next owner can start at once.
                await self._release()
            elif outcome == "released":
                outcome = await self._failed(self._failure)
            return outcome
        finally:
            try:
                await self._close()
            except Exception as exc:  # the chat goes on elsewhere; closing is best effort
                logger.debug("closing chat %s: %r", self.conversation_id, exc)

    async def _opening(self, error: BaseException) -> Outcome:
        """How the run ends when resuming raised ``error``."""
        if isinstance(error, asyncio.CancelledError):
            if not self.stopping or self.lost:
                raise error
            await self._release()
            return "stopped"
        if isinstance(error, _FINAL):
            logger.warning("chat %s cannot be resumed (%s): removed", self.conversation_id,
                           type(error).__name__)  # fmt: skip
            await self._give_up(f"the conversation is gone ({type(error).__name__} on resume)")
            return "ended"
        if isinstance(error, WebChatError):
            logger.warning("chat %s not resumed here: %r", self.conversation_id, error)
            return await self._failed(f"not resumed ({type(error).__name__})")
        raise error

    async def _unreadable(self, exc: ValueError) -> Outcome:
        # Nothing can resume it, here or elsewhere: drop it rather than pass it round.
        logger.warning("chat %s has an unreadable saved session: removed (%s)",
                       self.conversation_id, exc)  # fmt: skip
        await self._give_up("the saved session cannot be read")
        return "ended"

    async def _open(self) -> Outcome | None:
        """Resume the session (``None``), or end the run (how)."""
        try:
            saved = SavedSession.from_json(self.claim.saved)
        except ValueError as exc:
            return await self._unreadable(exc)
        try:
            session = await GuestSession.resume(saved, api=self._api, options=self._options)
        except (asyncio.CancelledError, WebChatError) as exc:
            return await self._opening(exc)
        self._session = session
        self.member_id = session.member_id
        # Once per chat: the store encrypts the secrets here (when it has keys), and every
        # commit splices only the position into the result.
        self._saved_json = SavedJson(self._store.seal_saved(session.save()))
        return None

    async def _close(self) -> None:
        """Close the session (leaving the conversation to the next owner)."""
        if self._session is not None:
            await self._session.aclose(leave=False)

    async def _events(self) -> tuple[AsyncIterator[Event], dict[str, Sequence[SentMessage | None]]]:
        """The events to handle, and the sends of the uncommitted event already made."""
        session = self.session
        replay = await self._recover_sends(session)
        return session.events(), replay

    def _repeat(self, event: Event) -> bool:
        """Whether ``event`` was handled and committed already (not handled again)."""
        return False

    def _lost_contact(self, event: Event) -> bool:
        """Whether ``event`` ends the chat only here (the session could not reconnect):
        released for another worker instead of finished."""
        return False

    async def _finish(self) -> None:
        self._let_go = True
        await self._fenced(
            lambda: self._store.finish(self.conversation_id, self.worker_id, self.token)
        )

    async def _give_up(self, reason: str) -> None:
        self._let_go = True
        await self._fenced(
            lambda: self._store.give_up(
                self.conversation_id, self.worker_id, self.token, reason=reason
            )
        )

    async def _failed(self, reason: str) -> Outcome:
        """The chat could not be resumed or streamed here: released for another try
        (anywhere), or given up once it has failed for ``give_up_after`` seconds with no
        event committed since the first failure."""
        since = self.claim.failing_for
        if since is not None and not self._committed_here:
            failing = since + (self._clock() - self._claimed_at)
            if failing >= self._give_up_after:
                logger.warning("chat %s given up after failing for %.0f s: %s",
                               self.conversation_id, failing, reason)  # fmt: skip
                await self._give_up(f"{reason}; failing for {failing:.0f} s")
                return "ended"
        await self._release(failed=True)
        return "released"

    async def _release(self, *, failed: bool = False) -> None:
        # The fence first: a send that any task of the handler starts from here on is
        # refused here, before the next owner can claim the chat.
        self._let_go = True
        try:
            await self._fenced(
                lambda: self._store.release(
                    self.conversation_id,
                    self.worker_id,
                    self.token,
                    reserve=self._lease,
                    failed=failed,
                )
            )
        except (LeaseLost, StoreError) as exc:
            logger.info("chat %s not released: %s", self.conversation_id, exc)

    async def _handle_all(self) -> Outcome:
        chat = Chat(self)
        try:
            events, replay = await self._events()
            async for event in events:
                if self._repeat(event):
                    continue
                if self._lost_contact(event):
                    self._failure = "the session could not reconnect"
                    return "released"
                # From here to the commit the runner is busy: a hand-over waits for it.
                self.busy = True
                if isinstance(event, MessageReceived) and event.message.id:
                    key = event.message.id
                else:
                    self._serial += 1
                    key = f"~{self.token}:{self._serial}"
                chat._begin(key, replay.pop(key, ()))
                await self._handle(chat, event, key)
                self.busy = False
                if isinstance(event, ConversationEnded):
                    await self._finish()
                    return "ended"
                if self.stopping:
                    return "stopped"
        except LeaseLost:
            self.lost = True
            return "lost"
        except _FINAL as exc:
            logger.warning("chat %s ended (%s)", self.conversation_id, type(exc).__name__)
            await self._give_up(f"the conversation is gone ({type(exc).__name__})")
            return "ended"
        except WebChatError as exc:
            logger.warning("chat %s stream failed here: %r", self.conversation_id, exc)
            self._failure = f"the stream failed ({type(exc).__name__})"
            return "released"
        # The iterator stops only after ConversationEnded, handled above.
        return "ended"  # pragma: no cover

    async def _handle(self, chat: Chat, event: Event, key: str) -> None:
        failed = False
        try:
            await self._handler(chat, event)
        except LeaseLost:
            raise
        except Exception:
            failed = True
            logger.warning(
                "handler failed on chat %s, event %s", self.conversation_id, key, exc_info=True
            )
        if self.lost:
            # A send was fenced and the handler caught it: not committed, handled again.
            raise LeaseLost(f"the lease on chat {self.conversation_id} was lost")
        for made in chat._replay:
            # Made by the previous owner but not asked for again: still a committed send.
            if made is not None and made.id and made.id not in chat._sent:
                chat._sent.append(made.id)
        changed = failed or bool(chat._sent)
        if isinstance(event, MessageReceived) and event.message.id:
            self._advance(event)
            if event.message.id in self._outstanding:
                self._outstanding.remove(event.message.id)
            changed = True
        if not changed:
            return
        self._outstanding.extend(chat._sent)
        del self._outstanding[:-_MAX_OUTSTANDING]
        saved = self._saved_text()
        progress = Progress(
            saved=saved,
            position=self._position,
            outstanding=tuple(self._outstanding),
            failed=failed,
        )
        sent_at = self._clock()
        await self._fenced(
            lambda: self._store.commit(self.conversation_id, self.token, progress, ttl=self._lease)
        )
        # What a write-back needs is the whole record (a commit may keep the stored one).
        self._committed = progress if saved else attrs.evolve(progress, saved=self._record)
        self._ledger = None
        self._committed_here = True
        # An accepted commit extended the lease from a moment after sent_at (a retry's
        # sent_at is earlier: the deadline only errs early).
        self.renewed(sent_at)

    def _advance(self, event: MessageReceived[Any]) -> None:
        """The handled message is the new position."""
        self._position = event.message.id

    def _saved_text(self) -> str:
        """The saved session a commit writes: the template with the delivery position."""
        position = self.session._position()
        if position is not self._saved_at:  # a Position is immutable: same object, same text
            if self._saved_json is None:
                raise RuntimeError("the saved session of the chat is not known yet")
            self._saved_at = position
            self._saved = self._saved_json.at(position)
        return self._saved

    async def _recover_sends(
        self, session: GuestSession
    ) -> dict[str, Sequence[SentMessage | None]]:
        """After a takeover: which recorded sends of the uncommitted event were made."""
        pending = self.claim.pending
        if pending is None or not pending.bodies:
            return {}
        try:
            after = [m async for m in session.history(after=self._position)]
        except (BadRequestError, NotFoundError):
            # The service no longer knows the position: read the whole conversation.
            after = [m async for m in session.history()]
        except ApiError as exc:
            logger.warning("chat %s: reading recent messages failed: %r", self.conversation_id, exc)
            raise
        candidates = own_uncommitted(after, session.member_id, self._outstanding)
        cid = self.conversation_id
        made = made_sends(pending.bodies, candidates, lambda text: send_digest(cid, text))
        # The sends that were made are committed sends now, whose echo is still to come.
        logger.info(
            "chat %s taken over: %d of %d recorded sends had been made",
            self.conversation_id,
            sum(m is not None for m in made),
            len(made),
        )
        if pending.event_key.startswith("~"):
            # Not a message: the event is not delivered again; what was made stays made.
            self._outstanding.extend(m.id for m in made if m is not None and m.id)
            return {}
        return {pending.event_key: made}

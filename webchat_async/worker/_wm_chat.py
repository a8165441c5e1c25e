"""A Web Messaging chat held by a worker: :class:`MessagingRunner`.

The same lease, fencing, ledger and commits as a Web Chat v2 chat (:class:`ChatRunner`);
what differs is the protocol's own means (spec §6-7):

* **Resume.** ``MessagingSession.start(token=...)`` reattaches the session with the stored
  token; the service replays nothing, so the runner reads the history back to the
  committed position's window and hands the handler, once and in ``channel.time`` order,
  every message not handled yet (:class:`~._wm.MessagingPosition`), then the live events
  (a message seen both ways is handled once).
* **Replies.** Each send is recorded before it goes, with the ``customMessageId`` it will
  carry; an owner taking over finds a made send by that id in the history (or, from a
  service whose history drops ``metadata``, by its text after the position: see
  ``docs/workers.md``).
* **Rate.** A reattached session starts with its rate window full (no send for
  ``rate_period``): the previous owner, or the ``Fleet``'s first message, may have just
  sent, and the service counts per session, whichever process sends.
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from .._events import ConversationEnded, Event, MessageReceived
from ..errors import SessionExpiredError, SessionNotFoundError
from ..messaging import CoreOptions, MessagingSession
from ..messaging._codes import ends_conversation
from ..messaging._fleet import hold_sends, lost_contact, send_identified
from ..messaging._models import StructuredMessage, TypingEvent
from ..models import BodyType
from ._chat import _FINAL, ChatRunner, Outcome, SentMessage
from ._replay import send_digest
from ._wm import MessagingPosition, MessagingRecord, ledger_body, made_messaging_sends

__all__ = ["MAX_CATCH_UP", "MessagingRunner"]

logger = logging.getLogger("webchat_async.worker")

#: History entries a resume reads at most (100 pages of 25): a chat unattended for longer
#: than that many messages resumes from the newest ones (a warning says so).
MAX_CATCH_UP = 2500

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

#: Errors after which a Web Messaging chat cannot go on anywhere.
_GONE = (*_FINAL, SessionExpiredError, SessionNotFoundError)


class _Backlog:
    """The messages missed while the chat had no owner, then the session's events."""

    __slots__ = ("_backlog", "_live")

    def __init__(self, backlog: list[StructuredMessage], live: AsyncIterator[Event]) -> None:
        self._backlog = backlog
        self._live = live

    def __aiter__(self) -> _Backlog:
        return self

    async def __anext__(self) -> Event:
        if self._backlog:
            message = self._backlog.pop(0)
            return MessageReceived(message, message.inbound)
        return await self._live.__anext__()


class MessagingRunner(ChatRunner):
    """Drives one claimed Web Messaging chat (module docs)."""

    def __init__(self, *args: Any, messaging_options: CoreOptions, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._core_options = messaging_options
        self._wm: MessagingSession | None = None
        self._where = MessagingPosition(messaging_options.history_overlap)
        self._record_written = False

    @property
    def wm(self) -> MessagingSession:
        """The reattached session (set while the runner runs)."""
        if self._wm is None:
            raise RuntimeError("the chat's session is not resumed yet (or is over)")
        return self._wm

    # -- the protocol's means ----------------------------------------------------------

    def check_body_type(self, body_type: BodyType | str | None) -> None:
        """Web Messaging sends text: only ``None`` or ``"standard"``."""
        if body_type is not None and body_type != BodyType.STANDARD:
            raise ValueError(f"Web Messaging sends text only, not body_type {body_type!r}")

    def ledger_entry(self, text: str) -> tuple[str, str | None]:
        """A new client id (the message's ``customMessageId``) and the text's digest."""
        client_id = str(uuid.uuid4())
        return ledger_body(client_id, send_digest(self.conversation_id, text)), client_id

    async def post(
        self, text: str, body_type: BodyType | str | None, client_id: str | None
    ) -> SentMessage:
        """Send with the recorded client id; returns the echo (the stored message)."""
        return await send_identified(self.wm, text, client_id or str(uuid.uuid4()))

    async def typing(self) -> None:
        """A typing indicator (at most one per ``typing_interval``)."""
        await self.wm.send_typing()

    async def leave(self) -> None:
        """A guest cannot end a Web Messaging conversation: the session is closed (its
        events end with ``ConversationEnded``) and the fleet forgets the chat."""
        await self.wm.aclose()

    # -- running -----------------------------------------------------------------------

    async def _open(self) -> Outcome | None:
        try:
            record = MessagingRecord.from_json(self.claim.saved)
            overlap = self._core_options.history_overlap
            self._where = MessagingPosition.from_text(self.claim.position, overlap)
        except ValueError as exc:
            return await self._unreadable(exc)
        try:
            session = await MessagingSession.start(
                deployment_id=record.deployment_id,
                origin=record.origin,
                region=record.region,
                base_url=record.base_url,
                token=record.token,
                options=self._core_options,
                api=self._api,
            )
        except ValueError as exc:
            # The record names no session that can be (a bad token, region or base URL):
            # nothing here or elsewhere can reattach it.
            return await self._unreadable(exc)
        except _GONE as exc:
            logger.warning("chat %s cannot be resumed (%s): removed", self.conversation_id,
                           type(exc).__name__)  # fmt: skip
            await self._give_up(f"the conversation is gone ({type(exc).__name__} on resume)")
            return "ended"
        except BaseException as exc:
            return await self._opening(exc)
        self._wm = session
        # The previous owner (or the Fleet's first message) may have just sent: this
        # process starts with its rate window full, so both together stay under the limit.
        hold_sends(session, self._core_options.rate_period)
        return None

    async def _close(self) -> None:
        if self._wm is not None:
            await self._wm.aclose()

    async def _events(self) -> tuple[AsyncIterator[Event], dict[str, Sequence[SentMessage | None]]]:
        session = self.wm
        history = await self._catch_up(session)
        replay = self._recover_made(history)
        backlog = [
            m
            for m in history
            if self._where.is_new(m)
            and not ends_conversation(m)  # the session says ConversationEnded itself
            and not any(type(e) is TypingEvent for e in m.events)
        ]
        backlog.sort(key=lambda m: (m.time is None, m.time or _EPOCH))
        return _Backlog(backlog, session.events()), replay

    async def _catch_up(self, session: MessagingSession) -> list[StructuredMessage]:
        """The history back to the committed position's window (newest first)."""
        floor = self._where.floor
        read: list[StructuredMessage] = []
        pages = session.history()
        try:
            async for item in pages:
                message = item.message
                if floor is not None and message.time is not None and message.time < floor:
                    break
                read.append(message)
                if len(read) >= MAX_CATCH_UP:
                    logger.warning("chat %s: more than %d messages since the last commit; "
                                   "the older ones are not handled", self.conversation_id,
                                   MAX_CATCH_UP)  # fmt: skip
                    break
        finally:
            # An async generator left mid-way is closed now, not by the garbage collector.
            closing = getattr(pages, "aclose", None)
            if closing is not None:
                await closing()
        return read

    def _recover_made(
        self, history: list[StructuredMessage]
    ) -> dict[str, Sequence[SentMessage | None]]:
        """After a takeover: which recorded sends of the uncommitted event were stored."""
        pending = self.claim.pending
        if pending is None or not pending.bodies:
            return {}
        cid = self.conversation_id
        made = made_messaging_sends(
            pending.bodies,
            history,
            self._where.is_new,
            self._outstanding,
            lambda text: send_digest(cid, text),
        )
        logger.info("chat %s taken over: %d of %d recorded sends had been made",
                    cid, sum(m is not None for m in made), len(made))  # fmt: skip
        if pending.event_key.startswith("~"):
            # Not a message: the event is not delivered again; what was made stays made.
            self._outstanding.extend(m.id for m in made if m is not None and m.id)
            return {}
        return {pending.event_key: made}

    def _repeat(self, event: Event) -> bool:
        # A message of the backlog that also came live, or one the session read again
        # after a reconnect: handled (and committed) once.
        return isinstance(event, MessageReceived) and not self._where.is_new(event.message)

    def _lost_contact(self, event: Event) -> bool:
        return (
            isinstance(event, ConversationEnded) and self._wm is not None and lost_contact(self._wm)
        )

    def _advance(self, event: MessageReceived[Any]) -> None:
        self._where.advance(event.message)
        self._position = self._where.to_text()

    def _saved_text(self) -> str:
        # The record never changes: written (sealed under the store's current key) by the
        # first commit of each claim, kept by the others.
        if self._record_written:
            return ""
        self._record_written = True
        return self._record

"""One Web Messaging guest session as a pure state machine: no I/O, no clock, no asyncio.

:class:`MessagingCore` takes *inputs* (a socket opened, failed or dropped, a decoded
frame, a history page, an upload finished, the time advanced, the guest's sends and
close) and produces *outputs*: events for the consumer (:meth:`MessagingCore.take`) and
work for the driver (:meth:`MessagingCore.outputs`: frames to send, a socket to open or
close, a history page to fetch, bytes to upload, a send completed or failed), plus the
next time it must be woken (:meth:`MessagingCore.deadline`). Time is an input: every
method takes ``now``, wall-clock epoch seconds (``expirationDate`` is one).

States (docs/messaging-protocol.md#states)
------------------------------------------
* ``CONNECTING``: no socket yet; ``CONFIGURING``: ``configureSession`` is out;
* ``SYNCING``: reconfigured after a drop: ``getJwt``, then the history is read from where
  delivery stood; live frames are held meanwhile;
* ``LIVE``: frames are delivered through the reorder window, sends go out;
* ``RECONNECTING``: the socket dropped; the driver opens a new one after the given delay;
* ``READ_ONLY``, ``EXPIRED``, ``CLOSED``: the end; :class:`ConversationEnded` was queued
  after everything held, sends fail at once with a typed error.

Sends go one at a time, in call order (stop-and-wait): the next waits for the echo of the
one before, so a refused (4029) or uncertain send is never overtaken.
"""

from __future__ import annotations

import datetime
import enum
import uuid
from collections import deque
from collections.abc import Callable, Hashable, Mapping

from .._convert import slot_builder
from .._events import (
    ConversationEnded,
    Event,
    MessageReceived,
    SessionClosed,
    SessionExpiring,
    StreamDisconnected,
    StreamReconnected,
    TypingStarted,
    UnknownEvent,
)
from ..errors import SessionClosedError, StreamError, WebChatError
from ._actions import Action, ConfigureSession, Echo, GetJwt, OnAttachment, OnMessage
from ._codes import (
    MAX_CUSTOM_ATTRIBUTES_BYTES,
    attachment_refusal,
    attachment_refusal_for,
    custom_attributes_size,
    ends_conversation,
    error_for_code,
    expired_error,
    expiry_seconds,
    read_only_error,
)
from ._history import HistoryRead, Step
from ._models import (
    ConnectionClosed,
    Frame,
    GenerateUrlError,
    JwtResponse,
    Logout,
    PresignedUrl,
    SessionExpired,
    SessionResponse,
    StringFrame,
    StructuredMessage,
    TooManyRequests,
    TypingEvent,
    Unknown,
    UploadFailure,
    UploadSuccess,
)
from ._options import CoreOptions
from ._ordering import DAWN, Reorder, Seen, message_key
from ._outputs import (
    CloseSocket,
    FetchHistory,
    HistoryPage,
    OpenSocket,
    Output,
    PutAttachment,
    SendDone,
    SendFailed,
    SendFrame,
)
from ._sends import Kind, Phase, RateLimit, Send, find_send, retry_delay

__all__ = ["MessagingCore", "State"]


def _earlier(time: datetime.datetime, seconds: float) -> datetime.datetime:
    """``time`` less ``seconds``, or the first representable time: the service's times are
    not trusted, and one in year 1 must not end the session with an OverflowError."""
    try:
        return time - datetime.timedelta(seconds=seconds)
    except OverflowError:
        return DAWN


# MessageReceived(message, from_guest), built without attrs's per-field setattr (hot).
_received = slot_builder(MessageReceived)


class State(enum.Enum):
    """The named states of :class:`MessagingCore` (module docstring)."""

    CONNECTING = "connecting"
    CONFIGURING = "configuring"
    SYNCING = "syncing"
    LIVE = "live"
    RECONNECTING = "reconnecting"
    READ_ONLY = "read-only"
    EXPIRED = "expired"
    CLOSED = "closed"

    # Members are singletons compared by identity: hashing by identity (in C) keeps the
    # per-frame `state in _ENDED` off Enum's Python-level __hash__.
    __hash__ = object.__hash__


_ENDED = frozenset({State.READ_ONLY, State.EXPIRED, State.CLOSED})


def _new_id() -> str:
    return str(uuid.uuid4())


class MessagingCore:
    """The protocol state machine of one Web Messaging guest session (module docstring).

    Args:
        token: the session token (a secret; never in a repr or an output's repr).
        deployment_id: the web deployment.
        options: tuning.
        start_new: ask the service for a new conversation on the first configure.
        since: history entries stamped before this are never delivered (a resumed session
            does not replay its old transcript after a reconnect).
        new_id: makes tracing ids, ``customMessageId`` and attachment ids (UUIDs).
    """

    def __init__(
        self,
        *,
        token: str,
        deployment_id: str,
        options: CoreOptions | None = None,
        start_new: bool = False,
        since: datetime.datetime | None = None,
        new_id: Callable[[], str] = _new_id,
    ) -> None:
        self._token = token
        self._deployment_id = deployment_id
        self._options = options = options if options is not None else CoreOptions()
        self._start_new = start_new
        self._new_id = new_id
        self.state = State.CONNECTING
        self.session: SessionResponse | None = None
        self.jwt: str | None = None
        #: Why the session ended when it ended on an error (the driver raises it).
        self.failure: WebChatError | None = None
        # Events for the consumer; a message stands for its MessageReceived, made when it
        # is taken: a burst released at once then holds no second object per message.
        self._events: deque[Event | StructuredMessage] = deque()
        self._out: list[Output] = []
        self._seen = Seen(options.remembered)
        self._reorder = Reorder(options.reorder_window)
        self._rate = RateLimit(options.rate_count, options.rate_period)
        self._queue: deque[Send] = deque()
        self._send_ids = 0
        self._configured_once = False
        self._trace_configure: str | None = None
        self._trace_jwt: str | None = None
        self._trace_echo: str | None = None
        self._echo_at = 0.0  # when the echo in flight went out
        # Recent echoes: a repeated answer to one must not become a message.
        self._echoes: deque[str] = deque(maxlen=4)
        self._recycling = False  # a CloseSocket is out: the socket is going
        self._last_out = float("-inf")
        self._last_typing = float("-inf")
        self._wire_since = 0.0  # when the head send's onMessage went out
        self._known_time = since
        # History entries stamped before the floor are not this session's to deliver:
        # ``since``, or for a resumed session the first message seen (less the overlap).
        self._floor = since
        self._floor_from_first = since is None
        self._resumed = since is None  # a history probe is due (not for a new conversation)
        self._asked_at = 0.0  # when configureSession or getJwt went out, unanswered
        self._expires_at: float | None = None
        self._warned_for: float | None = None  # the expiry SessionExpiring was said for
        # The expiry an echo answered after its warning time (the echo confirms it).
        self._confirmed_for: float | None = None
        self._confirming = False
        # The outage: when it began, sockets tried since, and whether it was announced.
        self._dropped_at: float | None = None
        self._attempts = 0
        self._history: HistoryRead | None = None  # the read of a SYNCING session
        # A resumed session's first history page, read once it is attached: the transcript
        # it found there is not this session's to deliver (the floor, _floor_probed).
        self._probe: FetchHistory | None = None
        self._probe_drops = 0  # drops when the probe went out
        # The probe's pages so far: it reads on while every entry is at the newest time
        # (more of the transcript may be stamped at that very time on the next page).
        self._probed: list[StructuredMessage] = []
        # The keys of the probe's transcript entries the floor does not cover (at its very
        # time, or with no time): left out of a sync, but not taken for delivered, so a
        # push of one (stored since the attach, on the page before its push) still comes.
        self._transcript: frozenset[Hashable] = frozenset()
        self._drops = 0
        # A sync that finished while the probe was out waits for it: (complete,).
        self._sync_waiting: bool | None = None

    def __repr__(self) -> str:
        return f"<MessagingCore {self.state.value} queued={len(self._queue)}>"

    # -- what the driver reads ---------------------------------------------------------

    @property
    def token(self) -> str:
        """The session token (a secret)."""
        return self._token

    @property
    def ended(self) -> bool:
        """The session is over: :class:`ConversationEnded` was queued."""
        return self.state in _ENDED

    def outputs(self) -> list[Output]:
        """The work to carry out now, in order (each is returned once)."""
        out, self._out = self._out, []
        return out

    def take(self) -> Event | None:
        """The next event for the consumer, or ``None``."""
        if not self._events:
            return None
        event = self._events.popleft()
        if isinstance(event, StructuredMessage):
            return _received(event, event.direction == "Inbound")
        return event

    def queued(self) -> int:
        """Events waiting for the consumer. The core does not bound them: the driver stops
        reading the socket while the consumer is behind (the socket's own buffer and TCP
        then hold the service back)."""
        return len(self._events)

    def deadline(self) -> float | None:
        """When to call :meth:`advance` next (``None``: only on the next input)."""
        if self.state in _ENDED:
            return None
        times: list[float] = []
        if self.state is State.LIVE and not self._recycling:
            options = self._options
            due = self._reorder.due()
            if due is not None:
                times.append(due)
            if self._trace_echo is None:
                times.append(self._last_out + options.echo_interval)
            else:
                times.append(self._echo_at + options.ack_timeout)
            head = self._queue[0] if self._queue else None
            if head is not None and head.phase is Phase.QUEUED:
                times.append(self._rate.ready_at())
            elif head is not None and head.phase is Phase.ON_WIRE:
                times.append(self._wire_since + options.ack_timeout)
            if self._expires_at is not None and self._warned_for != self._expires_at:
                times.append(self._expires_at - self._options.expiry_warning)
        if self._history is not None and self._history.retry_at is not None:
            times.append(self._history.retry_at)
        if self._waiting_for_answer():
            times.append(self._asked_at + self._options.ack_timeout)
        return min(times) if times else None

    def _waiting_for_answer(self) -> bool:
        """``configureSession``, or the ``getJwt`` a history read needs, is unanswered."""
        if self._recycling:
            return False
        return self.state is State.CONFIGURING or (
            self.state is State.SYNCING and self._trace_jwt is not None
        )

    # -- inputs: the socket ------------------------------------------------------------

    def start(self, now: float) -> None:
        """Begin: the driver opens the first socket."""
        if self.state is State.CONNECTING and self._attempts == 0:
            self._attempts = 1
            self._out.append(OpenSocket(0.0, 1))

    def socket_opened(self, now: float) -> None:
        """A socket is open: configure the session on it."""
        if self.state not in (State.CONNECTING, State.RECONNECTING):
            return
        self.state = State.CONFIGURING
        self._asked_at = now
        self._trace_configure = self._new_id()
        start_new = self._start_new and not self._configured_once
        self._send(
            ConfigureSession(
                self._token, self._deployment_id, self._trace_configure, start_new or None
            ),
            now,
        )

    def socket_failed(self, now: float, reason: str, *, final: bool = False) -> None:
        """A socket could not be opened (``final``: refused for good, e.g. HTTP 403)."""
        if self.state in _ENDED:
            return
        if final:
            self._finish(State.CLOSED, f"refused: {reason}", StreamError(f"refused: {reason}"))
            return
        self._retry_socket(now)

    def socket_dropped(self, now: float, reason: str, code: int | None = None) -> None:
        """The open socket dropped (or was closed on :class:`CloseSocket`)."""
        if self.state in _ENDED or self.state in (State.CONNECTING, State.RECONNECTING):
            return
        was_live = self.state is State.LIVE or self._dropped_at is None
        if self.state is State.LIVE:
            self._deliver(self._reorder.flush())
        # Frames held while syncing stay held: the next sync merges them with the history.
        self._trace_configure = self._trace_jwt = self._trace_echo = None
        self._recycling = False
        self.jwt = None  # every reconnect invalidates the JWT
        self._history = None
        self._sync_waiting = None
        self._drops += 1
        head = self._queue[0] if self._queue else None
        if head is not None:
            if head.phase is Phase.ON_WIRE:
                head.phase = Phase.UNCERTAIN
            elif head.phase in (Phase.PRESIGN, Phase.UPLOAD, Phase.SCAN):
                head.phase = Phase.QUEUED  # a new presign on the next socket
                head.attachment_id = None
        if was_live and self._configured_once:
            self._events.append(StreamDisconnected(reason, code))
        if self._dropped_at is None:
            self._dropped_at = now
            self._attempts = 0
        self.state = State.RECONNECTING
        self._retry_socket(now)

    def _retry_socket(self, now: float) -> None:
        self.state = State.RECONNECTING
        started = self._dropped_at if self._dropped_at is not None else now
        if self._dropped_at is None:
            self._dropped_at = now
        if now - started > self._options.max_reconnect_window:
            error = StreamError("no socket could be configured in time")
            self._finish(State.CLOSED, "reconnect gave up", error, complete=False)
            return
        self._attempts += 1
        # The first attempt after a drop is not a retry: most drops are a socket rotated.
        delay = self._options.backoff.delay(self._attempts - 1)
        self._out.append(OpenSocket(delay, self._attempts))

    # -- inputs: frames ----------------------------------------------------------------

    def frame_received(self, frame: Frame, now: float, *, pump: bool = True) -> bool:
        """One decoded server frame (:func:`~._wire.decode_frame`).

        ``pump=False`` leaves the timed work (releases, sends, echoes) to the next
        :meth:`advance`: a driver feeding a batch of frames at one ``now`` calls it once
        after the batch, or as soon as a frame gives :meth:`outputs` something.

        Returns whether the driver must stop feeding frames: :meth:`outputs` has work to
        carry out first, or the session is over (:attr:`ended`).
        """
        if self.state in _ENDED:
            return True
        body = frame.body
        # Almost every frame is a message: tested first.
        if isinstance(body, StructuredMessage):
            self._message(frame, body, now)
        elif isinstance(body, SessionResponse):
            self._session(body, now)
        elif isinstance(body, JwtResponse):
            self._jwt(frame, body, now)
        elif isinstance(body, (StringFrame, TooManyRequests)):
            self._refusal(frame, now)
        elif isinstance(body, (PresignedUrl, UploadSuccess)):
            self._attachment_step(body, now)
        elif isinstance(body, (UploadFailure, GenerateUrlError)):
            self._attachment_failed(body)
        elif isinstance(body, SessionExpired):
            self._finish(State.EXPIRED, "the session expired", expired_error(None))
        elif isinstance(body, ConnectionClosed):
            reason = body.reason or "closed by the service"
            # Everything held goes first: SessionClosed says nothing more comes.
            self._deliver(self._reorder.flush())
            if self.state not in _ENDED:
                self._events.append(SessionClosed(reason))
                error = SessionClosedError(reason)
                self._finish(State.CLOSED, f"connection closed: {reason}", error)
        elif isinstance(body, Logout):
            self._finish(State.CLOSED, "logged out", SessionClosedError("logged out"))
        elif isinstance(body, Unknown):
            self._events.append(UnknownEvent(body.raw, body.reason))
        # AttachmentDeleted, SessionCleared (a ConnectionClosedEvent follows): nothing to do.
        if pump:
            self._pump(now)
        return bool(self._out) or self.state in _ENDED

    def _message(self, frame: Frame, message: StructuredMessage, now: float) -> None:
        metadata = message.metadata
        if frame.tracing_id is not None and frame.tracing_id in self._echoes:
            if frame.tracing_id == self._trace_echo:
                self._echo_answered(metadata, now)
            return
        inbound = message.direction == "Inbound"  # message.inbound, without its call
        if inbound:
            if self._acknowledges(frame, message):
                head = self._queue.popleft()
                self._out.append(SendDone(head.id, message))
            elif (
                self._trace_echo is not None
                and message.text == "ping"
                and "customMessageId" not in metadata
            ):
                self._echo_answered(metadata, now)  # an answer that lost its tracingId
                return
        for event in message.events:
            if type(event) is TypingEvent:
                if not inbound:
                    self._events.append(TypingStarted("", None, message.time))
                return  # momentary: neither held nor remembered
        key = message.id or message_key(message)
        if self._seen.has(key, message.time):
            return
        self._know(message)  # a repeat of a held message changes nothing here
        self._reorder.add(message, now, key)  # released only while LIVE (after a sync)

    def _echo_answered(self, metadata: Mapping[str, str], now: float) -> None:
        self._trace_echo = None
        self._expiry(metadata.get("durationSeconds"), metadata.get("expirationDate"), now)
        if self._confirming:
            self._confirming = False
            self._confirmed_for = self._expires_at

    def _acknowledges(self, frame: Frame, message: StructuredMessage) -> bool:
        head = self._queue[0] if self._queue else None
        if head is None or head.phase not in (Phase.ON_WIRE, Phase.UNCERTAIN):
            return False
        custom = message.metadata.get("customMessageId")
        if custom is not None:
            return custom == head.custom_id
        if frame.tracing_id is not None and frame.tracing_id == head.tracing_id:
            return True
        # A service that drops metadata: the only send on the wire, by its text.
        return head.phase is Phase.ON_WIRE and message.text == head.text

    def _session(self, response: SessionResponse, now: float) -> None:
        if not response.connected:
            self._finish(State.CLOSED, "the session was closed", SessionClosedError("closed"))
            return
        if self.state is not State.CONFIGURING:
            return
        self.session = response
        self._expiry(response.duration_seconds, response.expiration_date, now)
        self._trace_jwt = self._new_id()
        self._asked_at = now
        self._send(GetJwt(self._token, self._trace_jwt), now)
        if self._configured_once:
            self.state = State.SYNCING  # the history is read once the JWT comes
            return
        self._configured_once = True
        self._dropped_at = None
        if response.new_session:
            self._floor_from_first = False  # a new conversation: its whole history is new
            self._resumed = False
        self.state = State.LIVE  # read-only: ends once the JWT (for the history) is here

    def _jwt(self, frame: Frame, response: JwtResponse, now: float) -> None:
        if frame.tracing_id is not None and frame.tracing_id != self._trace_jwt:
            return
        self._trace_jwt = None
        self.jwt = response.jwt
        if self.state is State.SYNCING and self._history is None:
            options = self._options
            stop = self._known_time
            if stop is not None:
                stop = _earlier(stop, options.history_overlap)
            self._history = HistoryRead(
                response.jwt, stop=stop, size=options.page_size, max_pages=options.max_pages,
                attempts=options.history_attempts, backoff=options.backoff,
            )  # fmt: skip
            self._out.append(self._history.first())
        elif self.state is State.LIVE and self.session is not None and self.session.read_only:
            self._finish(State.READ_ONLY, "the conversation has ended", read_only_error(None))
        elif self.state is State.LIVE and self._resumed:
            # Resumed: what the history holds now is the old transcript.
            self._resumed = False
            self._probe = FetchHistory(response.jwt, 1, self._options.page_size)
            self._probe_drops = self._drops
            self._out.append(self._probe)
            return
        if self.state is State.SYNCING and self._resumed and self._probe is None:
            # The first socket dropped before its JWT: the probe goes now, beside the sync
            # (which waits for it), as one read across a drop (the overlap is kept).
            self._resumed = False
            self._probe = FetchHistory(response.jwt, 1, self._options.page_size)
            self._probe_drops = self._drops - 1
            self._out.append(self._probe)

    def _refusal(self, frame: Frame, now: float) -> None:
        body = frame.body
        code = frame.code
        text = body.text if isinstance(body, StringFrame) else "message rate too high"
        if isinstance(body, TooManyRequests):
            code = body.error_code or 4029
        head = self._queue[0] if self._queue else None
        matches = head is not None and (
            (frame.tracing_id is not None and frame.tracing_id == head.tracing_id)
            or (frame.tracing_id is None and head.phase in (Phase.ON_WIRE, Phase.PRESIGN))
        )
        if code == 409:
            self._finish(State.READ_ONLY, "the conversation has ended", read_only_error(409))
        elif code in (4006, 4007):
            self._finish(State.EXPIRED, "the session expired", expired_error(code))
        elif code == 4029 or isinstance(body, TooManyRequests):
            retry = body.retry_after if isinstance(body, TooManyRequests) else None
            self._rate.block(now + retry_delay(retry))
            if matches and head is not None and head.phase is Phase.ON_WIRE:
                head.rejections += 1
                head.phase = Phase.QUEUED  # not stored: it goes again, same customMessageId
                if head.rejections > self._options.max_rejections:
                    self._fail_head(error_for_code(4029, text, retry_after=retry))
        elif matches and head is not None:
            self._fail_head(error_for_code(code, text))
        elif frame.tracing_id is not None and frame.tracing_id == self._trace_configure:
            self._finish(
                State.CLOSED, f"configureSession refused ({code})", error_for_code(code, text)
            )
        elif frame.tracing_id is not None and frame.tracing_id == self._trace_echo:
            self._trace_echo = None
        elif frame.tracing_id is not None and frame.tracing_id == self._trace_jwt:
            self._trace_jwt = None
            if self.state is State.SYNCING:
                self._synced(now, complete=False)  # no JWT, no history: live without it
        else:
            self._events.append(UnknownEvent(text[:4096], f"error {code}"))

    # -- inputs: attachments -----------------------------------------------------------

    def _attachment_step(self, body: PresignedUrl | UploadSuccess, now: float) -> None:
        head = self._queue[0] if self._queue else None
        if head is None or head.attachment_id != body.attachment_id:
            return
        if isinstance(body, PresignedUrl) and head.phase is Phase.PRESIGN:
            head.phase = Phase.UPLOAD
            self._out.append(PutAttachment(head.id, body.attachment_id, body.url, body.headers))
        elif isinstance(body, UploadSuccess) and head.phase in (Phase.UPLOAD, Phase.SCAN):
            head.phase = Phase.QUEUED  # its message goes out next, through the rate limit
            head.kind = Kind.TEXT

    def _attachment_failed(self, body: UploadFailure | GenerateUrlError) -> None:
        head = self._queue[0] if self._queue else None
        if head is None or head.kind is not Kind.ATTACHMENT:
            return
        if body.attachment_id is not None and body.attachment_id != head.attachment_id:
            return
        self._fail_head(attachment_refusal(body.error_code, body.error_message))

    def upload_finished(self, send_id: int, attachment_id: str, ok: bool, now: float) -> None:
        """The driver's ``PUT`` of :class:`PutAttachment` ended (``ok``: a 2xx answer)."""
        head = self._queue[0] if self._queue else None
        if head is None or head.id != send_id or head.attachment_id != attachment_id:
            return
        if head.phase is Phase.UPLOAD:
            if ok:
                head.phase = Phase.SCAN
            else:
                self._fail_head(attachment_refusal(None, "the upload failed"))
        self._pump(now)

    # -- inputs: history ---------------------------------------------------------------

    def history_received(self, request: FetchHistory, page: HistoryPage | None, now: float) -> None:
        """The answer to ``request`` (``None``: it failed)."""
        if request is self._probe:
            self._probe = None
            if page is None and request.jwt != self.jwt and self.state not in _ENDED:
                # A reconnect since invalidated its JWT: asked again (once per JWT, so it
                # ends) with the new one, or with the next one when none is here yet.
                self._probed = []
                if self.jwt is None:
                    self._resumed = True  # _jwt sends it beside the next sync
                else:
                    self._probe = FetchHistory(self.jwt, 1, self._options.page_size)
                    self._probe_drops = self._drops - 1  # read across a drop
                    self._out.append(self._probe)
                    return  # a waiting sync goes on waiting
            elif page is not None:
                self._probed.extend(page.entities)
                more = self._transcript_goes_on(page)
                if more and request.page_number < self._options.max_pages:
                    self._probe = FetchHistory(
                        request.jwt, request.page_number + 1, request.page_size
                    )
                    self._out.append(self._probe)
                    return
                self._floor_probed(whole=not more)
            elif self._probed:
                # A later page failed: where the transcript ends is not known exactly.
                self._floor_probed(whole=False)
            waiting, self._sync_waiting = self._sync_waiting, None
            if waiting is not None and self.state is State.SYNCING:
                self._synced(now, complete=waiting)
            self._pump(now)
            return
        read = self._history
        if read is None or self.state is not State.SYNCING:
            return
        step = read.received(request, page, now)
        if step is Step.NEXT and read.page is not None:
            self._out.append(read.page)
        elif step is Step.DONE or step is Step.FAILED:
            if self._probe is not None:
                # Which of the history is new depends on the probe's answer.
                self._sync_waiting = step is Step.DONE
            else:
                self._synced(now, complete=step is Step.DONE)
        self._pump(now)

    def _transcript_goes_on(self, page: HistoryPage) -> bool:
        """Whether the probe's pages may not hold all of the transcript at its newest
        time: a page follows, and the pages so far hold no entry older than their newest
        (all at one time, or undated), so more may be stamped at that time further back."""
        if page.last(page.page_number):
            return False
        times = [m.time for m in self._probed if m.time is not None]
        return not times or min(times) == max(times)

    def _floor_probed(self, *, whole: bool) -> None:
        """A resumed session's floor from the history pages read once it was attached
        (:attr:`_probed`, taken).

        Entries up to the newest there are the old transcript, those at its very time
        included, unless the socket dropped while the pages were read: a message stored
        since the attach whose push was lost in that drop would be among them, so then
        the floor keeps the overlap before the newest (an old entry may come again;
        none is lost). So it does when the read was not ``whole`` (a page failed, or
        ``max_pages`` were all at the newest time): entries at that time may be left
        behind. The pages replace the floor a first live message set meanwhile (the
        first message less the overlap): they know the transcript exactly.
        """
        entities, self._probed = self._probed, []
        times = [m.time for m in entities if m.time is not None]
        if not times:
            if entities:
                # Undated: the page says nothing of where the transcript ends; its entries
                # are left out of a sync, and the first live message sets the floor.
                self._transcript = frozenset(message_key(m) for m in entities)
                return
            self._floor_from_first = False
            self._floor = None  # an empty conversation: everything from now on is new
            return
        self._floor_from_first = False
        newest = max(times)
        if self._known_time is None or newest > self._known_time:
            self._known_time = newest
        if self._drops != self._probe_drops or not whole:
            self._floor = _earlier(newest, self._options.history_overlap)
            return
        self._floor = newest
        self._transcript = frozenset(
            message_key(m) for m in entities if m.time is None or m.time == newest
        )

    def _synced(self, now: float, *, complete: bool) -> None:
        entities = self._history.entities if self._history is not None else []
        self._history = None
        head = self._queue[0] if self._queue else None
        if head is not None and head.phase is Phase.UNCERTAIN:
            found = find_send(head, entities) if complete else None
            if found is not None:
                self._queue.popleft()
                self._out.append(SendDone(head.id, found))
            elif complete:
                head.phase = Phase.QUEUED  # not stored: it goes again, same customMessageId
            else:
                # Sending again could double it, failing could lose it: the caller is told
                # (docs/messaging-protocol.md#sends-across-drops).
                self._fail_head(error_for_code(None, "the send may or may not be stored"))
        floor = self._floor
        recovered = 0
        for message in entities:
            if any(type(e) is TypingEvent for e in message.events):
                continue
            if floor is not None and message.time is not None and message.time < floor:
                continue
            if message in self._seen or message in self._reorder:
                continue
            if self._transcript and message_key(message) in self._transcript:
                continue
            self._know(message)
            self._reorder.add(message, now)
            recovered += 1
        downtime = now - self._dropped_at if self._dropped_at is not None else 0.0
        self._dropped_at = None
        self.state = State.LIVE
        self._deliver(self._reorder.flush())
        if self.state is State.LIVE:
            self._events.append(StreamReconnected(recovered, max(self._attempts, 1), downtime))
            if self.session is not None and self.session.read_only:
                self._finish(State.READ_ONLY, "the conversation has ended", read_only_error(None))

    # -- inputs: time and the guest ----------------------------------------------------

    def advance(self, now: float) -> None:
        """The time is ``now`` (call at :meth:`deadline`)."""
        self._pump(now)

    def send_text(
        self,
        text: str,
        now: float,
        custom_attributes: Mapping[str, str] | None = None,
        *,
        custom_id: str | None = None,
    ) -> int:
        """Queue a text; returns the send's id (its :class:`SendDone` / :class:`SendFailed`
        comes later). Raises at once when the session is over or the attributes too large.
        ``custom_id``: the ``customMessageId`` to send (default: a new UUID), for a caller
        that recorded it before (a worker's reply ledger)."""
        self._check_open()
        limit = MAX_CUSTOM_ATTRIBUTES_BYTES
        if self.session is not None and self.session.max_custom_data_bytes:
            limit = self.session.max_custom_data_bytes
        if custom_attributes and custom_attributes_size(custom_attributes) > limit:
            raise error_for_code(4013, f"custom attributes exceed {limit} bytes")
        send = self._new_send(Kind.TEXT)
        if custom_id is not None:
            send.custom_id = custom_id
        send.text = text
        send.custom_attributes = custom_attributes
        return self._enqueue(send, now)

    def hold_sends(self, until: float) -> None:
        """No ``onMessage`` before ``until``: a session that takes over from another
        process on the same token (which may have just sent) starts with no room in its
        rate window, so the two together stay under the service's limit."""
        self._rate.block(until)

    def withdraw(self, send_id: int) -> bool:
        """Take back send ``send_id`` if nothing of it has gone out yet (still queued, for
        its turn or the rate limit): ``True`` when it is withdrawn, and then no
        :class:`SendDone` / :class:`SendFailed` comes for it. A send already on the wire
        goes on (the service may have stored it)."""
        for send in self._queue:
            if send.id == send_id:
                if send.phase is not Phase.QUEUED or send.attachment_id is not None:
                    return False
                self._queue.remove(send)
                return True
        return False

    def send_typing(self, now: float) -> int:
        """Queue a typing indicator (completes at once within ``typing_interval`` of the last)."""
        self._check_open()
        if now - self._last_typing < self._options.typing_interval:
            self._send_ids += 1
            self._out.append(SendDone(self._send_ids, None))
            return self._send_ids
        self._last_typing = now
        return self._enqueue(self._new_send(Kind.TYPING), now)

    def send_attachment(
        self, file_name: str, content_type: str, size: int, now: float, text: str | None = None
    ) -> int:
        """Queue an attachment: presign, upload (:class:`PutAttachment`), then its message."""
        self._check_open()
        send = self._new_send(Kind.ATTACHMENT)
        send.text = text
        send.file_name = file_name
        send.content_type = content_type
        send.size = size
        return self._enqueue(send, now)

    def close(self, now: float) -> None:
        """The guest closes the session: what is held is delivered, pending sends fail."""
        if self.state in _ENDED:
            return
        self._finish(State.CLOSED, "closed by the guest", SessionClosedError("session closed"))
        self.failure = None

    # -- the pump ----------------------------------------------------------------------

    def _pump(self, now: float) -> None:
        if self.state is not State.LIVE:
            if self._waiting_for_answer() and now >= self._asked_at + self._options.ack_timeout:
                self._recycle("no answer to configureSession or getJwt")
                return
            if self.state is State.SYNCING and self._history is not None:
                again = self._history.retry(now)
                if again is not None:
                    self._out.append(again)
            return
        released = self._reorder.release(now)
        if released:
            self._deliver(released)
            if self.state is not State.LIVE:
                return
        options = self._options
        expires_at = self._expires_at
        if expires_at is not None and self._warned_for != expires_at:
            if now >= expires_at - options.expiry_warning:
                # Activity may have moved the expiry: an echo confirms it first (its answer
                # carries the expiry as it is now), then the warning is said once.
                if self._confirmed_for == expires_at:
                    self._warned_for = expires_at
                    self._events.append(SessionExpiring(expires_at, expires_at - now))
                elif self._trace_echo is None:
                    self._confirming = True
                    self._echo(now)
        head = self._queue[0] if self._queue else None
        if head is not None and head.phase is Phase.ON_WIRE:
            if now >= self._wire_since + options.ack_timeout:
                self._recycle("no echo for a send")
                return
        elif head is not None and head.phase is Phase.QUEUED:
            self._send_head(head, now)
        if self._trace_echo is not None:
            if now >= self._echo_at + options.ack_timeout:
                self._recycle("no answer to an echo")
        elif now >= self._last_out + options.echo_interval:
            self._echo(now)

    def _recycle(self, reason: str) -> None:
        """The peer looks dead: the driver closes the socket, then reports the drop."""
        if not self._recycling:
            self._recycling = True
            self._out.append(CloseSocket(reason))

    def _send_head(self, head: Send, now: float) -> None:
        if head.kind is Kind.ATTACHMENT:
            refusal = attachment_refusal_for(head, self.session)
            if refusal is not None:
                self._fail_head(refusal)
                return
            head.attachment_id = self._new_id()
            head.tracing_id = self._new_id()
            head.phase = Phase.PRESIGN
            self._send(
                OnAttachment(
                    self._token, head.tracing_id, head.attachment_id, head.file_name or "",
                    head.content_type or "", head.size,
                ),
                now,
            )  # fmt: skip
            return
        if self._rate.ready_at() > now:
            return
        head.tracing_id = self._new_id()
        if head.kind is Kind.TYPING:
            action = OnMessage(self._token, head.tracing_id, "Event", events=(("Typing", "On"),))
        else:
            attachments = (head.attachment_id,) if head.attachment_id else ()
            action = OnMessage(
                self._token, head.tracing_id, "Text", head.text, attachments,
                metadata={"customMessageId": head.custom_id},
                custom_attributes=head.custom_attributes,
            )  # fmt: skip
        self._rate.record(now)
        self._send(action, now)
        if head.kind is Kind.TYPING:
            self._queue.popleft()
            self._out.append(SendDone(head.id, None))
            self._pump(now)  # the next send may go in the same instant
            return
        head.phase = Phase.ON_WIRE
        head.known_time = self._known_time
        self._wire_since = now

    def _echo(self, now: float) -> None:
        if self._trace_echo is None:
            self._trace_echo = self._new_id()
            self._echo_at = now
            self._echoes.append(self._trace_echo)
            self._send(Echo(self._token, self._trace_echo), now)

    # -- helpers -----------------------------------------------------------------------

    def _send(self, action: Action, now: float) -> None:
        self._last_out = now
        self._out.append(SendFrame(action))

    def _new_send(self, kind: Kind) -> Send:
        self._send_ids += 1
        return Send(self._send_ids, kind, self._new_id())

    def _enqueue(self, send: Send, now: float) -> int:
        self._queue.append(send)
        self._pump(now)
        return send.id

    def _check_open(self) -> None:
        if self.state in _ENDED:
            raise self.failure or SessionClosedError("the session is closed")

    def _fail_head(self, error: WebChatError) -> None:
        head = self._queue.popleft()
        self._out.append(SendFailed(head.id, error))

    def _know(self, message: StructuredMessage) -> None:
        time = message.time
        if time is not None:
            if self._known_time is None or time > self._known_time:
                self._known_time = time
            if self._floor_from_first:
                self._floor_from_first = False
                self._floor = _earlier(time, self._options.history_overlap)

    def _expiry(self, duration: object, expiration: object, now: float) -> None:
        at = expiry_seconds(expiration)
        if at is None:
            seconds = expiry_seconds(duration)
            at = now + seconds if seconds is not None else None
        if at is not None:
            self._expires_at = at

    def _deliver(self, messages: list[StructuredMessage]) -> None:
        ended = False
        seen = self._seen
        events = self._events
        for message in messages:
            if not seen.add(message):
                continue
            # Only a message with events can end the conversation: tested first.
            if message.events and ends_conversation(message):
                ended = True  # after everything released with it, and everything held
            else:
                events.append(message)  # its MessageReceived: take() makes it
        if ended:
            self._finish(State.READ_ONLY, "the conversation has ended", read_only_error(None))

    def _finish(
        self, state: State, reason: str, error: WebChatError, *, complete: bool = True
    ) -> None:
        """The end: everything held is delivered, then ConversationEnded; sends fail."""
        if self.state in _ENDED:
            return
        self.state = state  # first: a Disconnect among the held messages ends nothing twice
        for message in self._reorder.flush():
            if message not in self._seen and not ends_conversation(message):
                self._seen.add(message)
                self._events.append(message)  # its MessageReceived: take() makes it
        self.failure = error
        while self._queue:
            self._out.append(SendFailed(self._queue.popleft().id, error))
        self._events.append(ConversationEnded(reason, history_complete=complete))
        self._out.append(CloseSocket(reason))

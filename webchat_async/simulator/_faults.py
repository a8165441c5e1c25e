"""Fault injection: what ``Simulator.faults`` (and ``/__simulator__/faults``) can break.

REST faults apply to the Genesys API paths (``/api/v2/...``) only, not to ``/oauth/token``
nor to the admin paths **[choice: so that a test rate-limiting the API does not also
rate-limit the token fetch in front of it]**. Counted faults (``n``) are used up one
request at a time; ``fraction`` faults draw from a seedable RNG; a fault with neither
applies to every request until :meth:`FaultControls.clear`. Every count, delay, status and
size is bounded (``_limits.py``): a value past its bound raises
:class:`~webchat_async.simulator._limits.LimitError` (400 through the admin API).
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from .._convert import dump_json
from ._limits import (
    MAX_DELAY,
    MAX_FAULT_COUNT,
    MAX_FRAME_BYTES,
    MAX_RETRY_AFTER,
    LimitError,
    check_count,
    check_seconds,
    check_status,
)
from ._state import SimulatorState
from ._stream import Hub, Socket

__all__ = ["FaultControls", "RestFault"]


@attrs.frozen
class RestFault:
    """What happens to one REST request: wait, refuse it, or fail it after processing."""

    delay: float = 0.0
    #: Refuse before processing with this status (429 or 5xx), or ``None``.
    refuse_status: int | None = None
    retry_after: float | None = None
    #: Process the request, then answer this 5xx status instead, or ``None``.
    fail_after_status: int | None = None


@attrs.define
class _Counted:
    """A fault that fires for the next ``n`` requests, a ``fraction`` of them, or all."""

    n: int | None
    fraction: float | None
    value: float

    def fire(self, rng: random.Random) -> bool:
        if self.n is not None and self.n <= 0:
            return False
        if self.fraction is not None and rng.random() >= self.fraction:
            return False
        if self.n is not None:
            self.n -= 1
        return True

    @property
    def spent(self) -> bool:
        return self.n is not None and self.n <= 0


#: ``limit_attachments``: file types, max size in KB, blocked extensions (``None``: as configured).
_Limits = tuple[tuple[str, ...] | None, int | None, tuple[str, ...] | None]


#: Bounds of the Web Messaging switches (they may come from the admin API).
_WM_MAX_HELD = 1000  # frames held by reorder_next_events
_WM_MAX_COUNT = 1_000_000_000
_WM_MAX_TTL = 30 * 86400.0
_WM_MAX_NAMES = 100


def _wm_int(field: str, value: object, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ValueError(f"{field} must be an integer from {lo} to {hi:,}")
    return value


def _wm_names(field: str, value: object) -> tuple[str, ...] | None:
    """A list of at most 100 strings of at most 255 characters, as a tuple."""
    if value is None:
        return None
    if (
        not isinstance(value, (list, tuple))
        or len(value) > _WM_MAX_NAMES
        or not all(isinstance(v, str) and len(v) <= 255 for v in value)
    ):
        raise ValueError(f"{field} must be a list of at most {_WM_MAX_NAMES} short strings")
    return tuple(value)


def _counted(n: int | None, fraction: float | None, value: float) -> _Counted:
    if n is not None:
        check_count("n", n, 0, MAX_FAULT_COUNT)
    if fraction is not None and (
        isinstance(fraction, bool)
        or not isinstance(fraction, (int, float))
        or not 0.0 <= fraction <= 1.0
    ):
        raise LimitError("fraction", "fraction must be a number from 0 to 1", 1)
    return _Counted(n=n, fraction=fraction, value=value)


def _server_status(status: int) -> int:
    return check_status("status", status, 500, 599)


class FaultControls:
    """Switches that make the simulator misbehave on purpose. All start off.

    Socket faults act at once; REST and handshake faults wait for the next requests.
    """

    def __init__(
        self,
        hub: Hub,
        state: SimulatorState,
        detach: Callable[[Socket], None],
        *,
        seed: int | None = None,
    ) -> None:
        self._hub = hub
        self._state = state
        self._detach = detach
        self._rng = random.Random(seed)
        self._refuse_handshakes = 0
        self._handshake_status = 503
        self._rate_limit: _Counted | None = None
        self._server_errors: _Counted | None = None
        self._fail_after: _Counted | None = None
        self._delay: _Counted | None = None
        #: The shared heartbeat loop skips its beats while this is set.
        self.heartbeats_stopped = False
        #: Set by the Web Messaging server: expire sessions now (``expire_sessions``).
        self.expire_messaging: Callable[[str | None, bool], int] | None = None
        # Web Messaging switches (set by _reset_messaging and the methods below).
        self._drop_before_echo: _Counted | None = None
        self._fail_uploads: _Counted | None = None
        #: ``onMessage`` allowed per session in any second (``messaging_rate_limit``).
        self.message_rate: int | None = 2
        #: The ``retryAfter`` of a 4029 answer, in seconds.
        self.message_retry_after = 3
        #: Sockets one session token may hold (``messaging_socket_limit``).
        self.socket_limit = 10
        #: The session TTL in force (``messaging_session_ttl``); ``None``: the deployment's.
        self.session_ttl: float | None = None
        #: The ``limit_attachments`` overrides: file types, KB, blocked extensions.
        self.attachment_limits: _Limits = (None, None, None)
        #: History entries leave out ``metadata`` (``messaging_history_without_metadata``).
        self.history_without_metadata = False
        self._reset_messaging()

    def __repr__(self) -> str:
        return f"<FaultControls pending={self.pending()!r}>"

    def pending(self) -> dict[str, int | None]:
        """The REST and handshake faults still armed: how many requests each will still
        hit (``None``: every request, or a fraction of them, until :meth:`clear`)."""
        armed = {
            "rate_limit": self._rate_limit,
            "server_errors": self._server_errors,
            "fail_after_processing": self._fail_after,
            "delay": self._delay,
            "drop_before_echo": self._drop_before_echo,
            "fail_uploads": self._fail_uploads,
        }
        out: dict[str, int | None] = {
            name: fault.n for name, fault in armed.items() if fault is not None and not fault.spent
        }
        if self._refuse_handshakes:
            out["refuse_handshakes"] = self._refuse_handshakes
        return out

    def seed(self, value: int) -> None:
        """Re-seed the RNG behind ``fraction`` faults (deterministic runs)."""
        self._rng.seed(value)

    # -- sockets ---------------------------------------------------------------------------

    def drop_sockets(self, conversation_id: str | None = None) -> int:
        """Abort sockets without a close frame (the client sees 1006); returns how many."""
        sockets = self._hub.sockets(conversation_id)
        for socket in sockets:
            self._detach(socket)
            socket.transport.abort()
        return len(sockets)

    async def close_sockets(self, conversation_id: str | None = None, code: int = 1000) -> int:
        """Close sockets cleanly with ``code`` while the conversation lives; returns how many."""
        check_status("code", code, 1000, 4999)
        sockets = self._hub.sockets(conversation_id)
        for socket in sockets:
            self._detach(socket)
        for socket in sockets:
            await socket.ws.close(code=code)
        return len(sockets)

    def hang_sockets(self, conversation_id: str | None = None) -> int:
        """Keep sockets open but send nothing more on them, and stop answering their pings
        (websocket-level and ``{"message": "ping"}``): a dead peer. Returns how many."""
        sockets = self._hub.sockets(conversation_id)
        for socket in sockets:
            socket.hung = True
        return len(sockets)

    def stop_heartbeats(self) -> None:
        """Pause the shared heartbeat loop."""
        self.heartbeats_stopped = True

    def resume_heartbeats(self) -> None:
        """Resume the shared heartbeat loop."""
        self.heartbeats_stopped = False

    def duplicate_next_events(self, n: int = 1) -> None:
        """Send each of the next ``n`` event frames twice."""
        self._hub.duplicate_next = check_count("n", n, 0, MAX_FAULT_COUNT)

    async def send_raw(self, text: str, conversation_id: str | None = None) -> int:
        """Push any text frame to the sockets now; returns how many got it."""
        if not isinstance(text, str) or len(text) > MAX_FRAME_BYTES:
            raise LimitError(
                "text",
                f"text must be a string of at most {MAX_FRAME_BYTES:,} characters",
                MAX_FRAME_BYTES,
            )
        return await self._hub.send_raw(text, conversation_id)

    async def send_malformed(self, conversation_id: str | None = None) -> int:
        """Push a frame that is not JSON."""
        return await self.send_raw('{"topicName": "v2.conversations.chats', conversation_id)

    async def send_unknown_topic(self, conversation_id: str | None = None) -> int:
        """Push a well-formed event on a topic no client knows."""
        frame = dump_json(
            {
                "topicName": "v2.simulator.unknown.topic",
                "version": "2",
                "eventBody": {"something": "new"},
                "metadata": {"CorrelationId": "simulator-unknown", "type": "unknown-type"},
            }
        )
        return await self.send_raw(frame, conversation_id)

    async def send_oversize(self, size_bytes: int, conversation_id: str | None = None) -> int:
        """Push a valid JSON frame of (at least) ``size_bytes`` bytes."""
        check_count("size_bytes", size_bytes, 0, MAX_FRAME_BYTES)

        def frame_of(padding: int) -> str:
            return dump_json(
                {"topicName": "channel.metadata", "eventBody": {"message": "x" * padding}}
            )

        frame = frame_of(max(0, size_bytes - len(frame_of(0))))
        return await self.send_raw(frame, conversation_id)

    # -- handshakes and tokens --------------------------------------------------------------

    def refuse_handshakes(self, n: int, status: int = 503) -> None:
        """Answer the next ``n`` websocket handshakes with HTTP ``status`` (4xx or 5xx)."""
        self._refuse_handshakes = check_count("n", n, 0, MAX_FAULT_COUNT)
        self._handshake_status = check_status("status", status, 400, 599)

    def take_handshake_refusal(self) -> int | None:
        """The status to refuse this handshake with, or ``None`` (used by the server)."""
        if self._refuse_handshakes <= 0:
            return None
        self._refuse_handshakes -= 1
        return self._handshake_status

    def expire_guest_tokens(self, conversation_id: str | None = None) -> int:
        """Make guest JWTs invalid (401 on REST and on the handshake); returns how many."""
        if conversation_id is not None:
            targets = [self._state.conversations[conversation_id]]
        else:
            targets = list(self._state.conversations.values())
        for conversation in targets:
            conversation.token_revoked = True
        return len(targets)

    # -- REST ------------------------------------------------------------------------------

    def rate_limit(
        self, n: int | None = None, fraction: float | None = None, retry_after: float = 1
    ) -> None:
        """Answer 429 with ``Retry-After`` (seconds) without taking effect."""
        retry_after = check_seconds("retry_after", retry_after, MAX_RETRY_AFTER)
        self._rate_limit = _counted(n, fraction, retry_after)

    def server_errors(
        self, n: int | None = None, fraction: float | None = None, status: int = 503
    ) -> None:
        """Answer ``status`` (5xx) before processing: the request has no effect."""
        self._server_errors = _counted(n, fraction, _server_status(status))

    def fail_after_processing(self, n: int = 1, status: int = 502) -> None:
        """Let the request take effect, then answer ``status`` (5xx) anyway."""
        self._fail_after = _counted(n, None, _server_status(status))

    def delay(self, seconds: float, n: int | None = None) -> None:
        """Hold responses ``seconds`` before processing them."""
        self._delay = _counted(n, None, check_seconds("seconds", seconds, MAX_DELAY))

    def take_rest_fault(self) -> RestFault | None:
        """Decide the fate of one API request (used by the server)."""
        delay = 0.0
        if self._delay is not None and self._delay.fire(self._rng):
            delay = self._delay.value
        if self._rate_limit is not None and self._rate_limit.fire(self._rng):
            return RestFault(delay=delay, refuse_status=429, retry_after=self._rate_limit.value)
        if self._server_errors is not None and self._server_errors.fire(self._rng):
            return RestFault(delay=delay, refuse_status=int(self._server_errors.value))
        if self._fail_after is not None and self._fail_after.fire(self._rng):
            return RestFault(delay=delay, fail_after_status=int(self._fail_after.value))
        return RestFault(delay=delay) if delay else None

    # -- Web Messaging (docs/simulator-messaging.md#fault-switches) ------------------------

    def reorder_next_events(self, n: int = 2) -> None:
        """Hold the next ``n`` pushed event frames (any protocol), then send them newest
        first: the service does not order its pushes (Web Messaging spec §2)."""
        self._hub.reorder_next = _wm_int("n", n, 2, _WM_MAX_HELD)

    def drop_before_echo(self, n: int = 1) -> None:
        """The next ``n`` guest ``onMessage`` are stored (and reach the agent), then their
        socket is aborted before the echo."""
        self._drop_before_echo = _counted(_wm_int("n", n, 0, _WM_MAX_COUNT), None, 0)

    def take_drop_before_echo(self) -> bool:
        """Whether this ``onMessage`` loses its echo (used by the server)."""
        return self._drop_before_echo is not None and self._drop_before_echo.fire(self._rng)

    def fail_uploads(self, n: int = 1, error_code: int = 4003) -> None:
        """The next ``n`` attachment uploads end in ``UploadFailureEvent`` with
        ``error_code`` (the bytes are refused)."""
        code = _wm_int("error_code", error_code, 1000, 9999)
        self._fail_uploads = _counted(_wm_int("n", n, 0, _WM_MAX_COUNT), None, code)

    def take_upload_failure(self) -> int | None:
        """The error code this upload fails with, or ``None`` (used by the server)."""
        if self._fail_uploads is not None and self._fail_uploads.fire(self._rng):
            return int(self._fail_uploads.value)
        return None

    def messaging_rate_limit(self, per_second: int | None = 2, retry_after: int = 3) -> None:
        """``onMessage`` allowed per session in any second (the service's 2 by default;
        ``None``: unlimited), and the ``retryAfter`` of the 4029 answer."""
        if per_second is not None:
            per_second = _wm_int("per_second", per_second, 1, 1000)
        self.message_retry_after = _wm_int("retry_after", retry_after, 0, 3600)
        self.message_rate = per_second

    def messaging_socket_limit(self, n: int = 10) -> None:
        """Sockets one session token may hold; past it the oldest gets
        ``ConnectionClosedEvent`` and is closed."""
        self.socket_limit = _wm_int("n", n, 1, 1000)

    def messaging_session_ttl(self, seconds: float | None = None) -> None:
        """The inactivity lifetime of Web Messaging sessions from their next activity on
        (``None``: the deployment's ``durationSeconds``)."""
        if seconds is not None and (
            isinstance(seconds, bool)
            or not isinstance(seconds, (int, float))
            or not 0 < seconds <= _WM_MAX_TTL  # also refuses NaN and infinities
        ):
            raise ValueError(f"seconds must be a number in (0, {_WM_MAX_TTL:g}] or None")
        self.session_ttl = None if seconds is None else float(seconds)

    def expire_sessions(self, conversation_id: str | None = None, close: bool = True) -> int:
        """Expire Web Messaging sessions now (of one conversation, or all):
        ``SessionExpiredEvent``, then their sockets close (``close=False``: they stay open
        and every request on them gets 4006). Returns how many."""
        if self.expire_messaging is None:
            return 0
        return self.expire_messaging(conversation_id, close)

    def limit_attachments(
        self,
        file_types: list[str] | None = None,
        max_file_size_kb: int | None = None,
        blocked_extensions: list[str] | None = None,
    ) -> None:
        """Override every deployment's attachment limits (the ``config.json`` and
        ``SessionResponse`` say so too): refusals are 4001 (type) and 4002 (size)."""
        if max_file_size_kb is not None:
            # The upload target holds the bytes in memory: at most 100 MiB.
            max_file_size_kb = _wm_int("max_file_size_kb", max_file_size_kb, 0, 102_400)
        self.attachment_limits = (
            _wm_names("file_types", file_types),
            max_file_size_kb,
            _wm_names("blocked_extensions", blocked_extensions),
        )

    def messaging_history_without_metadata(self, on: bool = True) -> None:
        """The history (``GET /api/v2/webmessaging/messages``) answers its entries without
        ``metadata`` (nor ``channel.metadata``), as a service that does not keep it
        (spec §7.2): a client must find its stored sends by their text. The pushed frames
        keep it."""
        if not isinstance(on, bool):
            raise ValueError("on must be true or false")
        self.history_without_metadata = on

    def _reset_messaging(self) -> None:
        self._drop_before_echo = self._fail_uploads = None
        self.history_without_metadata = False
        self.messaging_rate_limit()
        self.messaging_socket_limit()
        self.messaging_session_ttl()
        self.attachment_limits = (None, None, None)

    def clear(self) -> None:
        """Switch every fault off (hung sockets stay hung; tokens stay expired; the Web
        Messaging limits return to the service's)."""
        self._refuse_handshakes = 0
        self._rate_limit = self._server_errors = self._fail_after = self._delay = None
        self.heartbeats_stopped = False
        self._hub.duplicate_next = 0
        self._hub.reorder_next = 0
        self._reset_messaging()

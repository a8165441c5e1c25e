"""The Web Messaging core, input by input: no socket, frames written from the spec.

Each test drives :class:`MessagingCore` through its public methods and reads its outputs
and events (docs/messaging-protocol.md).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import pytest

from webchat_async._backoff import Backoff
from webchat_async._events import (
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
from webchat_async.errors import (
    AttachmentError,
    CustomAttributesTooLargeError,
    MessageRateLimitError,
    MessageTooLongError,
    MessagingError,
    SessionClosedError,
    SessionExpiredError,
    SessionNotFoundError,
    SessionReadOnlyError,
)
from webchat_async.messaging._actions import Echo, GetJwt, OnAttachment, OnMessage
from webchat_async.messaging._options import CoreOptions
from webchat_async.messaging._outputs import (
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
from webchat_async.messaging._protocol import MessagingCore, State
from webchat_async.messaging._wire import decode_frame, decode_message


def stamp(second: float) -> str:
    whole = int(second)
    return f"2026-01-01T10:{whole // 60:02d}:{whole % 60:02d}.{int(second * 1000) % 1000:03d}Z"


def body(n: int, second: float, direction: str = "Outbound", **extra: Any) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": f"m{n}",
        "type": "Text",
        "text": f"text {n}",
        "direction": direction,
        "channel": {"time": stamp(second)},
    }
    message.update(extra)
    return message


class Harness:
    def __init__(self, **options: Any) -> None:
        self.ids = 0
        self.now = 1000.0
        options.setdefault("backoff", Backoff.none())
        self.core = MessagingCore(
            token="secret-token",
            deployment_id="dep",
            options=CoreOptions(**options),
            new_id=self.new_id,
        )
        self.outputs: list[Output] = []

    def new_id(self) -> str:
        self.ids += 1
        return f"id{self.ids}"

    def out(self) -> list[Output]:
        self.outputs += self.core.outputs()
        out, self.outputs = self.outputs, []
        return out

    def frames(self) -> list[Any]:
        return [o.action for o in self.out() if isinstance(o, SendFrame)]

    def events(self) -> list[Event]:
        found = []
        while (event := self.core.take()) is not None:
            found.append(event)
        return found

    def feed(
        self,
        cls: str,
        payload: Any,
        kind: str = "message",
        code: int = 200,
        tracing: str | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": kind, "class": cls, "code": code, "body": payload}
        if tracing is not None:
            frame["tracingId"] = tracing
        self.core.frame_received(decode_frame(json.dumps(frame)), self.now)

    def message(self, payload: dict[str, Any], **kw: Any) -> None:
        self.feed("StructuredMessage", payload, **kw)

    def at(self, now: float) -> None:
        self.now = now
        self.core.advance(now)

    def configure(
        self, transcript: Sequence[dict[str, Any]] | None = (), **session: Any
    ) -> FetchHistory | None:
        """Configure and take the JWT; a resumed session's history probe is answered with
        ``transcript`` (the conversation before the resume; empty by default) unless it is
        ``None``, and returned."""
        self.core.start(self.now)
        self.core.socket_opened(self.now)
        configure = self.frames()[-1]
        self.feed(
            "SessionResponse",
            {"connected": True, **session},
            "response",
            tracing=configure.tracing_id,
        )
        jwt = self.frames()[-1]
        assert isinstance(jwt, GetJwt)
        self.feed(
            "JwtResponse", {"jwt": "eyJh.eyJz.sig", "exp": 1}, "response", tracing=jwt.tracing_id
        )
        out = self.out()
        probes = [o for o in out if isinstance(o, FetchHistory)]
        self.outputs = [o for o in out if not isinstance(o, FetchHistory)]
        if not probes:
            return None
        if transcript is not None:
            self.page(probes[0], list(transcript))
        return probes[0]

    def reopen(self) -> list[FetchHistory]:
        """A new socket, configured, with a new JWT: the history reads it asked for."""
        self.core.socket_opened(self.now)
        configure = self.frames()[-1]
        self.feed("SessionResponse", {"connected": True}, "response", tracing=configure.tracing_id)
        jwt = self.frames()[-1]
        self.feed(
            "JwtResponse", {"jwt": "eyJh.eyJz.new", "exp": 1}, "response", tracing=jwt.tracing_id
        )
        return [o for o in self.out() if isinstance(o, FetchHistory)]

    def reconnect(self, entities: list[dict[str, Any]] | None) -> FetchHistory:
        fetch = self.reopen()[-1]
        if entities is not None:
            self.page(fetch, entities)
        return fetch

    def page(self, fetch: FetchHistory, entities: list[dict[str, Any]]) -> None:
        decoded = tuple(m for m in map(decode_message, entities) if m is not None)
        self.core.history_received(fetch, HistoryPage(decoded, 1, 1), self.now)


def texts(events: list[Event]) -> list[str | None]:
    return [e.text for e in events if isinstance(e, MessageReceived)]


def live(**options: Any) -> Harness:
    h = Harness(**options)
    h.configure(durationSeconds=86400)
    h.out()
    h.events()
    return h


# -- configure -----------------------------------------------------------------------------


def test_configure_then_jwt_then_live() -> None:
    h = Harness()
    h.core.start(h.now)
    assert h.out() == [OpenSocket(0.0, 1)]
    h.core.socket_opened(h.now)
    (configure,) = h.frames()
    assert configure.deployment_id == "dep" and configure.token == "secret-token"
    assert h.core.state is State.CONFIGURING
    h.feed(
        "SessionResponse",
        {"connected": True, "newSession": True},
        "response",
        tracing=configure.tracing_id,
    )
    assert h.core.state is State.LIVE
    (jwt,) = h.frames()
    assert isinstance(jwt, GetJwt)
    h.feed("JwtResponse", {"jwt": "eyJh.eyJz.sig", "exp": 1}, "response", tracing=jwt.tracing_id)
    assert h.core.jwt == "eyJh.eyJz.sig"
    assert "secret-token" not in repr(h.core) and "secret-token" not in repr(configure)


# -- order and dedupe ----------------------------------------------------------------------


def test_reorder_window_delivers_in_channel_time_order_and_never_holds_the_last() -> None:
    h = live(reorder_window=0.5)
    h.message(body(3, 3))
    h.at(h.now + 0.1)
    h.message(body(1, 1))
    h.message(body(2, 2))
    assert h.events() == []
    # The first arrival is due 0.5 s after it came; the later ones stamped before it go too.
    assert h.core.deadline() == pytest.approx(h.now - 0.1 + 0.5)
    h.at(h.now + 0.4)
    assert texts(h.events()) == ["text 1", "text 2", "text 3"]
    h.message(body(4, 4))
    assert h.events() == []
    h.at(h.core.deadline() or 0)
    assert texts(h.events()) == ["text 4"]  # the last one: out after the window, not later


def test_a_late_message_is_delivered_once_though_out_of_order() -> None:
    h = live(reorder_window=0.5)
    h.message(body(2, 2))
    h.at(h.now + 1)
    h.message(body(1, 1))
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 2", "text 1"]


def test_duplicates_are_dropped_held_or_delivered() -> None:
    h = live(reorder_window=0.5)
    h.message(body(1, 1))
    h.message(body(1, 1))
    h.at(h.now + 1)
    h.message(body(1, 1))
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 1"]


def test_without_an_id_the_key_is_time_direction_text() -> None:
    h = live(reorder_window=0)
    no_id = body(1, 1)
    del no_id["id"]
    h.message(no_id)
    h.message(no_id)
    h.message({**no_id, "text": "other"})
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 1", "other"]


def test_dedupe_memory_is_bounded_and_old_repeats_stay_out() -> None:
    h = live(reorder_window=0, remembered=10)
    for n in range(100):
        h.message(body(n, n))
        h.at(h.now + 0.01)
    assert len(h.events()) == 100
    for n in (0, 50, 89):  # long forgotten by id, but at or before the floor
        h.message(body(n, n))
    h.at(h.now + 1)
    assert h.events() == []


def test_agent_typing_is_delivered_at_once_and_the_guests_own_is_not() -> None:
    h = live()
    typing = {"eventType": "Typing", "typing": {"type": "On", "duration": 5000}}
    h.message(body(1, 1, type="Event", events=[typing]))
    h.message(body(2, 2, "Inbound", type="Event", events=[typing]))
    assert [type(e) for e in h.events()] == [TypingStarted]


def test_the_guests_own_echo_is_from_guest() -> None:
    h = live(reorder_window=0)
    h.message(body(1, 1, "Inbound"))
    h.message(body(2, 2))
    h.at(h.now)
    first, second = h.events()
    assert isinstance(first, MessageReceived) and first.from_guest
    assert isinstance(second, MessageReceived) and not second.from_guest
    assert first.message_id == "m1" and first.text == "text 1"


def test_unknown_frames_are_unknown_events_and_the_session_goes_on() -> None:
    h = live(reorder_window=0)
    h.core.frame_received(decode_frame("{not json"), h.now)
    h.feed("GetConfigurationResponse", {})
    h.message(body(1, 1))
    h.at(h.now)
    events = h.events()
    assert [type(e) for e in events] == [UnknownEvent, UnknownEvent, MessageReceived]
    assert h.core.state is State.LIVE


# -- sends ---------------------------------------------------------------------------------


def test_a_send_carries_its_custom_id_and_completes_on_its_echo() -> None:
    h = live(reorder_window=0)
    send = h.core.send_text("hello", h.now, {"plan": "gold"})
    (frame,) = h.frames()
    assert isinstance(frame, OnMessage) and frame.text == "hello"
    custom = frame.metadata["customMessageId"]
    assert frame.custom_attributes == {"plan": "gold"}
    h.message(body(1, 1, "Inbound", text="hello", metadata={"customMessageId": "someone else"}))
    assert not [o for o in h.out() if isinstance(o, SendDone)]
    h.message(body(2, 2, "Inbound", text="hello", metadata={"customMessageId": custom}))
    (done,) = [o for o in h.out() if isinstance(o, SendDone)]
    assert done.send_id == send and done.message is not None and done.message.id == "m2"


def test_sends_go_one_at_a_time_in_call_order_at_most_two_a_second() -> None:
    h = live(reorder_window=0)
    ids = [h.core.send_text(f"s{n}", h.now) for n in range(5)]
    sent: list[tuple[float, str]] = []
    for _ in range(50):
        frames = h.frames()
        for frame in frames:
            if isinstance(frame, OnMessage):
                sent.append((h.now, frame.text or ""))
                echo = body(
                    len(sent), len(sent), "Inbound", text=frame.text, metadata=dict(frame.metadata)
                )
                h.message(echo)
        if frames:
            continue  # an echo may have let the next send go at once
        deadline = h.core.deadline()
        if deadline is None or len(sent) == 5:
            break
        h.at(max(deadline, h.now))
    assert [text for _, text in sent] == ["s0", "s1", "s2", "s3", "s4"]
    times = [t for t, _ in sent]
    assert all(times[i + 2] - times[i] >= 1.0 for i in range(len(times) - 2))
    assert times[1] == times[0]  # two at once are fine
    assert ids == sorted(ids)


def test_a_send_still_queued_is_withdrawn_and_one_on_the_wire_is_not() -> None:
    h = live(reorder_window=0, echo_interval=1000, ack_timeout=1000)
    first = h.core.send_text("s0", h.now)
    queued = h.core.send_text("s1", h.now)
    later = h.core.send_text("s2", h.now)
    (frame,) = [f for f in h.frames() if isinstance(f, OnMessage)]  # one at a time
    assert frame.text == "s0"
    assert not h.core.withdraw(first)  # on the wire: the service may have stored it
    assert h.core.withdraw(queued)
    assert not h.core.withdraw(queued)  # once
    h.message(body(1, 1, "Inbound", text="s0", metadata=dict(frame.metadata)))
    outputs = h.out()
    assert [o.send_id for o in outputs if isinstance(o, SendDone)] == [first]
    texts = [f.text for f in (o.action for o in outputs if isinstance(o, SendFrame))]
    assert texts == ["s2"]  # s1 never goes; nothing completes for it
    assert not [o for o in outputs if isinstance(o, SendFailed) and o.send_id == queued]
    assert later > queued


def test_4029_waits_retry_after_bounded_then_sends_again_with_the_same_id() -> None:
    for retry_after, wait in [(3, 3.0), (None, 1.0), (10_000, 60.0), (-4, 1.0), ("x", 1.0)]:
        h = live(reorder_window=0, echo_interval=1000, ack_timeout=1000)
        h.core.send_text("hi", h.now)
        (first,) = h.frames()
        payload = {"errorCode": 4029, "errorMessage": "rate"}
        if retry_after is not None:
            payload["retryAfter"] = retry_after
        start = h.now
        h.feed("TooManyRequestsErrorMessage", payload, "response", 429, tracing=first.tracing_id)
        assert h.frames() == []
        assert h.core.deadline() == pytest.approx(start + wait)
        h.at(start + wait - 0.01)
        assert h.frames() == []
        h.at(start + wait)
        (second,) = h.frames()
        assert second.metadata == first.metadata and second.tracing_id != first.tracing_id


def test_4029_too_often_fails_the_send_with_its_code() -> None:
    h = live(reorder_window=0, max_rejections=2)
    send = h.core.send_text("hi", h.now)
    for _ in range(3):
        (frame,) = h.frames()
        h.feed(
            "TooManyRequestsErrorMessage",
            {"retryAfter": 1},
            "response",
            429,
            tracing=frame.tracing_id,
        )
        h.at(h.now + 1)
    failed = [o for o in h.out() if isinstance(o, SendFailed)]
    assert [f.send_id for f in failed] == [send]
    assert isinstance(failed[0].error, MessageRateLimitError) and failed[0].error.code == 4029


@pytest.mark.parametrize(
    ("code", "error"),
    [(4011, MessageTooLongError), (4013, CustomAttributesTooLargeError), (400, MessagingError)],
)
def test_a_refused_send_fails_with_the_service_code_and_the_next_goes(
    code: int, error: type[Exception]
) -> None:
    h = live(reorder_window=0)
    send = h.core.send_text("x" * 10, h.now)
    h.core.send_text("next", h.now)
    (frame,) = h.frames()
    h.feed("string", "refused", "response", code, tracing=frame.tracing_id)
    out = h.out()
    (failed,) = [o for o in out if isinstance(o, SendFailed)]
    assert failed.send_id == send and type(failed.error) is error
    assert getattr(failed.error, "code", None) == code and str(code) in str(failed.error)
    assert [o.action.text for o in out if isinstance(o, SendFrame)] == ["next"]
    assert h.core.state is State.LIVE


def test_custom_attributes_over_the_limit_raise_before_anything_is_sent() -> None:
    h = live()
    with pytest.raises(CustomAttributesTooLargeError):
        h.core.send_text("hi", h.now, {"k": "v" * 2048})
    assert h.frames() == []


def test_typing_counts_against_the_rate_and_is_sent_at_most_every_five_seconds() -> None:
    h = live(reorder_window=0)
    first = h.core.send_typing(h.now)
    again = h.core.send_typing(h.now + 1)
    out = h.out()
    frames = [o.action for o in out if isinstance(o, SendFrame)]
    assert len(frames) == 1 and frames[0].kind == "Event"
    assert [o.send_id for o in out if isinstance(o, SendDone)] == [first, again]
    h.core.send_text("a", h.now)
    h.core.send_text("b", h.now)
    (text,) = h.frames()  # the typing indicator took one of the two slots of this second
    assert text.text == "a"


# -- drops, history, uncertain sends -------------------------------------------------------


def test_after_a_drop_missed_messages_come_between_disconnected_and_reconnected() -> None:
    h = live(reorder_window=0.5)
    h.message(body(1, 1))
    h.message(body(2, 2))
    h.core.socket_dropped(h.now, "closed", 1006)
    assert h.core.state is State.RECONNECTING
    assert OpenSocket(0.0, 1) in h.out()
    h.reconnect([body(4, 4), body(3, 3), body(2, 2), body(1, 1)])
    events = h.events()
    kinds = [type(e).__name__ for e in events]
    assert kinds == [
        "MessageReceived",
        "MessageReceived",
        "StreamDisconnected",
        "MessageReceived",
        "MessageReceived",
        "StreamReconnected",
    ]
    assert texts(events) == ["text 1", "text 2", "text 3", "text 4"]
    reconnected = events[-1]
    assert isinstance(reconnected, StreamReconnected) and reconnected.backfilled == 2
    assert isinstance(events[2], StreamDisconnected) and events[2].code == 1006
    assert h.core.jwt == "eyJh.eyJz.new"  # a fresh JWT after every reconfigure


def test_live_frames_during_the_history_read_are_held_and_merged() -> None:
    h = live(reorder_window=0)
    h.message(body(1, 1))
    h.core.socket_dropped(h.now, "closed")
    fetch = h.reconnect(None)
    h.message(body(3, 3))
    assert texts(h.events()) == ["text 1"]
    h.page(fetch, [body(3, 3), body(2, 2), body(1, 1)])
    assert texts(h.events()) == ["text 2", "text 3"]


def test_history_reads_pages_back_to_where_delivery_stood() -> None:
    h = live(reorder_window=0, page_size=2, history_overlap=0)
    h.message(body(1, 1))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    fetch = h.reconnect(None)
    assert fetch.page_number == 1 and fetch.page_size == 2
    page1 = tuple(decode_message(b) for b in [body(5, 5), body(4, 4)])
    h.core.history_received(fetch, HistoryPage(page1, 1, 3), h.now)  # type: ignore[arg-type]
    (second,) = [o for o in h.out() if isinstance(o, FetchHistory)]
    assert second.page_number == 2
    page2 = tuple(decode_message(b) for b in [body(3, 3), body(2, 2)])
    h.core.history_received(second, HistoryPage(page2, 2, 3), h.now)  # type: ignore[arg-type]
    (third,) = [o for o in h.out() if isinstance(o, FetchHistory)]
    page3 = tuple(decode_message(b) for b in [body(1, 1)])
    h.core.history_received(third, HistoryPage(page3, 3, 3), h.now)  # type: ignore[arg-type]
    assert texts(h.events()) == ["text 1", "text 2", "text 3", "text 4", "text 5"]


def test_a_failed_history_page_is_retried_then_the_session_goes_on() -> None:
    h = live(reorder_window=0, history_attempts=2)
    h.core.socket_dropped(h.now, "closed")
    fetch = h.reconnect(None)
    h.core.history_received(fetch, None, h.now)
    h.at(h.now + 1)
    (again,) = [o for o in h.out() if isinstance(o, FetchHistory)]
    assert again.page_number == 1
    h.core.history_received(again, None, h.now)
    assert h.core.state is State.LIVE
    assert isinstance(h.events()[-1], StreamReconnected)


def _drop_with_a_send_on_the_wire() -> tuple[Harness, int, OnMessage]:
    h = live(reorder_window=0)
    h.message(body(1, 1))
    h.at(h.now)
    send = h.core.send_text("hello", h.now)
    (frame,) = h.frames()
    h.core.socket_dropped(h.now, "closed")
    return h, send, frame


def test_a_send_stored_before_the_drop_is_found_in_history_and_not_sent_again() -> None:
    h, send, frame = _drop_with_a_send_on_the_wire()
    stored = body(2, 2, "Inbound", text="hello", metadata=dict(frame.metadata))
    h.reconnect([stored, body(1, 1)])
    out = h.out()
    assert [o.send_id for o in out if isinstance(o, SendDone)] == [send]
    assert not [o for o in out if isinstance(o, SendFrame) and isinstance(o.action, OnMessage)]
    assert texts(h.events()) == ["text 1", "hello"]


def test_a_send_not_stored_is_sent_again_with_the_same_custom_id() -> None:
    h, _, frame = _drop_with_a_send_on_the_wire()
    other = body(2, 2, "Inbound", text="earlier", metadata={"customMessageId": "older"})
    h.reconnect([other, body(1, 1)])
    (again,) = [f for f in h.frames() if isinstance(f, OnMessage)]
    assert again.metadata == frame.metadata


def test_without_metadata_in_history_a_send_is_matched_by_text_after_the_last_known() -> None:
    h, send, _ = _drop_with_a_send_on_the_wire()
    old_same_text = body(0, 0.5, "Inbound", text="hello")  # before the last known message
    h.reconnect([body(2, 2, "Inbound", text="hello"), body(1, 1), old_same_text])
    out = h.out()
    assert [o.send_id for o in out if isinstance(o, SendDone)] == [send]
    assert not [o for o in out if isinstance(o, SendFrame) and isinstance(o.action, OnMessage)]
    h2, _, _ = _drop_with_a_send_on_the_wire()
    h2.reconnect([body(1, 1), old_same_text])  # only the old one: not stored, sent again
    assert [f.text for f in h2.frames() if isinstance(f, OnMessage)] == ["hello"]


def test_a_send_whose_history_cannot_be_read_fails_as_uncertain() -> None:
    h, send, _ = _drop_with_a_send_on_the_wire()
    fetch = h.reconnect(None)
    seen: list[Output] = []
    for _ in range(5):
        h.core.history_received(fetch, None, h.now)
        h.at(h.now + 60)
        seen += h.out()
        fetches = [o for o in seen if isinstance(o, FetchHistory) and o is not fetch]
        if not fetches:
            break
        fetch = fetches[-1]
    (failed,) = [o for o in seen if isinstance(o, SendFailed)]
    assert failed.send_id == send
    assert "may or may not be stored" in str(failed.error)
    assert not [o for o in seen if isinstance(o, SendFrame) and isinstance(o.action, OnMessage)]


def test_no_echo_recycles_the_socket_and_the_send_is_looked_up() -> None:
    h = live(reorder_window=0, ack_timeout=10)
    h.core.send_text("hello", h.now)
    h.frames()
    h.at(h.now + 10)
    assert CloseSocket("no echo for a send") in h.out()
    h.core.socket_dropped(h.now, "closed by client")
    assert h.core.state is State.RECONNECTING


def test_reconnect_gives_up_after_its_window() -> None:
    h = live(max_reconnect_window=30)
    send = h.core.send_text("queued", h.now)
    h.core.socket_dropped(h.now, "closed")
    h.now += 31
    h.core.socket_failed(h.now, "connection refused")
    out = h.out()
    assert h.core.state is State.CLOSED
    assert [o.send_id for o in out if isinstance(o, SendFailed)][-1] == send
    ended = h.events()[-1]
    assert isinstance(ended, ConversationEnded) and not ended.history_complete


def test_a_final_handshake_refusal_ends_at_once() -> None:
    h = Harness()
    h.core.start(h.now)
    h.core.socket_failed(h.now, "HTTP 403", final=True)
    assert h.core.state is State.CLOSED and h.core.failure is not None
    assert not [o for o in h.out() if isinstance(o, OpenSocket) and o.attempt > 1]


# -- liveness and expiry -------------------------------------------------------------------


def test_echo_at_most_every_30_seconds_while_idle_and_its_answer_moves_the_expiry() -> None:
    h = live(echo_interval=30, expiry_warning=300)
    start = h.now
    h.at(start + 29)
    assert h.frames() == []
    h.at(start + 30)
    (echo,) = h.frames()
    assert isinstance(echo, Echo)
    h.at(start + 45)
    assert h.frames() == []  # one in flight, not answered yet: no second
    meta = {"durationSeconds": "400", "expirationDate": str(int(start + 1000))}
    h.message(
        {"type": "Text", "text": "ping", "direction": "Inbound", "metadata": meta},
        kind="response",
        tracing=echo.tracing_id,
    )
    assert h.events() == []  # an echo answer is no message
    assert h.core.deadline() == pytest.approx(start + 60)  # the next, 30 s after the last
    h.at(start + 700)
    (confirm,) = h.frames()  # the warning time: an echo confirms the expiry first
    assert isinstance(confirm, Echo) and not h.events()
    h.message(
        {"type": "Text", "text": "ping", "direction": "Inbound"},
        kind="response",
        tracing=confirm.tracing_id,
    )
    warning = [e for e in h.events() if isinstance(e, SessionExpiring)]
    assert warning == [SessionExpiring(start + 1000, 300)]


def test_a_send_resets_the_idle_echo_timer() -> None:
    h = live(echo_interval=30, reorder_window=0)
    h.at(h.now + 20)
    h.core.send_text("hi", h.now)
    h.frames()
    h.at(h.now + 15)
    assert not [f for f in h.frames() if isinstance(f, Echo)]


def test_expiry_warning_comes_once_a_configurable_time_before_once_an_echo_confirms() -> None:
    h = Harness(expiry_warning=60, echo_interval=1000, ack_timeout=1000)
    h.configure(durationSeconds=600)
    start = h.now
    h.out()
    h.events()
    h.at(start + 539)
    assert not h.frames()
    h.at(start + 540)
    (echo,) = h.frames()
    assert isinstance(echo, Echo)
    h.now = start + 541
    h.message(
        {"type": "Text", "text": "ping", "direction": "Inbound"},
        kind="response",
        tracing=echo.tracing_id,
    )
    assert [e for e in h.events() if isinstance(e, SessionExpiring)] == [
        SessionExpiring(start + 600, 59)
    ]
    h.at(start + 550)
    assert not [e for e in h.events() if isinstance(e, SessionExpiring)]


def test_an_echo_that_moves_the_expiry_holds_the_warning_back() -> None:
    h = Harness(expiry_warning=60, echo_interval=30, ack_timeout=1000)
    h.configure(durationSeconds=600)
    start = h.now
    h.out()
    h.at(start + 540)
    (echo,) = h.frames()
    # Activity moved the inactivity TTL: the answer says 600 s from now.
    h.message(
        {
            "type": "Text",
            "text": "ping",
            "direction": "Inbound",
            "metadata": {"durationSeconds": "600"},
        },
        kind="response",
        tracing=echo.tracing_id,
    )
    assert not [e for e in h.events() if isinstance(e, SessionExpiring)]
    assert h.core.deadline() == pytest.approx(start + 540 + 30)  # the next idle echo


def test_a_disconnect_released_with_later_messages_delivers_them_first() -> None:
    h = live(reorder_window=0.5)
    disconnect = body(
        2,
        2,
        type="Event",
        metadata={"readOnly": "true"},
        events=[{"eventType": "Presence", "presence": {"type": "Disconnect"}}],
    )
    h.message(body(3, 3))  # stamped after the Disconnect, arrived first
    h.message(disconnect)
    h.message(body(1, 1))
    h.at(h.now + 0.5)
    events = h.events()
    assert texts(events) == ["text 1", "text 3"]
    assert isinstance(events[-1], ConversationEnded)


@pytest.mark.parametrize(
    ("how", "error"),
    [("event", SessionExpiredError), (4006, SessionExpiredError), (4007, SessionNotFoundError)],
)
def test_expiry_ends_the_session_without_a_reconnect_loop(
    how: object, error: type[Exception]
) -> None:
    h = live(reorder_window=0.5)
    h.message(body(1, 1))
    send = h.core.send_text("queued", h.now)
    if how == "event":
        h.feed("SessionExpiredEvent", {}, "response")
    else:
        h.feed("string", "expired", "response", how)  # type: ignore[arg-type]
    events = h.events()
    assert texts(events) == ["text 1"]  # what was held comes first
    assert isinstance(events[-1], ConversationEnded)
    assert h.core.state is State.EXPIRED
    out = h.out()
    assert [o.send_id for o in out if isinstance(o, SendFailed)] == [send]
    assert any(isinstance(o, CloseSocket) for o in out)
    h.core.socket_dropped(h.now, "closed")
    assert not [o for o in h.out() if isinstance(o, OpenSocket)]
    with pytest.raises(error):
        h.core.send_text("after", h.now)


# -- the end -------------------------------------------------------------------------------


def test_presence_disconnect_read_only_ends_after_everything_held() -> None:
    h = live(reorder_window=0.5)
    disconnect = body(
        3,
        3,
        type="Event",
        metadata={"readOnly": "true"},
        events=[{"eventType": "Presence", "presence": {"type": "Disconnect"}}],
    )
    del disconnect["text"]
    h.message(disconnect)
    h.message(body(2, 2))
    h.message(body(1, 1))
    assert h.events() == []
    h.at(h.now + 0.5)
    events = h.events()
    assert texts(events) == ["text 1", "text 2"]
    assert events[-1] == ConversationEnded("the conversation has ended")
    assert h.core.state is State.READ_ONLY
    with pytest.raises(SessionReadOnlyError):
        h.core.send_text("too late", h.now)


def test_409_ends_the_session_read_only_and_fails_the_send() -> None:
    h = live(reorder_window=0)
    send = h.core.send_text("hi", h.now)
    (frame,) = h.frames()
    h.feed(
        "string",
        "Session is read-only, no new messages allowed",
        "response",
        409,
        tracing=frame.tracing_id,
    )
    (failed,) = [o for o in h.out() if isinstance(o, SendFailed)]
    assert failed.send_id == send and isinstance(failed.error, SessionReadOnlyError)
    assert failed.error.code == 409
    assert isinstance(h.events()[-1], ConversationEnded)


def test_a_read_only_session_on_configure_ends_once_its_jwt_is_here() -> None:
    h = Harness()
    h.configure(readOnly=True)
    assert h.core.state is State.READ_ONLY and h.core.jwt is not None
    assert isinstance(h.events()[-1], ConversationEnded)


def test_connection_closed_ends_the_socket_with_its_reason() -> None:
    h = live(reorder_window=0.5)
    h.message(body(1, 1))
    h.feed("ConnectionClosedEvent", {"reason": "signed in elsewhere"})
    events = h.events()
    assert texts(events) == ["text 1"]
    assert SessionClosed("signed in elsewhere") in events
    assert isinstance(events[-1], ConversationEnded)
    assert h.core.state is State.CLOSED
    assert CloseSocket("connection closed: signed in elsewhere") in h.out()
    with pytest.raises(SessionClosedError):
        h.core.send_text("x", h.now)


def test_close_delivers_what_is_held_and_fails_pending_sends() -> None:
    h = live(reorder_window=5)
    h.message(body(1, 1))
    send = h.core.send_text("a", h.now)
    h.core.send_text("b", h.now)
    h.core.close(h.now)
    assert texts(h.events()) == ["text 1"]
    failed = [o for o in h.out() if isinstance(o, SendFailed)]
    assert [f.send_id for f in failed] == [send, send + 1]
    assert all(isinstance(f.error, SessionClosedError) for f in failed)
    assert h.core.failure is None  # closed by the guest: not a failure


# -- attachments ---------------------------------------------------------------------------


def _attachment_session() -> Harness:
    h = Harness(reorder_window=0)
    h.configure(
        allowedMedia={"inbound": {"fileTypes": [{"type": "image/png"}], "maxFileSizeKB": 100}},
        blockedExtensions=[".exe"],
    )
    h.out()
    return h


def test_attachment_presign_upload_scan_then_its_message() -> None:
    h = _attachment_session()
    send = h.core.send_attachment("cat.png", "image/png", 2048, h.now, text="my cat")
    (presign,) = h.frames()
    assert isinstance(presign, OnAttachment) and presign.file_size == 2048
    attachment = presign.attachment_id
    h.feed(
        "PresignedUrlResponse",
        {"attachmentId": attachment, "url": "https://up?sig=1", "headers": {"x-amz-tagging": "t"}},
        "response",
    )
    (put,) = [o for o in h.out() if isinstance(o, PutAttachment)]
    assert put.url == "https://up?sig=1" and put.headers == {"x-amz-tagging": "t"}
    assert "sig=1" not in repr(put)
    h.core.upload_finished(send, attachment, True, h.now)
    assert h.frames() == []  # waits for the scan
    h.feed("UploadSuccessEvent", {"attachmentId": attachment, "downloadUrl": "https://d"})
    (message,) = h.frames()
    assert isinstance(message, OnMessage) and message.attachment_ids == (attachment,)
    assert message.text == "my cat" and "customMessageId" in message.metadata
    h.message(body(1, 1, "Inbound", text="my cat", metadata=dict(message.metadata)))
    assert [o.send_id for o in h.out() if isinstance(o, SendDone)] == [send]


@pytest.mark.parametrize(
    ("name", "content_type", "size", "why"),
    [
        ("virus.exe", "image/png", 10, "extension .exe is blocked"),
        ("doc.pdf", "application/pdf", 10, "file type 'application/pdf' is not allowed"),
        ("big.png", "image/png", 200 * 1024, "larger than 100 KB"),
    ],
)
def test_attachment_checked_before_any_upload(
    name: str, content_type: str, size: int, why: str
) -> None:
    h = _attachment_session()
    send = h.core.send_attachment(name, content_type, size, h.now)
    out = h.out()
    assert not [o for o in out if isinstance(o, SendFrame)]
    (failed,) = [o for o in out if isinstance(o, SendFailed)]
    assert failed.send_id == send and isinstance(failed.error, AttachmentError)
    assert why in str(failed.error) and failed.error.code is None


def test_upload_failure_fails_the_attachment_with_the_service_code() -> None:
    h = _attachment_session()
    send = h.core.send_attachment("cat.png", "image/png", 10, h.now)
    (presign,) = h.frames()
    h.feed(
        "PresignedUrlResponse",
        {"attachmentId": presign.attachment_id, "url": "https://u"},
        "response",
    )
    h.core.upload_finished(send, presign.attachment_id, True, h.now)
    h.feed(
        "UploadFailureEvent",
        {"attachmentId": presign.attachment_id, "errorCode": 4003, "errorMessage": "file content"},
    )
    (failed,) = [o for o in h.out() if isinstance(o, SendFailed)]
    assert isinstance(failed.error, AttachmentError) and failed.error.code == 4003


# -- silence, refusals and drops while syncing ---------------------------------------------


def test_no_answer_to_configure_recycles_the_socket() -> None:
    h = Harness(ack_timeout=10)
    h.core.start(h.now)
    h.core.socket_opened(h.now)
    h.out()
    assert h.core.deadline() == pytest.approx(h.now + 10)
    h.at(h.now + 10)
    assert h.out() == [CloseSocket("no answer to configureSession or getJwt")]
    h.core.socket_dropped(h.now, "closed by client")
    assert [o for o in h.out() if isinstance(o, OpenSocket)]


def test_a_refused_jwt_while_syncing_goes_live_without_history() -> None:
    h, send, _ = _drop_with_a_send_on_the_wire()
    h.core.socket_opened(h.now)
    configure = h.frames()[-1]
    h.feed("SessionResponse", {"connected": True}, "response", tracing=configure.tracing_id)
    (jwt,) = h.frames()
    h.feed("string", "Unauthorized", "response", 401, tracing=jwt.tracing_id)
    assert h.core.state is State.LIVE
    assert isinstance(h.events()[-1], StreamReconnected)
    (failed,) = [o for o in h.out() if isinstance(o, SendFailed)]
    assert failed.send_id == send  # uncertain, and the history could not say


def test_a_drop_while_syncing_keeps_live_frames_held_for_the_next_sync() -> None:
    h = live(reorder_window=0)
    h.message(body(1, 1))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect(None)
    h.message(body(4, 4))  # live, while the history is read
    h.core.socket_dropped(h.now, "closed again")
    h.out()
    h.reconnect([body(4, 4), body(3, 3), body(2, 2), body(1, 1)])
    events = h.events()
    assert texts(events) == ["text 1", "text 2", "text 3", "text 4"]
    assert [type(e) for e in events].count(StreamDisconnected) == 1
    assert isinstance(events[-1], StreamReconnected) and events[-1].backfilled == 2


def test_a_new_session_delivers_its_whole_missed_history() -> None:
    h = Harness(reorder_window=0)
    h.configure(newSession=True)
    h.message(body(5, 100))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(5, 100), body(1, 1)])  # stamped long before the first one seen
    assert texts(h.events()) == ["text 5", "text 1"]


def test_a_resumed_session_does_not_replay_its_old_transcript() -> None:
    h = Harness(reorder_window=0, history_overlap=10)
    h.configure(transcript=[body(1, 1)], newSession=False)
    h.message(body(5, 100))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(6, 101), body(5, 100), body(4, 95), body(1, 1)])
    # 1 is the old transcript (the history held it at the resume); 4 was missed.
    assert texts(h.events()) == ["text 5", "text 4", "text 6"]


def test_a_resumed_session_that_saw_nothing_yet_does_not_replay_its_transcript() -> None:
    # The bug: with no live message before its first drop, a resumed session had no floor
    # and delivered its whole old transcript (up to 40 pages) as new messages.
    h = Harness(reorder_window=0, history_overlap=0, page_size=2)
    old = [body(3, 3), body(2, 2), body(1, 1)]
    h.configure(transcript=old, newSession=False)
    h.core.socket_dropped(h.now, "closed")
    fetch = h.reconnect(None)
    h.page(fetch, [body(4, 4), *old][:2])  # newest first: 4 is new, 3 the newest old one
    assert texts(h.events()) == ["text 4"]
    # The read stopped at the old transcript: one page, not every page back to the start.
    assert [o for o in h.out() if isinstance(o, FetchHistory)] == []


def test_a_resumed_session_with_an_empty_conversation_delivers_everything_after() -> None:
    h = Harness(reorder_window=0)
    h.configure(transcript=[], newSession=False)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(2, 2), body(1, 1)])
    assert texts(h.events()) == ["text 1", "text 2"]


def test_a_new_message_at_the_newest_old_time_is_not_taken_for_the_transcript() -> None:
    h = Harness(reorder_window=0)
    h.configure(transcript=[body(1, 5)], newSession=False)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(3, 6), body(2, 5), body(1, 5)])  # 2 shares the old message's time
    assert texts(h.events()) == ["text 2", "text 3"]


def test_a_sync_that_ends_before_the_resume_probe_waits_for_it() -> None:
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None and probe.page_number == 1
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(4, 60), body(2, 50), body(1, 1)])
    events = h.events()
    assert texts(events) == [] and h.core.state is State.SYNCING
    # Answered across the drop: what is older than the overlap before its newest entry
    # is the old transcript (1); 2 may have been stored since the attach.
    h.page(probe, [body(2, 50), body(1, 1)])
    events = h.events()
    assert texts(events) == ["text 2", "text 4"] and isinstance(events[-1], StreamReconnected)
    assert h.core.state is State.LIVE


def test_a_drop_while_the_resume_probe_is_read_keeps_the_overlap() -> None:
    # A message stored after the attach whose push was lost in the drop may be on the
    # probe's page: then only what is older than the overlap counts as the transcript.
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.core.socket_dropped(h.now, "closed")
    h.page(probe, [body(2, 100), body(1, 1)])
    h.reconnect([body(2, 100), body(1, 1)])
    assert texts(h.events()) == ["text 2"]  # maybe new: delivered; 1 is old


def test_a_failed_resume_probe_leaves_the_floor_to_the_first_message() -> None:
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.core.history_received(probe, None, h.now)
    h.message(body(5, 100))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(5, 100), body(4, 95), body(1, 1)])
    assert texts(h.events()) == ["text 5", "text 4"]


def test_the_resume_probe_replaces_the_floor_of_a_first_live_message() -> None:
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.message(body(5, 100))  # live before the probe's answer: floor 90, for now
    h.at(h.now)
    h.page(probe, [body(5, 100), body(4, 95), body(1, 1)])  # 4 is old: the page says so
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(6, 101), body(5, 100), body(4, 95), body(1, 1)])
    assert texts(h.events()) == ["text 5", "text 6"]


def test_a_new_session_reads_no_probe() -> None:
    h = Harness()
    assert h.configure(transcript=None, newSession=True) is None


def test_configure_answered_not_connected_ends_the_session() -> None:
    h = Harness()
    h.core.start(h.now)
    h.core.socket_opened(h.now)
    configure = h.frames()[-1]
    h.feed("SessionResponse", {"connected": False}, "response", tracing=configure.tracing_id)
    assert h.core.state is State.CLOSED
    assert isinstance(h.events()[-1], ConversationEnded)


def test_a_new_message_sharing_the_floor_time_is_not_taken_for_a_repeat() -> None:
    h = live(reorder_window=0, remembered=2)
    for n in range(4):  # m0 and m1 are forgotten; the floor is their shared time
        h.message(body(n, 1 if n < 2 else n))
        h.at(h.now)
    h.events()
    h.message(body(1, 1))  # a repeat at the floor: out
    h.message(body(9, 1))  # new, at the floor: in
    h.message(body(8, 0.5))  # before the floor: taken as delivered
    h.at(h.now)
    assert texts(h.events()) == ["text 9"]


def test_a_message_stamped_in_year_one_ends_nothing() -> None:
    # A hostile time: the floor and the history's stop are that time less the overlap,
    # which is before the first representable datetime (an OverflowError ended the
    # session). Now the first representable time stands for it.
    h = live()
    h.message({**body(1, 1.0), "channel": {"time": "0001-01-01T00:00:00.000Z"}})
    h.message(body(2, 2.0))
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 1", "text 2"]
    h.core.socket_dropped(h.now, "gone")
    h.out()
    fetch = h.reconnect([body(3, 3.0)])
    assert fetch is not None
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 3"]


def test_a_reconnect_after_only_year_one_messages_reads_the_history() -> None:
    h = live()
    h.message({**body(1, 1.0), "channel": {"time": "0001-01-01T00:00:01.000Z"}})
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 1"]
    h.core.socket_dropped(h.now, "gone")
    h.out()
    fetch = h.reconnect([body(2, 2.0)])  # the read stops at year 1 less the overlap
    assert fetch is not None and h.core.state is State.LIVE
    h.at(h.now + 1)
    assert texts(h.events()) == ["text 2"]


# -- review: the resume probe's edges ------------------------------------------------------


def test_a_new_message_on_the_probe_page_before_its_push_is_still_delivered() -> None:
    # The probe's page can hold a message stored after the attach whose push has not come
    # yet (the HTTP answer raced the socket): it was taken for the transcript's newest
    # entry and remembered as delivered, so its push was dropped as a repeat: lost.
    h = Harness(reorder_window=0)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.page(probe, [body(2, 50), body(1, 1)])  # 2 was stored after the attach
    h.message(body(2, 50))  # its push
    h.at(h.now)
    assert texts(h.events()) == ["text 2"]


def test_a_drop_before_the_first_jwt_does_not_replay_the_transcript() -> None:
    # The first socket of a resumed session dropped after configureSession was answered
    # but before its JWT: no probe went out, and the sync after the reconnect had no
    # floor, so it delivered the whole old transcript as new messages.
    h = Harness(reorder_window=0, history_overlap=10)
    h.core.start(h.now)
    h.core.socket_opened(h.now)
    configure = h.frames()[-1]
    h.feed(
        "SessionResponse",
        {"connected": True, "newSession": False},
        "response",
        tracing=configure.tracing_id,
    )
    h.out()
    h.core.socket_dropped(h.now, "closed")
    fetches = h.reopen()
    page = [body(3, 100), body(2, 50), body(1, 1)]  # 3 may be new; 1 and 2 are old
    for fetch in fetches:
        h.page(fetch, page)
    assert texts(h.events()) == ["text 3"]
    assert h.core.state is State.LIVE


def test_a_probe_page_without_times_still_stands_for_the_transcript() -> None:
    # Entries without channel.time: the probe set no floor and ended the first message's
    # floor, so every later sync delivered the whole transcript (up to 40 pages) again.
    h = Harness(reorder_window=0, history_overlap=10)
    untimed = [{k: v for k, v in body(n, n).items() if k != "channel"} for n in (2, 1)]
    h.configure(transcript=untimed, newSession=False)
    h.message(body(5, 100))
    h.at(h.now)
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(6, 101), body(5, 100), *untimed])
    assert texts(h.events()) == ["text 5", "text 6"]


def _probe_pages(h: Harness, probe: FetchHistory, pages: list[list[dict[str, Any]]]) -> int:
    """Answer the probe page by page while it asks; returns how many pages it read."""
    request: FetchHistory | None = probe
    read = 0
    while request is not None and read < len(pages):
        decoded = tuple(m for m in map(decode_message, pages[read]) if m is not None)
        read += 1
        h.core.history_received(request, HistoryPage(decoded, read, len(pages)), h.now)
        asked = [o for o in h.out() if isinstance(o, FetchHistory)]
        request = asked[-1] if asked else None
        if request is not None:
            assert request.page_number == read + 1
    return read


def test_a_probe_reads_on_while_its_pages_are_all_at_the_newest_time() -> None:
    # Found by the property test: three old messages stamped at one millisecond, a page
    # of two. The probe read one page, so the third counted as new (at the floor's very
    # time, not among the probe's entries) and was replayed after the first drop.
    h = Harness(reorder_window=0, history_overlap=0, page_size=2)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    old = [body(3, 1), body(2, 1), body(1, 1)]
    assert _probe_pages(h, probe, [old[:2], old[2:]]) == 2
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(4, 1), *old])  # 4: stored since the attach, at that very time too
    assert texts(h.events()) == ["text 4"]


def test_a_probe_stops_at_the_first_page_with_an_older_entry() -> None:
    h = Harness(reorder_window=0, history_overlap=0, page_size=2)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    pages = [[body(4, 5), body(3, 5)], [body(2, 5), body(1, 4)], [body(0, 1)]]
    assert _probe_pages(h, probe, pages) == 2
    h.core.socket_dropped(h.now, "closed")
    h.reconnect([body(5, 6), *pages[0], *pages[1]])
    assert texts(h.events()) == ["text 5"]


def test_a_probe_cut_short_at_one_time_keeps_the_overlap_and_loses_nothing() -> None:
    # max_pages all at one time, or a later page failed: entries at that time may be
    # left behind, so the floor keeps the overlap (old ones may come again, none lost).
    for fail in (False, True):
        h = Harness(reorder_window=0, history_overlap=10, page_size=1, max_pages=2)
        probe = h.configure(transcript=None, newSession=False)
        assert probe is not None
        decoded = tuple(m for m in map(decode_message, [body(3, 50)]) if m is not None)
        h.core.history_received(probe, HistoryPage(decoded, 1, 3), h.now)
        (second,) = [o for o in h.out() if isinstance(o, FetchHistory)]
        if fail:
            h.core.history_received(second, None, h.now)
        else:
            decoded = tuple(m for m in map(decode_message, [body(2, 50)]) if m is not None)
            h.core.history_received(second, HistoryPage(decoded, 2, 3), h.now)
        assert [o for o in h.out() if isinstance(o, FetchHistory)] == []  # no third page
        h.core.socket_dropped(h.now, "closed")
        h.reconnect([body(4, 55), body(3, 50), body(2, 50), body(1, 10)])
        delivered = texts(h.events())
        assert "text 4" in delivered and "text 1" not in delivered, (fail, delivered)


def test_a_probe_that_failed_on_a_jwt_a_reconnect_replaced_is_asked_again() -> None:
    # Every reconnect invalidates the JWT: a probe still out at a drop is then refused,
    # and the sync waiting for it had no floor: it delivered the whole transcript.
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.core.socket_dropped(h.now, "closed")
    old = [body(2, 50), body(1, 1)]
    h.reconnect(old)
    h.core.history_received(probe, None, h.now)  # refused: its JWT is gone
    again = [o for o in h.out() if isinstance(o, FetchHistory)]
    assert [f.jwt for f in again] == ["eyJh.eyJz.new"]
    h.page(again[0], old)
    # Read across a drop: the overlap before its newest (2) may be new; 1 is old.
    assert texts(h.events()) == ["text 2"] and h.core.state is State.LIVE


def test_a_probe_that_failed_while_reconnecting_goes_again_with_the_next_jwt() -> None:
    h = Harness(reorder_window=0, history_overlap=10)
    probe = h.configure(transcript=None, newSession=False)
    assert probe is not None
    h.core.socket_dropped(h.now, "closed")
    h.core.history_received(probe, None, h.now)  # no socket, no JWT yet
    h.out()
    old = [body(2, 50), body(1, 1)]
    fetches = h.reopen()
    assert len(fetches) == 2  # the sync's first page and the probe
    for fetch in fetches:
        h.page(fetch, old)
    # Read across a drop: the overlap before its newest (2) may be new; 1 is old.
    assert texts(h.events()) == ["text 2"] and h.core.state is State.LIVE

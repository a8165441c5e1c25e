"""A model Web Messaging service and network for driving the pure core (not a test module).

:class:`World` runs a :class:`MessagingCore` against a model service on a simulated clock:
it carries out the core's outputs (frames, sockets, history reads) and feeds the core its
inputs, with faults chosen by the test: pushes delayed by a jitter (reordered), pushed
twice, a socket dropped at any time, a send refused with 4029 (not stored), a socket that
drops after the service stored a send but before its echo, or before storing it, a history
that keeps or drops ``metadata``. Frames go through the real encoder and decoder.
"""

from __future__ import annotations

import datetime
import heapq
import json
import random
from typing import Any

import attrs

from webchat_async._events import Event
from webchat_async.messaging._actions import encode
from webchat_async.messaging._outputs import (
    CloseSocket,
    FetchHistory,
    HistoryPage,
    OpenSocket,
    SendDone,
    SendFailed,
    SendFrame,
)
from webchat_async.messaging._protocol import MessagingCore
from webchat_async.messaging._wire import decode_frame, decode_message

EPOCH = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def stamp(t: float) -> str:
    """The service's ``channel.time`` for model time ``t`` (microseconds, ``Z``)."""
    return (EPOCH + datetime.timedelta(seconds=t)).isoformat(timespec="microseconds")[:-6] + "Z"


@attrs.define
class Faults:
    """How hostile the model is (probabilities per event, and the jitter in seconds)."""

    jitter: float = 0.0
    duplicate: float = 0.0
    reject: float = 0.0
    drop_after_store: float = 0.0
    drop_before_store: float = 0.0
    history_fails: float = 0.0
    history_delay: float = 0.0
    keep_metadata: bool = True
    retry_after: Any = 3


@attrs.define
class World:
    core: MessagingCore
    faults: Faults = attrs.field(factory=Faults)
    rng: random.Random = attrs.field(factory=lambda: random.Random(0))
    t: float = 0.0
    socket: int = 0  # the open socket's number; 0: none
    opening_at: float | None = None
    # Frames on their way to the client: (arrival, order, socket, text).
    wire: list[tuple[float, int, int, str]] = attrs.field(factory=list)
    seq: int = 0
    stored: list[dict[str, Any]] = attrs.field(factory=list)
    stored_custom: list[str] = attrs.field(factory=list)
    on_message_times: list[float] = attrs.field(factory=list)
    events: list[Event] = attrs.field(factory=list)
    done: dict[int, int] = attrs.field(factory=dict)
    failed: dict[int, Exception] = attrs.field(factory=dict)
    sockets_opened: int = 0
    history_reads: int = 0
    # History reads on their way: (answer time, order, request).
    reads: list[tuple[float, int, FetchHistory]] = attrs.field(factory=list)
    latency: float = 0.01
    # The conversation existed before this session (it was started with its token): the
    # service answers newSession false.
    resumed: bool = False

    # -- the test's actions ------------------------------------------------------------

    def agent_says(self, text: str) -> None:
        """The agent writes: stored now, pushed if a socket is open."""
        body = self._store("Outbound", text, {})
        self._push(_message_frame(body), self.faults.jitter)

    def agent_ends(self) -> None:
        """The agent ends the conversation (``Presence Disconnect``, ``readOnly``)."""
        body = self._store("Outbound", None, {"readOnly": "true"})
        body["type"] = "Event"
        body["events"] = [{"eventType": "Presence", "presence": {"type": "Disconnect"}}]
        self._push(_message_frame(body), self.faults.jitter)

    def old_transcript(self, times: list[float]) -> list[str]:
        """Messages stored before the session, at model times ``times``; their ids."""
        now, ids = self.t, []
        for n, t in enumerate(times):
            self.t = t
            ids.append(self._store("Outbound", f"old {n}", {})["id"])
        self.t = now
        return ids

    def drop(self) -> None:
        """The socket drops; what is on the wire is lost."""
        if self.socket:
            self.socket = 0
            self.wire.clear()
            self.core.socket_dropped(self.t, "dropped", 1006)
            self.carry_out()

    def run(self, until: float) -> None:
        """Run the clock to ``until``, feeding the core every input that falls due."""
        for _ in range(20_000):
            times = [until + 1e-9]
            if self.wire:
                times.append(self.wire[0][0])
            if self.opening_at is not None:
                times.append(self.opening_at)
            if self.reads:
                times.append(self.reads[0][0])
            deadline = self.core.deadline()
            if deadline is not None:
                times.append(max(deadline, self.t))
            nxt = min(times)
            if nxt > until:
                self.t = max(self.t, until)
                return
            self.t = max(self.t, nxt)
            if self.wire and self.wire[0][0] <= self.t:
                _, _, socket, text = heapq.heappop(self.wire)
                if socket == self.socket:
                    self.core.frame_received(decode_frame(text), self.t)
            elif self.reads and self.reads[0][0] <= self.t:
                self._history(heapq.heappop(self.reads)[2])
            elif self.opening_at is not None and self.opening_at <= self.t:
                self.opening_at = None
                self.socket = self.sockets_opened = self.sockets_opened + 1
                self.core.socket_opened(self.t)
            else:
                self.core.advance(self.t)
            self.carry_out()
        raise AssertionError("the model did not settle")

    def carry_out(self) -> None:
        """Carry out the core's outputs (the service answers at once)."""
        for _ in range(10_000):
            outputs = self.core.outputs()
            if not outputs:
                break
            for output in outputs:
                self._carry(output)
        while (event := self.core.take()) is not None:
            self.events.append(event)

    # -- the service -------------------------------------------------------------------

    def _carry(self, output: object) -> None:
        if isinstance(output, OpenSocket):
            self.opening_at = self.t + output.delay
        elif isinstance(output, CloseSocket):
            self.drop()
        elif isinstance(output, SendDone):
            self.done[output.send_id] = self.done.get(output.send_id, 0) + 1
        elif isinstance(output, SendFailed):
            self.failed[output.send_id] = output.error
        elif isinstance(output, FetchHistory):
            if self.faults.history_delay:
                self.seq += 1
                heapq.heappush(self.reads, (self.t + self.faults.history_delay, self.seq, output))
            else:
                self._history(output)
        elif isinstance(output, SendFrame) and self.socket:
            self._serve(json.loads(encode(output.action)))

    def _serve(self, frame: dict[str, Any]) -> None:
        action, tracing = frame["action"], frame["tracingId"]
        if action == "configureSession":
            body = {
                "connected": True,
                "newSession": self.sockets_opened == 1 and not self.resumed,
                "durationSeconds": 86400,
            }
            self._respond("SessionResponse", 200, body, tracing)
        elif action == "getJwt":
            self._respond("JwtResponse", 200, {"jwt": "eyJ.model.jwt", "exp": 10**10}, tracing)
        elif action == "echo":
            ping = {"type": "Text", "text": "ping", "direction": "Inbound"}
            self._respond("StructuredMessage", 200, ping, tracing)
        elif action == "onMessage":
            self.on_message_times.append(self.t)
            message = frame["message"]
            if message["type"] != "Text":
                return  # typing: no echo
            rng, faults = self.rng, self.faults
            if rng.random() < faults.reject:
                body = {"retryAfter": faults.retry_after, "errorCode": 4029, "errorMessage": "rate"}
                self._respond("TooManyRequestsErrorMessage", 429, body, tracing)
                return
            if rng.random() < faults.drop_before_store:
                self.drop()
                return
            metadata = message.get("metadata", {})
            body = self._store("Inbound", message.get("text"), metadata)
            self.stored_custom.append(metadata.get("customMessageId", ""))
            if rng.random() < faults.drop_after_store:
                self.drop()
                return
            self._respond("StructuredMessage", 200, body, tracing)

    def _history(self, request: FetchHistory) -> None:
        self.history_reads += 1
        if self.rng.random() < self.faults.history_fails:
            self.core.history_received(request, None, self.t)
            return
        newest = sorted(self.stored, key=lambda b: b["channel"]["time"], reverse=True)
        size, number = request.page_size, request.page_number
        chunk = newest[(number - 1) * size : number * size]
        if not self.faults.keep_metadata:
            chunk = [{k: v for k, v in b.items() if k != "metadata"} for b in chunk]
        count = max(1, -(-len(newest) // size))
        entities = tuple(m for m in map(decode_message, chunk) if m is not None)
        self.core.history_received(request, HistoryPage(entities, number, count), self.t)

    def _store(self, direction: str, text: str | None, metadata: dict[str, str]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": f"m{len(self.stored) + 1}",
            "type": "Text",
            "direction": direction,
            "channel": {"time": stamp(self.t), "messageId": f"c{len(self.stored) + 1}"},
            "metadata": dict(metadata),
        }
        if text is not None:
            body["text"] = text
        self.stored.append(body)
        return body

    def _respond(self, cls: str, code: int, body: Any, tracing: str) -> None:
        frame = {"type": "response", "class": cls, "code": code, "body": body, "tracingId": tracing}
        self._push(json.dumps(frame), 0.0)

    def _push(self, text: str, jitter: float) -> None:
        if not self.socket:
            return
        copies = 2 if self.rng.random() < self.faults.duplicate else 1
        for _ in range(copies):
            self.seq += 1
            arrival = self.t + self.latency + self.rng.random() * jitter
            heapq.heappush(self.wire, (arrival, self.seq, self.socket, text))


def _message_frame(body: dict[str, Any]) -> str:
    return json.dumps({"type": "message", "class": "StructuredMessage", "code": 200, "body": body})

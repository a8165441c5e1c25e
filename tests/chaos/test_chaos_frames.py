"""Bad frames on a live event stream: the session yields UnknownEvent and carries on.

Malformed JSON, values that are not objects, unknown topics and types, missing fields,
wrong types, frames nested too deep, unknown enum values, duplicates, frames out of order
and frames over the size bound are pushed between real agent messages. Every real message
must arrive once; every bad event frame must surface as one UnknownEvent and one DEBUG log
line, and no log line may carry the token some of them contain.
"""

from __future__ import annotations

import json
import logging
import random

import pytest
from chaos_support import GREETING, Tracker, delivery, figures, start

from webchat_async._convert import format_datetime
from webchat_async._events import MAX_FRAME_SIZE, MemberStateChanged
from webchat_async.models import BodyType
from webchat_async.simulator import Simulator
from webchat_async.simulator._stream import message_frame

# A token-shaped secret planted in some bad frames: it must never reach a log line.
PLANTED = (
    "eyJhbGciOiJIUzI1NiJ9.eyJjb252ZXJzYXRpb25JZCI6ImNoYW9zIn0.cGxhbnRlZC1zaWduYXR1cmUtc2VjcmV0"
)
PLANTED_SIGNATURE = PLANTED.rsplit(".", 1)[1]


def _frame(topic: str | None, body: object, kind: object = None, **extra: object) -> str:
    frame: dict[str, object] = {"version": "2", **extra}
    if topic is not None:
        frame["topicName"] = topic
    frame["eventBody"] = body
    if kind is not None:
        frame["metadata"] = {"CorrelationId": "chaos", "type": kind}
    return json.dumps(frame)


def bad_frames(cid: str) -> dict[str, str]:
    """Frames that each decode to exactly one UnknownEvent, by name."""
    messages = f"v2.conversations.chats.{cid}.messages"
    members = f"v2.conversations.chats.{cid}.members"
    good_body = {
        "id": "never-stored",
        "conversation": {"id": cid},
        "sender": {"id": "someone"},
        "body": "x",
        "bodyType": "standard",
        "timestamp": "2024-05-01T12:00:00.000Z",
    }

    def message_with(**changes: object) -> str:
        return _frame(messages, {**good_body, **changes}, "message")

    return {
        "truncated JSON": '{"topicName": "v2.conversations.chats',
        "truncated JSON with a token": '{"topicName": "x", "jwt": "' + PLANTED + '", "ev',
        "not JSON": "WebSocket Heartbeat",
        "empty": "",
        "JSON array": "[]",
        "JSON string": '"hello"',
        "JSON number": "42",
        "JSON null": "null",
        "nested too deep": "[" * 50_000 + "]" * 50_000,
        "nested too deep in an object": '{"topicName":"'
        + messages
        + '","eventBody":'
        + "[" * 20_000
        + "]" * 20_000
        + "}",
        "unknown topic": _frame("v2.simulator.unknown.topic", {"something": "new"}, "x"),
        "unknown topic with a token": _frame("v2.users.x", {"token": PLANTED}, "x"),
        "unknown type": _frame(messages, good_body, "reaction"),
        "no metadata": _frame(messages, good_body),
        "metadata not an object": _frame(messages, good_body, metadata=["message"]),
        "type not a string": _frame(messages, good_body, 7),
        "no topicName": _frame(None, good_body, "message"),
        "topicName not a string": _frame(None, good_body, "message", topicName=["x"]),
        "no eventBody": json.dumps({"topicName": messages, "metadata": {"type": "message"}}),
        "eventBody a list": _frame(messages, [good_body], "message"),
        "eventBody a string": _frame(messages, PLANTED, "message"),
        "message without id": message_with(id=None),
        "message with an empty id": message_with(id=""),
        "sender a string": message_with(sender="someone"),
        "conversation a list": message_with(conversation=[cid]),
        "body an object": message_with(body={"text": "x"}),
        "bodyType a number": message_with(bodyType=3),
        "timestamp a number": message_with(timestamp=1714564800),
        "timestamp not a date": message_with(timestamp="yesterday " + PLANTED),
        "id an object": message_with(id={"id": "x"}),
        "typing without sender": _frame(
            messages, {"id": "t", "conversation": {"id": cid}}, "typing-indicator"
        ),
        "typing sender a number": _frame(
            messages, {"id": "t", "sender": 5, "conversation": {"id": cid}}, "typing-indicator"
        ),
        "member-change without member": _frame(
            members, {"conversation": {"id": cid}}, "member-change"
        ),
        "member-change member a string": _frame(
            members, {"member": "agent", "conversation": {"id": cid}}, "member-change"
        ),
        "member-change state a number": _frame(
            members, {"member": {"id": "a", "state": 2}}, "member-change"
        ),
        "member-change bad timestamp": _frame(
            members, {"member": {"id": "a", "state": "CONNECTED"}, "timestamp": []}, "member-change"
        ),
        "unknown channel.metadata": _frame("channel.metadata", {"message": "hello " + PLANTED}),
        "large unknown frame": _frame("v2.large", {"padding": "x" * 200_000}, "x"),
    }


async def test_bad_frames_surface_as_unknown_events_and_the_stream_goes_on(
    sim: Simulator, scale: int, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="webchat_async")
    rng = random.Random(5)
    rounds = 3 * scale
    tried: dict[str, int] = {}
    async with start(sim) as session, Tracker(session) as tracker:
        cid = session.conversation_id
        await sim.wait_routed(cid)
        await tracker.wait_greeted()
        conversation = sim.state.conversations[cid]
        agent = conversation.agent_member_id
        assert agent is not None
        frames = bad_frames(cid)
        expected = [GREETING]
        unknown_sent = 0
        reconnects = 0
        unknown_enums = 0
        n = 0

        async def say() -> None:
            nonlocal n
            n += 1
            await sim.agent_say(cid, f"m{n}")
            expected.append(f"m{n}")

        def stored(body_type: BodyType = BodyType.STANDARD) -> str:
            # A message the server stores without publishing it; the test pushes its frame.
            nonlocal n
            n += 1
            message = conversation.add_message(agent, f"s{n}", body_type)
            if body_type == BodyType.STANDARD:
                expected.append(f"s{n}")
            return message_frame(cid, message)

        async def push(text: str) -> None:
            assert await sim.faults.send_raw(text, cid) == 1

        def unknown_enum() -> str:
            frame = json.loads(stored(BodyType("carousel")))  # a body type from the future
            assert frame["eventBody"]["bodyType"] == "carousel"
            return json.dumps(frame)

        async def out_of_order() -> None:
            first, second = stored(), stored()
            # Arrival order is what the consumer gets: the server sent them swapped.
            expected[-2:] = expected[-1], expected[-2]
            await push(second)
            await push(first)

        # Each round: every bad frame once, plus unknown enum values, swapped pairs,
        # duplicated frames, an oversize frame and a heartbeat, all in a random order.
        actions: list[str] = []
        for _ in range(rounds):
            actions += list(frames)
            actions += ["unknown enum", "out of order", "duplicate"] * 3
            actions += ["oversize", "heartbeat"]
        rng.shuffle(actions)

        for name in actions:
            tried[name] = tried.get(name, 0) + 1
            if name == "out of order":
                await out_of_order()
            elif name == "duplicate":
                sim.faults.duplicate_next_events(1)
                await say()
            elif name == "oversize":
                # Over the bound: the client closes the socket (1009) and comes back.
                await sim.faults.send_oversize(MAX_FRAME_SIZE + 1024, cid)
                await say()  # said while detached, or just after: recovered either way
                reconnects += 1
                await tracker.wait_reconnects(reconnects)
            elif name == "heartbeat":
                await sim.send_heartbeats()
            elif name == "unknown enum":
                await push(unknown_enum())
                unknown_enums += 1
            else:
                await push(frames[name])
                unknown_sent += 1
            if rng.random() < 0.5:
                await say()
        # A member change with a state from the future: an event, not an unknown one.
        stamp = format_datetime(sim.state.clock())
        await push(
            _frame(
                f"v2.conversations.chats.{cid}.members",
                {"member": {"id": agent, "state": "AWAY"}, "timestamp": stamp},
                "member-change",
            )
        )
        await say()
        await tracker.wait_text(f"m{n}")

        counts = delivery(tracker.texts(agent), expected)
        logged = [r for r in caplog.records if r.name == "webchat_async.events"]
        formatted = [caplog.handler.format(r) for r in caplog.records]
        leaks = sum(1 for line in formatted if PLANTED in line or PLANTED_SIGNATURE in line)
        new_states = [
            e
            for e in tracker.events
            if type(e) is MemberStateChanged and e.member_id == agent and e.state == "AWAY"
        ]
        futures = [
            m for m in tracker.messages if m.body_type is not None and not m.body_type.is_known
        ]
        figures(
            "CHAOS frames",
            bad_inputs=sum(tried.values()) - tried["heartbeat"],
            kinds=len(tried) - 1,
            swapped_pairs=tried["out of order"],
            duplicated_frames=tried["duplicate"],
            unknown_events=len(tracker.unknown),
            logged=len(logged),
            unknown_enums=len(futures),
            reconnects=len(tracker.reconnects),
            secrets_in_logs=leaks,
            **counts,
        )
        assert len(tracker.unknown) == unknown_sent
        assert len(logged) == unknown_sent
        assert all(r.levelno == logging.DEBUG for r in logged)
        assert leaks == 0
        # Unknown enum values are kept, not turned into unknown events.
        assert len(futures) == unknown_enums
        assert all(str(m.body_type) == "carousel" for m in futures)
        assert len(new_states) == 1 and not new_states[0].state.is_known  # type: ignore[union-attr]
        assert tracker.texts(agent) == expected
        assert counts["lost"] == counts["duplicated"] == counts["unexpected"] == 0
        assert len(tracker.reconnects) == reconnects == rounds
        assert tracker.error is None
        assert not session.ended
        # The reasons are told apart (the log says which one it was).
        assert {e.reason for e in tracker.unknown} >= {
            "invalid JSON",
            "JSON nested too deeply",
            "not an object",
            "unknown topic or type",
            "message without id",
        }
        # Every UnknownEvent keeps at most 64 KiB of its frame, and its repr is redacted.
        assert all(len(e.raw) <= 64 * 1024 for e in tracker.unknown)
        assert not any(PLANTED_SIGNATURE in repr(e) for e in tracker.unknown)

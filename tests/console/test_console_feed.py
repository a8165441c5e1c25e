"""The console's pure core (``_console_feed.py``): what a frame shows, the timeline, its
bounds, the pages' queues, the exports."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("aiohttp")

from webchat_async.models import BodyType, MemberRole, MemberState, WebChatMemberInfo
from webchat_async.simulator import _console_feed
from webchat_async.simulator._console_feed import (
    KINDS,
    MAX_ENTRY_TEXT,
    ConsoleFeed,
    Subscriber,
    entries_from_frame,
    export_record,
    message_entry,
    summary,
    transcript,
)
from webchat_async.simulator._messaging_state import frame, structured
from webchat_async.simulator._state import ConversationState, SimulatorState
from webchat_async.simulator._stream import member_change_frame, typing_frame

CUT_SUFFIX = len("... [1,000,000,000 more characters]")


def chat(state: SimulatorState | None = None) -> tuple[SimulatorState, ConversationState]:
    state = state or SimulatorState()
    conversation = state.new_conversation(
        deployment_id=None, guest=WebChatMemberInfo(display_name="Ann")
    )
    conversation.add_member(
        WebChatMemberInfo(
            id="agent-1", display_name="Sam", role=MemberRole.AGENT, state=MemberState.CONNECTED
        )
    )
    conversation.agent_member_id = "agent-1"
    return state, conversation


def test_typing_and_member_frames_of_web_chat() -> None:
    _, c = chat()
    stamp = "2026-01-01T00:00:00.000Z"
    assert entries_from_frame(c, typing_frame(c.id, "t1", "agent-1", stamp)) == [
        ("typing", "agent-1", "Sam is typing")
    ]
    changed = member_change_frame(c.id, c.guest_member_id, MemberState.DISCONNECTED, stamp)
    assert entries_from_frame(c, changed) == [("member", c.guest_member_id, "Ann is DISCONNECTED")]


def test_web_messaging_events() -> None:
    _, c = chat()
    at = "2026-01-01T00:00:00.000Z"
    typing = structured(
        "m1", at, direction="Outbound", kind="Event", events=[{"eventType": "Typing"}]
    )
    join = structured(
        "m2",
        at,
        direction="Inbound",
        kind="Event",
        events=[{"eventType": "Presence", "presence": {"type": "Join"}}],
    )
    leave = structured(
        "m3",
        at,
        direction="Outbound",
        kind="Event",
        events=[{"eventType": "Presence", "presence": {"type": "Disconnect"}}],
    )
    text = structured("m4", at, direction="Inbound", text="hello")

    def decode(data: Any) -> list[tuple[str, str, str]]:
        return entries_from_frame(c, json.dumps(data))

    assert decode(frame("message", "StructuredMessage", 200, typing)) == [
        ("typing", "agent-1", "Sam is typing")
    ]
    assert decode(frame("message", "StructuredMessage", 200, join)) == [
        ("event", c.guest_member_id, "Ann: Presence Join")
    ]
    # Stored: the record shows it (as "left"), the frame adds nothing; nor does a text.
    assert decode(frame("message", "StructuredMessage", 200, leave)) == []
    assert decode(frame("message", "StructuredMessage", 200, text)) == []
    assert decode(frame("message", "SessionClearedEvent", 200, {})) == [
        ("event", "", "SessionClearedEvent")
    ]


@given(st.text(max_size=300))
def test_any_text_decodes_without_raising(text: str) -> None:
    _, c = chat()
    for kind, _member, shown in entries_from_frame(c, text):
        assert kind in KINDS and len(shown) <= MAX_ENTRY_TEXT + CUT_SUFFIX


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner),
    max_leaves=20,
)
_keys = st.sampled_from(
    [
        "topicName",
        "metadata",
        "eventBody",
        "type",
        "class",
        "body",
        "events",
        "member",
        "sender",
        "id",
        "state",
        "eventType",
        "presence",
        "direction",
    ]
)
_shaped = st.recursive(
    st.none()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "typing-indicator",
            "member-change",
            "StructuredMessage",
            "Event",
            "Typing",
            "Presence",
            "Inbound",
            "Outbound",
            "SessionClearedEvent",
            "agent-1",
        ]
    ),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_keys, inner, max_size=6),
    max_leaves=30,
)


@given(_json | _shaped)
def test_any_json_decodes_to_bounded_entries(data: Any) -> None:
    _, c = chat()
    for kind, member, shown in entries_from_frame(c, json.dumps(data)):
        assert kind in KINDS and isinstance(member, str)
        assert len(shown) <= MAX_ENTRY_TEXT + CUT_SUFFIX


def test_frames_past_the_bound_are_not_decoded() -> None:
    _, c = chat()
    big = typing_frame(c.id, "t1", "agent-1", "x" * _console_feed.MAX_DECODED_FRAME)
    assert entries_from_frame(c, big) == []


def test_message_entries_by_body_type() -> None:
    _, c = chat()
    request = c.add_media_request(["COBROWSE"])
    assert request.id is not None
    cases = [
        (c.guest_member_id, "hi", BodyType.STANDARD, ("message", c.guest_member_id, "hi")),
        ("agent-1", "", BodyType.MEMBER_JOIN, ("member", "agent-1", "Sam joined")),
        (c.guest_member_id, "", BodyType.MEMBER_LEAVE, ("member", c.guest_member_id, "Ann left")),
        ("agent-1", "note", BodyType.NOTICE, ("notice", "agent-1", "note")),
        (
            "agent-1",
            request.id,
            BodyType.MEDIA_REQUEST,
            ("media", "agent-1", f"Sam asks for COBROWSE (request {request.id})"),
        ),
    ]
    for sender, body, body_type, expected in cases:
        assert message_entry(c, c.add_message(sender, body, body_type)) == expected


def test_the_timeline_follows_the_record_and_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_console_feed, "MAX_TIMELINE", 5)
    state = SimulatorState()
    feed = ConsoleFeed(state, clock=state.clock)
    state.watchers.append(feed.created)
    _, c = chat(state)
    # Stored without any frame (drop_before_echo): the next hook shows it.
    c.add_message(c.guest_member_id, "unseen", BodyType.STANDARD)
    feed.socket(c.id, "detach", 0)
    texts = [e["text"] for e in feed.timeline(c.id)]
    assert texts == ["conversation created", "unseen", "stream closed; 0 open"]
    for i in range(20):
        c.add_message(c.guest_member_id, f"m{i}", BodyType.STANDARD)
    timeline = feed.timeline(c.id)
    assert [e["text"] for e in timeline] == [f"m{i}" for i in range(15, 20)]
    assert [e["seq"] for e in timeline] == list(range(4, 9))  # the newest 5, numbered on


def test_long_texts_are_cut_and_say_so() -> None:
    state, c = chat()
    feed = ConsoleFeed(state, clock=state.clock)
    c.add_message(c.guest_member_id, "x" * (MAX_ENTRY_TEXT + 10), BodyType.STANDARD)
    (entry,) = [e for e in feed.timeline(c.id) if e["kind"] == "message"]
    assert entry["text"] == "x" * MAX_ENTRY_TEXT + "... [10 more characters]"


def test_a_page_that_falls_behind_is_marked_once_and_holds_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_console_feed, "MAX_PENDING", 3)
    woken: list[int] = []
    page = Subscriber("c1", lambda: woken.append(1))
    for i in range(10):
        page.add("c1", {"seq": i})
    page.add("c2", {"seq": 99})  # another conversation: only its row changed
    overflowed, entries, changed = page.take()
    assert overflowed and entries == [] and changed == ["c1", "c2"] and len(woken) == 11
    page.add("c1", {"seq": 10})
    assert page.take() == (False, [{"seq": 10}], ["c1"])


def test_rows_newest_first_and_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_console_feed, "MAX_LISTED", 2)
    state = SimulatorState()
    ids = [chat(state)[1].id for _ in range(3)]
    feed = ConsoleFeed(state, clock=state.clock, read_only=lambda i: i == ids[2])
    rows = feed.rows()
    assert [r["id"] for r in rows] == [ids[2], ids[1]]
    assert rows[0]["state"] == "ended" and rows[1]["state"] == "created"
    assert [r["id"] for r in feed.rows(["nope", ids[0]])] == [ids[0]]


def test_summary_export_and_transcript() -> None:
    _, c = chat()
    c.routed = True
    c.add_message(c.guest_member_id, "a\r\nb", BodyType.STANDARD)
    row = summary(c)
    assert row["state"] == "active" and row["guest"] == "Ann" and row["messageCount"] == 1
    assert [m["name"] for m in row["members"]] == ["Ann", "Sam"]
    record = export_record(c)
    assert record["messages"][0]["body"] == "a\r\nb" and record["truncated"] is False
    lines = transcript(c).splitlines()
    assert lines[0] == f"Conversation {c.id} (webchat)"
    assert lines[1].endswith("] Ann: a") and lines[2] == "    b"


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1:8080", True),
        ("localhost", True),
        ("[::1]:80", True),
        ("127.0.0.1.attacker.example", False),
        ("attacker.example:8080", False),
        ("[::1", False),
        ("", False),
    ],
)
def test_loopback_host_headers(host: str, loopback: bool) -> None:
    from webchat_async.simulator._admin import loopback_host

    assert loopback_host(host) is loopback


_OWNER = st.sampled_from(["", "w-1", "w-2"])


# No deadline: a wall-clock limit fails on a loaded machine and proves nothing here.
@settings(deadline=None)
@given(
    st.lists(
        st.tuples(
            st.dictionaries(st.integers(0, 2), _OWNER, max_size=3),
            st.sets(st.integers(0, 2), max_size=3),
        ),
        max_size=8,
    )
)
def test_the_fleets_holders_change_only_when_the_store_says_so(
    reads: list[tuple[dict[int, str], set[int]]],
) -> None:
    state = SimulatorState()
    ids = [chat(state)[1].id for _ in range(3)]
    feed = ConsoleFeed(state, clock=lambda: state.clock())
    before = {cid: "-" for cid in ids}
    for owners_by_index, given_up_indexes in reads:
        owners = {ids[i]: owner for i, owner in owners_by_index.items()}
        given_up = {ids[i]: "no way on" for i in given_up_indexes}
        entries = {cid: len(feed.timeline(cid)) for cid in ids}
        changed = feed.fleet(owners, given_up, complete=True)
        expected = {
            cid: (owners[cid] or "unclaimed")
            if cid in owners
            else ("given up" if cid in given_up else "-")
            for cid in ids
        }
        assert {cid: feed.holder(cid) for cid in ids} == expected
        assert {r["id"]: r["holder"] for r in feed.rows()} == expected
        moved = [cid for cid in ids if expected[cid] != before[cid]]
        assert changed == len(moved)
        for cid in ids:  # one fleet entry per change of holder, none otherwise
            assert len(feed.timeline(cid)) - entries[cid] == (cid in moved)
        assert feed.fleet(owners, given_up, complete=True) == 0  # the same read: nothing
        before = expected

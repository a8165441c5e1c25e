"""The pure inbound core, driven directly: no socket, no session, no private attribute.

The property: whatever the interleaving of live frames, drops, pages (overlapping,
repeated once, full without ``next``, failing), duplicated and swapped frames, consumer
pauses, window and hold sizes and burst sizes, every message is delivered exactly once, in
server order (a message whose frame the stream swapped with its neighbour comes late,
still exactly once), with memory bounded by the window, the hold limit and the outbox.
"""

from __future__ import annotations

import datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from inbound_model import EPOCH, Model

from webchat_async._events import (
    ConversationEnded,
    MemberJoined,
    MessageReceived,
    StreamDisconnected,
    StreamReconnected,
    UnknownEvent,
)
from webchat_async._inbound import (
    PAGE_SIZE,
    REWIND,
    FetchMembers,
    FetchPage,
    Inbound,
    Position,
    State,
    Undecodable,
)
from webchat_async.models import MemberState, WebChatMemberInfo, WebChatMessage

GUEST = "guest"

step = st.one_of(
    st.tuples(st.just("store"), st.integers(1, 300), st.integers(1, 4)),
    st.tuples(st.just("send"), st.integers(1, 50), st.booleans(), st.booleans()),
    st.tuples(st.just("drop")),
    st.tuples(st.just("attach")),
    st.tuples(
        st.just("answer"),
        st.booleans(),  # a full page without next
        st.integers(0, 20).map(lambda n: n == 0),  # the previous page, once, again
        st.integers(0, 30).map(lambda n: max(0, n - 25)),  # overlap with the previous page
        st.integers(0, 10).map(lambda n: n == 0),  # a transient failure
    ),
    st.tuples(st.just("take"), st.integers(0, 400)),
)


def run(model: Model, steps: list[tuple[object, ...]]) -> None:
    model.attach()
    repeated = False
    for action, *args in steps:
        if action == "store":
            model.store(int(args[0]), same_time=int(args[1]))  # type: ignore[call-overload]
        elif action == "send":
            model.send(int(args[0]), duplicate=bool(args[1]), swap=bool(args[2]))  # type: ignore[call-overload]
        elif action == "drop":
            model.drop()
        elif action == "attach":
            model.attach()
        elif action == "answer":
            omit_next, repeat, overlap, fail = args
            # A server may repeat a page once; never twice in a row (that ends the paging).
            repeat = bool(repeat) and not repeated
            repeated = repeat
            model.answer(
                omit_next=bool(omit_next),
                repeat=repeat,
                overlap=int(overlap),
                fail=bool(fail),  # type: ignore[call-overload]
            )
        else:
            model.take(int(args[0]))  # type: ignore[call-overload]


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    steps=st.lists(step, max_size=60),
    window=st.integers(1, 64),
    capacity=st.integers(1, 64),
    hold=st.integers(0, 64),
)
def test_exactly_once_in_server_order_whatever_happens(
    steps: list[tuple[object, ...]], window: int, capacity: int, hold: int
) -> None:
    core = Inbound(member_id=GUEST, capacity=capacity, window=window, hold_limit=hold)
    model = Model(core)
    run(model, steps)
    model.settle()
    model.check_exactly_once_in_order()
    ring = max(window, REWIND)
    # Bounded memory: the ring, the held frames, the ids that share the newest timestamp
    # (at most 4 here), twice (the position and the floor).
    assert model.max_remembered <= ring + hold + 8
    # The outbox: its capacity, plus one page, plus what is held, plus stream events.
    assert model.max_queued <= capacity + PAGE_SIZE + hold + 2 * model.drops + 4


@pytest.mark.parametrize("burst", [1_000, 100_000])
@pytest.mark.parametrize("window", [1, 8, 1024])
def test_a_burst_past_every_window_is_delivered_exactly_once(burst: int, window: int) -> None:
    # The consumer reads normally, the reader pages while frames keep coming: frames
    # already delivered by a page arrive long after, far outside any window.
    core = Inbound(member_id=GUEST, capacity=256, window=window, hold_limit=window)
    model = Model(core)
    model.attach()
    model.answer()  # the first (empty) backfill
    model.store(burst, same_time=3)
    model.collect()
    while model.wire or model.pending or core.ready():
        model.send(37)
        model.answer()
        model.take(50)
        model.collect()
    model.settle()
    model.check_exactly_once_in_order()
    assert model.max_remembered <= max(window, REWIND) + window + 6
    assert model.max_queued <= 256 + PAGE_SIZE + window + 4


def test_fifty_messages_with_a_window_of_eight_give_fifty() -> None:
    # eec547b: 100 events (every backfill moved the cursor back and re-delivered).
    core = Inbound(member_id=GUEST, capacity=4, window=8, hold_limit=8)
    model = Model(core)
    model.attach()
    model.answer()
    model.store(50)
    model.send(50)  # the consumer is away: a gap opens after 4
    model.settle()
    assert len(model.message_ids()) == 50
    model.check_exactly_once_in_order()


def _msg(i: int, ms: int) -> WebChatMessage:
    return WebChatMessage(
        id=f"x{i}", body=str(i), timestamp=EPOCH + datetime.timedelta(milliseconds=ms)
    )


def test_a_late_frame_is_delivered_once_and_an_old_repeat_never() -> None:
    core = Inbound(member_id=GUEST, window=2)
    core.attached(None)
    (page,) = core.requests()[:1]
    assert isinstance(page, FetchPage)
    core.page_received(page, [], next_link=None)
    assert core.state is State.LIVE
    m = [_msg(i, i) for i in range(40)]
    core.frame(MessageReceived(m[1]))
    core.frame(MessageReceived(m[0]))  # swapped: behind the position, provably new
    for i in range(2, 40):
        core.frame(MessageReceived(m[i]))
    core.frame(MessageReceived(m[0]))  # a repeat far outside the ring: behind the floor
    core.frame(MessageReceived(m[5]))
    got = []
    while (event := core.take()) is not None:
        if isinstance(event, MessageReceived):
            got.append(event.message.id)
    assert got == ["x1", "x0"] + [f"x{i}" for i in range(2, 40)]


def test_a_full_page_without_next_goes_on_with_after() -> None:
    # eec547b: 100 of 250 missed messages delivered, the rest lost without a warning.
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.answer()
    model.drop()
    model.store(250)
    model.attach()
    while model.answer(omit_next=True):
        model.take(1000)
    model.take(1000)
    assert len(model.message_ids()) == 250
    assert [e for e in model.delivered if isinstance(e, StreamReconnected)] == [
        StreamReconnected(backfilled=250)
    ]


def test_a_server_repeating_its_page_cannot_make_the_reader_loop() -> None:
    # eec547b: 1,927 GETs in 3 s and no StreamReconnected.
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.answer()
    model.drop()
    model.store(300)
    model.attach()
    gets = 0
    model.collect()
    while model.pending:
        request = model.pending[0]
        if isinstance(request, FetchPage):
            gets += 1
            assert gets < 10
            model.answer(repeat=gets > 1)
        else:
            model.answer()
        model.collect()
    model.take(1000)
    assert any(isinstance(e, StreamReconnected) for e in model.delivered)
    assert core.state is State.LIVE


def test_an_undecodable_stored_message_is_reported_once_and_the_rest_delivered() -> None:
    core = Inbound(member_id=GUEST)
    core.attached(None)
    (page,) = [r for r in core.requests() if isinstance(r, FetchPage)]
    good = [_msg(0, 1), _msg(2, 3)]
    bad = Undecodable("x1", '{"id":"x1","timestamp":1700000000}')
    core.page_received(page, [good[0], bad, good[1]], next_link=None)
    events = []
    while (event := core.take()) is not None:
        events.append(event)
    assert [type(e) for e in events] == [MessageReceived, UnknownEvent, MessageReceived]
    assert core.state is State.LIVE


def test_membership_changed_while_detached_is_reported_after_the_reattach() -> None:
    # eec547b: an agent who joined during a drop never yielded MemberJoined.
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.collect()
    first = [r for r in model.pending if isinstance(r, FetchMembers)]
    model.pending.remove(first[0])
    guest = WebChatMemberInfo(id=GUEST, state=MemberState.CONNECTED)
    core.members_received(first[0], [guest])  # the first read: nothing to report
    model.answer()
    model.drop()
    model.attach()
    model.collect()
    again = [r for r in model.pending if isinstance(r, FetchMembers)]
    model.pending.remove(again[0])
    agent = WebChatMemberInfo(id="agent", display_name="Sam", state=MemberState.CONNECTED)
    core.members_received(again[0], [guest, agent])
    while model.answer():  # the backfill: the news keeps its place after it
        pass
    events = []
    while (event := core.take()) is not None:
        events.append(event)
    joined = [e for e in events if isinstance(e, MemberJoined)]
    assert len(joined) == 1 and joined[0].member.display_name == "Sam"


def test_the_end_while_detached_reads_the_missed_messages_first() -> None:
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.answer()
    model.drop()
    model.store(5)
    core.refused_reattach()  # 400 on the handshake: the chat is over
    while model.answer():
        pass
    model.take(100)
    assert len(model.message_ids()) == 5
    end = model.delivered[-1]
    assert isinstance(end, ConversationEnded) and end.history_complete


def test_the_end_while_detached_says_when_the_missed_messages_are_unread() -> None:
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.answer()
    model.drop()
    core.refused_reattach()
    (page,) = [r for r in core.requests() if isinstance(r, FetchPage)]
    core.page_refused(page, ended=True)
    events = []
    while (event := core.take()) is not None:
        events.append(event)
    assert isinstance(events[0], StreamDisconnected)
    end = events[-1]
    assert isinstance(end, ConversationEnded) and not end.history_complete


def test_the_position_is_where_the_consumer_stands_and_resumes_exactly() -> None:
    core = Inbound(member_id=GUEST)
    model = Model(core)
    model.attach()
    model.answer()
    model.store(30, same_time=3)
    model.send(30)
    model.take(20)
    position = core.position
    taken = model.message_ids()
    assert position.cursor == taken[-1]
    # A resumed core (another process) yields exactly the rest, even from the start.
    resumed = Inbound(member_id=GUEST, position=position)
    other = Model(resumed, server=model.server, index=model.index, tick=model.tick)
    other.attach()
    other.settle()
    assert taken + other.message_ids() == [m.id for m in model.server]
    # Even when the service refuses the cursor and the backfill starts over.
    again = Inbound(member_id=GUEST, position=position)
    third = Model(again, server=model.server, index=model.index, tick=model.tick)
    third.attach()
    (page,) = [r for r in again.requests() if isinstance(r, FetchPage)]
    again.page_refused(page, ended=False)
    third.settle()
    assert taken + third.message_ids() == [m.id for m in model.server]


def test_a_position_saved_by_an_older_version_resumes_after_its_id() -> None:
    core = Inbound(member_id=GUEST, position=Position(cursor="m000009"))
    model = Model(core)
    model.store(20)
    model.attached = True
    core.attached(None)
    model.settle()
    assert model.message_ids() == [f"m{i:06d}" for i in range(10, 20)]


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(
    burst=st.integers(1_000, 4_000),
    steps=st.lists(step, max_size=40),
    window=st.integers(1, 64),
    capacity=st.integers(1, 64),
    hold=st.integers(0, 64),
)
def test_thousands_at_one_timestamp_across_drops_and_backfills(
    burst: int, steps: list[tuple[object, ...]], window: int, capacity: int, hold: int
) -> None:
    # The service stamps in milliseconds: a burst shares one timestamp, and every message
    # stored later here shares it too.
    core = Inbound(member_id=GUEST, capacity=capacity, window=window, hold_limit=hold)
    model = Model(core, one_timestamp=True)
    model.attach()
    model.store(burst)
    run(model, [("send", 37, False, False), ("drop",), *steps])
    model.settle()
    model.check_exactly_once_in_order()
    assert len({m.timestamp for m in model.server}) == 1
    # The consumer's position (what save() records) stays of bounded size.
    assert model.max_position_ids <= max(window, REWIND)


@pytest.mark.parametrize("refuse", [False, True])
def test_a_position_in_a_burst_at_one_timestamp_is_bounded_and_resumes_exactly(
    refuse: bool,
) -> None:
    core = Inbound(member_id=GUEST, window=8, hold_limit=8)
    model = Model(core, one_timestamp=True)
    model.attach()
    model.answer()
    model.store(5_000)
    model.send(5_000)
    while len(model.message_ids()) < 3_000:  # the rest of the burst comes by pages
        model.answer()
        model.take(min(100, 3_000 - len(model.message_ids())))
    position = core.position
    assert len(position.ids) <= REWIND  # max(window, REWIND): not 3,000 ids
    assert position.cursor == position.ids[-1] == "m002999"
    assert core.position is position  # built once until the next take
    taken = model.message_ids()
    # A resumed core yields exactly the rest, also when the service refuses the cursor
    # and the backfill pages from the conversation's start (all 5,000 at one timestamp).
    resumed = Inbound(member_id=GUEST, position=position)
    other = Model(resumed, server=model.server, index=model.index, tick=model.tick)
    other.attach()
    if refuse:
        (page,) = [r for r in resumed.requests() if isinstance(r, FetchPage)]
        resumed.page_refused(page, ended=False)
    other.settle()
    assert taken + other.message_ids() == [m.id for m in model.server]

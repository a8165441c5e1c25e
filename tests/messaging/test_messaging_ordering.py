"""Property tests of the reorder window, the dedupe memory and the rate limit, alone
(docs/messaging-protocol.md#order-and-dedupe, #rate-limit)."""

from __future__ import annotations

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async.messaging._models import StructuredMessage
from webchat_async.messaging._ordering import Reorder, Seen
from webchat_async.messaging._sends import RateLimit, retry_delay

T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)
WINDOW = 0.5


def message(n: int, stamp: float) -> StructuredMessage:
    return StructuredMessage(f"m{n}", "Text", time=T0 + datetime.timedelta(seconds=stamp))


# Messages stamped 0.1 s apart, each arriving after a delay below the window.
DELAYS = st.lists(st.floats(0.0, WINDOW * 0.99), min_size=1, max_size=40)


@settings(max_examples=300, deadline=None)
@given(delays=DELAYS, polls=st.lists(st.floats(0.0, 5.0), max_size=20))
def test_reorder_releases_in_time_order_once_and_holds_nothing_past_the_window(
    delays: list[float], polls: list[float]
) -> None:
    arrivals = sorted((n * 0.1 + d, n) for n, d in enumerate(delays))
    reorder = Reorder(WINDOW)
    released: list[tuple[float, StructuredMessage]] = []
    arrived_at: dict[str | None, float] = {}
    now = 0.0
    # The driver wakes at each deadline; extra wake-ups (polls) change nothing.
    wakes = sorted([(at, "arrive", n) for at, n in arrivals] + [(p, "poll", -1) for p in polls])
    for at, what, n in wakes:
        while (due := reorder.due()) is not None and due <= at:
            now = max(now, due)
            released += [(now, m) for m in reorder.release(now)]
        now = max(now, at)
        if what == "arrive":
            arrived_at[f"m{n}"] = now
            reorder.add(message(n, n * 0.1), now)
            reorder.add(message(n, n * 0.1), now)  # a duplicate while held
        released += [(now, m) for m in reorder.release(now)]
    while (due := reorder.due()) is not None:
        now = max(now, due)
        released += [(now, m) for m in reorder.release(now)]
    ids = [m.id for _, m in released]
    assert sorted(ids, key=lambda i: int(i[1:])) == [f"m{n}" for n in range(len(delays))]
    assert len(ids) == len(set(ids))
    times = [m.time for _, m in released]
    assert times == sorted(times)  # every delay below the window: the service's order
    # Never held past its window.
    assert all(when <= arrived_at[m.id] + WINDOW + 1e-9 for when, m in released)
    assert len(reorder) == 0 and reorder.flush() == []


@settings(max_examples=300, deadline=None)
@given(
    capacity=st.integers(1, 20),
    order=st.permutations(range(60)),
    repeats=st.lists(st.integers(0, 59), max_size=60),
)
def test_seen_is_bounded_and_never_lets_a_delivered_message_through(
    capacity: int, order: list[int], repeats: list[int]
) -> None:
    seen = Seen(capacity)
    delivered: set[str] = set()
    for n in order[:40]:
        m = message(n, n // 3)  # three messages per time: ties at the floor
        if m not in seen:
            seen.add(m)
            delivered.add(m.id or "")
        assert len(seen) <= capacity
    for n in repeats:
        m = message(n, n // 3)
        if m.id in delivered:
            assert m in seen  # a repeat is always recognised, however long ago


@settings(max_examples=300, deadline=None)
@given(
    wants=st.lists(st.floats(0.0, 3.0), min_size=1, max_size=60),
    blocks=st.lists(st.one_of(st.none(), st.floats(-5, 10_000)), max_size=60),
)
def test_rate_limit_never_lets_three_frames_into_one_second(
    wants: list[float], blocks: list[float | None]
) -> None:
    rate = RateLimit(2, 1.0)
    now = 0.0
    sent: list[float] = []
    block = iter(blocks)
    for gap in wants:
        now += gap
        now = max(now, rate.ready_at())  # the core waits until ready_at
        rate.record(now)
        sent.append(now)
        retry = next(block, None)
        if retry is not None and retry > 5_000:
            rate.block(now + retry_delay(retry))
            assert rate.ready_at() <= now + 60.0  # capped
    assert all(sent[i + 2] - sent[i] >= 1.0 - 1e-9 for i in range(len(sent) - 2))


def test_a_flush_releases_messages_stamped_at_either_end_of_time() -> None:
    # Hostile stamps: the first and last representable times, and none.
    utc = datetime.timezone.utc
    last = StructuredMessage("late", "Text", time=datetime.datetime.max.replace(tzinfo=utc))
    first = StructuredMessage("early", "Text", time=datetime.datetime.min.replace(tzinfo=utc))
    untimed = StructuredMessage("untimed", "Text")
    reorder = Reorder(WINDOW)
    for n, held in enumerate((last, message(1, 1.0), first, untimed)):
        reorder.add(held, float(n))
    assert [m.id for m in reorder.flush()] == ["early", "untimed", "m1", "late"]
    assert len(reorder) == 0
    reorder.add(last, 10.0)
    assert [m.id for m in reorder.release(10.0 + WINDOW)] == ["late"]

"""Sequencer and DedupeWindow: exactly once, in order, across simulated reconnects."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat_async._ordering import DedupeWindow, Sequencer
from webchat_async.models import WebChatMessage


def msg(i: int) -> WebChatMessage:
    return WebChatMessage(id=f"m{i:05d}", body=str(i))


def test_window_is_bounded_and_forgets_oldest() -> None:
    window = DedupeWindow(3)
    assert [window.add(k) for k in "abca"] == [True, True, True, False]
    assert window.add("d") is True
    assert len(window) == 3
    assert "a" not in window and "d" in window
    assert window.add("a") is True


def test_window_size_must_be_positive() -> None:
    with pytest.raises(ValueError):
        DedupeWindow(0)


def test_accept_drops_duplicates_and_tracks_last_id() -> None:
    seq = Sequencer()
    assert seq.last_message_id is None
    assert seq.accept(msg(1)) and seq.accept(msg(2))
    assert not seq.accept(msg(1))
    assert seq.last_message_id == "m00002"
    assert seq.seen("m00001")


def test_message_without_id_is_delivered() -> None:
    seq = Sequencer()
    assert seq.accept(WebChatMessage(body="x")) and seq.accept(WebChatMessage(body="x"))
    assert seq.last_message_id is None


def test_resumed_sequencer_skips_its_last_message() -> None:
    seq = Sequencer(last_message_id="m00003")
    assert [m.id for m in seq.backfill([msg(3), msg(4)])] == ["m00004"]
    assert seq.last_message_id == "m00004"


def test_backfill_then_buffered_live_frames_merge_exactly_once() -> None:
    seq = Sequencer()
    delivered = [m.id for m in (msg(1), msg(2)) if seq.accept(m)]
    # Dropped after m2. m3..m5 were stored while detached; m5, m6 arrived on the new socket
    # while the backfill (which saw up to m5) ran.
    delivered += [m.id for m in seq.backfill([msg(3), msg(4), msg(5)])]
    delivered += [m.id for m in (msg(5), msg(6)) if seq.accept(m)]
    assert delivered == [f"m{i:05d}" for i in range(1, 7)]


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=2**32), st.integers(min_value=1, max_value=300))
def test_random_drops_deliver_every_message_once_in_order(seed: int, total: int) -> None:
    """A model of the session: the server stores messages; the socket drops at random;
    after each reattach the backfill reads what was stored after the last id, and the
    live frames that reached the new socket meanwhile are read afterwards."""
    rng = random.Random(seed)
    store = [msg(i) for i in range(total)]
    seq = Sequencer(window=64)
    out: list[str] = []
    stored = 0
    attached = True
    live: list[WebChatMessage] = []  # frames sent to the attached socket, not read yet

    def backfill() -> None:
        start = 0
        if seq.last_message_id is not None:
            start = int(seq.last_message_id[1:]) + 1
        out.extend(m.id or "" for m in seq.backfill(store[start:stored]))

    while stored < total or live or not attached:
        action = rng.random()
        if action < 0.5 and stored < total:
            if attached:  # published only to an attached socket: nothing is replayed
                live.append(store[stored])
                if rng.random() < 0.1:
                    live.append(store[stored])  # a server duplicate
            stored += 1
        elif action < 0.8 and live:
            m = live.pop(0)
            if seq.accept(m):
                out.append(m.id or "")
        elif attached:
            live.clear()  # the drop loses the frames not read yet
            attached = False
        else:
            attached = True
            # a message stored while the backfill runs reaches both the socket and the page
            if stored < total and rng.random() < 0.5:
                live.append(store[stored])
                stored += 1
            backfill()
    assert out == [m.id for m in store]

"""The pure part of a takeover: which recorded sends reached the conversation."""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from webchat_async.models import WebChatMemberInfo, WebChatMessage
from webchat_async.worker._replay import made_sends, own_uncommitted

GUEST = "guest"


def message(mid: str, body: str, sender: str = GUEST) -> WebChatMessage:
    return WebChatMessage(id=mid, body=body, sender=WebChatMemberInfo(id=sender))


def test_own_uncommitted_keeps_the_guests_messages_that_are_not_committed_sends() -> None:
    after = [
        message("a1", "agent", sender="agent"),
        message("g1", "old reply"),  # committed, its echo not handled yet
        message("g2", "new reply"),
        message("g3", ""),  # a member-leave has no body
    ]
    kept = own_uncommitted(after, GUEST, outstanding=["g1"])
    assert [m.id for m in kept] == ["g2"]


def test_each_body_is_matched_once_and_a_missing_one_is_none() -> None:
    candidates = [message("1", "x"), message("2", "y")]
    made = made_sends(["x", "x", "y", "z"], candidates)
    assert [m.id if m else None for m in made] == ["1", None, "2", None]


def test_a_send_made_again_by_a_later_owner_is_matched_wherever_it_landed() -> None:
    # Owner 1 made send 1 ("b"); send 0 failed. Owner 2 made send 0 ("a") later.
    candidates = [message("1", "b"), message("2", "a")]
    made = made_sends(["a", "b"], candidates)
    assert [m.id if m else None for m in made] == ["2", "1"]


texts = st.sampled_from(["ok", "yes", "no", "echo"])


@given(
    bodies=st.lists(texts, max_size=8),
    landed_mask=st.lists(st.booleans(), min_size=8, max_size=8),
    order=st.randoms(use_true_random=False),
)
def test_exactly_the_sends_that_landed_are_found(
    bodies: list[str], landed_mask: list[bool], order: object
) -> None:
    landed = [b for b, keep in zip(bodies, landed_mask, strict=False) if keep]
    shuffled = list(landed)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    candidates = [message(str(i), body) for i, body in enumerate(shuffled)]
    made = made_sends(bodies, candidates)
    assert len(made) == len(bodies)
    found = [m for m in made if m is not None]
    # As many of each text as landed: no send repeated, none assumed made wrongly.
    assert collections.Counter(m.body for m in found) == collections.Counter(landed)
    assert len({m.id for m in found}) == len(found)
    for body, m in zip(bodies, made, strict=True):
        assert m is None or m.body == body

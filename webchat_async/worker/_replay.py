"""Pure: which of the sends recorded for an uncommitted event reached the conversation.

A worker records each send (the event's key and the body) before it posts it, and commits
the event's progress after the handler returns. A worker that dies in between leaves the
recorded sends behind; the next owner reads the guest's own messages after the last
committed position, leaves out the committed sends whose echo was not handled yet
(``outstanding``), and matches what is left against the recorded bodies in order. The
handler, run again for that event, gets the matched messages back instead of posting them
again (its k-th send stands for the k-th recorded send).

Only the lease holder posts as the guest, and it handles one event at a time, so every own
message after the position that is not an outstanding committed send was made for the one
uncommitted event. A later owner that makes the k-th send again records it in the k-th
place (replacing what was recorded there), so the record always lists one body per send.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from ..models import WebChatMessage

__all__ = ["made_sends", "own_uncommitted"]


def own_uncommitted(
    messages: Iterable[WebChatMessage], member_id: str, outstanding: Iterable[str]
) -> list[WebChatMessage]:
    """The guest's own messages with a body among ``messages`` (those after the committed
    position, in server order) that are not committed sends."""
    committed = set(outstanding)
    return [
        m
        for m in messages
        if m.sender is not None
        and m.sender.id == member_id
        and m.id not in committed
        and bool(m.body)
    ]


def made_sends(
    bodies: Sequence[str], candidates: Sequence[WebChatMessage]
) -> list[WebChatMessage | None]:
    """For each recorded body, the message that carried it, or ``None`` if it never
    reached the conversation.

    Each body takes the first candidate with the same text that no earlier body took. Order
    is not relied on: a send re-made by a later owner lands after the ones the earlier
    owner made for the same event. With equal texts, which send a message is matched to
    does not matter: the count is what is right.
    """
    made: list[WebChatMessage | None] = []
    used: set[int] = set()
    for body in bodies:
        found = None
        for index, candidate in enumerate(candidates):
            if index not in used and candidate.body == body:
                used.add(index)
                found = candidate
                break
        made.append(found)
    return made

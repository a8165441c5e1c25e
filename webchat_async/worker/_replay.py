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

import hashlib
from collections.abc import Callable, Iterable, Sequence

from ..models import WebChatMessage

__all__ = ["made_sends", "own_uncommitted", "send_digest"]

#: What a recorded send starts with: a digest, not the guest's text.
DIGEST = "sha256:"


def send_digest(conversation_id: str, text: str) -> str:
    """What the store records for a send: the SHA-256 of the conversation id and the text.

    The ledger only needs to recognise a text among the conversation's messages (a send
    not made is made again by the handler, which knows its text), so it keeps no guest
    text. The conversation id salts it: equal texts in two chats give two digests.
    """
    data = f"{conversation_id}\n{text}".encode("utf-8", "surrogatepass")
    return DIGEST + hashlib.sha256(data).hexdigest()


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
    bodies: Sequence[str],
    candidates: Sequence[WebChatMessage],
    digest: Callable[[str], str] | None = None,
) -> list[WebChatMessage | None]:
    """For each recorded body, the message that carried it, or ``None`` if it never
    reached the conversation.

    With ``digest``, a recorded body is a digest (:func:`send_digest`) compared with the
    digest of each candidate's text; a body recorded in clear (by an older worker) is
    still compared with the text itself.

    Each body takes the first candidate with the same text that no earlier body took. Order
    is not relied on: a send re-made by a later owner lands after the ones the earlier
    owner made for the same event. With equal texts, which send a message is matched to
    does not matter: the count is what is right.
    """
    made: list[WebChatMessage | None] = []
    used: set[int] = set()
    texts = [c.body or "" for c in candidates]
    digests = [digest(t) for t in texts] if digest is not None else texts
    for body in bodies:
        found = None
        seen = digests if body.startswith(DIGEST) else texts
        for index, candidate in enumerate(candidates):
            if index not in used and seen[index] == body:
                used.add(index)
                found = candidate
                break
        made.append(found)
    return made

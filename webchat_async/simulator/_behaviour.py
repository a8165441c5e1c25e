"""The service's unknowns, as switches: :class:`Behaviour` (``Simulator(behaviour=...)``).

Each field is one behaviour the public documents leave open (docs/protocol.md#unknowns);
the default is the documented or most likely answer. A client must keep its guarantees
under every setting; the SDK's own tests run it against each one
(``tests/session/test_behaviours.py``).
"""

from __future__ import annotations

from typing import Literal

import attrs

__all__ = ["Behaviour"]

ReadsAfterEnd = Literal["refused", "served"]
HandshakeAfterEnd = Literal[400, 401, 404]


@attrs.frozen
class Behaviour:
    """How the simulator answers where the service's behaviour is not documented.

    Args:
        next_links: messages pages carry ``next`` / ``previousPage``; ``False``: never
            (servers have omitted them; docs/protocol.md#unknown-next-missing-on-a-full-page).
        answer_text_ping: a ``{"message": "ping"}`` text frame gets a ``pong`` frame;
            ``False``: it goes unanswered (only heartbeats show the stream is alive;
            docs/protocol.md#unknown-text-ping).
        post_503_after_processing: every message ``POST`` is stored and echoed, then
            answered 503 (a gateway failing after the service acted;
            docs/protocol.md#unknown-503-on-a-post).
        reads_after_end: once the guest is ``DISCONNECTED``, reads (messages, members,
            media requests) are ``"refused"`` (400 ``chat.error.conversation.state``) or
            ``"served"`` (docs/protocol.md#unknown-after-the-end).
        handshake_after_end: the status a stream handshake gets once the chat has ended:
            400 (``chat.error.conversation.state``), 401 or 404.
    """

    next_links: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    answer_text_ping: bool = attrs.field(default=True, validator=attrs.validators.instance_of(bool))
    post_503_after_processing: bool = attrs.field(
        default=False, validator=attrs.validators.instance_of(bool)
    )
    reads_after_end: ReadsAfterEnd = attrs.field(
        default="refused", validator=attrs.validators.in_(("refused", "served"))
    )
    handshake_after_end: HandshakeAfterEnd = attrs.field(
        default=400, validator=attrs.validators.in_((400, 401, 404))
    )

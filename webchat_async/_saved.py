"""``SavedSession``: what :meth:`GuestSession.resume` needs to reattach elsewhere."""

from __future__ import annotations

import json

import attrs

from ._convert import parse_json
from ._redact import mask

__all__ = ["SavedSession"]


@attrs.frozen(kw_only=True)
class SavedSession:
    """What :meth:`GuestSession.resume` needs to reattach elsewhere (another task, process).

    ``jwt`` and ``event_stream_uri`` are secrets: they are masked in the ``repr``, but
    :meth:`to_json` writes them in clear (store the text as you would a password).
    ``last_message_id`` is the last message the consumer received; the resumed session
    yields every message after it.
    """

    conversation_id: str
    member_id: str
    jwt: str = attrs.field(repr=mask)
    event_stream_uri: str = attrs.field(repr=mask)
    last_message_id: str | None = None
    base_url: str

    def to_json(self) -> str:
        """The saved session as a JSON object (contains the secrets)."""
        return json.dumps(
            {
                "conversationId": self.conversation_id,
                "memberId": self.member_id,
                "jwt": self.jwt,
                "eventStreamUri": self.event_stream_uri,
                "lastMessageId": self.last_message_id,
                "baseUrl": self.base_url,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SavedSession:
        """Read what :meth:`to_json` wrote; ``ValueError`` if it does not fit."""
        try:
            data = parse_json(text)
        except ValueError:
            raise ValueError("a saved session is a JSON object") from None
        if not isinstance(data, dict):
            raise ValueError("a saved session is a JSON object")
        required = ("conversationId", "memberId", "jwt", "eventStreamUri", "baseUrl")
        for key in required:
            if not isinstance(data.get(key), str) or not data[key]:
                raise ValueError(f"a saved session needs a non-empty string {key!r}")
        last = data.get("lastMessageId")
        if last is not None and not isinstance(last, str):
            raise ValueError("lastMessageId must be a string or null")
        return cls(
            conversation_id=data["conversationId"],
            member_id=data["memberId"],
            jwt=data["jwt"],
            event_stream_uri=data["eventStreamUri"],
            last_message_id=last,
            base_url=data["baseUrl"],
        )

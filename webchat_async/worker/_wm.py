"""Pure: what the store keeps for a Web Messaging chat, and which of its messages are new.

A Web Messaging chat is stored as a :class:`MessagingRecord` (the session token, a
secret, with where the session lives) and a :class:`MessagingPosition`: the service
orders nothing (spec §2) and the guest never learns a conversation id (spec §4), so the
position is not one message id but the newest ``channel.time`` handled and the ids
handled within ``overlap`` seconds before it. A message is new when its id is not among
those and it is not older than that window: a message that reaches a worker late (the
service pushes out of order) is still handled once, as long as it is stamped within the
window of the newest one handled.

The ledger of a send names the ``customMessageId`` the message carries (spec §7.2), and
a digest of its text for a service whose history drops ``metadata``
(:func:`made_messaging_sends`).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import attrs

from .._convert import format_datetime, parse_datetime
from .._redact import mask
from ..messaging._models import StructuredMessage

__all__ = [
    "LEDGER_PREFIX",
    "MAX_RECENT",
    "MessagingPosition",
    "MessagingRecord",
    "ledger_body",
    "made_messaging_sends",
]

#: Ids kept in a position at most (each a few dozen bytes of every commit).
MAX_RECENT = 128
#: Longest session token the service accepts (spec §2).
_MAX_TOKEN = 2048
#: What a Web Messaging ledger entry starts with: ``wm:<client id> <digest>``.
LEDGER_PREFIX = "wm:"


def _text_field(data: dict[str, Any], key: str, limit: int = 2048) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not 0 < len(value) <= limit:
        raise ValueError(f"a Web Messaging chat record needs a string {key!r}")
    return value


@attrs.frozen(kw_only=True)
class MessagingRecord:
    """What reattaches a Web Messaging chat on any worker: the session token (a secret:
    masked in the repr; the store encrypts the whole record under its keys), the
    deployment, the ``Origin`` and where the service is (``region`` or ``base_url``, as
    given to ``MessagingSession.start``)."""

    token: str = attrs.field(repr=mask)
    deployment_id: str
    origin: str
    region: str | None = None
    base_url: str | None = None

    def to_json(self) -> str:
        """The stored form."""
        return json.dumps(
            {
                "protocol": "messaging",
                "token": self.token,
                "deploymentId": self.deployment_id,
                "origin": self.origin,
                "region": self.region,
                "baseUrl": self.base_url,
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_json(cls, text: str) -> MessagingRecord:
        """Read :meth:`to_json`'s output; ``ValueError`` (naming no value) if it does not fit."""
        try:
            data = json.loads(text)
        except ValueError:
            raise ValueError("a Web Messaging chat record is a JSON object") from None
        if not isinstance(data, dict) or data.get("protocol") != "messaging":
            raise ValueError("not a Web Messaging chat record")
        region = _text_field(data, "region") if data.get("region") is not None else None
        base_url = _text_field(data, "baseUrl") if data.get("baseUrl") is not None else None
        if region is None and base_url is None:
            raise ValueError("a Web Messaging chat record needs a region or a baseUrl")
        return cls(
            token=_text_field(data, "token", _MAX_TOKEN),
            deployment_id=_text_field(data, "deploymentId"),
            origin=_text_field(data, "origin"),
            region=region,
            base_url=base_url,
        )


_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)


@attrs.define
class MessagingPosition:
    """The messages of a Web Messaging chat whose handling was committed (module docs).

    ``floor``: a message stamped before it counts as handled; ``recent``: the ids handled
    at or after it (with their times), at most :data:`MAX_RECENT`.
    """

    overlap: float
    newest: datetime.datetime | None = None
    floor: datetime.datetime | None = None
    recent: dict[str, datetime.datetime | None] = attrs.field(factory=dict)

    def is_new(self, message: StructuredMessage) -> bool:
        """Whether ``message`` was not handled yet (by this position)."""
        if message.id and message.id in self.recent:
            return False
        floor, time = self.floor, message.time
        return floor is None or time is None or time >= floor

    def advance(self, message: StructuredMessage) -> None:
        """``message`` was handled."""
        if not message.id:
            return
        time = message.time
        self.recent[message.id] = time
        if time is not None and (self.newest is None or time > self.newest):
            self.newest = time
        if self.newest is not None:
            lowest = self.newest - datetime.timedelta(seconds=self.overlap)
            if self.floor is None or lowest > self.floor:
                self.floor = lowest
        floor = self.floor
        if floor is not None:
            for key in [k for k, t in self.recent.items() if t is not None and t < floor]:
                del self.recent[key]
        while len(self.recent) > MAX_RECENT:
            # The oldest goes; everything stamped at or before it counts as handled.
            key = min(self.recent, key=lambda k: self.recent[k] or _EPOCH)
            dropped = self.recent.pop(key)
            if dropped is not None:
                above = dropped + datetime.timedelta(microseconds=1)
                if self.floor is None or above > self.floor:
                    self.floor = above

    def to_text(self) -> str:
        """The stored form (JSON)."""
        return json.dumps(
            {
                "v": 1,
                "o": self.overlap,
                "n": format_datetime(self.newest) if self.newest else None,
                "f": format_datetime(self.floor) if self.floor else None,
                "ids": {k: format_datetime(t) if t else None for k, t in self.recent.items()},
            },
            separators=(",", ":"),
        )

    @classmethod
    def from_text(cls, text: str | None, overlap: float) -> MessagingPosition:
        """Read :meth:`to_text`'s output (``None`` or empty: nothing handled yet);
        ``ValueError`` if it does not fit."""
        if not text:
            return cls(overlap)
        try:
            data = json.loads(text)
            if not isinstance(data, dict) or data.get("v") != 1:
                raise ValueError("not a Web Messaging position")
            ids = data.get("ids") or {}
            if not isinstance(ids, dict) or len(ids) > MAX_RECENT:
                raise ValueError("bad ids")
            newest = parse_datetime(data["n"]) if data.get("n") else None
            floor = parse_datetime(data["f"]) if data.get("f") else None
            recent = {str(k): parse_datetime(t) if t else None for k, t in ids.items()}
            stored = data.get("o", overlap)
            if isinstance(stored, bool) or not isinstance(stored, (int, float)):
                raise ValueError("bad overlap")
        except (KeyError, TypeError, ValueError):
            raise ValueError("the stored position of a Web Messaging chat cannot be read") from None
        return cls(float(stored), newest, floor, recent)


def ledger_body(client_id: str, digest: str) -> str:
    """A ledger entry of a Web Messaging send: the client id it carries and the digest of
    its text (never the text)."""
    return f"{LEDGER_PREFIX}{client_id} {digest}"


def _parse(body: str) -> tuple[str | None, str]:
    if body.startswith(LEDGER_PREFIX):
        client_id, _, digest = body[len(LEDGER_PREFIX) :].partition(" ")
        return client_id, digest
    return None, body


def made_messaging_sends(
    bodies: Sequence[str],
    history: Iterable[StructuredMessage],
    after: Callable[[StructuredMessage], bool],
    outstanding: Iterable[str],
    digest: Callable[[str], str],
) -> list[StructuredMessage | None]:
    """For each recorded send, the guest message in ``history`` that carried it, or
    ``None`` if it was not stored.

    When the service keeps ``metadata`` (some guest message of ``history`` has a
    ``customMessageId``), a send is found by its client id, and only so. Otherwise (spec
    §7.2's fallback) by the digest of its text, among the guest's messages that are
    ``after`` the committed position and are not committed sends (``outstanding``), each
    message taken once, in the order recorded.
    """
    inbound = [m for m in history if m.inbound and m.id]
    by_id = {m.metadata["customMessageId"]: m for m in inbound if "customMessageId" in m.metadata}
    parsed = [_parse(b) for b in bodies]
    if by_id:
        return [by_id.get(cid) if cid is not None else None for cid, _ in parsed]
    committed = set(outstanding)
    candidates = [m for m in inbound if m.id not in committed and after(m) and m.text]
    candidates.sort(key=lambda m: (m.time is None, m.time or _EPOCH))
    digests = [digest(m.text or "") for m in candidates]
    used: set[int] = set()
    made: list[StructuredMessage | None] = []
    for _, wanted in parsed:
        found = None
        for index, candidate in enumerate(candidates):
            if index not in used and digests[index] == wanted:
                used.add(index)
                found = candidate
                break
        made.append(found)
    return made

"""Events as JSON: :meth:`Event.to_dict <webchat_async.Event.to_dict>` (docs/events.md#json).

Every event becomes a dict of plain JSON types, ready for ``json.dumps`` (an SSE stream, a
log, a queue):

* ``"type"``: the event's class name (``"MessageReceived"``, ``"MemberJoined"``, ...);
* the event's own fields, camelCase, ``None`` as ``null`` (every key always present);
* a Web Chat v2 model (``message``, ``member``, ``typing``, ``request``) as the service
  writes it: its wire names, ISO 8601 timestamps (``2024-05-01T12:00:00.123Z``), fields
  without a value left out (the SDK's converter, as in a request body);
* a Web Messaging model (:class:`~webchat_async.messaging.StructuredMessage` and its parts):
  its fields in camelCase, tuples as lists, timestamps in ISO 8601, ``None`` left out;
* ``MessageReceived`` adds ``messageId`` and ``text`` (its own ``to_dict``), the two
  properties every consumer reads, so a browser needs no knowledge of either protocol's
  message model.

Pure and small: one function per kind of value, no converter state of its own.
"""

from __future__ import annotations

import datetime
import enum
from collections.abc import Mapping
from typing import Any

import attrs

from ._convert import camel, format_datetime, unstructure

__all__ = ["event_to_dict", "plain"]

# The modules whose attrs classes are Web Chat v2 wire models (the converter knows them).
_WIRE_MODULE = "webchat_async.models"


def event_to_dict(event: attrs.AttrsInstance) -> dict[str, Any]:
    """An event's fields as plain JSON types (see the module's docstring)."""
    out: dict[str, Any] = {"type": type(event).__name__}
    for field in attrs.fields(type(event)):
        out[camel(field.name)] = plain(getattr(event, field.name))
    return out


def plain(value: Any) -> Any:
    """Any value an event holds as plain JSON types."""
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, enum.Enum):  # an open enum is a str: its value, not its repr
            return str.__str__(value) if isinstance(value, str) else value.value
        return value
    if isinstance(value, datetime.datetime):
        return format_datetime(value)
    if isinstance(value, enum.Enum):
        return plain(value.value)
    if attrs.has(type(value)):
        if type(value).__module__ == _WIRE_MODULE:
            return unstructure(value)
        return {
            camel(field.name): plain(item)
            for field in attrs.fields(type(value))
            if (item := getattr(value, field.name)) is not None
        }
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(item) for item in value]
    raise TypeError(f"an event holds a {type(value).__name__}, which has no JSON form")

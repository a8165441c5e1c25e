"""Web Messaging client actions, pure: one frozen class per action and its exact JSON.

Each class holds one request of docs/messaging-protocol.md#actions; :func:`encode` writes it
as the text frame ``{"action": ..., "token": ..., "tracingId": ..., ...}``. The session
token is the session's identity and a secret: it is never in a repr.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeAlias

import attrs

from .._convert import dump_json
from .._redact import mask

__all__ = [
    "Action",
    "CloseSession",
    "ConfigureSession",
    "DeleteAttachment",
    "Echo",
    "GetAttachment",
    "GetJwt",
    "OnAttachment",
    "OnMessage",
    "encode",
]


@attrs.frozen
class ConfigureSession:
    """``configureSession``: open (or reattach) the session named by ``token``.

    ``customer_id`` / ``customer_session_id`` fill ``journeyContext`` when given.
    """

    token: str = attrs.field(repr=mask)
    deployment_id: str
    tracing_id: str
    start_new: bool | None = None
    customer_id: str | None = None
    customer_session_id: str | None = None

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("configureSession", self.token, self.tracing_id)
        frame["deploymentId"] = self.deployment_id
        if self.start_new is not None:
            frame["startNew"] = self.start_new
        if self.customer_id is not None or self.customer_session_id is not None:
            journey: dict[str, Any] = {}
            if self.customer_id is not None:
                journey["customer"] = {"id": self.customer_id, "idType": "cookie"}
            if self.customer_session_id is not None:
                journey["customerSession"] = {"id": self.customer_session_id, "type": "web"}
            frame["journeyContext"] = journey
        return frame


@attrs.frozen
class OnMessage:
    """``onMessage``: a text (``kind`` ``"Text"``) or guest events (``kind`` ``"Event"``).

    ``events`` are ``(eventType, type)`` pairs: ``("Typing", "On")``, ``("Presence",
    "Join")``. ``attachment_ids`` become ``Attachment`` content. ``metadata`` carries the
    client's ``customMessageId`` (docs/messaging-protocol.md#sends-across-drops).
    """

    token: str = attrs.field(repr=mask)
    tracing_id: str
    kind: str = "Text"
    text: str | None = None
    attachment_ids: tuple[str, ...] = ()
    events: tuple[tuple[str, str], ...] = ()
    metadata: Mapping[str, str] = attrs.field(factory=dict)
    custom_attributes: Mapping[str, str] | None = None

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        message: dict[str, Any] = {"type": self.kind}
        if self.text is not None:
            message["text"] = self.text
        if self.attachment_ids:
            message["content"] = [
                {"contentType": "Attachment", "attachment": {"id": i}} for i in self.attachment_ids
            ]
        if self.events:
            message["events"] = [
                {"eventType": kind, kind[:1].lower() + kind[1:]: {"type": sub}}
                for kind, sub in self.events
            ]
        if self.metadata:
            message["metadata"] = dict(self.metadata)
        if self.custom_attributes:
            message["channel"] = {"metadata": {"customAttributes": dict(self.custom_attributes)}}
        frame = _head("onMessage", self.token, self.tracing_id)
        frame["message"] = message
        return frame


@attrs.frozen
class Echo:
    """``echo``: the keepalive; answered by a ``ping`` :class:`StructuredMessage`."""

    token: str = attrs.field(repr=mask)
    tracing_id: str

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("echo", self.token, self.tracing_id)
        frame["message"] = {"type": "Text", "text": "ping"}
        return frame


@attrs.frozen
class GetJwt:
    """``getJwt``: a JWT for the history endpoint (each reconnect invalidates the last)."""

    token: str = attrs.field(repr=mask)
    tracing_id: str

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        return _head("getJwt", self.token, self.tracing_id)


@attrs.frozen
class OnAttachment:
    """``onAttachment``: ask for a presigned upload URL for a client-chosen ``attachment_id``."""

    token: str = attrs.field(repr=mask)
    tracing_id: str
    attachment_id: str
    file_name: str
    file_type: str
    file_size: int | None = None
    file_md5: str | None = None

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("onAttachment", self.token, self.tracing_id)
        frame["attachmentId"] = self.attachment_id
        frame["fileName"] = self.file_name
        frame["fileType"] = self.file_type
        if self.file_size is not None:
            frame["fileSize"] = self.file_size
        if self.file_md5 is not None:
            frame["fileMd5"] = self.file_md5
        frame["errorsAsJson"] = True
        return frame


@attrs.frozen
class GetAttachment:
    """``getAttachment``: a fresh download URL for an attachment."""

    token: str = attrs.field(repr=mask)
    tracing_id: str
    attachment_id: str

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("getAttachment", self.token, self.tracing_id)
        frame["attachmentId"] = self.attachment_id
        return frame


@attrs.frozen
class DeleteAttachment:
    """``deleteAttachment``: remove an uploaded attachment."""

    token: str = attrs.field(repr=mask)
    tracing_id: str
    attachment_id: str

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("deleteAttachment", self.token, self.tracing_id)
        frame["attachmentId"] = self.attachment_id
        return frame


@attrs.frozen
class CloseSession:
    """``closeSession``: end the session on every socket that shares the token."""

    token: str = attrs.field(repr=mask)
    tracing_id: str

    def wire(self) -> dict[str, Any]:
        """The frame as a JSON object."""
        frame = _head("closeSession", self.token, self.tracing_id)
        frame["closeAllConnections"] = True
        return frame


Action: TypeAlias = (
    ConfigureSession
    | OnMessage
    | Echo
    | GetJwt
    | OnAttachment
    | GetAttachment
    | DeleteAttachment
    | CloseSession
)


def encode(action: Action) -> str:
    """The JSON text frame for ``action`` (compact; ``action``, ``token``, ``tracingId`` first)."""
    return dump_json(action.wire())


def _head(action: str, token: str, tracing_id: str) -> dict[str, Any]:
    return {"action": action, "token": token, "tracingId": tracing_id}

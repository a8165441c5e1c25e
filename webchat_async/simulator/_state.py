"""The simulator's in-memory data: organization, deployments, settings, conversations.

Pure: no I/O, no asyncio. The routes and the stream hub change it; tests read it through
``Simulator.state``. Models are the SDK's own frozen attrs classes, replaced with
:func:`attrs.evolve` when they change.
"""

from __future__ import annotations

import datetime
import random
import uuid
from collections.abc import Callable
from typing import NamedTuple

import attrs

from ..models import (
    BodyType,
    MediaRequestState,
    MemberRole,
    MemberState,
    WebChatConversation,
    WebChatDeployment,
    WebChatGuestMediaRequest,
    WebChatMemberInfo,
    WebChatMessage,
    WebChatSettings,
)

__all__ = [
    "API",
    "ConversationState",
    "Ids",
    "MessagePage",
    "RequestRecord",
    "SimulatorState",
    "utc_now",
]

API = "/api/v2/webchat"
_UTC = datetime.timezone.utc


def utc_now() -> datetime.datetime:
    """Now, in UTC, to the millisecond (the service's precision)."""
    now = datetime.datetime.now(_UTC)
    return now.replace(microsecond=now.microsecond // 1000 * 1000)


def new_id() -> str:
    """A fresh entity id (a UUID, like the service's)."""
    return str(uuid.uuid4())


class Ids:
    """The simulator's entity ids (organization, deployments, conversations, members,
    messages, media requests): random UUIDs, or with a ``seed`` the same sequence on every
    run, so that a test's or a tutorial's output repeats. Only ids: secrets (tokens, the
    OAuth client secret) stay random whatever the seed."""

    __slots__ = ("_rng",)

    def __init__(self, seed: int | None = None) -> None:
        self._rng = None if seed is None else random.Random(seed)

    def __call__(self) -> str:
        """The next id (a version-4 UUID)."""
        if self._rng is None:
            return str(uuid.uuid4())
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))


class RequestRecord(NamedTuple):
    """One REST request the simulator answered: ``(method, path, status)``."""

    method: str
    path: str
    status: int


class MessagePage(NamedTuple):
    """One page of messages and whether there are more on either side."""

    entities: list[WebChatMessage]
    has_before: bool
    has_after: bool


@attrs.define(eq=False)
class ConversationState:
    """One guest chat: its members, messages and media requests, in order.

    ``messages`` is the total, stable order of the conversation: cursors (``after`` /
    ``before``) and the stream follow it.
    """

    id: str
    guest_member_id: str
    deployment_id: str | None = None
    members: dict[str, WebChatMemberInfo] = attrs.field(factory=dict)
    messages: list[WebChatMessage] = attrs.field(factory=list)
    media_requests: dict[str, WebChatGuestMediaRequest] = attrs.field(factory=dict)
    agent_member_id: str | None = None
    #: The agent has joined.
    routed: bool = False
    #: The guest has left or was removed; calls answer ``chat.error.conversation.state``.
    ended: bool = False
    #: A socket has been attached at least once (routing started).
    attached: bool = False
    #: Sockets attached right now.
    socket_count: int = 0
    #: Sockets ever accepted (the first attach and every reattach).
    attachments: int = 0
    #: ``expire_guest_tokens`` was applied: the guest JWT no longer works.
    token_revoked: bool = False
    #: ``"webchat"`` (Web Chat v2) or ``"messaging"`` (Web Messaging: created by a
    #: ``configureSession``; its agent and admin actions go to ``_messaging.py``).
    protocol: str = "webchat"
    _index: dict[str, int] = attrs.field(factory=dict, repr=False)
    _clock: Callable[[], datetime.datetime] = attrs.field(default=utc_now, repr=False)
    _ids: Callable[[], str] = attrs.field(default=new_id, repr=False)

    @property
    def self_uri(self) -> str:
        """The conversation's URI relative to the API base."""
        return f"{API}/guest/conversations/{self.id}"

    def member(self, member_id: str) -> WebChatMemberInfo | None:
        """A member by id, or ``None``."""
        return self.members.get(member_id)

    def add_member(self, member: WebChatMemberInfo) -> WebChatMemberInfo:
        """Add a member (its ``id`` must be set); returns it."""
        if member.id is None:
            raise ValueError("a member added to a conversation needs an id")
        self.members[member.id] = member
        return member

    def set_member_state(self, member_id: str, state: MemberState) -> WebChatMemberInfo:
        """Change a member's state; leaving sets ``leave_date``. Returns the new member."""
        member = self.members[member_id]
        leave_date = self._clock() if state == MemberState.DISCONNECTED else member.leave_date
        new = attrs.evolve(member, state=state, leave_date=leave_date)
        self.members[member_id] = new
        return new

    def add_message(
        self, sender_id: str, body: str, body_type: BodyType = BodyType.STANDARD
    ) -> WebChatMessage:
        """Append a message from ``sender_id`` with a fresh id and timestamp."""
        message_id = self._ids()
        message = WebChatMessage(
            id=message_id,
            conversation=WebChatConversation(id=self.id, self_uri=self.self_uri),
            sender=WebChatMemberInfo(id=sender_id),
            body=body,
            body_type=body_type,
            timestamp=self._clock(),
            self_uri=f"{self.self_uri}/messages/{message_id}",
        )
        self._index[message_id] = len(self.messages)
        self.messages.append(message)
        return message

    def message(self, message_id: str) -> WebChatMessage | None:
        """A message by id, or ``None``."""
        index = self._index.get(message_id)
        return None if index is None else self.messages[index]

    def position(self, message_id: str) -> int | None:
        """The index of a message in ``messages``, or ``None``."""
        return self._index.get(message_id)

    def page_messages(
        self,
        *,
        after: str | None = None,
        before: str | None = None,
        descending: bool = False,
        max_results: int = 100,
    ) -> MessagePage:
        """The messages strictly between the cursors, at most ``max_results`` of them.

        Ascending pages start next to ``after`` (or at the oldest); descending pages start
        next to ``before`` (or at the newest). Unknown cursors raise ``KeyError``.
        """
        lo = 0 if after is None else self._index[after] + 1
        hi = len(self.messages) if before is None else self._index[before]
        hi = max(hi, lo)
        if descending:
            start = max(lo, hi - max_results)
            chunk = self.messages[start:hi]
            chunk.reverse()
            return MessagePage(chunk, has_before=start > 0, has_after=hi < len(self.messages))
        end = min(hi, lo + max_results)
        return MessagePage(
            self.messages[lo:end], has_before=lo > 0, has_after=end < len(self.messages)
        )

    def add_media_request(self, types: list[str]) -> WebChatGuestMediaRequest:
        """A new ``PENDING`` media request to the guest."""
        request_id = self._ids()
        request = WebChatGuestMediaRequest(
            id=request_id,
            name=f"{'/'.join(types)} request",
            types=list(types),
            state=MediaRequestState.PENDING,
            communication_id=self._ids(),
            security_key=self._ids().replace("-", "")[:12],
            self_uri=f"{self.self_uri}/mediarequests/{request_id}",
        )
        self.media_requests[request_id] = request
        return request


@attrs.define(eq=False)
class SimulatorState:
    """Everything the simulator knows. Read it in tests; change it only through the server."""

    #: Where every entity id comes from (:class:`Ids`; seeded by ``Simulator(seed=...)``).
    ids: Callable[[], str] = attrs.field(factory=Ids, repr=False, kw_only=True)
    organization_id: str = attrs.field(
        default=attrs.Factory(lambda self: self.ids(), takes_self=True)
    )
    deployments: dict[str, WebChatDeployment] = attrs.field(factory=dict)
    settings: WebChatSettings = attrs.field(
        factory=lambda: WebChatSettings(require_deployment=False)
    )
    conversations: dict[str, ConversationState] = attrs.field(factory=dict)
    #: ``(method, path, status)`` of every REST request, in order (paths without query).
    requests: list[RequestRecord] = attrs.field(factory=list)
    clock: Callable[[], datetime.datetime] = attrs.field(default=utc_now, repr=False)
    #: Called with each new conversation (the console's live list); empty without one.
    watchers: list[Callable[[ConversationState], None]] = attrs.field(factory=list, repr=False)

    def add_deployment(self, deployment: WebChatDeployment) -> WebChatDeployment:
        """Store a deployment under a fresh id and return it."""
        deployment_id = self.ids()
        stored = attrs.evolve(
            deployment, id=deployment_id, self_uri=f"{API}/deployments/{deployment_id}"
        )
        self.deployments[deployment_id] = stored
        return stored

    def replace_deployment(
        self, deployment_id: str, deployment: WebChatDeployment
    ) -> WebChatDeployment:
        """Replace a stored deployment, keeping its id."""
        stored = attrs.evolve(
            deployment, id=deployment_id, self_uri=f"{API}/deployments/{deployment_id}"
        )
        self.deployments[deployment_id] = stored
        return stored

    def new_conversation(
        self, *, deployment_id: str | None, guest: WebChatMemberInfo
    ) -> ConversationState:
        """Create a conversation whose first member is the guest (given without an id)."""
        conversation = ConversationState(
            id=self.ids(),
            guest_member_id=self.ids(),
            deployment_id=deployment_id,
            clock=self.clock,
            ids=self.ids,
        )
        conversation.add_member(
            attrs.evolve(
                guest,
                id=conversation.guest_member_id,
                role=MemberRole.CUSTOMER,
                state=MemberState.CONNECTED,
                join_date=self.clock(),
            )
        )
        self.conversations[conversation.id] = conversation
        for watcher in self.watchers:
            watcher(conversation)
        return conversation

    def count_requests(self, method: str, path: str, status: int | None = None) -> int:
        """How many logged requests match ``method`` and ``path`` (and ``status``)."""
        return sum(
            1
            for r in self.requests
            if r.method == method and r.path == path and (status is None or r.status == status)
        )

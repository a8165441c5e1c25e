"""Typed models of the Web Chat v2 API, one frozen attrs class per model of the spec.

Every field is optional and defaults to ``None``: the service omits fields freely, and
request bodies leave out what is ``None``. Attribute names are snake_case; the wire names
are camelCase (see :mod:`webchat_async._convert`). Use :func:`attrs.evolve` to derive a
changed copy:

```pycon
>>> from webchat_async.models import GuestMemberInfo
>>> import attrs
>>> ann = GuestMemberInfo(display_name="Ann")
>>> attrs.evolve(ann, email="ann@example.com").email
'ann@example.com'
```
"""

from __future__ import annotations

import datetime
import enum
import operator
import threading
from collections.abc import Callable
from typing import Any, cast

import attrs

from ._redact import mask

__all__ = [
    "BodyType",
    "CreateWebChatConversationRequest",
    "CreateWebChatConversationResponse",
    "CreateWebChatMessageRequest",
    "Detail",
    "DomainEntityRef",
    "ErrorBody",
    "GuestMemberInfo",
    "JourneyAction",
    "JourneyActionMap",
    "JourneyContext",
    "JourneyCustomer",
    "JourneyCustomerSession",
    "Limit",
    "MediaRequestState",
    "MemberRole",
    "MemberState",
    "RoutingTargetType",
    "WebChatConfig",
    "WebChatConversation",
    "WebChatDeployment",
    "WebChatDeploymentEntityListing",
    "WebChatGuestMediaRequest",
    "WebChatGuestMediaRequestEntityList",
    "WebChatMemberInfo",
    "WebChatMemberInfoEntityList",
    "WebChatMessage",
    "WebChatMessageEntityList",
    "WebChatRoutingTarget",
    "WebChatSettings",
    "WebChatSkin",
    "WebChatTyping",
]


class _OpenEnum(str, enum.Enum):
    """A ``str`` enum that also accepts values it does not know.

    A new value from the server must never crash an old client, so an unknown value
    becomes a pseudo-member of the enum (``is_known`` is false) that still compares
    equal to its string and serializes back unchanged.
    """

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        # Pseudo-members are cached so that the same unknown value is the same object.
        cache: dict[str, Any] = cls.__dict__.get("_unknown_cache_") or {}
        if not cache:
            type.__setattr__(cls, "_unknown_cache_", cache)
        member = cache.get(value)
        if member is None:
            member = str.__new__(cls, value)
            member._name_ = value
            member._value_ = value
            # Bounded, so a server sending ever-new values cannot grow it without end.
            if len(cache) < 64:
                cache[value] = member
        return member

    @property
    def is_known(self) -> bool:
        """Whether this value is one this version of the SDK knows."""
        return self._value_ in type(self)._value2member_map_

    def __str__(self) -> str:
        return str(self.value)


# Secrets (the guest JWT, the stream URI that embeds it) never reach a repr.
_mask = mask

# Per model class: its fields' values as a tuple, and the fields its repr shows.
_VALUES: dict[type, Callable[[Any], tuple[Any, ...]]] = {}
_REPRS: dict[type, tuple[tuple[str, Callable[[Any], str]], ...]] = {}
_repr_context = threading.local()


def _values_of(cls: type) -> Callable[[Any], tuple[Any, ...]]:
    get = _VALUES.get(cls)
    if get is None:
        names = [a.name for a in attrs.fields(cls)]
        if len(names) == 1:
            one = operator.attrgetter(names[0])
            get = _VALUES[cls] = lambda obj: (one(obj),)
        else:
            get = _VALUES[cls] = operator.attrgetter(*names)
    return get


class _Model:
    """Equality, hash and repr shared by every model, as attrs would generate them.

    attrs compiles each generated method from source, class by class, at import: with
    ~30 models that was most of ``webchat_async.models``' import time (issue 11). These
    are written once: equal when of the same class with equal fields, in order; hashed
    on the class and the fields (the models are frozen); shown as
    ``Name(field=value, ...)`` with secrets masked.
    """

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        get = _values_of(self.__class__)
        return get(self) == get(other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __hash__(self) -> int:
        cls = self.__class__
        return hash((cls, *_values_of(cls)(self)))

    def __repr__(self) -> str:
        cls = self.__class__
        shown = _REPRS.get(cls)
        if shown is None:
            shown = _REPRS[cls] = tuple(
                (a.name, repr if a.repr is True else a.repr)
                for a in attrs.fields(cast("type[attrs.AttrsInstance]", cls))
                if a.repr is not False
            )
        # A model inside itself (only possible through a mutable field) shows as "...".
        seen: set[int] | None = getattr(_repr_context, "seen", None)
        if seen is None:
            seen = _repr_context.seen = set()
        if id(self) in seen:
            return "..."
        seen.add(id(self))
        try:
            fields = ", ".join(f"{name}={show(getattr(self, name))}" for name, show in shown)
        finally:
            seen.discard(id(self))
        return f"{cls.__qualname__.rsplit('>.', 1)[-1]}({fields})"


class MediaRequestState(_OpenEnum):
    """State of a media request (``WebChatGuestMediaRequest.state``)."""

    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"
    TIMEDOUT = "TIMEDOUT"
    CANCELLED = "CANCELLED"
    ERRORED = "ERRORED"


class MemberRole(_OpenEnum):
    """Role of a conversation member (``WebChatMemberInfo.role``)."""

    AGENT = "AGENT"
    CUSTOMER = "CUSTOMER"
    WORKFLOW = "WORKFLOW"
    ACD = "ACD"


class MemberState(_OpenEnum):
    """Connection state of a conversation member (``WebChatMemberInfo.state``)."""

    CONNECTED = "CONNECTED"
    DISCONNECTED = "DISCONNECTED"
    ALERTING = "ALERTING"


class BodyType(_OpenEnum):
    """Purpose of a message (``WebChatMessage.body_type``): text, notice, join, leave, media."""

    STANDARD = "standard"
    NOTICE = "notice"
    MEMBER_JOIN = "member-join"
    MEMBER_LEAVE = "member-leave"
    MEDIA_REQUEST = "media-request"


class WebChatSkin(_OpenEnum):
    """CSS skin of the web chat widget (``WebChatConfig.web_chat_skin``)."""

    BASIC = "basic"
    MODERN_CARET_SKIN = "modern-caret-skin"


class RoutingTargetType(_OpenEnum):
    """Kind of routing target (``WebChatRoutingTarget.target_type``)."""

    QUEUE = "QUEUE"


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatDeployment(_Model):
    """A web chat deployment: the settings under which guest chats are created."""

    id: str | None = None
    name: str | None = None
    description: str | None = None
    authentication_required: bool | None = None
    authentication_url: str | None = None
    disabled: bool | None = None
    web_chat_config: WebChatConfig | None = None
    allowed_domains: list[str] | None = None
    flow: DomainEntityRef | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatDeploymentEntityListing(_Model):
    """The list of deployments returned by ``get_webchat_deployments``."""

    total: int | None = None
    entities: list[WebChatDeployment] | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatSettings(_Model):
    """Organization-wide web chat settings."""

    require_deployment: bool | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatGuestMediaRequest(_Model):
    """A request from the agent for media (for example co-browse or screen share)."""

    id: str | None = None
    name: str | None = None
    types: list[str] | None = None
    state: MediaRequestState | None = None
    communication_id: str | None = None
    security_key: str | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatGuestMediaRequestEntityList(_Model):
    """The media requests of a conversation."""

    entities: list[WebChatGuestMediaRequest] | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatMemberInfo(_Model):
    """A member of a chat conversation: the guest, an agent, ACD or a workflow."""

    id: str | None = None
    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    avatar_image_url: str | None = None
    role: MemberRole | None = None
    join_date: datetime.datetime | None = None
    leave_date: datetime.datetime | None = None
    authenticated_guest: bool | None = None
    custom_fields: dict[str, str] | None = None
    state: MemberState | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatMemberInfoEntityList(_Model):
    """One page of conversation members (page-number paging)."""

    entities: list[WebChatMemberInfo] | None = None
    page_size: int | None = None
    page_number: int | None = None
    total: int | None = None
    first_uri: str | None = None
    next_uri: str | None = None
    previous_uri: str | None = None
    last_uri: str | None = None
    self_uri: str | None = None
    page_count: int | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatMessage(_Model):
    """A message in a chat conversation, as the messages endpoint and the event stream carry it."""

    id: str | None = None
    name: str | None = None
    conversation: WebChatConversation | None = None
    sender: WebChatMemberInfo | None = None
    body: str | None = None
    body_type: BodyType | None = None
    timestamp: datetime.datetime | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatMessageEntityList(_Model):
    """One page of messages (cursor paging through ``next`` / ``previous_page``)."""

    page_size: int | None = None
    entities: list[WebChatMessage] | None = None
    previous_page: str | None = None
    next: str | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatTyping(_Model):
    """A typing indicator, as returned by the typing endpoint."""

    id: str | None = None
    conversation: WebChatConversation | None = None
    sender: WebChatMemberInfo | None = None
    timestamp: datetime.datetime | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class CreateWebChatMessageRequest(_Model):
    """Body of a message sent by the guest (``body`` is at most 4,000 characters)."""

    body: str | None = None
    body_type: BodyType | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class CreateWebChatConversationRequest(_Model):
    """Body of the create-guest-conversation call."""

    organization_id: str | None = None
    deployment_id: str | None = None
    routing_target: WebChatRoutingTarget | None = None
    member_info: GuestMemberInfo | None = None
    member_auth_token: str | None = attrs.field(default=None, repr=_mask)
    journey_context: JourneyContext | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class CreateWebChatConversationResponse(_Model):
    """The created conversation: its id, the guest JWT, the event stream URI and the guest member.

    The ``jwt`` and ``event_stream_uri`` are secrets: they are masked in ``repr``."""

    id: str | None = None
    jwt: str | None = attrs.field(default=None, repr=_mask)
    event_stream_uri: str | None = attrs.field(default=None, repr=_mask)
    member: WebChatMemberInfo | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class ErrorBody(_Model):
    """The JSON body of an error response."""

    message: str | None = None
    code: str | None = None
    status: int | None = None
    entity_id: str | None = None
    entity_name: str | None = None
    message_with_params: str | None = None
    message_params: dict[str, str] | None = None
    context_id: str | None = None
    details: list[Detail] | None = None
    errors: list[ErrorBody] | None = None
    limit: Limit | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatConfig(_Model):
    """Widget configuration of a deployment."""

    web_chat_skin: WebChatSkin | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class DomainEntityRef(_Model):
    """A reference to another entity by id (and optionally name)."""

    id: str | None = None
    name: str | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatConversation(_Model):
    """A reference to a chat conversation."""

    id: str | None = None
    name: str | None = None
    member: WebChatMemberInfo | None = None
    self_uri: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class WebChatRoutingTarget(_Model):
    """Where to route a new chat; ``target_address`` is the queue *name*."""

    target_type: RoutingTargetType | None = None
    target_address: str | None = None
    skills: list[str] | None = None
    language: str | None = None
    priority: int | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class GuestMemberInfo(_Model):
    """Who the guest is, as given when the conversation is created."""

    display_name: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone_number: str | None = None
    avatar_image_url: str | None = None
    custom_fields: dict[str, str] | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class JourneyContext(_Model):
    """Journey data linked to the new conversation."""

    customer: JourneyCustomer | None = None
    customer_session: JourneyCustomerSession | None = None
    triggering_action: JourneyAction | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class Detail(_Model):
    """One detail of an error, usually naming the field at fault."""

    error_code: str | None = None
    field_name: str | None = None
    entity_id: str | None = None
    entity_name: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class Limit(_Model):
    """The rate limit that was hit, on 429 errors."""

    key: str | None = None
    namespace: str | None = None
    value: int | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class JourneyCustomer(_Model):
    """A customer of the Journey system."""

    id: str | None = None
    id_type: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class JourneyCustomerSession(_Model):
    """A customer session of the Journey system."""

    id: str | None = None
    type: str | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class JourneyAction(_Model):
    """A Journey action that triggered the conversation."""

    id: str | None = None
    action_map: JourneyActionMap | None = None


@attrs.frozen(kw_only=True, eq=False, repr=False)
class JourneyActionMap(_Model):
    """The Journey action map that triggered an action."""

    id: str | None = None
    version: int | None = None


MODELS: tuple[type, ...] = (
    WebChatDeployment,
    WebChatDeploymentEntityListing,
    WebChatSettings,
    WebChatGuestMediaRequest,
    WebChatGuestMediaRequestEntityList,
    WebChatMemberInfo,
    WebChatMemberInfoEntityList,
    WebChatMessage,
    WebChatMessageEntityList,
    WebChatTyping,
    CreateWebChatMessageRequest,
    CreateWebChatConversationRequest,
    CreateWebChatConversationResponse,
    ErrorBody,
    WebChatConfig,
    DomainEntityRef,
    WebChatConversation,
    WebChatRoutingTarget,
    GuestMemberInfo,
    JourneyContext,
    Detail,
    Limit,
    JourneyCustomer,
    JourneyCustomerSession,
    JourneyAction,
    JourneyActionMap,
)

ENUMS: tuple[type[_OpenEnum], ...] = (
    MediaRequestState,
    MemberRole,
    MemberState,
    BodyType,
    WebChatSkin,
    RoutingTargetType,
)

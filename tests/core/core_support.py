"""Shared test data for tests/core: realistic camelCase payloads and a recording sleep.

Every model gets a *full* example (every field of the spec set) so that round-trip tests
prove that no field is lost.
"""

from __future__ import annotations

import copy
from typing import Any

from webchat_async import models
from webchat_async._http import Retry
from webchat_async.api import WebChatApi

BASE = "https://api.mypurecloud.com"
LOGIN = "https://login.mypurecloud.com"

# Secrets that must never show up in a log record, a repr or an exception text.
JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    ".eyJzdWIiOiJndWVzdC0xIiwiY29udmVyc2F0aW9uIjoiYy0xIn0"
    ".c2lnbmF0dXJlLW9mLXRoZS1ndWVzdA"
)
ACCESS_TOKEN = "oauth-at-3f9c1d7e5b2a4c6e8f0a1b2c3d4e5f60"
CLIENT_ID = "client-7e1"
CLIENT_SECRET = "cs-super-secret-4b8d2f6a"
STREAM_URI = f"wss://streaming.mypurecloud.com/chat/jwt/{JWT}"
SECRETS = (JWT, ACCESS_TOKEN, CLIENT_SECRET, STREAM_URI)

CONVERSATIONS = "/api/v2/webchat/guest/conversations"


class SleepRecorder:
    """An injected ``sleep`` that records the delays it is asked for and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


def zero_retry(recorder: SleepRecorder) -> Retry:
    """No backoff, no jitter; delays are recorded (a Retry-After still shows up)."""
    return Retry(backoff_factor=0, jitter=0, sleep=recorder)


def make_api(recorder: SleepRecorder | None = None, **kwargs: Any) -> WebChatApi:
    kwargs.setdefault("retry", zero_retry(recorder or SleepRecorder()))
    return WebChatApi(**kwargs)


# -- full examples, one per model, in the service's camelCase ---------------------------

MEMBER: dict[str, Any] = {
    "id": "m-guest-1",
    "displayName": "Ann Lee",
    "firstName": "Ann",
    "lastName": "Lee",
    "email": "ann@example.com",
    "phoneNumber": "+1 555 0100",
    "avatarImageUrl": "https://example.com/ann.png",
    "role": "CUSTOMER",
    "joinDate": "2024-05-01T12:00:00.123Z",
    "leaveDate": "2024-05-01T12:30:00.000Z",
    "authenticatedGuest": False,
    "customFields": {"plan": "gold", "ticket": "T-42"},
    "state": "CONNECTED",
}
CONVERSATION: dict[str, Any] = {
    "id": "c-1",
    "name": "Chat with Ann",
    "member": {"id": "m-guest-1", "state": "CONNECTED"},
    "selfUri": "/api/v2/conversations/chats/c-1",
}
MESSAGE: dict[str, Any] = {
    "id": "msg-1",
    "name": "message",
    "conversation": {"id": "c-1", "selfUri": "/api/v2/conversations/chats/c-1"},
    "sender": {"id": "m-agent-1", "role": "AGENT", "displayName": "Bob"},
    "body": "Hello, how can I help?",
    "bodyType": "standard",
    "timestamp": "2024-05-01T12:00:05.250Z",
    "selfUri": f"{CONVERSATIONS}/c-1/messages/msg-1",
}
MESSAGE_LIST: dict[str, Any] = {
    "pageSize": 25,
    "entities": [MESSAGE],
    "previousPage": f"{CONVERSATIONS}/c-1/messages?before=msg-1&maxResults=25",
    "next": f"{CONVERSATIONS}/c-1/messages?after=msg-1&maxResults=25",
    "selfUri": f"{CONVERSATIONS}/c-1/messages?maxResults=25",
}
TYPING: dict[str, Any] = {
    "id": "typing-1",
    "conversation": {"id": "c-1"},
    "sender": {"id": "m-guest-1"},
    "timestamp": "2024-05-01T12:00:06.000Z",
}
MEMBER_LIST: dict[str, Any] = {
    "entities": [MEMBER],
    "pageSize": 25,
    "pageNumber": 1,
    "total": 3,
    "firstUri": f"{CONVERSATIONS}/c-1/members?pageSize=25&pageNumber=1",
    "nextUri": f"{CONVERSATIONS}/c-1/members?pageSize=25&pageNumber=2",
    "previousUri": f"{CONVERSATIONS}/c-1/members?pageSize=25&pageNumber=1",
    "lastUri": f"{CONVERSATIONS}/c-1/members?pageSize=25&pageNumber=2",
    "selfUri": f"{CONVERSATIONS}/c-1/members?pageSize=25&pageNumber=1",
    "pageCount": 2,
}
MEDIA_REQUEST: dict[str, Any] = {
    "id": "mr-1",
    "name": "co-browse",
    "types": ["COBROWSE"],
    "state": "PENDING",
    "communicationId": "comm-9",
    "securityKey": "1234",
    "selfUri": f"{CONVERSATIONS}/c-1/mediarequests/mr-1",
}
MEDIA_REQUEST_LIST: dict[str, Any] = {"entities": [MEDIA_REQUEST]}
WEBCHAT_CONFIG: dict[str, Any] = {"webChatSkin": "modern-caret-skin"}
ENTITY_REF: dict[str, Any] = {
    "id": "flow-1",
    "name": "Inbound chat",
    "selfUri": "/api/v2/flows/flow-1",
}
DEPLOYMENT: dict[str, Any] = {
    "id": "dep-1",
    "name": "Website",
    "description": "Chat on example.com",
    "authenticationRequired": True,
    "authenticationUrl": "https://auth.example.com/chat",
    "disabled": False,
    "webChatConfig": WEBCHAT_CONFIG,
    "allowedDomains": ["example.com", "www.example.com"],
    "flow": ENTITY_REF,
    "selfUri": "/api/v2/webchat/deployments/dep-1",
}
DEPLOYMENT_LIST: dict[str, Any] = {
    "total": 1,
    "entities": [DEPLOYMENT],
    "selfUri": "/api/v2/webchat/deployments",
}
SETTINGS: dict[str, Any] = {"requireDeployment": True}
CREATE_MESSAGE: dict[str, Any] = {"body": "Hi there", "bodyType": "standard"}
ROUTING_TARGET: dict[str, Any] = {
    "targetType": "QUEUE",
    "targetAddress": "Support",
    "skills": ["English", "Billing"],
    "language": "English",
    "priority": 5,
}
GUEST_MEMBER: dict[str, Any] = {
    "displayName": "Ann Lee",
    "firstName": "Ann",
    "lastName": "Lee",
    "email": "ann@example.com",
    "phoneNumber": "+1 555 0100",
    "avatarImageUrl": "https://example.com/ann.png",
    "customFields": {"plan": "gold"},
}
JOURNEY_CUSTOMER: dict[str, Any] = {"id": "cust-1", "idType": "cookie"}
JOURNEY_SESSION: dict[str, Any] = {"id": "sess-1", "type": "web"}
JOURNEY_ACTION_MAP: dict[str, Any] = {"id": "map-1", "version": 3}
JOURNEY_ACTION: dict[str, Any] = {"id": "act-1", "actionMap": JOURNEY_ACTION_MAP}
JOURNEY_CONTEXT: dict[str, Any] = {
    "customer": JOURNEY_CUSTOMER,
    "customerSession": JOURNEY_SESSION,
    "triggeringAction": JOURNEY_ACTION,
}
CREATE_CONVERSATION: dict[str, Any] = {
    "organizationId": "org-1",
    "deploymentId": "dep-1",
    "routingTarget": ROUTING_TARGET,
    "memberInfo": GUEST_MEMBER,
    "memberAuthToken": "signed-data-token",
    "journeyContext": JOURNEY_CONTEXT,
}
CREATED: dict[str, Any] = {
    "id": "c-1",
    "jwt": JWT,
    "eventStreamUri": STREAM_URI,
    "member": {"id": "m-guest-1"},
}
DETAIL: dict[str, Any] = {
    "errorCode": "invalid.value",
    "fieldName": "body",
    "entityId": "msg-1",
    "entityName": "message",
}
LIMIT: dict[str, Any] = {"key": "requests.per.minute", "namespace": "webchat", "value": 300}
ERROR_BODY: dict[str, Any] = {
    "message": "The body is too long",
    "code": "invalid.value",
    "status": 400,
    "entityId": "msg-1",
    "entityName": "message",
    "messageWithParams": "The {field} is too long",
    "messageParams": {"field": "body"},
    "contextId": "ctx-123",
    "details": [DETAIL],
    "errors": [{"message": "inner", "code": "nested.error", "status": 400}],
    "limit": LIMIT,
}

FULL_EXAMPLES: dict[type, dict[str, Any]] = {
    models.WebChatDeployment: DEPLOYMENT,
    models.WebChatDeploymentEntityListing: DEPLOYMENT_LIST,
    models.WebChatSettings: SETTINGS,
    models.WebChatGuestMediaRequest: MEDIA_REQUEST,
    models.WebChatGuestMediaRequestEntityList: MEDIA_REQUEST_LIST,
    models.WebChatMemberInfo: MEMBER,
    models.WebChatMemberInfoEntityList: MEMBER_LIST,
    models.WebChatMessage: MESSAGE,
    models.WebChatMessageEntityList: MESSAGE_LIST,
    models.WebChatTyping: TYPING,
    models.CreateWebChatMessageRequest: CREATE_MESSAGE,
    models.CreateWebChatConversationRequest: CREATE_CONVERSATION,
    models.CreateWebChatConversationResponse: CREATED,
    models.ErrorBody: ERROR_BODY,
    models.WebChatConfig: WEBCHAT_CONFIG,
    models.DomainEntityRef: ENTITY_REF,
    models.WebChatConversation: CONVERSATION,
    models.WebChatRoutingTarget: ROUTING_TARGET,
    models.GuestMemberInfo: GUEST_MEMBER,
    models.JourneyContext: JOURNEY_CONTEXT,
    models.Detail: DETAIL,
    models.Limit: LIMIT,
    models.JourneyCustomer: JOURNEY_CUSTOMER,
    models.JourneyCustomerSession: JOURNEY_SESSION,
    models.JourneyAction: JOURNEY_ACTION,
    models.JourneyActionMap: JOURNEY_ACTION_MAP,
}


def example(cls: type) -> dict[str, Any]:
    """A deep copy of the full example of ``cls`` (tests may mutate it)."""
    return copy.deepcopy(FULL_EXAMPLES[cls])

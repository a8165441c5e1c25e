"""Each of the 19 operations: method, path, query, headers, JSON body, and the parsed result."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import attrs
import httpx
import pytest
import respx
from core_support import (
    ACCESS_TOKEN,
    BASE,
    CONVERSATIONS,
    CREATE_CONVERSATION,
    CREATED,
    DEPLOYMENT,
    DEPLOYMENT_LIST,
    JWT,
    MEDIA_REQUEST,
    MEDIA_REQUEST_LIST,
    MEMBER,
    MEMBER_LIST,
    MESSAGE,
    MESSAGE_LIST,
    SETTINGS,
    TYPING,
    example,
    make_api,
)

from webchat_async import _convert, models
from webchat_async.api import WebChatApi

DEPLOYMENTS = "/api/v2/webchat/deployments"


@attrs.frozen
class Case:
    name: str
    call: Callable[[WebChatApi], Awaitable[Any]]
    method: str
    path: str
    auth: str  # "guest", "admin" or "none"
    params: dict[str, str] = attrs.field(factory=dict)
    request_json: Any = None
    response: Any = None  # JSON of a 200, or None for a 204
    expected: Any = None  # the model the response must parse into


def _model(cls: type, data: dict[str, Any]) -> Any:
    return _convert.structure(data, cls)


DEPLOYMENT_BODY = _model(
    models.WebChatDeployment, {k: v for k, v in DEPLOYMENT.items() if k not in ("id", "selfUri")}
)
CREATE_REQUEST = _model(models.CreateWebChatConversationRequest, CREATE_CONVERSATION)
MESSAGE_BODY = models.CreateWebChatMessageRequest(
    body="Hi there", body_type=models.BodyType.STANDARD
)
ACCEPT = models.WebChatGuestMediaRequest(state=models.MediaRequestState.ACCEPTED)

CASES = [
    Case(
        "delete_webchat_deployment",
        lambda api: api.delete_webchat_deployment("dep-1"),
        "DELETE",
        f"{DEPLOYMENTS}/dep-1",
        "admin",
    ),
    Case(
        "delete_webchat_guest_conversation_member",
        lambda api: api.delete_webchat_guest_conversation_member("c-1", "m-guest-1"),
        "DELETE",
        f"{CONVERSATIONS}/c-1/members/m-guest-1",
        "guest",
    ),
    Case(
        "delete_webchat_settings",
        lambda api: api.delete_webchat_settings(),
        "DELETE",
        "/api/v2/webchat/settings",
        "admin",
    ),
    Case(
        "get_webchat_deployment",
        lambda api: api.get_webchat_deployment("dep-1"),
        "GET",
        f"{DEPLOYMENTS}/dep-1",
        "admin",
        response=DEPLOYMENT,
        expected=_model(models.WebChatDeployment, DEPLOYMENT),
    ),
    Case(
        "get_webchat_deployments",
        lambda api: api.get_webchat_deployments(),
        "GET",
        DEPLOYMENTS,
        "admin",
        response=DEPLOYMENT_LIST,
        expected=_model(models.WebChatDeploymentEntityListing, DEPLOYMENT_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_mediarequest",
        lambda api: api.get_webchat_guest_conversation_mediarequest("c-1", "mr-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/mediarequests/mr-1",
        "guest",
        response=MEDIA_REQUEST,
        expected=_model(models.WebChatGuestMediaRequest, MEDIA_REQUEST),
    ),
    Case(
        "get_webchat_guest_conversation_mediarequests",
        lambda api: api.get_webchat_guest_conversation_mediarequests("c-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/mediarequests",
        "guest",
        response=MEDIA_REQUEST_LIST,
        expected=_model(models.WebChatGuestMediaRequestEntityList, MEDIA_REQUEST_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_member",
        lambda api: api.get_webchat_guest_conversation_member("c-1", "m-guest-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/members/m-guest-1",
        "guest",
        response=MEMBER,
        expected=_model(models.WebChatMemberInfo, MEMBER),
    ),
    Case(
        "get_webchat_guest_conversation_members",
        lambda api: api.get_webchat_guest_conversation_members(
            "c-1", page_size=10, page_number=2, exclude_disconnected_members=True
        ),
        "GET",
        f"{CONVERSATIONS}/c-1/members",
        "guest",
        params={"pageSize": "10", "pageNumber": "2", "excludeDisconnectedMembers": "true"},
        response=MEMBER_LIST,
        expected=_model(models.WebChatMemberInfoEntityList, MEMBER_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_members_defaults",
        lambda api: api.get_webchat_guest_conversation_members("c-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/members",
        "guest",
        response=MEMBER_LIST,
        expected=_model(models.WebChatMemberInfoEntityList, MEMBER_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_members_false_flag",
        lambda api: api.get_webchat_guest_conversation_members(
            "c-1", exclude_disconnected_members=False
        ),
        "GET",
        f"{CONVERSATIONS}/c-1/members",
        "guest",
        params={"excludeDisconnectedMembers": "false"},
        response=MEMBER_LIST,
        expected=_model(models.WebChatMemberInfoEntityList, MEMBER_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_message",
        lambda api: api.get_webchat_guest_conversation_message("c-1", "msg-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/messages/msg-1",
        "guest",
        response=MESSAGE,
        expected=_model(models.WebChatMessage, MESSAGE),
    ),
    Case(
        "get_webchat_guest_conversation_messages",
        lambda api: api.get_webchat_guest_conversation_messages(
            "c-1", after="msg-0", before="msg-9", sort_order="descending", max_results=100
        ),
        "GET",
        f"{CONVERSATIONS}/c-1/messages",
        "guest",
        params={
            "after": "msg-0",
            "before": "msg-9",
            "sortOrder": "descending",
            "maxResults": "100",
        },
        response=MESSAGE_LIST,
        expected=_model(models.WebChatMessageEntityList, MESSAGE_LIST),
    ),
    Case(
        "get_webchat_guest_conversation_messages_defaults",
        lambda api: api.get_webchat_guest_conversation_messages("c-1"),
        "GET",
        f"{CONVERSATIONS}/c-1/messages",
        "guest",
        response=MESSAGE_LIST,
        expected=_model(models.WebChatMessageEntityList, MESSAGE_LIST),
    ),
    Case(
        "get_webchat_settings",
        lambda api: api.get_webchat_settings(),
        "GET",
        "/api/v2/webchat/settings",
        "admin",
        response=SETTINGS,
        expected=models.WebChatSettings(require_deployment=True),
    ),
    Case(
        "patch_webchat_guest_conversation_mediarequest",
        lambda api: api.patch_webchat_guest_conversation_mediarequest("c-1", "mr-1", ACCEPT),
        "PATCH",
        f"{CONVERSATIONS}/c-1/mediarequests/mr-1",
        "guest",
        request_json={"state": "ACCEPTED"},
        response={**MEDIA_REQUEST, "state": "ACCEPTED"},
        expected=_model(models.WebChatGuestMediaRequest, {**MEDIA_REQUEST, "state": "ACCEPTED"}),
    ),
    Case(
        "post_webchat_deployments",
        lambda api: api.post_webchat_deployments(DEPLOYMENT_BODY),
        "POST",
        DEPLOYMENTS,
        "admin",
        request_json={k: v for k, v in DEPLOYMENT.items() if k not in ("id", "selfUri")},
        response=DEPLOYMENT,
        expected=_model(models.WebChatDeployment, DEPLOYMENT),
    ),
    Case(
        "post_webchat_guest_conversation_member_messages",
        lambda api: api.post_webchat_guest_conversation_member_messages(
            "c-1", "m-guest-1", MESSAGE_BODY
        ),
        "POST",
        f"{CONVERSATIONS}/c-1/members/m-guest-1/messages",
        "guest",
        request_json={"body": "Hi there", "bodyType": "standard"},
        response=MESSAGE,
        expected=_model(models.WebChatMessage, MESSAGE),
    ),
    Case(
        "post_webchat_guest_conversation_member_typing",
        lambda api: api.post_webchat_guest_conversation_member_typing("c-1", "m-guest-1"),
        "POST",
        f"{CONVERSATIONS}/c-1/members/m-guest-1/typing",
        "guest",
        response=TYPING,
        expected=_model(models.WebChatTyping, TYPING),
    ),
    Case(
        "post_webchat_guest_conversations",
        lambda api: api.post_webchat_guest_conversations(CREATE_REQUEST),
        "POST",
        CONVERSATIONS,
        "none",
        request_json=CREATE_CONVERSATION,
        response=CREATED,
        expected=_model(models.CreateWebChatConversationResponse, CREATED),
    ),
    Case(
        "put_webchat_deployment",
        lambda api: api.put_webchat_deployment("dep-1", DEPLOYMENT_BODY),
        "PUT",
        f"{DEPLOYMENTS}/dep-1",
        "admin",
        request_json={k: v for k, v in DEPLOYMENT.items() if k not in ("id", "selfUri")},
        response=DEPLOYMENT,
        expected=_model(models.WebChatDeployment, DEPLOYMENT),
    ),
    Case(
        "put_webchat_settings",
        lambda api: api.put_webchat_settings(models.WebChatSettings(require_deployment=False)),
        "PUT",
        "/api/v2/webchat/settings",
        "admin",
        request_json={"requireDeployment": False},
        response={"requireDeployment": False},
        expected=models.WebChatSettings(require_deployment=False),
    ),
]

OPERATIONS = {
    name
    for name in dir(WebChatApi)
    if name.split("_")[0] in ("get", "post", "put", "patch", "delete") and "webchat" in name
}


def test_all_19_operations_are_covered() -> None:
    assert len(OPERATIONS) == 19
    covered = {c.name for c in CASES if c.name in OPERATIONS}
    assert covered == OPERATIONS


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
async def test_operation(case: Case) -> None:
    async with make_api(guest_token=JWT, access_token=ACCESS_TOKEN) as api:
        with respx.mock(base_url=BASE, assert_all_called=True) as router:
            reply = (
                httpx.Response(204)
                if case.response is None
                else httpx.Response(200, json=case.response, headers={"inin-correlation-id": "r"})
            )
            route = router.request(case.method, case.path).mock(return_value=reply)
            result = await case.call(api)

    assert route.call_count == 1
    request = route.calls.last.request
    assert request.method == case.method
    assert request.url.path == case.path
    assert str(request.url).startswith(BASE + case.path)
    assert dict(request.url.params) == case.params
    assert request.headers["accept"] == "application/json"
    expected_auth = {"guest": f"Bearer {JWT}", "admin": f"Bearer {ACCESS_TOKEN}", "none": None}
    assert request.headers.get("authorization") == expected_auth[case.auth]
    if case.request_json is None:
        assert request.content == b""
        assert "content-type" not in request.headers
    else:
        assert request.headers["content-type"] == "application/json"
        assert json.loads(request.content) == case.request_json
    assert result == case.expected


@pytest.mark.parametrize("status", [200, 204])
async def test_empty_responses_give_none(status: int) -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE) as router:
            router.delete(f"{CONVERSATIONS}/c-1/members/m-1").respond(status)
            assert await api.delete_webchat_guest_conversation_member("c-1", "m-1") is None


@pytest.mark.parametrize(
    ("conversation_id", "encoded"),
    [
        ("../x", "..%2Fx"),
        ("a/b", "a%2Fb"),
        ("a?b=c", "a%3Fb%3Dc"),
        ("a#frag", "a%23frag"),
        ("sp ace", "sp%20ace"),
        ("%2F", "%252F"),
        ("ü", "%C3%BC"),
    ],
)
async def test_path_parameters_are_one_encoded_segment(conversation_id: str, encoded: str) -> None:
    async with make_api(guest_token=JWT) as api:
        with respx.mock(base_url=BASE, assert_all_called=False) as router:
            route = router.route().respond(200, json=MESSAGE)
            await api.get_webchat_guest_conversation_message(conversation_id, "m/1")
    raw_path = route.calls.last.request.url.raw_path.decode()
    assert raw_path == f"{CONVERSATIONS}/{encoded}/messages/m%2F1"


async def test_base_url_with_a_path_prefix_and_trailing_slash() -> None:
    async with make_api(base_url="http://127.0.0.1:8080/prefix/", guest_token=JWT) as api:
        assert api.base_url == "http://127.0.0.1:8080/prefix"
        with respx.mock() as router:
            route = router.get(
                f"http://127.0.0.1:8080/prefix{CONVERSATIONS}/c-1/messages/msg-1"
            ).respond(200, json=MESSAGE)
            await api.get_webchat_guest_conversation_message("c-1", "msg-1")
    assert route.call_count == 1


async def test_realistic_create_response_parses() -> None:
    body = example(models.CreateWebChatConversationResponse)
    body["member"] = {"id": "m-guest-1", "role": "CUSTOMER", "state": "ALERTING", "extra": 1}
    async with make_api() as api:
        with respx.mock(base_url=BASE) as router:
            router.post(CONVERSATIONS).respond(200, json=body)
            created = await api.post_webchat_guest_conversations(CREATE_REQUEST)
    assert created.jwt == JWT
    assert created.member is not None
    assert created.member.role is models.MemberRole.CUSTOMER
    assert created.member.state is models.MemberState.ALERTING

"""REST semantics: auth (401/403), 404, validation, ErrorBody shape, correlation ids."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sim_wire import API, GUEST, create, oauth_token

from webchat_async.simulator import Simulator


def assert_error(
    response: httpx.Response, status: int, code: str, field: str | None = None
) -> None:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    correlation = response.headers["inin-correlation-id"]
    assert body["status"] == status
    assert body["code"] == code
    assert body["message"]
    assert body["contextId"] == correlation
    if field is not None:
        assert body["details"] == [{"errorCode": code, "fieldName": field}]


async def test_guest_calls_need_a_valid_jwt(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    assert_error(await http.get(f"{guest.path}/members"), 401, "bad.credentials")
    forged = guest.jwt[:-2] + ("AA" if not guest.jwt.endswith("AA") else "BB")
    response = await http.get(
        f"{guest.path}/members", headers={"Authorization": f"Bearer {forged}"}
    )
    assert_error(response, 401, "bad.credentials")
    response = await http.get(
        f"{guest.path}/members", headers={"Authorization": f"Basic {guest.jwt}"}
    )
    assert_error(response, 401, "bad.credentials")
    # Lower-case scheme is accepted.
    response = await http.get(
        f"{guest.path}/members", headers={"Authorization": f"bearer {guest.jwt}"}
    )
    assert response.status_code == 200


async def test_jwt_of_another_conversation_is_403_and_unknown_ids_404(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    ann = await create(http, simulator, name="Ann")
    bob = await create(http, simulator, name="Bob")
    response = await http.get(f"{bob.path}/messages", headers=ann.auth)
    assert_error(response, 403, "not.authorized")
    response = await http.get(f"{GUEST}/nope/messages", headers=ann.auth)
    assert_error(response, 404, "not.found")
    assert_error(await ann.get("/messages/nope"), 404, "not.found")
    assert_error(await ann.get("/members/nope"), 404, "not.found")
    assert_error(await ann.get("/mediarequests/nope"), 404, "not.found")


async def test_guest_may_not_act_as_another_member(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    agent_id = simulator.state.conversations[guest.id].agent_member_id
    for method, suffix in (
        ("POST", f"/members/{agent_id}/messages"),
        ("POST", f"/members/{agent_id}/typing"),
        ("DELETE", f"/members/{agent_id}"),
    ):
        response = await http.request(
            method, guest.path + suffix, json={"body": "x"}, headers=guest.auth
        )
        assert_error(response, 403, "not.authorized")
    response = await http.post(
        f"{guest.path}/members/nobody/messages", json={"body": "x"}, headers=guest.auth
    )
    assert_error(response, 404, "not.found")
    await stream.close()


async def test_unknown_path_answers_an_error_body(http: httpx.AsyncClient) -> None:
    assert_error(await http.get(f"{API}/nothing-here"), 404, "not.found")
    assert_error(await http.patch(f"{API}/settings", json={}), 405, "method.not.allowed")


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (None, "body"),
        ({"deploymentId": "x"}, "organizationId"),
        ({"organizationId": "someone-else"}, "organizationId"),
        ({"organizationId": "ORG", "deploymentId": "unknown"}, "deploymentId"),
        ({"organizationId": "ORG"}, "memberInfo"),
        ({"organizationId": "ORG", "memberInfo": {"email": "a@b.c"}}, "memberInfo"),
        (
            {
                "organizationId": "ORG",
                "memberInfo": {"displayName": "Ann"},
                "routingTarget": {"targetType": "QUEUE"},
            },
            "routingTarget",
        ),
    ],
)
async def test_create_conversation_validation(
    simulator: Simulator, http: httpx.AsyncClient, body: dict[str, Any] | None, field: str
) -> None:
    if body is not None and body.get("organizationId") == "ORG":
        body["organizationId"] = simulator.organization_id
    response = await http.post(GUEST, json=body)
    assert_error(response, 400, "invalid.value", field)
    assert simulator.state.conversations == {}


async def test_require_deployment_setting(simulator: Simulator, http: httpx.AsyncClient) -> None:
    token = await oauth_token(http, simulator)
    auth = {"Authorization": f"Bearer {token}"}
    # Not required by default: no deployment id is fine.
    guest = {"displayName": "Ann"}
    response = await http.post(
        GUEST, json={"organizationId": simulator.organization_id, "memberInfo": guest}
    )
    assert response.status_code == 200
    response = await http.put(f"{API}/settings", json={"requireDeployment": True}, headers=auth)
    assert response.json() == {"requireDeployment": True}
    assert (await http.get(f"{API}/settings", headers=auth)).json() == {"requireDeployment": True}
    response = await http.post(GUEST, json={"organizationId": simulator.organization_id})
    assert_error(response, 400, "invalid.value", "deploymentId")
    assert (await http.delete(f"{API}/settings", headers=auth)).status_code == 204
    assert simulator.state.settings.require_deployment is False


async def test_oauth_token_endpoint(simulator: Simulator, http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(simulator.client_id, simulator.client_secret),
    )
    data = response.json()
    assert data["token_type"] == "bearer" and data["expires_in"] == 3600
    assert response.headers["inin-correlation-id"]
    wrong = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(simulator.client_id, "no")
    )
    assert wrong.status_code == 401 and wrong.json()["error"] == "invalid_client"
    assert wrong.json()["error_description"]  # RFC 6749 section 5.2
    grant = await http.post(
        "/oauth/token",
        data={"grant_type": "password"},
        auth=(simulator.client_id, simulator.client_secret),
    )
    assert grant.status_code == 400 and grant.json()["error"] == "unsupported_grant_type"
    assert simulator.state.count_requests("POST", "/oauth/token") == 3


async def test_admin_calls_need_an_oauth_token(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    guest = await create(http, simulator)
    assert_error(await http.get(f"{API}/deployments"), 401, "bad.credentials")
    response = await http.get(f"{API}/deployments", headers=guest.auth)
    assert_error(response, 401, "bad.credentials")
    token = await oauth_token(http, simulator)
    ok = await http.get(f"{API}/deployments", headers={"Authorization": f"bearer {token}"})
    assert ok.status_code == 200
    simulator.revoke_access_tokens()
    again = await http.get(f"{API}/deployments", headers={"Authorization": f"Bearer {token}"})
    assert_error(again, 401, "bad.credentials")


async def test_deployment_crud(simulator: Simulator, http: httpx.AsyncClient) -> None:
    auth = {"Authorization": f"Bearer {simulator.issue_access_token()}"}
    listing = (await http.get(f"{API}/deployments", headers=auth)).json()
    assert listing["total"] == 1 and listing["entities"][0]["id"] == simulator.deployment_id
    created = await http.post(
        f"{API}/deployments",
        json={"name": "Support", "webChatConfig": {"webChatSkin": "basic"}, "disabled": False},
        headers=auth,
    )
    assert created.status_code == 200
    deployment = created.json()
    path = f"{API}/deployments/{deployment['id']}"
    assert deployment["selfUri"] == path
    assert deployment["webChatConfig"] == {"webChatSkin": "basic"}
    assert (await http.get(path, headers=auth)).json() == deployment
    updated = await http.put(path, json={"name": "Sales", "disabled": True}, headers=auth)
    assert updated.json()["name"] == "Sales" and updated.json()["id"] == deployment["id"]
    # A disabled deployment cannot take chats.
    response = await http.post(
        GUEST,
        json={"organizationId": simulator.organization_id, "deploymentId": deployment["id"]},
    )
    assert_error(response, 400, "invalid.value", "deploymentId")
    assert_error(
        await http.post(f"{API}/deployments", json={}, headers=auth), 400, "invalid.value", "name"
    )
    assert_error(await http.post(f"{API}/deployments", headers=auth), 400, "invalid.value", "body")
    assert (await http.delete(path, headers=auth)).status_code == 204
    assert_error(await http.get(path, headers=auth), 404, "not.found")
    assert_error(await http.delete(path, headers=auth), 404, "not.found")
    assert_error(await http.put(path, json={"name": "x"}, headers=auth), 404, "not.found")


async def test_members_paging(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    first = (await guest.get("/members", pageSize=1)).json()
    base = f"{guest.path}/members"
    assert first["total"] == 2 and first["pageCount"] == 2
    assert first["pageNumber"] == 1 and first["pageSize"] == 1
    assert first["entities"][0]["id"] == guest.member_id
    assert first["firstUri"] == f"{base}?pageSize=1&pageNumber=1"
    assert first["nextUri"] == f"{base}?pageSize=1&pageNumber=2"
    assert first["lastUri"] == f"{base}?pageSize=1&pageNumber=2"
    assert first["selfUri"] == f"{base}?pageSize=1&pageNumber=1"
    assert "previousUri" not in first
    second = (await http.get(first["nextUri"], headers=guest.auth)).json()
    assert second["entities"][0]["role"] == "AGENT"
    assert second["previousUri"] == first["selfUri"] and "nextUri" not in second
    default = (await guest.get("/members")).json()
    assert default["pageSize"] == 25 and len(default["entities"]) == 2
    assert_error(await guest.get("/members", pageSize=0), 400, "invalid.value", "pageSize")
    assert_error(await guest.get("/members", pageNumber="x"), 400, "invalid.value", "pageNumber")
    await simulator.agent_end(guest.id)
    await stream.close()


async def test_exclude_disconnected_members(simulator: Simulator, http: httpx.AsyncClient) -> None:
    guest = await create(http, simulator)
    stream = await guest.connect()
    await simulator.wait_routed(guest.id)
    conversation = simulator.state.conversations[guest.id]
    agent_id = conversation.agent_member_id
    assert agent_id is not None
    from webchat_async.models import MemberState

    conversation.set_member_state(agent_id, MemberState.DISCONNECTED)
    page = (await guest.get("/members", excludeDisconnectedMembers="true")).json()
    assert [m["id"] for m in page["entities"]] == [guest.member_id]
    assert page["total"] == 1
    assert page["selfUri"].endswith("excludeDisconnectedMembers=true")
    member = (await guest.get(f"/members/{agent_id}")).json()
    assert member["state"] == "DISCONNECTED" and member["leaveDate"].endswith("Z")
    await stream.close()

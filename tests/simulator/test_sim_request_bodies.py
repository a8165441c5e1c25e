"""Request bodies the simulator cannot read get the service's 400, never a 500."""

from __future__ import annotations

import httpx

from webchat_async.simulator import Simulator

CREATE = "/api/v2/webchat/guest/conversations"


async def test_deeply_nested_json_body_is_a_bad_request(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # past the JSON parser's recursion limit
    response = await http.post(CREATE, content=deep, headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.json()["code"] == "bad.request"
    assert "inin-correlation-id" in response.headers


async def test_body_of_the_wrong_shape_names_the_field(
    simulator: Simulator, http: httpx.AsyncClient
) -> None:
    response = await http.post(CREATE, json={"memberInfo": "not an object"})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid.value"
    assert body["details"][0]["fieldName"] == "body"

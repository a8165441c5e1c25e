"""Wire-level helpers for the simulator tests: bare httpx and websockets clients."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import attrs
import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from webchat_async.simulator import Simulator

API = "/api/v2/webchat"
GUEST = f"{API}/guest/conversations"
WAIT = 5.0


@attrs.define
class Guest:
    """A created conversation, from the guest's side."""

    id: str
    member_id: str
    jwt: str = attrs.field(repr=False)
    stream_uri: str = attrs.field(repr=False)
    http: httpx.AsyncClient

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.jwt}"}

    @property
    def path(self) -> str:
        return f"{GUEST}/{self.id}"

    async def send(self, text: str, **extra: Any) -> httpx.Response:
        return await self.http.post(
            f"{self.path}/members/{self.member_id}/messages",
            json={"body": text, **extra},
            headers=self.auth,
        )

    async def get(self, suffix: str = "", **params: Any) -> httpx.Response:
        return await self.http.get(self.path + suffix, params=params, headers=self.auth)

    async def connect(self) -> Stream:
        ws = await websockets.connect(self.stream_uri, open_timeout=WAIT)
        return Stream(ws)


class Stream:
    """A websocket to the event stream with frame-waiting helpers."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def next(self, timeout: float = WAIT) -> dict[str, Any]:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str)
        frame: dict[str, Any] = json.loads(text)
        self.seen.append(frame)
        return frame

    async def until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float = WAIT
    ) -> dict[str, Any]:
        """Read frames until one matches (heartbeats and others are kept in ``seen``)."""

        async def loop() -> dict[str, Any]:
            while True:
                frame = await self.next(timeout)
                if predicate(frame):
                    return frame

        return await asyncio.wait_for(loop(), timeout)

    async def message(
        self, body_type: str = "standard", body: str | None = None, timeout: float = WAIT
    ) -> dict[str, Any]:
        def match(f: dict[str, Any]) -> bool:
            if f.get("metadata", {}).get("type") != "message":
                return False
            eb = f["eventBody"]
            return bool(eb["bodyType"] == body_type and (body is None or eb["body"] == body))

        return (await self.until(match, timeout))["eventBody"]

    async def close(self) -> None:
        await self.ws.close()


def kind(frame: dict[str, Any]) -> str | None:
    meta = frame.get("metadata")
    return meta.get("type") if isinstance(meta, dict) else None


async def create(
    http: httpx.AsyncClient, sim: Simulator, *, name: str = "Ann", **extra: Any
) -> Guest:
    body = {
        "organizationId": sim.organization_id,
        "deploymentId": sim.deployment_id,
        "memberInfo": {"displayName": name},
        **extra,
    }
    response = await http.post(GUEST, json=body)
    assert response.status_code == 200, response.text
    data = response.json()
    return Guest(
        id=data["id"],
        member_id=data["member"]["id"],
        jwt=data["jwt"],
        stream_uri=data["eventStreamUri"],
        http=http,
    )


async def routed(http: httpx.AsyncClient, sim: Simulator) -> tuple[Guest, Stream]:
    """A conversation with a socket attached and the agent joined (greeting consumed)."""
    guest = await create(http, sim)
    stream = await guest.connect()
    await sim.wait_routed(guest.id)
    if sim.agent.greeting is not None:
        await stream.message("standard", sim.agent.greeting)
    return guest, stream


async def oauth_token(http: httpx.AsyncClient, sim: Simulator) -> str:
    response = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(sim.client_id, sim.client_secret),
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token

"""Wire-level helpers for the Web Messaging simulator tests: a bare websockets client that
speaks the frames of the spec, written here independently of the SDK's messaging client."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import websockets
from websockets.asyncio.client import ClientConnection

from webchat_async.simulator import Simulator

WAIT = 5.0
ORIGIN = "https://shop.example"
HISTORY = "/api/v2/webmessaging/messages"
Frame = dict[str, Any]


def ws_url(sim: Simulator, deployment_id: str | None = None) -> str:
    base = sim.base_url.replace("http://", "ws://", 1)
    return f"{base}/v1?deploymentId={deployment_id or sim.deployment_id}&application=tests"


class Guest:
    """One guest websocket and the token it configures."""

    def __init__(self, ws: ClientConnection, token: str) -> None:
        self.ws = ws
        self.token = token
        self.seen: list[Frame] = []

    @classmethod
    async def connect(
        cls,
        sim: Simulator,
        token: str | None = None,
        *,
        origin: str | None = ORIGIN,
        deployment_id: str | None = None,
    ) -> Guest:
        headers = {"Origin": origin} if origin else None
        ws = await websockets.connect(
            ws_url(sim, deployment_id), additional_headers=headers, open_timeout=WAIT
        )
        return cls(ws, token or str(uuid.uuid4()))

    async def send(self, action: str, tracing_id: str | None = None, **fields: Any) -> str:
        tracing = tracing_id or str(uuid.uuid4())
        await self.ws.send(
            json.dumps({"action": action, "token": self.token, "tracingId": tracing, **fields})
        )
        return tracing

    async def next(self, timeout: float = WAIT) -> Frame:
        text = await asyncio.wait_for(self.ws.recv(), timeout)
        assert isinstance(text, str)
        frame: Frame = json.loads(text)
        self.seen.append(frame)
        return frame

    async def until(self, predicate: Callable[[Frame], bool], timeout: float = WAIT) -> Frame:
        async def loop() -> Frame:
            while True:
                frame = await self.next(timeout)
                if predicate(frame):
                    return frame

        return await asyncio.wait_for(loop(), timeout)

    async def request(self, action: str, **fields: Any) -> Frame:
        """Send and return the response with the same tracingId."""
        tracing = await self.send(action, **fields)
        return await self.until(
            lambda f: f.get("type") == "response" and f.get("tracingId") == tracing
        )

    async def configure(self, **fields: Any) -> Frame:
        return await self.request("configureSession", **fields)

    async def say(self, text: str, **message: Any) -> str:
        return await self.send("onMessage", message={"type": "Text", "text": text, **message})

    async def echo_of(self, text: str) -> Frame:
        """The pushed echo of the guest's own message ``text``."""
        return await self.until(lambda f: is_message(f, text, "Inbound"))

    async def agent_text(self, text: str | None = None) -> Frame:
        return await self.until(lambda f: is_message(f, text, "Outbound"))

    async def jwt(self) -> str:
        answer = await self.request("getJwt")
        assert answer["class"] == "JwtResponse", answer
        jwt: str = answer["body"]["jwt"]
        return jwt

    async def close(self) -> None:
        await self.ws.close()


def is_message(frame: Frame, text: str | None, direction: str) -> bool:
    if frame.get("class") != "StructuredMessage" or frame.get("type") != "message":
        return False
    body = frame["body"]
    return bool(
        body.get("direction") == direction
        and body.get("type") == "Text"
        and (text is None or body.get("text") == text)
    )


async def configured(sim: Simulator, token: str | None = None, **fields: Any) -> Guest:
    """A guest socket with its session configured."""
    guest = await Guest.connect(sim, token)
    answer = await guest.configure(**fields)
    assert answer["class"] == "SessionResponse", answer
    return guest


async def history(
    http: httpx.AsyncClient, jwt: str, origin: str | None = ORIGIN, **params: Any
) -> httpx.Response:
    headers = {"Authorization": f"bearer {jwt}"}
    if origin:
        headers["Origin"] = origin
    return await http.get(HISTORY, params=params, headers=headers)

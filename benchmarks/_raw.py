"""The baseline side: a guest chat driven with bare httpx and websockets, no SDK.

What a developer without the SDK would write, configured like the SDK configures the
same libraries (same pool, timeouts and headers for httpx; same connection settings for
websockets), so that a ratio measures the SDK's own layer and nothing else.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import httpx
from websockets.asyncio.client import ClientConnection, connect

from webchat_async._events import MAX_FRAME_SIZE
from webchat_async._http import DEFAULT_TIMEOUT, _client_headers

from ._harness import SimulatorProcess

__all__ = ["RawConversation", "create_conversation", "http_client", "open_stream", "post_message"]

API = "/api/v2/webchat/guest/conversations"


@attrs.frozen
class RawConversation:
    """A guest conversation created without the SDK."""

    id: str
    member_id: str
    jwt: str = attrs.field(repr=False)
    event_stream_uri: str = attrs.field(repr=False)


def http_client() -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` configured exactly like the SDK's own (default pool limits)."""
    return httpx.AsyncClient(
        timeout=DEFAULT_TIMEOUT, follow_redirects=False, headers=_client_headers()
    )


async def open_stream(uri: str) -> ClientConnection:
    """A websocket to the event stream with the settings the SDK uses."""
    return await connect(
        uri,
        compression=None,
        max_size=MAX_FRAME_SIZE,
        max_queue=16,
        proxy=None,
    )


async def create_conversation(
    client: httpx.AsyncClient, sim: SimulatorProcess, *, attach: bool = True
) -> RawConversation:
    """Create a guest conversation; with ``attach``, open and close its stream once.

    The service refuses messages until the stream has been attached once; the
    benchmark simulator has no reconnect grace timer, so the closed stream does not end
    the chat.
    """
    response = await client.post(
        sim.base_url + API,
        json={
            "organizationId": sim.organization_id,
            "deploymentId": sim.deployment_id,
            "memberInfo": {"displayName": "Bench"},
        },
    )
    response.raise_for_status()
    data = response.json()
    conversation = RawConversation(
        id=data["id"],
        member_id=data["member"]["id"],
        jwt=data["jwt"],
        event_stream_uri=data["eventStreamUri"],
    )
    if attach:
        ws = await open_stream(conversation.event_stream_uri)
        await ws.close()
    return conversation


def message_url(sim: SimulatorProcess, conversation: RawConversation) -> str:
    """The URL of the send-message operation."""
    return f"{sim.base_url}{API}/{conversation.id}/members/{conversation.member_id}/messages"


async def post_message(client: httpx.AsyncClient, url: str, jwt: str, text: str) -> dict[str, Any]:
    """Send one message as a developer would with httpx: JSON in, status checked, JSON out."""
    response = await client.post(
        url,
        content=json.dumps({"body": text}, separators=(",", ":"), ensure_ascii=False).encode(),
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {jwt}"},
    )
    response.raise_for_status()
    data: dict[str, Any] = response.json()
    return data

"""The official Genesys Python SDK (PureCloudPlatformClientV2 260.0.0) against the simulator.

All 19 WebChatApi operations must go through without an HTTP or deserialization error. The
SDK is synchronous: its calls run in a thread while the simulator serves on the loop.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
import websockets

pytest.importorskip("aiohttp")
sdk = pytest.importorskip("PureCloudPlatformClientV2")

from webchat_async.simulator import Simulator  # noqa: E402

pytestmark = [
    pytest.mark.interop,
    # The 19 Web Chat v2 operations are deprecated in the official SDK, which says so.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]

T = TypeVar("T")


def model(cls_name: str, /, **fields: Any) -> Any:
    """An official SDK model (they take no constructor arguments; fields are setters)."""
    instance = getattr(sdk, cls_name)()
    for key, value in fields.items():
        setattr(instance, key, value)
    return instance


def _quietly(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    # Each official call warns that the operation is deprecated (Genesys ended Web Chat v2).
    # Its decorator forces simplefilter("always") around the warning, so a filter cannot
    # win: record, then pass on anything that is not that notice.
    with warnings.catch_warnings(record=True) as caught:
        result = fn(*args, **kwargs)
    for w in caught:
        if not (w.category is DeprecationWarning and "deprecated" in str(w.message)):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return result


async def call(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    return await asyncio.to_thread(_quietly, fn, *args, **kwargs)


async def test_all_19_operations(simulator: Simulator) -> None:
    config = sdk.Configuration()
    saved_key = dict(config.api_key)
    saved_prefix = dict(config.api_key_prefix)
    try:
        await _run_all(simulator, config)
    finally:
        config.api_key = saved_key
        config.api_key_prefix = saved_prefix


async def _run_all(sim: Simulator, config: Any) -> None:
    client = sdk.ApiClient(host=sim.base_url)
    # The login host is derived from the API host; for a custom host it is the same one.
    await call(client.get_client_credentials_token, sim.client_id, sim.client_secret)
    api = sdk.WebChatApi(client)

    # Deployments and settings (OAuth).
    listing = await call(api.get_webchat_deployments)
    assert listing.total == 1 and listing.entities[0].id == sim.deployment_id
    created = await call(
        api.post_webchat_deployments, model("WebChatDeployment", name="Interop", disabled=False)
    )
    assert created.id and created.name == "Interop"
    fetched = await call(api.get_webchat_deployment, created.id)
    assert fetched.id == created.id
    updated = await call(
        api.put_webchat_deployment, created.id, model("WebChatDeployment", name="Interop 2")
    )
    assert updated.name == "Interop 2"
    await call(api.delete_webchat_deployment, created.id)
    assert created.id not in sim.state.deployments
    settings = await call(
        api.put_webchat_settings, model("WebChatSettings", require_deployment=True)
    )
    assert settings.require_deployment is True
    assert (await call(api.get_webchat_settings)).require_deployment is True
    await call(api.delete_webchat_settings)
    assert sim.state.settings.require_deployment is False

    # The guest side.
    request = model(
        "CreateWebChatConversationRequest",
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=model("GuestMemberInfo", display_name="Ann", custom_fields={"plan": "gold"}),
    )
    conversation = await call(api.post_webchat_guest_conversations, request)
    assert conversation.member.id  # the rest may be missing (docs/protocol.md#create)
    config.api_key["Authorization"] = conversation.jwt
    config.api_key_prefix["Authorization"] = "Bearer"
    ws = await websockets.connect(conversation.event_stream_uri)
    try:
        await sim.wait_routed(conversation.id)
        cid, me = conversation.id, conversation.member.id
        message = await call(
            api.post_webchat_guest_conversation_member_messages,
            cid,
            me,
            model("CreateWebChatMessageRequest", body="hello", body_type="standard"),
        )
        assert message.body == "hello" and message.timestamp.tzinfo is not None
        typing = await call(api.post_webchat_guest_conversation_member_typing, cid, me)
        assert typing.sender.id == me
        messages = await call(
            api.get_webchat_guest_conversation_messages,
            cid,
            sort_order="ascending",
            max_results=2,
        )
        assert len(messages.entities) == 2 and messages.next
        one = await call(api.get_webchat_guest_conversation_message, cid, message.id)
        assert one.id == message.id and one.body_type == "standard"
        members = await call(
            api.get_webchat_guest_conversation_members,
            cid,
            page_size=25,
            page_number=1,
            exclude_disconnected_members=False,
        )
        assert members.total == 2 and members.entities[0].join_date is not None
        member = await call(api.get_webchat_guest_conversation_member, cid, me)
        assert member.display_name == "Ann" and member.custom_fields == {"plan": "gold"}
        media = await sim.agent_request_media(cid, types=["COBROWSE"])
        requests = await call(api.get_webchat_guest_conversation_mediarequests, cid)
        assert [r.id for r in requests.entities] == [media.id]
        fetched_media = await call(api.get_webchat_guest_conversation_mediarequest, cid, media.id)
        assert fetched_media.state == "PENDING"
        patched = await call(
            api.patch_webchat_guest_conversation_mediarequest,
            cid,
            media.id,
            model("WebChatGuestMediaRequest", state="ACCEPTED"),
        )
        assert patched.state == "ACCEPTED"
        await call(api.delete_webchat_guest_conversation_member, cid, me)
        assert sim.state.conversations[cid].ended
    finally:
        await ws.close()

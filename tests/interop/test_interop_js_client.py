"""The official Genesys JavaScript guest client (purecloud-guest-chat-client 13.2.0) against
the simulator, under node, with its default options: 11 guest operations plus the stream
(attach, and the echo of the guest's own message): 13 steps, all must pass.

Needs node (20 or later: ``--experimental-websocket``) and ``npm ci`` in ``tests/interop/js``
(``.ci/run`` does it); skips without them.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")

from webchat_async.simulator import Simulator

pytestmark = pytest.mark.interop

JS = Path(__file__).resolve().parent / "js"
CLIENT = JS / "node_modules" / "purecloud-guest-chat-client" / "package.json"


def _node() -> str:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    if not CLIENT.exists():
        pytest.skip("run `npm ci` in tests/interop/js first")
    return node


async def _run_client(sim: Simulator) -> tuple[list[dict[str, object]], dict[str, object]]:
    node = _node()
    proc = await asyncio.create_subprocess_exec(
        node,
        "--experimental-websocket",
        "--no-warnings",
        str(JS / "guest_client.js"),
        sim.base_url,
        sim.organization_id,
        sim.deployment_id,
        cwd=JS,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), 60)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    lines = [json.loads(line) for line in out.decode().splitlines() if line.strip()]
    assert lines and lines[-1].get("done"), err.decode()
    return lines[:-1], lines[-1]


async def test_js_guest_client_runs_every_step_with_default_options() -> None:
    async with Simulator(port=0, heartbeat_interval=None) as sim:
        steps, summary = await _run_client(sim)
        failed = [s for s in steps if not s["ok"]]
        assert failed == []
        assert summary == {"done": True, "passed": 13, "total": 13}
        assert [s["step"] for s in steps] == [
            "postWebchatGuestConversations",
            "stream attach",
            "getWebchatGuestConversationMembers",
            "getWebchatGuestConversationMember",
            "postWebchatGuestConversationMemberMessages",
            "stream message echo",
            "postWebchatGuestConversationMemberTyping",
            "getWebchatGuestConversationMessages",
            "getWebchatGuestConversationMessage",
            "getWebchatGuestConversationMediarequests",
            "getWebchatGuestConversationMediarequest",
            "patchWebchatGuestConversationMediarequest",
            "deleteWebchatGuestConversationMember",
        ]
        # The client's defaults reached the server: empty optional query values.
        (conversation,) = sim.conversations.values()
        assert conversation.ended
        assert any(m.body == "Hello from JavaScript" for m in conversation.messages)

"""A burst far past every buffer and window, end to end: exactly once, in order.

eec547b: 50,000 messages sent back to back to a default session whose consumer reads
normally gave 119,536 MessageReceived for 50,000 ids (17,804 ids up to 5 times, 4 order
inversions). The deterministic small form is in tests/session/test_session_inbound.py.
"""

from __future__ import annotations

import asyncio

from chaos_support import TIMEOUT, delivery, figures, start

from webchat_async import Backoff, MessageReceived
from webchat_async.simulator import Simulator

BURST = 50_000


async def test_a_burst_of_fifty_thousand_is_delivered_exactly_once_in_order(
    sim: Simulator,
) -> None:
    async with start(sim, backoff=Backoff()) as session:  # default options
        cid = session.conversation_id
        received: list[str] = []

        async def consume() -> None:
            async for event in session:
                if isinstance(event, MessageReceived) and _burst(event.message.body):
                    received.append(event.message.id or "")
                    if len(received) >= BURST:
                        return

        consumer = asyncio.ensure_future(consume())
        await sim.wait_routed(cid)
        for i in range(BURST):
            await sim.agent_say(cid, f"b{i}")
        await asyncio.wait_for(consumer, TIMEOUT * 4)
        expected = [m.id or "" for m in sim.state.conversations[cid].messages if _burst(m.body)]
        counts = delivery(received, expected)
        figures("CHAOS burst", burst=BURST, **counts)
        assert counts == {
            "delivered": BURST,
            "lost": 0,
            "duplicated": 0,
            "out_of_order": 0,
            "unexpected": 0,
        }


def _burst(body: str | None) -> bool:
    return body is not None and body.startswith("b") and body[1:].isdigit()

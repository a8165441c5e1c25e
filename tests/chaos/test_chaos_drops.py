"""Forced stream drops at random points of a long agent conversation, backfills included."""

from __future__ import annotations

import asyncio
import random

from chaos_support import GREETING, TIMEOUT, RestTap, Tracker, delivery, figures, start

from webchat_async.simulator import Simulator


async def test_random_drops_during_a_long_conversation_lose_nothing(
    sim: Simulator, scale: int
) -> None:
    total, drops_wanted = 1000 * scale, 100 * scale
    rng = random.Random(20240611)
    # A quarter of the drop points drop twice: once between two messages, and once more
    # while the reader pages the backfill that recovers from the first drop.
    in_backfill = drops_wanted // 4
    points = sorted(rng.sample(range(total - 1), drops_wanted - in_backfill))
    backfill_points = set(rng.sample(points, in_backfill))
    drop_after = set(points)
    tap = RestTap(sim)
    kinds = {"abort": 0, "close 1011": 0, "in backfill": 0}

    async with start(sim, queue_size=64) as session, Tracker(session) as tracker:
        cid = session.conversation_id
        await sim.wait_routed(cid)
        await tracker.wait_greeted()
        agent = sim.state.conversations[cid].agent_member_id
        backfill_dropped = asyncio.Event()
        backfill_dropped.set()

        def drop_in_backfill() -> bool:
            # Runs as each API request reaches the server. The first one that finds the
            # new socket attached is the backfill after the reattach: its frames wait
            # unread while the reader pages. (An earlier request may be the tail of the
            # previous backfill, from before this drop: not yet.)
            if sim.state.conversations[cid].socket_count == 0:
                return False
            kinds["in backfill"] += sim.faults.drop_sockets(cid)
            backfill_dropped.set()
            return True

        async def drop() -> None:
            # Every drop hits a live socket: wait for the reattach (and for an armed
            # backfill drop to have fired) before dropping again.
            await asyncio.wait_for(backfill_dropped.wait(), TIMEOUT)
            await sim.wait_sockets(cid, 1, timeout=TIMEOUT)
            if rng.random() < 0.2:
                kinds["close 1011"] += await sim.faults.close_sockets(cid, code=1011)
            else:
                kinds["abort"] += sim.faults.drop_sockets(cid)

        for i in range(total):
            await sim.agent_say(cid, str(i))
            if rng.random() < 0.05:
                # Let the consumer catch up now and then, so that the messages after this
                # one arrive live and not only through a backfill.
                await tracker.wait_text(str(i))
            if i in drop_after:
                await drop()
                if i in backfill_points:
                    backfill_dropped.clear()
                    tap.next(drop_in_backfill)
        await asyncio.wait_for(backfill_dropped.wait(), TIMEOUT)
        await sim.agent_say(cid, "end")
        drops = sum(kinds.values())
        await tracker.wait(lambda t: "end" in t.bodies and len(t.reconnects) >= drops)

        expected = [GREETING, *(str(i) for i in range(total)), "end"]
        counts = delivery(tracker.texts(agent), expected)
        figures(
            "CHAOS drops",
            drops=drops,
            aborts=kinds["abort"],
            closes_1011=kinds["close 1011"],
            in_backfill=kinds["in backfill"],
            reconnects=len(tracker.reconnects),
            backfilled=tracker.backfilled,
            live=len(tracker.messages) - tracker.backfilled,
            **counts,
        )
        assert drops == drops_wanted
        assert kinds["in backfill"] == in_backfill
        assert counts == {
            "delivered": total + 2,
            "lost": 0,
            "duplicated": 0,
            "out_of_order": 0,
            "unexpected": 0,
        }
        assert tracker.texts(agent) == expected
        assert len(tracker.disconnects) == len(tracker.reconnects) == drops
        # Some messages were only recoverable through the backfill.
        assert tracker.backfilled > 0
        assert sim.state.conversations[cid].socket_count == 1
        assert tracker.error is None

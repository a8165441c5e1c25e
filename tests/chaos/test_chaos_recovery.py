"""Refused handshakes, a dead peer that hangs without closing, and clean server closes.

Each round sends messages before the fault and while the guest is detached; the consumer
must get every one of them exactly once and in order, however the socket went away.
"""

from __future__ import annotations

import pytest
from chaos_support import GREETING, HandshakeTap, Tracker, delivery, figures, start

from webchat_async.simulator import Agent, Simulator


@pytest.mark.parametrize("status", [503, 500, 429])
async def test_handshake_refused_n_times_then_accepted(
    sim: Simulator, scale: int, status: int
) -> None:
    rounds, refusals = 3 * scale, 5
    handshakes = HandshakeTap(sim)
    # The very first attach is refused too: start() retries it like a reconnect.
    sim.faults.refuse_handshakes(refusals, status=status)
    async with start(sim) as session, Tracker(session) as tracker:
        cid = session.conversation_id
        assert handshakes.count == refusals + 1
        await sim.wait_routed(cid)
        agent = sim.state.conversations[cid].agent_member_id
        expected = [GREETING]
        for r in range(rounds):
            await sim.agent_say(cid, f"before {r}")
            expected.append(f"before {r}")
            sim.faults.refuse_handshakes(refusals, status=status)
            assert sim.faults.drop_sockets(cid) == 1
            # Said while every handshake is refused: only the backfill can bring it.
            await handshakes.reached((r + 2) * (refusals + 1) - 1)
            await sim.agent_say(cid, f"refused {r}")
            expected.append(f"refused {r}")
            await tracker.wait_reconnects(r + 1)
        await sim.agent_say(cid, "end")
        expected.append("end")
        await tracker.wait_text("end")

        counts = delivery(tracker.texts(agent), expected)
        attempts = [e.attempts for e in tracker.reconnects]
        figures(
            f"CHAOS handshake_refused status={status}",
            rounds=rounds,
            refused=rounds * refusals + refusals,
            handshakes=handshakes.count,
            reconnects=len(tracker.reconnects),
            backfilled=tracker.backfilled,
            **counts,
        )
        assert attempts == [refusals + 1] * rounds
        assert handshakes.count == (rounds + 1) * (refusals + 1)
        assert tracker.texts(agent) == expected
        assert counts["lost"] == counts["duplicated"] == counts["out_of_order"] == 0
        assert tracker.backfilled >= rounds


async def test_dead_peer_without_heartbeats_is_detected_and_recovered(
    loop_errors: object, scale: int
) -> None:
    rounds = 5 * scale
    # Heartbeats flow often, so that only their stopping (and the hang) can look dead.
    async with Simulator(heartbeat_interval=0.02, seed=7, agent=Agent()) as simulator:
        async with (
            start(simulator, ping_interval=0.05, dead_peer_timeout=0.1) as session,
            Tracker(session) as tracker,
        ):
            cid = session.conversation_id
            await simulator.wait_routed(cid)
            agent = simulator.state.conversations[cid].agent_member_id
            expected = [GREETING]
            for r in range(rounds):
                await simulator.agent_say(cid, f"alive {r}")
                expected.append(f"alive {r}")
                await tracker.wait_text(f"alive {r}")
                # The peer goes silent: no heartbeat, no pong, no websocket pong, and the
                # socket stays open (no close frame, no FIN).
                simulator.faults.stop_heartbeats()
                assert simulator.faults.hang_sockets(cid) == 1
                await simulator.agent_say(cid, f"hung {r}")
                expected.append(f"hung {r}")
                await tracker.wait_reconnects(r + 1)
                simulator.faults.resume_heartbeats()
            await simulator.agent_say(cid, "end")
            expected.append("end")
            await tracker.wait_text("end")

            counts = delivery(tracker.texts(agent), expected)
            reasons = sorted({e.reason for e in tracker.disconnects})
            figures(
                "CHAOS dead_peer",
                rounds=rounds,
                detected=len(tracker.disconnects),
                reasons="|".join(r.replace(" ", "_") for r in reasons),
                reconnects=len(tracker.reconnects),
                backfilled=tracker.backfilled,
                **counts,
            )
            assert reasons == ["dead peer"]
            assert len(tracker.disconnects) == len(tracker.reconnects) == rounds
            assert tracker.texts(agent) == expected
            assert counts["lost"] == counts["duplicated"] == counts["out_of_order"] == 0
            # Each "hung" message was sent to a socket that never delivered it.
            assert tracker.backfilled >= rounds


@pytest.mark.parametrize("code", [1000, 1001, 1011])
async def test_server_close_mid_conversation_is_recovered(
    sim: Simulator, scale: int, code: int
) -> None:
    rounds = 10 * scale
    async with start(sim) as session, Tracker(session) as tracker:
        cid = session.conversation_id
        await sim.wait_routed(cid)
        agent = sim.state.conversations[cid].agent_member_id
        expected = [GREETING]
        for r in range(rounds):
            await sim.agent_say(cid, f"open {r}")
            expected.append(f"open {r}")
            # A clean close while the conversation lives (a load balancer rotating
            # sockets): the guest has not left, so the session must come back.
            assert await sim.faults.close_sockets(cid, code=code) == 1
            await sim.agent_say(cid, f"closed {r}")
            expected.append(f"closed {r}")
            await tracker.wait_reconnects(r + 1)
        await session.send_message("still here")
        await sim.agent_say(cid, "end")
        expected.append("end")
        await tracker.wait_text("end")

        counts = delivery(tracker.texts(agent), expected)
        figures(
            f"CHAOS server_close code={code}",
            rounds=rounds,
            reconnects=len(tracker.reconnects),
            backfilled=tracker.backfilled,
            **counts,
        )
        assert [e.code for e in tracker.disconnects] == [code] * rounds
        assert len(tracker.reconnects) == rounds
        assert tracker.texts(agent) == expected
        assert tracker.texts(session.member_id) == ["still here"]
        assert counts["lost"] == counts["duplicated"] == counts["out_of_order"] == 0
        assert not sim.state.conversations[cid].ended
        assert not session.ended

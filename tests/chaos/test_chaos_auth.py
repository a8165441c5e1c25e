"""Credentials that stop working: the guest JWT on the handshake, OAuth tokens on calls.

A refused guest JWT is final: the session stops at once with AuthenticationError after a
single handshake, instead of hammering the service for two minutes. An expired OAuth
token is replaced once and the call goes through; a token refused again is final too.
"""

from __future__ import annotations

import asyncio

import pytest
from chaos_support import HandshakeTap, Tracker, figures, start

from webchat_async import Backoff
from webchat_async._events import StreamDisconnected, StreamReconnected
from webchat_async.api import WebChatApi
from webchat_async.auth import ClientCredentials
from webchat_async.errors import AuthenticationError
from webchat_async.models import CreateWebChatMessageRequest
from webchat_async.session import GuestSession, SavedSession
from webchat_async.simulator import Agent, Simulator


class WallClock:
    """The simulator's wall clock, moved by hand to expire tokens without waiting."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


async def test_a_guest_jwt_refused_on_the_handshake_stops_after_one_attempt(
    loop_errors: object, scale: int
) -> None:
    rounds = 3 * scale
    clock = WallClock()
    per_round: list[int] = []
    async with Simulator(
        heartbeat_interval=None, agent=Agent(), guest_token_ttl=600, clock=clock
    ) as sim:
        handshakes = HandshakeTap(sim)
        for r in range(rounds):
            # No delay between attempts: a retry would happen at once and show in the count.
            session = await start(sim)
            cid = session.conversation_id
            async with Tracker(session) as tracker:
                await sim.wait_routed(cid)
                await tracker.wait_greeted()
                saved = session.save()  # leave_on_exit off: the token will not work
                before = handshakes.count
                if r % 3 == 0:
                    sim.faults.expire_guest_tokens(cid)  # revoked by the service
                else:
                    clock.now += 601  # expired by age: every live JWT at once
                assert sim.faults.drop_sockets(cid) == 1
                await tracker.wait(lambda t: t.finished)
                per_round.append(handshakes.count - before)
                assert isinstance(tracker.error, AuthenticationError)
                assert [type(e) for e in tracker.events[-1:]] == [StreamDisconnected]
                assert not [e for e in tracker.events if isinstance(e, StreamReconnected)]
                assert saved.jwt not in str(tracker.error)
            await session.aclose()
            # A resume with the dead JWT is refused at once too: one more handshake.
            before = handshakes.count
            with pytest.raises(AuthenticationError):
                await GuestSession.resume(saved, backoff=Backoff.none(), proxy=None)
            per_round.append(handshakes.count - before)
            # A JWT that was never valid (a wrong signature) is refused the same way.
            forged = SavedSession.from_json(
                saved.to_json().replace(saved.jwt, saved.jwt[:-4] + "AAAA")
            )
            before = handshakes.count
            with pytest.raises(AuthenticationError):
                await GuestSession.resume(forged, backoff=Backoff.none(), proxy=None)
            per_round.append(handshakes.count - before)
            # The REST side agrees, after a single request (a JWT cannot be refreshed).
            guest = WebChatApi(base_url=sim.base_url, guest_token=saved.jwt, max_retries=5)
            async with guest:
                conversation = f"/api/v2/webchat/guest/conversations/{cid}"
                path = f"{conversation}/members/{saved.member_id}/messages"
                sent = sim.state.count_requests("POST", path)
                with pytest.raises(AuthenticationError):
                    await guest.post_webchat_guest_conversation_member_messages(
                        cid, saved.member_id, CreateWebChatMessageRequest(body="hello?")
                    )
                assert sim.state.count_requests("POST", path, 401) == sent + 1
    figures(
        "CHAOS guest_jwt_refused",
        sessions=rounds,
        refusals=len(per_round),
        handshakes_after_refusal=sum(per_round),
        max_per_refusal=max(per_round),
    )
    assert per_round == [1] * (3 * rounds)


async def test_an_expired_oauth_token_is_replaced_once_and_the_call_succeeds(
    loop_errors: object, scale: int
) -> None:
    clock = WallClock()
    rounds = 5 * scale
    async with Simulator(heartbeat_interval=None, oauth_token_ttl=3600, clock=clock) as sim:
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        async with WebChatApi(base_url=sim.base_url, credentials=credentials) as admin:
            assert (await admin.get_webchat_deployments()).entities
            tokens = sim.state.count_requests("POST", "/oauth/token", 200)
            assert tokens == 1
            for r in range(rounds):
                # The service expires the token early (its clock, not the client's): the
                # client still thinks it valid and learns otherwise from a 401.
                clock.now += 3601
                if r % 2:
                    sim.revoke_access_tokens()
                # Many callers at once: one refresh serves them all.
                results = await asyncio.gather(
                    *(admin.get_webchat_deployment(sim.deployment_id) for _ in range(10))
                )
                assert all(d.id == sim.deployment_id for d in results)
            token_posts = sim.state.count_requests("POST", "/oauth/token", 200)
            path = f"/api/v2/webchat/deployments/{sim.deployment_id}"
            refused = sim.state.count_requests("GET", path, 401)
            figures(
                "CHAOS oauth_expired",
                expiries=rounds,
                calls=10 * rounds,
                refused_401=refused,
                token_fetches=token_posts,
                refreshes=token_posts - 1,
                failed_calls=0,
            )
            assert token_posts == 1 + rounds
            assert sim.state.count_requests("GET", path, 200) == 10 * rounds
            assert 1 * rounds <= refused <= 10 * rounds

    # A service that refuses every token (its clock runs an hour per reading): one
    # refresh, one retry, then the error.
    def runaway() -> float:
        clock.now += 3601
        return clock.now

    async with Simulator(heartbeat_interval=None, oauth_token_ttl=3600, clock=runaway) as sim:
        credentials = ClientCredentials(sim.client_id, sim.client_secret)
        async with WebChatApi(base_url=sim.base_url, credentials=credentials) as admin:
            with pytest.raises(AuthenticationError):
                await admin.get_webchat_settings()
        assert sim.state.count_requests("POST", "/oauth/token") == 2
        assert sim.state.count_requests("GET", "/api/v2/webchat/settings", 401) == 2

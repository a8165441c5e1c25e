"""The SessionStore contract, on the in-memory store and on a real Redis, with the clock in
the test's hands: leases, fencing tokens, reservations, load placement, recorded sends."""

from __future__ import annotations

import asyncio

import pytest
from fleet_support import Clock

from webchat_async.worker import LeaseLost, Progress, SessionStore
from webchat_async.worker._lua import PRUNE_LEASES

TTL = 10.0


async def workers(st: SessionStore, *names: str, concurrency: int = 10) -> None:
    for name in names:
        await st.register(name, ttl=TTL, concurrency=concurrency, host="h", pid=1)


def progress(position: str, *outstanding: str) -> Progress:
    return Progress(saved='{"s":1}', position=position, outstanding=outstanding)


async def test_a_lease_is_exclusive_until_it_runs_out_then_the_old_token_is_fenced(
    st: SessionStore, clock: Clock
) -> None:
    await st.add_chat("c1", '{"s":0}', "http://x", reserve=TTL)  # no live worker: free
    a = await st.claim("c1", "A", ttl=TTL)
    assert a is not None and a.token == 1 and a.previous_owner is None
    assert a.saved == '{"s":0}' and a.base_url == "http://x" and a.position is None
    assert await st.claim("c1", "B", ttl=TTL) is None  # held
    await st.commit("c1", a.token, progress("m1", "s1"), ttl=TTL)

    clock.now += TTL + 0.001  # A paused past its lease
    b = await st.claim("c1", "B", ttl=TTL)
    assert b is not None and b.token == 2 and b.previous_owner == "A"
    assert (b.position, b.outstanding, b.saved) == ("m1", ("s1",), '{"s":1}')

    # Every write of the old owner is refused, atomically with the check.
    with pytest.raises(LeaseLost):
        await st.commit("c1", a.token, progress("m9"), ttl=TTL)
    with pytest.raises(LeaseLost):
        await st.record_send("c1", a.token, "m2", 0, "late", send_margin=0)
    with pytest.raises(LeaseLost):
        await st.release("c1", "A", a.token, reserve=TTL)
    with pytest.raises(LeaseLost):
        await st.finish("c1", "A", a.token)
    assert await st.renew("A", {"c1": a.token}, ttl=TTL) == {"c1"}
    assert await st.renew("B", {"c1": b.token}, ttl=TTL) == set()
    status = await st.status()
    assert [(c.owner, c.token) for c in status.chats] == [("B", 2)]
    assert status.counters["takeovers"] == 1


async def test_renewal_keeps_a_lease_alive_past_its_first_term(
    st: SessionStore, clock: Clock
) -> None:
    await st.add_chat("c1", "{}", "http://x", reserve=TTL)
    a = await st.claim("c1", "A", ttl=TTL)
    assert a is not None
    for _ in range(5):
        clock.now += TTL * 0.6
        assert await st.renew("A", {"c1": a.token}, ttl=TTL) == set()
        assert await st.claim("c1", "B", ttl=TTL) is None


async def test_a_new_chat_goes_to_the_least_loaded_live_worker_and_waits_for_it(
    st: SessionStore, clock: Clock
) -> None:
    await workers(st, "A", "B")
    await st.add_chat("c0", "{}", "http://x", reserve=TTL)
    first = await st.next_assigned("A", 0.01, 5) or await st.next_assigned("B", 0.01, 5)
    assert first == ["c0"]
    owner = "A" if await st.claim("c0", "A", ttl=TTL) else "B"
    if owner == "B":
        assert await st.claim("c0", "B", ttl=TTL) is not None
    other = "B" if owner == "A" else "A"
    assert await st.add_chat("c1", "{}", "http://x", reserve=TTL / 2) == other
    assert await st.next_assigned(other, 0.01, 5) == ["c1"]
    assert await st.claim("c1", owner, ttl=TTL) is None  # reserved for the other one
    clock.now += TTL / 2 + 0.001  # the other one never came: any worker may take it
    scan = await st.scan(limit=10)
    assert [cid for cid, _ in scan.claimable] == ["c1"]
    assert await st.claim("c1", owner, ttl=TTL) is not None


async def test_a_worker_at_capacity_or_dead_is_not_given_chats(
    st: SessionStore, clock: Clock
) -> None:
    await workers(st, "A", concurrency=1)
    assert await st.add_chat("c0", "{}", "http://x", reserve=TTL) == "A"
    assert await st.add_chat("c1", "{}", "http://x", reserve=TTL) is None  # A is full
    clock.now += TTL + 0.001
    await workers(st, "B")
    assert await st.add_chat("c2", "{}", "http://x", reserve=TTL) == "B"  # A's heartbeat ran out
    scan = await st.scan(limit=10)
    assert scan.loads == {"B": 1}
    assert scan.total == 3


async def test_a_worker_that_missed_a_renewal_is_given_chats_only_when_all_did(
    st: SessionStore, clock: Clock
) -> None:
    # Renewals come every third of the lease: a worker whose heartbeat has less than half
    # the lease left missed one (killed, paused). A chat reserved for it would wait out
    # the reservation, so a worker that renewed comes first, even with more chats.
    await workers(st, "A")
    for i in range(2):
        assert await st.add_chat(f"a{i}", "{}", "http://x", reserve=TTL) == "A"
        assert await st.claim(f"a{i}", "A", ttl=TTL) is not None
    await workers(st, "B")
    clock.now += 0.6 * TTL
    assert await st.renew("A", {}, ttl=TTL) == set()  # B missed its renewal
    assert await st.add_chat("c1", "{}", "http://x", reserve=TTL) == "A"
    await st.renew("B", {}, ttl=TTL)  # back: the least loaded again
    assert await st.add_chat("c2", "{}", "http://x", reserve=TTL) == "B"
    clock.now += 0.6 * TTL  # both missed one: the least loaded of them
    assert await st.add_chat("c3", "{}", "http://x", reserve=TTL) == "B"


async def test_release_hands_the_chat_to_another_live_worker_at_once(
    st: SessionStore, clock: Clock
) -> None:
    await workers(st, "A", "B", "C", concurrency=5)
    for i in range(2):  # load C
        await st.add_chat(f"x{i}", "{}", "http://x", reserve=TTL)
    await st.add_chat("c1", "{}", "http://x", reserve=TTL)
    placed = {w: [] for w in "ABC"}
    for w in "ABC":
        for cid in await st.next_assigned(w, 0.01, 5):
            placed[w].append(cid)
            assert await st.claim(cid, w, ttl=TTL) is not None
    holder = next(w for w, cids in placed.items() if "c1" in cids)
    claim_token = 1
    target = await st.release("c1", holder, claim_token, reserve=TTL)
    assert target is not None and target != holder
    assert await st.next_assigned(target, 0.01, 5) == ["c1"]
    third = ({"A", "B", "C"} - {holder, target}).pop()
    assert await st.claim("c1", third, ttl=TTL) is None  # reserved for the target
    taken = await st.claim("c1", target, ttl=TTL)
    assert taken is not None and taken.token == 2 and taken.previous_owner is None


async def test_recorded_sends_come_back_with_the_next_claim_until_a_commit_clears_them(
    st: SessionStore, clock: Clock
) -> None:
    await st.add_chat("c1", "{}", "http://x", reserve=TTL)
    a = await st.claim("c1", "A", ttl=TTL)
    assert a is not None
    await st.commit("c1", a.token, progress("m1"), ttl=TTL)
    await st.record_send("c1", a.token, "m2", 0, "one", send_margin=1)
    await st.record_send("c1", a.token, "m2", 1, "two", send_margin=1)
    clock.now += TTL + 0.001
    b = await st.claim("c1", "B", ttl=TTL)
    assert b is not None and b.pending is not None
    assert (b.pending.event_key, b.pending.bodies) == ("m2", ("one", "two"))
    # B makes send 0 again (a different text): it replaces what A recorded in that place.
    await st.record_send("c1", b.token, "m2", 0, "uno", send_margin=1)
    clock.now += TTL + 0.001
    c = await st.claim("c1", "C", ttl=TTL)
    assert c is not None and c.pending is not None
    assert c.pending.bodies == ("uno", "two")
    await st.commit("c1", c.token, progress("m2"), ttl=TTL)
    clock.now += TTL + 0.001
    d = await st.claim("c1", "D", ttl=TTL)
    assert d is not None and d.pending is None and d.position == "m2"


async def test_a_send_is_refused_when_too_little_of_the_lease_is_left(
    st: SessionStore, clock: Clock
) -> None:
    await st.add_chat("c1", "{}", "http://x", reserve=TTL)
    a = await st.claim("c1", "A", ttl=TTL)
    assert a is not None
    clock.now += TTL - 2
    with pytest.raises(LeaseLost):
        await st.record_send("c1", a.token, "m1", 0, "hi", send_margin=3)
    await st.record_send("c1", a.token, "m1", 0, "hi", send_margin=1)


async def test_finish_removes_the_chat(st: SessionStore, clock: Clock) -> None:
    await workers(st, "A")
    await st.add_chat("c1", "{}", "http://x", reserve=TTL)
    a = await st.claim("c1", "A", ttl=TTL)
    assert a is not None
    await st.finish("c1", "A", a.token)
    status = await st.status()
    assert status.chats == ()
    assert [(w.worker_id, w.chats, w.alive) for w in status.workers] == [("A", 0, True)]
    assert status.counters["finished"] == 1
    assert await st.claim("c1", "B", ttl=TTL) is None  # gone
    with pytest.raises(ValueError, match="already"):
        await st.add_chat("c2", "{}", "http://x", reserve=TTL)
        await st.add_chat("c2", "{}", "http://x", reserve=TTL)


async def test_commits_made_together_are_each_fenced_on_their_own(
    st: SessionStore, clock: Clock
) -> None:
    tokens = {}
    for i in range(6):
        await st.add_chat(f"c{i}", "{}", "http://x", reserve=TTL)
        claim = await st.claim(f"c{i}", "A", ttl=TTL)
        assert claim is not None
        tokens[f"c{i}"] = claim.token
    tokens["c3"] += 7  # a stale token among them
    results = await asyncio.gather(
        *(st.commit(cid, tok, progress(f"m-{cid}"), ttl=TTL) for cid, tok in tokens.items()),
        return_exceptions=True,
    )
    assert [type(r).__name__ for r in results] == ["NoneType"] * 3 + ["LeaseLost"] + [
        "NoneType"
    ] * 2
    clock.now += TTL + 0.001
    for cid in tokens:
        claim = await st.claim(cid, "B", ttl=TTL)
        assert claim is not None
        assert claim.position == (None if cid == "c3" else f"m-{cid}")


async def test_a_dead_worker_leaves_the_status_a_few_leases_after_its_last_heartbeat(
    st: SessionStore, clock: Clock
) -> None:
    # Failed before: a dead worker stayed in `status` for ever (alive: False).
    await workers(st, "dead", "live")
    clock.now += TTL + 1
    assert await st.renew("live", {}, ttl=TTL) == set()
    assert {w.worker_id: w.alive for w in (await st.status()).workers} == {
        "dead": False,
        "live": True,
    }  # dead one lease ago: still listed
    clock.now += PRUNE_LEASES * TTL
    assert await st.renew("live", {}, ttl=TTL) == set()
    assert [w.worker_id for w in (await st.status()).workers] == ["live"]


async def test_a_store_that_lost_nothing_restores_nothing(st: SessionStore) -> None:
    await workers(st, "A")
    assert await st.restore("A", [], ttl=TTL) is None

"""The Redis store's commit batches: commits made together go out as one script call that
checks each commit's token on its own (a pipeline of one script per commit cost the
client about as much as the events it committed, benchmarks/fleet.py)."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from fleet_support import Clock
from redis_support import redis_store_at

from webchat_async.worker import LeaseLost, Progress, _redis

if TYPE_CHECKING:
    from webchat_async.worker import RedisStore

TTL = 10.0


async def _evalsha_calls(store: RedisStore) -> int:
    stats = await store.client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_a_burst_of_commits_is_one_script_call_each_fenced_on_its_own(
    redis_url: str, key_prefix: str
) -> None:
    clock = Clock()
    async with redis_store_at(redis_url, key_prefix, clock) as store:
        tokens = {}
        for i in range(_redis._MAX_BATCH + 100):
            cid = f"c{i}"
            await store.add_chat(cid, "{}", "http://x", reserve=TTL)
            claim = await store.claim(cid, "A", ttl=TTL)
            assert claim is not None
            tokens[cid] = claim.token
        stale = {"c7", "c150", f"c{_redis._MAX_BATCH + 99}"}
        for cid in stale:
            tokens[cid] += 1
        before_calls, before_trips = await _evalsha_calls(store), store.round_trips
        results = await asyncio.gather(
            *(
                store.commit(
                    cid,
                    token,
                    Progress(
                        saved=f'{{"at":"{cid}"}}',
                        position=f"m-{cid}",
                        outstanding=("s",),
                        failed=cid in ("c1", "c7"),  # c7 is stale: not counted
                    ),
                    ttl=TTL,
                )
                for cid, token in tokens.items()
            ),
            return_exceptions=True,
        )
        # One call per _MAX_BATCH commits (a bounded command however many are busy).
        assert await _evalsha_calls(store) - before_calls == 2
        assert store.round_trips - before_trips == 2
        for (cid, _), result in zip(tokens.items(), results, strict=True):
            assert isinstance(result, LeaseLost) if cid in stale else result is None, cid
        status = await store.status()
        assert status.counters["handled"] == len(tokens) - 3
        assert status.counters["handler_errors"] == 1

        clock.now += TTL + 0.001
        for cid in ("c0", "c7", f"c{_redis._MAX_BATCH + 50}", f"c{_redis._MAX_BATCH + 99}"):
            claim = await store.claim(cid, "B", ttl=TTL)
            assert claim is not None
            if cid in stale:
                assert (claim.position, claim.saved, claim.outstanding) == (None, "{}", ())
            else:
                assert claim.position == f"m-{cid}" and claim.saved == f'{{"at":"{cid}"}}'
                assert claim.outstanding == ("s",)


async def test_commits_with_different_lease_lengths_each_get_their_own(
    redis_url: str, key_prefix: str
) -> None:
    clock = Clock()
    async with redis_store_at(redis_url, key_prefix, clock) as store:
        for cid in ("short", "long"):
            await store.add_chat(cid, "{}", "http://x", reserve=TTL)
            assert await store.claim(cid, "A", ttl=TTL) is not None
        await asyncio.gather(
            store.commit("short", 1, Progress(saved="{}", position="m1"), ttl=1.0),
            store.commit("long", 1, Progress(saved="{}", position="m1"), ttl=100.0),
        )
        clock.now += 2.0
        assert await store.claim("short", "B", ttl=TTL) is not None
        assert await store.claim("long", "B", ttl=TTL) is None


async def test_a_commit_after_the_scripts_were_flushed_loads_its_script_again(
    redis_url: str, key_prefix: str
) -> None:
    async with redis_store_at(redis_url, key_prefix) as store:
        await store.add_chat("c", "{}", "http://x", reserve=TTL)
        claim = await store.claim("c", "A", ttl=TTL)
        assert claim is not None
        await store.client.script_flush()
        await store.commit("c", claim.token, Progress(saved="{}", position="m1"), ttl=TTL)
        status = await store.status()
        assert status.counters["handled"] == 1

"""REST faults under a live session: 429s with Retry-After, 5xx bursts, responses too slow.

The rule under test (``webchat_async._http``): a message ``POST`` is retried only where the
server certainly did not act (429, 503, no connection), so a message is never stored twice;
where the outcome is unknown (502/504/500, a timeout) the caller gets the error. The test
keeps the outcome of every ``send_message`` and checks it against what the simulator
stored and what the stream echoed: ok means stored once; an error means stored at most
once and never silently; nothing is ever stored twice.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter

import httpx
from chaos_support import Tracker, figures, start

from webchat_async._http import Retry
from webchat_async.api import WebChatApi
from webchat_async.errors import ApiTimeoutError, ServerError
from webchat_async.models import BodyType
from webchat_async.simulator import Simulator

#: Client read timeout, and the server's hold on "slow" responses (well past it).
READ_TIMEOUT = 0.25
SLOW = 0.6
RETRY_AFTER = 0.25


class Sleeps:
    """The retry ``sleep``: records each delay and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_every_send_lands_at_most_once_and_every_failure_surfaces(
    sim: Simulator, scale: int
) -> None:
    rng = random.Random(429)
    sleeps = Sleeps()
    api = WebChatApi(
        base_url=sim.base_url,
        retry=Retry(backoff_factor=0, jitter=0, sleep=sleeps),
        max_retries=12,
        timeout=httpx.Timeout(5.0, read=READ_TIMEOUT),
    )
    outcome: dict[str, str] = {}
    retried_503 = retried_get = 0
    sends_after_503: list[str] = []

    async with api, start(sim, api=api) as session, Tracker(session) as tracker:
        cid, guest = session.conversation_id, session.member_id
        await sim.wait_routed(cid)
        # From here on the reader is idle: only this test sends REST requests.
        await tracker.wait_greeted()
        path = f"/api/v2/webchat/guest/conversations/{cid}/members/{guest}/messages"

        async def send(body: str) -> None:
            try:
                await session.send_message(body)
            except ApiTimeoutError:
                outcome[body] = "timeout"
            except ServerError as exc:
                outcome[body] = f"error {exc.status}"
            else:
                outcome[body] = "ok"

        # 1. 30% of the API answers are 429 with Retry-After.
        sim.faults.rate_limit(fraction=0.3, retry_after=RETRY_AFTER)
        for i in range(300 * scale):
            await send(f"rate {i}")
        sim.faults.clear()

        # 2. Bursts of 5xx: 503 is retried; 500/502/504 are ambiguous for a POST.
        for b in range(60 * scale):
            kind = rng.choice(["503 burst", "refused", "failed after", "get burst"])
            if kind == "503 burst":
                burst = rng.randint(1, 3)
                sim.faults.server_errors(n=burst, status=503)
                await send(f"burst {b}")
                retried_503 += burst
                sends_after_503.append(f"burst {b}")
            elif kind == "refused":
                sim.faults.server_errors(n=1, status=rng.choice([500, 502, 504]))
                await send(f"burst {b}")
            elif kind == "failed after":
                # Stored, then answered 5xx: the caller must hear of the failure.
                sim.faults.fail_after_processing(n=1, status=rng.choice([500, 502, 504]))
                await send(f"burst {b}")
            else:
                burst = rng.randint(1, 3)
                sim.faults.server_errors(n=burst, status=rng.choice([502, 503, 504]))
                assert [m.id for m in await session.members()]
                retried_get += burst
        sim.faults.clear()

        # 3. Responses held past the read timeout (the server acts after the hold), a
        # few slow ones inside it, and a GET past it (retried: reading twice is harmless).
        for batch in range(scale):
            sim.faults.delay(SLOW, n=5)
            await asyncio.gather(*(send(f"slow {batch}.{j}") for j in range(5)))
        sim.faults.delay(READ_TIMEOUT / 10, n=3)
        for j in range(3):
            await send(f"late but in time {j}")
        sim.faults.delay(SLOW, n=1)
        assert await session.members()
        retried_get += 1
        sim.faults.clear()

        # Timed-out sends may still land (here they do, after the hold): wait for their
        # echoes, then for a last message that follows them on the stream.
        timed_out = [body for body, result in outcome.items() if result == "timeout"]
        await tracker.wait(lambda t: all(body in t.bodies for body in timed_out))
        await send("end")
        await tracker.wait_text("end")

        stored = Counter(
            m.body or ""
            for m in sim.state.conversations[cid].messages
            if m.sender is not None and m.sender.id == guest and m.body_type == BodyType.STANDARD
        )
        echoed = Counter(tracker.texts(guest))
        results = Counter(outcome.values())
        requests = [r for r in sim.state.requests if r.path == path]
        rate_limited = sum(1 for r in requests if r.status == 429)
        figures(
            "CHAOS rest",
            sends=len(outcome),
            posts=len(requests),
            ok=results["ok"],
            rate_limited=rate_limited,
            retried_503=retried_503,
            retried_get=retried_get,
            surfaced_5xx=sum(n for r, n in results.items() if r.startswith("error")),
            timed_out=len(timed_out),
            landed_after_timeout=sum(stored[b] for b in timed_out),
            landed=sum(stored.values()),
            duplicated=sum(n - 1 for n in stored.values() if n > 1),
            lost_silently=sum(1 for b, r in outcome.items() if r == "ok" and stored[b] != 1),
            echoed_twice=sum(1 for n in echoed.values() if n > 1),
        )

        # Nothing stored twice, nothing stored that was not sent, echoed as stored.
        assert max(stored.values()) == 1
        assert set(stored) <= set(outcome)
        assert echoed == stored
        for body, result in outcome.items():
            if result == "ok":
                assert stored[body] == 1, body
            elif body.startswith("burst") and result.startswith("error"):
                # Refused before processing: not stored; failed after: stored once.
                assert stored[body] in (0, 1), body
            else:
                assert result == "timeout" and body.startswith("slow"), (body, result)
        # Every 429 was retried after exactly its Retry-After, and all sends got through.
        assert rate_limited > 0
        assert sleeps.delays.count(RETRY_AFTER) == rate_limited
        assert all(outcome[f"rate {i}"] == "ok" for i in range(300 * scale))
        # A 503 on a POST is sent again only after a read showed the message was not
        # stored (the read's own 503s are retried: it is a GET): one 503 POST per burst.
        assert sum(1 for r in requests if r.status == 503) == len(sends_after_503)
        assert all(outcome[b] == "ok" and stored[b] == 1 for b in sends_after_503)
        # Every ambiguous 5xx and every timeout reached the caller after one POST: the
        # only POSTs beyond one per send are the retries of 429 and 503.
        surfaced = [b for b, r in outcome.items() if r.startswith("error")]
        assert surfaced
        assert len(requests) == len(outcome) + rate_limited + len(sends_after_503)
        assert len(timed_out) == 5 * scale
        assert all(stored[b] == 1 for b in timed_out)  # the simulator acts after the hold
        assert tracker.error is None

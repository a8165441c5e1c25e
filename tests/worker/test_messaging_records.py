"""What the fleet stores for a Web Messaging chat and how it reads it back: the token
sealed like a Web Chat v2 JWT (never in Redis in clear with keys, never in a repr, a log
record or ``status``), the protocol field (old records read as Web Chat v2), the position
(pure, property-tested) and the reply ledger's matching, and the commands' protocol
options."""

from __future__ import annotations

import asyncio
import datetime
import logging
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from test_secrets_at_rest import dump

from webchat_async import WebChatApi
from webchat_async.cli import main
from webchat_async.messaging._models import StructuredMessage
from webchat_async.simulator import Simulator
from webchat_async.worker import Claim, Encryption, Fleet, MemoryStore, RedisStore, Worker
from webchat_async.worker._replay import send_digest
from webchat_async.worker._scripted import OPENING, ScriptedAgent, expected_answers, guest_lines
from webchat_async.worker._wm import (
    MAX_RECENT,
    MessagingPosition,
    MessagingRecord,
    ledger_body,
    made_messaging_sends,
)
from webchat_async.worker.demo import echo

ROOT = Path(__file__).resolve().parents[2]
ORIGIN = "https://bot.example"
T0 = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc)


def message(
    mid: str,
    seconds: float,
    *,
    inbound: bool = False,
    text: str | None = "x",
    client_id: str | None = None,
) -> StructuredMessage:
    return StructuredMessage(
        id=mid,
        type="Text",
        direction="Inbound" if inbound else "Outbound",
        text=text,
        time=T0 + datetime.timedelta(seconds=seconds),
        metadata={"customMessageId": client_id} if client_id else {},
    )


# -- the token: a secret ---------------------------------------------------------------


@pytest.fixture
async def scripted() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    agent = ScriptedAgent(2)
    async with Simulator(port=0, heartbeat_interval=None, agent=agent) as sim:
        agent.bind(sim)
        yield sim


async def test_the_token_is_sealed_in_redis_and_in_no_repr_log_or_status(
    redis_url: str, key_prefix: str, scripted: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    pytest.importorskip("cryptography")
    sim = scripted
    caplog.set_level(logging.DEBUG, logger="webchat_async")
    key = Encryption.generate_key()
    store = RedisStore.from_url(redis_url, prefix=key_prefix, encryption=Encryption([key]))
    token = str(uuid.uuid4())
    try:
        async with WebChatApi(base_url=sim.base_url) as api:
            fleet = Fleet(store, api=api)
            started = await fleet.start_messaging_chat(
                deployment_id=sim.deployment_id, origin=ORIGIN, token=token,
                first_message=OPENING,
            )  # fmt: skip
            cid = sim.messaging_conversation_id(token)
            raw = await store.client.hget(store.keys.chat(started.conversation_id), "saved")
            assert raw.decode().startswith("fernet:")
            assert MessagingRecord.from_json(Encryption([key]).decrypt(raw.decode())).token == (
                token
            )
            async with Worker(echo, store=store, lease=5.0) as worker:
                await sim.wait_ended(cid, 20)
                await worker.wait_for(lambda w: not w.chats, timeout=20)
                seen = " ".join(text for _, text in (await dump(store)).values())
                status = await store.status()
            assert guest_lines(sim, cid) == expected_answers(2)
    finally:
        keys = [k async for k in store.client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await store.client.delete(*keys)
        await store.aclose()
    assert token not in seen
    assert token not in repr(status) and token not in repr(started)
    claim = Claim(conversation_id="c", token=1, saved=MessagingRecord(
        token=token, deployment_id="d", origin=ORIGIN, base_url="http://x").to_json(),
        base_url="http://x", protocol="messaging")  # fmt: skip
    assert token not in repr(claim)
    assert token not in repr(MessagingRecord(token=token, deployment_id="d", origin=ORIGIN,
                                             base_url="http://x"))  # fmt: skip
    for record in caplog.records:
        assert token not in record.getMessage()
        assert token not in repr(record.args)


async def test_a_record_without_a_protocol_reads_as_web_chat_v2(
    redis_store: RedisStore,
) -> None:
    st_ = redis_store
    await st_.add_chat("old", "{}", "http://x", reserve=30)
    await st_.add_chat("new", "{}", "http://x", reserve=30, protocol="messaging")
    await st_.client.hdel(st_.keys.chat("old"), "proto")  # as a worker before issue 21 wrote it
    await st_.register("w1", ttl=30, concurrency=5, host="h", pid=7)
    old = await st_.claim("old", "w1", ttl=30)
    new = await st_.claim("new", "w1", ttl=30)
    assert old is not None and new is not None
    assert (old.protocol, new.protocol) == ("webchat", "messaging")
    status = await st_.status()
    assert {c.conversation_id: c.protocol for c in status.chats} == {
        "old": "webchat",
        "new": "messaging",
    }


async def test_a_messaging_record_is_kept_by_commits_and_written_back_whole(
    redis_store: RedisStore,
) -> None:
    # A Web Messaging commit writes no record (it never changes): the stored one stays.
    from webchat_async.worker import Progress

    record = MessagingRecord(token="t0k3n", deployment_id="d", origin=ORIGIN, base_url="http://x")
    for st_ in (redis_store, MemoryStore()):
        await st_.add_chat("c", record.to_json(), "http://x", reserve=30, protocol="messaging")
        claim = await st_.claim("c", "w1", ttl=30)
        assert claim is not None
        await st_.commit("c", claim.token, Progress(saved="", position="p"), ttl=30)
        await st_.release("c", "w1", claim.token, reserve=30)
        again = await st_.claim("c", "w2", ttl=30)
        assert again is not None
        assert MessagingRecord.from_json(again.saved) == record
        assert (again.position, again.protocol) == ("p", "messaging")


# -- the commands ------------------------------------------------------------------------


def test_the_demo_runs_chats_of_both_protocols_on_one_worker() -> None:
    pytest.importorskip("aiohttp")
    out = subprocess.run(
        [sys.executable, "-m", "webchat_async", "worker", "webchat_async.worker.demo:echo",
         "--demo", "4", "--demo-lines", "3", "--protocol", "mixed"],
        capture_output=True, text=True, cwd=ROOT, timeout=120, check=True,
        env={"PATH": "/usr/bin:/bin"},  # no WEBCHAT_REDIS_URL: the store in memory
    ).stdout  # fmt: skip
    assert "4 chats (mixed) of 3 lines" in out
    assert "demo: 4 of 4 chats answered exactly once, line by line" in out


def test_protocol_is_an_option_of_the_demo(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "webchat_async.worker.demo:echo", "--protocol", "messaging"]) == 2
    assert "--protocol sets the protocol of --demo's chats" in capsys.readouterr().err


async def test_status_has_a_protocol_column(redis_store: RedisStore, redis_url: str) -> None:
    st_ = redis_store
    await st_.register("w1", ttl=30, concurrency=5, host="h", pid=7)
    await st_.add_chat("c-web", "{}", "http://x", reserve=30)
    await st_.add_chat("c-wm", '{"token":"s3cret-token"}', "http://x", reserve=30,
                       protocol="messaging")  # fmt: skip
    command = [sys.executable, "-m", "webchat_async", "status", "--redis", redis_url,
               "--prefix", st_.keys.prefix]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    rows = {line.split()[0]: line.split() for line in done.stdout.splitlines() if line}
    assert "protocol" in rows["chat"]
    assert "messaging" in rows["c-wm"] and "webchat" in rows["c-web"]
    assert "chats: 2 listed (messaging 1, webchat 1)" in done.stdout
    assert "s3cret-token" not in done.stdout


# -- the position (pure) -----------------------------------------------------------------

times = st.floats(min_value=0, max_value=100, allow_nan=False)


@given(st.lists(times, min_size=1, max_size=300), st.floats(min_value=0, max_value=20))
def test_a_handled_message_is_never_new_and_a_later_one_always_is(
    stamps: list[float], overlap: float
) -> None:
    position = MessagingPosition(overlap)
    handled = [message(f"m{i}", t) for i, t in enumerate(stamps)]
    for m in handled:
        position.advance(m)
        assert not position.is_new(m)
        assert len(position.recent) <= MAX_RECENT
    read = MessagingPosition.from_text(position.to_text(), overlap=99.0)
    newest = max(stamps)
    for m in handled:
        assert not read.is_new(m)  # a repeat (live and from the history) is handled once
    # Anything stamped at or after the newest one handled, never seen, is new.
    assert read.is_new(message("later", newest))
    assert read.is_new(message("later2", newest + 0.5))
    assert read.overlap == overlap


@given(st.lists(times, min_size=1, max_size=100, unique=True), st.data())
def test_a_late_message_within_the_overlap_is_still_new(
    stamps: list[float], data: st.DataObject
) -> None:
    position = MessagingPosition(10.0)
    for i, t in enumerate(stamps):
        position.advance(message(f"m{i}", t))
    late = data.draw(st.floats(min_value=max(stamps) - 9.99, max_value=max(stamps)))
    assert position.is_new(message("late", late))  # came after newer ones: handled once


def test_an_unreadable_position_is_a_value_error() -> None:
    for text in ("{", '{"v":2}', '{"v":1,"n":"not a time"}', "[]"):
        with pytest.raises(ValueError, match="cannot be read"):
            MessagingPosition.from_text(text, 10.0)
    assert MessagingPosition.from_text(None, 3.0).floor is None


def test_a_record_needs_its_fields_and_names_none_of_their_values() -> None:
    good = MessagingRecord(token="t", deployment_id="d", origin=ORIGIN, region="eu-west-1")
    assert MessagingRecord.from_json(good.to_json()) == good
    for text in ("{", "{}", '{"protocol":"messaging","token":"s3cret"}'):
        with pytest.raises(ValueError) as caught:
            MessagingRecord.from_json(text)
        assert "s3cret" not in str(caught.value)


# -- the reply ledger (pure) -------------------------------------------------------------


def test_a_send_is_found_by_its_client_id_when_the_history_keeps_metadata() -> None:
    bodies = [ledger_body("c1", send_digest("k", "hi")), ledger_body("c2", send_digest("k", "hi"))]
    history = [message("g1", 5, inbound=True, text="hi", client_id="c1"),
               message("g0", 1, inbound=True, text="hi", client_id="other")]  # fmt: skip
    made = made_messaging_sends(bodies, history, lambda m: True, (), lambda t: send_digest("k", t))
    # The same text, another client id: not this send (metadata kept: absent = not stored).
    assert [m.id if m else None for m in made] == ["g1", None]


def test_without_metadata_a_send_is_matched_by_its_text_after_the_position() -> None:
    bodies = [ledger_body("c1", send_digest("k", "hi")), ledger_body("c2", send_digest("k", "yo"))]
    position = MessagingPosition(10.0)
    position.advance(message("a1", 10))
    history = [
        message("g-old", -5, inbound=True, text="hi"),  # before the window: handled
        message("g-out", 11, inbound=True, text="hi"),  # a committed send (outstanding)
        message("g-new", 12, inbound=True, text="hi"),
    ]
    made = made_messaging_sends(
        bodies, history, position.is_new, ["g-out"], lambda t: send_digest("k", t)
    )
    assert [m.id if m else None for m in made] == ["g-new", None]


async def test_a_fleet_on_a_regions_api_opens_web_messaging_on_that_regions_hosts() -> None:
    # Failed before: a Fleet given api=WebChatApi(region=...) stored the API's base URL
    # (https://api.<domain>) as the Web Messaging base: the websocket went to the API
    # host, not webmessaging.<domain>.
    from webchat_async.worker._fleet import _messaging_location

    async with WebChatApi(region="eu-west-1") as api:
        assert _messaging_location(None, None, api) == ("mypurecloud.ie", None)
        assert _messaging_location("eu-west-1", None, api) == ("eu-west-1", None)
    async with WebChatApi(base_url="http://127.0.0.1:9") as api:
        assert _messaging_location(None, None, api) == (None, "http://127.0.0.1:9")
        assert _messaging_location(None, "http://127.0.0.1:9", api) == (
            None,
            "http://127.0.0.1:9",
        )


async def test_a_messaging_record_no_session_can_be_made_of_is_given_up_not_fatal() -> None:
    # Failed before: the ValueError of MessagingSession.start (an unknown region) reached
    # the worker's driver, which stopped the whole worker.
    store = MemoryStore()
    bad = MessagingRecord(token="t0k3n", deployment_id="d", origin=ORIGIN, region="nowhere-9")
    async with Worker(echo, store=store, lease=30.0, scan_interval=0.01) as worker:
        await store.add_chat("c", bad.to_json(), "http://127.0.0.1:9", reserve=1,
                             protocol="messaging")  # fmt: skip
        await worker.wait_for(lambda w: store.counters["given_up"] == 1, timeout=20)
        status = await store.status()
    assert status.chats == ()
    assert "cannot be read" in status.given_up["c"]

"""Secrets at rest (issue 22, item 9): every key the Redis store writes expires, the guest
credentials are encrypted under the user's keys, a plaintext or remote Redis warns, and the
send ledger keeps digests, not guest texts."""

from __future__ import annotations

import argparse
import base64
import warnings
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import attrs
import pytest
from fleet_support import EchoRecorder, guest_texts
from hypothesis import given
from hypothesis import strategies as st
from redis_support import redis_store_at

from webchat_async import GuestMemberInfo, SavedSession, WebChatApi
from webchat_async._inbound import Position
from webchat_async._saved import SavedJson
from webchat_async.models import WebChatMemberInfo, WebChatMessage
from webchat_async.simulator import Agent, Simulator
from webchat_async.worker import (
    DecryptionError,
    Encryption,
    Fleet,
    InsecureStoreWarning,
    MemoryStore,
    Progress,
    RedisStore,
    Worker,
)
from webchat_async.worker._cli import _store
from webchat_async.worker._replay import made_sends, send_digest

if TYPE_CHECKING:
    from collections.abc import Callable

pytest.importorskip("cryptography")

LEASE = 5.0
RETENTION = 60.0
JWT = (
    base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').decode().rstrip("=")
    + "."
    + base64.urlsafe_b64encode(b'{"sub":"guest-1","exp":9999999999}').decode().rstrip("=")
    + ".c2lnbmF0dXJlLXBhcnQtb2YtdGhlLWp3dA"
)
STREAM = "wss://streaming.example/stream?jwt=" + JWT


def saved_session(cid: str = "chat-1") -> SavedSession:
    return SavedSession(
        conversation_id=cid,
        member_id="member-1",
        jwt=JWT,
        event_stream_uri=STREAM,
        base_url="http://127.0.0.1:9",
    )


async def dump(store: RedisStore) -> dict[str, tuple[int, str]]:
    """Every key under the store's prefix: its PTTL and all it holds, as one text."""
    client = store.client
    out: dict[str, tuple[int, str]] = {}
    async for raw in client.scan_iter(match=f"{store.keys.prefix}*"):
        key = raw.decode()
        kind = (await client.type(key)).decode()
        value: Any
        if kind == "hash":
            value = await client.hgetall(key)
        elif kind == "zset":
            value = await client.zrange(key, 0, -1, withscores=True)
        elif kind == "set":
            value = await client.smembers(key)
        elif kind == "list":
            value = await client.lrange(key, 0, -1)
        elif kind == "stream":
            value = await client.xrange(key)
        else:
            value = await client.get(key)
        out[key] = (int(await client.pttl(key)), repr(value))
    return out


def no_secret_in(text: str) -> None:
    for part in (JWT, STREAM, *JWT.split(".")):
        assert part not in text


@pytest.fixture
async def sim() -> AsyncIterator[Simulator]:
    pytest.importorskip("aiohttp")
    async with Simulator(port=0, heartbeat_interval=None, agent=Agent(greeting="hi")) as s:
        yield s


# -- expiry ---------------------------------------------------------------------------------


async def test_every_key_expires_and_a_held_chat_outlives_its_lease(
    redis_url: str, key_prefix: str, sim: Simulator
) -> None:
    store = RedisStore.from_url(redis_url, prefix=key_prefix, retention=RETENTION)
    lease_ms, retention_ms = int(LEASE * 1000), int(RETENTION * 1000)
    try:
        echo = EchoRecorder()
        async with WebChatApi(base_url=sim.base_url) as api:
            fleet = Fleet(store, api=api)
            async with Worker(echo, store=store, lease=LEASE) as worker:
                cids = [
                    (
                        await fleet.start_chat(
                            organization_id=sim.organization_id,
                            deployment_id=sim.deployment_id,
                            member_info=GuestMemberInfo(display_name="Bot"),
                        )
                    ).conversation_id
                    for _ in range(2)
                ]
                await echo.wait(lambda: all(guest_texts(sim, c) == ["echo: hi"] for c in cids))
                await worker.renew()
                held = await dump(store)
                await sim.agent_end(cids[0])
                await worker.wait_for(lambda w: cids[0] not in w.chats, timeout=20)
            # The worker stopped: the other chat was released (nobody to hand it to).
            after = await dump(store)
    finally:
        keys = [k async for k in store.client.scan_iter(match=f"{key_prefix}*")]
        if keys:
            await store.client.delete(*keys)
        await store.aclose()
    for key, (pttl, _) in {**held, **after}.items():
        assert pttl > 0, f"{key} has no expiry ({pttl})"
    for cid in cids:
        # Held: the chat's hash lives past the end of its lease by the retention, so the
        # next renewal (a third of a lease later) always comes first.
        assert lease_ms < held[store.keys.chat(cid)][0] <= lease_ms + retention_ms
    worker_keys = [k for k in held if ":worker:" in k or ":owned:" in k or ":inbox:" in k]
    assert worker_keys
    for key in worker_keys:
        assert held[key][0] <= lease_ms  # gone a lease after the last heartbeat
    assert store.keys.chat(cids[0]) not in after  # finished: deleted at once
    assert 0 < after[store.keys.chat(cids[1])][0] <= lease_ms + retention_ms


async def test_renewals_and_commits_push_the_expiry_of_a_held_chat_on(
    redis_url: str, key_prefix: str
) -> None:
    async with redis_store_at(redis_url, key_prefix) as base:
        store = RedisStore(base.client, prefix=key_prefix, retention=RETENTION)
        key = store.keys.chat("c1")
        floor = int((LEASE + RETENTION) * 1000) - 5000  # the script's own time, generously
        await store.add_chat("c1", saved_session("c1").to_json(), "http://x", reserve=LEASE)
        claim = await store.claim("c1", "A", ttl=LEASE)
        assert claim is not None
        for step in ("renew", "send", "commit"):
            # As if most of the retention had passed without a write.
            await store.client.pexpire(key, 1000)
            if step == "renew":
                assert await store.renew("A", {"c1": claim.token}, ttl=LEASE) == set()
            elif step == "send":
                await store.record_send("c1", claim.token, "m1", 0, "d", send_margin=0)
                assert await store.client.pttl(key) <= 1000  # a send does not extend it
                continue
            else:
                progress = Progress(saved=claim.saved, position="m1")
                await store.commit("c1", claim.token, progress, ttl=LEASE)
            assert await store.client.pttl(key) >= floor, step


async def test_a_chat_that_expired_is_dropped_from_the_leases_at_its_next_claim(
    redis_url: str, key_prefix: str
) -> None:
    async with redis_store_at(redis_url, key_prefix) as store:
        await store.add_chat("c1", "{}", "http://x", reserve=LEASE)
        await store.client.delete(store.keys.chat("c1"))  # what its expiry does
        assert await store.claim("c1", "A", ttl=LEASE) is None
        assert await store.client.zscore(store.keys.leases, "c1") is None
        assert (await store.scan(10)).total == 0


def test_retention_must_be_positive() -> None:
    with pytest.raises(ValueError, match="retention"):
        RedisStore.from_url("redis://127.0.0.1:1/0", retention=0)


# -- encryption -----------------------------------------------------------------------------


async def test_a_worker_with_the_key_resumes_a_chat_whose_secrets_redis_never_sees(
    redis_url: str, key_prefix: str, sim: Simulator
) -> None:
    key = Encryption.generate_key()
    fleet_store = RedisStore.from_url(redis_url, prefix=key_prefix, encryption=Encryption([key]))
    worker_store = RedisStore.from_url(redis_url, prefix=key_prefix, encryption=Encryption([key]))
    try:
        async with WebChatApi(base_url=sim.base_url) as api:
            started = await Fleet(fleet_store, api=api).start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Bot"),
            )
            cid = started.conversation_id
            raw = (await fleet_store.client.hget(fleet_store.keys.chat(cid), "saved")).decode()
            stored = SavedSession.from_json(raw)
            jwt = Encryption([key]).decrypt(stored.jwt)
            stream = Encryption([key]).decrypt(stored.event_stream_uri)
            echo = EchoRecorder()
            async with Worker(echo, store=worker_store, lease=LEASE):
                await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
                await sim.agent_say(cid, "one")
                await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi", "echo: one"])
                everything = " ".join(text for _, text in (await dump(worker_store)).values())
    finally:
        for store in (fleet_store, worker_store):
            keys = [k async for k in store.client.scan_iter(match=f"{key_prefix}*")]
            if keys:
                await store.client.delete(*keys)
            await store.aclose()
    assert jwt.count(".") == 2
    for part in (jwt, stream, *jwt.split(".")):
        assert part not in everything
    assert "fernet:" in everything
    assert "echo: one" not in everything  # the send ledger holds digests


async def test_the_stored_secrets_are_ciphertext_and_read_back_in_clear(
    redis_url: str, key_prefix: str
) -> None:
    encryption = Encryption([Encryption.generate_key()])
    async with redis_store_at(redis_url, key_prefix) as base:
        store = RedisStore(base.client, prefix=key_prefix, encryption=encryption)
        await store.add_chat("c1", saved_session("c1").to_json(), "http://x", reserve=LEASE)
        claim = await store.claim("c1", "A", ttl=LEASE)
        assert claim is not None
        assert SavedSession.from_json(claim.saved) == saved_session("c1")
        template = SavedJson(store.seal_saved(SavedSession.from_json(claim.saved)))
        await store.record_send("c1", claim.token, "m1", 0, send_digest("c1", "x"), send_margin=0)
        everything = " ".join(text for _, text in (await dump(store)).values())
        no_secret_in(everything)
        position = Position("m1", None, ())
        progress = Progress(saved=template.at(position), position="m1")
        await store.commit("c1", claim.token, progress, ttl=LEASE)
        everything = " ".join(text for _, text in (await dump(store)).values())
        no_secret_in(everything)
        await store.release("c1", "A", claim.token, reserve=LEASE)
        again = await store.claim("c1", "B", ttl=LEASE)
        assert again is not None
        assert SavedSession.from_json(again.saved) == attrs.evolve(
            saved_session("c1"), last_message_id="m1"
        )


async def test_a_text_that_is_not_a_saved_session_is_encrypted_whole(
    redis_url: str, key_prefix: str
) -> None:
    encryption = Encryption([Encryption.generate_key()])
    async with redis_store_at(redis_url, key_prefix) as base:
        store = RedisStore(base.client, prefix=key_prefix, encryption=encryption)
        await store.add_chat("c1", f'{{"odd":"{JWT}"}}', "http://x", reserve=LEASE)
        no_secret_in(" ".join(text for _, text in (await dump(store)).values()))
        claim = await store.claim("c1", "A", ttl=LEASE)
        assert claim is not None and claim.saved == f'{{"odd":"{JWT}"}}'


@pytest.mark.parametrize("reader", ["other key", "no key"])
async def test_a_wrong_or_missing_key_is_a_clear_error_without_key_or_data(
    redis_url: str, key_prefix: str, reader: str
) -> None:
    right, wrong = Encryption.generate_key(), Encryption.generate_key()
    async with redis_store_at(redis_url, key_prefix) as base:
        writer = RedisStore(base.client, prefix=key_prefix, encryption=Encryption([right]))
        await writer.add_chat("c1", saved_session("c1").to_json(), "http://x", reserve=LEASE)
        raw = (await base.client.hget(base.keys.chat("c1"), "saved")).decode()
        encryption = Encryption([wrong]) if reader == "other key" else None
        store = RedisStore(base.client, prefix=key_prefix, encryption=encryption)
        with pytest.raises(DecryptionError) as caught:
            await store.claim("c1", "A", ttl=LEASE)
    text = str(caught.value) + repr(caught.value)
    assert "decrypt" in text or "encryption keys" in text
    for secret in (right, wrong, *SavedSession.from_json(raw).jwt.split(":")[1:]):
        assert secret not in text
    no_secret_in(text)


async def test_rotation_reads_the_old_key_and_rewrites_under_the_new_one(
    redis_url: str, key_prefix: str
) -> None:
    old, new = Encryption.generate_key(), Encryption.generate_key()
    async with redis_store_at(redis_url, key_prefix) as base:
        before = RedisStore(base.client, prefix=key_prefix, encryption=Encryption([old]))
        await before.add_chat("c1", saved_session("c1").to_json(), "http://x", reserve=LEASE)
        # Written before any key was set: read as it is, sealed at the next write.
        plain = RedisStore(base.client, prefix=key_prefix)
        await plain.add_chat("c2", saved_session("c2").to_json(), "http://x", reserve=LEASE)
        after = RedisStore(base.client, prefix=key_prefix, encryption=Encryption([new, old]))
        for cid in ("c1", "c2"):
            claim = await after.claim(cid, "A", ttl=LEASE)
            assert claim is not None
            saved = SavedSession.from_json(claim.saved)
            assert saved == saved_session(cid)
            template = SavedJson(after.seal_saved(saved))
            progress = Progress(saved=template.at(Position("m1", None, ())), position="m1")
            await after.commit(cid, claim.token, progress, ttl=LEASE)
            raw = SavedSession.from_json(
                (await base.client.hget(base.keys.chat(cid), "saved")).decode()
            )
            assert Encryption([new]).decrypt(raw.jwt) == JWT
            with pytest.raises(DecryptionError):
                Encryption([old]).decrypt(raw.jwt)


async def test_keys_are_checked_and_never_shown() -> None:
    key = Encryption.generate_key()
    encryption = Encryption([key, Encryption.generate_key()])
    assert repr(encryption) == "<Encryption keys=2>"
    assert key not in repr(encryption)
    bad = key[:-4] + "!!!!"
    with pytest.raises(ValueError, match="encryption key 2 is not a Fernet key") as caught:
        Encryption([key, bad])
    assert bad not in str(caught.value)
    with pytest.raises(TypeError):
        Encryption(key)
    with pytest.raises(ValueError):
        Encryption([])
    store = RedisStore.from_url("redis://127.0.0.1:1/0", encryption=encryption)
    try:
        assert key not in repr(store) and "secrets=encrypted" in repr(store)
        assert store.encryption is encryption
    finally:
        await store.aclose()


# -- plaintext Redis off the loopback (no test connects: from_url sends nothing) ---------------


@pytest.mark.parametrize(
    ("url", "keys", "expected"),
    [
        ("redis://10.1.2.3:6379/0", True, ["plaintext redis://"]),
        ("redis://redis.internal:6379/0", False, ["plaintext redis://", "unencrypted"]),
        ("rediss://redis.internal:6379/0", False, ["unencrypted"]),
        ("rediss://:pw@redis.internal:6379/0", True, []),
        ("redis://127.0.0.1:6379/0", False, []),
        ("redis://localhost:6379/0", False, []),
        ("redis://[::1]:6379/0", False, []),
        ("unix:///tmp/redis.sock", False, []),
    ],
)
async def test_a_plaintext_or_unencrypted_redis_on_another_host_warns(
    url: str, keys: bool, expected: list[str]
) -> None:
    encryption = Encryption([Encryption.generate_key()]) if keys else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        store = RedisStore.from_url(url, encryption=encryption)
    await store.aclose()
    messages = [str(w.message) for w in caught if issubclass(w.category, InsecureStoreWarning)]
    if not expected:
        assert messages == []
        return
    assert len(messages) == 1
    for phrase in expected:
        assert phrase in messages[0]
    assert ("rediss://" in messages[0]) == ("plaintext redis://" in expected)
    assert "pw" not in messages[0] and "redis.internal" not in messages[0]


async def test_the_worker_command_passes_the_keys_and_the_warning_through(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = Encryption.generate_key()
    monkeypatch.setenv("WEBCHAT_ENCRYPTION_KEYS", f" {key} , ")
    args = argparse.Namespace(redis="redis://10.9.8.7:6379/0", prefix="webchat:")
    with pytest.warns(InsecureStoreWarning, match="plaintext redis://") as caught:
        store = _store(args)
    try:
        assert isinstance(store, RedisStore) and store.encryption is not None
        assert all("unencrypted" not in str(w.message) for w in caught)
    finally:
        await store.aclose()
    monkeypatch.delenv("WEBCHAT_ENCRYPTION_KEYS")
    args = argparse.Namespace(redis="redis://127.0.0.1:6379/0", prefix="webchat:")
    store = _store(args)
    try:
        assert isinstance(store, RedisStore) and store.encryption is None
    finally:
        await store.aclose()


# -- the send ledger ------------------------------------------------------------------------


class RecordingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.recorded: list[str] = []

    async def record_send(self, *args: Any, **kwargs: Any) -> None:
        self.recorded.append(args[4])
        await super().record_send(*args, **kwargs)


async def test_the_ledger_records_a_digest_of_each_send_not_its_text(sim: Simulator) -> None:
    store = RecordingStore()
    echo = EchoRecorder()
    async with WebChatApi(base_url=sim.base_url) as api:
        fleet = Fleet(store, api=api)
        async with Worker(echo, store=store, lease=LEASE):
            started = await fleet.start_chat(
                organization_id=sim.organization_id,
                deployment_id=sim.deployment_id,
                member_info=GuestMemberInfo(display_name="Bot"),
            )
            cid = started.conversation_id
            await echo.wait(lambda: guest_texts(sim, cid) == ["echo: hi"])
    assert store.recorded == [send_digest(cid, "echo: hi")]
    assert "echo" not in store.recorded[0]


def message(mid: str, body: str) -> WebChatMessage:
    return WebChatMessage(id=mid, body=body, sender=WebChatMemberInfo(id="guest"))


@given(
    bodies=st.lists(st.sampled_from(["ok", "yes", "no", "\udcff"]), max_size=6),
    landed=st.lists(st.sampled_from(["ok", "yes", "no", "\udcff"]), max_size=6),
)
def test_matching_digests_finds_what_matching_texts_finds(
    bodies: list[str], landed: list[str]
) -> None:
    candidates = [message(str(i), text) for i, text in enumerate(landed)]
    digest: Callable[[str], str] = lambda text: send_digest("c1", text)  # noqa: E731
    by_text = made_sends(bodies, candidates)
    by_digest = made_sends([digest(b) for b in bodies], candidates, digest)
    assert by_digest == by_text
    # A body an older worker recorded in clear is still matched.
    assert made_sends(bodies, candidates, digest) == by_text


def test_digests_are_salted_by_the_conversation() -> None:
    assert send_digest("c1", "yes") != send_digest("c2", "yes")
    assert send_digest("c1", "yes").startswith("sha256:")

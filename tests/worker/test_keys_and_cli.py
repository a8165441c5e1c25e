"""The Redis key layout (documented in ``worker/_keys.py``) and the fleet's commands."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest

from webchat_async.cli import main
from webchat_async.worker import RedisStore
from webchat_async.worker._keys import Keys

ROOT = Path(__file__).resolve().parents[2]


def test_every_key_lives_under_the_prefix() -> None:
    keys = Keys("p:")
    names = [keys.chat("c"), keys.leases, keys.workers, keys.worker("w"), keys.owned("w"),
             keys.inbox("w"), keys.stats, keys.log]  # fmt: skip
    assert names == ["p:chat:c", "p:leases", "p:workers", "p:worker:w", "p:owned:w",
                     "p:inbox:w", "p:stats", "p:log"]  # fmt: skip
    with pytest.raises(ValueError):
        Keys("has space")


async def test_the_scripts_write_only_the_documented_keys(redis_store: RedisStore) -> None:
    st = redis_store
    k = st.keys
    await st.register("w1", ttl=30, concurrency=5, host="h", pid=7)
    await st.register("w2", ttl=30, concurrency=5, host="h", pid=8)
    target = await st.add_chat("c1", "{}", "http://x", reserve=30)
    assert target in ("w1", "w2")
    claim = await st.claim("c1", target, ttl=30)
    assert claim is not None
    await st.record_send("c1", claim.token, "m1", 0, "hi", send_margin=1)
    other = await st.release("c1", target, claim.token, reserve=30)
    assert other is not None and other != target
    found = {key.decode() async for key in st.client.scan_iter(match=f"{k.prefix}*")}
    assert found == {k.chat("c1"), k.leases, k.workers, k.worker("w1"), k.worker("w2"),
                     k.inbox(target), k.inbox(other), k.owned(target), k.stats, k.log,
                     k.epoch} - {
        k.owned(target)  # emptied by the release: Redis drops an empty set
    }  # fmt: skip
    chat = await st.client.hgetall(k.chat("c1"))
    assert {f.decode() for f in chat} == {"saved", "base", "owner", "token", "reserved", "pos",
                                          "out", "pev", "psends", "proto"}  # fmt: skip
    assert chat[b"proto"] == b"webchat"  # the protocol, Web Chat v2 unless said
    assert chat[b"reserved"].decode() == other and chat[b"owner"] == b""


async def test_status_lists_workers_chats_and_leases(
    redis_store: RedisStore, redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    st = redis_store
    await st.register("w1", ttl=30, concurrency=5, host="h", pid=7)
    await st.add_chat("c1", '{"jwt":"secret-jwt"}', "http://x", reserve=30)
    claim = await st.claim("c1", "w1", ttl=30)
    assert claim is not None
    # The command runs its own event loop: in a subprocess.
    command = [sys.executable, "-m", "webchat_async", "status", "--redis", redis_url,
               "--prefix", st.keys.prefix]  # fmt: skip
    done = await asyncio.to_thread(
        subprocess.run, command, capture_output=True, text=True, cwd=ROOT, timeout=60, check=True
    )
    out = done.stdout
    assert "workers: 1 live of 1" in out
    assert "w1" in out and "c1" in out and "added=1" in out
    assert "secret-jwt" not in out


def test_worker_refuses_a_handler_that_cannot_be_imported(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["worker", "no.such.module:handler"]) == 2
    assert "cannot import 'no.such.module'" in capsys.readouterr().err


def test_worker_needs_module_colon_handler(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["worker", "webchat_async.worker.demo"]) == 2
    assert "MODULE:HANDLER" in capsys.readouterr().err


def test_the_demo_runs_a_fleet_on_the_simulator_in_memory() -> None:
    pytest.importorskip("aiohttp")
    out = subprocess.run(
        [sys.executable, "-m", "webchat_async", "worker", "webchat_async.worker.demo:echo",
         "--demo", "3", "--demo-lines", "3"],
        capture_output=True, text=True, cwd=ROOT, timeout=60, check=True,
    ).stdout  # fmt: skip
    assert "demo: 3 of 3 chats answered exactly once, line by line" in out


async def test_status_into_a_closed_pipe_ends_quietly(
    redis_store: RedisStore, redis_url: str
) -> None:
    # Failed before: `webchat-async status | head` ended with a BrokenPipeError traceback.
    await redis_store.register("w1", ttl=30, concurrency=5, host="h", pid=7)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line: every write fails
    command = [sys.executable, "-m", "webchat_async", "status", "--redis", redis_url,
               "--prefix", redis_store.keys.prefix]  # fmt: skip
    try:
        done = await asyncio.to_thread(
            subprocess.run, command, stdout=write, stderr=subprocess.PIPE, text=True,
            cwd=ROOT, timeout=60,
        )  # fmt: skip
    finally:
        os.close(write)
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr, done.stderr
    assert done.returncode == 0

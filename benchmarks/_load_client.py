"""One client of the load benchmark, in a process of its own: ``python -m
benchmarks._load_client CLIENT BASE_URL CHATS MESSAGES``.

Sets up ``CHATS`` chats (clients, threads), then lets them all post ``MESSAGES`` messages
each, in turn, at once; prints one JSON line: wall and CPU seconds of the sends alone,
peak RSS of the process, errors. A process per run, so that each client's memory is its
own and no client warms another's caches.

Clients: ``sdk`` (one ``WebChatApi``, ``with_options`` per chat), ``official``
(PureCloudPlatformClientV2: a thread and an ``ApiClient`` per chat, as its docs suggest
for concurrency), ``aiohttp`` (a bare ``aiohttp.ClientSession``: the asyncio floor).
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from ._harness import peak_rss_kib, raise_open_files_limit, rss_kib

__all__ = ["CLIENTS", "main"]

CLIENTS = ("sdk", "official", "aiohttp")

_JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJiZW5jaCJ9.c2lnbmF0dXJl"
_TEXT = "Is anybody there?"


def _path(chat: int) -> str:
    return f"/api/v2/webchat/guest/conversations/c{chat:05d}/members/m{chat:05d}/messages"


async def _sdk(base_url: str, chats: int, messages: int) -> tuple[float, float, int]:
    from webchat_async import WebChatApi
    from webchat_async.models import CreateWebChatMessageRequest

    request = CreateWebChatMessageRequest(body=_TEXT)
    errors = 0
    async with WebChatApi(base_url=base_url, guest_token=_JWT) as api:
        per_chat = [api.with_options(guest_token=f"{_JWT}{i}") for i in range(chats)]
        # One warm-up send: the converter and the pool are built once per process.
        await per_chat[0].post_webchat_guest_conversation_member_messages("c", "m", request)

        async def chat(i: int) -> None:
            nonlocal errors
            client = per_chat[i]
            for _ in range(messages):
                try:
                    await client.post_webchat_guest_conversation_member_messages(
                        f"c{i:05d}", f"m{i:05d}", request
                    )
                except Exception:
                    errors += 1

        cpu, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(chat(i) for i in range(chats)))
        return time.perf_counter() - t0, time.process_time() - cpu, errors


async def _aiohttp(base_url: str, chats: int, messages: int) -> tuple[float, float, int]:
    import aiohttp

    body = json.dumps({"body": _TEXT}, separators=(",", ":")).encode()
    errors = 0
    async with aiohttp.ClientSession() as session:

        async def post(i: int) -> None:
            async with session.post(
                base_url + _path(i),
                data=body,
                headers={"Content-Type": "application/json", "Authorization": f"Bearer {_JWT}"},
            ) as response:
                response.raise_for_status()
                json.loads(await response.read())

        await post(0)

        async def chat(i: int) -> None:
            nonlocal errors
            for _ in range(messages):
                try:
                    await post(i)
                except Exception:
                    errors += 1

        cpu, t0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(chat(i) for i in range(chats)))
        return time.perf_counter() - t0, time.process_time() - cpu, errors


def _official(base_url: str, chats: int, messages: int) -> tuple[float, float, int]:
    import warnings

    import PureCloudPlatformClientV2 as sdk

    # Every call warns that the Web Chat v2 operations are deprecated: printing that 5,000
    # times would be measured too.
    warnings.simplefilter("ignore", DeprecationWarning)
    config = sdk.Configuration()
    config.api_key["Authorization"] = _JWT
    config.api_key_prefix["Authorization"] = "Bearer"
    started: list[float] = []

    def start_clock() -> None:
        # Run by the barrier once all have arrived, before any is released: taken in the
        # main thread after the release, the clock could start when most sends were done.
        started.extend((time.perf_counter(), time.process_time()))

    start = threading.Barrier(chats + 1, action=start_clock)
    errors = [0]
    lock = threading.Lock()

    def chat(i: int) -> None:
        api = sdk.WebChatApi(sdk.ApiClient(host=base_url))
        body = sdk.CreateWebChatMessageRequest()
        body.body = _TEXT
        api.post_webchat_guest_conversation_member_messages(f"c{i:05d}", f"m{i:05d}", body)
        start.wait()
        failed = 0
        for _ in range(messages):
            try:
                api.post_webchat_guest_conversation_member_messages(f"c{i:05d}", f"m{i:05d}", body)
            except Exception:
                failed += 1
        with lock:
            errors[0] += failed

    threads = [threading.Thread(target=chat, args=(i,), daemon=True) for i in range(chats)]
    for thread in threads:
        thread.start()
    start.wait()
    for thread in threads:
        thread.join()
    t0, cpu = started
    return time.perf_counter() - t0, time.process_time() - cpu, errors[0]


def main(argv: list[str] | None = None) -> None:
    """Run one client; print its JSON line."""
    client, base_url, chats_arg, messages_arg = argv or sys.argv[1:]
    chats, messages = int(chats_arg), int(messages_arg)
    raise_open_files_limit()
    before = rss_kib()
    if client == "official":
        seconds, cpu, errors = _official(base_url, chats, messages)
    elif client == "sdk":
        seconds, cpu, errors = asyncio.run(_sdk(base_url, chats, messages))
    elif client == "aiohttp":
        seconds, cpu, errors = asyncio.run(_aiohttp(base_url, chats, messages))
    else:
        raise SystemExit(f"unknown client {client!r}; one of {', '.join(CLIENTS)}")
    line: dict[str, Any] = {
        "client": client,
        "seconds": seconds,
        "cpu": cpu,
        "errors": errors,
        "peak_rss_kib": peak_rss_kib(),
        "start_rss_kib": before,
    }
    sys.stdout.write(json.dumps(line) + "\n")


if __name__ == "__main__":
    main()

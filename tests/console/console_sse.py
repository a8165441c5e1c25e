"""Reading the console's server-sent events in tests."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp


async def read_event(response: aiohttp.ClientResponse, timeout: float = 5) -> tuple[str, Any]:
    """The next ``(event name, data)`` of the stream (keep-alive comments skipped)."""
    while True:
        block = (await asyncio.wait_for(response.content.readuntil(b"\n\n"), timeout)).decode()
        if not block.strip():
            raise EOFError("the stream ended")
        name, data = "message", []
        for line in block.rstrip("\n").split("\n"):
            if line.startswith(":"):
                continue
            if line.startswith("event:"):
                name = line[6:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip(" "))
        if data:
            return name, json.loads("\n".join(data))


async def entries_until(
    response: aiohttp.ClientResponse, text: str, timeout: float = 5
) -> list[dict[str, Any]]:
    """Timeline entries from the stream up to the first whose text is ``text``."""
    seen: list[dict[str, Any]] = []
    while True:
        name, data = await read_event(response, timeout)
        if name == "entries":
            for entry in data["entries"]:
                seen.append(entry)
                if entry["text"] == text:
                    return seen
        elif name == "snapshot":
            seen.extend(data["timeline"])
            if any(e["text"] == text for e in data["timeline"]):
                return seen

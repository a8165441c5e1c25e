"""Helpers of the session tests (not a test module)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, TypeVar

from loopback import GREETING, start_guest

from webchat_async._events import Event, MemberJoined, MessageReceived
from webchat_async.models import BodyType
from webchat_async.session import GuestSession, _Starter
from webchat_async.simulator import Simulator

E = TypeVar("E", bound=Event)

TIMEOUT = 10.0


def start(sim: Simulator, **kwargs: Any) -> _Starter:
    """A session of "Ann" on the simulator with zero reconnect delays and no proxy."""
    return start_guest(sim, "Ann", **kwargs)


async def collect_until(
    session: GuestSession, stop: Callable[[Event], bool], timeout: float = TIMEOUT
) -> list[Event]:
    """Every event up to and including the first that matches ``stop``."""
    out: list[Event] = []

    async def run() -> None:
        async for event in session.events():
            out.append(event)
            if stop(event):
                return
        raise AssertionError(f"events ended before the stop condition: {out!r}")

    await asyncio.wait_for(run(), timeout)
    return out


def of_type(events: list[Event], cls: type[E]) -> list[E]:
    return [e for e in events if isinstance(e, cls)]


def texts(events: list[Event], sender: str | None = None) -> list[str]:
    """Bodies of the standard messages (from ``sender`` when given)."""
    return [
        e.message.body or ""
        for e in of_type(events, MessageReceived)
        if e.message.body_type == BodyType.STANDARD
        and (sender is None or (e.message.sender is not None and e.message.sender.id == sender))
    ]


def is_text(body: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return isinstance(event, MessageReceived) and event.message.body == body

    return match


async def until_settled(session: GuestSession, timeout: float = TIMEOUT) -> list[Event]:
    """The events up to both the agent's join and its greeting (on the first attach the
    join may come on either side of the greeting)."""
    out = await collect_until(
        session, lambda e: isinstance(e, MemberJoined) or is_text(GREETING)(e), timeout
    )
    if of_type(out, MemberJoined):
        out += await collect_until(session, is_text(GREETING), timeout)
    else:
        out += await collect_until(session, lambda e: isinstance(e, MemberJoined), timeout)
    return out

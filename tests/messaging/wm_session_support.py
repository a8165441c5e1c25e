"""Helpers of the MessagingSession tests (not a test module)."""

from __future__ import annotations

import asyncio
import datetime
from collections.abc import Callable
from typing import Any, TypeVar

from webchat_async._backoff import Backoff
from webchat_async._events import Event, MessageReceived
from webchat_async._starter import Starter
from webchat_async.messaging import CoreOptions, MessagingSession
from webchat_async.simulator import Simulator
from webchat_async.simulator._state import utc_now

E = TypeVar("E", bound=Event)

TIMEOUT = 10.0
ORIGIN = "https://shop.example"


def fast_options(**changes: Any) -> CoreOptions:
    """The service's rules with a short reorder window and no reconnect delays."""
    values: dict[str, Any] = {"reorder_window": 0.05, "backoff": Backoff.none()}
    values.update(changes)
    return CoreOptions(**values)


def start(sim: Simulator, **kwargs: Any) -> Starter[MessagingSession]:
    """A session on the simulator (no proxy, fast options unless given)."""
    kwargs.setdefault("options", fast_options())
    kwargs.setdefault("proxy", None)
    return MessagingSession.start(
        deployment_id=sim.deployment_id, base_url=sim.base_url, origin=ORIGIN, **kwargs
    )


async def collect_until(
    session: MessagingSession, stop: Callable[[Event], bool], timeout: float = TIMEOUT
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


def agent_texts(events: list[Event]) -> list[str]:
    """Texts of the agent's messages, in delivery order."""
    return [
        e.text for e in of_type(events, MessageReceived) if not e.from_guest and e.text is not None
    ]


def is_text(text: str) -> Callable[[Event], bool]:
    def match(event: Event) -> bool:
        return isinstance(event, MessageReceived) and event.text == text

    return match


def client_tasks() -> set[asyncio.Task[Any]]:
    """The running tasks of a Web Messaging client: the session's own and the websocket
    library's (the simulator serves with aiohttp, so none of these is the server's)."""
    out = set()
    for task in asyncio.all_tasks():
        coro = task.get_coro()
        code = getattr(coro, "cr_code", None) or getattr(coro, "ag_code", None)
        where = str(getattr(code, "co_filename", ""))
        if not task.done() and ("webchat_async/messaging" in where or "/websockets/" in where):
            out.add(task)
    return out


def distinct_times(sim: Simulator) -> None:
    """Make the simulator stamp every message at a later millisecond than the one before.

    The service stamps ``channel.time`` to the millisecond; messages said in one
    millisecond share it and no client can order them (the core keeps their arrival
    order). Tests of the order need each one to have its own time.
    """
    last = [datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)]

    def clock() -> datetime.datetime:
        now = utc_now()
        if now <= last[0]:
            now = last[0] + datetime.timedelta(milliseconds=1)
        last[0] = now
        return now

    sim.state.clock = clock

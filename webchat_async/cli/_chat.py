"""The interactive guest chat loop shared by ``webchat-async chat`` and ``demo --interactive``.

Two tasks run side by side and end together: one prints the session's events above the
prompt, the other reads the person's lines and sends them. ``/leave``, end of input
(Ctrl-D), Ctrl-C and SIGTERM all leave the chat cleanly. Nothing the person types and
nothing the chat's end does (a member lookup answered "conversation ended") ends the
program with an error: a line the service would refuse is refused here and chatting goes on.

Both protocols run through the same loop; what differs is in :class:`~._guest.Guest`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from .._events import ConversationEnded, Event, MediaRequestReceived
from .._redact import redact
from ..errors import ApiConnectionError, ApiError, SessionClosedError
from ._console import Console
from ._guest import Guest
from ._transcript import Transcript

__all__ = ["run_chat", "describe"]

logger = logging.getLogger("webchat_async.cli")

# Genesys shows a typing indicator for a few seconds; one POST per this interval while
# keys are being pressed keeps it up without a request per keystroke.
TYPING_INTERVAL = 3.0

HELP = "Type a message and press Enter. /leave (or Ctrl-D) leaves the chat."

# Web Messaging: nobody is there until the guest writes.
FIRST_MESSAGE_HINT = "The conversation starts with your first message."


async def run_chat(
    session: Guest,
    *,
    guest_name: str,
    console: Console | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """Chat in the terminal until the person leaves or the conversation ends."""
    transcript = Transcript(guest_id=session.guest_id, guest_name=guest_name)
    typing_tasks: set[asyncio.Task[None]] = set()
    last_typing = -TYPING_INTERVAL

    def on_key() -> None:
        nonlocal last_typing
        now = clock()
        if now - last_typing < TYPING_INTERVAL:
            return
        last_typing = now
        task = asyncio.create_task(_send_typing(session))
        typing_tasks.add(task)
        task.add_done_callback(typing_tasks.discard)

    term = console or Console(prompt=f"{guest_name}> ", on_key=on_key)
    async with term:
        term.show(HELP)
        if session.starts_with_guest:
            term.show(FIRST_MESSAGE_HINT)
        printer = asyncio.create_task(_print_events(session, term, transcript))
        reader = asyncio.create_task(_send_lines(session, term))
        try:
            done, _ = await asyncio.wait({printer, reader}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (printer, reader, *typing_tasks):
                task.cancel()
            await asyncio.gather(printer, reader, *typing_tasks, return_exceptions=True)
        for task in done:
            task.result()  # a failure in either side surfaces here
    return 0


async def _send_typing(session: Guest) -> None:
    try:
        await session.send_typing()
    except Exception:  # a lost typing indicator is not worth interrupting the chat
        pass


async def describe(session: Guest, transcript: Transcript, event: Event) -> str | None:
    """The transcript line for ``event``, listing the members first if a name is missing.

    The listing is only for a name: when it fails (typically 400 once the chat has ended,
    which an agent can do right after joining) the line names the member by id instead.
    """
    if transcript.needs_names(event):
        try:
            members = await session.members()
        except (ApiError, ApiConnectionError, SessionClosedError) as exc:
            logger.debug("could not list the members for a name: %r", exc)
        else:
            for member in members:
                transcript.remember(member)
    return transcript.line(event)


async def _print_events(session: Guest, term: Console, transcript: Transcript) -> None:
    async for event in session.events():
        line = await describe(session, transcript, event)
        if isinstance(event, ConversationEnded):
            term.finish()  # no prompt under the last line: nothing more can be sent
        if line is not None:
            term.show(line)
        if isinstance(event, MediaRequestReceived) and str(event.request.state) == "PENDING":
            term.show("  (media requests are declined in the terminal)")
            if event.request.id is not None:
                try:
                    await session.answer_media_request(event.request.id, accept=False)
                except (ApiError, ApiConnectionError, SessionClosedError) as exc:
                    # Withdrawn, or the chat ended meanwhile: nothing left to decline.
                    logger.debug("could not decline the media request: %r", exc)
        if isinstance(event, ConversationEnded):
            return


async def _send_lines(session: Guest, term: Console) -> None:
    while True:
        line = await term.readline()
        if line is None or line.strip() == "/leave":
            term.show(session.leaving)
            term.finish()
            await session.leave()
            return
        if not line.strip():
            continue
        limit = session.max_length
        if limit is not None and len(line) > limit:
            term.show(f"! not sent: {len(line):,} characters, a message has at most {limit:,}")
            continue
        try:
            await session.send_message(line)
        except session.send_errors as exc:
            # Retries are spent (or the chat is ending): say so and let the person decide;
            # the end itself, if that is what it was, comes as ConversationEnded.
            term.show(f"! not sent: {redact(str(exc))}")

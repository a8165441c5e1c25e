"""``webchat-async demo``: a whole guest chat on the embedded simulator, no set-up.

The simulator runs on a free loopback port in this process; a scripted agent answers. The
guest side is a real :class:`~webchat_async.session.GuestSession` (``--protocol webchat``)
or :class:`~webchat_async.messaging.MessagingSession` (``--protocol messaging``) over real
sockets, so the demo exercises exactly what a user's program would. One script plays both:
it reads only the shared event vocabulary, and :class:`~._guest.Guest` holds what differs
(on Web Messaging the guest writes first, there are no media requests, and the agent ends
the chat since a guest cannot).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TextIO

from .._events import ConversationEnded, MediaRequestReceived, MessageReceived
from ..messaging import MessagingSession
from ..models import GuestMemberInfo, MediaRequestState, WebChatMessage
from ..session import GuestSession
from ..simulator import Agent, Simulator
from ._chat import describe
from ._guest import Guest
from ._safe import printable
from ._transcript import Transcript

__all__ = ["run_demo", "GUEST_LINES", "GREETING", "ORIGIN"]

GUEST_LINES = (
    "Hi! Where is my order 1042?",
    "Could you show me the tracking page?",
    "Perfect, thank you. Bye!",
)

GREETING = "Hello, I'm Sam. How can I help you today?"

#: The ``Origin`` of the demo's Web Messaging guest (the simulator's default deployment
#: allows any).
ORIGIN = "https://localhost"


async def _demo_reply(conversation: object, message: WebChatMessage) -> str | None:
    text = (message.body or "").lower()
    if "order" in text:
        return "Order 1042 shipped yesterday; it should arrive on Friday."
    if "show" in text or "tracking" in text:
        return "Sure, I'm sending you a screen-share request now."
    if "bye" in text or "thank" in text:
        return "You're welcome! Have a great day."
    return f"You said: {message.body}"


async def _messaging_reply(conversation: object, message: WebChatMessage) -> str | None:
    # Web Messaging has no media requests: the agent sends a link instead.
    text = (message.body or "").lower()
    if "show" in text or "tracking" in text:
        return "Here it is: https://track.example/1042"
    return await _demo_reply(conversation, message)


async def run_demo(
    *,
    name: str = "Ann",
    interactive: bool = False,
    fast: bool = False,
    protocol: str = "webchat",
    out: TextIO | None = None,
    console: bool = False,
    hold: Callable[[Simulator], Awaitable[None]] | None = None,
) -> int:
    """Play the demo conversation and print its transcript; returns the exit status.

    With ``console`` the simulator serves its agent console, the demo prints its URL and,
    once the chat is over, keeps the simulator up until ``hold(sim)`` returns (default:
    until Ctrl-C or SIGTERM).
    """
    stream = out or sys.stdout

    def show(line: str) -> None:
        stream.write(printable(line) + "\n")
        stream.flush()

    if protocol not in ("webchat", "messaging"):
        raise ValueError(f"unknown protocol {protocol!r}: webchat or messaging")
    agent = Agent(
        name="Sam",
        greeting=GREETING,
        typing_delay=0.0 if fast else 0.6,
        reply=_messaging_reply if protocol == "messaging" else _demo_reply,
    )
    async with Simulator(host="127.0.0.1", port=0, agent=agent, console=console) as sim:
        show(f"simulator listening on {sim.base_url} (organization {sim.organization_id})")
        if sim.console_url is not None:
            show(f"console: {sim.console_url}")
        async with _guest(sim, protocol, name, show) as guest:
            if interactive:
                from ._chat import run_chat

                status = await run_chat(guest, guest_name=name)
            else:
                transcript = Transcript(guest_id=guest.guest_id, guest_name=name)
                await _scripted(sim, guest, transcript, show)
                status = 0
        if sim.console_url is not None:
            show(f"the simulator stays up for the console at {sim.console_url}; Ctrl-C stops it")
            await (hold or _until_signalled)(sim)
    if not interactive:
        show("demo finished")
    return status


async def _until_signalled(sim: Simulator) -> None:
    from ..simulator._serve import until_signalled

    await until_signalled()


@contextlib.asynccontextmanager
async def _guest(
    sim: Simulator, protocol: str, name: str, show: Callable[[str], None]
) -> AsyncIterator[Guest]:
    if protocol == "messaging":
        async with MessagingSession.start(
            deployment_id=sim.deployment_id, base_url=sim.base_url, origin=ORIGIN
        ) as messaging:
            # The token is the session's secret: never shown.
            show(f"Web Messaging session on deployment {sim.deployment_id} (origin {ORIGIN})")
            yield Guest(messaging)
        return
    async with GuestSession.start(
        organization_id=sim.organization_id,
        deployment_id=sim.deployment_id,
        member_info=GuestMemberInfo(display_name=name),
        base_url=sim.base_url,
    ) as session:
        show(f"conversation {session.conversation_id} created; waiting for an agent")
        yield Guest(session)


async def _scripted(
    sim: Simulator, guest: Guest, transcript: Transcript, show: Callable[[str], None]
) -> None:
    lines = iter(GUEST_LINES)

    async def say(text: str) -> None:
        async with guest.typing():
            await guest.send_message(text)

    # On Web Messaging the conversation, and the agent, start with the guest's first
    # message: the greeting that follows answers nothing, the reply after it does.
    unanswered = guest.starts_with_guest
    if unanswered:
        await say(next(lines))
    async for event in guest.events():
        line = await describe(guest, transcript, event)
        if line is not None:
            show(line)
        if isinstance(event, MessageReceived) and not event.from_guest and event.text:
            if unanswered and event.text == GREETING:
                unanswered = False
                continue
            unanswered = False
            if "screen-share" in event.text and guest.capabilities.media_requests:
                session = guest.session
                if isinstance(session, GuestSession):
                    await sim.agent_request_media(session.conversation_id, types=["SCREENSHARE"])
                continue
            nxt = next(lines, None)
            if nxt is None:
                await _finish(sim, guest, transcript, show)
            else:
                await say(nxt)
        elif isinstance(event, MediaRequestReceived):
            request = event.request
            if request.state == MediaRequestState.PENDING and request.id is not None:
                state = await guest.answer_media_request(request.id, accept=True)
                show(transcript.note(f"* {transcript.guest_name} accepted the request ({state})"))
                nxt = next(lines, None)
                if nxt is not None:
                    await guest.send_message(nxt)
        elif isinstance(event, ConversationEnded):
            return


async def _finish(
    sim: Simulator, guest: Guest, transcript: Transcript, show: Callable[[str], None]
) -> None:
    """Web Chat v2: the guest leaves. Web Messaging: a guest cannot end the conversation,
    so the simulated agent does (``Presence Disconnect``, read-only)."""
    session = guest.session
    if isinstance(session, MessagingSession):
        show(transcript.note("* Sam ends the chat"))
        await sim.agent_end(sim.messaging_conversation_id(session.token))
    else:
        show(transcript.note(f"* {transcript.guest_name} leaves the chat"))
        await guest.leave()

"""The scripted agent on the other side of every simulated chat."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from ..models import WebChatGuestMediaRequest, WebChatMemberInfo, WebChatMessage
from ._state import ConversationState

__all__ = ["Agent", "ConversationView", "EchoAgent", "ReplyFunction"]


class ConversationView:
    """A read-only look at one simulated conversation, given to :meth:`Agent.reply`."""

    __slots__ = ("_state",)

    def __init__(self, state: ConversationState) -> None:
        self._state = state

    def __repr__(self) -> str:
        return f"<ConversationView id={self.id} messages={len(self._state.messages)}>"

    @property
    def id(self) -> str:
        """The conversation id."""
        return self._state.id

    @property
    def guest_member_id(self) -> str:
        """The guest's member id."""
        return self._state.guest_member_id

    @property
    def agent_member_id(self) -> str | None:
        """The agent's member id, once routed."""
        return self._state.agent_member_id

    @property
    def members(self) -> Mapping[str, WebChatMemberInfo]:
        """Members by id."""
        return self._state.members

    @property
    def messages(self) -> Sequence[WebChatMessage]:
        """Every message so far, in order."""
        return tuple(self._state.messages)

    @property
    def media_requests(self) -> Mapping[str, WebChatGuestMediaRequest]:
        """Media requests by id."""
        return self._state.media_requests

    @property
    def ended(self) -> bool:
        """Whether the chat has ended for the guest."""
        return self._state.ended


ReplyFunction = Callable[[ConversationView, WebChatMessage], Awaitable[str | None]]


class Agent:
    """Decides what the simulated agent says. Configure it, or subclass and override
    :meth:`reply`.

    Args:
        name: the agent's display name.
        greeting: sent when the agent joins; ``None`` for none.
        typing_delay: seconds the agent "types" (after a typing indicator) before each reply.
        reply: ``async def reply(conversation, message) -> str | None``, the answer to each
            guest message (``None``: no answer). Without it the agent never answers.

    For example:

    ```python
    async def reply(conversation, message):
        return "Refunds take 3 days." if "refund" in (message.body or "") else None

    async with Simulator(agent=Agent(name="Kim", reply=reply)) as sim:
        ...
    ```

    """

    def __init__(
        self,
        *,
        name: str = "Sam",
        greeting: str | None = "Hello, I'm Sam. How can I help you today?",
        typing_delay: float = 0.0,
        reply: ReplyFunction | None = None,
    ) -> None:
        if typing_delay < 0:
            raise ValueError("typing_delay must be >= 0")
        self.name = name
        self.greeting = greeting
        self.typing_delay = typing_delay
        self._reply = reply

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, typing_delay={self.typing_delay!r})"

    async def reply(self, conversation: ConversationView, message: WebChatMessage) -> str | None:
        """The answer to one guest ``message``, or ``None`` to stay silent."""
        if self._reply is None:
            return None
        return await self._reply(conversation, message)


#: What :class:`EchoAgent` puts before the text it repeats.
ECHO_PREFIX = "You said: "


class EchoAgent(Agent):
    """The default agent: greets, then answers each message with ``"You said: <text>"``,
    except a message that itself repeats one of its answers (it contains ``"You said: "``).

    That exception keeps a guest that echoes too (a bot answering every agent message, as
    ``webchat_async.worker.demo:echo`` does) from a loop of echoes of echoes that would
    only end when a message grows past the service's 4,000-character limit.
    """

    async def reply(self, conversation: ConversationView, message: WebChatMessage) -> str | None:
        """Echo the guest's text (or defer to a ``reply`` function if one was given)."""
        if self._reply is not None:
            return await self._reply(conversation, message)
        if ECHO_PREFIX in (message.body or ""):
            return None
        return f"{ECHO_PREFIX}{message.body}"

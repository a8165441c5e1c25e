"""Workers beyond one process: chats held by lease, taken over when a worker dies.

A :class:`Worker` holds chats from a :class:`SessionStore` and runs a handler for each of
their events; a :class:`Fleet` starts new chats and hands them to the least loaded live
worker. Each chat is held under a lease with a fencing token; after every handled event
the worker commits the session's position and the sends the handler made, so another
worker resumes a chat where it was left and does not repeat a send already made. See
``docs/workers.md`` for what is guaranteed.

``MemoryStore`` keeps everything in one process; ``RedisStore`` (the ``redis`` extra,
``pip install 'webchat-async[redis]'``) shares it between processes and hosts, with the
guest credentials encrypted under :class:`Encryption` keys (the ``encryption`` extra).

For example:

```python
from webchat_async import MessageReceived
from webchat_async.worker import Chat, RedisStore, Worker

async def echo(chat: Chat, event) -> None:
    if isinstance(event, MessageReceived) and not chat.is_own(event.message):
        await chat.send_message(f"echo: {event.message.body}")

await Worker(echo, store=RedisStore.from_url("redis://127.0.0.1:6379/0")).run()
```

"""

from __future__ import annotations

from ._chat import Chat, Handler
from ._crypto import Encryption
from ._fleet import Fleet, StartedChat
from ._memory import MemoryStore
from ._model import (
    ChatStatus,
    Claim,
    DecryptionError,
    FleetStatus,
    InsecureStoreWarning,
    LeaseLost,
    PendingSends,
    Progress,
    StoreError,
    StoreReset,
    WorkerStatus,
)
from ._redis import RedisStore
from ._store import Scan, SessionStore
from ._worker import Worker

__all__ = [
    "Chat",
    "ChatStatus",
    "Claim",
    "DecryptionError",
    "Encryption",
    "Fleet",
    "FleetStatus",
    "Handler",
    "InsecureStoreWarning",
    "LeaseLost",
    "MemoryStore",
    "PendingSends",
    "Progress",
    "RedisStore",
    "Scan",
    "SessionStore",
    "StartedChat",
    "StoreError",
    "StoreReset",
    "Worker",
    "WorkerStatus",
]

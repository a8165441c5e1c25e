"""A local Genesys Cloud Web Chat v2 server: the 19 operations, the event stream, a scripted
agent and fault injection, on loopback.

It serves with aiohttp, a dependency of the SDK (no extra to install); the core SDK never
imports this package.

For example:

```python
from webchat_async.simulator import Simulator

async with Simulator() as sim:
    print(sim.base_url, sim.organization_id, sim.deployment_id)
```

Faithful by default: it answers as the service does as far as the public material tells
(docs/protocol.md#what-the-simulator-does-by-default). Where the service's behaviour is
unknown, :class:`Behaviour` picks the answer (``Simulator(behaviour=Behaviour(...))``;
docs/protocol.md#unknowns).

It serves Web Messaging too, on the same server and base URL: the guest websocket
``ws://HOST:PORT/v1?deploymentId=...``, the message history and ``config.json``, with the
same agent, admin routes and fault switches (docs/simulator-messaging.md).

``Simulator(console=True)`` also serves the agent console at ``/console``: the
conversations live in a browser, the agent by hand, fault buttons (docs/console.md);
``Simulator(console=True, fleet=store)`` adds which fleet worker holds each chat.

Run it on its own with ``python -m webchat_async.simulator --port 8080`` (``--help`` lists
the behaviour options); ``GET /__simulator__/`` lists its admin routes.
"""

from __future__ import annotations

from ._agent import Agent, ConversationView, EchoAgent, ReplyFunction
from ._behaviour import Behaviour
from ._console import FleetView
from ._faults import FaultControls
from ._serve import run
from ._server import Simulator
from ._state import ConversationState, RequestRecord, SimulatorState

__all__ = [
    "Agent",
    "Behaviour",
    "ConversationState",
    "ConversationView",
    "EchoAgent",
    "FaultControls",
    "FleetView",
    "ReplyFunction",
    "RequestRecord",
    "Simulator",
    "SimulatorState",
    "run",
]

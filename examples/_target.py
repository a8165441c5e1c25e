"""Shared by the examples: a real organization from arguments, or the embedded simulator.

Not part of the SDK. With no arguments each example starts a
:class:`~webchat_async.simulator.Simulator` on a free loopback port and runs against it.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs


@attrs.frozen
class Target:
    """Where the example talks to: ids plus ``region`` or ``base_url`` keywords."""

    organization_id: str
    deployment_id: str
    where: dict[str, Any]
    simulator: Any = None  # the embedded Simulator, when there is one


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--organization-id", default=os.environ.get("GENESYS_ORGANIZATION_ID"))
    p.add_argument("--deployment-id", default=os.environ.get("GENESYS_DEPLOYMENT_ID"))
    p.add_argument("--region", default=os.environ.get("GENESYS_REGION"))
    p.add_argument("--base-url", default=None)
    return p


@asynccontextmanager
async def target(args: argparse.Namespace) -> AsyncIterator[Target]:
    """A real organization when ids were given, else a fresh embedded simulator."""
    if args.organization_id and args.deployment_id:
        where = {"base_url": args.base_url} if args.base_url else {"region": args.region}
        yield Target(args.organization_id, args.deployment_id, where)
        return
    from webchat_async.simulator import Simulator

    async with Simulator(host="127.0.0.1", port=0) as sim:
        yield Target(sim.organization_id, sim.deployment_id, {"base_url": sim.base_url}, sim)

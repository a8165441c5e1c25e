"""Deployments and settings with OAuth client credentials (the admin side of Web Chat).

    python examples/admin_deployments.py                         # embedded simulator
    GENESYS_CLIENT_ID=... GENESYS_CLIENT_SECRET=... \\
        python examples/admin_deployments.py --region eu-west-1 --real

Against a real organization this creates, changes and deletes a deployment named
"webchat-async example"; use a test organization.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs

from webchat_async import ClientCredentials, NotFoundError, WebChatApi
from webchat_async.models import WebChatDeployment, WebChatSettings


@asynccontextmanager
async def admin_api(real: bool, region: str | None) -> AsyncIterator[WebChatApi]:
    if real:
        credentials = ClientCredentials(
            os.environ["GENESYS_CLIENT_ID"], os.environ["GENESYS_CLIENT_SECRET"]
        )
        async with WebChatApi(region=region, credentials=credentials) as api:
            yield api
        return
    from webchat_async.simulator import Simulator

    async with (
        Simulator(port=0) as sim,
        WebChatApi(
            base_url=sim.base_url, credentials=ClientCredentials(sim.client_id, sim.client_secret)
        ) as api,
    ):
        yield api


async def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = argv if argv is not None else sys.argv[1:]
    real = "--real" in args
    region = args[args.index("--region") + 1] if "--region" in args else None
    report: dict[str, Any] = {}
    async with admin_api(real, region) as api:
        listing = await api.get_webchat_deployments()
        report["before"] = [d.name for d in listing.entities or []]
        print("deployments:", report["before"])

        created = await api.post_webchat_deployments(
            WebChatDeployment(name="webchat-async example", allowed_domains=["example.com"])
        )
        assert created.id is not None
        print("created:", created.id)

        # PUT replaces the whole deployment: evolve the current one, change one field.
        updated = await api.put_webchat_deployment(
            created.id, attrs.evolve(created, description="made by examples/admin_deployments.py")
        )
        report["description"] = updated.description
        print("updated description:", updated.description)

        settings = await api.get_webchat_settings()
        print("requireDeployment:", settings.require_deployment)
        if not real:  # do not change a real organization's settings in an example
            changed = await api.put_webchat_settings(WebChatSettings(require_deployment=True))
            report["require_deployment"] = changed.require_deployment

        await api.delete_webchat_deployment(created.id)
        try:
            await api.get_webchat_deployment(created.id)
        except NotFoundError as exc:
            report["deleted"] = True
            print("deleted; a GET now answers", exc.status, exc.code)
    return report


if __name__ == "__main__":
    asyncio.run(main())

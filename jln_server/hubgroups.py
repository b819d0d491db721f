"""The owner's groups, asked of JupyterHub itself now and then.

Every request under JupyterHub carries the hub's model of its user, groups included, but the
hub client in the single-user server caches that model (``HubAuth.cache_max_age``, five
minutes by default) and a server with no tab open sees no request at all: a group the owner
left would go on being read. So the server asks the hub with its own token
(``$JUPYTERHUB_API_TOKEN``; the hub lets any token read its owner's name and groups at
``hub/api/user``) every ``interval`` seconds, from the start.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence

from tornado.httpclient import AsyncHTTPClient, HTTPClientError

log = logging.getLogger("jln.hubgroups")

REQUEST_TIMEOUT = 10.0


class HubGroups:
    """Tells ``follow`` the owner's groups as the hub has them, every ``interval`` seconds."""

    def __init__(self, api_url: str, token: str, interval: float,
                 follow: Callable[[Sequence[str]], Awaitable[None]]) -> None:
        self.url = api_url.rstrip("/") + "/user"
        self.token = token
        self.interval = interval
        self.follow = follow
        self._task: asyncio.Task[None] | None = None

    @classmethod
    def from_environment(cls, env: Mapping[str, str], interval: float,
                         follow: Callable[[Sequence[str]], Awaitable[None]]
                         ) -> HubGroups | None:
        """One for a server the hub started (its API URL and token are in ``env``); None
        elsewhere, or with ``interval`` 0."""
        url, token = env.get("JUPYTERHUB_API_URL"), env.get("JUPYTERHUB_API_TOKEN")
        if not (url and token and interval > 0):
            return None
        return cls(url, token, interval, follow)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="jln-hub-groups")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def ask(self) -> list[str]:
        """The owner's groups, as the hub answers now."""
        response = await AsyncHTTPClient().fetch(
            self.url, headers={"Authorization": f"token {self.token}"},
            request_timeout=REQUEST_TIMEOUT)
        model = json.loads(response.body)
        groups = model.get("groups") if isinstance(model, dict) else None
        if not isinstance(groups, list):
            raise ValueError("the hub's user model has no groups list")
        return [g for g in groups if isinstance(g, str) and g]

    async def _run(self) -> None:
        failing = False
        while True:
            try:
                await self.follow(await self.ask())
                failing = False
            except (OSError, HTTPClientError, ValueError) as err:
                if not failing:  # once per outage, not once per interval
                    log.warning("could not ask the hub for the owner's groups at %s (%s); "
                                "trying again every %gs", self.url, err, self.interval)
                failing = True
            await asyncio.sleep(self.interval)

"""What the service asks the hub's REST API, with its own token: the users (their groups, and
whether a server of theirs has run since a moment), and whether a user or group exists.

The service's role needs ``list:users``, ``read:users``, ``read:users:groups``,
``read:servers`` and ``read:groups``; a refusal names them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from tornado.httpclient import AsyncHTTPClient, HTTPClientError, HTTPRequest

from jln_broker.errors import JLNError

PAGE = 200
"""Users asked for at once: the hub's own default cap on a page."""
SCOPES = ("list:users", "read:users", "read:users:groups", "read:servers", "read:groups")
TIMEOUT = 10.0


class HubRefused(JLNError):
    """The hub answered with an error: most often, the service's role lacks a scope (502)."""


class HubUnavailable(JLNError):
    """The hub could not be reached (503)."""


@dataclass(frozen=True)
class HubUser:
    """A user as the service needs them: their groups, and their servers' life."""

    name: str
    groups: tuple[str, ...] = ()
    running: bool = False
    """A server of theirs is started (or starting): it has the notice, or will on connecting."""
    last_activity: int | None = None
    """The newest activity of any server of theirs, stopped ones included (ms): the hub sets it
    when a server starts and when it stops."""

    def ran_since(self, moment_ms: int) -> bool:
        """Whether a server of theirs was running at ``moment_ms`` or has started since."""
        return self.running or (self.last_activity is not None
                                and self.last_activity >= moment_ms)

    @classmethod
    def from_model(cls, model: Mapping[str, Any]) -> HubUser:
        servers = [s for s in (model.get("servers") or {}).values() if isinstance(s, dict)]
        activity = [ms for s in servers if (ms := _ms(s.get("last_activity"))) is not None]
        return cls(str(model["name"]), tuple(model.get("groups") or ()),
                   any(s.get("started") and not s.get("stopped") for s in servers),
                   max(activity, default=None))


class HubAPI:
    """The hub's REST API at ``api_url`` (``$JUPYTERHUB_API_URL``)."""

    def __init__(self, api_url: str, token: str) -> None:
        self.api_url = api_url.rstrip("/") + "/"
        self.token = token

    async def users(self) -> dict[str, HubUser]:
        """Every user, by name, with their stopped servers too (``include_stopped_servers``),
        page by page."""
        found: dict[str, HubUser] = {}
        offset: int | None = 0
        while offset is not None:
            answer = await self._get("users", {"include_stopped_servers": "1",
                                               "offset": str(offset), "limit": str(PAGE)})
            try:
                found.update((u.name, u) for u in map(HubUser.from_model, answer["items"]))
                following = answer["_pagination"]["next"]
                offset = int(following["offset"]) if following else None
            except (KeyError, TypeError, ValueError):
                raise HubRefused(f"the hub's answer to GET users is not a page of users: "
                                 f"{answer!r:.200}") from None
        return found

    async def user_exists(self, name: str) -> bool:
        return await self._get(f"users/{quote(name, safe='')}", {}, missing_ok=True) is not None

    async def group_exists(self, name: str) -> bool:
        return await self._get(f"groups/{quote(name, safe='')}", {},
                               missing_ok=True) is not None

    async def _get(self, path: str, query: Mapping[str, str], *, missing_ok: bool = False
                   ) -> Any:
        url = self.api_url + path + ("?" + urlencode(query) if query else "")
        request = HTTPRequest(url, headers={
            "Authorization": f"token {self.token}",
            "Accept": "application/jupyterhub-pagination+json"},
            connect_timeout=TIMEOUT, request_timeout=TIMEOUT)
        try:
            response = await AsyncHTTPClient().fetch(request)
        except HTTPClientError as err:
            if err.code == 404 and missing_ok:
                return None
            if err.code == 599:
                raise HubUnavailable(f"the hub's API at {self.api_url} did not answer: "
                                     f"{err}") from None
            raise HubRefused(f"the hub refused GET {path}: HTTP {err.code}; the service's role "
                             f"needs the scopes {', '.join(SCOPES)}") from None
        except OSError as err:
            raise HubUnavailable(f"the hub's API at {self.api_url} is unreachable: "
                                 f"{err}") from None
        try:
            return json.loads(response.body)
        except ValueError:
            raise HubRefused(f"the hub answered GET {path} with something not JSON: "
                             f"{response.body[:200]!r}") from None


def _ms(iso: Any) -> int | None:
    """Milliseconds since the epoch of the hub's ISO 8601 times (``...Z``); None for none."""
    if not isinstance(iso, str):
        return None
    try:
        return int(datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp() * 1000)
    except ValueError:
        return None

"""REST and WebSocket endpoints under ``{base_url}jln/api/``, plus the drop-in alias of the
REST-polling extension this one replaces: one module per resource, the route table here."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..escalation import Presence
from ..heartbeat import Heartbeat
from ..service import NotifyService
from ..terminals import Terminals
from .base import BaseHandler
from .compat import CompatIngestHandler, CompatListHandler
from .hooks import AlertmanagerHook, GitHubHook
from .notifications import (
    CountHandler,
    ItemHandler,
    NotificationsHandler,
    ReceiptsHandler,
    StateHandler,
    TopicsHandler,
)
from .presence import PresenceHandler
from .socket import CLOSE_TOO_SLOW, NotificationSocket


class StatusHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Broker reachability, reader lag, connected clients and counters."""
        self.finish(await self.service.status())


def routes(service: NotifyService, *, github_webhook_secret: str = "",
           presence: Presence | None = None,
           terminals: Terminals | None = None) -> list[tuple[str, type, dict[str, Any]]]:
    """The route table; jupyter_server puts its ``base_url`` in front. Ids travel URL-encoded
    (``jln%3Auser%3Aada%2F1700000000000-0``) and tornado decodes them for the handler. A proxy
    may decode ``%2F`` on the way (JupyterHub's Python configurable-http-proxy does), so the
    ``/`` before the entry id is taken as it comes too."""
    deps = {"service": service}
    api = "/jln/api"
    one = f"{api}/notifications/(?P<notification_id>[^/]+(?:/[0-9]+-[0-9]+)?)"
    compat = "/jupyterlab-notifications-extension"
    return [
        (f"{api}/ws", NotificationSocket, {**deps, "heartbeat": Heartbeat()}),
        (f"{api}/notifications", NotificationsHandler,
         {**deps, "terminals": terminals or Terminals({})}),
        (f"{api}/notifications/count", CountHandler, deps),
        (f"{api}/notifications/state", StateHandler, deps),
        (f"{one}/receipts", ReceiptsHandler, deps),
        (one, ItemHandler, deps),
        (f"{api}/topics", TopicsHandler, deps),
        (f"{api}/status", StatusHandler, deps),
        (f"{api}/presence", PresenceHandler, {**deps, "presence": presence or Presence()}),
        (f"{api}/hooks/alertmanager", AlertmanagerHook, deps),
        (f"{api}/hooks/github", GitHubHook, {**deps, "github_secret": github_webhook_secret}),
        (f"{compat}/ingest", CompatIngestHandler, deps),
        (f"{compat}/notifications", CompatListHandler, deps),
    ]


__all__ = ["CLOSE_TOO_SLOW", "routes"]

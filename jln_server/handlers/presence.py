"""``jln/api/presence``: a JupyterLab tab says whether it is visible, so escalation knows
whether anyone is looking (``escalation.Presence``)."""

from __future__ import annotations

import re

from jupyter_server.auth.decorator import authorized
from tornado import web

from ..escalation import Presence
from ..service import NotifyService
from .base import BaseHandler, Failure

_TAB = re.compile(r"[!-~]{1,100}")


class PresenceHandler(BaseHandler):
    def initialize(self, service: NotifyService, presence: Presence | None = None) -> None:
        super().initialize(service)
        self.presence = presence or Presence()

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """``{"tab": "<id>", "visible": true|false}``: at each change of the page's visibility,
        and every ``ttl`` seconds or less while visible."""
        body = self.json_body()
        if unknown := sorted(set(body) - {"tab", "visible"}):
            raise Failure(400, f"{unknown[0]}: unknown field (known: tab, visible)", unknown[0])
        tab, visible = body.get("tab"), body.get("visible")
        if not isinstance(tab, str) or not _TAB.fullmatch(tab):
            raise Failure(400, "tab: must be 1 to 100 printable ASCII characters", "tab")
        if not isinstance(visible, bool):
            raise Failure(400, "visible: must be true or false", "visible")
        self.presence.report(tab, visible)
        self.finish({"ttl": self.presence.ttl})

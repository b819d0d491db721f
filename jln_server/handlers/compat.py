"""The drop-in alias of the REST-polling extension JLN replaces: its ingest path and body, its
answer, and its list shape (draining nothing)."""

from __future__ import annotations

from typing import Any

from jupyter_server.auth.decorator import authorized
from tornado import web

from .. import wire
from .base import READY_TIMEOUT, BaseHandler, Failure, http_errors

RECENT = 100


class CompatIngestHandler(BaseHandler):
    """``POST jupyterlab-notifications-extension/ingest``."""

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        err = kwargs.get("exc_info", (None, None))[1]
        self.error_headers(status_code, err)
        self.set_header("Content-Type", "application/json")
        self.finish({"error": err.message if isinstance(err, Failure) else self._reason})

    @web.authenticated
    @authorized
    async def post(self) -> None:
        """Publish; answer 200 with ``success`` and ``notification_id``."""
        body = self.json_body()
        body.pop("immediate", None)  # everything is pushed now
        ids = await self.publish(body)
        self.finish({"success": True, "notification_id": ids[0]})


class CompatListHandler(BaseHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        """Recent notifications in the REST-polling extension's shape."""
        fanout = self.service.fanout
        with http_errors():
            await fanout.ready(READY_TIMEOUT)
            assert fanout.cursor is not None
            page = self.service.history.newest(RECENT, fanout.cursor)
        self.finish(wire.compat_list(page.items))

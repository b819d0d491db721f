"""The announcement service as a process: ``python -m jln_hub`` (or ``jln-hub``), started by the
hub as a managed service, which gives it its URL, prefix, API token and OAuth client in
``JUPYTERHUB_*`` variables. The Redis URL and the JLN prefix come from ``--redis-url`` and
``--prefix``, or ``$JLN_URL`` and ``$JLN_PREFIX``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
from urllib.parse import urlsplit

from jupyterhub.services.auth import HubOAuth
from tornado import web
from tornado.httpserver import HTTPServer
from traitlets import Int, Unicode, default
from traitlets.config import Application

from jln_broker.connection import async_client, kind, redact
from jln_broker.errors import JLNError, ValidationError
from jln_broker.publisher import AsyncPublisher

from .handlers import TEMPLATES, routes
from .hub import HubAPI
from .service import Announcements


class AnnouncementService(Application):
    """Hub admins send notices to everyone, groups or users, see who read them, withdraw them."""

    name = "jln-hub"
    description = __doc__
    aliases = {"redis-url": "AnnouncementService.redis_url",  # noqa: RUF012 (traitlets' own)
               "prefix": "AnnouncementService.prefix", "url": "AnnouncementService.url",
               "keep": "AnnouncementService.keep"}

    redis_url = Unicode(help="""The Redis the single-user servers read (redis://, rediss:// or
        unix://). Defaults to $JLN_URL.""").tag(config=True)
    prefix = Unicode(help="""Prefix of the JLN keys, as the servers' c.JLN.prefix. Defaults to
        $JLN_PREFIX, else jln.""").tag(config=True)
    url = Unicode(help="""Where to listen (http://127.0.0.1:10101). Defaults to
        $JUPYTERHUB_SERVICE_URL, which the hub sets from the service's "url".""").tag(
        config=True)
    keep = Int(1_000, help="""How many notices to remember (the oldest records go first; their
        notifications stay in the streams until retention takes them).""").tag(config=True)

    @default("redis_url")
    def _redis_url(self) -> str:
        return os.environ.get("JLN_URL", "")

    @default("prefix")
    def _prefix(self) -> str:
        return os.environ.get("JLN_PREFIX") or "jln"

    @default("url")
    def _url(self) -> str:
        return os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101")

    def checked_redis_url(self) -> str:
        if not self.redis_url:
            raise ValidationError("redis_url", "is required: --redis-url, or $JLN_URL")
        if kind(self.redis_url) != "redis":
            raise ValidationError("redis_url", "must reach a Redis server the single-user "
                                               "servers read too (redis://, rediss:// or "
                                               f"unix://), not {redact(self.redis_url)!r}")
        if self.keep < 1:
            raise ValidationError("keep", f"must be at least 1, not {self.keep}")
        return self.redis_url

    def start(self) -> None:
        try:
            redis_url = self.checked_redis_url()
        except JLNError as err:
            self.exit(f"jln-hub: {err}")
        asyncio.run(self.serve(redis_url))

    async def serve(self, redis_url: str) -> None:
        """Listen until SIGTERM or SIGINT (how the hub stops its services)."""
        hub_auth = HubOAuth(parent=self, cache_max_age=60)
        client = async_client(redis_url)
        publisher = AsyncPublisher(redis_url, prefix=self.prefix)
        announcements = Announcements(publisher, client, HubAPI(hub_auth.api_url,
                                                                hub_auth.api_token),
                                      origin=os.environ.get("JUPYTERHUB_SERVICE_NAME",
                                                            "jln-announce"), keep=self.keep)
        app = web.Application(routes(hub_auth.base_url, announcements, hub_auth),
                              cookie_secret=secrets.token_bytes(32),
                              template_path=str(TEMPLATES))
        where = urlsplit(self.url)
        server = HTTPServer(app, xheaders=True)
        server.listen(where.port or 80, where.hostname or "127.0.0.1")
        self.log.info("JLN announcements at %s (prefix %s), Redis %s", self.url,
                      hub_auth.base_url, redact(redis_url))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            server.stop()
            await server.close_all_connections()
            await publisher.close()
            await client.aclose()


main = AnnouncementService.launch_instance

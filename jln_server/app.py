"""The ``JLN`` server extension: its configuration, and the pieces it starts and stops.

Every setting is a trait with help text, so ``jupyter jln --help-all`` documents it and it
can be set in ``jupyter_server_config.py`` (``c.JLN.redis_url = ...``) or on the command line
(``--JLN.redis_url=...``).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
from typing import Any

from jupyter_core.paths import jupyter_data_dir
from jupyter_server.extension.application import ExtensionApp
from traitlets import Bool, Float, Int, List, TraitError, Unicode, default, validate

from jln_broker.connection import async_client, key_prefix, kind, redact
from jln_broker.discovery import SERVER_ROOT_ENV, SERVER_TOKEN_ENV, SERVER_URL_ENV
from jln_broker.embedded import EmbeddedStore
from jln_broker.errors import ValidationError
from jln_broker.history import History, parse_filters
from jln_broker.model import Limits
from jln_broker.protocol import StreamNames
from jln_broker.publisher import AsyncPublisher
from jln_broker.reader import Decoder

from .escalation import Escalator, Presence, Rules, apprise_sender
from .fanout import Fanout
from .handlers import routes
from .hubgroups import HubGroups
from .identity import PublishPolicy, find_owner, new_owner_token
from .ratelimit import RateLimiter
from .service import NotifyService, Retention
from .terminals import Terminals

BLOCK_MS = 2000
"""How long one XREAD waits for entries. Each read also reads the streams' epoch, so this
bounds how long tabs go untold that Redis lost its data (a FLUSHALL wakes no reader)."""
MEMORY_BLOCK_MS = 500
"""The embedded broker wakes a blocked read at once too, but fakeredis lets a reader be
cancelled only when its block ends once a script has written (the publisher's): a short block
keeps a server's shutdown short, and costs nothing without a network."""


class JLN(ExtensionApp):
    """Live notifications for JupyterLab, pushed from Redis Streams."""

    name = "jln_server"
    load_other_extensions = True
    embedded: EmbeddedStore | None = None
    hub_groups: HubGroups | None = None
    _freezing: asyncio.Task[None] | None = None

    redis_url = Unicode(
        help="""Broker URL: redis://, rediss:// or unix:// for a Redis server;
        redis+sentinel://host:26379[,host:26379...]/<service>[/<db>] for the master Redis
        Sentinel names (followed across failovers; ?sentinel_password= if the sentinels ask
        for one); redis+cluster://host:port[,host:port...] for a Redis Cluster; or memory://
        for the embedded in-process broker (single server, kept in JLN.embedded_path).
        On redis://, rediss:// and redis+sentinel://, ?wait_replicas=N[&wait_timeout=MS]
        makes each publish wait until N replicas have it (Redis WAIT), so that a failover
        cannot lose a notification the ingest acknowledged.
        Defaults to the JLN_URL environment variable, else memory://.""",
    ).tag(config=True)
    prefix = Unicode("jln", help="""Prefix of the Redis stream keys (jln:broadcast, ...). On
        a Redis Cluster it is made a hash tag ({jln}:broadcast, ...) unless it holds one, so
        that one XREAD reads all of a server's streams.""").tag(config=True)
    max_stream_length = Int(
        10_000, help="Streams are trimmed to about this many entries (XADD MAXLEN ~).").tag(
        config=True)
    max_message_chars = Int(
        10_000, help="Longest accepted notification message, in characters.").tag(config=True)
    poll_interval = Float(
        30.0, help="Seconds between the browser's polls while its WebSocket is down.").tag(
        config=True)
    send_queue_limit = Int(
        1000, help="""Frames waiting for one WebSocket client before it is cut off as too slow
        (it reconnects and resumes from its cursor).""").tag(config=True)
    freeze_after_start = Bool(
        True, help="""Move what the server holds once started (modules, settings, handlers,
        the loaded notification history) out of the garbage collector's reach (gc.freeze):
        they live as long as the process, and each full collection walking them paused every
        delivery (measured: the slowest of 99 tabs' deliveries went from ~150 ms to ~30 ms).
        The cost: reference cycles among them, should any become garbage, are never freed.
        """).tag(config=True)
    send_queue_bytes = Int(
        256 * 1024, help="""Bytes of frames waiting for one WebSocket client before it is cut
        off as too slow, whatever their number: what a client that stopped reading costs the
        server is this, and the frame on its way (about as much again).""").tag(config=True)
    ingest_rate_limit = Float(
        20.0, help="""Notifications a second one client address may publish through the REST
        ingest, on average; 0 turns the limit off.""").tag(config=True)
    ingest_burst = Int(
        100, help="Notifications one client address may publish at once before the rate "
                  "limit applies.").tag(config=True)
    publisher_secret = Unicode(
        help="""Shared secret that lets a request (header X-JLN-Secret) notify every user or
        any user or group, as a CI system or an admin would. Defaults to the JLN_SECRET
        environment variable; empty means only the server's owner can be notified under
        JupyterHub.""",
    ).tag(config=True)
    github_webhook_secret = Unicode(
        help="""Secret of the GitHub webhook posting to jln/api/hooks/github (the "Secret"
        field of the webhook's settings on GitHub): each delivery's X-Hub-Signature-256 must be
        its HMAC, else it is refused. Defaults to the JLN_GITHUB_WEBHOOK_SECRET environment
        variable; empty turns the GitHub webhook off (403).""",
    ).tag(config=True)
    escalation_urls = List(
        Unicode(), help="""Apprise URLs (one a channel: mailto://, slack://, matrix://,
        ntfy://, json://, ...; see Apprise's documentation) to send on a notification that
        stays unread while no JupyterLab tab of the user is visible. Empty (the default) turns
        escalation off: each user opts in by setting it in their own Jupyter config
        (~/.jupyter/jupyter_server_config.py), an admin may give a default in the system-wide
        one. Defaults to the JLN_ESCALATION_URLS environment variable (URLs separated by
        spaces). Needs the apprise package (pip install jln[escalation]).""",
    ).tag(config=True)
    escalation_min_type = Unicode(
        "error", help="""The least type escalated: error, or warning for warnings and
        errors (the order of the inbox's minType filter).""").tag(config=True)
    escalation_delay = Float(
        600.0, help="""Seconds a notification must stay unread with no tab of the user visible
        before it is escalated (once).""").tag(config=True)
    escalation_link_base = Unicode(
        help="""URL of this server as the user reaches it, for the link back to the inbox item
        (<base>lab?jln-notification=<id>). Default: the server's public_url, else its
        connection URL.""").tag(config=True)
    retention_days = Float(
        30.0, help="""Days notifications are kept: older entries are trimmed from the streams
        (XTRIM MINID) and their read state dropped with them.""").tag(config=True)
    retention_sweep_interval = Float(
        3600.0, help="Seconds between two retention sweeps (the first runs at start).").tag(
        config=True)
    user = Unicode(
        "", help="""Whose notifications this server shows. Default: JupyterHub's user, else the
        operating-system account running the server.""").tag(config=True)
    groups = List(
        Unicode(), help="""Groups whose notifications this server also shows, where the
        identity provider supplies none.""").tag(config=True)
    hub_groups_interval = Float(
        60.0, help="""Under JupyterHub, seconds between two questions to the hub about the
        owner's groups (with the server's own $JUPYTERHUB_API_TOKEN, at hub/api/user): a group
        joined or left on the hub is followed within this long, tab open or not. Without it,
        the groups come with the owner's requests, whose user model the hub client caches for
        HubAuth.cache_max_age (five minutes by default). 0 turns the questions off.""").tag(
        config=True)
    embedded_path = Unicode(
        help="""File the embedded memory:// broker is kept in, so notifications and read state
        outlive a restart (unused with a Redis URL). Default: jln/embedded-broker.msgpack in
        the Jupyter data directory. A damaged file is moved aside to <file>.corrupt-<time>.
        One server at a time keeps a file: a second server given the same one keeps nothing.""",
    ).tag(config=True)
    embedded_save_interval = Float(
        1.0, help="""Seconds between two saves of the embedded broker, made only when something
        changed. A clean shutdown saves everything; a crash (kill -9, power loss) loses what
        changed in at most this long. 0 saves only at shutdown.""").tag(config=True)

    @default("redis_url")
    def _default_redis_url(self) -> str:
        return os.environ.get("JLN_URL", "memory://")

    @default("embedded_path")
    def _default_embedded_path(self) -> str:
        return os.path.join(jupyter_data_dir(), "jln", "embedded-broker.msgpack")

    @default("publisher_secret")
    def _default_publisher_secret(self) -> str:
        return os.environ.get("JLN_SECRET", "")

    @default("github_webhook_secret")
    def _default_github_webhook_secret(self) -> str:
        return os.environ.get("JLN_GITHUB_WEBHOOK_SECRET", "")

    @default("escalation_urls")
    def _default_escalation_urls(self) -> list[str]:
        return os.environ.get("JLN_ESCALATION_URLS", "").split()

    @validate("escalation_min_type")
    def _check_escalation_min_type(self, proposal: dict[str, Any]) -> str:
        try:
            parse_filters({"minType": [proposal["value"]]})
        except ValidationError as err:
            raise TraitError(f"JLN.escalation_min_type {err.problem}") from None
        return str(proposal["value"])

    @validate("redis_url")
    def _check_redis_url(self, proposal: dict[str, Any]) -> str:
        url: str = proposal["value"]
        try:
            reaches = kind(url)
        except ValueError as err:
            raise TraitError(str(err)) from None
        if reaches == "http":
            raise TraitError(f"JLN.redis_url must be a Redis or memory:// URL, not {url!r}")
        return url

    def initialize_settings(self) -> None:
        _log_like(self.log)
        self.embedded = self._load_embedded()  # before any client reads the broker
        owner = find_owner(self.user, self.groups)
        names = StreamNames(key_prefix(self.redis_url, self.prefix))
        limits = Limits(max_message_chars=self.max_message_chars)
        history = History(async_client(self.redis_url, socket_timeout=BLOCK_MS / 1000 + 10),
                          names, owner.name, Decoder(limits, keep_expired=True))
        fanout = Fanout(history, owner.streams(names), queue_limit=self.send_queue_limit,
                        queue_bytes=self.send_queue_bytes,
                        block_ms=MEMORY_BLOCK_MS if kind(self.redis_url) == "memory"
                        else BLOCK_MS)
        publisher = AsyncPublisher(self.redis_url, prefix=self.prefix,
                                   maxlen=self.max_stream_length, limits=limits, retry_for=2.0)
        self.service = NotifyService(
            owner=owner, names=names, limits=limits, fanout=fanout, publisher=publisher,
            policy=PublishPolicy(owner, self.publisher_secret, new_owner_token()),
            limiter=RateLimiter(self.ingest_rate_limit, self.ingest_burst),
            poll_interval=self.poll_interval,
            retention=Retention(self.retention_days, self.max_stream_length,
                                self.retention_sweep_interval))
        self.presence = Presence()
        self.escalator: Escalator | None = None
        self.log.info("JLN: notifications for %s from %s (%s)", owner.name,
                      redact(self.redis_url), ", ".join(fanout.streams))

    def _escalator(self, serverapp: Any) -> Escalator | None:
        """The escalation task when the user opted in (and Apprise is there)."""
        if not self.escalation_urls:
            return None
        try:
            send = apprise_sender(self.escalation_urls)
        except ImportError:
            self.log.warning("JLN: escalation_urls is set but apprise is not installed "
                             "(pip install jln[escalation]): nothing will be escalated")
            return None
        base = str(self.escalation_link_base or serverapp.public_url or
                   serverapp.connection_url)
        rules = Rules(tuple(self.escalation_urls), self.escalation_min_type,
                      self.escalation_delay, base if base.endswith("/") else base + "/")
        return Escalator(self.service, self.presence, rules, send)

    def _load_embedded(self) -> EmbeddedStore | None:
        """The memory:// broker's file, loaded; None with a Redis URL."""
        if kind(self.redis_url) != "memory":
            return None
        store = EmbeddedStore(self.redis_url, self.embedded_path,
                              interval=self.embedded_save_interval)
        store.load()
        return store

    def initialize_handlers(self) -> None:
        web_app = getattr(self.serverapp, "web_app", None)  # whose settings gain terminals
        self.handlers.extend(routes(self.service,
                                    github_webhook_secret=self.github_webhook_secret,
                                    presence=self.presence,
                                    terminals=Terminals(web_app.settings if web_app else {})))

    async def _start_jupyter_server_extension(self, serverapp: Any) -> None:
        self.service.start()
        if self.freeze_after_start:
            self._freezing = asyncio.create_task(self._freeze_once_loaded(), name="jln-freeze")
        self._export_environment(serverapp)
        if self.embedded:
            self.embedded.start()
        self.escalator = self._escalator(serverapp)
        if self.escalator:
            self.escalator.start()
        if self.service.owner.under_hub:
            self.hub_groups = HubGroups.from_environment(
                os.environ, self.hub_groups_interval, self.service.hub_groups)
        if self.hub_groups:
            self.hub_groups.start()

    async def _freeze_once_loaded(self) -> None:
        """Freeze what start-up and loading the history made, less what is garbage already."""
        await self.service.fanout.ready()
        gc.collect()
        gc.freeze()

    def _export_environment(self, serverapp: Any) -> None:
        """Give the kernels and terminals this server starts (and the jobs they start) what
        publishing needs: they inherit its environment. The token notifies the owner only."""
        url = str(serverapp.connection_url)
        try:
            reachable = kind(url) == "http"
        except ValueError:  # a unix socket (http+unix://): our publishers speak TCP only
            reachable = False
        if not reachable:
            self.log.info("JLN: kernels will not publish through %s (not http or https)",
                          redact(url))
            return
        os.environ.update({SERVER_URL_ENV: url, SERVER_ROOT_ENV: str(serverapp.root_dir),
                           SERVER_TOKEN_ENV: self.service.policy.owner_token})

    async def stop_extension(self) -> None:
        if self._freezing:
            self._freezing.cancel()
        if self.escalator:
            await self.escalator.stop()
        if self.hub_groups:
            await self.hub_groups.stop()
        if os.environ.get(SERVER_TOKEN_ENV) == self.service.policy.owner_token:
            for name in (SERVER_URL_ENV, SERVER_ROOT_ENV, SERVER_TOKEN_ENV):
                os.environ.pop(name, None)
        await self.service.stop()
        if self.embedded:  # after the fan-out: nothing writes any more
            await self.embedded.stop()


main = JLN.launch_instance
"""``jupyter jln``: a Jupyter server with this extension; ``jupyter jln --help-all`` lists every
``JLN`` setting with its help (``jupyter server --help-all`` shows only the server's own)."""


def _log_like(server_log: logging.Logger | logging.LoggerAdapter[logging.Logger]) -> None:
    """Send the ``jln.*`` loggers (library code, no Jupyter imports) through the server's
    handlers, so their lines carry the server's timestamp and level format."""
    target = server_log.logger if isinstance(server_log, logging.LoggerAdapter) else server_log
    _drop_unseen_records(target)
    ours = logging.getLogger("jln")
    ours.setLevel(target.getEffectiveLevel())
    ours.handlers = list(target.handlers)  # still propagating: the root logger has none


def _drop_unseen_records(server_log: logging.Logger) -> None:
    """Raise the server's logger to the lowest level one of its handlers writes. traitlets keeps
    the logger at DEBUG and filters in the handler, so each debug call of every request (the
    access line of each success, the token check's) built a record only to drop it: ~4 % of
    an ingest request. Nothing that was written is lost; a handler added through
    ``logging_config`` or ``--log-level=DEBUG`` keeps its level, and the server's next logging
    change (dictConfig) puts the logger back to DEBUG."""
    if server_log.propagate or not server_log.handlers:
        return  # records go on to other loggers' handlers: not ours to judge
    lowest = min(handler.level for handler in server_log.handlers)
    if lowest > server_log.level:
        server_log.setLevel(lowest)

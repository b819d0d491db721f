"""Escalation when nobody is looking: a notification of at least a chosen type that stays
unread while no JupyterLab tab of the owner is visible for a while is sent on, once, through
Apprise (email, Slack, Matrix, ntfy, ... one URL a channel), with a link back to the item.

Tabs say whether they are visible with ``POST jln/api/presence`` (``Presence``); a visible
report counts for ``PRESENCE_TTL`` seconds, so a visible tab repeats it within that time and a
closed or crashed one stops counting by itself. Marking the notification read first cancels
the escalation: read state is looked up again right before sending. What was escalated is
remembered in memory; notifications from before the server started are never escalated, so a
restart sends nothing twice (and forgets what was pending).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from jln_broker.backoff import REFUSED, RETRYABLE
from jln_broker.history import parse_filters
from jln_broker.protocol import Delivered

from .service import NotifyService

log = logging.getLogger("jln.escalation")

PRESENCE_TTL = 90.0
"""Seconds a tab's ``visible: true`` counts; a visible tab repeats it within that time."""
Send = Callable[[str, str, str], Awaitable[bool]]
"""``send(title, body, type)``: True when every channel took it."""


class Presence:
    """Which tabs of the owner are visible, as they last said."""

    def __init__(self, ttl: float = PRESENCE_TTL,
                 clock: Callable[[], float] = time.time) -> None:
        self.ttl = ttl
        self.clock = clock
        self._visible: dict[str, float] = {}  # tab -> when it last said visible
        self._hidden_since = clock()  # no tab has been visible since then

    def report(self, tab: str, visible: bool) -> None:
        now = self.clock()
        self._expire(now)
        if visible:
            self._visible[tab] = now
        elif self._visible.pop(tab, None) is not None and not self._visible:
            self._hidden_since = now

    def hidden_since(self) -> float | None:
        """Since when (epoch seconds) no tab is visible; None while one is."""
        self._expire(self.clock())
        return None if self._visible else self._hidden_since

    def _expire(self, now: float) -> None:
        for tab, said in list(self._visible.items()):
            if now - said > self.ttl:
                del self._visible[tab]
                if not self._visible:
                    self._hidden_since = said + self.ttl


@dataclass(frozen=True)
class Rules:
    """Who escalates what: Apprise ``urls`` (none: off), the least ``min_type``, after
    ``delay`` seconds unread and unseen; links start with ``link_base`` (the server's URL)."""

    urls: tuple[str, ...]
    min_type: str = "error"
    delay: float = 600.0
    link_base: str = ""

    def link(self, delivered: Delivered) -> str:
        """The inbox item in JupyterLab: ``<server>lab?jln-notification=<id>``."""
        return f"{self.link_base}lab?jln-notification={quote(delivered.id, safe='')}"


class Escalator:
    """The background task: every few seconds, while no tab is visible, send on what has
    waited ``delay`` seconds unread (since it came, or since the last tab was hidden)."""

    def __init__(self, service: NotifyService, presence: Presence, rules: Rules,
                 send: Send) -> None:
        self.service = service
        self.presence = presence
        self.rules = rules
        self.send = send
        self.started_ms = int(time.time() * 1000)
        # Only what came since this start (what came before is not escalated), so a backlog
        # of old unread errors cannot fill the page and hide the new ones.
        self.filters = parse_filters({"read": ["false"], "minType": [rules.min_type],
                                      "createdAfter": [str(self.started_ms - 1)]})
        self.sent: set[str] = set()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self.run(), name="jln-escalation")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def run(self) -> None:
        await self.service.fanout.ready()
        tick = min(5.0, max(0.05, self.rules.delay / 4))
        while True:
            try:
                await self.check()
            except (*RETRYABLE, *REFUSED) as err:
                log.warning("escalation: could not read the inbox (%s); trying again", err)
            await asyncio.sleep(tick)

    async def check(self) -> None:
        """Send on each notification due now (read state as Redis has it this moment)."""
        hidden = self.presence.hidden_since()
        if hidden is None:
            return
        now_ms = time.time() * 1000
        due_ms = self.rules.delay * 1000
        page = await self.service.history.page(self.filters, 200, None, "oldest")
        for entry in page.items:
            delivered = entry.delivered
            if delivered.id in self.sent:
                continue
            if now_ms - max(delivered.created_at, hidden * 1000) >= due_ms:
                self.sent.add(delivered.id)  # once, even if a channel fails
                await self._send(delivered)

    async def _send(self, delivered: Delivered) -> None:
        n = delivered.notification
        title = n.title or n.origin or "JupyterLab notification"
        body = f"{n.message}\n\nOpen it in JupyterLab: {self.rules.link(delivered)}"
        if not await self.send(title, body, n.type):
            log.warning("escalation: a channel refused %s", delivered.id)


def apprise_sender(urls: Sequence[str]) -> Send:
    """``send`` through Apprise to every URL (imported here: an optional dependency,
    ``pip install jln[escalation]``)."""
    import apprise

    kinds: dict[str, Any] = {"error": apprise.NotifyType.FAILURE,
                             "warning": apprise.NotifyType.WARNING,
                             "success": apprise.NotifyType.SUCCESS}
    channels = apprise.Apprise()
    for url in urls:
        if not channels.add(url):
            log.warning("escalation: Apprise does not take the URL %.40s...", url)

    async def send(title: str, body: str, kind: str) -> bool:
        done = await asyncio.to_thread(channels.notify, body=body, title=title,
                                       notify_type=kinds.get(kind, apprise.NotifyType.INFO))
        return bool(done)

    return send

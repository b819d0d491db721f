"""``jln/api/hooks/<source>``: other alert systems' webhooks. Each delivery is translated by
its ``webhooks`` module, then every notification it means is validated and authorized before
the first is written, and written with the delivery's own idempotency key (a redelivery writes
nothing twice). Alertmanager authenticates like the REST ingest (a Jupyter token, and the
publisher secret for other audiences); GitHub by the ``X-Hub-Signature-256`` of its body."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from jupyter_server.auth.decorator import allow_unauthenticated, authorized
from tornado import web

from jln_broker.model import validate, validate_names

from ..service import NotifyService
from ..webhooks import Audience, Outgoing, alertmanager, github
from .base import BaseHandler, Failure, http_errors

AUDIENCE = frozenset({"users", "groups"})


class HookHandler(BaseHandler):
    """What the webhook endpoints share: the audience from the query, publishing a batch."""

    def audience(self) -> Audience:
        """``?users=ada&users=bob&groups=ml``: one name a value, checked as a notification's
        audience is, even when the delivery holds nothing to send. The query alone: tornado
        would take a body sent as a form for arguments too."""
        unknown = sorted(set(self.request.query_arguments) - AUDIENCE - {"token"})
        if unknown:
            raise Failure(400, f"{unknown[0]}: unknown argument (known: groups, users)",
                          unknown[0])
        with http_errors():
            users, groups = (validate_names(name, self.get_query_arguments(name, strip=False),
                                            self.service.limits)
                             for name in ("users", "groups"))
        return Audience(users, groups)

    async def publish_all(self, outgoing: Sequence[Outgoing], *, requester: str,
                          current_user: Any, secret: str | None) -> None:
        """Check every notification, then write each; answer 200 with all their ids."""
        owner = self.service.owner.name
        ready = [(o, {**Audience().fields(owner), **o.notification}) for o in outgoing]
        service = self.service
        ids: list[str] = []
        with http_errors():
            for _, raw in ready:
                checked = validate(raw, service.limits)
                service.policy.check(checked.users, checked.groups, current_user, secret)
            for item, raw in ready:
                ids += await service.publish(raw, requester=requester, current_user=current_user,
                                             secret=secret, idempotency_key=item.idempotency_key)
        self.finish({"ids": ids})


class AlertmanagerHook(HookHandler):
    @web.authenticated
    @authorized
    async def post(self) -> None:
        """One notification per alert of a Prometheus Alertmanager delivery (version 4)."""
        audience = self.audience()
        body = self.json_body()
        with http_errors():
            outgoing = alertmanager.translate(body, audience)
        await self.publish_all(outgoing, current_user=self.current_user, secret=self.secret,
                               requester=self.service.policy.requester(self.current_user,
                                                                       self.secret))


class GitHubHook(HookHandler):
    """Authenticated by the body's HMAC alone: GitHub sends no Jupyter token and no cookie."""

    signature_header = "X-Hub-Signature-256"
    """The credential this endpoint takes instead of Jupyter's: ``sha256=<HMAC of the body>``."""

    def initialize(self, service: NotifyService, github_secret: str = "") -> None:
        super().initialize(service)
        self.github_secret = github_secret

    def check_xsrf_cookie(self) -> None:
        """No cookie authenticates this endpoint, so there is no cross-site request to fear:
        the signature is checked in ``post``."""

    @allow_unauthenticated
    async def post(self) -> None:
        """A ``workflow_run`` or ``check_run`` delivery as one notification (others: none)."""
        self.verify_signature()
        event = self.request.headers.get("X-GitHub-Event")
        if not event:
            raise Failure(400, "X-GitHub-Event: header is required", "X-GitHub-Event")
        audience = self.audience()
        body = self.json_body()
        with http_errors():
            outgoing = github.translate(event, self.request.headers.get("X-GitHub-Delivery", ""),
                                        body, audience)
        await self.publish_all(outgoing, requester="webhook:github", current_user=None,
                               secret=None)

    def verify_signature(self) -> None:
        header = self.signature_header
        if not self.github_secret:
            raise Failure(403, "GitHub webhooks are off: set JLN.github_webhook_secret", header)
        given = self.request.headers.get(header)
        if not given:
            raise Failure(401, f"{header}: header is required (set the webhook's secret on "
                               "GitHub)", header)
        if not github.signature_ok(self.github_secret, self.request.body, given):
            raise Failure(403, f"{header}: does not match the body under "
                               "JLN.github_webhook_secret", header)

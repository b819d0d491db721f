"""Who this server serves, and who may publish to whom.

A Jupyter server belongs to one person: standalone, the OS account running it (jupyter_server's
own identity is a random name made afresh at each start, useless as a Redis key); under
JupyterHub, the hub user. Its audience is broadcast, that user, and that user's groups.

Its kernels and terminals publish with the owner token: a random token made at each start and
put in their environment, which notifies the owner and nobody else.
"""

from __future__ import annotations

import getpass
import hmac
import os
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from jupyter_server.auth import User

from jln_broker.discovery import SERVER_TOKEN_ENV
from jln_broker.model import Notification
from jln_broker.protocol import StreamNames

OWNER_TOKEN_PREFIX = "jln-owner-"


class Forbidden(Exception):
    """The requester may not publish to that audience (HTTP 403)."""


@dataclass(frozen=True)
class Owner:
    """The person this server serves."""

    name: str
    groups: tuple[str, ...] = ()
    under_hub: bool = False

    def streams(self, names: StreamNames) -> list[str]:
        return names.audience(self.name, self.groups)


def find_owner(configured_user: str, configured_groups: Iterable[str],
               env: Mapping[str, str] = os.environ) -> Owner:
    """The owner from config, else the hub's ``JUPYTERHUB_USER``, else the OS account."""
    under_hub = "JUPYTERHUB_USER" in env or "JUPYTERHUB_API_TOKEN" in env
    name = configured_user or env.get("JUPYTERHUB_USER") or getpass.getuser()
    return Owner(name, tuple(dict.fromkeys(configured_groups)), under_hub)


def hub_user(current_user: Any) -> Mapping[str, Any]:
    """The JupyterHub user model jupyter_server attaches under JupyterHub, or an empty one."""
    model = getattr(current_user, "hub_user", None)
    return model if isinstance(model, Mapping) else {}


def new_owner_token() -> str:
    """A fresh owner token: unguessable, and recognisable without comparing it to anything."""
    return OWNER_TOKEN_PREFIX + secrets.token_urlsafe(32)


@dataclass
class OwnerTokenHolder(User):
    """Whoever presents the owner token: a kernel or terminal of this server, or a job they
    started. It may notify the owner, nothing else."""


@dataclass(frozen=True)
class PublishPolicy:
    """Anyone authenticated may notify the owner. Broadcast and other audiences need a standalone
    server (its one user is everyone it serves), the publisher secret, or a hub admin. The owner
    token notifies the owner alone (with no audience named, the owner is meant)."""

    owner: Owner
    secret: str = ""
    owner_token: str = ""

    def token_holder(self, authorization: str | None) -> OwnerTokenHolder | None:
        """The holder of the owner token, if ``authorization`` (an ``Authorization`` header,
        ``token <t>`` or ``bearer <t>``) carries it."""
        scheme, _, given = (authorization or "").strip().partition(" ")
        given = given.strip()
        if (scheme.lower() not in ("token", "bearer") or not self.owner_token
                or not given.startswith(OWNER_TOKEN_PREFIX)):
            return None
        if not hmac.compare_digest(self.owner_token.encode(), given.encode()):
            return None
        return OwnerTokenHolder(username=f"jln-owner-token:{self.owner.name}",
                                name=f"{self.owner.name}'s kernels and terminals")

    def addressed(self, notification: Notification, current_user: Any) -> Notification:
        """With the owner token, a notification naming no audience is for the owner."""
        if isinstance(current_user, OwnerTokenHolder) and notification.is_broadcast:
            return replace(notification, users=(self.owner.name,))
        return notification

    def check(self, users: Sequence[str], groups: Sequence[str], current_user: Any,
              secret: str | None) -> None:
        """May ``current_user`` (with ``secret``, if any) reach these users and groups (none of
        either: everyone)?"""
        if tuple(users) == (self.owner.name,) and not groups:
            return
        if isinstance(current_user, OwnerTokenHolder) and not self.secret_ok(secret):
            raise Forbidden(f"the owner token (${SERVER_TOKEN_ENV}) may only notify "
                            f"{self.owner.name}; other users, groups and broadcast need the "
                            "publisher secret or a Jupyter token")
        if not self.owner.under_hub:
            return
        if self.secret_ok(secret):
            return
        if hub_user(current_user).get("admin"):
            return
        raise Forbidden(f"only the owner ({self.owner.name}) may be notified from here; "
                        "broadcast and other users or groups need the publisher secret "
                        "(X-JLN-Secret header) or a JupyterHub admin")

    def check_receipts(self, stream: str, names: StreamNames, groups: Sequence[str],
                       current_user: Any, secret: str | None) -> None:
        """May ``current_user`` see who read an entry of ``stream``? Of the streams the owner
        reads (with ``groups``, the owner's groups now), or any with the publisher secret or as
        a hub admin; the owner token, of the owner's own stream alone. A receipt says when
        someone received and read something: another user's, found by a guessed id, is not
        the owner's to know."""
        if isinstance(current_user, OwnerTokenHolder):
            allowed = [names.user(self.owner.name)]
        else:
            allowed = names.audience(self.owner.name, groups)
        if stream in allowed or self.secret_ok(secret) or hub_user(current_user).get("admin"):
            return
        raise Forbidden(f"receipts are for the streams {self.owner.name} reads "
                        f"({', '.join(allowed)}); others need the publisher secret "
                        "(X-JLN-Secret header) or a JupyterHub admin")

    def secret_ok(self, secret: str | None) -> bool:
        # As bytes: compare_digest refuses str with non-ASCII characters (a TypeError, a 500).
        return bool(self.secret and secret
                    and hmac.compare_digest(self.secret.encode(), secret.encode()))

    def requester(self, current_user: Any, secret: str | None) -> str:
        """Whom the ingest rate limit counts against: the secret's holder, else the hub user,
        else the owner (behind JupyterHub's proxy every caller has the same address, and a
        token request's own identity is a name made up per request)."""
        if self.secret_ok(secret):
            return "secret"
        name = hub_user(current_user).get("name")
        return f"user:{name if isinstance(name, str) and name else self.owner.name}"

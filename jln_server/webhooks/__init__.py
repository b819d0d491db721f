"""Other alert systems' webhooks, translated: one small module per source, each a pure function
from a payload (already parsed JSON) to the notifications it means. The handlers in
``handlers/hooks.py`` authenticate, then publish what these return through the service, so the
same validation, policy, rate limit and idempotency apply as for the REST ingest."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jln_broker.errors import ValidationError
from jln_broker.model import validate

SHORT = 200
"""The model's limit on a title, origin, topic or key (``Limits.max_short_chars``)."""
MESSAGE = 4000
"""Longest message made from an alert's text; well under the server's ``max_message_chars``."""


@dataclass(frozen=True)
class Audience:
    """Who a webhook's notifications go to: none of either is the server's owner."""

    users: tuple[str, ...] = ()
    groups: tuple[str, ...] = ()

    def fields(self, owner: str) -> dict[str, list[str]]:
        if not self.users and not self.groups:
            return {"users": [owner]}
        return {"users": list(self.users), "groups": list(self.groups)}


OWNER = Audience()
"""No audience given: the server's owner."""


@dataclass(frozen=True)
class Outgoing:
    """One notification to publish (wire names, audience left to the handler) and the
    idempotency key that makes a redelivery of the same event write nothing."""

    notification: dict[str, Any]
    idempotency_key: str


def names(text: str | Sequence[str] | None) -> tuple[str, ...]:
    """``"ada, bob"``, or several such, as a tuple of names in order without repeats."""
    if text is None:
        return ()
    parts = [text] if isinstance(text, str) else list(text)
    return tuple(dict.fromkeys(n.strip() for p in parts for n in p.split(",") if n.strip()))


def idempotency_key(source: str, *parts: str) -> str:
    """A key of printable ASCII (the publisher's rule) whatever the payload's text holds."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8", "surrogatepass")).hexdigest()
    return f"{source}:{digest[:40]}"


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def http_url(value: Any) -> str | None:
    """``value`` when the model takes it as a link (http(s), ASCII host), else None: a link we
    cannot show is left out rather than refusing the whole alert."""
    if not isinstance(value, str) or not value:
        return None
    try:
        validate({"message": "-", "link": value})
    except ValidationError:
        return None
    return value


_KINDS: dict[type, str] = {str: "text", dict: "an object", list: "a list",
                           int: "a whole number"}


def need(payload: Mapping[str, Any], name: str, kind: type, where: str = "") -> Any:
    """``payload[name]`` of the JSON type ``kind``, else a 400 naming the field."""
    value = payload.get(name)
    if isinstance(value, bool) or not isinstance(value, kind):
        missing = "" if name in payload else " (missing)"
        raise ValidationError(f"{where}{name}", f"must be {_KINDS[kind]}{missing}")
    return value


def as_object(body: Any) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise ValidationError("body", "must be a JSON object")
    return body

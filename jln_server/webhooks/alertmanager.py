"""Prometheus Alertmanager's webhook (payload version 4): one notification per alert.

A firing alert is an error, or a warning when its ``severity`` label says it is minor; a
resolved one is a success. Each is keyed by the alert's fingerprint, so the resolution replaces
the firing notification in place in the inbox. The title is the ``alertname`` label, the
message the ``summary`` and ``description`` annotations, and the action a link to the
generator URL (the Prometheus graph). A delivery is identified by fingerprint, status and
``startsAt``: Alertmanager resends a group at every ``repeat_interval`` and after a failure,
and each alert is written once.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from jln_broker.errors import ValidationError

from . import (
    MESSAGE,
    OWNER,
    SHORT,
    Audience,
    Outgoing,
    as_object,
    clip,
    http_url,
    idempotency_key,
    names,
)
from . import need as _need

ORIGIN = "alertmanager"
VERSION = "4"
WARNING_SEVERITIES = frozenset({"warning", "warn", "minor", "low", "info", "informational",
                                "notice", "none"})
"""``severity`` label values that make a firing alert a warning; any other (``critical``,
``error``, ``page``, none at all) makes it an error."""
USERS_LABEL = "jln_users"
GROUPS_LABEL = "jln_groups"
"""Labels that address an alert (comma-separated names) when the URL's query does not."""


def translate(body: Any, audience: Audience = OWNER) -> list[Outgoing]:
    """The notifications of one webhook delivery, in the payload's order. ``audience`` (from
    the URL's ``users``/``groups``) wins over the alerts' own ``jln_users``/``jln_groups``
    labels; with neither, the handler sends to the server's owner."""
    payload = as_object(body)
    version = payload.get("version")
    if version != VERSION:
        raise ValidationError("version", f"must be {VERSION!r} (Alertmanager's webhook payload "
                                         f"version 4), not {version!r:.40}")
    alerts = _need(payload, "alerts", list)
    return [_one(alert, f"alerts[{i}].", audience) for i, alert in enumerate(alerts)]


def _one(raw: Any, where: str, audience: Audience) -> Outgoing:
    if not isinstance(raw, Mapping):
        raise ValidationError(where.rstrip("."), "must be an object")
    status = _need(raw, "status", str, where)
    if status not in ("firing", "resolved"):
        raise ValidationError(f"{where}status", f"must be firing or resolved, not {status!r:.40}")
    fingerprint = _need(raw, "fingerprint", str, where)
    if not fingerprint:
        raise ValidationError(f"{where}fingerprint", "must not be empty")
    labels = _strings(raw, "labels", where)
    annotations = _strings(raw, "annotations", where)
    starts_at = _optional_text(raw, "startsAt", where)
    name = labels.get("alertname") or "Alert"
    notification: dict[str, Any] = {
        "type": _type(status, labels.get("severity", "")),
        "title": clip(name if status == "firing" else f"Resolved: {name}", SHORT),
        "message": clip(_message(status, annotations, labels), MESSAGE),
        "origin": ORIGIN,
        "topic": clip(name, SHORT),
        "key": clip(f"alert:{fingerprint}", SHORT),
        "autoClose": False if status == "firing" else 10_000,
        "data": {"fingerprint": fingerprint[:SHORT], "status": status,
                 "startsAt": starts_at[:64]},
    }
    if link := http_url(_optional_text(raw, "generatorURL", where)):
        notification["actions"] = [{"label": "Open in Prometheus", "link": link}]
    chosen = audience if audience.users or audience.groups else Audience(
        names(labels.get(USERS_LABEL)), names(labels.get(GROUPS_LABEL)))
    if chosen.users or chosen.groups:
        notification.update(users=list(chosen.users), groups=list(chosen.groups))
    return Outgoing(notification, idempotency_key(ORIGIN, fingerprint, status, starts_at))


def _strings(raw: Mapping[str, Any], name: str, where: str) -> dict[str, str]:
    """Labels or annotations: an object of text (absent is empty)."""
    value = raw.get(name, {})
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ValidationError(f"{where}{name}", "must be an object of text values")
    return dict(value)


def _optional_text(raw: Mapping[str, Any], name: str, where: str) -> str:
    value = raw.get(name, "")
    if not isinstance(value, str):
        raise ValidationError(f"{where}{name}", "must be text")
    return value


def _type(status: str, severity: str) -> str:
    if status == "resolved":
        return "success"
    return "warning" if severity.strip().lower() in WARNING_SEVERITIES else "error"


def _message(status: str, annotations: Mapping[str, str], labels: Mapping[str, str]) -> str:
    text = "\n\n".join(t.strip() for t in (annotations.get("summary", ""),
                                           annotations.get("description", "")) if t.strip())
    if not text:
        shown = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()) if k != "alertname")
        text = shown or "(no summary)"
    return text if status == "firing" else f"Resolved. {text}"

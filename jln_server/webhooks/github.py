"""GitHub's webhooks for Actions: ``workflow_run`` and ``check_run`` events.

A run queued or in progress is an ``in-progress`` notification; a completed one a success or,
by its conclusion, an error (failure, timed out, ...), a warning (cancelled, stale) or info
(neutral, skipped). All of one run share a key (``run:<id>``, ``check:<id>``), so each replaces
the last in the inbox. The delivery's ``X-GitHub-Delivery`` id makes a redelivery a no-op.
``X-Hub-Signature-256`` is checked by ``signature_ok`` before any of this runs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

from jln_broker.errors import ValidationError

from . import OWNER, SHORT, Audience, Outgoing, as_object, clip, http_url, idempotency_key
from . import need as _need

ORIGIN = "github"
EVENTS = ("workflow_run", "check_run")
"""The events translated; ``ping`` and any other are accepted and publish nothing."""
_CONCLUSIONS = {"success": "success", "neutral": "info", "skipped": "info",
                "cancelled": "warning", "stale": "warning"}
"""Any other conclusion (failure, timed_out, action_required, startup_failure) is an error."""


def signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """Whether ``header`` is ``sha256=<hex HMAC-SHA256 of body under secret>``, compared in
    constant time. An unset secret verifies nothing."""
    if not secret or not header or not header.startswith("sha256="):
        return False
    expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), header[len("sha256="):].strip().encode(
        "ascii", "replace"))


def translate(event: str, delivery: str, body: Any,
              audience: Audience = OWNER) -> list[Outgoing]:
    """The notification of one delivery of ``event`` (the ``X-GitHub-Event`` header), or none
    for an event this does not translate."""
    payload = as_object(body)
    if event not in EVENTS:
        return []
    if not delivery:
        raise ValidationError("X-GitHub-Delivery", "header is required")
    run = _need(payload, event, dict)
    repository = payload.get("repository")
    repo = repository.get("full_name") if isinstance(repository, Mapping) else None
    notification = (_workflow_run if event == "workflow_run" else _check_run)(run, repo)
    notification.update(origin=ORIGIN, topic=clip(repo or event, SHORT))
    if audience.users or audience.groups:
        notification.update(users=list(audience.users), groups=list(audience.groups))
    return [Outgoing(notification, idempotency_key(ORIGIN, delivery))]


def _workflow_run(run: Mapping[str, Any], repo: str | None) -> dict[str, Any]:
    where = "workflow_run."
    run_id = _need(run, "id", int, where)
    name = _text(run, "name") or "Workflow"
    number = run.get("run_number")
    what = _text(run, "display_title") or name
    branch = _text(run, "head_branch")
    detail = " ".join(p for p in (f"#{number}" if isinstance(number, int) else "",
                                  f"on {branch}" if branch else "") if p)
    return _notification(f"run:{run_id}", name, repo, what, detail, run, where,
                         "Open run", {"runId": run_id})


def _check_run(run: Mapping[str, Any], repo: str | None) -> dict[str, Any]:
    where = "check_run."
    run_id = _need(run, "id", int, where)
    name = _text(run, "name") or "Check"
    suite = run.get("check_suite")
    branch = _text(suite, "head_branch") if isinstance(suite, Mapping) else ""
    sha = _text(run, "head_sha")[:7]
    detail = " ".join(p for p in (f"on {branch}" if branch else "", sha) if p)
    return _notification(f"check:{run_id}", name, repo, name, detail, run, where,
                         "Open check", {"checkRunId": run_id})


def _notification(key: str, name: str, repo: str | None, what: str, detail: str,
                  run: Mapping[str, Any], where: str, label: str,
                  data: dict[str, Any]) -> dict[str, Any]:
    status = _need(run, "status", str, where)
    kind, state = "in-progress", status.replace("_", " ")
    if status == "completed":
        conclusion = _need(run, "conclusion", str, where)
        kind, state = _CONCLUSIONS.get(conclusion, "error"), conclusion.replace("_", " ")
        data = {**data, "conclusion": conclusion}
    notification: dict[str, Any] = {
        "type": kind, "key": key, "autoClose": 10_000 if kind == "success" else False,
        "title": clip(f"{repo}: {name}" if repo else name, SHORT),
        "message": clip(f"{what}: {state}" + (f" ({detail})" if detail else ""), 1000),
        "data": {**data, "status": status},
    }
    if link := http_url(run.get("html_url")) or http_url(run.get("details_url")):
        notification["actions"] = [{"label": label, "link": link}]
    return notification


def _text(raw: Mapping[str, Any], name: str) -> str:
    value = raw.get(name)
    return value if isinstance(value, str) else ""

"""The webhooks of other alert systems, on the recorded sample payloads in
``tests/fixtures/hooks/`` (written for these tests from the public payload documentation):
first the pure translations, then through the in-process server and its inbox."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from tornado.httpclient import AsyncHTTPClient

from jln_broker.errors import ValidationError
from jln_server.webhooks import Audience, alertmanager, github

from .clients import FRAME_TIMEOUT, InProcess

HOOKS = Path(__file__).parent.parent / "fixtures" / "hooks"
SECRET = "It's a Secret to Everybody"


def sample(name: str) -> dict[str, Any]:
    return dict(json.loads((HOOKS / f"{name}.json").read_text()))


def signed(body: bytes, secret: str = SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- the translations, pure ---------------------------------------------------------------------

def test_firing_alerts_are_errors_or_warnings_by_severity_with_a_link() -> None:
    critical, minor = alertmanager.translate(sample("alertmanager-firing"))
    assert (critical.notification["type"], minor.notification["type"]) == ("error", "warning")
    assert critical.notification["title"] == "GpuNodeDown"
    assert critical.notification["message"].startswith("gpu-07 stopped answering\n\nNo scrape")
    assert critical.notification["key"] == "alert:5e1f0c2a9b7d4e31"
    assert critical.notification["actions"][0]["link"].startswith("http://prometheus.lab")
    assert "users" not in critical.notification  # the handler's default: the owner


def test_a_resolution_is_a_success_with_the_firing_ones_key_and_another_delivery_key() -> None:
    [firing, _] = alertmanager.translate(sample("alertmanager-firing"))
    [resolved] = alertmanager.translate(sample("alertmanager-resolved"))
    assert resolved.notification["type"] == "success"
    assert (resolved.notification["key"], resolved.notification["origin"]) == (
        firing.notification["key"], firing.notification["origin"])
    assert resolved.idempotency_key != firing.idempotency_key


def test_the_audience_comes_from_the_query_else_from_labels() -> None:
    payload = sample("alertmanager-firing")
    payload["alerts"][0]["labels"]["jln_groups"] = "ml, infra"
    by_label, _ = alertmanager.translate(payload)
    assert (by_label.notification["users"], by_label.notification["groups"]) == ([], ["ml",
                                                                                      "infra"])
    by_query, _ = alertmanager.translate(payload, Audience(("ada",)))
    assert (by_query.notification["users"], by_query.notification["groups"]) == (["ada"], [])


@pytest.mark.parametrize(("change", "field"), [
    (lambda p: p.update(version="3"), "version"),
    (lambda p: p.pop("alerts"), "alerts"),
    (lambda p: p["alerts"][1].update(status="pending"), "alerts[1].status"),
    (lambda p: p["alerts"][0].pop("fingerprint"), "alerts[0].fingerprint"),
    (lambda p: p["alerts"][0].update(labels={"severity": 3}), "alerts[0].labels"),
])
def test_a_broken_alertmanager_payload_names_the_field(change: Any, field: str) -> None:
    payload = sample("alertmanager-firing")
    change(payload)
    with pytest.raises(ValidationError) as caught:
        alertmanager.translate(payload)
    assert caught.value.field == field


def test_a_workflow_run_in_progress_then_failed_shares_the_run_key() -> None:
    [started] = github.translate("workflow_run", "d-1", sample("github-workflow_run-in_progress"))
    [failed] = github.translate("workflow_run", "d-2", sample("github-workflow_run-completed"))
    assert (started.notification["type"], failed.notification["type"]) == ("in-progress",
                                                                            "error")
    assert started.notification["key"] == failed.notification["key"] == "run:8812345601"
    assert failed.notification["title"] == "octo-lab/models: Nightly training"
    assert failed.notification["actions"][0]["link"].endswith("/actions/runs/8812345601")
    assert "failure" in failed.notification["message"]


def test_a_check_run_success_and_a_ping_and_other_events() -> None:
    [check] = github.translate("check_run", "d-3", sample("github-check_run-completed"))
    assert (check.notification["type"], check.notification["key"]) == ("success",
                                                                       "check:24001337")
    assert github.translate("ping", "d-4", sample("github-ping")) == []
    assert github.translate("push", "d-5", {"ref": "refs/heads/main"}) == []


def test_a_broken_github_payload_names_the_field() -> None:
    payload = sample("github-workflow_run-completed")
    del payload["workflow_run"]["conclusion"]
    with pytest.raises(ValidationError) as caught:
        github.translate("workflow_run", "d-6", payload)
    assert caught.value.field == "workflow_run.conclusion"


def test_the_signature_is_the_bodys_hmac_under_the_secret() -> None:
    body = b'{"zen": "x"}'
    assert github.signature_ok(SECRET, body, signed(body))
    assert not github.signature_ok(SECRET, body + b" ", signed(body))
    assert not github.signature_ok(SECRET, body, signed(body, "another"))
    assert not github.signature_ok("", body, signed(body, ""))
    assert not github.signature_ok(SECRET, body, "sha1=" + "0" * 40)


# --- through the server ---------------------------------------------------------------------

async def post(server: InProcess, source: str, body: bytes, headers: dict[str, str],
               **query: str) -> tuple[int, Any]:
    url = f"{server.url}jln/api/hooks/{source}" + (f"?{urlencode(query)}" if query else "")
    response = await AsyncHTTPClient().fetch(url, method="POST", body=body, headers=headers,
                                             raise_error=False, request_timeout=FRAME_TIMEOUT)
    return response.code, json.loads(response.body) if response.body else None


async def alert(server: InProcess, name: str, **query: str) -> tuple[int, Any]:
    body = (HOOKS / f"{name}.json").read_bytes()
    return await post(server, "alertmanager", body, {"Authorization": f"token {server.token}"},
                      **query)


async def deliver(server: InProcess, name: str, delivery: str, *,
                  event: str = "workflow_run", secret: str = SECRET) -> tuple[int, Any]:
    body = (HOOKS / f"{name}.json").read_bytes()
    return await post(server, "github", body, {
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery,
        "X-Hub-Signature-256": signed(body, secret), "Content-Type": "application/json"})


async def inbox(server: InProcess) -> list[dict[str, Any]]:
    response = await AsyncHTTPClient().fetch(
        f"{server.url}jln/api/notifications?limit=50",
        headers={"Authorization": f"token {server.token}"}, request_timeout=FRAME_TIMEOUT)
    return list(json.loads(response.body)["notifications"])


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_firing_then_resolved_replaces_the_alert_in_place(server: InProcess) -> None:
    code, answer = await alert(server, "alertmanager-firing")
    assert code == 200, answer
    assert sorted(n["type"] for n in await inbox(server)) == ["error", "warning"]
    code, answer = await alert(server, "alertmanager-resolved")
    assert code == 200 and len(answer["ids"]) == 1
    listed = await inbox(server)
    gpu07 = [n for n in listed if n["key"] == "alert:5e1f0c2a9b7d4e31"]
    assert [n["type"] for n in gpu07] == ["success"]
    assert len(listed) == 2  # the resolution in place of gpu-07's, gpu-11's still firing


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_an_alertmanager_redelivery_writes_nothing_twice(server: InProcess) -> None:
    _, first = await alert(server, "alertmanager-firing")
    _, again = await alert(server, "alertmanager-firing")
    assert again["ids"] == first["ids"]
    assert len(await inbox(server)) == 2


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_alertmanager_needs_a_token_and_names_a_broken_field(server: InProcess) -> None:
    body = (HOOKS / "alertmanager-firing.json").read_bytes()
    assert (await post(server, "alertmanager", body, {}))[0] == 403
    broken = sample("alertmanager-firing")
    broken["alerts"][0]["status"] = 7
    code, answer = await post(server, "alertmanager", json.dumps(broken).encode(),
                              {"Authorization": f"token {server.token}"})
    assert (code, answer["field"]) == (400, "alerts[0].status")
    code, answer = await alert(server, "alertmanager-firing", team="ml")
    assert (code, answer["field"]) == (400, "team")
    assert await inbox(server) == []


@pytest.mark.asyncio
@pytest.mark.jln(user="ada", github_webhook_secret=SECRET)
async def test_a_github_run_replaces_itself_and_a_redelivery_is_a_no_op(
        server: InProcess) -> None:
    assert (await deliver(server, "github-workflow_run-in_progress", "guid-1"))[0] == 200
    assert [n["type"] for n in await inbox(server)] == ["in-progress"]
    _, first = await deliver(server, "github-workflow_run-completed", "guid-2")
    _, again = await deliver(server, "github-workflow_run-completed", "guid-2")
    assert again["ids"] == first["ids"]
    [run] = await inbox(server)
    assert (run["type"], run["origin"], run["key"]) == ("error", "github", "run:8812345601")
    assert (await deliver(server, "github-ping", "guid-3", event="ping")) == (200, {"ids": []})


@pytest.mark.asyncio
@pytest.mark.jln(user="ada", github_webhook_secret=SECRET)
async def test_a_wrong_or_missing_github_signature_is_refused(server: InProcess) -> None:
    code, answer = await deliver(server, "github-workflow_run-completed", "g", secret="guess")
    assert (code, answer["field"]) == (403, "X-Hub-Signature-256")
    body = (HOOKS / "github-workflow_run-completed.json").read_bytes()
    code, _ = await post(server, "github", body, {"X-GitHub-Event": "workflow_run"})
    assert code == 401
    tampered = copy.deepcopy(sample("github-workflow_run-completed"))
    tampered["workflow_run"]["conclusion"] = "success"
    code, _ = await post(server, "github", json.dumps(tampered).encode(), {
        "X-GitHub-Event": "workflow_run", "X-Hub-Signature-256": signed(body)})
    assert code == 403
    assert await inbox(server) == []


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_github_is_refused_while_no_secret_is_configured(server: InProcess) -> None:
    code, answer = await deliver(server, "github-workflow_run-completed", "g", secret="")
    assert code == 403 and "github_webhook_secret" in answer["error"]

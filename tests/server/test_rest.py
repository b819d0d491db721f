"""The REST endpoints as a script or the poll fallback uses them: publish, page through what was
missed, read the status, and every refusal as a JSON body naming the field, never a 500. Also the
drop-in alias of the REST-polling extension JLN replaces."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from typing import Any

import pytest
import redis

from jln_broker.protocol import decode_entry

from .clients import free_port

BROADCAST = "jln:broadcast"
COMPAT = "jupyterlab-notifications-extension"
Fetch = Callable[..., Any]


async def call(jp_fetch: Fetch, method: str, *path: str, body: Any = None,
               raw: bytes | None = None, params: Mapping[str, str] | None = None,
               headers: Mapping[str, str] | None = None) -> tuple[int, Any, Any]:
    """One request; returns the status, the decoded JSON body and the headers."""
    payload = raw if raw is not None else (None if body is None else json.dumps(body))
    response = await jp_fetch(*path, method=method, body=payload, params=dict(params or {}),
                              headers=dict(headers or {}), raise_error=False)
    assert response.headers.get("Content-Type", "").startswith("application/json"), (
        response.code, response.body[:200])
    return response.code, json.loads(response.body), response.headers


async def publish(jp_fetch: Fetch, body: Mapping[str, Any], **kwargs: Any) -> tuple[int, Any]:
    code, answer, _ = await call(jp_fetch, "POST", "jln", "api", "notifications", body=body,
                                 **kwargs)
    return code, answer


async def poll(jp_fetch: Fetch, **params: str) -> dict[str, Any]:
    code, answer, _ = await call(jp_fetch, "GET", "jln", "api", "notifications", params=params)
    assert code == 200, answer
    return dict(answer)


def stored(redis_url: str, stream: str = BROADCAST) -> list[tuple[str, Any]]:
    with redis.Redis.from_url(redis_url) as client:
        return [(raw_id.decode(), decode_entry(fields)) for raw_id, fields in client.xrange(stream)]


@pytest.mark.asyncio
async def test_post_publishes_and_answers_the_ids(jp_fetch: Fetch, redis_url: str) -> None:
    code, answer = await publish(jp_fetch, {"message": "Build green", "type": "success",
                                            "autoClose": False, "data": {"run": 7}})

    assert code == 201
    [(entry_id, notification)] = stored(redis_url)
    assert answer == {"ids": [f"{BROADCAST}/{entry_id}"]}
    assert (notification.message, notification.type, notification.auto_close,
            notification.data) == ("Build green", "success", False, {"run": 7})


@pytest.mark.asyncio
async def test_paging_with_since_returns_everything_once_then_the_next_cursor(
        jp_fetch: Fetch) -> None:
    start = (await poll(jp_fetch))["cursor"]
    for n in range(7):
        assert (await publish(jp_fetch, {"message": f"n{n}"}))[0] == 201

    seen: list[str] = []
    cursor, pages = start, 0
    while True:
        page = await poll(jp_fetch, since=cursor, limit="3")
        seen += [item["message"] for item in page["notifications"]]
        cursor, pages = page["cursor"], pages + 1
        assert pages < 10, "paging does not end"
        if not page["more"]:
            break
    await publish(jp_fetch, {"message": "later"})
    after = await poll(jp_fetch, since=cursor, limit="3")

    assert seen == [f"n{n}" for n in range(7)]
    assert pages >= 3
    assert [item["message"] for item in after["notifications"]] == ["later"]
    assert after["more"] is False


@pytest.mark.asyncio
async def test_get_without_since_is_the_inbox_newest_first_with_the_live_cursor(
        jp_fetch: Fetch) -> None:
    for n in range(5):
        await publish(jp_fetch, {"message": f"n{n}"})

    page = await poll(jp_fetch, limit="2")

    assert [item["message"] for item in page["notifications"]] == ["n4", "n3"]
    item = page["notifications"][0]
    assert {"id", "stream", "createdAt", "message", "type", "autoClose"} <= set(item)
    assert (item["read"], item["saved"], item["readAt"]) == (False, False, None)
    assert (page["totalCount"], page["unreadCount"]) == (5, 5) and page["next"]
    assert page["cursor"] and page["pollInterval"] == 30.0 and page["serverTime"] > 0
    assert (await poll(jp_fetch, since=page["cursor"]))["notifications"] == []


@pytest.mark.asyncio
@pytest.mark.jln(user="ada", groups=["ml"], poll_interval=12.5)
async def test_status_reports_broker_reader_clients_and_counters(
        jln_started: Any, ws_client: Callable[..., Any], jp_fetch: Fetch) -> None:
    tab = await ws_client()
    await tab.hello()
    await publish(jp_fetch, {"message": "ok"})
    await publish(jp_fetch, {"message": "bad", "type": "bogus"})
    await tab.notifications(1)

    code, status, _ = await call(jp_fetch, "GET", "jln", "api", "status")

    assert code == 200
    assert status["broker"]["reachable"] is True
    assert status["broker"]["url"].startswith("redis://127.0.0.1:")
    assert status["reader"]["streams"] == [BROADCAST, "jln:user:ada", "jln:group:ml"]
    assert status["reader"]["delivered"] == 1
    assert status["clients"] == {"connected": 1, "cutOffSlow": 0, "heldBytes": 0,
                                 "mostHeldBytes": 0}  # the tab read all it was sent
    assert status["reader"]["epoch"] and status["reader"]["resets"] == 0
    assert status["ingest"] == {"accepted": 1, "rejected": 1}
    assert (status["user"], status["groups"], status["pollInterval"]) == ("ada", ["ml"], 12.5)


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "field"), [
    ({"message": "x", "type": "bogus"}, "type"),
    ({"message": "x", "link": "javascript:alert(1)"}, "link"),
    ({"message": ""}, "message"),
    ({"message": "x", "actions": [{"label": "Go", "link": "javascript:alert(1)"}]},
     "actions[0].link"),
    ({"message": "x", "colour": "red"}, "colour"),
    ({"message": "x", "users": "ada"}, "users"),
])
async def test_an_invalid_field_is_a_400_naming_it(jp_fetch: Fetch, redis_url: str,
                                                   body: dict[str, Any], field: str) -> None:
    code, answer = await publish(jp_fetch, body)

    assert (code, answer["field"]) == (400, field)
    assert answer["error"].startswith(f"{field}: ")
    assert stored(redis_url) == []


@pytest.mark.asyncio
@pytest.mark.parametrize("raw", [b"{not json", b'"text"', b"\xff\xfe"],
                         ids=["syntax", "string", "not-utf8"])
async def test_a_body_that_is_not_a_json_object_is_a_400(jp_fetch: Fetch, raw: bytes) -> None:
    code, answer, _ = await call(jp_fetch, "POST", "jln", "api", "notifications", raw=raw)

    assert (code, answer["field"]) == (400, "body")


@pytest.mark.asyncio
@pytest.mark.parametrize(("params", "field"), [
    ({"limit": "0"}, "limit"), ({"limit": "abc"}, "limit"), ({"limit": "5000"}, "limit"),
    ({"limit": "-1"}, "limit"), ({"since": "not-a-cursor"}, "cursor"),
])
async def test_bad_query_arguments_are_a_400(jp_fetch: Fetch, params: dict[str, str],
                                             field: str) -> None:
    code, answer, _ = await call(jp_fetch, "GET", "jln", "api", "notifications", params=params)

    assert (code, answer["field"]) == (400, field)


@pytest.mark.asyncio
@pytest.mark.parametrize("authorization", ["", "token wrong"], ids=["none", "wrong"])
@pytest.mark.parametrize(("method", "path"), [
    ("POST", "jln/api/notifications"), ("GET", "jln/api/notifications"),
    ("GET", "jln/api/status"), ("POST", f"{COMPAT}/ingest"), ("GET", f"{COMPAT}/notifications"),
])
async def test_requests_without_a_valid_token_are_refused(
        jp_fetch: Fetch, redis_url: str, authorization: str, method: str, path: str) -> None:
    code, answer, _ = await call(jp_fetch, method, *path.split("/"),
                                 body={"message": "sneaky"} if method == "POST" else None,
                                 headers={"Authorization": authorization})

    assert code in (401, 403)
    assert "error" in answer
    assert stored(redis_url) == []


@pytest.mark.asyncio
@pytest.mark.jln(max_message_chars=50)
async def test_a_message_over_max_message_chars_is_a_413(jp_fetch: Fetch) -> None:
    code, answer = await publish(jp_fetch, {"message": "x" * 51})

    assert (code, answer["field"]) == (413, "message")
    assert "50" in answer["error"]
    assert (await publish(jp_fetch, {"message": "x" * 50}))[0] == 201


@pytest.mark.asyncio
@pytest.mark.jln(max_message_chars=50)
async def test_a_body_over_the_size_limit_is_a_413(jp_fetch: Fetch) -> None:
    code, answer, _ = await call(jp_fetch, "POST", "jln", "api", "notifications",
                                 raw=json.dumps({"message": "x", "pad": "y" * 70_000}).encode())

    assert (code, answer["field"]) == (413, "body")


@pytest.mark.asyncio
@pytest.mark.jln(ingest_rate_limit=0.2, ingest_burst=2)
async def test_publishing_faster_than_the_rate_limit_is_a_429_with_retry_after(
        jp_fetch: Fetch, redis_url: str) -> None:
    answers = [await publish(jp_fetch, {"message": f"n{n}"}) for n in range(3)]
    code, answer, headers = await call(jp_fetch, "POST", "jln", "api", "notifications",
                                       body={"message": "again"})

    assert [code for code, _ in answers] == [201, 201, 429]
    assert code == 429
    assert "rate" in answer["error"]
    assert 1 <= int(headers["Retry-After"]) <= 5
    assert len(stored(redis_url)) == 2


@pytest.mark.asyncio
@pytest.mark.timeout(60)
@pytest.mark.jln(redis_url=f"redis://127.0.0.1:{free_port()}/0")
@pytest.mark.parametrize(("method", "path"), [
    ("POST", "jln/api/notifications"), ("GET", "jln/api/notifications"),
    ("POST", f"{COMPAT}/ingest"), ("GET", f"{COMPAT}/notifications"),
])
async def test_an_unreachable_redis_is_a_503_never_a_500(jp_fetch: Fetch, method: str,
                                                         path: str) -> None:
    code, answer, _ = await call(jp_fetch, method, *path.split("/"),
                                 body={"message": "anyone?"} if method == "POST" else None)

    assert code == 503
    assert "unreachable" in answer["error"]


@pytest.mark.asyncio
@pytest.mark.jln(redis_url=f"redis://127.0.0.1:{free_port()}/0")
async def test_status_still_answers_while_redis_is_unreachable(jp_fetch: Fetch) -> None:
    code, status, _ = await call(jp_fetch, "GET", "jln", "api", "status")

    assert code == 200
    assert status["broker"]["reachable"] is False


OLD_BODY = {
    "message": "Model trained", "type": "success", "autoClose": False,
    "actions": [{"label": "Open", "caption": "Open the report", "displayType": "accent",
                 "commandId": "docmanager:open", "args": {"path": "report.ipynb"}}],
    "data": {"run": 42}, "immediate": True,
}


@pytest.mark.asyncio
async def test_compat_ingest_accepts_the_old_body_and_answers_the_old_way(
        jp_fetch: Fetch, redis_url: str) -> None:
    code, answer, _ = await call(jp_fetch, "POST", COMPAT, "ingest", body=OLD_BODY)

    assert code == 200
    [(entry_id, notification)] = stored(redis_url)
    assert answer == {"success": True, "notification_id": f"{BROADCAST}/{entry_id}"}
    assert notification.message == "Model trained"
    assert notification.actions[0].command_id == "docmanager:open"
    assert notification.actions[0].args == {"path": "report.ipynb"}


@pytest.mark.asyncio
async def test_compat_ingest_refuses_the_old_way(jp_fetch: Fetch) -> None:
    code, answer, _ = await call(jp_fetch, "POST", COMPAT, "ingest",
                                 body={"message": "x", "type": "bogus"})

    assert code == 400
    assert set(answer) == {"error"}
    assert "type" in answer["error"]


@pytest.mark.asyncio
async def test_compat_list_has_the_old_shape_and_reading_drains_nothing(
        jp_fetch: Fetch) -> None:
    await call(jp_fetch, "POST", COMPAT, "ingest", body=OLD_BODY)
    await call(jp_fetch, "POST", COMPAT, "ingest", body={"message": "plain"})

    first = (await call(jp_fetch, "GET", COMPAT, "notifications"))[1]
    second = (await call(jp_fetch, "GET", COMPAT, "notifications"))[1]

    assert first == second
    old, plain = first["notifications"]
    assert set(old) == {"id", "message", "type", "autoClose", "createdAt", "actions", "data"}
    assert (old["message"], old["type"], old["autoClose"], old["data"]) == (
        "Model trained", "success", False, {"run": 42})
    assert old["actions"] == [{"label": "Open", "caption": "Open the report",
                               "displayType": "accent", "commandId": "docmanager:open",
                               "args": {"path": "report.ipynb"}}]
    assert (plain["message"], plain["actions"], plain["data"]) == ("plain", [], {})


@pytest.mark.asyncio
@pytest.mark.jln(user="ada")
async def test_status_still_answers_when_redis_refuses_a_stream(
        jln_started: Any, jp_fetch: Fetch, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("jln:user:ada", "not a stream")  # XREVRANGE answers WRONGTYPE

    code, status, _ = await call(jp_fetch, "GET", "jln", "api", "status")

    assert code == 200
    assert status["reader"]["lagMs"] is None


@pytest.mark.asyncio
async def test_a_notification_arriving_during_an_inbox_read_is_not_returned_twice(
        jln_started: Any, jp_fetch: Fetch, monkeypatch: pytest.MonkeyPatch) -> None:
    from jln_broker.history.state import InboxState

    history = jln_started.service.history
    real_refresh = InboxState.refresh

    async def then_one_arrives(state: InboxState, client: Any) -> None:
        await real_refresh(state, client)
        await jln_started.service.publisher.publish("just in time")
        while not len(history.timeline):  # the fan-out has read it
            await asyncio.sleep(0.01)

    monkeypatch.setattr(InboxState, "refresh", then_one_arrives)
    first = await poll(jp_fetch)
    monkeypatch.undo()
    second = await poll(jp_fetch, since=first["cursor"])

    ids = [item["id"] for item in first["notifications"] + second["notifications"]]
    assert len(ids) == 1


@pytest.mark.asyncio
async def test_the_inbox_takes_jupyterlabs_cache_buster_but_refuses_a_misspelt_filter(
        jp_fetch: Fetch) -> None:
    await publish(jp_fetch, {"message": "hello"})

    busted = await poll(jp_fetch, **{"1795590323234": ""})
    code, answer, _ = await call(jp_fetch, "GET", "jln", "api", "notifications",
                                 params={"typ": "error"})

    assert [item["message"] for item in busted["notifications"]] == ["hello"]
    assert (code, answer["field"]) == (400, "typ")

"""The REST ingest under load and in bulk: a JSON array published all or nothing with each one's
ids, its limits, many concurrent POSTs written together (group commit) each answered alone, and
a script's token call authenticated as strictly as ever without a login cookie."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import pytest
import redis
import requests

from .test_rest import BROADCAST, call, stored

Fetch = Callable[..., Any]
NOTIFICATIONS = ("jln", "api", "notifications")


async def post(jp_fetch: Fetch, body: Any, key: str | None = None) -> tuple[int, Any]:
    code, answer, _ = await call(jp_fetch, "POST", *NOTIFICATIONS, body=body,
                                 headers={"Idempotency-Key": key} if key else None)
    return code, answer


@pytest.mark.asyncio
async def test_an_array_is_published_in_order_and_answered_with_each_ones_ids(
        jp_fetch: Fetch, redis_url: str) -> None:
    code, answer = await post(jp_fetch, [{"message": "one"}, {"message": "two", "users": ["ada"]},
                                         {"message": "three"}])

    assert code == 201
    broadcast = stored(redis_url)
    [(ada_id, _)] = stored(redis_url, "jln:user:ada")
    assert [n.message for _, n in broadcast] == ["one", "three"]
    assert answer == {"ids": [[f"{BROADCAST}/{broadcast[0][0]}"], [f"jln:user:ada/{ada_id}"],
                              [f"{BROADCAST}/{broadcast[1][0]}"]]}


@pytest.mark.asyncio
@pytest.mark.parametrize(("body", "code", "field"), [
    ([{"message": "ok"}, {"message": " "}], 400, "[1].message"),
    ([{"message": "ok"}, "text"], 400, "[1]"),
    ([{"message": "ok"}, {"message": "m", "colour": "red"}], 400, "[1].colour"),
    ([{"message": "ok"}, {"message": "m", "data": {"x": "y" * 9_000}}], 413, "[1].data"),
    ([], 400, "body"),
    ([{"message": f"m{n}"} for n in range(1_001)], 413, "body"),
    ([{"message": "x" * 9_000}] * 500, 413, "body"),  # over 4 MiB
])
@pytest.mark.jln(ingest_rate_limit=0)
async def test_a_bad_array_is_refused_naming_the_item_and_nothing_is_written(
        jp_fetch: Fetch, redis_url: str, body: Any, code: int, field: str) -> None:
    got, answer = await post(jp_fetch, body)

    assert (got, answer["field"]) == (code, field), answer
    assert answer["error"].startswith(f"{field}: ")
    assert stored(redis_url) == []


@pytest.mark.asyncio
async def test_an_array_larger_than_the_rate_limits_burst_is_413_not_a_retry(
        jp_fetch: Fetch, redis_url: str) -> None:
    code, answer = await post(jp_fetch, [{"message": f"m{n}"} for n in range(101)])

    assert (code, answer["field"]) == (413, "body")
    assert "JLN.ingest_burst" in answer["error"]
    assert stored(redis_url) == []


@pytest.mark.asyncio
async def test_an_array_sent_again_with_its_key_is_written_once(jp_fetch: Fetch,
                                                                redis_url: str) -> None:
    body = [{"message": "a"}, {"message": "b"}]
    first = await post(jp_fetch, body, key="deploy-7")
    again = await post(jp_fetch, body, key="deploy-7")

    assert first == again and first[0] == 201
    assert [n.message for _, n in stored(redis_url)] == ["a", "b"]


@pytest.mark.asyncio
@pytest.mark.jln(ingest_rate_limit=0)
async def test_concurrent_posts_are_each_written_once_and_answered_alone(
        jp_fetch: Fetch, redis_url: str) -> None:
    """200 POSTs at once: plain ones, pairs sharing an idempotency key, invalid ones and arrays,
    written together in few round trips yet each answered for itself."""
    bodies: list[tuple[Any, str | None]] = []
    for n in range(200):
        if n % 10 == 3:
            bodies.append(({"message": ""}, None))  # its own 400
        elif n % 10 == 5:
            bodies.append(([{"message": f"arr{n}-a"}, {"message": f"arr{n}-b"}], None))
        elif n % 10 == 7:
            bodies.append(({"message": f"keyed{n // 20}"}, f"pair-{n // 20}"))
        else:
            bodies.append(({"message": f"one{n}"}, None))
    answers = await asyncio.gather(*(post(jp_fetch, body, key) for body, key in bodies))

    ids: list[str] = []
    by_key: dict[str, list[Any]] = {}
    for (body, key), (code, answer) in zip(bodies, answers, strict=True):
        if isinstance(body, dict) and not body["message"]:
            assert (code, answer["field"]) == (400, "message")
            continue
        assert code == 201, answer
        if key:
            by_key.setdefault(key, []).append(answer["ids"])
        elif isinstance(body, list):
            ids += [i for one in answer["ids"] for i in one]
        else:
            ids += answer["ids"]
    assert all(len({json.dumps(a) for a in same}) == 1 for same in by_key.values())
    ids += [same[0][0] for same in by_key.values()]
    written = [f"{BROADCAST}/{entry_id}" for entry_id, _ in stored(redis_url)]
    assert sorted(ids) == sorted(written)  # each id once, nothing lost, no key written twice
    assert len(written) == 200 - 20 + 20 - 10  # 20 invalid, 20 arrays of two, 10 pairs


@pytest.mark.asyncio
@pytest.mark.jln(ingest_rate_limit=0)
async def test_a_refused_write_fails_its_own_request_and_not_its_group(
        jp_fetch: Fetch, redis_url: str) -> None:
    with redis.Redis.from_url(redis_url) as client:
        client.set("jln:user:bob", "not a stream")
    bodies = [{"message": f"m{n}", **({"users": ["bob"]} if n == 4 else {})} for n in range(9)]
    answers = await asyncio.gather(*(post(jp_fetch, body) for body in bodies))

    assert [code for code, _ in answers] == [201] * 4 + [502] + [201] * 4
    assert "nothing was written" in answers[4][1]["error"]
    assert sorted(n.message for _, n in stored(redis_url)) == [f"m{n}" for n in range(9)
                                                               if n != 4]


# --- authentication, on a real server ---------------------------------------------------------

def test_a_token_call_is_authenticated_without_a_login_cookie_and_a_wrong_one_is_not(
        jupyter_process: Callable[..., Any], redis_url: str) -> None:
    server = jupyter_process(redis_url)
    url = server.url + "jln/api/notifications"

    def send(**kwargs: Any) -> requests.Response:
        return requests.post(url, json={"message": "m"}, timeout=20, **kwargs)

    good = send(headers={"Authorization": f"token {server.token}"})
    bearer = send(headers={"Authorization": f"Bearer {server.token}"})
    wrong = send(headers={"Authorization": f"token {server.token}x"})
    prefix = send(headers={"Authorization": f"token {server.token[:-1]}"})
    none = send()
    in_url = send(params={"token": server.token})  # a browser's login link: the server's way

    assert (good.status_code, bearer.status_code) == (201, 201)
    assert "Set-Cookie" not in good.headers and "Set-Cookie" not in bearer.headers
    assert [r.status_code for r in (wrong, prefix, none)] == [403, 403, 403]
    assert in_url.status_code == 201 and "Set-Cookie" in in_url.headers
    assert len(stored(redis_url)) == 3

"""The announcement service's logic without a hub, against the session's redis-server: what a
request may ask, the record a restarted service finds, the withdrawal's notification, the
receipts' statuses from the hub's view of each user, and the package's import boundary."""

from __future__ import annotations

import ast
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from jln_broker.connection import async_client
from jln_broker.errors import Conflict, NotFound, TooLarge, ValidationError
from jln_broker.protocol import StreamNames, decode_entry
from jln_broker.publisher import AsyncPublisher
from jln_hub.hub import HubAPI, HubUser
from jln_hub.notices import Notice, draft
from jln_hub.receipts import receipts
from jln_hub.service import Announcements

NAMES = StreamNames()
ROOT = Path(__file__).resolve().parents[2]


def now_ms() -> int:
    return int(time.time() * 1000)


@pytest_asyncio.fixture
async def service(redis_url: str) -> AsyncIterator[Announcements]:
    """The service's logic on the test Redis; no hub is asked (nothing here sends)."""
    async with AsyncPublisher(redis_url) as publisher:
        client = async_client(redis_url)
        yield Announcements(publisher, client, HubAPI("http://127.0.0.1:9/hub/api", "-"),
                            origin="jln-announce", keep=3)
        await client.aclose()


async def recorded(service: Announcements, **body: Any) -> Notice:
    """A notice recorded and published as ``Announcements.send`` does, its audience taken as
    the hub's."""
    notice = draft({"message": "m", **body}, "admin", service.origin, now_ms())
    await service.book.add(notice)
    [ids] = await service.publisher.publish_many([notice.notification()])
    notice = replace(notice, ids=tuple(ids))
    await service.book.save(notice)
    return notice


@pytest.mark.parametrize(("body", "field", "error"), [
    pytest.param({"message": "hi"}, "everyone", ValidationError, id="no-audience"),
    pytest.param({"message": "hi", "everyone": True, "users": ["a"]}, "everyone",
                 ValidationError, id="everyone-and-users"),
    pytest.param({"message": "hi", "everyone": "yes"}, "everyone", ValidationError,
                 id="everyone-text"),
    pytest.param({"message": "x" * 10_001, "everyone": True}, "message", TooLarge,
                 id="too-long"),
    pytest.param({"message": "hi", "groups": "ml"}, "groups", ValidationError,
                 id="groups-text"),
    pytest.param({"message": "hi", "users": ["a b"]}, "users[0]", ValidationError,
                 id="name-with-space"),
    pytest.param({"message": "hi", "everyone": True, "expiresAt": "2000-01-01T00:00:00Z"},
                 "expiresAt", ValidationError, id="expired"),
    pytest.param({"message": "hi", "everyone": True, "pinned": False, "requireAck": True},
                 "pinned", ValidationError, id="ack-unpinned"),
    pytest.param({"message": "hi", "everyone": True, "key": "k"}, "key", ValidationError,
                 id="own-key"),
])
def test_a_bad_request_names_its_field(body: dict[str, Any], field: str,
                                       error: type[Exception]) -> None:
    with pytest.raises(error) as refused:
        draft(body, "admin", "jln-announce", now_ms())

    assert refused.value.field == field  # type: ignore[attr-defined]
    if error is TooLarge:
        assert "the limit is 10000" in str(refused.value)


@pytest.mark.asyncio
async def test_a_restarted_service_withdraws_what_the_first_sent(
        service: Announcements, redis_url: str) -> None:
    notice = await recorded(service, groups=["ml"], requireAck=True, title="Policy")
    async with AsyncPublisher(redis_url) as publisher:
        client = async_client(redis_url)
        again = Announcements(publisher, client, service.hub, origin="jln-announce", keep=3)

        withdrawn = await again.withdraw(notice.id, "root")
        with pytest.raises(Conflict):
            await again.withdraw(notice.id, "root")
        await client.aclose()

    [stream_id] = withdrawn.withdrawal_ids
    stream, _, entry_id = stream_id.rpartition("/")
    [(_, fields)] = await service.client.xrange(stream, min=entry_id, max=entry_id)
    withdrawal = decode_entry(fields)
    assert stream == "jln:group:ml" and not withdrawal.pinned and not withdrawal.require_ack
    assert (withdrawal.key, withdrawal.origin) == (notice.key, notice.origin)
    assert withdrawal.message == "Withdrawn: m" and withdrawal.auto_close == 0
    found = await service.book.get(notice.id)
    assert (found.status(now_ms()), found.withdrawn_by, found.ids) == (
        "withdrawn", "root", notice.ids)


@pytest.mark.asyncio
async def test_only_the_newest_notices_are_kept(service: Announcements) -> None:
    sent = [await recorded(service, everyone=True) for _ in range(5)]

    assert [n.id for n in await service.book.newest(10)] == [n.id for n in sent[:1:-1]]
    with pytest.raises(NotFound) as missing:
        await service.book.get(sent[0].id)
    assert missing.value.field == "id"


@pytest.mark.asyncio
async def test_receipts_tell_read_unread_and_not_started_from_the_hubs_view(
        service: Announcements) -> None:
    notice = await recorded(service, groups=["ml", "gpu"])
    [ml_id, gpu_id] = notice.ids
    before, after = notice.sent_at - 60_000, notice.sent_at + 1_000
    users = {"ada": HubUser("ada", ("ml",), running=True, last_activity=before),
             "bo": HubUser("bo", ("ml", "gpu")),
             "cy": HubUser("cy", ("gpu",), last_activity=before),
             "di": HubUser("di", ("gpu",), last_activity=after),
             "ed": HubUser("ed", ())}
    await service.client.hset(NAMES.inbox("bo", "read"), gpu_id, 1700000000000)

    found = await receipts(service.client, NAMES, notice, users)

    assert [(r.user, r.status, r.read_at) for r in found] == [
        ("ada", "unread", None), ("bo", "read", 1700000000000), ("cy", "not-started", None),
        ("di", "unread", None)]
    assert ml_id.startswith("jln:group:ml/")


def test_a_hub_user_model_says_whether_a_server_ran_since() -> None:
    model = {"name": "ada", "groups": ["ml"], "servers": {
        "": {"started": None, "stopped": True, "last_activity": "2030-01-01T00:00:00.5Z"},
        "gpu": {"started": "2029-01-01T00:00:00Z", "stopped": False,
                "last_activity": "2029-06-01T00:00:00Z"}}}

    user = HubUser.from_model(model)

    assert (user.groups, user.running, user.last_activity) == (("ml",), True, 1893456000500)
    assert not HubUser.from_model({"name": "bo"}).ran_since(0)


def test_the_hub_service_and_the_rest_keep_apart() -> None:
    """jln_hub imports jln_broker and jupyterhub, never jln_server; neither imports jln_hub."""
    def imported(package: str) -> set[str]:
        found: set[str] = set()
        for path in (ROOT / package).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.ImportFrom) and node.module and not node.level:
                    found.add(node.module.split(".")[0])
                elif isinstance(node, ast.Import):
                    found.update(alias.name.split(".")[0] for alias in node.names)
        return found

    assert "jln_server" not in imported("jln_hub")
    assert "jln_hub" not in imported("jln_broker") | imported("jln_server")

"""Read receipts over the embedded broker and a real redis-server: who of the audience has read
a notification, who has not, and ids that are not there."""

from __future__ import annotations

import pytest

from jln_broker.connection import async_client, sync_client
from jln_broker.errors import NotFound
from jln_broker.history import Change, History
from jln_broker.protocol import StreamNames
from jln_broker.publisher import AsyncPublisher
from jln_broker.reader import Decoder
from jln_broker.receipts import read_receipts, read_receipts_sync

NAMES = StreamNames()


async def reader_of(broker_url: str, user: str, groups: tuple[str, ...] = ()) -> History:
    """A user whose server reads its streams: what puts them in a receipt's audience."""
    history = History(async_client(broker_url), NAMES, user, Decoder(keep_expired=True))
    await history.load(NAMES.audience(user, groups))
    return history


@pytest.mark.asyncio
async def test_a_broadcast_lists_who_read_it_and_who_has_not(
        broker_url: str, publisher: AsyncPublisher) -> None:
    ada, bob = await reader_of(broker_url, "ada"), await reader_of(broker_url, "bob")
    [broadcast] = await publisher.publish("maintenance at 6")
    entries = await ada.client.xrange("jln:broadcast")
    ada.add(ada.decoder.decode("jln:broadcast", entries, 0))  # as the fan-out's reader would
    await ada.change([broadcast], Change(read=True))

    receipts = await read_receipts(ada.client, NAMES, broadcast)

    assert [user for user, _ in receipts.read] == ["ada"]
    assert receipts.unread == ["bob"] and not receipts.everyone_read
    assert receipts.to_dict()["unread"] == [{"user": "bob"}]
    assert read_receipts_sync(sync_client(broker_url), NAMES, broadcast) == receipts
    await ada.client.aclose()
    await bob.client.aclose()


@pytest.mark.asyncio
async def test_a_user_who_joined_after_a_broadcast_counts_as_having_read_it(
        broker_url: str, publisher: AsyncPublisher) -> None:
    [broadcast] = await publisher.publish("before carol's time")
    carol = await reader_of(broker_url, "carol")

    receipts = await read_receipts(carol.client, NAMES, broadcast)

    assert (receipts.read, receipts.unread) == ([("carol", None)], [])
    assert receipts.to_dict()["read"] == [{"user": "carol", "readAt": None}]
    await carol.client.aclose()


@pytest.mark.asyncio
async def test_joining_later_is_no_acknowledgement(
        broker_url: str, publisher: AsyncPublisher) -> None:
    [asking] = await publisher.publish("read the new policy", require_ack=True)
    carol = await reader_of(broker_url, "carol")

    receipts = await read_receipts(carol.client, NAMES, asking)

    assert (receipts.read, receipts.unread) == ([], ["carol"])
    await carol.client.aclose()


@pytest.mark.asyncio
async def test_a_caller_may_name_the_audience_servers_or_not(
        broker_url: str, publisher: AsyncPublisher) -> None:
    ada = await reader_of(broker_url, "ada", ("ml",))
    [notification] = await publisher.publish("ml news", groups=["ml"], exclude_users=["cy"])
    await ada.client.hset(NAMES.inbox("dan", "read"), notification, 1700000000000)

    receipts = await read_receipts(ada.client, NAMES, notification, ["dan", "eve", "cy"])

    assert (receipts.read, receipts.unread) == ([("dan", 1700000000000)], ["eve"])
    await ada.client.aclose()


@pytest.mark.asyncio
async def test_a_user_notification_targets_that_user_even_before_their_server_ran(
        broker_url: str, publisher: AsyncPublisher) -> None:
    [notification] = await publisher.publish("your job is done", users=["carol"])

    receipts = await read_receipts(async_client(broker_url), NAMES, notification)

    assert (receipts.read, receipts.unread) == ([], ["carol"])


@pytest.mark.asyncio
async def test_excluded_users_and_marked_unread_are_counted_right(
        broker_url: str, publisher: AsyncPublisher) -> None:
    for user in ("ada", "bob", "cy"):
        await reader_of(broker_url, user, ("ml",))
    [notification] = await publisher.publish("ml news", groups=["ml"], exclude_users=["cy"])
    client = async_client(broker_url)
    await client.hset(NAMES.inbox("ada", "read"), notification, 0)  # marked unread again
    await client.hset(NAMES.inbox("bob", "read"), notification, 1700000000000)

    receipts = await read_receipts(client, NAMES, notification)

    assert receipts.read == [("bob", 1700000000000)]
    assert receipts.unread == ["ada"]


@pytest.mark.asyncio
@pytest.mark.parametrize("notification_id", [
    "jln:broadcast/1-0", "nonsense", "other:broadcast/1-0", "jln:user:ada/"])
async def test_an_id_the_streams_do_not_hold_is_not_found(broker_url: str,
                                                          notification_id: str) -> None:
    with pytest.raises(NotFound) as missing:
        await read_receipts(async_client(broker_url), NAMES, notification_id)
    assert missing.value.field == "id"


@pytest.mark.asyncio
async def test_the_answer_has_the_shape_of_the_receipts_endpoint(
        broker_url: str, publisher: AsyncPublisher) -> None:
    client = async_client(broker_url)
    await client.sadd(NAMES.readers("jln:group:ml"), "cy", "ada", "bob")  # as their servers do
    [notification] = await publisher.publish("ml news", groups=["ml"])
    await client.hset(NAMES.inbox("cy", "read"), notification, 1700000000456)
    await client.hset(NAMES.inbox("ada", "read"), notification, 1700000000123)
    await client.hset(NAMES.inbox("ada", "read"), "jln:group:ml/1-0", 1)  # another one

    receipts = await read_receipts(client, NAMES, notification)

    assert receipts.to_dict() == {
        "id": notification,
        "read": [{"user": "ada", "readAt": 1700000000123},
                 {"user": "cy", "readAt": 1700000000456}],
        "unread": [{"user": "bob"}]}
    assert receipts == read_receipts_sync(sync_client(broker_url), NAMES, notification)


@pytest.mark.asyncio
async def test_a_notification_nobody_reads_yet_has_no_targets(
        broker_url: str, publisher: AsyncPublisher) -> None:
    [notification] = await publisher.publish("to a group without servers", groups=["new"])

    receipts = await read_receipts(async_client(broker_url), NAMES, notification)

    assert receipts.to_dict() == {"id": notification, "read": [], "unread": []}


def test_the_blocking_client_finds_the_same_unknown_ids_missing(broker_url: str) -> None:
    with pytest.raises(NotFound) as missing:
        read_receipts_sync(sync_client(broker_url), NAMES, "jln:user:ada/1-0")
    assert missing.value.field == "id" and "jln:user:ada/1-0" in str(missing.value)

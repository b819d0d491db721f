"""The embedded broker (memory://) publishes without Lua and keeps every promise of the publish
script: a used idempotency key answers the first ids, a key of the wrong type refuses the whole
call naming it, MAXLEN ~ trims, each call is all or nothing (alone or in a group), and no other
thread can come between a call's checks and its writes."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from jln_broker import AsyncPublisher, BrokerRefused, Publisher, validate
from jln_broker.connection import async_client, memory_server, sync_client
from jln_broker.embedded_publish import EmbeddedPublish
from jln_broker.publisher import PUBLISH_LUA

DAY_MS = 86_400_000


def scripts_run(url: str) -> int:
    """Scripts the fakeredis server was asked to run (EVAL/EVALSHA leave them in its cache)."""
    return len(memory_server(url).script_cache)


def test_publishing_runs_no_script_and_answers_as_the_script_does(memory_url: str) -> None:
    """The same calls, once through the embedded path and once through the Lua script on the
    same broker, write the same entries and answer ids of the same shape."""
    batch = [{"message": "one", "users": ["ada", 'o"brien\\x']}, {"message": "two"}]
    with Publisher(memory_url) as pub:
        ours = pub.publish_many(batch, idempotency_key="ours")
        assert scripts_run(memory_url) == 0
        keys, args = pub.batch(batch).script_call("lua", pub.retry_for)
        assert pub._script is not None
        scripts = json.loads(pub._script(keys=keys, args=args))

    client = sync_client(memory_url)
    assert [[i.split("/")[0] for i in ids] for ids in ours] == \
           [[i.split("/")[0] for i in ids] for ids in scripts]
    assert json.loads(client.get("jln:idem:ours") or b"") == ours
    for stream in ("jln:user:ada", 'jln:user:o"brien\\x', "jln:broadcast"):
        first, second = client.xrange(stream)
        assert first[1] == second[1]  # the same payload, once per path


def test_a_used_key_answers_the_first_ids_and_writes_nothing(memory_url: str) -> None:
    with Publisher(memory_url) as pub:
        first = pub.publish("deploy done", users=["ada"], idempotency_key="deploy-1")
        again = pub.publish("something else", groups=["ml"], idempotency_key="deploy-1")

    client = sync_client(memory_url)
    assert again == first
    assert client.xlen("jln:user:ada") == 1 and client.exists("jln:group:ml") == 0


def test_a_callers_key_is_kept_a_day_and_no_key_is_made_up_without_one(memory_url: str) -> None:
    """Against Redis the publisher keys a call of its own, for its retries after a lost reply;
    a call in this process has no reply to lose, and nothing is left to snapshot or expire."""
    with Publisher(memory_url) as pub:
        pub.publish("kept", idempotency_key="mine")
        [first] = pub.publish("no key")
        [second] = pub.publish("no key")

    client = sync_client(memory_url)
    assert [k.decode() for k in client.scan_iter("jln:idem:*")] == ["jln:idem:mine"]
    assert DAY_MS - 60_000 < client.pttl("jln:idem:mine") <= DAY_MS
    assert first != second and client.xlen("jln:broadcast") == 3


def test_a_key_of_the_wrong_type_refuses_the_call_naming_it_and_writes_nothing(
        memory_url: str) -> None:
    client = sync_client(memory_url)
    client.rpush("jln:group:ml", "not a stream")

    with Publisher(memory_url) as pub, pytest.raises(BrokerRefused) as refused:
        pub.publish_many([{"message": "first", "users": ["ada"]},
                          {"message": "second", "groups": ["ml"]}], idempotency_key="k")

    assert "WRONGTYPE jln:group:ml holds a list, not a stream" in str(refused.value)
    assert "nothing was written" in str(refused.value)
    assert client.exists("jln:user:ada", "jln:idem:k") == 0  # a retry may still write
    assert client.lrange("jln:group:ml", 0, -1) == [b"not a stream"]


def test_maxlen_trims_roughly(memory_url: str) -> None:
    with Publisher(memory_url, maxlen=50) as pub:
        for n in range(10):
            pub.publish_many({"message": f"{n}.{i}"} for i in range(50))

    assert 50 <= sync_client(memory_url).xlen("jln:broadcast") < 150


@pytest.mark.asyncio
async def test_a_group_answers_each_call_and_one_refusal_leaves_the_others_written(
        memory_url: str) -> None:
    """The REST ingest's group commit: calls answered in one go, each all or nothing."""
    client = sync_client(memory_url)
    client.hset("jln:user:bob", "not", "a stream")
    note, to_bob = validate({"message": "hi"}), validate({"message": "hi", "users": ["bob"]})

    async with AsyncPublisher(memory_url) as pub:
        first = await pub.publish_each([([note], "a"), ([note, to_bob], "b"), ([note], None)])
        again = await pub.publish_each([([note], "a")] + [([note], None)] * 50)

    assert isinstance(first[1], BrokerRefused) and "jln:user:bob holds a hash" in str(first[1])
    assert [len(a) for a in first if isinstance(a, list)] == [1, 1]
    assert again[0] == first[0] and all(isinstance(a, list) for a in again)
    assert scripts_run(memory_url) == 0
    assert client.exists("jln:idem:b") == 0  # the refused call wrote nothing, not even its key
    assert client.xlen("jln:broadcast") == 2 + 50  # none for the refused call or the used key


def test_threads_racing_on_one_key_write_once(memory_url: str) -> None:
    """The server's lock is held from the key's check to its answer: of many threads with the
    same key, one writes, and all answer its ids."""
    answers: list[list[str]] = []
    start = threading.Barrier(8)

    def publish() -> None:
        with Publisher(memory_url) as pub:
            start.wait(timeout=10)
            answers.append(pub.publish_many([{"message": "race"}] * 200,
                                            idempotency_key="once")[0])

    threads = [threading.Thread(target=publish) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(answers) == 8 and all(a == answers[0] for a in answers)
    assert sync_client(memory_url).xlen("jln:broadcast") == 200


@pytest.mark.asyncio
async def test_a_blocked_reader_wakes_for_an_entry_published_so(memory_url: str) -> None:
    reader = async_client(memory_url)
    read = asyncio.create_task(reader.xread({"jln:broadcast": "$"}, block=10_000))
    await asyncio.sleep(0.05)  # the read is blocked by now

    with Publisher(memory_url) as pub:
        [published] = pub.publish("wake up")
    [[stream, [(entry_id, _)]]] = await asyncio.wait_for(read, 5)
    await reader.aclose()

    assert f"{stream.decode()}/{entry_id.decode()}" == published


def test_the_embedded_path_and_the_script_take_the_same_arguments(memory_url: str) -> None:
    """Both read the call as ``_Batch.script_call`` makes it: KEYS numbers, ttl, maxlen."""
    with Publisher(memory_url) as pub:
        keys, args = pub.batch([{"message": "m", "users": ["ada"], "groups": ["ml"]}]
                               ).script_call("same", pub.retry_for)
    embedded = EmbeddedPublish(memory_url)
    try:
        ours = json.loads(embedded(keys, args))
    finally:
        embedded.close()
    theirs = json.loads(sync_client(memory_url).eval(PUBLISH_LUA, len(keys), *keys, *args))

    assert ours == theirs  # the second answers the first call's ids: the same key

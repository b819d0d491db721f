"""Sentinel and Cluster broker URLs: what each part becomes, and a clear refusal naming the
field for a malformed one. Clients are made, not connected: nothing listens on these ports."""

from __future__ import annotations

from typing import Any

import pytest
import redis
import redis.asyncio
from traitlets import TraitError

from jln_broker.connection import async_client, key_prefix, kind, replica_wait, sync_client
from jln_broker.errors import ValidationError
from jln_broker.publisher import AsyncPublisher, Publisher
from jln_broker.replication import ReplicaWait
from jln_server.app import JLN


def test_a_sentinel_url_names_every_sentinel_the_service_the_db_and_both_credentials() -> None:
    client = sync_client("redis+sentinel://app:s3cret@10.0.0.1,10.0.0.2:26380,[::1]:26381"
                         "/mymaster/3?sentinel_password=watch&sentinel_username=eye")
    pool: Any = client.connection_pool
    sentinels = [s.connection_pool.connection_kwargs for s in pool.sentinel_manager.sentinels]
    assert [(s["host"], s["port"]) for s in sentinels] == [
        ("10.0.0.1", 26379), ("10.0.0.2", 26380), ("::1", 26381)]
    assert {(s["username"], s["password"]) for s in sentinels} == {("eye", "watch")}
    assert pool.service_name == "mymaster" and pool.is_master
    assert (pool.connection_kwargs["db"], pool.connection_kwargs["username"],
            pool.connection_kwargs["password"]) == (3, "app", "s3cret")
    client.close()


@pytest.mark.asyncio
async def test_a_sentinel_url_without_a_db_is_db_0_and_its_sentinels_ask_no_password() -> None:
    client = async_client("redis+sentinel://127.0.0.1:1/jln")
    pool: Any = client.connection_pool
    assert isinstance(client, redis.asyncio.Redis) and pool.service_name == "jln"
    assert pool.connection_kwargs["db"] == 0 and pool.connection_kwargs["password"] is None
    assert pool.sentinel_manager.sentinels[0].connection_pool.connection_kwargs[
        "password"] is None
    await client.aclose()


@pytest.mark.asyncio
async def test_a_cluster_url_starts_from_every_node_it_names() -> None:
    client = async_client("redis+cluster://app:s3cret@10.0.0.1:7000,10.0.0.2")
    assert isinstance(client, redis.asyncio.RedisCluster)
    assert sorted(client.nodes_manager.startup_nodes) == ["10.0.0.1:7000", "10.0.0.2:6379"]
    assert client.get_connection_kwargs()["password"] == "s3cret"
    await client.aclose()


@pytest.mark.parametrize(("url", "says"), [
    ("redis+sentinel://h1:26379,h2:26379", "service name is missing"),
    ("redis+sentinel://h1:26379/", "service name is missing"),
    ("redis+sentinel://h1:26379/jln/one", "db after the service name must be a number"),
    ("redis+sentinel://h1:26379/jln/0/extra", "db after the service name must be a number"),
    ("redis+sentinel://h1:26379,,h2/jln", "'' is not host[:port]"),
    ("redis+sentinel://h1:port/jln", "'h1:port' is not host[:port]"),
    ("redis+sentinel://h1/jln?password=x", "takes no parameter 'password'"),
    ("redis+cluster://h1:7000/1", "db 0 only"),
    ("redis+cluster://h1:7000?wait_replicas=1", "takes no parameter 'wait_replicas'"),
    ("unix:///tmp/redis.sock?wait_replicas=1", "for redis://, rediss:// and redis+sentinel://"),
    ("redis+sentinels://h1/jln", "scheme must be one of"),
])
def test_a_malformed_url_is_refused_naming_the_url(url: str, says: str) -> None:
    with pytest.raises(ValidationError) as refused:
        kind(url)
    assert refused.value.field == "url" and says in refused.value.problem
    assert "s3cret" not in str(refused.value)


def test_a_malformed_url_is_refused_before_the_server_starts() -> None:
    with pytest.raises(TraitError, match="service name is missing"):
        JLN(redis_url="redis+sentinel://h1:26379")


@pytest.mark.parametrize(("query", "field"), [
    ("wait_replicas=0", "wait_replicas"), ("wait_replicas=two", "wait_replicas"),
    ("wait_replicas=1&wait_timeout=-5", "wait_timeout"), ("wait_timeout=600000", "wait_timeout"),
])
def test_a_bad_replica_wait_names_its_parameter(query: str, field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        Publisher(f"redis+sentinel://h1/jln?{query}")
    assert refused.value.field == field


def test_replica_wait_is_read_from_the_url_and_left_out_of_redis_py() -> None:
    assert replica_wait("redis+sentinel://h/jln/0?wait_replicas=2") == ReplicaWait(2, 1000)
    assert replica_wait("redis://h:1/0?wait_timeout=250") == ReplicaWait(1, 250)
    assert replica_wait("redis+sentinel://h/jln") is None
    client = sync_client("redis://127.0.0.1:1/2?wait_replicas=1&health_check_interval=5")
    assert client.connection_pool.connection_kwargs["db"] == 2  # redis-py took the rest
    client.close()


@pytest.mark.asyncio
async def test_on_a_cluster_the_prefix_becomes_a_hash_tag_unless_it_holds_one() -> None:
    assert key_prefix("redis+cluster://h:7000", "jln") == "{jln}"
    assert key_prefix("redis+cluster://h:7000", "{team}:jln") == "{team}:jln"
    assert key_prefix("redis+sentinel://h/jln", "jln") == "jln"
    assert key_prefix("redis://h:6379/0", "jln") == "jln"
    async with AsyncPublisher("redis+cluster://h:7000") as publisher:
        assert publisher.names.broadcast == "{jln}:broadcast"


def test_a_cluster_url_asks_for_a_redis_py_that_handles_it(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(redis, "__version__", "8.1.0")
    with pytest.raises(ValidationError, match=r"needs redis-py 8.2 or newer, not 8.1.0"):
        kind("redis+cluster://h:7000")
    assert kind("redis+sentinel://h/jln") == "redis"

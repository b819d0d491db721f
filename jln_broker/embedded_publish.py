"""Publishing into the embedded broker (``memory://``) without Lua: ``EmbeddedPublish`` does the
publish script's work in Python, on the fakeredis server of this process.

In Redis a publish call is one run of ``PUBLISH_LUA``. fakeredis runs such a script by
compiling it again and collecting Lua's garbage in full on every call, which made the script a
quarter of a Jupyter server's CPU under REST ingest on ``memory://``. The script's commands are
cheap there; its Lua is not. So here the same commands run through fakeredis's own command code,
as the script's ``redis.call`` would run them, with the fakeredis server's lock held for the
whole call: no other client, in any thread, sees the broker between the checks and the writes.
A call is as atomic as the script is in Redis, and answers the same: a used idempotency key
answers the first call's ids and writes nothing; a target key that is not a stream refuses the
call, naming the key, before anything is written; each entry is added with ``MAXLEN ~``; the
answer is kept under the key for as long as the script would keep it. Two things are left out:
the ACL (the embedded broker has no users), and a key of the publisher's own for a call without
the caller's (it is there to make a retry after a lost reply safe, and a call made in this
process has no reply to lose: ``_Batch.own_key``).

Of fakeredis this leans on more than its clients: a connection's socket, its
``_name_to_func`` and ``_run_command`` (the path a script's ``redis.call`` takes), the server's
``lock``, and the database's ``time`` (the clock its commands read, which fakeredis sets before
each command it is sent); all alike from fakeredis 2.26 to 2.41.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from typing import Any

from redis.exceptions import ResponseError

from .connection import memory_server

_COMMANDS = ("get", "type", "xadd", "set")


class EmbeddedPublish:
    """Runs publish calls, ``(keys, args)`` as ``_Batch.script_call`` makes them for the
    script, on the ``memory://`` broker named by ``url``; answers as the script does."""

    def __init__(self, url: str) -> None:
        import fakeredis  # only the embedded broker needs it

        self._server = memory_server(url)
        pool: Any = fakeredis.FakeRedis(server=self._server).connection_pool
        self._connection = pool.make_connection()
        self._connection.connect()
        self._socket: Any = self._connection._sock
        self._commands = {name: self._socket._name_to_func(name) for name in _COMMANDS}

    def __call__(self, keys: Sequence[str], args: Sequence[Any]) -> bytes:
        """The script's answer: the JSON of each notification's ids, this call's or the first
        call's under the same idempotency key (none if ``keys[0]`` is empty). A target key of
        another type raises ``ResponseError`` (``WRONGTYPE <key> holds a <type> ...``) and
        writes nothing."""
        idempotency, streams = keys[0].encode(), [key.encode() for key in keys[1:]]
        ttl, maxlen, entries = str(args[0]).encode(), str(args[1]).encode(), args[2:]
        with self._server.lock:
            self._socket._db.time = time.time()
            done: bytes | None = self._run("get", idempotency) if idempotency else None
            if done is not None:
                return done
            for name, stream in zip(keys[1:], streams, strict=True):
                held = self._run("type", stream)
                kind = getattr(held, "value", held).decode()
                if kind not in ("stream", "none"):
                    raise ResponseError(f"WRONGTYPE {name} holds a {kind}, not a stream: "
                                        f"nothing was written")
            ids = [[f"{keys[n - 1]}/{self._xadd(streams[n - 2], maxlen, payload)}"
                    for n in map(int, str(targets).split(","))]
                   for payload, targets in zip(entries[::2], entries[1::2], strict=True)]
            answer = json.dumps(ids, ensure_ascii=False, separators=(",", ":")).encode()
            if idempotency:
                self._run("set", idempotency, answer, b"PX", ttl)
        return answer

    def answers(self, calls: Sequence[tuple[Sequence[str], Sequence[Any]]]) -> list[Any]:
        """Each call's answer, or the ``ResponseError`` refusing it, as a pipeline of script
        calls answers with ``raise_on_error=False``."""
        replies: list[Any] = []
        for keys, args in calls:
            try:
                replies.append(self(keys, args))
            except ResponseError as err:
                replies.append(err)
        return replies

    def close(self) -> None:
        self._connection.disconnect()

    def _xadd(self, stream: bytes, maxlen: bytes, payload: bytes | str) -> str:
        entry_id: bytes = self._run("xadd", stream, b"MAXLEN", b"~", maxlen, b"*", b"p",
                                    payload if isinstance(payload, bytes) else payload.encode())
        return entry_id.decode()

    def _run(self, command: str, *args: bytes) -> Any:
        """One command on the server, its lock held by the caller; fakeredis hands back an
        error answer rather than raising it."""
        func, signature = self._commands[command]
        result = self._socket._run_command(func, signature, list(args), False)
        if isinstance(result, Exception):
            raise ResponseError(getattr(result, "value", str(result)))
        return result

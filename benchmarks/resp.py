"""Just enough RESP2 to send Redis a pipeline of commands and read the replies, for benchmark
clients that must cost little: redis-py spends ~0.2 ms of Python per pipelined read (measured
on the benchmark machine), which is nothing for one Jupyter server but, for a thousand
simulated servers sharing a core, would turn every latency into the simulation's own queue.

No AUTH, no database other than 0, no RESP3: the benchmark's private redis-server needs none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

Command = Sequence[bytes | str | int]


class RedisError(RuntimeError):
    """An error reply (``-ERR ...``)."""


def encode(commands: Sequence[Command]) -> bytes:
    """Commands as one pipelined request."""
    out = bytearray()
    for command in commands:
        out += b"*%d\r\n" % len(command)
        for arg in command:
            raw = arg if isinstance(arg, bytes) else str(arg).encode()
            out += b"$%d\r\n%b\r\n" % (len(raw), raw)
    return bytes(out)


@dataclass
class Connection:
    """One TCP connection; ``call`` is a pipelined round trip, ``reply`` one pushed message
    (pub/sub)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, url: str) -> Connection:
        parts = urlsplit(url)
        reader, writer = await asyncio.open_connection(parts.hostname or "127.0.0.1",
                                                       parts.port or 6379)
        return cls(reader, writer)

    async def call(self, *commands: Command) -> list[Any]:
        self.writer.write(encode(commands))
        return [await self.reply() for _ in commands]

    async def reply(self) -> Any:
        """One reply: bytes, an int, None for a nil, a list for an array."""
        line = await self.reader.readuntil(b"\r\n")
        kind, rest = line[:1], line[1:-2]
        if kind == b"$":
            size = int(rest)
            return None if size < 0 else (await self.reader.readexactly(size + 2))[:-2]
        if kind == b"*":
            size = int(rest)
            return None if size < 0 else [await self.reply() for _ in range(size)]
        if kind == b":":
            return int(rest)
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RedisError(rest.decode(errors="replace"))
        raise RedisError(f"unexpected reply {line[:80]!r}")

    def close(self) -> None:
        self.writer.close()

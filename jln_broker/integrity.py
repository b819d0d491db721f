"""How a reader knows the streams are still the ones it read: the epoch, and each stream's facts.

A cursor is only a list of entry ids. Redis can lose what lies behind them: trimmed by age or
length, deleted, recreated after a restart without persistence or a ``FLUSHALL``. The epoch is a
token kept beside the streams and written when absent, so a Redis that lost everything has a new
one; ``XINFO STREAM`` tells what one stream has lost or whether it was started anew.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import redis

from .connection import AsyncClient
from .protocol import MAX_SEQ, Cursor, entry_id_key

NOTHING = "0-0"


class StreamsReset(Exception):
    """What a reader followed is gone: the epoch changed (``epoch`` is the new one), or the
    ``streams`` named were deleted or recreated behind the reader's positions."""

    def __init__(self, streams: Sequence[str], epoch: str | None, why: str) -> None:
        super().__init__(why)
        self.streams = list(streams)
        self.epoch = epoch
        self.why = why


async def ensure_epoch(client: AsyncClient, key: str) -> str | None:
    """The streams' epoch, written first if absent (whoever writes first wins: every server
    of one Redis agrees). None when it is absent and these credentials may not write it (an
    ACL granting it read-only): the streams are then read without an epoch."""
    if (epoch := await client.get(key)) is not None:
        return epoch_of(epoch)
    pipe = client.pipeline(transaction=False)
    pipe.set(key, secrets.token_urlsafe(12), nx=True)
    pipe.get(key)
    _, epoch = await pipe.execute(raise_on_error=False)
    if isinstance(epoch, Exception):
        raise epoch
    return epoch_of(epoch)


def epoch_of(value: Any) -> str | None:
    """A ``GET`` of the epoch key, as text (None: absent, Redis lost it)."""
    return None if value is None else _text(value)


@dataclass(frozen=True)
class StreamFacts:
    """What ``XINFO STREAM`` tells of one stream (an absent stream has none of it).

    ``removed_through`` is the newest id that may have been removed (trimmed or deleted): every
    entry Redis removed is at or before it. Trimming leaves no record of the last id it took,
    so when entries were trimmed the bound is just before the oldest entry kept; ``NOTHING``
    when nothing was ever removed, or when Redis (before 7.0) does not say.
    """

    first: str | None
    last_generated: str
    removed_through: str

    def lost_after(self, position: str) -> bool:
        """Whether an entry after ``position`` may be gone."""
        return entry_id_key(self.removed_through) > entry_id_key(position)

    def behind(self, position: str) -> bool:
        """Whether the stream never reached ``position``: it was recreated since, or the
        position is from elsewhere."""
        return entry_id_key(self.last_generated) < entry_id_key(position)


ABSENT = StreamFacts(None, NOTHING, NOTHING)


async def stream_facts(client: AsyncClient, streams: Iterable[str]
                       ) -> dict[str, StreamFacts]:
    """The facts of each stream, in one round trip."""
    names = list(streams)
    if not names:
        return {}
    pipe = client.pipeline(transaction=False)
    for stream in names:
        pipe.xinfo_stream(stream)
    replies = await pipe.execute(raise_on_error=False)
    out = {}
    for stream, info in zip(names, replies, strict=True):
        if isinstance(info, redis.ResponseError) and "no such key" in str(info).lower():
            out[stream] = ABSENT
        elif isinstance(info, Exception):
            raise info
        else:
            out[stream] = _facts(info)
    return out


def regressed(facts: dict[str, StreamFacts], cursor: Cursor) -> list[str]:
    """The streams whose last id is behind ``cursor``'s position: deleted or recreated since the
    cursor was there, so reading on from it would wait for ids the stream will not reach."""
    return [s for s, f in facts.items() if f.behind(cursor.position(s))]


def _facts(info: dict[Any, Any]) -> StreamFacts:
    named = {_text(k): v for k, v in info.items()}
    first_entry = named.get("first-entry")
    first = _text(first_entry[0]) if first_entry else None
    deleted = _text(named.get("max-deleted-entry-id") or NOTHING)
    added, length = named.get("entries-added"), named.get("length")
    removed = deleted
    if added is not None and length is not None and int(added) > int(length) and first:
        removed = max(removed, _before(first), key=entry_id_key)
    return StreamFacts(first, _text(named.get("last-generated-id") or NOTHING), removed)


def _before(entry_id: str) -> str:
    ms, seq = entry_id_key(entry_id)
    return f"{ms}-{seq - 1}" if seq else (f"{ms - 1}-{MAX_SEQ}" if ms else NOTHING)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

"""The embedded broker kept on disk: ``EmbeddedStore`` saves one ``memory://`` broker to a
snapshot file and loads it back, so notifications and inbox state outlive a restart of the
process that holds them, with no Redis installed.

``load()`` before any client uses the broker; ``start()`` a task that saves every ``interval``
seconds when something changed; ``stop()`` makes the last save. A clean stop keeps everything;
a crash loses at most what changed since the last periodic save.

The file is msgpack, ``{"format": FORMAT, "version": VERSION, "savedAt": ms, "keys": [...]}``
with one ``[kind, key, expireAtMs or None, data]`` per key, where data is, by kind:
``string`` the value; ``list`` and ``set`` the members; ``hash`` ``[field, value, ...]``;
``zset`` ``[member, score, ...]``; ``stream`` ``[last generated id, [[id, [field, value, ...]],
...]]``. Stream consumer groups and per-field expiries are not kept: JLN uses neither.
Each save writes a temporary file beside the snapshot, fsyncs it and renames it over the old
one, so a save cut short leaves the previous snapshot whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgpack
import redis

from .connection import kind, memory_server, redact
from .errors import JLNError

log = logging.getLogger("jln.embedded")

FORMAT = "jln-embedded-broker"
VERSION = 1
KINDS = ("string", "list", "set", "hash", "zset", "stream")

Record = list[Any]
"""``[kind, key, expire_at_ms | None, data]``, as in the file."""


class UnreadableSnapshot(JLNError):
    """The snapshot file is not one this version can load: damaged, or of another format."""


@dataclass(frozen=True)
class Snapshot:
    """The broker's keys copied at one moment; ``generation`` counts the changes it holds."""

    generation: int
    saved_at: int
    records: list[Record]


class EmbeddedStore:
    """Keeps the ``memory://`` broker named by ``url`` in the file ``path``."""

    def __init__(self, url: str, path: str | os.PathLike[str], *, interval: float = 1.0) -> None:
        if kind(url) != "memory":
            raise ValueError(f"only a memory:// broker is kept in a file, not {redact(url)}")
        self.url = url
        self.path = Path(path)
        self.interval = interval
        self.active = True
        """False when the file is not ours to write (another process holds it, or a damaged
        file could not be moved aside): then nothing is saved."""
        self._server = memory_server(url)
        self._db = self._server.dbs[0]
        self._changes = 0
        self._saved = 0
        self._write_lock = threading.Lock()
        self._lock_fd: int | None = None
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._unsupported: set[bytes] = set()
        with self._server.lock:
            self._db.add_change_callback(self._changed)

    @property
    def changed(self) -> bool:
        """Whether the broker changed since the last save: one integer comparison, kept by a
        callback fakeredis calls on every write."""
        return self._changes != self._saved

    def _changed(self) -> None:
        self._changes += 1  # called by fakeredis with its server lock held

    # --- loading ---------------------------------------------------------------------------

    def load(self) -> int:
        """Restore the file into the broker, which must not be in use yet; the number of keys
        restored. A missing file is an empty broker; a damaged one or one of an unknown
        version is logged and moved aside (``<path>.corrupt-<time>``), and the broker starts
        empty."""
        if self._keys():
            raise RuntimeError(f"{redact(self.url)} is in use already: load() comes first")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            if not self._claim():
                return 0
        except OSError as err:
            self.active = False
            log.error("embedded broker: cannot use %s (%s); notifications will NOT be kept "
                      "across restarts", self.path, err)
            return 0
        for stale in self.path.parent.glob(f".{self.path.name}.*.tmp"):  # left by a crash
            with contextlib.suppress(OSError):
                stale.unlink()
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return 0
        except OSError as err:
            self._set_aside(f"cannot be read ({err})")
            return 0
        try:
            records = self._restore(decode(raw))
        except UnreadableSnapshot as err:
            self._set_aside(str(err))
            return 0
        except redis.RedisError as err:
            self._client().flushdb()  # nothing half restored
            self._set_aside(f"could not be restored ({err})")
            return 0
        finally:
            self._saved = self._changes  # the broker now matches the file (or is empty)
        streams = [r for r in records if r[0] == "stream"]
        log.info("embedded broker: %d keys (%d notifications in %d streams) restored from %s",
                 len(records), sum(len(r[3][1]) for r in streams), len(streams), self.path)
        return len(records)

    def _client(self) -> Any:
        import fakeredis

        return fakeredis.FakeRedis(server=self._server)

    def _restore(self, records: list[Record]) -> list[Record]:
        """Rebuild the keys of ``records`` that have not expired since; those records."""
        now = _now_ms()
        live = [r for r in records if r[2] is None or r[2] > now]
        pipe = self._client().pipeline(transaction=False)
        for key_kind, key, expire_at, data in live:
            _queue_restore(pipe, key_kind, key, data)
            if expire_at is not None:
                pipe.pexpireat(key, expire_at)
        pipe.execute()
        return live

    def _set_aside(self, why: str) -> None:
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        target = self.path.with_name(f"{self.path.name}.corrupt-{stamp}")
        n = 1
        while target.exists():
            target, n = self.path.with_name(f"{self.path.name}.corrupt-{stamp}-{n}"), n + 1
        try:
            os.rename(self.path, target)
        except OSError as err:
            self.active = False
            log.error("embedded broker: %s %s and could not be moved aside (%s); notifications "
                      "will NOT be kept across restarts until it is removed", self.path, why, err)
            return
        log.error("embedded broker: %s %s; moved it to %s and started empty", self.path, why,
                  target)

    def _claim(self) -> bool:
        """Hold ``<path>.lock`` while this process keeps the file, so a second server given
        the same file cannot overwrite the first one's notifications with its own."""
        try:
            import fcntl
        except ImportError:  # Windows: unguarded
            return True
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            self.active = False
            log.warning("embedded broker: another process keeps %s; this one's notifications "
                        "will NOT be kept across restarts (give it a file of its own)", self.path)
            return False
        self._lock_fd = fd
        return True

    def _keys(self) -> int:
        with self._server.lock:
            return len(self._db)

    # --- saving ----------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """Copy every key under the fakeredis server's lock, so the copy is consistent and can
        be encoded outside it (stored values are immutable bytes; containers are copied)."""
        now = _now_ms()
        records: list[Record] = []
        with self._server.lock:
            generation = self._changes
            for key in list(self._db):
                item = self._db.get(key)
                if item is None:
                    continue
                expire_at = None if item.expireat is None else round(item.expireat * 1000)
                if expire_at is not None and expire_at <= now:
                    continue
                record = _record(key, item.value, expire_at)
                if record is not None:
                    records.append(record)
                elif key not in self._unsupported:
                    self._unsupported.add(key)
                    log.warning("embedded broker: key %r is of a type not saved", key)
        return Snapshot(generation, now, records)

    def save(self) -> None:
        """Write the whole broker to the file now, blocking (raises ``OSError``)."""
        self.write(self.snapshot())

    async def save_changes(self) -> bool:
        """Save if the broker changed since the last save; True if it wrote. The copy is made
        on the event loop; encoding, writing and fsync happen in a thread."""
        if not self.changed or not self.active:
            return False
        await asyncio.to_thread(self.write, self.snapshot())
        return True

    def write(self, snapshot: Snapshot) -> None:
        """Encode ``snapshot`` and put it in place atomically; an older snapshot than the one
        already written is dropped."""
        if not self.active:
            return
        with self._write_lock:
            if snapshot.generation < self._saved:
                return
            replace_atomically(self.path, encode(snapshot))
            self._saved = snapshot.generation

    # --- the periodic saver ----------------------------------------------------------------

    def start(self) -> None:
        """Save every ``interval`` seconds when something changed (none if ``interval`` <= 0);
        the event loop must be running."""
        if self.interval > 0 and self.active and self._task is None:
            self._stopping.clear()
            self._task = asyncio.create_task(self._save_periodically(), name="jln-embedded-save")

    async def stop(self) -> None:
        """Stop the periodic saves, save what changed since the last one, let go of the file."""
        if self._task is not None:
            self._stopping.set()
            await self._task
            self._task = None
        try:
            if self.changed and self.active:
                await asyncio.to_thread(self.write, self.snapshot())
                log.info("embedded broker: saved to %s", self.path)
        except OSError as err:
            log.error("embedded broker: the last save to %s failed (%s)", self.path, err)
        finally:
            self.close()

    def close(self) -> None:
        """Stop counting changes and release the file's lock (no save)."""
        with self._server.lock, contextlib.suppress(KeyError):
            self._db.remove_change_callback(self._changed)
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def _save_periodically(self) -> None:
        while not self._stopping.is_set():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), self.interval)
            if self._stopping.is_set():
                return
            try:
                await self.save_changes()
            except OSError as err:
                log.warning("embedded broker: saving to %s failed (%s); trying again in %g s",
                            self.path, err, self.interval)
            except Exception:  # one bad save must not end the saves that follow
                log.exception("embedded broker: saving to %s failed", self.path)


# --- the file format --------------------------------------------------------------------------

def _record(key: bytes, value: Any, expire_at: int | None) -> Record | None:
    """One key as a record; None for a type JLN never writes."""
    if isinstance(value, bytes):
        return ["string", key, expire_at, value]
    if isinstance(value, list):
        return ["list", key, expire_at, list(value)]
    kind = value.model_type().decode()
    if kind == "set":
        data: Any = list(value)
    elif kind in ("hash", "zset"):
        data = [part for pair in value.items() for part in pair]
    elif kind == "stream":
        data = [value.last_id.encode(), [entry for entry in value]]  # [id, fields], fresh lists
    else:
        return None
    return [kind, key, expire_at, data]


def encode(snapshot: Snapshot) -> bytes:
    document = {"format": FORMAT, "version": VERSION, "savedAt": snapshot.saved_at,
                "keys": snapshot.records}
    packed: bytes = msgpack.packb(document, use_bin_type=True)
    return packed


def decode(raw: bytes) -> list[Record]:
    """The records of a snapshot file; ``UnreadableSnapshot`` unless every one is well formed."""
    try:
        doc = msgpack.unpackb(raw, raw=False)
    except (ValueError, msgpack.UnpackException) as err:
        raise UnreadableSnapshot(f"is not msgpack ({err})") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise UnreadableSnapshot(f"is not a {FORMAT} file")
    if doc.get("version") != VERSION:
        raise UnreadableSnapshot(f"has format version {doc.get('version')!r}; this JLN reads "
                                 f"version {VERSION}")
    records = doc.get("keys")
    if not isinstance(records, list):
        raise UnreadableSnapshot("has no list of keys")
    for n, record in enumerate(records):
        if not _well_formed(record):
            raise UnreadableSnapshot(f"has a malformed key record (number {n})")
    return records


def _bytes_list(data: Any, *, pairs: bool = False) -> bool:
    return (isinstance(data, list) and all(isinstance(x, bytes) for x in data)
            and (not pairs or len(data) % 2 == 0))


def _is_zset(data: Any) -> bool:
    return (isinstance(data, list) and len(data) % 2 == 0
            and all(isinstance(m, bytes) for m in data[::2])
            and all(isinstance(s, float) for s in data[1::2]))


def _is_stream(data: Any) -> bool:
    return (isinstance(data, list) and len(data) == 2 and _is_entry_id(data[0])
            and isinstance(data[1], list)
            and all(isinstance(e, list) and len(e) == 2 and _is_entry_id(e[0])
                    and _bytes_list(e[1], pairs=True) for e in data[1]))


def _is_entry_id(value: Any) -> bool:
    if not isinstance(value, bytes):
        return False
    ms, _, seq = value.partition(b"-")
    return ms.isdigit() and seq.isdigit()


_SHAPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda d: isinstance(d, bytes),
    "list": _bytes_list,
    "set": _bytes_list,
    "hash": lambda d: _bytes_list(d, pairs=True),
    "zset": _is_zset,
    "stream": _is_stream,
}


def _well_formed(record: Any) -> bool:
    if not isinstance(record, list) or len(record) != 4:
        return False
    kind, key, expire_at, data = record
    return (kind in _SHAPES and isinstance(key, bytes)
            and (expire_at is None or isinstance(expire_at, int)) and _SHAPES[kind](data))


def _queue_restore(pipe: Any, kind: str, key: bytes, data: Any) -> None:
    """Queue the commands that rebuild one key (fakeredis has no XSETID: a stream's last
    generated id past its last entry comes back as an entry added and deleted again)."""
    if kind == "string":
        pipe.set(key, data)
    elif kind == "list" and data:
        pipe.rpush(key, *data)
    elif kind == "set" and data:
        pipe.sadd(key, *data)
    elif kind == "hash" and data:
        pipe.execute_command("HSET", key, *data)
    elif kind == "zset" and data:
        pipe.execute_command("ZADD", key, *[x for m, s in zip(data[::2], data[1::2], strict=True)
                                            for x in (repr(float(s)), m)])
    elif kind == "stream":
        last_id, entries = data
        for entry_id, fields in entries:
            pipe.execute_command("XADD", key, entry_id, *fields)
        newest = entries[-1][0] if entries else b"0-0"
        if _id_key(last_id) > _id_key(newest):
            pipe.execute_command("XADD", key, last_id, b"", b"")
            pipe.execute_command("XDEL", key, last_id)


def _id_key(entry_id: bytes) -> tuple[int, int]:
    ms, _, seq = entry_id.partition(b"-")
    return int(ms), int(seq)


def replace_atomically(path: Path, data: bytes) -> None:
    """Put ``data`` at ``path`` so that a reader (or a crash) sees the old file or the new
    one, never a part: a temporary file in the same folder, flushed, fsynced, renamed over."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(data)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
    _fsync_folder(path.parent)


def _fsync_folder(folder: Path) -> None:
    """Make the rename itself durable (POSIX; Windows cannot open a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _now_ms() -> int:
    return int(time.time() * 1000)

"""The stream protocol, v1: stream names, the two entry forms, delivered records and cursors.

``docs/protocol.md`` describes the same rules for publishers in other languages.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import msgpack

from .errors import ValidationError
from .model import DEFAULT_LIMITS, Limits, Notification, validate

PAYLOAD_FIELD = "p"
"""The one field of an entry written by the Python publisher: the msgpack-encoded notification."""

MAX_SEQ = 2**64 - 1
_ENTRY_ID = re.compile(r"[0-9]{1,20}-[0-9]{1,20}")  # with fullmatch: what Redis accepts
_DIGITS = re.compile(r"[0-9]{1,20}")
_JSON_FIELDS = ("actions", "data", "source", "users", "groups", "excludeUsers")
_FLAGS = {"1": True, "true": True, "0": False, "false": False}
"""How ``pinned`` and ``requireAck`` are written in the flat form (any case)."""


@dataclass(frozen=True)
class StreamNames:
    """Where each audience's notifications live: ``<prefix>:broadcast``, ``<prefix>:user:<name>``,
    ``<prefix>:group:<name>``. One stream per audience is what lets Redis ACLs give each user
    read access to their own streams alone."""

    prefix: str = "jln"

    @property
    def broadcast(self) -> str:
        return f"{self.prefix}:broadcast"

    def user(self, name: str) -> str:
        return f"{self.prefix}:user:{name}"

    def group(self, name: str) -> str:
        return f"{self.prefix}:group:{name}"

    def inbox(self, user: str, part: str) -> str:
        """A key of ``user``'s inbox state: ``read``, ``saved``, ``dismissed`` (hashes of
        notification id to ms), ``joined`` (stream to the entry id the user's history of it
        starts after) and ``version`` (bumped by every change)."""
        return f"{self.prefix}:inbox:{user}:{part}"

    def readers(self, stream: str) -> str:
        """The set of users whose servers read a broadcast or group stream: who is targeted."""
        return f"{self.prefix}:readers:{stream.removeprefix(self.prefix + ':')}"

    def idempotency(self, key: str) -> str:
        return f"{self.prefix}:idem:{key}"

    @property
    def epoch(self) -> str:
        """The key holding the streams' epoch: a token written when absent, so a Redis that
        lost its data (restarted without persistence, flushed) has a new one, and cursors
        of the old one are known for what they are."""
        return f"{self.prefix}:epoch"

    def scope(self, stream: str) -> str:
        """``broadcast``, ``user`` or ``group``: the kind of audience a stream serves."""
        return "broadcast" if stream == self.broadcast else stream[len(self.prefix) + 1:].split(
            ":", 1)[0]

    def addressed_to(self, stream: str) -> tuple[list[str], list[str]]:
        """The users and groups a stream is for, as a publisher would name them (neither:
        everyone); the inverse of ``targets`` for one stream."""
        scope = self.scope(stream)
        name = stream[len(self.prefix) + len(scope) + 2:]
        return [name] if scope == "user" else [], [name] if scope == "group" else []

    def targets(self, notification: Notification) -> list[str]:
        """The streams a notification is written to."""
        return self.targets_of(notification.users, notification.groups)

    def targets_of(self, users: Iterable[str], groups: Iterable[str]) -> list[str]:
        """The streams of an audience: each user's and group's, or (neither) the broadcast."""
        streams = [self.user(u) for u in users] + [self.group(g) for g in groups]
        return streams or [self.broadcast]

    def audience(self, user: str | None, groups: Iterable[str] = ()) -> list[str]:
        """The streams a reader serving ``user`` (and their ``groups``) is entitled to."""
        streams = [self.broadcast]
        if user:
            streams.append(self.user(user))
        streams.extend(self.group(g) for g in groups)
        return list(dict.fromkeys(streams))


def encode_entry(notification: Notification) -> dict[str, bytes]:
    """The publisher's form: one field holding the msgpack notification (audience left out)."""
    return {PAYLOAD_FIELD: notification.packed}


def decode_entry(fields: Mapping[bytes, bytes] | Mapping[str, str],
                 limits: Limits = DEFAULT_LIMITS) -> Notification:
    """Read either form of an entry; raise ``ValidationError`` for a malformed one."""
    named = {_text(k): v for k, v in fields.items()}
    if set(named) == {PAYLOAD_FIELD}:
        raw = named[PAYLOAD_FIELD]
        try:
            payload = msgpack.unpackb(raw if isinstance(raw, bytes) else raw.encode(), raw=False)
        except (ValueError, msgpack.UnpackException) as err:
            raise ValidationError(PAYLOAD_FIELD, f"is not msgpack ({err})") from None
        if not isinstance(payload, dict):
            raise ValidationError(PAYLOAD_FIELD, "must hold a msgpack map")
        return validate(payload, limits)
    return validate(_from_flat({k: _text(v) for k, v in named.items()}), limits)


def _from_flat(flat: dict[str, str]) -> dict[str, Any]:
    """Flat string fields, as ``redis-cli XADD`` writes them, to wire values.

    ``autoClose`` is digits (or ``false``); ``expiresAt`` and ``notBefore`` digits or ISO 8601;
    ``pinned`` and ``requireAck`` ``1``/``true`` or ``0``/``false``; ``actions``, ``data``,
    ``source``, ``users``, ``groups`` and ``excludeUsers`` are JSON text; fields the model does
    not know are kept in ``data``.
    """
    out: dict[str, Any] = {}
    extra: dict[str, str] = {}
    for name, value in flat.items():
        if name == "autoClose":
            out[name] = False if value.strip().lower() == "false" else _digits(name, value)
        elif name in ("expiresAt", "notBefore"):
            out[name] = _digits(name, value) if _DIGITS.fullmatch(value.strip()) else value
        elif name in ("pinned", "requireAck"):
            out[name] = _flag(name, value)
        elif name in _JSON_FIELDS:
            try:
                out[name] = json.loads(value)
            except json.JSONDecodeError as err:
                raise ValidationError(name, f"is not valid JSON ({err.msg})") from None
            except RecursionError:
                raise ValidationError(name, "is JSON nested too deeply") from None
        elif name in ("message", "type", "title", "origin", "topic", "link", "key"):
            out[name] = value
        else:
            extra[name] = value
    if extra:
        data = out.setdefault("data", {})
        if isinstance(data, dict):
            out["data"] = {**extra, **data}
    return out


def _digits(name: str, value: str) -> int:
    # ASCII digits only (int() refuses "²", which isdigit() accepts), and no more than fit in
    # a 64-bit number (int() refuses over 4300 digits). int() of the stripped text: strip()
    # also takes away "\x1c"-"\x1f", which int() refuses around digits.
    if not _DIGITS.fullmatch(value.strip()):
        raise ValidationError(name, f"must be digits (milliseconds) or false, not {value[:40]!r}")
    return int(value.strip())


def _flag(name: str, value: str) -> bool:
    flag = _FLAGS.get(value.strip().lower())
    if flag is None:
        raise ValidationError(name, f"must be 1, true, 0 or false, not {value[:40]!r}")
    return flag


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            raise ValidationError("entry", "holds text that is not UTF-8") from None
    return value


@dataclass(frozen=True)
class Delivered:
    """A notification as read back: its identity is the stream and the entry id, and the entry id's
    millisecond part is when Redis received it (the server clock)."""

    stream: str
    entry_id: str
    notification: Notification

    @property
    def id(self) -> str:
        return f"{self.stream}/{self.entry_id}"

    @property
    def created_at(self) -> int:
        return int(self.entry_id.split("-", 1)[0])

    def to_dict(self) -> dict[str, Any]:
        """The form the server sends to browsers."""
        return {"id": self.id, "stream": self.stream, "createdAt": self.created_at,
                **self.notification.to_dict()}


def entry_id_key(entry_id: str) -> tuple[int, int]:
    """Sort key of an entry id: ``"1700000000000-3"`` -> ``(1700000000000, 3)``."""
    ms, _, seq = entry_id.partition("-")
    return int(ms), int(seq or 0)


@dataclass(frozen=True)
class Cursor:
    """A reader's position: the last entry id seen, per stream, and when it was issued.

    Per-stream ids make it exact even when two streams hold entries with the same millisecond id.
    A stream the cursor does not name (a group joined later) is read from the cursor's newest
    millisecond onwards: the cursor stands for a moment in time.

    ``at`` is the server's release clock when the cursor was issued: a scheduled notification
    (``notBefore``) whose entry lies before the positions but that became due after ``at`` is
    still owed to whoever resumes from this cursor. Cursors without it stand for their newest
    position's millisecond.

    ``epoch`` is the streams' epoch the positions belong to (``StreamNames.epoch``): positions
    of another epoch say nothing about the streams Redis holds now.
    """

    positions: Mapping[str, str]
    at: int | None = None
    epoch: str | None = None

    @property
    def moment(self) -> int:
        """When this cursor was issued, in server milliseconds."""
        if self.at is not None:
            return self.at
        return max((entry_id_key(i)[0] for i in self.positions.values()), default=0)

    def position(self, stream: str) -> str:
        if stream in self.positions:
            return self.positions[stream]
        newest_ms = max((entry_id_key(i)[0] for i in self.positions.values()), default=0)
        # Just before that millisecond, so an entry at exactly "<ms>-0" is still read.
        return f"{newest_ms - 1}-{MAX_SEQ}" if newest_ms else "0-0"

    def advanced(self, stream: str, entry_id: str) -> Cursor:
        """A new cursor past ``entry_id`` on ``stream`` (never moving backwards)."""
        current = self.positions.get(stream)
        if current is not None and entry_id_key(current) >= entry_id_key(entry_id):
            return self
        return Cursor({**self.positions, stream: entry_id}, self.at, self.epoch)

    def moved(self, stream: str, entry_id: str) -> Cursor:
        """A new cursor at ``entry_id`` on ``stream``, backwards included (a stream that was
        recreated)."""
        return Cursor({**self.positions, stream: entry_id}, self.at, self.epoch)

    def restricted(self, streams: Iterable[str]) -> Cursor:
        """Positions for exactly ``streams``, filling the ones this cursor does not name."""
        return Cursor({s: self.position(s) for s in streams}, self.at, self.epoch)

    def issued(self, at: int, epoch: str | None = None) -> Cursor:
        """The same positions, issued at release clock ``at`` in ``epoch`` (None: the same)."""
        return Cursor(self.positions, at, epoch or self.epoch)

    @classmethod
    def start(cls, streams: Iterable[str], epoch: str | None) -> Cursor:
        """Before the first entry of every stream of ``epoch``."""
        return cls(dict.fromkeys(streams, "0-0"), None, epoch)

    def encode(self) -> str:
        """One opaque, URL-safe string."""
        body: dict[str, Any] = dict(sorted(self.positions.items()))
        if self.at is not None:
            body[_AT] = self.at
        if self.epoch is not None:
            body[_EPOCH] = self.epoch
        text = json.dumps(body, separators=(",", ":"))
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor:
        try:
            padded = text + "=" * (-len(text) % 4)
            positions = json.loads(base64.urlsafe_b64decode(padded.encode()))
        except (binascii.Error, ValueError, RecursionError):
            raise ValidationError("cursor", "is not a cursor this server issued") from None
        at = positions.pop(_AT, None) if isinstance(positions, dict) else None
        epoch = positions.pop(_EPOCH, None) if isinstance(positions, dict) else None
        if not isinstance(positions, dict) or not all(
            isinstance(k, str) and isinstance(v, str) and _ENTRY_ID.fullmatch(v)
            and max(entry_id_key(v)) < 2**64
            for k, v in positions.items()
        ) or not (at is None or (type(at) is int and 0 <= at < 2**63)) or not (
            epoch is None or (isinstance(epoch, str) and _EPOCH_TOKEN.fullmatch(epoch))):
            raise ValidationError("cursor", "is not a cursor this server issued")
        return cls(positions, at, epoch)


_AT = "@"
"""The cursor's key for ``at``: no stream is named that (stream names hold the prefix and a ":")."""
_EPOCH = "#"
"""The cursor's key for ``epoch``, likewise."""
_EPOCH_TOKEN = re.compile(r"[0-9A-Za-z_-]{1,64}")

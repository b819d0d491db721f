"""What an error answer from Redis means to whoever sent the command, in one place: a
``BrokerRefused`` whose message says what happened and what to do, and whether waiting helps.

The cases an operator meets in production: Redis full (``OOM`` under ``noeviction``), a
read-only replica (``READONLY``: a failover under way, or a URL naming a replica), and the ACL
(``NOPERM``) or the credentials (``NOAUTH``, ``WRONGPASS``) refusing the connection's user.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from redis.exceptions import (
    AuthenticationError,
    AuthorizationError,
    NoPermissionError,
    OutOfMemoryError,
    ReadOnlyError,
)

from .backoff import RETRYABLE
from .errors import BrokerForbidden, BrokerFull, BrokerReadOnly, BrokerRefused

CREDENTIALS: tuple[type[BaseException], ...] = (AuthenticationError, AuthorizationError)
"""Refused credentials. redis-py makes them connection errors, but no wait cures them."""

FULL_RETRY_AFTER = 30.0
"""Seconds to suggest while Redis is full: someone has to free memory or raise the limit."""
FAILOVER_RETRY_AFTER = 5.0
"""Seconds to suggest on a replica: a failover takes a few seconds."""

_CODES: dict[type[BaseException], str] = {OutOfMemoryError: "OOM", ReadOnlyError: "READONLY",
                                          NoPermissionError: "NOPERM"}
_SCRIPT_TAIL = re.compile(r"\.?\s*script: [0-9a-f]{40}, on @user_script:[0-9]+\.?\s*$")
_NAMED = re.compile(r"may not (?:SET|XADD to) (\S+): ")  # the publish script's words
_ACL_WORDS = ("no permissions", "can't run this command")  # Redis 6's words inside a script


def worth_retrying(err: BaseException) -> bool:
    """Whether a writer should try again for a while: the broker is not there, or is a
    replica (a failover ends within seconds; reconnect first, so a proxy or DNS name can lead
    to the new primary). Redis full or refusing the user needs someone to act: answer at once."""
    if isinstance(err, ReadOnlyError):
        return True
    return isinstance(err, RETRYABLE) and not isinstance(err, CREDENTIALS)


def redis_reason(err: BaseException) -> str:
    """Redis's own words with its error code, without redis-py's echo of the command or the
    script's sha and line."""
    text = _SCRIPT_TAIL.sub("", str(err).rsplit("caused error: ", 1)[-1]).strip()
    code = getattr(err, "status_code", None) or _CODES.get(type(err))
    return f"{code} {text}" if code and not text.startswith(code) else text


def refusal(err: BaseException, streams: Sequence[str] | None = None) -> BrokerRefused:
    """The ``BrokerRefused`` an error answer stands for. ``streams``: a publish's targets,
    none of which the all-or-nothing script wrote when refused."""
    said = f"Redis said: {redis_reason(err)}"
    nothing = "; nothing was written" if streams is not None else ""
    if isinstance(err, OutOfMemoryError):
        return BrokerFull(f"Redis is out of memory (maxmemory reached, and its policy evicts "
                          f"nothing), so it refuses new data{nothing}. Free memory (trim the "
                          f"streams, raise maxmemory) and send again. {said}", FULL_RETRY_AFTER)
    if isinstance(err, ReadOnlyError):
        return BrokerReadOnly(f"Redis answered as a read-only replica: a failover is under way, "
                              f"or the broker URL names a replica{nothing}. Send again in a few "
                              f"seconds; if this lasts, point the broker URL at the primary. "
                              f"{said}", FAILOVER_RETRY_AFTER)
    if isinstance(err, CREDENTIALS):
        return BrokerForbidden(f"Redis refused the credentials of the broker URL{nothing}. "
                               f"Check the user name and password it carries. {said}")
    if isinstance(err, NoPermissionError) or any(w in str(err) for w in _ACL_WORDS):
        return BrokerForbidden(f"Redis's ACL does not let the broker URL's user write "
                               f"{_which(str(err), streams)}{nothing}. Grant that user XADD on "
                               f"the notification streams and SET on the idempotency keys. "
                               f"{said}")
    return BrokerRefused(f"Redis refused the command{nothing}. {said}")


def _which(reason: str, streams: Sequence[str] | None) -> str:
    """The key the publish script named, else the candidates, else the keys in general."""
    named = _NAMED.search(reason)
    if named:
        return named[1]
    if streams:
        return "one of " + ", ".join(dict.fromkeys(streams))
    return "the keys this needs"

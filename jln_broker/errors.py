"""One family of exceptions, so callers (CLI, REST handlers) map them to exit codes and HTTP
status in one place."""

from __future__ import annotations


class JLNError(Exception):
    """Base class of every error this package raises on purpose."""


class FieldError(JLNError):
    """An error about one input: ``field`` names it (``actions[1].label``, ``cursor``, ``id``)
    so an HTTP error body or a CLI message can point at it."""

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field}: {problem}")
        self.field = field
        self.problem = problem

    def within(self, outer: str) -> FieldError:
        """The same problem, of the same class, named inside ``outer`` (``[3]`` and
        ``message``: ``[3].message``)."""
        return type(self)(f"{outer}.{self.field}", self.problem)


class ValidationError(FieldError, ValueError):
    """Input that breaks a rule of the model or the protocol."""


class TooLarge(ValidationError):
    """Input over a size limit (HTTP 413 rather than 400)."""


class NotFound(FieldError):
    """What was asked for is not there (HTTP 404): an id not in this user's inbox, an entry the
    stream no longer holds."""


class Conflict(FieldError):
    """What the notification's own rules refuse (HTTP 409): dismissing a pinned one."""


class BrokerUnavailable(JLNError, ConnectionError):
    """Redis (or the Jupyter server we publish through) could not be reached in time."""


class BrokerRefused(JLNError):
    """Redis answered with an error (a key of the wrong type, an ACL refusal, out of memory).

    The publish script checks every target before its first write, so a batch refused this way
    reached none of its streams (HTTP 502 unless a subclass says otherwise).
    """


class BrokerRefusedForNow(BrokerRefused):
    """A refusal that lifts without changing the request: Redis is full, or is a replica while
    a failover completes. ``retry_after`` (seconds) is a fair wait (HTTP 503 with
    ``Retry-After``)."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BrokerFull(BrokerRefusedForNow):
    """Redis reached ``maxmemory`` under ``noeviction`` and refuses writes (``OOM``)."""


class BrokerReadOnly(BrokerRefusedForNow):
    """The connection reached a read-only replica (``READONLY``): a failover, or a URL naming
    a replica."""


class BrokerForbidden(BrokerRefused):
    """Redis refused the connection's credentials or its ACL user may not write a target
    (``NOPERM``, ``NOAUTH``, ``WRONGPASS``): only an operator can fix it (HTTP 502)."""


class PublishRejected(JLNError):
    """A remote ingest endpoint refused the notification; ``status`` is its HTTP code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason

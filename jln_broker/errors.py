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

    Inside a MULTI/EXEC Redis does not roll back the commands that succeeded, so a batch refused
    this way may have reached some of its streams.
    """


class PublishRejected(JLNError):
    """A remote ingest endpoint refused the notification; ``status`` is its HTTP code."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"HTTP {status}: {reason}")
        self.status = status
        self.reason = reason

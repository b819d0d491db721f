"""jln_broker: publish notifications to Redis Streams and read them back.

Nothing here imports Jupyter: a CI job or a training script needs only this package.
``%load_ext jln_broker`` in IPython adds the ``%notify`` and ``%%notify`` magics.
"""

from typing import Any

from .errors import (
    BrokerRefused,
    BrokerUnavailable,
    JLNError,
    NotFound,
    PublishRejected,
    TooLarge,
    ValidationError,
)
from .model import Action, Limits, Notification, Source, validate
from .notify import notify
from .progress import Progress, progress
from .protocol import Cursor, Delivered, StreamNames
from .publisher import AsyncPublisher, Publisher
from .reader import Batch, Page, StreamReader, read_range
from .receipts import Receipts, read_receipts

__version__ = "0.1.0"

__all__ = [
    "Action", "AsyncPublisher", "Batch", "BrokerRefused", "BrokerUnavailable", "Cursor",
    "Delivered", "JLNError", "Limits", "NotFound", "Notification", "Page", "Progress",
    "PublishRejected", "Publisher", "Receipts", "Source", "StreamNames", "StreamReader",
    "TooLarge", "ValidationError", "load_ipython_extension", "notify", "progress", "read_range",
    "read_receipts", "validate",
]


def load_ipython_extension(shell: Any) -> None:
    """``%load_ext jln_broker``: the ``%notify`` and ``%%notify`` magics."""
    from .magics import load_ipython_extension as load  # IPython only when asked for

    load(shell)

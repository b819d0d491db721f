"""jln_broker: publish notifications to Redis Streams and read them back.

Nothing here imports Jupyter: a CI job or a training script needs only this package.
"""

from .errors import (
    BrokerRefused,
    BrokerUnavailable,
    JLNError,
    NotFound,
    PublishRejected,
    TooLarge,
    ValidationError,
)
from .model import Action, Limits, Notification, validate
from .protocol import Cursor, Delivered, StreamNames
from .publisher import AsyncPublisher, Publisher
from .reader import Batch, Page, StreamReader, read_range
from .receipts import Receipts, read_receipts

__version__ = "0.1.0"

__all__ = [
    "Action", "AsyncPublisher", "Batch", "BrokerRefused", "BrokerUnavailable", "Cursor",
    "Delivered", "JLNError", "Limits", "NotFound", "Notification", "Page", "PublishRejected",
    "Publisher", "Receipts", "StreamNames", "StreamReader", "TooLarge", "ValidationError",
    "read_range", "read_receipts", "validate",
]

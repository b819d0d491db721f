"""jln_broker: publish notifications to Redis Streams and read them back.

Nothing here imports Jupyter: a CI job or a training script needs only this package.
"""

from .errors import (
    BrokerRefused,
    BrokerUnavailable,
    JLNError,
    PublishRejected,
    TooLarge,
    ValidationError,
)
from .model import Action, Limits, Notification, validate
from .protocol import Cursor, Delivered, StreamNames
from .publisher import AsyncPublisher, Publisher
from .reader import Batch, Page, StreamReader, read_range

__version__ = "0.1.0"

__all__ = [
    "Action", "AsyncPublisher", "Batch", "BrokerRefused", "BrokerUnavailable", "Cursor",
    "Delivered", "JLNError", "Limits", "Notification", "Page", "PublishRejected", "Publisher",
    "StreamNames", "StreamReader", "TooLarge", "ValidationError", "read_range", "validate",
]

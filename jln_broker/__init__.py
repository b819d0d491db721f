"""jln_broker: publish notifications to Redis Streams and read them back.

Nothing here imports Jupyter: a CI job or a training script needs only this package.
"""

from .errors import BrokerUnavailable, JLNError, PublishRejected, TooLarge, ValidationError
from .model import Action, Limits, Notification, validate
from .protocol import Cursor, Delivered, StreamNames
from .publisher import AsyncPublisher, Publisher
from .reader import StreamReader

__version__ = "0.1.0"

__all__ = [
    "Action", "AsyncPublisher", "BrokerUnavailable", "Cursor", "Delivered", "JLNError", "Limits",
    "Notification", "PublishRejected", "Publisher", "StreamNames", "StreamReader", "TooLarge",
    "ValidationError", "validate",
]

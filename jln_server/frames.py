"""WebSocket frames as the server writes them (RFC 6455, section 5.2): final, unmasked text
frames, no extension. The fan-out builds each frame once and writes the same bytes to every
client's socket, rather than have tornado frame the same text again for each of them."""

from __future__ import annotations

import struct

_FIN_TEXT = 0x81


def text(message: str) -> bytes:
    """``message`` as one text frame."""
    payload = message.encode()
    size = len(payload)
    if size < 126:
        head = bytes((_FIN_TEXT, size))
    elif size < 1 << 16:
        head = struct.pack("!BBH", _FIN_TEXT, 126, size)
    else:
        head = struct.pack("!BBQ", _FIN_TEXT, 127, size)
    return head + payload

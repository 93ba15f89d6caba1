"""APNs client for Apple Wallet pass update pushes.

A Wallet update push is ``POST /3/device/<pushToken>`` with ``apns-topic:
<passTypeIdentifier>`` and body ``{}`` over HTTP/2 + TLS, authenticated by the pass type
certificate as the TLS client certificate. Product code depends on :class:`PushSender`;
:class:`ApnsClient` (sync.py) implements it over our own asyncio HTTP/2 engine
(engine.py, connection.py, receiving.py, flow.py, frames.py, hpack*.py, huffman.py).
Why an engine of our own, with figures: docs/decisions/apns-engine.md.
"""

from .config import PRODUCTION_HOST, SANDBOX_HOST, ApnsConfig, build_ssl_context
from .connection import ApnsConnectionError
from .engine import AsyncApnsClient
from .results import UNREGISTER_REASONS, Outcome, PushResult, PushSender, classify
from .sync import ApnsClient, shared_client

__all__ = [
    "PRODUCTION_HOST",
    "SANDBOX_HOST",
    "UNREGISTER_REASONS",
    "ApnsClient",
    "ApnsConfig",
    "ApnsConnectionError",
    "AsyncApnsClient",
    "Outcome",
    "PushResult",
    "PushSender",
    "build_ssl_context",
    "classify",
    "shared_client",
]

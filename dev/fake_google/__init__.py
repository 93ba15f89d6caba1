"""A fake Google Wallet API (walletobjects v1) and OAuth2 token endpoint for tests,
benchmarks and local development.

Start it in-process (``FakeGoogleServer(...).start()``) or as a process (``python -m
dev.fake_google --port 0 --service-account KEY.json``), point the client's token URI
and API base URL at it, and inspect or steer it through :class:`FakeGoogleControl`.
"""

from dev.fake_google.control import FakeGoogleControl
from dev.fake_google.server import FakeGoogleServer
from dev.fake_google.service_account import ServiceAccountFiles, write_service_account
from dev.fake_google.state import FakeGoogleState

__all__ = [
    "FakeGoogleControl",
    "FakeGoogleServer",
    "FakeGoogleState",
    "ServiceAccountFiles",
    "write_service_account",
]

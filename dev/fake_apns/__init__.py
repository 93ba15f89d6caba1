"""A fake APNs (Apple Push Notification service) for tests and local development.

Speaks real HTTP/2 over TLS with a mandatory client certificate, built directly on
``h2``. Start it in-process (``FakeApnsServer(...).start()``) or as a process
(``python -m dev.fake_apns --port 0 --cert ... --key ... --client-ca ...``) and
query it through :class:`FakeApnsControl`.
"""

from dev.fake_apns.control import FakeApnsControl
from dev.fake_apns.protocol import ServerOptions
from dev.fake_apns.server import FakeApnsServer
from dev.fake_apns.state import FakeApnsState, PushRecord

__all__ = ["FakeApnsControl", "FakeApnsServer", "FakeApnsState", "PushRecord", "ServerOptions"]

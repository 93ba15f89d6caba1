"""TCP server: one thread per client connection, each reading requests and writing replies."""

from __future__ import annotations

import contextlib
import itertools
import logging
import socket
import socketserver
import threading
from types import TracebackType
from typing import Any

import bson.errors

from . import mongomock_ops, wire
from .context import ServerState
from .dispatch import CommandDispatcher
from .engine import QueryEngine
from .errors import INTERNAL_ERROR, MongoError
from .storage import Storage

logger = logging.getLogger(__name__.rpartition(".")[0])


class MongoWireServer:
    """A dev-only MongoDB server in this process; pymongo talks to it like to a real mongod.

    Use as ``with MongoWireServer(port=0) as server: MongoClient(server.uri)``, or call
    ``start()`` / ``stop()``; port 0 binds a free port, readable from ``.port`` once started.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 27017) -> None:
        storage = Storage(mongomock_ops.matches)
        self.state = ServerState(storage=storage, engine=QueryEngine(storage))
        self.dispatcher = CommandDispatcher(self.state)
        self._host = host
        self._requested_port = port
        self._tcp: _TcpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def storage(self) -> Storage:
        return self.state.storage

    @property
    def documents_examined(self) -> int:
        return self.state.engine.documents_examined

    @property
    def host(self) -> str:
        return self._host

    @property
    def port(self) -> int:
        if self._tcp is None:
            raise RuntimeError("the server is not started")
        return int(self._tcp.server_address[1])

    @property
    def uri(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"mongodb://{host}:{self.port}"

    def start(self) -> MongoWireServer:
        """Bind (port 0 picks a free port) and serve from a background thread."""
        if self._tcp is not None:
            raise RuntimeError("the server is already started")
        self._tcp = _TcpServer((self._host, self._requested_port), self.dispatcher)
        self._thread = threading.Thread(
            target=self._tcp.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"mongo-wire-server:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop accepting, hang up on every client and wait for the accept loop to end."""
        tcp, thread = self._tcp, self._thread
        if tcp is None or thread is None:
            return
        tcp.shutdown()
        tcp.server_close()
        tcp.close_connections()
        thread.join()
        self._tcp = self._thread = None

    def __enter__(self) -> MongoWireServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()


class _TcpServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], dispatcher: CommandDispatcher) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.dispatcher = dispatcher
        self._connection_ids = itertools.count(1)
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _ConnectionHandler)

    def register(self, connection: socket.socket) -> int:
        with self._connections_lock:
            self._connections.add(connection)
            state = self.dispatcher.state
            state.connections_current = len(self._connections)
            state.connections_total += 1
            return next(self._connection_ids)

    def unregister(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)
            self.dispatcher.state.connections_current = len(self._connections)

    def close_connections(self) -> None:
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)


class _ConnectionHandler(socketserver.BaseRequestHandler):
    server: _TcpServer
    request: socket.socket

    def handle(self) -> None:
        connection = self.request
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        connection_id = self.server.register(connection)
        try:
            self._serve(connection, connection_id)
        except wire.ProtocolError as error:
            logger.error("dropping connection %d: %s", connection_id, error)
        except OSError:
            pass  # the client (or stop()) hung up
        finally:
            self.server.unregister(connection)

    def _serve(self, connection: socket.socket, connection_id: int) -> None:
        dispatcher = self.server.dispatcher
        while True:
            request = wire.read_request(connection)
            if request is None:
                return
            reply = dispatcher.execute(request.database, request.command, connection_id)
            if request.expects_reply:
                connection.sendall(_encode(request, reply))


def _encode(request: wire.Request, reply: dict[str, Any]) -> bytes:
    try:
        return wire.encode_reply(request, reply)
    except (bson.errors.InvalidDocument, OverflowError, TypeError, ValueError) as error:
        logger.error("cannot encode the reply to %s: %s", next(iter(request.command), "?"), error)
        failure = MongoError(INTERNAL_ERROR, f"dev server could not encode the reply: {error}")
        return wire.encode_reply(request, failure.as_reply())

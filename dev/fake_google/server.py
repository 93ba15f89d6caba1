"""The fake Google server: routing, and its lifecycle on an event loop thread.

Routes: ``POST /token`` (OAuth2), ``/walletobjects/v1/...`` (REST, see rest.py),
``GET /gp/m/issuer/keys`` (callback root keys) and ``/_control/...`` (control.py). Control
requests run on a thread (a callback POSTs to a receiver that may call the fake back);
everything else is answered on the loop.
"""

from __future__ import annotations

import asyncio
import threading
import time
import urllib.parse
import weakref
from collections.abc import Iterable
from pathlib import Path

from dev.fake_google import callback_signer
from dev.fake_google.control import KEYS_PATH, handle_control
from dev.fake_google.control import PREFIX as CONTROL_PREFIX
from dev.fake_google.errors import GoogleApiError, Reply
from dev.fake_google.http1 import Http1Protocol, HttpRequest
from dev.fake_google.oauth import (
    OAuthError,
    parse_token_request,
    token_reply,
    verify_assertion,
)
from dev.fake_google.rest import PREFIX as REST_PREFIX
from dev.fake_google.rest import handle_rest
from dev.fake_google.state import FakeGoogleState

TOKEN_PATH = "/token"


def handle_token(state: FakeGoogleState, body: bytes, audiences: set[str]) -> Reply:
    with state.lock:
        state.count("token_requests")
        fault = state.take_fault("POST", TOKEN_PATH)
        if fault is not None:
            reply = GoogleApiError(fault).reply()
        else:
            try:
                assertion = parse_token_request(body)
                grant = verify_assertion(
                    assertion, state.accounts, audiences=audiences, now=time.time()
                )
                reply = token_reply(state.tokens.issue(grant, state.now()))
                state.count("tokens_issued")
            except OAuthError as err:
                state.count("token_failures")
                reply = err.reply()
        state.record("POST", TOKEN_PATH, reply.status)
    return reply


def _is_control(request: HttpRequest) -> bool:
    return request.target.startswith(CONTROL_PREFIX)


class FakeGoogleServer:
    """The fake in this process: :meth:`start`, then :attr:`base_url`; :meth:`stop`."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        quota_rps: int = 20,
        notification_limit: int = 3,
        service_accounts: Iterable[Path | str] = (),
    ) -> None:
        self.state = FakeGoogleState(quota_rps=quota_rps, notification_limit=notification_limit)
        for path in service_accounts:
            self.state.accounts.add_file(path)
        # Root and intermediate keys that sign callbacks, new at every start-up.
        self.signing_keys = callback_signer.new_signing_keys()
        self.host = host
        self.port = port
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.Server | None = None
        self._thread: threading.Thread | None = None
        self._connections: weakref.WeakSet[Http1Protocol] = weakref.WeakSet()

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def token_uri(self) -> str:
        return self.base_url + TOKEN_PATH

    def handle(self, request: HttpRequest) -> Reply:
        path = urllib.parse.urlsplit(request.target).path
        if path.startswith(CONTROL_PREFIX):
            return handle_control(
                self.state, self.signing_keys, request.method, request.target, request.body
            )
        if path == KEYS_PATH and request.method == "GET":
            return Reply(200, callback_signer.root_keys_document(self.signing_keys))
        if path == TOKEN_PATH and request.method == "POST":
            return handle_token(self.state, request.body, self._audiences(request))
        if path.startswith(REST_PREFIX):
            authorization = request.headers.get("authorization")
            return handle_rest(
                self.state, request.method, request.target, request.body, authorization
            )
        return GoogleApiError(404, f"The requested URL {path} was not found.").reply()

    def _audiences(self, request: HttpRequest) -> set[str]:
        """This token endpoint's URL, as the client reached it."""
        own = {self.token_uri}
        host = request.headers.get("host")
        return own | {f"http://{host}{TOKEN_PATH}"} if host else own

    def _protocol(self) -> Http1Protocol:
        connection = Http1Protocol(self.handle, _is_control)
        self._connections.add(connection)
        return connection

    def start(self) -> FakeGoogleServer:
        """Listen on a background thread with its own event loop; returns when listening."""
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self._server = loop.run_until_complete(
                    loop.create_server(self._protocol, self.host, self.port, backlog=1024)
                )
                self.port = int(self._server.sockets[0].getsockname()[1])
            except BaseException as err:  # surfaced to the caller of start()
                failure.append(err)
                started.set()
                return
            started.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-google", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread, server = self._loop, self._thread, self._server
        if loop is None or thread is None:
            return

        def shutdown() -> None:
            if server is not None:
                server.close()
            for connection in list(self._connections):
                connection.abort()  # idle keep-alive clients would hold the loop otherwise
            loop.stop()

        loop.call_soon_threadsafe(shutdown)
        thread.join(timeout=10)
        self._loop = self._thread = self._server = None

    def __enter__(self) -> FakeGoogleServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

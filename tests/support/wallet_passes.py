"""Campaign-sized segments of demo loyalty passes as they are once saved in both wallets,
inserted directly (issuing thousands through the API would take minutes): Google's object
held by the fake Google and saved by a holder (as the save callback records), one registered
Apple device each, and optionally an Apple version
already rendered and signed (so a campaign that changes nothing finds it `unchanged`)."""

from __future__ import annotations

import http.client
import json
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from config.settings import Settings
from shared.google.passtype import render_google_class
from shared.infra.clock import utcnow
from shared.infra.ids import new_pass_id
from shared.passes.apple_versions import new_apple_version
from shared.passes.documents import new_pass_document
from shared.passes.google_versions import HOLDER_FIELD, SAVED, new_google_version
from shared.passes.jobs import JobContext
from shared.tenancy.tenants import load_registry
from tests.support.apple import PASS_TYPE_IDENTIFIER, new_push_token
from tests.support.google import FakeGoogleProcess, fetch_access_token

PASS_TYPE = "loyalty"
# Enough connections to keep the fake Google busy while this process sends the next call.
POST_THREADS = 4


@dataclass(frozen=True)
class SeededPass:
    pass_id: str
    push_token: str  # its one registered device
    object_id: str  # its object at the fake Google


class WalletSeeder:
    """Inserts demo loyalty passes whose Google object the fake already holds (the quota of
    the fake must be lifted meanwhile: the objects go in as fast as it answers)."""

    def __init__(self, db: Any, settings: Settings, fake_google: FakeGoogleProcess) -> None:
        self.db = db
        registry = load_registry(settings.tenants_dir, include_local_only=True)
        tenant = registry.get("demo")
        assert tenant is not None
        self.tenant, self.pass_type = tenant, tenant.pass_types[PASS_TYPE]
        self.context = JobContext(db=db, tenants=registry, settings=settings)
        google = self.pass_type.google
        assert google is not None
        self._address = urlsplit(fake_google.base_url).netloc
        self._collection = f"/walletobjects/v1/{google.kind}"
        self._headers = {
            "Authorization": f"Bearer {fetch_access_token(fake_google.service_account.key_file)}",
            "Content-Type": "application/json",
        }
        self._local = threading.local()
        self._connections: list[http.client.HTTPConnection] = []
        self._class = render_google_class(google, callback_url=settings.google_callback_url("demo"))

    def _call(
        self, method: str, resource: str, body: dict[str, Any] | None = None
    ) -> tuple[int, str]:
        # Plain http.client on a kept-alive connection per thread: thousands of calls, and
        # requests' per-call overhead would triple the set-up's time.
        connection: http.client.HTTPConnection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._local.connection = http.client.HTTPConnection(
                self._address, timeout=10
            )
            self._connections.append(connection)
        payload = None if body is None else json.dumps(body)
        connection.request(method, self._collection + resource, payload, self._headers)
        answer = connection.getresponse()
        return answer.status, answer.read().decode()

    def _insert_object(self, body: Mapping[str, Any]) -> None:
        status, text = self._call("POST", "Object", dict(body))
        assert status == 200, text

    def _ensure_class(self) -> None:
        status, text = self._call("POST", "Class", self._class)  # 409: the fake has it already
        assert status in (200, 409), text

    def _close(self) -> None:
        while self._connections:  # the pool's threads are gone: so are their connections
            self._connections.pop().close()

    def post_objects(self, objects: Iterable[Mapping[str, Any]]) -> None:
        """Have the fake Google hold these objects (rendered by new_google_version), as it
        holds the objects passwire sent it, a few calls at a time."""
        self._ensure_class()
        with ThreadPoolExecutor(POST_THREADS) as pool:
            for future in [pool.submit(self._insert_object, body) for body in objects]:
                future.result()
        self._close()

    def google_object(self, object_id: str) -> dict[str, Any]:
        """The object as the fake Google holds it (a REST GET, as a client would)."""
        status, text = self._call("GET", f"Object/{object_id}")
        assert status == 200, text
        found: dict[str, Any] = json.loads(text)
        return found

    def seed(
        self, tag: str, points: Sequence[int], *, apple_signed: bool = False
    ) -> list[SeededPass]:
        """One pass per entry of `points` (its additionalData.points), in the segment
        `metadata.campaign == tag`; `apple_signed` renders and signs its Apple version too."""
        self._ensure_class()
        now = utcnow()
        documents = []
        with ThreadPoolExecutor(POST_THREADS) as pool:
            inserted = []
            for index, value in enumerate(points):
                document = new_pass_document(
                    pass_id=new_pass_id(),
                    tenant_id="demo",
                    pass_type=PASS_TYPE,
                    identifiers={"crm": f"C-{tag}-{index}"},
                    metadata={"campaign": tag, "store": "42"},
                    additional_data={"points": value},
                    correlation_id="test-insert",
                    now=now,
                )
                google = new_google_version(self.pass_type, document, now=now)
                assert google is not None
                google["syncedHash"] = google["contentHash"]
                document["google"] = google
                document[HOLDER_FIELD] = SAVED
                document["providers"] = {"apple": None, "google": {"installedAt": now}}
                # Sent while the next passes render.
                inserted.append(pool.submit(self._insert_object, google["object"]))
                if apple_signed:
                    document["apple"] = new_apple_version(
                        self.context, self.tenant, self.pass_type, document, now=now
                    )
                    assert document["apple"] is not None
                documents.append(document)
            for future in inserted:
                future.result()
        self._close()
        self.db.passes.insert_many(documents)
        seeded = [
            SeededPass(d["_id"], new_push_token(), d["google"]["objectId"]) for d in documents
        ]
        self.db.registrations.insert_many(
            {
                "deviceLibraryIdentifier": secrets.token_hex(16),
                "passTypeIdentifier": PASS_TYPE_IDENTIFIER,
                "serialNumber": item.pass_id,
                "pushToken": item.push_token,
                "tenant": "demo",
                "createdAt": now,
                "updatedAt": now,
            }
            for item in seeded
        )
        return seeded

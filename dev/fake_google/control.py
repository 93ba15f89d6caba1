"""The fake's control surface (plain JSON under ``/_control/``, no auth) and its client.

- ``GET /_control/state[?log=0]``: classes and objects (each with its kind, resource,
  ``patch_count``, ``put_count``, ``notifying_messages``, ``messages: [{id, messageType,
  time}]``), ``counters``, ``issuers: {issuer: {requests, max_window, rate_limited}}``,
  ``tokens_issued_by_email``, ``service_accounts``, ``config`` and ``log: [{method, path,
  time, status, issuer}]`` (the last 10 000 requests)
- ``POST /_control/reset``
- ``POST /_control/configure``: see :meth:`FakeGoogleState.configure`
- ``POST /_control/service_accounts``: a service account key file's JSON, registered
- ``POST /_control/callback``: sign a save/del callback as Google does and POST it to a
  receiver: ``{"url", "classId", "objectId", "eventType", "nonce"?, "expTimeMillis"?,
  "recipientId"?, "tamper"?, "intermediateExpirationMillis"?}`` ->
  ``{"status", "body", "nonce", "message"}``

Outside ``/_control/``: ``GET /gp/m/issuer/keys``, the root keys that sign callbacks.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from dev.fake_google import callback_signer
from dev.fake_google.errors import Reply
from dev.fake_google.resources import issuer_of
from dev.fake_google.state import FakeGoogleState

PREFIX = "/_control/"
KEYS_PATH = "/gp/m/issuer/keys"  # https://pay.google.com/gp/m/issuer/keys at Google
EVENT_TYPES = ("save", "del")


def _http_url(url: object) -> str:
    if not isinstance(url, str) or urllib.parse.urlsplit(url).scheme not in ("http", "https"):
        raise ValueError("url must be an http(s) URL")
    return url


def build_callback_message(request: Mapping[str, Any]) -> dict[str, Any]:
    """The JSON Google signs (``signedMessage``) for a pass saved to ("save") or deleted
    from ("del") a wallet."""
    event_type = request.get("eventType", "save")
    if event_type not in EVENT_TYPES:
        raise ValueError(f"eventType must be one of {EVENT_TYPES}")
    message = callback_signer.callback_message(
        class_id=str(request["classId"]),
        object_id=str(request["objectId"]),
        event_type=event_type,
        nonce=request.get("nonce"),
    )
    if request.get("expTimeMillis") is not None:
        message["expTimeMillis"] = int(request["expTimeMillis"])
    return message


def _post_json(url: str, document: Any) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - scheme checked by _http_url
        url,
        data=json.dumps(document).encode(),
        headers={"Content-Type": "application/json; charset=utf-8"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return int(response.status), response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode("utf-8", "replace")
    except (urllib.error.URLError, OSError) as err:
        return 0, f"could not reach the receiver: {err}"


def send_callback(request: Mapping[str, Any], keys: callback_signer.SigningKeys) -> dict[str, Any]:
    url = _http_url(request.get("url"))
    message = build_callback_message(request)
    tamper = request.get("tamper", "none")
    if tamper not in callback_signer.TAMPER_MODES:
        raise ValueError(f"tamper must be one of {callback_signer.TAMPER_MODES}")
    recipient_id = request.get("recipientId") or issuer_of(message["classId"])
    if not recipient_id:
        raise ValueError("recipientId is needed when classId has no issuer id")
    intermediate_expiration = request.get("intermediateExpirationMillis")
    signed = callback_signer.sign_callback(
        message,
        keys=keys,
        recipient_id=str(recipient_id),
        tamper=tamper,
        intermediate_expiration_ms=None
        if intermediate_expiration is None
        else int(intermediate_expiration),
    )
    status, text = _post_json(url, signed)
    return {"status": status, "body": text, "nonce": message["nonce"], "message": message}


def handle_control(
    state: FakeGoogleState,
    keys: callback_signer.SigningKeys,
    method: str,
    target: str,
    body: bytes,
) -> Reply:
    url = urllib.parse.urlsplit(target)
    query = urllib.parse.parse_qs(url.query)
    try:
        document = json.loads(body) if body else {}
        match method, url.path.removeprefix(PREFIX):
            case "GET", "state":
                include_log = query.get("log", ["1"])[0] not in ("0", "false")
                return Reply(200, state.snapshot(include_log=include_log))
            case "POST", "reset":
                state.reset()
                return Reply(200, {})
            case "POST", "configure":
                return Reply(200, state.configure(document))
            case "POST", "service_accounts":
                with state.lock:
                    return Reply(200, {"client_email": state.accounts.add_document(document)})
            case "POST", "callback":
                return Reply(200, send_callback(document, keys))
    except (ValueError, KeyError, TypeError, AttributeError) as err:
        return Reply(400, {"error": f"{type(err).__name__}: {err}"})
    return Reply(404, {"error": "no such control route"})


class FakeGoogleControl:
    """Synchronous client of the control surface, e.g. ``FakeGoogleControl(
    "http://127.0.0.1:PORT").state()["counters"]``."""

    def __init__(self, base_url: str, timeout: float = 15.0) -> None:
        if not base_url.startswith("http://"):
            raise ValueError("the fake Google server speaks plain http")
        self.base_url = base_url.rstrip("/")
        self._timeout = timeout

    def _call(self, method: str, path: str, document: Any = None) -> Any:
        data = None if document is None else json.dumps(document).encode()
        request = urllib.request.Request(  # noqa: S310 - scheme checked in __init__
            self.base_url + path, data=data, method=method
        )
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=self._timeout) as response:  # noqa: S310
            return json.loads(response.read())

    def state(self, *, include_log: bool = True) -> dict[str, Any]:
        suffix = "" if include_log else "?log=0"
        return cast(dict[str, Any], self._call("GET", f"{PREFIX}state{suffix}"))

    def counters(self) -> dict[str, int]:
        return cast(dict[str, int], self.state(include_log=False)["counters"])

    def reset(self) -> None:
        self._call("POST", f"{PREFIX}reset", {})

    def configure(self, **options: Any) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("POST", f"{PREFIX}configure", options))

    def fail_next(
        self, path_contains: str, status: int = 503, count: int = 1, method: str | None = None
    ) -> None:
        rule = {"path_contains": path_contains, "status": status, "count": count}
        self.configure(fail_next=[rule if method is None else {**rule, "method": method}])

    def advance_clock(self, seconds: float) -> None:
        """Move the fake's clock (token expiry, 24-hour notification quota) forward."""
        self.configure(advance_clock_s=seconds)

    def add_service_account(self, key_file: Path | str | Mapping[str, Any]) -> str:
        """Register a service account key file (a path or its parsed JSON)."""
        document = (
            key_file if isinstance(key_file, Mapping) else json.loads(Path(key_file).read_text())
        )
        return str(self._call("POST", f"{PREFIX}service_accounts", dict(document))["client_email"])

    def object(self, object_id: str) -> dict[str, Any] | None:
        """The object's entry of :meth:`state` (resource, counts, messages), if any."""
        return cast(dict[str, Any] | None, self.state(include_log=False)["objects"].get(object_id))

    def max_window(self, issuer: str) -> int:
        issuers = self.state(include_log=False)["issuers"]
        return int(issuers.get(issuer, {}).get("max_window", 0))

    def send_callback(
        self,
        url: str,
        *,
        class_id: str,
        object_id: str,
        event_type: str = "save",
        recipient_id: str | None = None,
        nonce: str | None = None,
        exp_time_millis: int | None = None,
        tamper: str = "none",
        intermediate_expiration_ms: int | None = None,
    ) -> dict[str, Any]:
        """Have the fake sign a callback and POST it to ``url``; the receiver's answer."""
        request: dict[str, Any] = {
            "url": url,
            "classId": class_id,
            "objectId": object_id,
            "eventType": event_type,
            "tamper": tamper,
        }
        optional = {
            "recipientId": recipient_id,
            "nonce": nonce,
            "expTimeMillis": exp_time_millis,
            "intermediateExpirationMillis": intermediate_expiration_ms,
        }
        request.update({key: value for key, value in optional.items() if value is not None})
        return cast(dict[str, Any], self._call("POST", f"{PREFIX}callback", request))

    def root_keys(self) -> dict[str, Any]:
        return cast(dict[str, Any], self._call("GET", KEYS_PATH))

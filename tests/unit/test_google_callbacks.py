"""Google Wallet save/delete callbacks: verification (ECv2SigningOnly), the dev signer, and the
root keys cache against a real local HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dev.fake_google.callback_signer import (
    SigningKeys,
    callback_message,
    new_signing_keys,
    root_keys_document,
    sign_callback,
)
from shared.google import callbacks
from shared.google.callbacks import (
    CallbackMessage,
    CallbackRejected,
    RootKey,
    length_prefixed,
    parse_root_keys,
    verify_callback,
)
from shared.google.root_keys import RootKeyCache, RootKeysUnavailable, verify_with_root_key_cache

NOW_MS = 1_750_000_000_000
ISSUER_ID = "3388000000012345678"
CLASS_ID = f"{ISSUER_ID}.loyalty"
OBJECT_ID = f"{ISSUER_ID}.member-42"


@pytest.fixture(scope="module")
def keys() -> SigningKeys:
    return new_signing_keys(now_ms=NOW_MS)


@pytest.fixture(scope="module")
def root_keys(keys: SigningKeys) -> list[RootKey]:
    return parse_root_keys(root_keys_document(keys))


def message(**overrides: Any) -> dict[str, Any]:
    base = callback_message(
        class_id=CLASS_ID, object_id=OBJECT_ID, event_type="save", now_ms=NOW_MS, nonce="n-1"
    )
    return {**base, **overrides}


def body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body).encode()


def rejection(body: bytes | dict[str, Any], root_keys: list[RootKey], **kwargs: Any) -> str:
    with pytest.raises(CallbackRejected) as caught:
        verify_callback(
            body,
            root_keys=root_keys,
            recipient_id=kwargs.get("recipient_id", ISSUER_ID),
            now_ms=kwargs.get("now_ms", NOW_MS),
        )
    return caught.value.reason


# --- the signed bytes --------------------------------------------------------------------------


def test_fields_are_prefixed_with_four_byte_little_endian_lengths() -> None:
    assert length_prefixed("ab", "é") == b"\x02\x00\x00\x00ab\x02\x00\x00\x00\xc3\xa9"
    assert length_prefixed("x" * 258)[:4] == b"\x02\x01\x00\x00"


# --- valid callbacks ---------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", ["save", "del"])
def test_a_valid_callback_verifies_and_returns_its_fields(
    keys: SigningKeys, root_keys: list[RootKey], event_type: str
) -> None:
    body = sign_callback(message(eventType=event_type), keys=keys, recipient_id=ISSUER_ID)

    verified = verify_callback(
        body_bytes(body), root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=NOW_MS
    )

    assert verified == CallbackMessage(
        class_id=CLASS_ID,
        object_id=OBJECT_ID,
        event_type=event_type,  # type: ignore[arg-type]
        nonce="n-1",
        exp_time_ms=NOW_MS + 5 * 60_000,
    )


def test_an_already_parsed_body_verifies_too(keys: SigningKeys, root_keys: list[RootKey]) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    verified = verify_callback(body, root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert verified.event_type == "save"


def test_html_escaped_json_as_gson_writes_it_verifies(
    keys: SigningKeys, root_keys: list[RootKey]
) -> None:
    # Google's Java serializer escapes "=" (base64 padding) as \u003d; the signature covers the
    # decoded strings, so the escaped body must verify all the same.
    raw = json.dumps(sign_callback(message(), keys=keys, recipient_id=ISSUER_ID))
    escaped = raw.replace("=", "\\u003d").encode()
    assert b"\\u003d" in escaped
    verified = verify_callback(escaped, root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert verified.nonce == "n-1"


def test_string_expiration_millis_are_accepted(keys: SigningKeys, root_keys: list[RootKey]) -> None:
    body = sign_callback(
        message(expTimeMillis=str(NOW_MS + 1000)), keys=keys, recipient_id=ISSUER_ID
    )
    verified = verify_callback(body, root_keys=root_keys, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert verified.exp_time_ms == NOW_MS + 1000


# --- forgeries and stale callbacks -------------------------------------------------------------


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("message", callbacks.REASON_BAD_SIGNATURE),
        ("signature", callbacks.REASON_BAD_SIGNATURE),
        ("intermediate", callbacks.REASON_NO_ROOT_SIGNATURE),
        ("unsigned", callbacks.REASON_NO_ROOT_SIGNATURE),
    ],
)
def test_each_tamper_mode_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey], tamper: Any, reason: str
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID, tamper=tamper)
    assert rejection(body_bytes(body), root_keys) == reason


def test_a_tampered_message_still_parses_so_only_the_signature_catches_it(
    keys: SigningKeys,
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID, tamper="message")
    assert json.loads(body["signedMessage"])["eventType"] == "del"


def test_an_unsigned_intermediate_key_is_rejected_even_with_a_valid_message_signature(
    keys: SigningKeys, root_keys: list[RootKey]
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    body["intermediateSigningKey"]["signatures"] = []
    assert rejection(body, root_keys) == callbacks.REASON_NO_ROOT_SIGNATURE


def test_an_expired_intermediate_key_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey]
) -> None:
    body = sign_callback(
        message(), keys=keys, recipient_id=ISSUER_ID, intermediate_expiration_ms=NOW_MS - 1
    )
    assert rejection(body, root_keys) == callbacks.REASON_INTERMEDIATE_EXPIRED


def test_an_expired_message_is_rejected(keys: SigningKeys, root_keys: list[RootKey]) -> None:
    body = sign_callback(message(expTimeMillis=NOW_MS), keys=keys, recipient_id=ISSUER_ID)
    assert rejection(body, root_keys) == callbacks.REASON_MESSAGE_EXPIRED


def test_a_callback_signed_for_another_issuer_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey]
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id="3388000000099999999")
    assert rejection(body, root_keys) == callbacks.REASON_BAD_SIGNATURE


def test_a_callback_signed_by_another_sender_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey]
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID, sender_id="Google")
    assert rejection(body, root_keys) == callbacks.REASON_NO_ROOT_SIGNATURE


def test_an_expired_root_key_is_not_trusted(keys: SigningKeys) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    expired_roots = parse_root_keys(root_keys_document(keys))
    later = keys.root_expiration_ms
    assert rejection(body, expired_roots, now_ms=later) == callbacks.REASON_NO_ROOT_SIGNATURE


def test_an_unknown_root_key_is_not_trusted(keys: SigningKeys) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    strangers = parse_root_keys(root_keys_document(new_signing_keys(now_ms=NOW_MS)))
    assert rejection(body, strangers) == callbacks.REASON_NO_ROOT_SIGNATURE


# --- root keys documents -----------------------------------------------------------------------


def test_root_keys_of_other_protocol_versions_are_ignored(keys: SigningKeys) -> None:
    ecv2 = root_keys_document(keys, protocol_version="ECv2")
    assert parse_root_keys(ecv2) == []

    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    assert rejection(body, parse_root_keys(ecv2)) == callbacks.REASON_NO_ROOT_SIGNATURE

    other = new_signing_keys(now_ms=NOW_MS)
    mixed = {
        "keys": [
            *root_keys_document(other, protocol_version="ECv1")["keys"],
            *root_keys_document(keys)["keys"],
        ]
    }
    (only,) = parse_root_keys(mixed)
    assert only.expiration_ms == keys.root_expiration_ms


def test_malformed_root_key_entries_are_skipped(keys: SigningKeys) -> None:
    (good,) = root_keys_document(keys)["keys"]
    document = {
        "keys": [
            "not an object",
            {**good, "keyValue": "not base64!"},
            {**good, "keyValue": "AAAA"},
            {**good, "keyExpiration": "soon"},
            {key: value for key, value in good.items() if key != "keyExpiration"},
            good,
        ]
    }
    assert len(parse_root_keys(document)) == 1


def test_a_document_without_a_keys_list_is_an_error() -> None:
    with pytest.raises(ValueError, match="keys"):
        parse_root_keys({"key": []})


# --- malformed bodies --------------------------------------------------------------------------


@pytest.mark.parametrize("raw", [b"", b"not json", b"\xff\xfe", b"[1, 2]", b'"text"', b"[" * 5000])
def test_a_body_that_is_not_a_json_object_is_rejected(root_keys: list[RootKey], raw: bytes) -> None:
    assert rejection(raw, root_keys) == callbacks.REASON_NOT_JSON


def test_an_oversized_body_is_rejected_before_parsing(root_keys: list[RootKey]) -> None:
    raw = b" " * callbacks.MAX_BODY_BYTES + b"{}"
    assert rejection(raw, root_keys) == callbacks.REASON_TOO_LARGE


@pytest.mark.parametrize(
    "missing", ["signature", "intermediateSigningKey", "protocolVersion", "signedMessage"]
)
def test_a_body_missing_a_field_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey], missing: str
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    del body[missing]
    assert rejection(body, root_keys) == callbacks.REASON_MALFORMED


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("signature",), "%%%"),
        (("signature",), 12),
        (("signature",), "A" * 10_000),
        (("intermediateSigningKey",), "key"),
        (("intermediateSigningKey", "signedKey"), None),
        (("intermediateSigningKey", "signatures"), "sig"),
        (("intermediateSigningKey", "signatures"), ["QUJD"] * 100),
        (("signedMessage",), {"eventType": "save"}),
    ],
)
def test_a_body_with_a_malformed_field_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey], path: tuple[str, ...], value: Any
) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    target = body
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = value
    assert rejection(body, root_keys) == callbacks.REASON_MALFORMED


def test_another_protocol_version_is_rejected(keys: SigningKeys, root_keys: list[RootKey]) -> None:
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    body["protocolVersion"] = "ECv2"
    assert rejection(body, root_keys) == callbacks.REASON_PROTOCOL


@pytest.mark.parametrize(
    ("signed_message", "reason"),
    [
        (message(eventType="update"), callbacks.REASON_EVENT_TYPE),
        ({k: v for k, v in message().items() if k != "eventType"}, callbacks.REASON_EVENT_TYPE),
        (message(nonce=""), callbacks.REASON_NO_NONCE),
        ({k: v for k, v in message().items() if k != "nonce"}, callbacks.REASON_NO_NONCE),
        ({k: v for k, v in message().items() if k != "classId"}, callbacks.REASON_BAD_MESSAGE),
        (message(objectId=42), callbacks.REASON_BAD_MESSAGE),
        (message(expTimeMillis=True), callbacks.REASON_BAD_MESSAGE),
        (message(expTimeMillis="tomorrow"), callbacks.REASON_BAD_MESSAGE),
    ],
)
def test_a_signed_message_with_bad_fields_is_rejected(
    keys: SigningKeys, root_keys: list[RootKey], signed_message: dict[str, Any], reason: str
) -> None:
    body = sign_callback(signed_message, keys=keys, recipient_id=ISSUER_ID)
    assert rejection(body, root_keys) == reason


# --- the root keys cache against a real HTTP server --------------------------------------------


@dataclass
class KeysServer:
    url: str
    document: dict[str, Any]
    status: int = 200
    hits: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def keys_server(keys: SigningKeys) -> Iterator[KeysServer]:
    state = KeysServer(url="", document=root_keys_document(keys))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.hits += 1
            payload = json.dumps(state.document).encode()
            self.send_response(state.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True).start()
    state.url = f"http://127.0.0.1:{server.server_port}/gp/m/issuer/keys"
    yield state
    server.shutdown()
    server.server_close()


class FakeClock:
    def __init__(self) -> None:
        self.seconds = 1000.0

    def __call__(self) -> float:
        return self.seconds


def cache_for(server: KeysServer, clock: FakeClock | None = None) -> RootKeyCache:
    return RootKeyCache(server.url, monotonic=clock or FakeClock(), now_ms=lambda: NOW_MS)


def test_the_cache_fetches_once_for_several_calls(
    keys_server: KeysServer, keys: SigningKeys
) -> None:
    cache = cache_for(keys_server)
    fetched = [cache.keys() for _ in range(5)]

    assert keys_server.hits == 1
    assert all(len(batch) == 1 for batch in fetched)
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID)
    verified = verify_callback(body, root_keys=fetched[-1], recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert verified.object_id == OBJECT_ID


def test_the_cache_refetches_after_its_ttl(keys_server: KeysServer) -> None:
    clock = FakeClock()
    cache = cache_for(keys_server, clock)
    cache.keys()
    clock.seconds += 3599
    cache.keys()
    assert keys_server.hits == 1
    clock.seconds += 1
    cache.keys()
    assert keys_server.hits == 2


def test_a_server_error_makes_the_keys_unavailable(keys_server: KeysServer) -> None:
    keys_server.status = 500
    with pytest.raises(RootKeysUnavailable, match="HTTP 500"):
        cache_for(keys_server).keys()


def test_an_unreachable_or_useless_server_makes_the_keys_unavailable(
    keys_server: KeysServer,
) -> None:
    keys_server.document = {"keys": []}
    with pytest.raises(RootKeysUnavailable, match="no current"):
        cache_for(keys_server).keys()
    with pytest.raises(RootKeysUnavailable, match="unreachable"):
        RootKeyCache("http://127.0.0.1:9/keys", timeout=1).keys()


def test_after_a_failed_fetch_the_cache_waits_a_minute(keys_server: KeysServer) -> None:
    clock = FakeClock()
    cache = cache_for(keys_server, clock)
    keys_server.status = 500
    with pytest.raises(RootKeysUnavailable):
        cache.keys()
    keys_server.status = 200
    with pytest.raises(RootKeysUnavailable, match="too recent"):
        cache.keys()
    assert keys_server.hits == 1
    clock.seconds += 60
    assert len(cache.keys()) == 1


def test_stale_keys_are_kept_when_a_ttl_refetch_fails(keys_server: KeysServer) -> None:
    clock = FakeClock()
    cache = cache_for(keys_server, clock)
    cache.keys()
    keys_server.status = 500
    clock.seconds += 3600
    assert len(cache.keys()) == 1
    assert keys_server.hits == 2


def test_rotated_root_keys_are_picked_up_at_most_once_a_minute(
    keys_server: KeysServer, keys: SigningKeys
) -> None:
    clock = FakeClock()
    cache = cache_for(keys_server, clock)
    cache.keys()
    rotated = new_signing_keys(now_ms=NOW_MS)
    keys_server.document = root_keys_document(rotated)
    body = sign_callback(message(), keys=rotated, recipient_id=ISSUER_ID)

    # Within a minute of the first fetch: no refetch, the callback stays rejected.
    with pytest.raises(CallbackRejected):
        verify_with_root_key_cache(body, cache=cache, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert keys_server.hits == 1

    clock.seconds += 60
    verified = verify_with_root_key_cache(body, cache=cache, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert verified.nonce == "n-1"
    assert keys_server.hits == 2

    # A forgery right after does not trigger another fetch.
    forged = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID, tamper="intermediate")
    with pytest.raises(CallbackRejected):
        verify_with_root_key_cache(forged, cache=cache, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert keys_server.hits == 2


def test_a_bad_message_signature_does_not_refetch(
    keys_server: KeysServer, keys: SigningKeys
) -> None:
    clock = FakeClock()
    cache = cache_for(keys_server, clock)
    clock.seconds += 120
    body = sign_callback(message(), keys=keys, recipient_id=ISSUER_ID, tamper="signature")
    with pytest.raises(CallbackRejected, match="bad message signature"):
        verify_with_root_key_cache(body, cache=cache, recipient_id=ISSUER_ID, now_ms=NOW_MS)
    assert keys_server.hits == 1

"""Telling devices that a pass changed: an empty APNs push to every registered device.

The push carries no content (payload `{}`, topic = passTypeIdentifier); the device then asks
the PassKit web service what changed. Tokens APNs rejects for good are unregistered.
"""

from __future__ import annotations

import threading
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from config.settings import Settings
from shared.apple.certificates import SigningIdentity
from shared.apple.identities import client_certificate_pem
from shared.clients.apns import ApnsConfig, Outcome, PushSender, shared_client
from shared.infra import metrics
from shared.repositories import registrations

if TYPE_CHECKING:
    from pymongo.database import Database


@dataclass(frozen=True)
class PushCounts:
    pushed: int = 0
    failed: int = 0
    unregistered: int = 0
    # Pushes delivered for a new version carrying a lock-screen message (also in `pushed`).
    notified: int = 0

    def as_counters(self) -> dict[str, int]:
        counters = {
            "apple.pushed": self.pushed,
            "apple.failed": self.failed,
            "apple.unregistered": self.unregistered,
        }
        if self.notified:
            counters["apple.notified"] = self.notified
        return counters


_configs: dict[tuple[str, int, str, int, str], ApnsConfig] = {}
_configs_lock = threading.Lock()


def apns_client(identity: SigningIdentity, settings: Settings) -> PushSender:
    """This process's APNs client for a pass type certificate (one connection each; a rotated
    certificate, by its serial number, gets a connection of its own)."""
    key = (
        identity.pass_type_identifier,
        identity.certificate.serial_number,
        settings.apns_host,
        settings.apns_port,
        settings.apns_ca_file,
    )
    with _configs_lock:
        config = _configs.get(key)
        if config is None:
            certificate, private_key = client_certificate_pem(identity)
            config = ApnsConfig(
                host=settings.apns_host,
                port=settings.apns_port,
                ca_file=settings.apns_ca_file or None,
                cert_pem=certificate,
                key_pem=private_key,
            )
            _configs[key] = config
    return shared_client(config)


def push_to_devices(
    db: Database[Any],
    client: PushSender,
    *,
    tenant_id: str,
    pass_type_identifier: str,
    pass_ids: Iterable[str],
    alerting: Collection[str] = (),
) -> PushCounts:
    """Push every device registered for `pass_ids`; counts one result per push token, and
    as `notified` those delivered to a device of a pass in `alerting` (whose new version
    carries a lock-screen message)."""
    by_pass = registrations.push_tokens_for_passes(db, tenant_id, list(pass_ids))
    tokens = sorted({token for devices in by_pass.values() for _, token in devices})
    if not tokens:
        return PushCounts()
    alerted = {token for pass_id in alerting for _, token in by_pass.get(pass_id, ())}
    pushed = failed = unregistered = notified = 0
    results = client.send_pushes(pass_type_identifier, tokens)
    metrics.count_apns_pushes(tenant_id, pass_type_identifier, results)
    for result in results:
        if result.outcome is Outcome.DELIVERED:
            pushed += 1
            notified += result.token in alerted
        elif result.outcome is Outcome.UNREGISTER:
            unregistered += 1
            registrations.remove_by_push_token(db, result.token, pass_type_identifier)
        else:
            failed += 1
    return PushCounts(pushed=pushed, failed=failed, unregistered=unregistered, notified=notified)

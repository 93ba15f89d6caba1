"""What every pass job needs from its process: the database, the tenants, the settings, where
to send the webhook deliveries its events create, and the clients it calls out with.

The clients default to this process's own (shared/infra/process_clients.py); a domain test
hands in a recording stub instead where a real fake server is not the point."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import redis

from config.settings import Settings
from shared import operations
from shared.apple.certificates import SigningIdentity
from shared.apple.push import apns_client
from shared.clients.apns import PushSender
from shared.clients.google_wallet import GoogleWalletClient
from shared.google.delivery import google_client
from shared.infra import redis_clients
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.live.channels import LIVE_EVENTS
from shared.live.publish import live_publish
from shared.providers.fetching import ExternalDataClient, ExternalResult, process_client
from shared.tenancy.tenants import PassType, Tenant, TenantRegistry
from shared.webhooks.config import OPERATION_COMPLETED
from shared.webhooks.events import Queue, emit, enqueue_deliveries

if TYPE_CHECKING:
    from pymongo.database import Database

log = logging.getLogger(__name__)


class UnknownPassType(Exception):
    pass


class ExternalDataFailed(Exception):
    """A provider of the pass's external data failed; the message names it and the reason."""


# The APNs client of a pass type certificate; the Google client of a tenant's issuer (raises
# shared.google.delivery.GoogleDeliveryFailed when its service account key is unusable).
PushSenderFactory = Callable[[SigningIdentity, Settings], PushSender]
GoogleClientFactory = Callable[[Tenant, str, Settings], GoogleWalletClient]


@dataclass(frozen=True)
class JobContext:
    db: Database[Any]
    tenants: TenantRegistry
    settings: Settings
    events_queue: Queue | None = None  # None: events stay in the outbox until re-queued
    # Calls the tenants' external data providers (kept-alive connections across jobs).
    external: ExternalDataClient = field(default_factory=process_client)
    push_sender: PushSenderFactory = apns_client
    google_client: GoogleClientFactory = google_client
    # None: this process's client for settings.redis_url (locks, rate limits, budgets).
    redis_client: redis.Redis | None = None

    @property
    def redis(self) -> redis.Redis:
        if self.redis_client is not None:
            return self.redis_client
        return redis_clients.process_client(
            self.settings.redis_url, sentinel_password=self.settings.redis_sentinel_password
        )

    def pass_type(self, tenant_id: str, pass_type_id: str) -> tuple[Tenant, PassType]:
        tenant = self.tenants.get(tenant_id)
        pass_type = tenant.pass_types.get(pass_type_id) if tenant else None
        if tenant is None or pass_type is None:
            raise UnknownPassType(f"pass type '{pass_type_id}' of tenant '{tenant_id}' is gone")
        return tenant, pass_type

    def external_data(
        self, tenant: Tenant, pass_type: PassType, document: Mapping[str, Any]
    ) -> dict[str, Any]:
        """The external data `pass_type`'s templates read (`[data] external`) for `document`,
        from the tenant's providers; only returned, never stored. No declared names, no call.
        Raises ExternalDataFailed when a provider fails."""
        result = self.fetch_external(tenant, pass_type, document)
        if result.error is not None:
            raise ExternalDataFailed(result.error)
        return result.data

    def fetch_external(
        self, tenant: Tenant, pass_type: PassType, document: Mapping[str, Any]
    ) -> ExternalResult:
        needed = pass_type.declared.external
        providers = tenant.providers
        if not needed or not providers:
            return ExternalResult()
        return self.external.fetch_for_pass(providers, document, needed=needed)

    def external_data_for_batch(
        self, tenant: Tenant, documents: list[dict[str, Any]]
    ) -> dict[str, ExternalResult]:
        """Each pass's external data by pass id, fetched a few passes at a time; a pass whose
        pass type reads none costs no call."""
        if not tenant.providers:
            return {}
        needed = {
            pass_type_id: pass_type.declared.external
            for pass_type_id, pass_type in tenant.pass_types.items()
        }
        return self.external.fetch_for_passes(
            tenant.providers, documents, needed_by_pass_type=needed
        )

    def emit(
        self, tenant_id: str, event_type: str, data: Mapping[str, Any], *, correlation_id: str
    ) -> None:
        """Fire a webhook event once per operation, even when the job runs twice (and, for a
        pass's event, tell the pages watching it, shared/live/)."""
        if event_type in LIVE_EVENTS and "passId" in data:
            live_publish(self.settings, tenant_id, str(data["passId"]), event_type, data)
        tenant = self.tenants.get(tenant_id)
        if tenant is None or not tenant.webhooks:
            return
        ids = emit(
            self.db,
            tenant_id,
            tenant.webhooks,
            event_type,
            data,
            now=utcnow(),
            correlation_id=correlation_id,
            idempotency_key=f"{correlation_id}:{event_type}:{data.get('passId', '')}",
        )
        if ids and self.events_queue is not None:
            try:
                enqueue_deliveries(self.events_queue, tenant_id, ids, correlation_id=correlation_id)
            except EnqueueError:
                log.warning("webhook deliveries stay in the outbox until re-queued")

    def begin(self, correlation_id: str, job: str) -> tuple[dict[str, Any] | None, bool]:
        """Mark the operation running. Returns it, and whether there is work to do: not when
        it is unknown or already ended (a redelivered or late job)."""
        operation = operations.start(self.db, correlation_id)
        if operation is None:
            log.warning("%s job for unknown operation %s ignored", job, correlation_id)
            return None, False
        return operation, operation["status"] not in operations.FINAL_STATUSES

    def item_failed(
        self, correlation_id: str, batch_id: str, pass_id: str, reason: str
    ) -> dict[str, Any] | None:
        """Count one pass failed, with the reason, and announce the operation if it ended."""
        error = operations.ItemError(pass_id, reason)
        return self.finished(
            operations.record_results(self.db, correlation_id, batch_id, failed=1, errors=(error,))
        )

    def finished(self, operation: dict[str, Any] | None) -> dict[str, Any] | None:
        """Announce an operation that reached its final state (`operation.completed`)."""
        if operation is not None and operation["status"] in operations.FINAL_STATUSES:
            self.emit(
                operation["tenant"],
                OPERATION_COMPLETED,
                {
                    "correlationId": operation["_id"],
                    "kind": operation["kind"],
                    "status": operation["status"],
                    "counters": operation["counters"],
                },
                correlation_id=operation["_id"],
            )
        return operation

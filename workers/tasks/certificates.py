"""The certificate check, sent by Celery beat every CHECK_CERTIFICATES_EVERY_S seconds (on the
`interactive` queue by its `passwire.operations.` prefix)."""

from __future__ import annotations

from celery import current_app, shared_task

from config.celery import CHECK_CERTIFICATES
from shared.apple.expiry_alerts import fire_expiry_warnings
from shared.infra.clock import utcnow
from workers.base import PasswireTask
from workers.runtime import database, tenants


@shared_task(name=CHECK_CERTIFICATES, base=PasswireTask, bind=True)
def check_certificates(self: PasswireTask) -> int:
    """Fire `certificate.expiring` for each threshold newly crossed; how many fired."""
    return fire_expiry_warnings(database(), tenants().tenants.values(), current_app, now=utcnow())

"""Crediting an install to the link click before it, from the two places installs are heard
of: the PassKit web service (a device registers) and Google's save callback."""

from __future__ import annotations

import logging
from datetime import timedelta

from api import services
from shared.attribution import attribute_install
from shared.infra.clock import utcnow
from shared.repositories import DatabaseUnavailable

log = logging.getLogger(__name__)


def credit_install(tenant_id: str, pass_id: str, wallet: str) -> None:
    """Attribute the install; a failure is logged, never fails the device's or Google's call
    (the install itself is already recorded)."""
    window = timedelta(hours=services.settings().attribution_window_h)
    try:
        click = attribute_install(
            services.database(),
            tenant_id=tenant_id,
            pass_id=pass_id,
            wallet=wallet,
            installed_at=utcnow(),
            window=window,
        )
    except DatabaseUnavailable:
        log.warning("install of pass %s (%s) not attributed: database unavailable", pass_id, wallet)
        return
    if click is not None:
        log.info(
            "install of pass %s (%s) attributed to medium=%s", pass_id, wallet, click["medium"]
        )

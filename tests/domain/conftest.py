from __future__ import annotations

from typing import Any

import pytest

from config.settings import Settings
from shared.passes.jobs import JobContext
from shared.tenancy.tenants import load_registry


@pytest.fixture(scope="session")
def job_context(settings: Settings, db: Any) -> JobContext:
    return JobContext(
        db=db,
        tenants=load_registry(settings.tenants_dir, include_local_only=True),
        settings=settings,
    )

"""A fake CRM for external data providers: see shared/dev/fake_crm/server.py."""

from shared.dev.fake_crm.server import CrmState, FakeCrm

__all__ = ["CrmState", "FakeCrm"]

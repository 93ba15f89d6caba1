"""A fake CRM for external data providers: see dev/fake_crm/server.py."""

from dev.fake_crm.server import CrmState, FakeCrm

__all__ = ["CrmState", "FakeCrm"]

"""Tenancy: tenants, their pass types and credentials, and the tables they are loaded from."""

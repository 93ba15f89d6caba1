"""External data providers: HTTP JSON sources a tenant's passes render with, never stored.

`config` parses the `[[providers]]` tables of tenant.toml; `fetching` calls them.
"""

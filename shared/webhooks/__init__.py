"""Webhooks: signed event notifications to a tenant's own endpoints.

config (endpoints from tenant.toml) → events.emit (an outbox document per endpoint) →
enqueue_deliveries → the `passwire.delivery.webhook` task → delivery.deliver (HTTP POST,
signed, retried with backoff, its state recorded on the document).
"""

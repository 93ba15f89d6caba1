"""Emailing a pass to its holder: the tenant's `[smtp]` table and `email/<lang>/` templates
(config.py, templates.py, tenant_email.py), recipient addresses (addresses.py) and sending
through SMTP (sending.py). The job itself is shared/passes/emailing.py."""

"""Inbound connectors: a marketing tool calls `POST /connect/<tenantId>/<connector>` with a
JSON body of its own shape; the connector declared in the tenant's `connectors/<name>.toml`
says how the caller proves who it is (auth), and maps the body to one passwire API action
with templates in the pass-template language (mapping). An optional `[outbound]` table sends
pass events back to the tool in its own shape, through the webhook delivery path.
"""

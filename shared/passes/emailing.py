"""The `email` job: send a pass's holder a link to its download page, then forget them.

The holder's address (and name) live only in the operation's intent, from the request until
this job takes them: one atomic write removes them from the intent and hands them to the
job, right before sending, whatever happens next. So they are never stored after sending,
and two deliveries of the job never both send. The price, stated: a worker that dies
between taking the address and sending leaves nothing to send with; the next delivery
counts the operation failed, and the caller sends again. Sending is not retried either: an
unreachable or refusing server fails the operation with the reason (4xx codes marked
`temporary`), and the caller decides. Logs and reasons never hold the address.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shared import operations
from shared.email.config import SmtpConfig
from shared.email.sending import SendFailed, build_message, send_message
from shared.email.templates import EmailContent, EmailRenderError, EmailValues
from shared.email.tenant_email import DEFAULT_LANGUAGE
from shared.infra.clock import utcnow
from shared.links import SECRET_ENV, download_page_url, link_secret, sign_link
from shared.passes.jobs import JobContext
from shared.repositories import operations as operations_repo
from shared.repositories import passes as passes_repo

log = logging.getLogger(__name__)

EMAIL_KIND = "email"
EMAIL_BATCH = "email"
LINK_MEDIUM = "email"
LINK_TTL_S = 30 * 24 * 3600  # the demo templates say "30 days"
# Personal data in the intent, removed when the job takes it.
RECIPIENT_FIELDS = ("to", "name")


class _NotSendable(Exception):
    """Why this email cannot be sent; the message holds no personal data."""


@dataclass(frozen=True)
class _Prepared:
    smtp: SmtpConfig
    content: EmailContent


def run_email(
    context: JobContext, correlation_id: str, *, environ: Mapping[str, str] = os.environ
) -> dict[str, Any] | None:
    """Send the email an operation asks for. Safe to run more than once (it sends once)."""
    operation, active = context.begin(correlation_id, "email")
    if operation is None or not active:
        return operation
    pass_id = operation["intent"]["passId"]
    if operation["status"] == operations.CANCELLING:
        return _cancelled(context, correlation_id)
    try:
        prepared = _prepare(context, operation, environ)
    except _NotSendable as exc:
        log.warning("email for pass %s not sent: %s", pass_id, exc)
        return context.item_failed(correlation_id, EMAIL_BATCH, pass_id, str(exc))
    taken = operations_repo.take_intent_fields(
        context.db,
        correlation_id,
        RECIPIENT_FIELDS,
        present="to",
        statuses=(operations.RUNNING,),
    )
    if taken is None:
        return _not_taken(context, correlation_id, pass_id)
    recipient = taken["to"]
    message = build_message(prepared.smtp, recipient, prepared.content)
    try:
        send_message(prepared.smtp, message, recipient, environ=environ)
    except SendFailed as exc:
        log.warning("email for pass %s not sent: %s", pass_id, exc.reason)
        return context.item_failed(correlation_id, EMAIL_BATCH, pass_id, exc.reason)
    log.info("email for pass %s handed to %s", pass_id, prepared.smtp.host)
    return context.finished(
        operations.record_results(context.db, correlation_id, EMAIL_BATCH, succeeded=1)
    )


def _prepare(
    context: JobContext, operation: dict[str, Any], environ: Mapping[str, str]
) -> _Prepared:
    """The server and the rendered message, from the tenant's configuration as it is now."""
    tenant_id, intent = operation["tenant"], operation["intent"]
    tenant = context.tenants.get(tenant_id)
    if tenant is None or tenant.email is None:
        raise _NotSendable("the tenant has no [smtp] configuration any more")
    document = passes_repo.find_pass(context.db, tenant_id, intent["passId"])
    if document is None:
        raise _NotSendable("the pass no longer exists")
    pass_type = tenant.pass_types.get(document["passType"])
    if pass_type is None:
        raise _NotSendable(f"pass type '{document['passType']}' is gone")
    secret = link_secret(
        tenant_id, is_local=context.settings.is_local, configured=context.settings.link_secret
    )
    if secret is None:
        raise _NotSendable(f"download links cannot be signed: {SECRET_ENV} is not set")
    # The language chosen when the request was accepted, unless its templates were removed.
    languages = tenant.email.languages
    templates = languages.get(intent.get("language", "")) or languages[DEFAULT_LANGUAGE]
    expires_at = int(utcnow().timestamp()) + LINK_TTL_S
    token = sign_link(secret, tenant_id, document["_id"], expires_at)
    values = EmailValues(
        tenant_name=tenant.name,
        pass_type_description=pass_type.description,
        link=download_page_url(
            context.settings.public_base_url, tenant_id, document["_id"], token, LINK_MEDIUM
        ),
        name=intent.get("name"),
    )
    try:
        content = templates.render(values)
    except EmailRenderError as exc:
        # Where, not the message: Liquid's messages may quote the holder's name.
        where = f"{exc.path.parent.name}/{exc.path.name}"
        line = f" (line {exc.line})" if exc.line is not None else ""
        raise _NotSendable(f"the email template {where}{line} failed to render") from None
    return _Prepared(smtp=tenant.email.smtp, content=content)


def _not_taken(context: JobContext, correlation_id: str, pass_id: str) -> dict[str, Any] | None:
    """The address was not there to take: cancelled meanwhile, or an earlier delivery of
    this job took it and was interrupted (it may or may not have sent)."""
    current = operations_repo.load_operation(context.db, correlation_id)
    if current is not None and current["status"] == operations.CANCELLING:
        return _cancelled(context, correlation_id)
    reason = (
        "an earlier attempt of this job was interrupted after taking the address, which is "
        "not kept; the email may not have been sent: send it again"
    )
    return context.item_failed(correlation_id, EMAIL_BATCH, pass_id, reason)


def _cancelled(context: JobContext, correlation_id: str) -> dict[str, Any] | None:
    return context.finished(
        operations.record_results(context.db, correlation_id, EMAIL_BATCH, cancelled=1)
    )

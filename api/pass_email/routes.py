"""`POST /api/<tenantId>/passes/<passId>/email`: email the pass's holder a link to its
download page, through the tenant's SMTP server, in their language.

Answers 202 with a correlationId like every job. The address goes into the operation's
intent only, which the job empties before it sends (shared/passes/emailing.py).
"""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.lookup import find_tenant_pass
from api.pass_email.schemas import EmailPassSchema
from api.passes.jobs import accept
from api.passes.schemas import ACCEPTED_HEADERS, AcceptedSchema
from shared.credentials.scopes import PASS_WRITE
from shared.infra.ids import new_correlation_id
from shared.infra.logs import correlation_context
from shared.jobs import EMAIL_PASS
from shared.links import SECRET_ENV, link_secret
from shared.passes.emailing import EMAIL_KIND

blp = Blueprint(
    "pass_email",
    __name__,
    url_prefix="/api/<tenantId>/passes",
    description="Emailing a pass to its holder",
)
protect(blp)

_DESCRIPTIONS = {
    404: "Unknown tenant or pass.",
    409: "The tenant sends no email (no `[smtp]` in its configuration; `errors` names "
    "`smtp`), or a request with this Idempotency-Key is still being processed.",
    503: "The database or the job queue is unavailable, or download links cannot be signed "
    f"({SECRET_ENV} is not set); nothing was done.",
}


@blp.route("/<passId>/email")
class PassEmail(MethodView):
    @error_responses(*TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions=_DESCRIPTIONS)
    @requires_scope(PASS_WRITE)
    @blp.arguments(EmailPassSchema)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    def post(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Email the pass's holder a link to its download page.

        The link is freshly signed, valid 30 days, with `medium=email`; the message is
        rendered from the tenant's templates in `language`. A worker sends it through the
        tenant's SMTP server; the operation counts it `succeeded`, or `failed` with the
        reason (unreachable or refusing server). It is not retried. The address is not
        stored once the job has taken it."""
        tenant = current_tenant()
        if tenant.email is None:
            raise ApiError(
                409,
                f"Tenant '{tenant.id}' sends no email: its configuration has no [smtp].",
                errors=[{"field": "smtp", "reason": "not configured for this tenant"}],
            )
        pass_id = find_tenant_pass(passId)["_id"]
        _require_link_secret(tenant.id)
        intent: dict[str, Any] = {
            "passId": pass_id,
            "to": body["to"],
            "language": tenant.email.language_for(body.get("language")),
        }
        if "name" in body:
            intent["name"] = body["name"]
        correlation_id = new_correlation_id()
        with correlation_context(correlation_id):
            return accept(
                tenant.id,
                EMAIL_KIND,
                task_name=EMAIL_PASS,
                correlation_id=correlation_id,
                pass_id=pass_id,
                intent=intent,
            )


def _require_link_secret(tenant_id: str) -> None:
    """Refuse now, not in the job: without the secret no link can be signed."""
    settings = services.settings()
    if link_secret(tenant_id, is_local=settings.is_local, configured=settings.link_secret) is None:
        raise ApiError(
            503,
            f"Download links cannot be signed: {SECRET_ENV} is not set "
            "(or shorter than 32 characters).",
            errors=[{"field": SECRET_ENV, "reason": "not configured"}],
        )

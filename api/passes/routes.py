"""Passes: issuing (`POST`), searching, reading one (JSON or .pkpass), updating (`PATCH`) and
deleting (`DELETE`)."""

from __future__ import annotations

import logging
import math
from typing import Any
from urllib.parse import urlencode

from flask import g, jsonify, request
from flask.views import MethodView
from marshmallow import RAISE

from api import services
from api.apple.pkpass import pkpass_response
from api.apple.schemas import NOT_MODIFIED_HEADERS, PKPASS, PKPASS_HEADERS, PKPASS_SCHEMA
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.google.save import save_link_response, wallet_for_user_agent
from api.links.issuing import serve_several, with_links
from api.lookup import find_tenant_pass, one_pass_id
from api.notifications.consent import current_principal
from api.passes.deletion import DeletePassQuerySchema, accept_deletion
from api.passes.jobs import accept
from api.passes.patching import patch_pass
from api.passes.preview import preview
from api.passes.schemas import (
    ACCEPTED_HEADERS,
    LOOKUP_PARAMETER,
    REDIRECT_HEADERS,
    SEARCH_DYNAMIC_PARAMETERS,
    AcceptedSchema,
    CreatePassQuerySchema,
    CreatePassSchema,
    PassQuerySchema,
    PassSchema,
    PassSearch,
    PatchPassSchema,
    PatchResultSchema,
    PreviewSchema,
    SearchPassesQuerySchema,
    load_pass_lookup,
    load_pass_search,
)
from api.passes.self_service import issue_self_service
from shared.credentials.scopes import PASS_READ, PASS_WRITE
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.infra.logs import correlation_context
from shared.jobs import CREATE_PASS
from shared.multipass import PKPASSES_MEDIA_TYPE as PKPASSES
from shared.multipass import is_pass_list
from shared.notifications import consent
from shared.passes.documents import public_view
from shared.repositories import passes as passes_repo
from shared.self_service import split_signatures

log = logging.getLogger(__name__)

blp = Blueprint("passes", __name__, url_prefix="/api/<tenantId>/passes", description="Passes")
protect(blp)


_PAGINATION_HEADERS = {
    "x-pagination-total": {
        "description": "Passes matching the filters.",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "x-pagination-page-index": {
        "description": "This page (zero-based).",
        "required": True,
        "schema": {"type": "integer", "minimum": 0},
    },
    "x-pagination-page-size": {
        "description": "Passes per page.",
        "required": True,
        "schema": {"type": "integer", "minimum": 1},
    },
    "Link": {
        "description": "first, prev, next and last pages (RFC 8288).",
        "required": True,
        "schema": {"type": "string"},
    },
}


@blp.route("")
class PassCollection(MethodView):
    @error_responses(*TENANT_API_ERRORS, 422)
    @requires_scope(PASS_READ)
    # Parsed by load_pass_search (identifiers.* / metadata.* names are dynamic); the schema
    # and the dynamic names are listed here for the OpenAPI document.
    @blp.doc(
        parameters=[{"in": "query", "schema": SearchPassesQuerySchema}, *SEARCH_DYNAMIC_PARAMETERS]
    )
    @blp.response(200, PassSchema(many=True), headers=_PAGINATION_HEADERS)
    def get(self, tenantId: str) -> Any:
        """Search the tenant's passes.

        Filter by identifiers.*, metadata.*, passType and install state (apple, google), sort,
        page with pageIndex/pageSize; the total is in x-pagination-total."""
        wanted = load_pass_search(request.args)
        documents, total = passes_repo.search_passes(
            services.database(),
            current_tenant().id,
            wanted.filters,
            wanted.sort,
            skip=wanted.page_index * wanted.page_size,
            limit=wanted.page_size,
        )
        return [public_view(document) for document in documents], _page_headers(wanted, total)

    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            404: "Unknown tenant, or no pass matches.",
            409: "Several passes match (or a request with this Idempotency-Key is still "
            "being processed).",
        },
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(PatchPassSchema)
    @blp.doc(parameters=[LOOKUP_PARAMETER])
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    @blp.alt_response(
        200, schema=PatchResultSchema, description="`options.bypassQueue`: done.", success=True
    )
    def patch(self, body: dict[str, Any], tenantId: str) -> Any:
        """Update the one pass an external identifier names (`id.<system>.<key>=value`, or
        `id=<passId>`): 404 when none matches, 409 when several do."""
        pass_id = one_pass_id(load_pass_lookup(request.args))
        return patch_pass(find_tenant_pass(pass_id), body)

    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            401: "Missing or invalid credential; without one (self-service), an identifier "
            "that is not vouched for.",
        },
    )
    @requires_scope(PASS_WRITE, self_service=True)
    # webargs ignores unknown query parameters unless told otherwise.
    @blp.arguments(CreatePassQuerySchema, location="query", unknown=RAISE)
    @blp.arguments(CreatePassSchema)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    @blp.alt_response(200, schema=AcceptedSchema, description="Self-service: the existing pass.")
    def post(self, query: dict[str, Any], body: dict[str, Any], tenantId: str) -> Any:
        """Issue a pass: answers at once with a correlationId; a worker creates the pass.

        Without a credential (self-service, where the tenant allows it) every identifier must
        be vouched for by `<key>.hmac` or the tenant's allowlist, and the same identifiers
        return the pass issued before (200) instead of a duplicate."""
        tenant = current_tenant()
        pass_type = query["passType"]
        if pass_type not in tenant.pass_types:
            raise ApiError(
                422,
                f"Unknown pass type '{pass_type}'.",
                errors=[
                    {"field": "passType", "reason": f"tenant '{tenant.id}' has no such pass type"}
                ],
            )
        identifiers, signatures = split_signatures(body["identifiers"])
        body = {**body, "identifiers": identifiers}
        correlation_id = new_correlation_id()
        with correlation_context(correlation_id):
            if g.self_service:
                answer = issue_self_service(
                    tenant, pass_type, body, signatures, correlation_id, issue=_issue
                )
            else:
                answer = _issue(tenant.id, pass_type, body, correlation_id)
        return with_links(answer, tenant.id, body.get("links"))


def _page_headers(wanted: PassSearch, total: int) -> dict[str, str]:
    """x-pagination-* and an RFC 8288 Link: first and last always, prev (clamped to the last
    page when beyond it) and next when they exist; relative to this request."""
    size, index = wanted.page_size, wanted.page_index
    last = max(math.ceil(total / size) - 1, 0)
    pages = {"first": 0, "last": last}
    if index > 0:
        pages["prev"] = min(index - 1, last)
    if index < last:
        pages["next"] = index + 1
    others = [(k, v) for k, v in request.args.items(multi=True) if k != "pageIndex"]
    links = [
        f'<{request.path}?{urlencode([*others, ("pageIndex", str(page))], safe=",")}>; rel="{rel}"'
        for rel, page in pages.items()
    ]
    return {
        "x-pagination-total": str(total),
        "x-pagination-page-index": str(index),
        "x-pagination-page-size": str(size),
        "Link": ", ".join(links),
    }


def _issue(
    tenant_id: str,
    pass_type: str,
    body: dict[str, Any],
    correlation_id: str,
    pass_id: str | None = None,
) -> Any:
    """Persist the intent first, so MongoDB knows of every job the queue holds."""
    pass_id = pass_id or new_pass_id()
    intent = {
        "passId": pass_id,
        "passType": pass_type,
        "identifiers": body["identifiers"],
        "metadata": body["metadata"],
        "additionalData": body["additionalData"],
    }
    if "consent" in body:
        # Stored with the pass by the create job, audited with the caller's credential.
        intent["consent"] = consent.given(body["consent"], now=utcnow())
        intent["consentBy"] = current_principal()
    return accept(
        tenant_id,
        "create",
        task_name=CREATE_PASS,
        correlation_id=correlation_id,
        pass_id=pass_id,
        intent=intent,
    )


_ONE_PASS = (
    "The pass (JSON), with `device=preview` its Apple and Google renderings (JSON), or with "
    "`device=apple` its signed .pkpass."
)
_PASS = PassSchema()
# Two JSON bodies share the 200: the pass, or (`device=preview`) its renderings.
PASS_OR_PREVIEW = {
    "oneOf": [
        {"$ref": "#/components/schemas/Pass"},
        {"$ref": "#/components/schemas/Preview"},
    ]
}


@blp.route("/<passId>")
class PassItem(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        413,
        422,
        descriptions={
            404: "Unknown tenant or pass, or (`device=apple`) a pass without an Apple Wallet "
            "version. Several passes: `errors` names every unknown (or other tenant's) one.",
            413: "Several passes too large for one .pkpasses bundle (Apple's 150 MB).",
            422: "Invalid query; several passes: more than 10, a repeated id, or a `device` "
            "other than apple or google.",
        },
    )
    @requires_scope(PASS_READ)
    @blp.arguments(PassQuerySchema, location="query", unknown=RAISE)
    @blp.response(200, PASS_OR_PREVIEW, description=_ONE_PASS)
    @blp.alt_response(
        200,
        schema=PKPASS_SCHEMA,
        content_type=PKPASS,
        headers=PKPASS_HEADERS,
        description=_ONE_PASS,
    )
    @blp.alt_response(
        302,
        description="`device=google` (or `auto` on Android): the Save to Google Wallet link.",
        headers=REDIRECT_HEADERS,
        success=True,
    )
    @blp.alt_response(
        200,
        schema=PKPASS_SCHEMA,
        content_type=PKPASSES,
        description="Several passes (`id1,id2,…`, at most 10) with `device=apple`: a "
        ".pkpasses bundle of their .pkpass files.",
    )
    @blp.alt_response(
        304,
        description="`device=apple`: not modified since If-None-Match / If-Modified-Since.",
        headers=NOT_MODIFIED_HEADERS,
        success=True,
    )
    def get(self, query: dict[str, Any], tenantId: str, passId: str) -> Any:
        """One pass as stored (identifiers, metadata, additionalData, install state), or with
        `device=apple` its signed .pkpass (conditional requests answered with 304), with
        `device=google` a redirect to its Save to Google Wallet link, with `device=auto` the
        one of those the caller's device takes, with `device=preview` both renderings.

        Several passes (`id1,id2,…`, up to 10 of the tenant): `device=apple` answers one
        .pkpasses bundle, `device=google` one Save link naming every object; all or nothing."""
        if is_pass_list(passId):
            return serve_several(passId, query.get("device"))
        document = find_tenant_pass(passId)
        device = query.get("device")
        if device == "auto":
            device = wallet_for_user_agent(
                request.user_agent.string,
                has_apple=bool(document.get("apple")),
                has_google=bool(document.get("google")),
            )
            if device is None:
                raise ApiError(404, "This pass has no wallet version.")
        if device == "apple":
            return pkpass_response(current_tenant(), document)
        if device == "google":
            return save_link_response(current_tenant(), document)
        if device == "preview":
            return jsonify(preview(document))
        return jsonify(_PASS.dump(public_view(document)))

    @error_responses(
        *TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions={404: "Unknown tenant or pass."}
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(PatchPassSchema)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    @blp.alt_response(
        200, schema=PatchResultSchema, description="`options.bypassQueue`: done.", success=True
    )
    def patch(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Merge a JSON Merge Patch into the pass's data (and optionally move it to another
        pass type); a worker re-renders it and pushes its devices when the rendered pass
        changed (an unchanged one counts `unchanged`). `options.bypassQueue` runs it in the
        request: 200 with the pass and the finished operation."""
        return patch_pass(find_tenant_pass(passId), body)

    @error_responses(
        *TENANT_API_ERRORS,
        422,
        descriptions={
            404: "Unknown tenant or pass, or a pass deleted already (with `erase=true`, one "
            "deleted without erasure is still found, to erase what its deletion kept)."
        },
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(DeletePassQuerySchema, location="query", unknown=RAISE)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    def delete(self, query: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Delete the pass: void it in both wallets, then remove it.

        A worker voids it in Apple Wallet (one push to its devices, which still fetch the
        voided version) and Google Wallet (INACTIVE), then removes it. With `erase=true`
        every trace of the pass, its devices and its data goes too (GDPR erasure)."""
        return accept_deletion(passId, erase=query["erase"])


@blp.route("/<passId>/preview")
class PassPreview(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions={404: "Unknown tenant or pass."})
    @requires_scope(PASS_READ)
    @blp.response(200, PreviewSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """The pass as each wallet shows it: the rendered Apple pass.json and Google object
        (null for a wallet the pass type has no template for)."""
        return preview(find_tenant_pass(passId))

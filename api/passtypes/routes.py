"""Pass types as data: upload, read, activate and preview numbered versions (docs/passtypes.md)."""

from __future__ import annotations

import base64
import json
import logging
from typing import Any

from flask import Response, current_app, request
from flask.views import MethodView

from api import idempotency, services
from api.auth import authenticate_tenant, current_tenant, require_json_body, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, ApiError, error_responses
from api.passes.schemas import ACCEPTED_HEADERS
from api.passtypes.schemas import (
    FILE_FIELD,
    FOLDER_ZIP_BODY,
    FOLDER_ZIP_RESPONSE,
    MULTIPART,
    VERSION_HEADERS,
    ZIP,
    ActivatedSchema,
    ActivateSchema,
    PassTypeListSchema,
    PassTypePreviewRequestSchema,
    PassTypePreviewSchema,
    VersionListSchema,
    VersionSchema,
)
from api.push_updates.launch import operation_location, start_campaign
from shared.campaigns.segments import Segment
from shared.credentials.scopes import PASS_READ, PASSTYPE_WRITE
from shared.infra.clock import utcnow
from shared.passes.search import PassFilter
from shared.passtypes import preview as previews
from shared.passtypes import versions
from shared.passtypes.active import StoredVersions
from shared.passtypes.archive import (
    MAX_UPLOAD_BYTES,
    ArchiveRefused,
    ArchiveTooLarge,
    read_zip,
    write_zip,
)
from shared.passtypes.loading import VersionInvalid
from shared.repositories import passes as passes_repo
from shared.repositories import passtypes as repo
from shared.tenancy.tenants import PassType, Tenant

log = logging.getLogger(__name__)

blp = Blueprint(
    "passtypes",
    __name__,
    url_prefix="/api/<tenantId>/passtypes",
    description="Pass types as data: numbered versions, activation, re-render, preview",
)
# Multipart envelope and form fields on top of the zip itself.
_UPLOAD_SLACK = 64 * 1024


def _bodies() -> None:
    """`before_request`: an upload is a zip (its own size limit); anything else is JSON."""
    if request.method == "PUT":
        request.max_content_length = MAX_UPLOAD_BYTES + _UPLOAD_SLACK
    else:
        require_json_body()


blp.before_request(authenticate_tenant)
blp.before_request(_bodies)
blp.after_request(idempotency.after_request)


def _base() -> Tenant:
    """The tenant as its files define it (version 1 of each folder)."""
    return services.tenants().tenants[current_tenant().id]


def _changed(tenant_id: str) -> None:
    """This process sees a new version or activation at once (others within a second)."""
    stored: StoredVersions = current_app.extensions["passwire.passtype_versions"]
    stored.forget(tenant_id)


def _unknown(name: str) -> ApiError:
    return ApiError(
        404, f"Unknown pass type '{name}'.", errors=[{"field": "name", "reason": "unknown"}]
    )


def _unknown_version(number: object) -> ApiError:
    return ApiError(
        404, f"Unknown version {number}.", errors=[{"field": "version", "reason": "unknown"}]
    )


def _invalid(problems: list[Any], message: str) -> ApiError:
    errors = [{"field": p.file, "reason": p.reason} for p in problems]
    return ApiError(422, message, errors=errors)


def _uploaded_zip() -> bytes:
    if request.mimetype == ZIP:
        return request.get_data(cache=True)
    if request.mimetype == MULTIPART:
        parts = request.files.getlist(FILE_FIELD)
        if len(parts) != 1:
            raise ApiError(
                422,
                "The form is invalid.",
                errors=[{"field": FILE_FIELD, "reason": "send the zip as one file part"}],
            )
        data: bytes = parts[0].read()
        return data
    raise ApiError(
        415,
        f"Send the folder as {ZIP}, or as the `{FILE_FIELD}` part of {MULTIPART}.",
        errors=[{"field": "Content-Type", "reason": f"must be {ZIP} or {MULTIPART}"}],
    )


def _version_body(version: dict[str, Any], active: int) -> dict[str, Any]:
    return {
        "name": version["name"],
        "version": version["number"],
        "active": version["number"] == active,
        "createdAt": version["createdAt"],
        "source": version["source"],
        "files": [
            {"path": f["path"], "sha256": f["sha256"], "size": f["size"]}
            for f in version.get("files", [])
        ],
    }


@blp.route("")
class PassTypes(MethodView):
    @error_responses(*TENANT_API_ERRORS)
    @requires_scope(PASS_READ)
    @blp.response(200, PassTypeListSchema)
    def get(self, tenantId: str) -> Any:
        """The tenant's pass types: from files (version 1) or with stored versions, each
        with its active and latest version numbers."""
        found = versions.summaries(services.database(), current_tenant(), _base())
        return {
            "passTypes": [
                {
                    "name": s.name,
                    "activeVersion": s.active_version,
                    "latestVersion": s.latest_version,
                    "source": s.source,
                }
                for s in found
            ]
        }


@blp.route("/<name>")
class PassTypeFolder(MethodView):
    @error_responses(
        400,
        *TENANT_API_ERRORS,
        descriptions={
            400: "`version` is not a positive integer.",
            404: "Unknown tenant, pass type or version.",
        },
    )
    @requires_scope(PASS_READ)
    @blp.alt_response(
        200,
        schema=FOLDER_ZIP_RESPONSE,
        content_type=ZIP,
        headers=VERSION_HEADERS,
        description="The version's folder, zipped as on disk.",
        success=True,
    )
    @blp.doc(
        parameters=[
            {
                "in": "query",
                "name": "version",
                "schema": {"type": "integer", "minimum": 1},
                "description": "The version to read (default: the active one).",
            }
        ]
    )
    def get(self, tenantId: str, name: str) -> Any:
        """The pass type folder of one version (default: the active one) as a zip: what
        `PUT` takes, what `passwire passtypes pull` writes to disk."""
        raw = request.args.get("version")
        number = None
        if raw is not None:
            if not raw.isdigit() or int(raw) < 1:
                raise ApiError(
                    400,
                    "Invalid version.",
                    errors=[{"field": "version", "reason": "must be a positive integer"}],
                )
            number = int(raw)
        try:
            found, files = versions.files_of(services.database(), _base(), name, number)
        except versions.UnknownPassType:
            raise _unknown(name) from None
        except versions.UnknownVersion:
            raise _unknown_version(number) from None
        response = Response(write_zip(files), mimetype=ZIP)
        response.headers["Content-Disposition"] = f'attachment; filename="{name}-v{found}.zip"'
        response.headers["X-Passwire-Version"] = str(found)
        return response

    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            413: f"The zip is over the limits (docs/passtypes.md): {MAX_UPLOAD_BYTES} bytes "
            "zipped, or its files unpacked.",
            415: f"The body is neither {ZIP} nor {MULTIPART}.",
            422: "The folder is invalid, exactly as it would fail start-up (each error names "
            "the file, e.g. `apple/pass.json:12`, and the reason the field); or a zip member "
            "would land outside the folder (`../`, an absolute path, a symlink). Nothing is "
            "stored.",
        },
    )
    @requires_scope(PASSTYPE_WRITE)
    @blp.doc(requestBody=FOLDER_ZIP_BODY)
    @blp.response(201, VersionSchema)
    def put(self, tenantId: str, name: str) -> Any:
        """Store a new, immutable, numbered version of the pass type, checked by the
        validator of start-up. The first upload of a pass type defined by files stores that
        folder as version 1 first. A new pass type's first version is active at once; any
        other becomes active when activated (`…/versions/{n}/activate`)."""
        try:
            files = read_zip(_uploaded_zip())
        except ArchiveTooLarge as exc:
            raise ApiError(413, f"The upload is too large: {exc}.") from None
        except ArchiveRefused as exc:
            raise _invalid(exc.problems, "The zip is not a pass type folder.") from None
        db = services.database()
        try:
            version = versions.put_version(db, current_tenant(), _base(), name, files, now=utcnow())
        except VersionInvalid as exc:
            raise _invalid(exc.problems, "The pass type is invalid.") from None
        _changed(current_tenant().id)
        active = repo.active_of(db, current_tenant().id, name)
        log.info("pass type %s: version %d stored", name, version["number"])
        return _version_body(version, int(active["number"]) if active else 0), 201


@blp.route("/<name>/versions")
class PassTypeVersions(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions={404: "Unknown tenant or pass type."})
    @requires_scope(PASS_READ)
    @blp.response(200, VersionListSchema)
    def get(self, tenantId: str, name: str) -> Any:
        """The pass type's versions, oldest first, each with its files' SHA-256 (an image
        stored once serves every version that has it)."""
        db, tenant_id = services.database(), current_tenant().id
        summary = versions.summary_of(db, tenant_id, name)
        if summary is None:
            if name not in _base().pass_types:
                raise _unknown(name)
            return {"versions": []}
        stored = repo.versions_of(db, tenant_id, name, with_files=True)
        return {"versions": [_version_body(v, summary.active_version) for v in stored]}


@blp.route("/<name>/versions/<int:number>/activate")
class ActivateVersion(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={404: "Unknown tenant, pass type or version."},
    )
    @requires_scope(PASSTYPE_WRITE)
    @blp.arguments(ActivateSchema)
    @blp.response(200, ActivatedSchema)
    @blp.alt_response(
        202,
        schema=ActivatedSchema,
        headers=ACCEPTED_HEADERS,
        description="Activated; the re-render campaign is queued (follow the Location).",
        success=True,
    )
    def post(self, body: dict[str, Any], tenantId: str, name: str, number: int) -> Any:
        """Make this version the one every API and worker process renders with, from its
        next job, without a restart (a job already running finishes on the version it began
        with). Rolling back is activating an older version. With `rerender`, a campaign
        re-renders every pass of the type and pushes each one whose rendering changed."""
        tenant_id = current_tenant().id
        try:
            versions.activate(services.database(), _base(), name, number, now=utcnow())
        except versions.UnknownPassType:
            raise _unknown(name) from None
        except versions.UnknownVersion:
            raise _unknown_version(number) from None
        _changed(tenant_id)
        log.info("pass type %s: version %d activated", name, number)
        answer: dict[str, Any] = {"name": name, "activeVersion": number}
        if not body["rerender"]:
            return answer
        segment = Segment(filters=PassFilter(pass_types=(name,)))
        answer["correlationId"] = start_campaign(tenant_id, segment, patch={}, message=None)
        return answer, 202, operation_location(tenant_id, answer["correlationId"])


@blp.route("/<name>/preview")
class PreviewVersion(MethodView):
    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            404: "Unknown tenant, pass type, version or pass.",
            422: "The data does not render with this version (the reason names the file "
            "and field).",
        },
    )
    @requires_scope(PASSTYPE_WRITE)
    @blp.arguments(PassTypePreviewRequestSchema)
    @blp.response(200, PassTypePreviewSchema)
    def post(self, body: dict[str, Any], tenantId: str, name: str) -> Any:
        """Render a version (default: the active one) for sample data or one pass's data:
        Apple's pass.json and a signed sample .pkpass, Google's class and object. Nothing is
        stored and nothing is pushed."""
        tenant = current_tenant()
        number, pass_type = _version_to_preview(tenant, name, body.get("version"))
        stored = None
        if "passId" in body:
            stored = passes_repo.find_pass(services.database(), tenant.id, body["passId"])
            if stored is None or stored.get("passType") != name:
                raise ApiError(
                    404, "Unknown pass.", errors=[{"field": "passId", "reason": "no such pass"}]
                )
        data = body["data"]
        document = previews.sample_document(pass_type, data, stored)
        settings = services.settings()
        try:
            shown = previews.render_preview(
                tenant,
                pass_type,
                document,
                external=previews.sample_external(pass_type, data.get("external", {})),
                now=utcnow(),
                web_service_url=settings.apple_web_service_url(tenant.id),
                callback_url=settings.google_callback_url(tenant.id),
            )
        except previews.PreviewFailed as exc:
            raise ApiError(
                422, "The data does not render.", errors=[{"field": "data", "reason": str(exc)}]
            ) from None
        return {
            "version": number,
            "applePassJson": json.loads(shown.pass_json) if shown.pass_json else None,
            "pkpass": base64.b64encode(shown.pkpass).decode() if shown.pkpass else None,
            "googleClass": shown.google_class,
            "googleObject": shown.google_object,
        }


def _version_to_preview(tenant: Tenant, name: str, number: int | None) -> tuple[int, PassType]:
    db = services.database()
    summary = versions.summary_of(db, tenant.id, name)
    if summary is None:  # files only: version 1 is the folder
        pass_type = _base().pass_types.get(name)
        if pass_type is None:
            raise _unknown(name)
        if number not in (None, 1):
            raise _unknown_version(number)
        return 1, pass_type
    number = number or summary.active_version
    version = repo.find_version(db, tenant.id, name, number)
    if version is None or tenant.version_lookup is None:
        raise _unknown_version(number)
    loaded = tenant.version_lookup(name, version["_id"])
    if loaded is None:
        raise _unknown_version(number)
    return number, loaded

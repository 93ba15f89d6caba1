"""`GET /api/<tenantId>/passes/<passId>/data` (the pass with live external data) and
`.../data/raw` (the stored document, minus its secrets)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from flask.views import MethodView

from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import TENANT_API_ERRORS, error_responses
from api.lookup import find_tenant_pass
from api.pass_data.schemas import PassDataSchema, RawPassSchema
from shared.credentials.scopes import PASS_READ
from shared.passes.documents import public_view
from shared.providers.fetching import process_client

blp = Blueprint(
    "pass_data",
    __name__,
    url_prefix="/api/<tenantId>/passes",
    description="Pass data (with live external data, or as stored)",
)
protect(blp)

# Never shown by /data/raw: the token devices authenticate with, and the signed package.
SECRET_FIELDS = ("authenticationToken",)
SIGNED_APPLE_FIELDS = ("passJson", "manifest", "signature")
_NOT_FOUND = {404: "Unknown tenant or pass."}


@blp.route("/<passId>/data")
class PassData(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions=_NOT_FOUND)
    @requires_scope(PASS_READ)
    @blp.response(200, PassDataSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """The pass as `GET /passes/{passId}` shows it, plus `external`: what the tenant's
        providers serving its pass type answer now (fetched for this request, never stored),
        `externalErrors` per provider that failed and `externalSkipped` (no identifier)."""
        document = find_tenant_pass(passId)
        providers = current_tenant().providers
        result = process_client().fetch_for_pass(providers, document)
        return {
            **public_view(document),
            "external": result.data,
            "externalErrors": dict(result.errors),
            "externalSkipped": list(result.skipped),
        }


@blp.route("/<passId>/data/raw")
class RawPassData(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions=_NOT_FOUND)
    @requires_scope(PASS_READ)
    @blp.response(200, RawPassSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """The pass document as stored in MongoDB, except `authenticationToken` and the
        signed Apple package (`apple.passJson`, `apple.manifest`, `apple.signature`; binary
        values in general), which are listed in `omitted`. Dates are ISO 8601."""
        document = find_tenant_pass(passId)
        omitted: list[str] = [name for name in SECRET_FIELDS if name in document]
        shown = {key: value for key, value in document.items() if key not in SECRET_FIELDS}
        apple = shown.get("apple")
        if isinstance(apple, Mapping):
            shown["apple"] = {k: v for k, v in apple.items() if k not in SIGNED_APPLE_FIELDS}
            omitted.extend(f"apple.{name}" for name in SIGNED_APPLE_FIELDS if name in apple)
        return {"document": _json_safe(shown, "", omitted), "omitted": omitted}


def _json_safe(value: Any, path: str, omitted: list[str]) -> Any:
    """Dates as ISO 8601 text; binary values left out (and listed in `omitted`)."""
    if isinstance(value, Mapping):
        out: dict[str, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if isinstance(item, bytes | bytearray | memoryview):
                omitted.append(where)
            else:
                out[str(key)] = _json_safe(item, where, omitted)
        return out
    if isinstance(value, list | tuple):
        return [_json_safe(item, f"{path}[{index}]", omitted) for index, item in enumerate(value)]
    if isinstance(value, datetime):
        return value.isoformat()
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)  # ObjectId, Decimal128 and the like

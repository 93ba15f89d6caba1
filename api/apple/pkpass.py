"""HTTP answers carrying a .pkpass, shared by the integrator API and the PassKit web service.

Conditional requests are answered from the stored version's date and hash before the zip is
assembled: a device polling an unchanged pass costs one indexed read.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Response, request
from werkzeug.http import is_resource_modified

from api.errors import ApiError
from shared.apple.delivery import PKPASS_MEDIA_TYPE, entity_tag, pkpass_for
from shared.tenancy.tenants import Tenant


def _validators(apple: Mapping[str, Any]) -> tuple[str, Any]:
    return entity_tag(apple), apple["lastModified"]


def pkpass_response(tenant: Tenant, document: Mapping[str, Any]) -> Response:
    apple = document.get("apple")
    if not apple:
        raise ApiError(
            404,
            "This pass has no Apple Wallet version.",
            errors=[{"field": "device", "reason": "the pass type has no Apple template"}],
        )
    etag, last_modified = _validators(apple)
    if not is_resource_modified(request.environ, etag=etag, last_modified=last_modified):
        response = Response(status=304)
    else:
        served = pkpass_for(tenant, document)
        if served is None:
            raise ApiError(404, "This pass has no Apple Wallet version.")
        response = Response(served.body, mimetype=PKPASS_MEDIA_TYPE)
        response.headers["Content-Disposition"] = f'attachment; filename="{document["_id"]}.pkpass"'
    response.set_etag(etag)
    response.last_modified = last_modified
    # Personal data: no shared caches; devices revalidate every time.
    response.headers["Cache-Control"] = "private, no-cache"
    return response

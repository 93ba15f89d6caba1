"""Links in the answer of `POST /passes` (and self-service), and several passes at once from
`GET /passes/{id1},{id2},…`."""

from __future__ import annotations

from typing import Any

from flask import Response

from api.auth import current_tenant
from api.errors import ApiError
from api.links.minting import mint_links
from api.multipass import bundle_response, save_response, tenant_passes


def with_links(answer: Any, tenant_id: str, wanted: dict[str, Any] | None) -> Any:
    """The issuing answer (`(body, status[, headers])`) with `links` minted for its pass when
    the request asked for them: the pass need not exist yet (its page says it is being
    prepared until the create job is done)."""
    if wanted is None:
        return answer
    body, *rest = answer
    return ({**body, "links": mint_links(tenant_id, body["passId"], wanted)}, *rest)


def serve_several(pass_ids: str, device: str | None) -> Response:
    """A .pkpasses bundle (`device=apple`) or one Save link (`device=google`) for up to 10
    passes of the caller's tenant; nothing is served unless every one of them is."""
    if device not in ("apple", "google"):
        raise ApiError(
            422,
            "Several passes are served to a wallet only.",
            errors=[{"field": "device", "reason": "give apple or google for several passes"}],
        )
    tenant = current_tenant()
    documents = tenant_passes(tenant, pass_ids)
    if device == "apple":
        return bundle_response(tenant, documents)
    return save_response(tenant, documents)

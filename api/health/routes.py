"""Liveness (`/healthz`) and readiness (`/readyz`) probes."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView
from marshmallow import Schema, fields

from api import services
from api.bodies import Blueprint
from api.errors import ApiError, error_responses
from shared.infra.clock import utcnow
from shared.infra.readiness import (
    apple_certificate_warnings,
    check_apple_certificates,
    check_google_credentials,
    check_mongodb,
    check_redis,
)

blp = Blueprint("health", __name__, description="Probes")


class ProbeWarningSchema(Schema):
    check = fields.String(required=True, metadata={"description": "e.g. `apple_certificates`"})
    reason = fields.String(required=True)


class ProbeSchema(Schema):
    status = fields.String(required=True)
    checks = fields.Dict(keys=fields.String(), values=fields.String())
    warnings = fields.List(
        fields.Nested(ProbeWarningSchema),
        metadata={
            "description": "What needs attention soon while ready: each Apple certificate "
            "within 30 days of its end (its check then says `warning`)"
        },
    )


@blp.route("/healthz")
class Health(MethodView):
    @blp.doc(security=[])
    @blp.response(200, ProbeSchema)
    def get(self) -> Any:
        """The API process is up."""
        return {"status": "ok"}


@blp.route("/readyz")
class Ready(MethodView):
    @error_responses(
        503,
        descriptions={
            503: "Not ready (code `not_ready`): `errors` names each dependency (redis, "
            "mongodb, apple_certificates, google_credentials) that is not, and why."
        },
    )
    @blp.doc(security=[])
    @blp.response(200, ProbeSchema)
    def get(self) -> Any:
        """Redis and MongoDB are reachable and every Apple certificate and Google service
        account key is usable; 503 naming what is not. Ready with `warnings` when an Apple
        certificate ends within 30 days."""
        settings = services.settings()
        problems = {
            name: reason
            for name, reason in (
                ("redis", check_redis(settings)),
                ("mongodb", check_mongodb(settings)),
                ("apple_certificates", check_apple_certificates(services.tenants())),
                ("google_credentials", check_google_credentials(services.tenants())),
            )
            if reason is not None
        }
        if problems:
            names = ", ".join(sorted(problems))
            raise ApiError(
                503,
                f"Not ready: {names}.",
                code="not_ready",
                errors=[{"field": name, "reason": reason} for name, reason in problems.items()],
            )
        checks = {
            "redis": "ok",
            "mongodb": "ok",
            "apple_certificates": "ok",
            "google_credentials": "ok",
        }
        ready: dict[str, Any] = {"status": "ready", "checks": checks}
        expiring = apple_certificate_warnings(services.tenants(), utcnow())
        if expiring is not None:
            checks["apple_certificates"] = "warning"
            ready["warnings"] = [{"check": "apple_certificates", "reason": expiring}]
        return ready

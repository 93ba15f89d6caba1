"""A small HTTP client for the tests, speaking to the API over a real socket."""

from __future__ import annotations

from typing import Any

import requests

from tests.support.processes import wait_until

FINAL_STATUSES = {"completed", "completed_with_errors", "cancelled", "failed"}


class ApiClient:
    def __init__(self, base_url: str, tenant: str, api_key: str) -> None:
        self.base_url = base_url
        self.tenant = tenant
        self.session = requests.Session()
        self.session.headers["X-API-Key"] = api_key

    def url(self, path: str) -> str:
        return f"{self.base_url}/api/{self.tenant}{path}"

    def create_pass(self, pass_type: str = "loyalty", **body: Any) -> requests.Response:
        return self.session.post(
            self.url("/passes"), params={"passType": pass_type}, json=body, timeout=10
        )

    def operation(self, correlation_id: str) -> requests.Response:
        return self.session.get(self.url(f"/operations/{correlation_id}"), timeout=10)

    def cancel(self, correlation_id: str) -> requests.Response:
        return self.session.delete(self.url(f"/operations/{correlation_id}"), timeout=10)

    def get_pass(self, pass_id: str) -> requests.Response:
        return self.session.get(self.url(f"/passes/{pass_id}"), timeout=10)

    def wait_for_final(self, correlation_id: str, timeout: float = 30) -> dict[str, Any]:
        def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = self.operation(correlation_id).json()
            return body if body["status"] in FINAL_STATUSES else None

        return wait_until(
            finished, timeout, interval=0.1, what=f"operation {correlation_id} to finish"
        )

"""LOG_FORMAT=json end to end: the API as deployed (gunicorn, the Procfile's web command) and a
worker run a representative flow, and their output is read back line by line.

Every line is a JSON object with the fixed keys; the lines of a job carry its correlationId,
tenant and task; and none of the credentials the flow used (the API key, the pass's
authenticationToken, the device's push token, the signed link's token) appears anywhere.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests

from config.celery import QUEUES
from config.log_format import JSON_KEYS
from dev.fake_apns import FakeApnsControl
from shared.links import link_secret, sign_link
from tests.conftest import DEMO_KEY
from tests.e2e.test_gunicorn_web import procfile_web_command
from tests.support.api_client import ApiClient
from tests.support.apple import WalletDevice, create_pass, download_pkpass, pass_json_of
from tests.support.processes import ManagedProcess, free_port, wait_until, worker_command

KEYS = {"time", *JSON_KEYS.values()}


def _own_redis_database(url: str, number: int) -> str:
    # Queues of their own: the session's text-logging worker must not take these jobs.
    return urlunsplit(urlsplit(url)._replace(path=f"/{number}"))


@pytest.fixture(scope="module")
def json_stack(stack_env: dict[str, str]) -> Iterator[tuple[str, ManagedProcess, ManagedProcess]]:
    redis_url = _own_redis_database(stack_env["REDIS_URL"], 7)
    env = {**stack_env, "LOG_FORMAT": "json", "REDIS_URL": redis_url}
    env["CELERY_BROKER_URL"] = redis_url
    port = free_port()
    web = ManagedProcess("json-web", procfile_web_command(port), env, r"Booting worker")
    worker = ManagedProcess(
        "json-worker", worker_command(",".join(QUEUES), "json"), env, r"\bready\."
    )
    web.start()
    worker.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base), 30, what="gunicorn to answer")
    yield base, web, worker
    web.stop()
    worker.stop()


def _answers(base: str) -> bool:
    try:
        requests.get(f"{base}/healthz", timeout=2)
    except requests.ConnectionError:
        return False
    return True


def _lines(process: ManagedProcess) -> list[dict[str, Any]]:
    parsed = []
    for line in process.output().splitlines():
        if not line.strip():
            continue
        try:
            parsed.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"{process.name} wrote a line that is not JSON: {line!r}")
    return parsed


def test_a_full_flow_logs_json_with_context_and_no_credentials(
    json_stack: tuple[str, ManagedProcess, ManagedProcess], fake_apns: FakeApnsControl
) -> None:
    base, web, worker = json_stack
    demo = ApiClient(base, "demo", DEMO_KEY)
    tag = secrets.token_hex(6)

    # A CRM issues a pass with its API key.
    pass_id = create_pass(
        demo,
        identifiers={"crm": f"C-{tag}"},
        metadata={"campaign": tag},
        additionalData={"points": 5},
    )
    # A device adds it: registration with the pass's authenticationToken and a push token.
    authentication_token = pass_json_of(download_pkpass(demo, pass_id))["authenticationToken"]
    device = WalletDevice(base, pass_id, authentication_token)
    assert device.register().status_code == 201
    assert device.fetch().status_code == 200
    # A wrong key and a wrong token are refused, and not logged either.
    wrong_key = f"wrong-{secrets.token_hex(12)}"
    refused = requests.get(demo.url("/passes"), headers={"X-API-Key": wrong_key}, timeout=10)
    assert refused.status_code == 401
    wrong_token = secrets.token_urlsafe(24)
    assert device.fetch(headers=device.auth(wrong_token)).status_code == 401
    # A campaign with a message reaches the device through APNs.
    campaign = demo.session.post(
        demo.url("/push-updates"),
        json={
            "filter": {"passType": ["loyalty"], "metadata": {"campaign": [tag]}},
            "data": {"additionalData": {"points": 6}},
            "message": {"content": "Double points today"},
        },
        timeout=10,
    )
    assert campaign.status_code == 202, campaign.text
    campaign_id = campaign.json()["correlationId"]
    assert demo.wait_for_final(campaign_id, timeout=60)["status"] == "completed"
    wait_until(
        lambda: any(push["token"] == device.push_token for push in fake_apns.pushes()),
        20,
        what="the push to the device",
    )
    # The customer opens a signed download link and downloads the pass.
    secret = link_secret("demo", is_local=True, configured="")
    assert secret is not None
    link_token = sign_link(secret, "demo", pass_id, int(time.time()) + 600)
    view = requests.get(
        f"{base}/api/demo/passes/{pass_id}/view", params={"t": link_token}, timeout=10
    )
    assert view.status_code == 200, view.text
    download = requests.get(
        f"{base}/api/demo/passes/{pass_id}/download/apple", params={"t": link_token}, timeout=10
    )
    assert download.status_code == 200

    def campaign_logged() -> bool:
        return any(line.get("correlationId") == campaign_id for line in _lines(worker))

    wait_until(campaign_logged, 20, what="the campaign's log lines")
    time.sleep(1)  # the access lines of the last requests

    web_lines, worker_lines = _lines(web), _lines(worker)
    for line in web_lines + worker_lines:
        assert set(line) - {"exception", "stack"} == KEYS, line
        assert line["level"] and isinstance(line["message"], str)

    # The jobs' lines name their correlationId, tenant and task, Celery's own lines included.
    campaign_lines = [line for line in worker_lines if line["correlationId"] == campaign_id]
    assert {line["tenant"] for line in campaign_lines} == {"demo"}
    assert all(line["task"].startswith("passwire.") for line in campaign_lines)
    assert any("succeeded" in line["message"] for line in campaign_lines)
    # gunicorn's access lines name the tenant of the path.
    access = [line for line in web_lines if line["logger"] == "gunicorn.access"]
    assert any(f"/api/demo/passes/{pass_id}/view" in line["message"] for line in access)
    assert all(line["tenant"] == "demo" for line in access if "/api/demo/" in line["message"])

    output = web.output() + worker.output()
    credentials = {
        "API key": DEMO_KEY,
        "wrong API key": wrong_key,
        "authenticationToken": authentication_token,
        "wrong authenticationToken": wrong_token,
        "push token": device.push_token,
        "link token": link_token,
    }
    leaked = sorted(name for name, value in credentials.items() if value in output)
    assert not leaked, f"found in the logs: {leaked}"

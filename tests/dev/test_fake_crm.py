"""The fake CRM: records, auth, latency, failures and its command line."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
import requests

from dev.fake_crm import FakeCrm

TOKEN = "crm-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def crm() -> Iterator[FakeCrm]:
    with FakeCrm(token=TOKEN, seed=3) as server:
        yield server


def test_customers_are_served_from_the_control_endpoint(crm: FakeCrm) -> None:
    with requests.Session() as http:
        record = {"first_name": "Ada", "loyalty": {"points": 7}}
        put = http.put(f"{crm.url}/_control/customers/C%2F1", json=record, timeout=5)
        assert put.status_code == 204
        got = http.get(f"{crm.url}/customers/C%2F1", headers=AUTH, timeout=5)
        assert got.status_code == 200
        assert got.json() == record
        assert got.raw.version == 11  # HTTP/1.1, kept alive
        assert http.get(f"{crm.url}/customers/nobody", headers=AUTH, timeout=5).status_code == 404
        assert http.delete(f"{crm.url}/_control/customers/C%2F1", timeout=5).status_code == 204
        assert http.get(f"{crm.url}/customers/C%2F1", headers=AUTH, timeout=5).status_code == 404
        stats = http.get(f"{crm.url}/_control/stats", timeout=5).json()
        assert stats == {
            "requests": 3,
            "failures": 0,
            "customers": 0,
            "batch_requests": 0,
            "batch_sizes": [],
        }


def test_the_batch_form_answers_known_ids_in_a_map(crm: FakeCrm) -> None:
    crm.put_customer("C-1", {"first_name": "Ada"})
    crm.put_customer("C/2", {"first_name": "Bo"})
    with requests.Session() as http:
        http.headers.update(AUTH)
        posted = http.post(f"{crm.url}/customers/batch", json={"ids": ["C-1", "C-9"]}, timeout=5)
        assert posted.status_code == 200
        assert posted.json() == {"customers": {"C-1": {"first_name": "Ada"}}}
        query = http.get(f"{crm.url}/customers", params=[("id", "C/2"), ("id", "C-1")], timeout=5)
        assert query.json()["customers"] == {
            "C/2": {"first_name": "Bo"},
            "C-1": {"first_name": "Ada"},
        }
        bad = http.post(f"{crm.url}/customers/batch", json={"ids": "C-1"}, timeout=5)
        assert bad.status_code == 400
        crm.configure(fail_ids=["C-9"])
        failing = http.post(f"{crm.url}/customers/batch", json={"ids": ["C-1", "C-9"]}, timeout=5)
        assert failing.status_code == 503
    anonymous = requests.post(f"{crm.url}/customers/batch", json={"ids": ["C-1"]}, timeout=5)
    assert anonymous.status_code == 401
    stats = crm.stats()
    assert (stats["batch_requests"], stats["batch_sizes"]) == (4, [2, 2, 2, 1])
    assert (stats["requests"], stats["failures"]) == (4, 1)


def test_the_bearer_token_is_checked(crm: FakeCrm) -> None:
    crm.put_customer("C-1", {"first_name": "Ada"})
    url = f"{crm.url}/customers/C-1"
    assert requests.get(url, timeout=5).status_code == 401
    assert requests.get(url, headers={"Authorization": "Bearer no"}, timeout=5).status_code == 401
    assert requests.get(url, headers=AUTH, timeout=5).status_code == 200


def test_latency(crm: FakeCrm) -> None:
    crm.put_customer("C-1", {})
    config = requests.post(f"{crm.url}/_control/config", json={"latency_ms": 150}, timeout=5)
    assert config.json()["latency_ms"] == 150
    started = time.monotonic()
    assert requests.get(f"{crm.url}/customers/C-1", headers=AUTH, timeout=5).status_code == 200
    assert time.monotonic() - started >= 0.15


def test_failures_by_rate_and_by_id(crm: FakeCrm) -> None:
    crm.put_customer("C-1", {})
    crm.put_customer("C-2", {})
    with requests.Session() as http:
        http.headers.update(AUTH)
        http.post(f"{crm.url}/_control/config", json={"failure_rate": 1.0}, timeout=5)
        assert http.get(f"{crm.url}/customers/C-1", timeout=5).status_code == 503
        http.post(f"{crm.url}/_control/config", json={"failure_rate": 0.5}, timeout=5)
        statuses = [http.get(f"{crm.url}/customers/C-1", timeout=5).status_code for _ in range(60)]
        assert 10 < statuses.count(503) < 50
        http.post(
            f"{crm.url}/_control/config", json={"failure_rate": 0, "fail_ids": ["C-2"]}, timeout=5
        )
        assert http.get(f"{crm.url}/customers/C-2", timeout=5).status_code == 503
        assert http.get(f"{crm.url}/customers/C-1", timeout=5).status_code == 200
        bad = http.post(f"{crm.url}/_control/config", json={"latency_ms": "x"}, timeout=5)
        assert bad.status_code == 400
        assert http.post(f"{crm.url}/_control/reset", timeout=5).status_code == 204
        assert http.get(f"{crm.url}/customers/C-1", timeout=5).status_code == 404


def test_command_line() -> None:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dev.fake_crm",
            "--port",
            "0",
            "--token",
            "T",
            "--customers=3",
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=dict(os.environ),
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline().strip()
        assert line.startswith("fake crm listening on http://127.0.0.1:")
        url = line.rsplit(" ", 1)[1]
        answer = requests.get(
            f"{url}/customers/C-2", headers={"Authorization": "Bearer T"}, timeout=5
        )
        assert answer.json() == {"first_name": "Customer 2", "loyalty": {"points": 2}}
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0

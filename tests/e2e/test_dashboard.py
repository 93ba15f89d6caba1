"""The operator dashboard in headless Chromium: a read key signs in and sees its tenant's
passes, installs and a running campaign's progress (screenshot in .run/test-artifacts/);
another tenant's key sees nothing of it; the page loads nothing from anywhere else and
offers no write action. Plus the login's refusals over plain HTTP."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.common.by import By

from shared import operations
from shared.campaigns import PUSH_UPDATE
from shared.credentials.api_keys import issue_key
from shared.credentials.scopes import OPERATION_READ, PASS_READ
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id
from tests.conftest import RIVAL_KEY
from tests.e2e.test_download_page import artifacts_dir, chromium, show  # noqa: F401 - fixture
from tests.support.api_client import ApiClient
from tests.support.apple import issue_apple_pass
from tests.support.processes import wait_until

pytestmark = pytest.mark.usefixtures("worker")


def read_key(db: Any, *scopes: str) -> str:
    issued = issue_key(
        db, tenant_id="demo", name="dashboard", scopes=frozenset(scopes), now=utcnow()
    )
    return issued.plaintext


@pytest.fixture
def running_campaign(db: Any) -> Iterator[str]:
    """A campaign caught mid-way (150 of 400 passes), as its batches leave it; removed after."""
    correlation_id = new_correlation_id()
    document = operations.new_operation(
        correlation_id=correlation_id,
        tenant_id="demo",
        kind=PUSH_UPDATE,
        total=400,
        intent={"segment": {}},
    )
    counters = document["counters"]
    counters.update(processed=150, succeeded=148, failed=2)
    counters["apple"].update(pushed=120, notified=90)
    counters["google"] = {"notified": 40}
    counters["suppressed"] = {"quietHours": 12}
    document.update(status=operations.RUNNING, startedAt=utcnow() - timedelta(seconds=60))
    db.operations.insert_one(document)
    yield correlation_id
    db.operations.delete_one({"_id": correlation_id})


def sign_in(browser: webdriver.Chrome, api_url: str, tenant: str, key: str) -> None:
    """Type the key into the login form and send it; back once the answer has loaded (the
    dashboard, or the form again with its refusal)."""
    browser.get(f"{api_url}/dashboard/{tenant}/login")
    browser.find_element(By.ID, "api-key").send_keys(key)
    browser.find_element(By.ID, "sign-in").click()
    wait_until(
        lambda: (
            browser.find_elements(By.ID, "tenant-name")
            or browser.find_elements(By.ID, "login-error")
        ),
        10,
        what="the page after signing in",
    )


def stats(demo: ApiClient) -> dict[str, Any]:
    body: dict[str, Any] = demo.session.get(demo.url("/passes/stats"), timeout=10).json()
    return body


def foreign_resources(browser: webdriver.Chrome, api_url: str) -> list[str]:
    """Every resource the page loaded, or names in src/href, that is not of this origin."""
    origin = urlsplit(api_url).netloc
    loaded = browser.execute_script(
        "return performance.getEntriesByType('resource').map(e => e.name)"
    )
    named = browser.execute_script(
        "return [...document.querySelectorAll('[src],[href]')]"
        ".map(e => e.getAttribute('src') || e.getAttribute('href'))"
    )
    foreign = [url for url in loaded if urlsplit(url).netloc != origin]
    for url in named:
        parts = urlsplit(url)
        if parts.scheme not in ("", "data") or (parts.netloc and parts.netloc != origin):
            foreign.append(url)
    return foreign


def test_a_read_key_sees_its_tenant_and_a_running_campaign(
    chromium: webdriver.Chrome,  # noqa: F811 - the download page's fixture
    api_url: str,
    db: Any,
    demo: ApiClient,
    running_campaign: str,
) -> None:
    device = issue_apple_pass(demo, api_url)
    assert device.register().status_code == 201
    sign_in(chromium, api_url, "demo", read_key(db, PASS_READ, OPERATION_READ))

    assert chromium.current_url == f"{api_url}/dashboard/demo/"
    assert chromium.find_element(By.ID, "tenant-name").text == "Demo Coffee"
    cookie = chromium.get_cookie("pw_dashboard")
    assert cookie is not None and cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    shown = {
        name: int(chromium.find_element(By.CSS_SELECTOR, f'[data-counter="{name}"]').text)
        for name in ("total", "active", "apple", "google")
    }
    figures = stats(demo)
    assert shown == {name: figures[name] for name in shown}
    assert shown["apple"] >= 1
    # Today's Apple install is a bar of the chart.
    bars = chromium.find_elements(By.CSS_SELECTOR, 'rect.bar[data-series="Apple Wallet"]')
    assert len(bars) == 30 and int(bars[-1].get_attribute("data-value") or 0) >= 1
    assert chromium.find_element(By.CSS_SELECTOR, 'tr[data-pass-type="loyalty"]')

    row = chromium.find_element(By.CSS_SELECTOR, f'tr[data-operation="{running_campaign}"]')
    assert row.get_attribute("data-status") == "running"
    assert row.find_element(By.CSS_SELECTOR, "svg.progress").get_attribute("data-percent") == "38"
    assert "150 / 400" in row.text
    campaign = chromium.find_element(By.CSS_SELECTOR, f'tr[data-campaign="{running_campaign}"]')
    outcomes = {
        cell.get_attribute("data-outcome"): cell.text
        for cell in campaign.find_elements(By.CSS_SELECTOR, "td[data-outcome]")
    }
    assert outcomes["apple.notified"] == "90" and outcomes["google.notified"] == "40"
    assert outcomes["suppressed.quietHours"] == "12" and outcomes["failed"] == "2"
    # While a campaign runs the page reloads itself: its bars move without a script.
    refresh = chromium.find_element(By.CSS_SELECTOR, 'meta[http-equiv="refresh"]')
    assert int(refresh.get_attribute("content") or 0) > 0

    # Read-only: the one form signs out; no other control.
    forms = chromium.find_elements(By.TAG_NAME, "form")
    assert [form.get_attribute("id") for form in forms] == ["logout-form"]
    assert [b.text for b in chromium.find_elements(By.TAG_NAME, "button")] == ["Sign out"]
    assert chromium.find_elements(By.TAG_NAME, "script") == []
    assert foreign_resources(chromium, api_url) == []
    logs = chromium.get_log("browser")  # type: ignore[no-untyped-call]
    assert not [entry for entry in logs if "Content Security Policy" in entry["message"]]
    show(chromium, 1280, mobile=False, name="dashboard.png")
    assert (artifacts_dir() / "dashboard.png").stat().st_size > 0

    # Signing out ends the session: the page asks for a key again.
    chromium.find_element(By.CSS_SELECTOR, "#logout-form button").click()
    chromium.get(f"{api_url}/dashboard/demo/")
    assert chromium.current_url == f"{api_url}/dashboard/demo/login"


def test_another_tenants_key_sees_nothing(
    chromium: webdriver.Chrome,  # noqa: F811 - the download page's fixture
    api_url: str,
    db: Any,
    running_campaign: str,
) -> None:
    sign_in(chromium, api_url, "demo", RIVAL_KEY)
    assert chromium.current_url == f"{api_url}/dashboard/demo/login"
    assert (
        chromium.find_element(By.ID, "login-error").text == "This key cannot open this dashboard."
    )
    source = chromium.page_source
    assert "Demo Coffee" not in source and running_campaign not in source
    assert chromium.get_cookie("pw_dashboard") is None
    chromium.get(f"{api_url}/dashboard/demo/")
    assert chromium.current_url == f"{api_url}/dashboard/demo/login"

    # Signed in to its own dashboard, the rival's session opens nothing of the demo tenant.
    sign_in(chromium, api_url, "rival", RIVAL_KEY)
    assert chromium.find_element(By.ID, "tenant-name").text == "Rival Burgers"
    assert "Demo Coffee" not in chromium.page_source
    assert running_campaign not in chromium.page_source
    token = chromium.get_cookie("pw_dashboard")
    assert token is not None
    stolen = requests.get(
        f"{api_url}/dashboard/demo/",
        cookies={"pw_dashboard": token["value"]},
        allow_redirects=False,
        timeout=10,
    )
    assert stolen.status_code == 303
    assert stolen.headers["Location"].endswith("/dashboard/demo/login")


def test_a_key_without_operation_read_sees_no_operations(
    chromium: webdriver.Chrome,  # noqa: F811 - the download page's fixture
    api_url: str,
    db: Any,
    running_campaign: str,
) -> None:
    sign_in(chromium, api_url, "demo", read_key(db, PASS_READ))
    assert chromium.find_element(By.ID, "tenant-name").text == "Demo Coffee"
    assert chromium.find_element(By.ID, "operations-hidden")
    assert running_campaign not in chromium.page_source


def _csrf_of(html: str) -> str:
    match = re.search(r'name="csrf" value="([^"]+)"', html)
    assert match is not None
    return match.group(1)


def test_login_refusals_over_http(api_url: str, db: Any) -> None:
    login = f"{api_url}/dashboard/demo/login"
    form = requests.get(login, timeout=10)
    csp = form.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "form-action 'self'" in csp
    assert "http" not in csp  # no other origin is allowed anything
    assert form.headers["Cache-Control"] == "private, no-store"
    csrf, cookie = _csrf_of(form.text), form.cookies["pw_dashboard_login"]
    key = read_key(db, PASS_READ)

    def post(data: dict[str, str], **kwargs: Any) -> requests.Response:
        return requests.post(login, data=data, allow_redirects=False, timeout=10, **kwargs)

    assert post({"csrf": csrf, "apiKey": key}).status_code == 403  # no login cookie
    jar = {"pw_dashboard_login": cookie}
    assert post({"csrf": "forged", "apiKey": key}, cookies=jar).status_code == 403
    foreign = {"Origin": "https://evil.example"}
    assert post({"csrf": csrf, "apiKey": key}, cookies=jar, headers=foreign).status_code == 403
    assert post({"csrf": csrf, "apiKey": "wrong"}, cookies=jar).status_code == 401
    no_read = read_key(db, OPERATION_READ)
    assert post({"csrf": csrf, "apiKey": no_read}, cookies=jar).status_code == 403
    signed_in = post({"csrf": csrf, "apiKey": key}, cookies=jar)
    assert signed_in.status_code == 303
    session_cookie = signed_in.headers["Set-Cookie"]
    assert "HttpOnly" in session_cookie and "SameSite=Strict" in session_cookie
    assert "Path=/dashboard/demo" in session_cookie
    assert key not in session_cookie

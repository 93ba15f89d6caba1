"""The pass download page, end to end: a CRM issues a pass, a customer opens its signed link
(over HTTP, then in headless Chromium), and the "Add to Apple Wallet" button serves the
.pkpass and records the install click.

Chromium is required, never skipped: `apt-get install -y chromium chromium-driver` (Debian).
Screenshots go to $PASSWIRE_TEST_ARTIFACTS (default .run/test-artifacts/) for humans.
"""

from __future__ import annotations

import dataclasses
import os
import re
import secrets
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from selenium import webdriver
from selenium.webdriver.chrome.options import Options
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from api.app import create_app
from api.pages.content import qr_svg
from config.settings import Settings
from shared.links import SECRET_ENV, link_secret, sign_link
from tests.support.api_client import ApiClient
from tests.support.apple import PKPASS_TYPE, PUBLIC_URL, create_pass, unpack
from tests.support.processes import REPO_ROOT, wait_until

pytestmark = pytest.mark.usefixtures("worker")

TIER = '<script>window.pwned = 1</script> & "Gold"'
POINTS = 37
CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--hide-scrollbars",
)


def artifacts_dir() -> Path:
    directory = Path(
        os.environ.get("PASSWIRE_TEST_ARTIFACTS") or REPO_ROOT / ".run" / "test-artifacts"
    )
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def token_for(pass_id: str, expires_in: int = 600, tenant: str = "demo") -> str:
    # The test API's settings name no secret: it signs with the development one.
    secret = link_secret(tenant, is_local=True, configured="")
    assert secret is not None
    return sign_link(secret, tenant, pass_id, int(time.time()) + expires_in)


def page_url(api_url: str, pass_id: str, **params: str) -> str:
    query = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{api_url}/api/demo/passes/{pass_id}/view" + (f"?{query}" if query else "")


def clicks(db: Any, pass_id: str) -> list[dict[str, Any]]:
    return list(db.install_clicks.find({"tenant": "demo", "passId": pass_id}, {"_id": 0}))


@pytest.fixture
def issued(demo: ApiClient) -> dict[str, str]:
    """A loyalty pass whose tier needs escaping; its id and CRM identifier."""
    crm = f"C-{secrets.token_hex(4)}"
    pass_id = create_pass(
        demo,
        identifiers={"crm": crm},
        metadata={"store": "42", "tier": TIER},
        additionalData={"points": POINTS},
    )
    return {"passId": pass_id, "crm": crm}


def test_page_over_http(api_url: str, issued: dict[str, str], db: Any) -> None:
    pass_id = issued["passId"]
    token = token_for(pass_id)
    response = requests.get(page_url(api_url, pass_id, t=token, medium="email"), timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/html")
    csp = response.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "style-src 'nonce-" in csp and "unsafe" not in csp
    assert response.headers["Cache-Control"] == "private, no-store"
    html = response.text

    assert "<title>Demo Coffee · Add to Wallet</title>" in html
    assert f"<dd>{POINTS}</dd>" in html and ">Points<" in html
    # Escaped as text, never markup: the page carries no script at all.
    assert "&lt;script&gt;window.pwned = 1&lt;/script&gt; &amp; &#34;Gold&#34;" in html
    assert "<script" not in html.lower()
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)  # no inline event handlers
    # No secrets or identifiers: the authentication token, the CRM id (a back field).
    document = db.passes.find_one({"_id": pass_id})
    assert document["authenticationToken"] not in html
    assert issued["crm"] not in html

    apple = parse_qs(urlsplit(_href(html, "add-to-apple-wallet")).query)
    assert apple == {"t": [token], "medium": ["email"]}
    google = parse_qs(urlsplit(_href(html, "add-to-google-wallet")).query)
    assert google == {"t": [token], "medium": ["email"]}
    # The QR code opens this page, on a phone, with medium=qr (segno's output is exact).
    qr_url = f"{PUBLIC_URL}/api/demo/passes/{pass_id}/view?t={token}&medium=qr"
    assert qr_svg(qr_url) in html


def _href(html: str, element_id: str) -> str:
    start = html.index(f'id="{element_id}" href="') + len(f'id="{element_id}" href="')
    return html[start : html.index('"', start)].replace("&amp;", "&")


def test_refusals(api_url: str, issued: dict[str, str], demo: ApiClient) -> None:
    pass_id = issued["passId"]
    token = token_for(pass_id)

    def get(url: str, **kwargs: Any) -> requests.Response:
        return requests.get(url, timeout=10, **kwargs)

    cases = {
        "no credentials": (page_url(api_url, pass_id), 401),
        "tampered": (page_url(api_url, pass_id, t=token[:-2] + "AA"), 401),
        "another pass": (page_url(api_url, pass_id, t=token_for("Ed34kg3oA47abcdefghijk")), 401),
        "expired": (page_url(api_url, pass_id, t=token_for(pass_id, expires_in=-1)), 403),
        "bad medium": (page_url(api_url, pass_id, t=token, medium="E-Mail!"), 422),
        "unknown pass": (
            page_url(api_url, "Ed34kg3oA47abcdefghijk", t=token_for("Ed34kg3oA47abcdefghijk")),
            404,
        ),
    }
    for name, (url, status) in cases.items():
        response = get(url)
        assert response.status_code == status, (name, response.text)
        assert response.headers["Content-Type"].startswith("text/html"), name
        assert "This pass cannot be shown" in response.text, name
        assert "Content-Security-Policy" in response.headers, name

    # An integrator's API key opens the page; its links carry a token it minted.
    response = get(page_url(api_url, pass_id), headers={"X-API-Key": "demo-local-api-key"})
    assert response.status_code == 200, response.text
    minted = parse_qs(urlsplit(_href(response.text, "add-to-apple-wallet")).query)["t"][0]
    assert get(page_url(api_url, pass_id, t=minted)).status_code == 200
    # Another tenant's key is refused.
    rival = get(page_url(api_url, pass_id), headers={"X-API-Key": "rival-test-api-key"})
    assert rival.status_code == 403

    # Downloads keep the API's JSON envelope.
    base = f"{api_url}/api/demo/passes/{pass_id}/download"
    refused = get(f"{base}/apple", params={"t": token[:-2] + "AA"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    refused = get(f"{base}/google", params={"t": token[:-2] + "AA"})
    assert refused.status_code == 401 and refused.json()["code"] == "unauthorized"
    # The Google download is a redirect to the Save to Google Wallet link.
    google = get(f"{base}/google", params={"t": token}, allow_redirects=False)
    assert google.status_code == 302
    assert google.headers["Location"].startswith("https://pay.google.com/gp/v/save/")
    bad_medium = get(f"{base}/apple", params={"t": token, "medium": "x" * 33})
    assert bad_medium.status_code == 422 and bad_medium.json()["errors"][0]["field"] == "medium"


def test_apple_download_records_the_click(api_url: str, issued: dict[str, str], db: Any) -> None:
    pass_id = issued["passId"]
    url = f"{api_url}/api/demo/passes/{pass_id}/download/apple"
    agent = "Mozilla/5.0 (iPhone) " + "x" * 400
    headers = {"User-Agent": agent, "Referer": "https://mail.example.com/inbox?id=1"}
    params = {"t": token_for(pass_id), "medium": "sms"}
    # A link checker's HEAD is not an install.
    assert requests.head(url, params=params, headers=headers, timeout=10).status_code == 200
    assert clicks(db, pass_id) == []
    response = requests.get(url, params=params, headers=headers, timeout=10)
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"] == PKPASS_TYPE
    assert "pass.json" in unpack(response.content)
    (click,) = clicks(db, pass_id)
    assert click["wallet"] == "apple" and click["medium"] == "sms"
    assert click["origin"] == "mail.example.com"
    assert click["userAgent"] == agent[:256]
    assert click["at"] is not None


def test_links_are_disabled_without_a_secret_in_production(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = create_app(dataclasses.replace(settings, environment="production", link_secret=""))
    response = app.test_client().get("/api/demo/passes/Ed34kg3oA47abcdefghijk/view?t=1.x")
    assert response.status_code == 503
    assert SECRET_ENV in response.get_data(as_text=True)


# -- headless Chromium --------------------------------------------------------------------


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[webdriver.Chrome]:
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert binary and driver, "apt-get install -y chromium chromium-driver"
    options = Options()
    options.binary_location = binary
    for argument in (*CHROMIUM_ARGS, f"--user-data-dir={tmp_path / 'profile'}"):
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    browser = webdriver.Chrome(service=Service(executable_path=driver), options=options)
    browser.set_page_load_timeout(15)
    browser.execute_cdp_cmd(
        "Browser.setDownloadBehavior",
        {"behavior": "allow", "downloadPath": str(tmp_path / "downloads")},
    )
    yield browser
    browser.quit()


def show(browser: webdriver.Chrome, width: int, *, mobile: bool, name: str) -> None:
    """Lay the page out `width` CSS pixels wide, tall enough for all of it; screenshot it."""
    metrics = {"width": width, "height": 800, "deviceScaleFactor": 1, "mobile": mobile}
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", metrics)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {**metrics, "height": height})
    assert browser.execute_script("return document.documentElement.scrollWidth") <= width
    assert browser.save_screenshot(str(artifacts_dir() / name))


def test_in_headless_chromium(
    chromium: webdriver.Chrome, api_url: str, issued: dict[str, str], db: Any, tmp_path: Path
) -> None:
    pass_id = issued["passId"]
    chromium.get(page_url(api_url, pass_id, t=token_for(pass_id), medium="email"))

    assert chromium.title == "Demo Coffee · Add to Wallet"
    points = chromium.find_element(By.CSS_SELECTOR, ".header-fields dd")
    assert points.is_displayed() and points.text == str(POINTS)
    tier = chromium.find_element(By.XPATH, "//dt[text()='Tier']/following-sibling::dd")
    assert tier.text == TIER
    assert chromium.execute_script("return window.pwned === undefined")
    qr = chromium.find_element(By.CSS_SELECTOR, "svg.qr")
    assert qr.is_displayed() and qr.size["width"] >= 150
    apple = chromium.find_element(By.ID, "add-to-apple-wallet")
    assert apple.is_displayed() and apple.text == "Add to Apple Wallet"
    google = chromium.find_element(By.ID, "add-to-google-wallet")
    assert google.is_displayed() and google.text == "Add to Google Wallet"
    # The nonce'd style applied under the CSP (the card wears the pass's colours) and the
    # browser reported no violation.
    card = chromium.find_element(By.CSS_SELECTOR, ".card")
    assert card.value_of_css_property("background-color") == "rgba(59, 36, 24, 1)"
    logs = chromium.get_log("browser")  # type: ignore[no-untyped-call]
    problems = [entry for entry in logs if entry["level"] == "SEVERE"]
    assert not problems, problems

    show(chromium, 1280, mobile=False, name="download-page.png")
    # Wide: the QR code sits in its own column, right of the pass.
    assert qr.location["x"] > card.location["x"] + card.size["width"]
    show(chromium, 375, mobile=True, name="download-page-375.png")
    assert card.size["width"] <= 375 and apple.is_displayed()

    # The button downloads the .pkpass, and the click is recorded with the browser's details.
    agent = chromium.execute_script("return navigator.userAgent")
    apple.click()
    downloaded = wait_until(
        lambda: [p for p in (tmp_path / "downloads").glob("*.pkpass")],
        10,
        what="the .pkpass download",
    )
    assert downloaded[0].name == f"{pass_id}.pkpass"
    assert zipfile.is_zipfile(downloaded[0])
    (click,) = wait_until(lambda: clicks(db, pass_id), 5, what="the install click")
    assert click["wallet"] == "apple" and click["medium"] == "email"
    assert click["origin"] == "127.0.0.1"
    assert click["userAgent"] == agent[:256]

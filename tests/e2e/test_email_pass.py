"""Emailing a pass, end to end: HTTP → Redis → a Celery worker in its own process → a real
SMTP server on loopback (aiosmtpd). The holder receives the message; its link opens the
download page; afterwards no MongoDB collection and no worker log holds the address."""

from __future__ import annotations

import html
import re
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from tests.support.api_client import ApiClient
from tests.support.apple import PUBLIC_URL, create_pass
from tests.support.processes import ManagedProcess
from tests.support.smtp import REFUSED_PREFIX, TestSink

pytestmark = pytest.mark.usefixtures("worker")

LINK = re.compile(r"https?://\S+/view\?\S+")


def _issue(demo: ApiClient) -> str:
    return create_pass(demo, identifiers={"crm": f"C-{secrets.token_hex(4)}"})


def _email(demo: ApiClient, pass_id: str, **body: str) -> dict[str, Any]:
    """POST the email request, wait for its operation to end; the final operation."""
    response = demo.session.post(demo.url(f"/passes/{pass_id}/email"), json=body, timeout=10)
    assert response.status_code == 202, response.text
    assert response.json()["passId"] == pass_id
    return demo.wait_for_final(response.json()["correlationId"])


def _stored_nowhere(db: Any, worker: ManagedProcess, address: str) -> None:
    for name in db.list_collection_names():
        for document in db[name].find():
            assert address not in str(document), f"{address} is in {name}"
    assert address not in worker.output()


def test_the_holder_receives_a_link_that_opens_the_page(
    demo: ApiClient, db: Any, api_url: str, smtp_sink: TestSink, worker: ManagedProcess
) -> None:
    pass_id = _issue(demo)
    address = f"ada-{secrets.token_hex(4)}@example.com"
    operation = _email(demo, pass_id, to=address, name="Ada <Lovelace>")
    assert operation["status"] == "completed", operation
    assert operation["kind"] == "email" and operation["counters"]["succeeded"] == 1

    mail = smtp_sink.wait_for(address)
    assert mail.mail_from == "wallet@demo-coffee.example" and mail.rcpt_tos == (address,)
    assert mail.message["From"] == "Demo Coffee <wallet@demo-coffee.example>"
    assert mail.message["To"] == address
    assert mail.message["Reply-To"] == "help@demo-coffee.example"
    assert mail.message["Subject"] == "Your Demo Coffee loyalty card"
    text, page_html = mail.text(), mail.html()
    assert text.startswith("Hello Ada <Lovelace>,")
    assert page_html is not None and "Hello Ada &lt;Lovelace&gt;," in page_html

    [link] = LINK.findall(text)
    assert html.unescape(page_html).count(link) == 1  # the same link in both bodies
    url = urlsplit(link)
    assert f"{url.scheme}://{url.netloc}" == PUBLIC_URL
    assert url.path == f"/api/demo/passes/{pass_id}/view"
    query = parse_qs(url.query)
    assert set(query) == {"t", "medium"} and query["medium"] == ["email"]
    # The link opens the page (served here rather than at the public URL).
    page = requests.get(f"{api_url}{url.path}?{url.query}", timeout=10)
    assert page.status_code == 200, page.text
    assert page.headers["Content-Type"].startswith("text/html")
    assert "Demo Coffee" in page.text

    _stored_nowhere(db, worker, address)


def test_the_holder_language_picks_the_templates(
    demo: ApiClient, smtp_sink: TestSink, db: Any, worker: ManagedProcess
) -> None:
    pass_id = _issue(demo)
    address = f"ada-{secrets.token_hex(4)}@example.fr"
    operation = _email(demo, pass_id, to=address, language="fr-CA")
    assert operation["status"] == "completed", operation
    mail = smtp_sink.wait_for(address)
    assert mail.message["Subject"] == "Votre carte Demo Coffee"
    assert mail.text().startswith("Bonjour,") and mail.html() is None  # no fr body.html
    _stored_nowhere(db, worker, address)


def test_a_refused_recipient_fails_the_operation_and_is_forgotten(
    demo: ApiClient, smtp_sink: TestSink, db: Any, worker: ManagedProcess
) -> None:
    pass_id = _issue(demo)
    address = f"{REFUSED_PREFIX}-{secrets.token_hex(4)}@example.com"
    operation = _email(demo, pass_id, to=address)
    assert operation["status"] == "failed", operation
    assert operation["counters"]["failed"] == 1
    [error] = operation["errors"]
    assert error["id"] == pass_id
    assert re.fullmatch(
        r"SMTP server 127\.0\.0\.1:\d+ refused the recipient \(550\)", error["reason"]
    )
    assert not [mail for mail in smtp_sink.received if address in mail.rcpt_tos]
    _stored_nowhere(db, worker, address)

"""The email job against the real MongoDB and a real SMTP server on loopback, without a
worker: it sends once, forgets the address whatever happens, and fails with reasons that
never hold the address."""

from __future__ import annotations

import dataclasses
import logging
import secrets
import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from dev.smtp_sink import running_sink
from shared import operations
from shared.infra.clock import utcnow
from shared.infra.ids import new_correlation_id, new_pass_id
from shared.links import LinkCheck, link_secret, verify_link
from shared.passes.emailing import run_email
from shared.passes.jobs import JobContext
from shared.repositories import operations as operations_repo
from shared.tenancy.tenants import TenantRegistry
from tests.support.processes import free_port
from tests.support.smtp import REFUSED_PREFIX, TestSink

PASSWIRE_LOGGERS = {"shared", "api", "workers", "config"}


def _address(prefix: str = "ada") -> str:
    return f"{prefix}-{secrets.token_hex(4)}@example.com"


def _email_operation(
    db: Any, to: str, *, pass_id: str | None = None, **intent: Any
) -> tuple[str, str]:
    """A queued email operation for a stored demo loyalty pass: (correlationId, passId)."""
    now, pass_id = utcnow(), pass_id or new_pass_id()
    if db.passes.find_one({"_id": pass_id}) is None:
        db.passes.insert_one(
            {"_id": pass_id, "tenant": "demo", "passType": "loyalty", "identifiers": {},
             "metadata": {}, "additionalData": {}, "version": 1, "createdAt": now,
             "updatedAt": now}
        )  # fmt: skip
    correlation_id = new_correlation_id()
    operations.create(
        db,
        operations.new_operation(
            correlation_id=correlation_id,
            tenant_id="demo",
            kind="email",
            total=1,
            intent={"passId": pass_id, "to": to, "language": "en", **intent},
        ),
    )
    return correlation_id, pass_id


@pytest.fixture(autouse=True)
def _job_logs(caplog: pytest.LogCaptureFixture) -> None:
    # Every line the job logs; not pymongo's, which log whole commands at DEBUG.
    caplog.set_level(logging.DEBUG, logger="shared")


def _mails_to(sink: TestSink, address: str) -> list[Any]:
    return [mail for mail in sink.received if address in mail.rcpt_tos]


def _with_smtp(context: JobContext, **changes: Any) -> JobContext:
    """The context, with the demo tenant's [smtp] changed."""
    demo = context.tenants.get("demo")
    assert demo is not None and demo.email is not None
    smtp = dataclasses.replace(demo.email.smtp, **changes)
    demo = dataclasses.replace(demo, email=dataclasses.replace(demo.email, smtp=smtp))
    return dataclasses.replace(
        context, tenants=TenantRegistry({**context.tenants.tenants, "demo": demo})
    )


def _no_address_anywhere(db: Any, address: str, caplog: pytest.LogCaptureFixture) -> None:
    for name in db.list_collection_names():
        for document in db[name].find():
            assert address not in str(document), name
    # passwire's own log lines (the test SMTP server, aiosmtpd, logs what it receives).
    ours = [r.getMessage() for r in caplog.records if r.name.split(".")[0] in PASSWIRE_LOGGERS]
    assert ours and not [line for line in ours if address in line]


def test_sends_once_with_a_fresh_link_and_forgets_the_address(
    db: Any, job_context: JobContext, smtp_sink: TestSink, caplog: pytest.LogCaptureFixture
) -> None:
    address = _address()
    correlation_id, pass_id = _email_operation(db, address, name="Ada")
    finished = run_email(job_context, correlation_id)
    assert finished is not None and finished["status"] == "completed", finished
    assert finished["counters"]["succeeded"] == 1 and "intent" not in finished
    # Celery delivers at least once: a second delivery sends nothing.
    again = run_email(job_context, correlation_id)
    assert again is not None and again["status"] == "completed"
    [mail] = _mails_to(smtp_sink, address)
    assert mail.text().startswith("Hello Ada,")

    [link] = [line for line in mail.text().splitlines() if "/view?" in line]
    url = urlsplit(link)
    assert f"{url.scheme}://{url.netloc}" == job_context.settings.public_base_url
    assert url.path == f"/api/demo/passes/{pass_id}/view"
    query = parse_qs(url.query)
    assert query["medium"] == ["email"]
    secret = link_secret("demo", is_local=True, configured=job_context.settings.link_secret)
    assert secret is not None
    now = int(time.time())
    assert verify_link(secret, "demo", pass_id, query["t"][0], now) is LinkCheck.VALID
    # Valid for 30 days, not (much) longer.
    assert verify_link(secret, "demo", pass_id, query["t"][0], now + 31 * 86400) is (
        LinkCheck.EXPIRED
    )
    _no_address_anywhere(db, address, caplog)


def test_a_refused_recipient_fails_the_operation_without_the_address(
    db: Any, job_context: JobContext, smtp_sink: TestSink, caplog: pytest.LogCaptureFixture
) -> None:
    address = _address(REFUSED_PREFIX)
    correlation_id, _ = _email_operation(db, address)
    finished = run_email(job_context, correlation_id)
    assert finished is not None and finished["status"] == "failed"
    [error] = finished["errors"]
    assert error["reason"].endswith("refused the recipient (550)")
    assert _mails_to(smtp_sink, address) == []
    _no_address_anywhere(db, address, caplog)


def test_an_unreachable_server_fails_the_operation(
    db: Any, job_context: JobContext, caplog: pytest.LogCaptureFixture
) -> None:
    address = _address()
    correlation_id, _ = _email_operation(db, address)
    port = free_port()  # nothing listens there
    finished = run_email(_with_smtp(job_context, port=port), correlation_id)
    assert finished is not None and finished["status"] == "failed"
    reason = f"SMTP server 127.0.0.1:{port} refused the connection"
    assert finished["errors"] == [{"id": finished["errors"][0]["id"], "reason": reason}]
    _no_address_anywhere(db, address, caplog)


def test_a_silent_server_times_out(
    db: Any, job_context: JobContext, caplog: pytest.LogCaptureFixture
) -> None:
    address = _address()
    correlation_id, _ = _email_operation(db, address)
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        context = _with_smtp(job_context, port=port, timeout_s=0.2)
        finished = run_email(context, correlation_id)
    assert finished is not None and finished["status"] == "failed"
    assert finished["errors"][0]["reason"] == (
        f"SMTP server 127.0.0.1:{port} did not answer within 0.2 s while connecting"
    )
    _no_address_anywhere(db, address, caplog)


def test_a_pass_gone_meanwhile_fails_and_forgets(
    db: Any, job_context: JobContext, caplog: pytest.LogCaptureFixture
) -> None:
    address, pass_id = _address(), new_pass_id()
    correlation_id, _ = _email_operation(db, address, pass_id=pass_id)
    db.passes.delete_one({"_id": pass_id})
    finished = run_email(job_context, correlation_id)
    assert finished is not None and finished["status"] == "failed"
    assert finished["errors"] == [{"id": pass_id, "reason": "the pass no longer exists"}]
    _no_address_anywhere(db, address, caplog)


def test_cancelled_while_running_sends_nothing(
    db: Any, job_context: JobContext, smtp_sink: TestSink
) -> None:
    address = _address()
    correlation_id, _ = _email_operation(db, address)
    operations.start(db, correlation_id)
    operations.request_cancel(db, "demo", correlation_id)  # running → cancelling
    finished = run_email(job_context, correlation_id)
    assert finished is not None and finished["status"] == "cancelled"
    assert "intent" not in finished and _mails_to(smtp_sink, address) == []


def test_a_delivery_that_died_after_taking_the_address_is_not_retried_blindly(
    db: Any, job_context: JobContext, smtp_sink: TestSink
) -> None:
    address = _address()
    correlation_id, _ = _email_operation(db, address)
    # A first delivery took the address and died (it may or may not have sent).
    operations.start(db, correlation_id)
    taken = operations_repo.take_intent_fields(
        db, correlation_id, ("to", "name"), present="to", statuses=("running",)
    )
    assert taken is not None and taken["to"] == address
    finished = run_email(job_context, correlation_id)
    assert finished is not None and finished["status"] == "failed"
    assert "interrupted" in finished["errors"][0]["reason"]
    assert _mails_to(smtp_sink, address) == []


class _IntentWatcher(TestSink):
    """Records the operation's intent as MongoDB holds it while the message arrives."""

    def __init__(self, db: Any, correlation_id: str) -> None:
        super().__init__()
        self.db, self.correlation_id = db, correlation_id
        self.intents: list[dict[str, Any]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.intents.append(self.db.operations.find_one({"_id": self.correlation_id})["intent"])
        return await super().handle_DATA(server, session, envelope)


def test_the_address_leaves_the_intent_before_the_message_is_sent(
    db: Any, job_context: JobContext
) -> None:
    address = _address()
    correlation_id, pass_id = _email_operation(db, address, name="Ada")
    watcher = _IntentWatcher(db, correlation_id)
    with running_sink(watcher, port=free_port()) as port:
        finished = run_email(_with_smtp(job_context, port=port), correlation_id)
    assert finished is not None and finished["status"] == "completed"
    assert watcher.intents == [{"passId": pass_id, "language": "en"}]
    assert [mail.rcpt_tos for mail in watcher.received] == [(address,)]

"""Sending through a real SMTP server on loopback (aiosmtpd): the message as built, every
security mode, and failures whose reasons name the server and the SMTP code, never the
recipient (servers echo it back, smtplib puts it in its exceptions)."""

from __future__ import annotations

import dataclasses
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.smtp import AuthResult, LoginPassword

from dev.fake_apns.certs import TestPki, generate_test_pki
from dev.smtp_sink import SmtpSink, running_sink
from shared.email.config import SmtpConfig
from shared.email.sending import SendFailed, build_message, send_message
from shared.email.templates import EmailContent
from tests.support.processes import free_port
from tests.support.smtp import TestSink

RECIPIENT = "ada.lovelace@example.com"
REFUSED = "refused-ada@example.com"
CONTENT = EmailContent(
    subject="Votre carte Café Démo",
    text="Bonjour Ada,\nhttps://wallet.example.com/view?t=1.abc&medium=email\n",
    html='<p>Bonjour Ada</p><a href="https://wallet.example.com/view?t=1.abc&amp;medium=email">',
)
CREDENTIALS = {"ACME_SMTP_USER": "acme", "ACME_SMTP_PASSWORD": "s3cret-password"}


def smtp_config(port: int, **changes: Any) -> SmtpConfig:
    config = SmtpConfig(
        host="127.0.0.1",
        port=port,
        security="none",
        sender_name="Café Démo",
        sender="wallet@cafe.example",
        reply_to="help@cafe.example",
        username_env=None,
        password_env=None,
        timeout_s=5.0,
    )
    return dataclasses.replace(config, **changes)


def send(smtp: SmtpConfig, recipient: str = RECIPIENT, **options: Any) -> None:
    send_message(smtp, build_message(smtp, recipient, CONTENT), recipient, **options)


def refusal(smtp: SmtpConfig, recipient: str = RECIPIENT, **options: Any) -> str:
    with pytest.raises(SendFailed) as failed:
        send(smtp, recipient, **options)
    # Nothing of smtplib's exception travels along: it may quote the address.
    assert failed.value.__cause__ is None and failed.value.__suppress_context__
    assert recipient not in failed.value.reason and "ada" not in failed.value.reason
    return failed.value.reason


@pytest.fixture
def sink() -> Iterator[tuple[TestSink, int]]:
    handler = TestSink()
    with running_sink(handler, port=free_port()) as port:
        yield handler, port


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TestPki:
    """A CA and a server certificate for localhost / 127.0.0.1."""
    return generate_test_pki(tmp_path_factory.mktemp("smtp-tls"))


def server_context(pki: TestPki) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki.server_cert, pki.server_key)
    return context


def client_context(pki: TestPki) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(pki.server_ca))


def test_the_message_has_the_tenant_sender_and_both_bodies(sink: tuple[TestSink, int]) -> None:
    handler, port = sink
    send(smtp_config(port))
    [mail] = handler.received
    assert mail.mail_from == "wallet@cafe.example" and mail.rcpt_tos == (RECIPIENT,)
    message = mail.message
    assert message["From"] == "Café Démo <wallet@cafe.example>"
    assert message["To"] == RECIPIENT
    assert message["Reply-To"] == "help@cafe.example"
    assert message["Subject"] == CONTENT.subject
    assert message["Message-ID"].endswith("@cafe.example>") and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    assert mail.text() == CONTENT.text and mail.html() == f"{CONTENT.html}\n"


def test_without_html_the_message_is_plain_text(sink: tuple[TestSink, int]) -> None:
    smtp = smtp_config(0, reply_to=None)
    message = build_message(smtp, RECIPIENT, dataclasses.replace(CONTENT, html=None))
    assert message.get_content_type() == "text/plain" and "Reply-To" not in message
    # 7-bit on the wire: no reliance on the relay's 8BITMIME.
    assert message.as_bytes().isascii()


def test_a_refused_recipient_is_reported_without_the_address(sink: tuple[TestSink, int]) -> None:
    handler, port = sink
    reason = refusal(smtp_config(port), REFUSED)
    assert reason == f"SMTP server 127.0.0.1:{port} refused the recipient (550)"
    assert handler.received == []


class _Busy(SmtpSink):
    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        return "451 4.3.0 Try again later"


def test_a_temporary_refusal_says_so() -> None:
    with running_sink(_Busy(), port=free_port()) as port:
        reason = refusal(smtp_config(port))
    assert reason == f"SMTP server 127.0.0.1:{port} answered 451, temporary while sending"


def test_a_closed_port_is_a_refused_connection() -> None:
    port = free_port()
    assert refusal(smtp_config(port)) == f"SMTP server 127.0.0.1:{port} refused the connection"


def test_a_silent_server_times_out() -> None:
    with socket.socket() as silent:  # accepts connections, never greets
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        reason = refusal(smtp_config(port, timeout_s=0.2))
    assert reason == f"SMTP server 127.0.0.1:{port} did not answer within 0.2 s while connecting"


def test_starttls_is_never_skipped(sink: tuple[TestSink, int]) -> None:
    handler, port = sink  # offers no STARTTLS
    reason = refusal(smtp_config(port, security="starttls"))
    assert reason == f"SMTP server 127.0.0.1:{port} does not offer STARTTLS"
    assert handler.received == []


def test_starttls_and_credentials(pki: TestPki) -> None:
    logins: list[tuple[bytes, bytes]] = []

    def authenticate(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        assert isinstance(data, LoginPassword)
        logins.append((data.login, data.password))
        # handled=False: aiosmtpd answers 535 itself.
        return AuthResult(success=data.password == b"s3cret-password", handled=False)

    handler = TestSink()
    options = {"tls_context": server_context(pki), "authenticator": authenticate}
    with running_sink(handler, port=free_port(), **options) as port:
        smtp = smtp_config(
            port,
            host="localhost",
            security="starttls",
            username_env="ACME_SMTP_USER",
            password_env="ACME_SMTP_PASSWORD",
        )
        send(smtp, environ=CREDENTIALS, tls_context=client_context(pki))
        wrong = {**CREDENTIALS, "ACME_SMTP_PASSWORD": "guess"}
        reason = refusal(smtp, environ=wrong, tls_context=client_context(pki))
    # smtplib tries each mechanism the server offers before giving up.
    assert logins[0] == (b"acme", b"s3cret-password")
    assert set(logins[1:]) == {(b"acme", b"guess")}
    assert [mail.rcpt_tos for mail in handler.received] == [(RECIPIENT,)]
    assert reason == f"SMTP server localhost:{port} refused the credentials (535)"


def test_implicit_tls(pki: TestPki) -> None:
    handler = TestSink()
    with running_sink(handler, port=free_port(), ssl_context=server_context(pki)) as port:
        smtp = smtp_config(port, host="localhost", security="tls")
        send(smtp, tls_context=client_context(pki))
        # The system trust store does not know the test CA: refused, nothing sent.
        reason = refusal(smtp)
    assert len(handler.received) == 1
    assert reason.startswith(f"SMTP server localhost:{port}: TLS certificate not trusted")


def test_credentials_come_from_the_environment(sink: tuple[TestSink, int]) -> None:
    handler, port = sink
    smtp = smtp_config(port, username_env="ACME_SMTP_USER", password_env="ACME_SMTP_PASSWORD")
    reason = refusal(smtp, environ={})
    assert reason == "SMTP credentials: environment variable ACME_SMTP_USER is not set"
    assert handler.received == []


def test_login_needs_a_server_offering_auth(sink: tuple[TestSink, int]) -> None:
    _, port = sink  # aiosmtpd offers AUTH only over TLS
    smtp = smtp_config(port, username_env="ACME_SMTP_USER", password_env="ACME_SMTP_PASSWORD")
    reason = refusal(smtp, environ=CREDENTIALS)
    assert reason == f"SMTP server 127.0.0.1:{port} does not offer AUTH"

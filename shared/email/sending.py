"""Building one message and sending it through a tenant's SMTP server (smtplib).

One connection per message: emailing a pass is one message a caller asked for, not a
campaign, so there is nothing to pool. A failure becomes SendFailed with a reason that names
the server, the step and the SMTP code, never the recipient: servers echo the address in
their answers and smtplib puts it in its exceptions, and the reason is stored and logged.
"""

from __future__ import annotations

import os
import smtplib
import socket
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from shared.email.config import STARTTLS, TLS, MissingCredentials, SmtpConfig
from shared.email.templates import EmailContent

CONNECTING = "connecting"
STARTING_TLS = "starting TLS"
LOGGING_IN = "logging in"
SENDING = "sending"


class SendFailed(Exception):
    """The message was not sent; `reason` (also the message) never holds the recipient."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def build_message(smtp: SmtpConfig, recipient: str, content: EmailContent) -> EmailMessage:
    """A text message, with an HTML alternative when the language has body.html."""
    message = EmailMessage()
    message["From"] = smtp.from_header
    message["To"] = recipient
    if smtp.reply_to is not None:
        message["Reply-To"] = smtp.reply_to
    message["Subject"] = content.subject
    message["Date"] = formatdate(usegmt=True)
    # The sender's domain, not this host's name: make_msgid would otherwise look that up.
    message["Message-ID"] = make_msgid(domain=smtp.sender.rpartition("@")[2])
    # Quoted-printable keeps every line 7-bit: no reliance on the relay's 8BITMIME.
    message.set_content(content.text, cte="quoted-printable")
    if content.html is not None:
        message.add_alternative(content.html, subtype="html", cte="quoted-printable")
    return message


def send_message(
    smtp: SmtpConfig,
    message: EmailMessage,
    recipient: str,
    *,
    environ: Mapping[str, str] = os.environ,
    tls_context: ssl.SSLContext | None = None,
) -> None:
    """Send `message` to `recipient` alone. `tls_context` defaults to the system's trust
    store with hostname checks. Raises SendFailed."""
    try:
        credentials = smtp.credentials(environ)
    except MissingCredentials as exc:
        raise SendFailed(f"SMTP credentials: {exc}") from None
    context = tls_context or ssl.create_default_context()
    step = CONNECTING
    try:
        with _connect(smtp, context) as client:
            if smtp.security == STARTTLS:
                step = STARTING_TLS
                client.starttls(context=context)  # refuses to go on when not offered
            if credentials is not None:
                step = LOGGING_IN
                client.login(*credentials)
            step = SENDING
            client.send_message(message, from_addr=smtp.sender, to_addrs=[recipient])
    except (smtplib.SMTPException, OSError) as exc:
        # `from None`: the original exception may quote the address.
        raise SendFailed(failure_reason(smtp, step, exc)) from None


def _connect(smtp: SmtpConfig, context: ssl.SSLContext) -> smtplib.SMTP:
    if smtp.security == TLS:
        return smtplib.SMTP_SSL(smtp.host, smtp.port, timeout=smtp.timeout_s, context=context)
    return smtplib.SMTP(smtp.host, smtp.port, timeout=smtp.timeout_s)


def failure_reason(smtp: SmtpConfig, step: str, exc: BaseException) -> str:
    """What went wrong, for the operation and the logs: server, step, SMTP code."""
    server = f"SMTP server {smtp.host}:{smtp.port}"
    if isinstance(exc, smtplib.SMTPException):
        return _smtp_reason(server, smtp, step, exc)
    return _network_reason(server, smtp, step, exc)


def _smtp_reason(server: str, smtp: SmtpConfig, step: str, exc: smtplib.SMTPException) -> str:
    """The server answered, or hung up: what it said, by SMTP code."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"{server} refused the recipient ({_codes(codes)})"
    if isinstance(exc, smtplib.SMTPSenderRefused):
        return f"{server} refused the sender ({_codes([exc.smtp_code])})"
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return f"{server} refused the credentials ({_codes([exc.smtp_code])})"
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        missing = {STARTING_TLS: "STARTTLS", LOGGING_IN: "AUTH"}.get(step, "what was asked")
        return f"{server} does not offer {missing}"
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        # smtplib reports a read that timed out as a disconnection, the timeout as context.
        if isinstance(exc.__context__, TimeoutError):
            return f"{server} did not answer within {smtp.timeout_s:g} s while {step}"
        return f"{server} closed the connection while {step}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{server} answered {_codes([exc.smtp_code])} while {step}"
    return f"{server}: {type(exc).__name__} while {step}"


def _network_reason(server: str, smtp: SmtpConfig, step: str, exc: BaseException) -> str:
    """No SMTP answer: the connection, TLS or name resolution failed."""
    if isinstance(exc, ConnectionRefusedError):
        return f"{server} refused the connection"
    if isinstance(exc, TimeoutError):
        return f"{server} did not answer within {smtp.timeout_s:g} s while {step}"
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"{server}: TLS certificate not trusted ({exc.verify_message})"
    if isinstance(exc, ssl.SSLError):
        return f"{server}: TLS failed ({exc.reason or type(exc).__name__})"
    if isinstance(exc, socket.gaierror):
        return f"{server}: host not found"
    if isinstance(exc, OSError):
        return f"{server}: network error while {step} ({exc.strerror or type(exc).__name__})"
    return f"{server}: {type(exc).__name__} while {step}"


def _codes(codes: list[int]) -> str:
    text = ", ".join(str(code) for code in codes)
    # 4xx is the server saying "not now": worth telling the caller to send again later.
    return f"{text}, temporary" if all(400 <= code < 500 for code in codes) else text

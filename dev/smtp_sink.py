"""A mail server on loopback that accepts every message and keeps it (dev and tests only).

`python -m dev.smtp_sink --port 2525` is the demo tenant's SMTP server in `make run`:
it prints each message it receives (sender, recipients, subject, text body decoded), so the
link of an emailed pass can be opened from the terminal. Tests use `running_sink` and read
`SmtpSink.received`. Built on aiosmtpd (a dev dependency): a real SMTP server, in a thread.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, TextIO

from aiosmtpd.controller import Controller


@dataclass(frozen=True)
class ReceivedMail:
    mail_from: str
    rcpt_tos: tuple[str, ...]
    message: EmailMessage

    def text(self) -> str:
        return self._body("plain") or ""

    def html(self) -> str | None:
        return self._body("html")

    def _body(self, subtype: str) -> str | None:
        """The decoded body part, with the wire's CRLF line ends as \n."""
        part = self.message.get_body((subtype,))
        return str(part.get_content()).replace("\r\n", "\n") if part is not None else None


class SmtpSink:
    """aiosmtpd handler: keeps every message (thread-safe), and prints it when `echo` is set."""

    def __init__(self, echo: TextIO | None = None) -> None:
        self.echo = echo
        self._lock = threading.Lock()
        self._received: list[ReceivedMail] = []

    @property
    def received(self) -> list[ReceivedMail]:
        with self._lock:
            return list(self._received)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = BytesParser(policy=policy.default).parsebytes(envelope.content)
        assert isinstance(parsed, EmailMessage)
        mail = ReceivedMail(str(envelope.mail_from), tuple(envelope.rcpt_tos), parsed)
        with self._lock:
            self._received.append(mail)
        if self.echo is not None:
            self._print(mail, self.echo)
        return "250 Message accepted"

    @staticmethod
    def _print(mail: ReceivedMail, out: TextIO) -> None:
        out.write(
            f"--- mail from {mail.mail_from} to {', '.join(mail.rcpt_tos)}\n"
            f"Subject: {mail.message['Subject']}\n\n{mail.text()}\n---\n"
        )
        out.flush()


@contextmanager
def running_sink(
    handler: SmtpSink, host: str = "127.0.0.1", port: int = 2525, **options: Any
) -> Iterator[int]:
    """Serve `handler` on host:port until the block ends; yields the port. `options` go to
    aiosmtpd (`tls_context` for STARTTLS, `ssl_context` for TLS, `authenticator`...)."""
    controller = Controller(handler, hostname=host, port=port, **options)
    controller.start()
    try:
        yield port
    finally:
        controller.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dev.smtp_sink", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=2525)
    args = parser.parse_args(argv)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with running_sink(SmtpSink(echo=sys.stdout), args.host, args.port) as port:
        print(f"smtp sink listening on {args.host}:{port}", flush=True)
        stop.wait()


if __name__ == "__main__":
    main()

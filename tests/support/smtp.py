"""The SMTP server the tests email through: dev/smtp_sink.py on loopback, refusing
recipients whose address starts with `refused` (550, echoing the address as real servers
do, so tests can check it never reaches a reason or a log)."""

from __future__ import annotations

from typing import Any

from dev.smtp_sink import ReceivedMail, SmtpSink
from tests.support.processes import wait_until

REFUSED_PREFIX = "refused"


class TestSink(SmtpSink):
    __test__ = False  # not a pytest test class

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, rcpt_options: list[str]
    ) -> str:
        if address.startswith(REFUSED_PREFIX):
            return f"550 5.1.1 <{address}>: Recipient address rejected"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    def wait_for(self, recipient: str, timeout: float = 30) -> ReceivedMail:
        def arrived() -> ReceivedMail | None:
            return next((m for m in self.received if recipient in m.rcpt_tos), None)

        mail: ReceivedMail = wait_until(arrived, timeout, what=f"an email to {recipient}")
        return mail

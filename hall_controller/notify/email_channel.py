"""Email over SMTP (aiosmtplib): one plain-text UTF-8 message per recipient.

SMTP's own answer decides a retry: a 4xx (mailbox busy, greylisting) or a lost connection is
tried again later; a 5xx (no such user, relaying refused) is permanent.
"""

from __future__ import annotations

import email.utils
from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib

from hall_controller.notify.model import Channel, OutgoingMessage
from hall_controller.notify.ports import SendFailed


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str
    port: int
    sender: str                   # the From address
    username: str = ""
    password: str = ""
    security: str = "starttls"    # "starttls", "tls" (implicit, port 465) or "none"
    timeout_s: float = 15.0


class EmailSender:
    channel = Channel.EMAIL

    def __init__(self, settings: SmtpSettings) -> None:
        self._settings = settings

    async def aclose(self) -> None:
        return None

    def build(self, message: OutgoingMessage) -> EmailMessage:
        mail = EmailMessage()
        mail["From"] = self._settings.sender
        mail["To"] = message.address
        mail["Subject"] = message.subject.replace("\n", " ")[:200]
        mail["Date"] = email.utils.formatdate(localtime=False)
        domain = self._settings.sender.rpartition("@")[2] or "hall.invalid"
        mail["Message-ID"] = email.utils.make_msgid(domain=domain)
        mail["Auto-Submitted"] = "auto-generated"   # RFC 3834: no vacation auto-replies
        mail.set_content(message.text)
        return mail

    async def send(self, message: OutgoingMessage) -> None:
        s = self._settings
        try:
            await aiosmtplib.send(
                self.build(message), hostname=s.host, port=s.port,
                username=s.username or None, password=s.password or None,
                use_tls=s.security == "tls", start_tls=s.security == "starttls",
                timeout=s.timeout_s)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [r.code for r in exc.recipients]
            raise SendFailed(f"smtp refused the recipient ({codes})",
                             retryable=all(400 <= c < 500 for c in codes)) from exc
        except aiosmtplib.SMTPResponseException as exc:
            raise SendFailed(f"smtp {exc.code}: {exc.message[:200]}",
                             retryable=400 <= exc.code < 500) from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            # Connection refused or lost, a TLS failure, a timeout: the server may be back.
            raise SendFailed(f"smtp: {type(exc).__name__}: {exc}"[:300],
                             retryable=True) from exc

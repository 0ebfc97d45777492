"""E-mail to customers who left their address: an operator's reply goes out by SMTP (`[email]` in the
config). Without `email.smtp_host` nothing is sent, and the customer is never told to expect e-mail
(`Mailer.enabled` chooses the wording of the "nobody online" message and hides the address box).

    mailer = Mailer(cfg.email, business="Northwind Goods")
    mailer.send("kim@example.com", "Your question to Northwind Goods", "Hi Kim, ...")   # MailError on failure

Standard library only (smtplib): STARTTLS when `email.starttls`, a login when `email.smtp_user` is set.
"""

from __future__ import annotations

import logging
import smtplib
from email.message import EmailMessage
from typing import Callable

from assistant.errors import LoopdeskError

log = logging.getLogger("loopdesk.mailer")


class MailError(LoopdeskError):
    """The message could not be handed to the SMTP server (the reason names the server)."""


class Mailer:
    def __init__(self, email_cfg, business: str | Callable[[], str]) -> None:
        """`business`: the name e-mails sign with, or a function reading the one in effect (the owner may
        change it in the console while the app runs: `assistant.settings`)."""
        self.cfg, self._business = email_cfg, business

    @property
    def business(self) -> str:
        return self._business() if callable(self._business) else self._business

    @property
    def enabled(self) -> bool:
        return bool(self.cfg.smtp_host)

    def send(self, to: str, subject: str, body: str) -> None:
        if not self.enabled:
            raise MailError("e-mail is not configured (email.smtp_host is empty)")
        msg = EmailMessage()
        msg["From"] = self.cfg.from_address or f"support@{self.cfg.smtp_host}"
        msg["To"], msg["Subject"] = to, subject
        msg.set_content(body)
        where = f"{self.cfg.smtp_host}:{self.cfg.smtp_port}"
        try:
            with smtplib.SMTP(self.cfg.smtp_host, self.cfg.smtp_port, timeout=self.cfg.timeout_seconds) as smtp:
                if self.cfg.starttls:
                    smtp.starttls()
                if self.cfg.smtp_user:
                    smtp.login(self.cfg.smtp_user, self.cfg.smtp_password)
                smtp.send_message(msg)
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP server {where} did not take the message: {exc}") from exc
        log.info("e-mailed a reply to %s via %s", to, where)

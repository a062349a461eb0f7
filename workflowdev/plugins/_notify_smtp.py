"""How notify.email speaks SMTP: where to connect, the MIME message, and one all-or-nothing session.

Delivery is all or nothing. aiosmtplib's `sendmail` delivers to the recipients a server
accepts and reports the refused ones afterwards, so a task that then fails — and is retried —
would mail the accepted recipients twice. Here the envelope is built recipient by recipient,
and when the server refuses any of them the envelope is reset before DATA: nothing is sent, and
the failure names who was refused.

Bodies are encoded (quoted-printable or base64) whenever they are not plain ASCII, so a message
passes any server whether or not it offers 8BITMIME; only non-ASCII *addresses* need a server
extension (SMTPUTF8), and its absence is reported rather than worked around.

aiosmtplib comes with the `connectors` extra, so it is imported where a session starts; the
task checks that it is installed before calling in here.
"""

from __future__ import annotations

import asyncio
import email.policy
import email.utils
import mimetypes
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import TYPE_CHECKING
from typing import Final

from yarl import URL

from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import TaskLogger

if TYPE_CHECKING:
    import aiosmtplib

__all__ = [
    "SECURITY_MODES",
    "SMTP_PORTS",
    "Mailbox",
    "Server",
    "build_message",
    "deliver",
    "parse_addresses",
    "server_from",
    "tls_context",
]

SECURITY_MODES: Final = ("starttls", "ssl", "none")
SMTP_PORTS: Final = {"starttls": 587, "ssl": 465, "none": 25}
URL_FORM: Final = "smtp://user:password@host:587 or smtps://user:password@host:465"

Mailbox = tuple[str, str]
"""(display name, address), as email.utils parses and formats them."""

_MESSAGE_POLICY: Final = email.policy.SMTP.clone(cte_type="7bit")


@dataclass(frozen=True)
class Server:
    host: str
    port: int
    security: str
    username: str | None
    password: str | None

    @property
    def label(self) -> str:
        return f"the SMTP server at {self.host}:{self.port}"


def server_from(
    *,
    smtp_url: str | None,
    host: str | None,
    port: int | None,
    security: str | None,
    username: str | None,
    password: str | None,
) -> Server:
    """The server from `smtp_url` or `host`; explicit settings win over the URL's, and
    contradictions (smtps:// with security starttls, say) are refused rather than guessed at."""
    if (smtp_url is None) == (host is None):
        raise TaskFailed("give exactly one of smtp_url and host")
    url_port: int | None = None
    if smtp_url is not None:
        try:
            url = URL(smtp_url)
        except (TypeError, ValueError):
            url = None
        if url is None or url.scheme not in ("smtp", "smtps") or not url.host:
            # The URL usually holds a password: say what is wrong, never what it is.
            raise TaskFailed(f"smtp_url must look like {URL_FORM}")
        unknown = sorted(set(url.query) - {"security"})
        if unknown:
            raise TaskFailed(f"smtp_url: unknown parameter {', '.join(unknown)}; only security is understood")
        implied = {"smtps": "ssl"}.get(url.scheme)
        for source, value in (("smtp_url's security parameter", url.query.get("security")), ("security", security)):
            if value is None:
                continue
            if value not in SECURITY_MODES:
                raise TaskFailed(f"{source} must be one of {', '.join(SECURITY_MODES)}; got {value}")
            if implied is not None and value != implied:
                raise TaskFailed(f"smtp_url says security {implied} but {source} says {value}")
            implied = value
        security = implied
        host, url_port = url.host, url.explicit_port
        username = username if username is not None else url.user
        password = password if password is not None else url.password
    elif security is not None and security not in SECURITY_MODES:
        raise TaskFailed(f"security must be one of {', '.join(SECURITY_MODES)}; got {security}")
    assert host is not None
    mode = security or "starttls"
    if password is not None and username is None:
        raise TaskFailed("a password was given without a username")
    return Server(host, port or url_port or SMTP_PORTS[mode], mode, username, password)


def parse_addresses(entries: Sequence[str], what: str) -> list[Mailbox]:
    """Mailboxes from texts like "Ann <ann@example.com>, bob@example.com"."""
    mailboxes: list[Mailbox] = []
    for entry in entries:
        if "\r" in entry or "\n" in entry:
            raise TaskFailed(f"{what}: an address must not contain line breaks")
        parsed = email.utils.getaddresses([entry])
        if not parsed or any(not address or address.count("@") != 1 or " " in address for _, address in parsed):
            raise TaskFailed(f"{what}: {entry!r} is not an email address")
        mailboxes.extend(parsed)
    return mailboxes


def _header(mailboxes: list[Mailbox]) -> str:
    return ", ".join(email.utils.formataddr(mailbox) for mailbox in mailboxes)


def build_message(
    *,
    sender: Mailbox,
    to: list[Mailbox],
    cc: list[Mailbox],
    reply_to: list[Mailbox],
    subject: str,
    text: str | None,
    html: str | None,
    attachments: list[Path],
) -> EmailMessage:
    """The message: text and HTML as multipart/alternative, attachments around them. Bcc
    recipients are not in it: they travel in the envelope only."""
    if text is None and html is None:
        raise TaskFailed("give text, html or both: the message needs a body")
    message = EmailMessage(policy=_MESSAGE_POLICY)
    try:
        message["From"] = email.utils.formataddr(sender)
        if to:
            message["To"] = _header(to)
        if cc:
            message["Cc"] = _header(cc)
        if reply_to:
            message["Reply-To"] = _header(reply_to)
        message["Subject"] = subject
        message["Date"] = email.utils.formatdate(usegmt=True)
        message["Message-ID"] = email.utils.make_msgid(domain=sender[1].rpartition("@")[2])
    except ValueError as exc:  # a line break in a header value
        raise TaskFailed(f"the message headers are not valid: {exc}") from None
    if text is not None:
        message.set_content(text)
        if html is not None:
            message.add_alternative(html, subtype="html")
    elif html is not None:
        message.set_content(html, subtype="html")
    for path in attachments:
        kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
        maintype, _, subtype = kind.partition("/")
        message.add_attachment(path.read_bytes(), maintype=maintype, subtype=subtype, filename=path.name)
    return message


async def tls_context(ca_cert: str | None, verify: bool) -> ssl.SSLContext:
    """System CAs, or only `ca_cert` when given; no checks at all when `verify` is off."""

    def build() -> ssl.SSLContext:
        try:
            context = ssl.create_default_context(cadata=ca_cert) if ca_cert else ssl.create_default_context()
        except ssl.SSLError as exc:
            raise TaskFailed(f"ca_cert is not a PEM certificate ({exc.reason})") from None
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    return await asyncio.to_thread(build)  # loading the system CAs reads files


async def deliver(
    server: Server,
    *,
    tls: ssl.SSLContext,
    timeout: float,
    shown_timeout: str,
    sender: str,
    recipients: list[str],
    message: EmailMessage,
    log: TaskLogger,
) -> None:
    """One SMTP session within `timeout`, or TaskFailed saying which step failed."""
    import aiosmtplib

    try:
        async with asyncio.timeout(timeout):
            await _session(server, tls, timeout, sender, recipients, message, log)
    except TaskFailed:
        raise
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise _failure(exc, server, shown_timeout) from None


async def _session(
    server: Server,
    tls: ssl.SSLContext,
    timeout: float,
    sender: str,
    recipients: list[str],
    message: EmailMessage,
    log: TaskLogger,
) -> None:
    """Connect, secure, log in, MAIL and RCPT; DATA only when every recipient was accepted.
    The connection is closed however the session ends, cancellation included."""
    import aiosmtplib

    smtp = aiosmtplib.SMTP(
        hostname=server.host,
        port=server.port,
        use_tls=server.security == "ssl",
        start_tls=server.security == "starttls",
        tls_context=tls,
        timeout=timeout,
    )
    try:
        await smtp.connect()
        if server.username is not None:
            await smtp.login(server.username, server.password or "")
        utf8 = not all(text.isascii() for text in (sender, *recipients))
        if utf8 and not smtp.supports_extension("smtputf8"):
            raise TaskFailed(f"{server.label} does not accept non-ASCII addresses (no SMTPUTF8)")
        encoding = "utf-8" if utf8 else "ascii"
        await smtp.mail(sender, options=["SMTPUTF8"] if utf8 else [], encoding=encoding)
        refused = []
        for recipient in recipients:
            try:
                await smtp.rcpt(recipient, encoding=encoding)
            except aiosmtplib.SMTPRecipientRefused as exc:
                refused.append(f"{exc.recipient} ({exc.code} {exc.message})")
        if refused:
            await smtp.rset()
            plural = "s" if len(refused) > 1 else ""
            raise TaskFailed(f"{server.label} refused recipient{plural} {', '.join(refused)}; nothing was sent")
        flat = message.as_bytes(policy=email.policy.SMTPUTF8 if utf8 else email.policy.SMTP)
        response = await smtp.data(flat)
        log.info(f"{server.label} accepted the message: {response.code} {response.message}")
        try:
            await smtp.quit()
        except aiosmtplib.SMTPException:
            pass  # the message is accepted; a rude goodbye changes nothing
    finally:
        smtp.close()


def _certificate_failure(server: Server, error: ssl.SSLCertVerificationError) -> TaskFailed:
    return TaskFailed(
        f"{server.label}: its TLS certificate could not be verified ({error.verify_message}); "
        "give its CA in ca_cert, or set verify_tls: false only for a server you trust"
    )


def _refusal(exc: aiosmtplib.SMTPResponseException, server: Server) -> str:
    """What an error reply turned down, then the reply itself: `refused the sender a@b: 550 …`."""
    import aiosmtplib

    reply = f"{exc.code} {exc.message}"
    if isinstance(exc, aiosmtplib.SMTPAuthenticationError):
        return f"refused the login of {server.username}: {reply}"
    if isinstance(exc, aiosmtplib.SMTPSenderRefused):
        return f"refused the sender {exc.sender}: {reply}"
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return f"refused the message: {reply}"
    return f"answered {reply}"


def _failure(exc: Exception, server: Server, shown_timeout: str) -> TaskFailed:
    """What went wrong, for the operator; never the password."""
    import aiosmtplib

    cause = (exc.__cause__ or exc.__context__) if isinstance(exc, aiosmtplib.SMTPConnectError) else exc
    if isinstance(exc, (TimeoutError, aiosmtplib.SMTPTimeoutError)):
        return TaskFailed(f"{server.label} did not answer within {shown_timeout}")
    if isinstance(cause, ssl.SSLCertVerificationError):
        return _certificate_failure(server, cause)
    if isinstance(cause, ssl.SSLError):
        return TaskFailed(
            f"{server.label}: TLS failed ({cause.reason}); is security: {server.security} right for port {server.port}?"
        )
    if isinstance(exc, aiosmtplib.SMTPConnectError):
        reason = cause.strerror if isinstance(cause, OSError) and cause.strerror else exc.message
        return TaskFailed(f"could not connect to {server.label}: {reason}")
    if isinstance(exc, aiosmtplib.SMTPServerDisconnected):
        return TaskFailed(f"{server.label} closed the connection unexpectedly")
    if isinstance(exc, aiosmtplib.SMTPResponseException):
        return TaskFailed(f"{server.label} {_refusal(exc, server)}")
    if isinstance(exc, aiosmtplib.SMTPException):
        return TaskFailed(f"{server.label}: {exc.message}")
    reason = exc.strerror if isinstance(exc, OSError) else None
    return TaskFailed(f"could not talk to {server.label}: {reason or type(exc).__name__}")

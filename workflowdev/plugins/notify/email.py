"""notify.email: mail through an SMTP server, with attachments from the working directory."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from workflowdev.engine.plugin import DURATION_SCHEMA
from workflowdev.engine.plugin import JSON
from workflowdev.engine.plugin import Manifest
from workflowdev.engine.plugin import Plugin
from workflowdev.engine.plugin import TaskContext
from workflowdev.engine.plugin import TaskFailed
from workflowdev.engine.plugin import as_text
from workflowdev.engine.plugin import parse_timeout
from workflowdev.plugins._notify_http import DEFAULT_TIMEOUT
from workflowdev.plugins._notify_smtp import SECURITY_MODES
from workflowdev.plugins._notify_smtp import Mailbox
from workflowdev.plugins._notify_smtp import build_message
from workflowdev.plugins._notify_smtp import deliver
from workflowdev.plugins._notify_smtp import parse_addresses
from workflowdev.plugins._notify_smtp import server_from
from workflowdev.plugins._notify_smtp import tls_context
from workflowdev.plugins._paths import confinement
from workflowdev.plugins._toolkit import flag_schema
from workflowdev.plugins._toolkit import import_client
from workflowdev.plugins._toolkit import object_schema
from workflowdev.plugins._toolkit import read_flag
from workflowdev.plugins._toolkit import read_optional_text
from workflowdev.plugins._toolkit import task_example
from workflowdev.plugins.notify._common import TEXT
from workflowdev.plugins.notify._common import recipients_schema

# -- notify.email ---------------------------------------------------------------------------------


def _port(value: JSON) -> int | None:
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 65535:
        raise TaskFailed(f"port must be a port number from 1 to 65535, got {as_text(value)}")
    return value


def _mailboxes(properties: Mapping[str, JSON], name: str) -> list[Mailbox]:
    value = properties.get(name)
    if value is None:
        return []
    entries = value if isinstance(value, list) else [value]
    if not all(isinstance(entry, str) for entry in entries):
        raise TaskFailed(f"{name} must be an address or a list of addresses, got {as_text(value)}")
    return parse_addresses(entries, name)


def _attachments(ctx: TaskContext, value: JSON) -> list[Path]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TaskFailed(f"attachments must be a list of file paths, got {as_text(value)}")
    places = confinement(ctx)
    paths = []
    for raw in value:
        path = places.resolve(raw, what="attachment")
        if not path.is_file():
            raise TaskFailed(f"there is no file at attachment path {raw}")
        paths.append(path)
    return paths


class Email(Plugin):
    """Send an email through an SMTP server."""

    manifest: ClassVar[Manifest] = Manifest(
        id="notify.email",
        name="Send an email",
        category="notify",
        description=(
            "Sends an email through an SMTP server: a text part, an HTML part, or both as "
            "multipart/alternative, with optional attachments from the working directory. "
            "Security is STARTTLS by default (the server must offer it), `ssl` for implicit TLS "
            "(smtps://, port 465), or `none`; certificates are verified against the system CAs, "
            "or only `ca_cert` when given. Delivery is all or nothing: if the server refuses any "
            "recipient, nothing is sent and the task fails naming it. Bcc recipients are in the "
            "envelope only. Needs the `connectors` extra."
        ),
        input_schema=object_schema(
            {
                "smtp_url": {
                    "type": "string",
                    "pattern": "^[Ss][Mm][Tt][Pp][Ss]?://",
                    "description": (
                        "smtp://user:password@host:587 (STARTTLS unless told otherwise) or "
                        "smtps://user:password@host:465 (SSL); usually a credential: `${SMTP_URL}`, so "
                        "the URL may also say `?security=none` (or starttls, ssl). Percent-encode special "
                        "characters in the user and password. Or give `host`."
                    ),
                },
                "host": {**TEXT, "description": "The SMTP server's host name, instead of smtp_url."},
                "port": {
                    "anyOf": [
                        {"type": "integer", "minimum": 1, "maximum": 65535},
                        {"type": "string", "pattern": "^[0-9]+$"},
                    ],
                    "description": "The server's port; default from smtp_url, else 587 (starttls), 465 (ssl) or 25 (none).",
                },
                "username": {**TEXT, "description": "Log in as this user (overrides the one in smtp_url)."},
                "password": {**TEXT, "description": "The password, from a credential: `${SMTP_PASSWORD}`."},
                "security": {
                    "type": "string",
                    "enum": list(SECURITY_MODES),
                    "description": (
                        "starttls (default; upgrade a plain connection, refuse servers that cannot), "
                        "ssl (TLS from the first byte; implied by smtps://) or none (plain text: "
                        "only on a network you trust)."
                    ),
                },
                "verify_tls": flag_schema(
                    True, "Check the server's certificate. Turn off only for a server you trust."
                ),
                "ca_cert": {
                    **TEXT,
                    "description": "PEM certificate(s) of the CA that signed the server's certificate, for a private CA; the system CAs are then not used.",
                },
                "from": {**TEXT, "description": "The sender: `alerts@example.com` or `Alerts <alerts@example.com>`."},
                "to": recipients_schema("Recipient(s): an address, a comma-separated list, or a list."),
                "cc": recipients_schema("Copy recipient(s), shown in the message."),
                "bcc": recipients_schema("Blind-copy recipient(s): in the envelope, not in the message."),
                "reply_to": {**TEXT, "description": "Where replies go, when not to the sender."},
                "subject": {"type": "string", "description": "The subject line."},
                "text": {"type": "string", "description": "The plain-text body."},
                "html": {"type": "string", "description": "The HTML body; with `text`, the two are alternatives."},
                "attachments": {
                    "type": "array",
                    "items": TEXT,
                    "description": "Files to attach: paths in the execution's working directory.",
                },
                "timeout": {
                    **DURATION_SCHEMA,
                    "default": DEFAULT_TIMEOUT,
                    "description": "How long the whole SMTP session may take: 500ms, 30s, 10m, PT30S or seconds.",
                },
            },
            ["from", "subject"],
        ),
        output_schema=object_schema(
            {
                "accepted": {
                    "type": "array",
                    "items": {"type": "string"},
                    "description": "The recipients' addresses (to, cc and bcc) the server accepted: all of them.",
                },
                "message_id": {"type": "string", "description": "The Message-ID header of the message sent."},
            },
            ["accepted", "message_id"],
        ),
        examples=(
            task_example(
                "mail_report",
                "notify.email",
                """
                smtp_url: ${SMTP_URL}
                from: Reports <reports@example.com>
                to: [ops@example.com]
                subject: Nightly import
                text: 1,204 rows imported.
                html: <p><b>1,204</b> rows imported.</p>
                """,
            ),
        ),
    )

    async def run(self, ctx: TaskContext, properties: Mapping[str, JSON]) -> Mapping[str, JSON]:
        import_client("aiosmtplib")  # only to tell a missing extra apart from other failures
        host = properties.get("host")
        server = server_from(
            smtp_url=read_optional_text(properties, "smtp_url"),
            host=None if host is None else as_text(host),
            port=_port(properties.get("port")),
            security=read_optional_text(properties, "security"),
            username=read_optional_text(properties, "username"),
            password=read_optional_text(properties, "password"),
        )
        deadline = parse_timeout(properties.get("timeout", DEFAULT_TIMEOUT))
        senders = _mailboxes(properties, "from")
        if len(senders) != 1:
            raise TaskFailed("from must be exactly one address")
        to, cc, bcc = (_mailboxes(properties, name) for name in ("to", "cc", "bcc"))
        recipients = list(dict.fromkeys(address for _, address in to + cc + bcc))
        if not recipients:
            raise TaskFailed("give at least one recipient in to, cc or bcc")
        message = await asyncio.to_thread(  # attachments are read from disk
            build_message,
            sender=senders[0],
            to=to,
            cc=cc,
            reply_to=_mailboxes(properties, "reply_to"),
            subject=as_text(properties.get("subject", "")),
            text=read_optional_text(properties, "text"),
            html=read_optional_text(properties, "html"),
            attachments=_attachments(ctx, properties.get("attachments")),
        )
        tls = await tls_context(read_optional_text(properties, "ca_cert"), read_flag(properties, "verify_tls", True))
        await deliver(
            server,
            tls=tls,
            timeout=deadline.seconds,
            shown_timeout=deadline.text,
            sender=senders[0][1],
            recipients=recipients,
            message=message,
            log=ctx.log,
        )
        return {"accepted": recipients, "message_id": str(message["Message-ID"])}

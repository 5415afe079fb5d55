"""Inbound email: SES receipt notifications published by a receipt rule's SNS action.

The SNS `Message` is a JSON document with `notificationType` "Received", `mail` (the
envelope and common headers), `receipt` (recipients, verdicts, the action) and `content`,
the raw MIME message as UTF-8 text or Base64 (the action's `encoding`). Only the SNS
action includes `content`, and it bounces mail over 150 KB, which needs an S3 action
(https://docs.aws.amazon.com/ses/latest/DeveloperGuide/receiving-email-action-sns.html).

The sender counts as verified by the channel only when DMARC passed. SES computes SPF
on the envelope sender and DKIM on the signing domain, and only DMARC ties either of
them to the From address: without it, anyone who signs mail for a domain of their own
could claim a verified identity for someone else's address. Mail from domains that
publish no DMARC policy is therefore a claim, as an email typed into a form is.
"""

import base64
import binascii
import email
import email.policy
import re
from dataclasses import dataclass
from datetime import datetime
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from html.parser import HTMLParser
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.agencies import AgencyConfig
from chalicelib.channels.validation import validate
from chalicelib.clock import parse_utc
from chalicelib.errors import ValidationError
from chalicelib.journey.models import Identity, InboundMessage
from chalicelib.journey.references import find_references

EMAIL = "email"

PASS = "PASS"  # noqa: S105 - an SES verdict, not a password
FAIL = "FAIL"
GRAY = "GRAY"
PROCESSING_FAILED = "PROCESSING_FAILED"

UTF8 = "UTF8"
BASE64 = "BASE64"

# Bodies are stored on the contact item, and DynamoDB items are limited to 400 KB, so the
# text is cut at this many characters (at most 80 KB of UTF-8).
MAX_BODY_LENGTH = 20_000

NonEmpty = Annotated[str, Field(min_length=1)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class VerdictPayload(_Wire):
    status: NonEmpty


class ActionPayload(_Wire):
    type: str
    encoding: str | None = None


class ReceiptPayload(_Wire):
    timestamp: str | None = None
    recipients: list[NonEmpty] = Field(min_length=1)
    spamVerdict: VerdictPayload | None = None  # noqa: N815 - wire name
    virusVerdict: VerdictPayload | None = None  # noqa: N815
    spfVerdict: VerdictPayload | None = None  # noqa: N815
    dkimVerdict: VerdictPayload | None = None  # noqa: N815
    dmarcVerdict: VerdictPayload | None = None  # noqa: N815
    dmarcPolicy: str | None = None  # noqa: N815
    action: ActionPayload


class CommonHeadersPayload(_Wire):
    sender: list[str] = Field(default=[], alias="from")
    to: list[str] = []
    subject: str | None = None
    messageId: str | None = None  # noqa: N815


class MailPayload(_Wire):
    timestamp: NonEmpty
    source: str
    messageId: NonEmpty  # noqa: N815
    destination: list[str] = []
    commonHeaders: CommonHeadersPayload = Field(default_factory=CommonHeadersPayload)  # noqa: N815


class NotificationPayload(_Wire):
    notificationType: Literal["Received"]  # noqa: N815
    mail: MailPayload
    receipt: ReceiptPayload
    content: str | None = None


@dataclass(frozen=True)
class EmailVerdicts:
    """SES's checks of a message, each PASS, FAIL, GRAY, PROCESSING_FAILED or None when absent."""

    spam: str | None
    virus: str | None
    spf: str | None
    dkim: str | None
    dmarc: str | None
    # The sending domain's DMARC policy: "none", "quarantine" or "reject". SES sends it
    # only when DMARC failed.
    dmarc_policy: str | None = None

    @property
    def is_quarantined(self) -> bool:
        """Whether the spam or virus check failed, so no one should read the message unwarned."""
        return FAIL in (self.spam, self.virus)

    @property
    def sender_verified(self) -> bool:
        """Whether DMARC passed, which needs SPF or DKIM aligned with the From domain."""
        return self.dmarc == PASS and PASS in (self.spf, self.dkim)


@dataclass(frozen=True)
class EmailAttachment:
    """An attachment as listed on the timeline, without its bytes."""

    filename: str | None
    content_type: str
    # Decoded size in bytes.
    size: int


@dataclass(frozen=True)
class InboundEmail:
    """A received email, parsed from SES's notification and the raw MIME message."""

    # SES's id of the received message, the same in every redelivery of the notification.
    ses_message_id: str
    received_at: datetime
    # The From address, trimmed and lower-cased, and its display name.
    sender: str
    sender_name: str | None
    # The agency address the message was delivered to: the first envelope recipient that
    # matched the receipt rule, lower-cased. `recipients` lists all of them.
    recipient: str
    recipients: tuple[str, ...]
    subject: str
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    # The new text of the message, without quoted history or signature, or the whole
    # text when nothing is left above the history (a bare forward, say).
    text: str
    # The whole text body, with quoted history and signature.
    full_text: str
    attachments: tuple[EmailAttachment, ...]
    verdicts: EmailVerdicts
    # Valid case references in the subject, in order of appearance.
    case_references: tuple[str, ...]

    @property
    def is_quarantined(self) -> bool:
        return self.verdicts.is_quarantined

    @property
    def identity(self) -> Identity:
        return Identity(EMAIL, self.sender, verified=self.verdicts.sender_verified)


def parse_notification(message: Any) -> InboundEmail:
    """Parse the decoded `Message` of an SES receipt notification and its raw MIME content.

    Raises ValidationError naming the field at fault, including a missing `content`, which
    only notifications of actions other than SNS lack.
    """
    notification = validate(NotificationPayload, message)
    mime = email.message_from_bytes(_raw_message(notification), policy=email.policy.default)
    sender, sender_name = _sender(mime, notification.mail)
    full_text, body_part = _body_text(mime)
    subject = _subject(mime, notification.mail.commonHeaders)
    return InboundEmail(
        ses_message_id=notification.mail.messageId,
        received_at=_received_at(notification.mail.timestamp),
        sender=sender,
        sender_name=sender_name,
        recipient=notification.receipt.recipients[0].strip().lower(),
        recipients=tuple(address.strip().lower() for address in notification.receipt.recipients),
        subject=subject,
        message_id=_header_text(mime, "Message-ID") or notification.mail.commonHeaders.messageId,
        in_reply_to=_first_message_id(_header_text(mime, "In-Reply-To")),
        references=tuple(_message_ids(_header_text(mime, "References"))),
        text=strip_reply(full_text) or full_text,
        full_text=full_text,
        attachments=tuple(_attachments(mime, body_part)),
        verdicts=_verdicts(notification.receipt),
        case_references=tuple(find_references(subject)),
    )


def to_inbound(message: InboundEmail, agency: AgencyConfig) -> InboundMessage:
    """Build the journey's InboundMessage. Callers check `is_quarantined` before calling it.

    The body starts with the subject line, so that a case reference quoted only in the
    subject is found where the journey looks for references.
    """
    body = f"{message.subject}\n\n{message.text}" if message.subject else message.text
    attachments = [
        {"filename": item.filename, "content_type": item.content_type, "size": item.size}
        for item in message.attachments
    ]
    content = {
        "subject": message.subject,
        "message_id": message.message_id,
        "references": list(message.references),
        "attachments": attachments,
        "case_references": list(message.case_references),
        "quarantined": message.is_quarantined,
    }
    return InboundMessage(
        agency=agency,
        channel=EMAIL,
        external_id=message.ses_message_id,
        body=body[:MAX_BODY_LENGTH],
        occurred_at=message.received_at,
        sender=message.identity,
        content_kind="media" if attachments and not message.text else "text",
        content=content,
        reply_to_external_id=message.in_reply_to,
        display_name=message.sender_name,
        thread_id=_first_message_id(message.message_id),
    )


def strip_reply(text: str) -> str:
    """Return the text above the quoted history and signature, without lines quoted with ">".

    History starts at an attribution line ("On ... wrote:", "El ... escribió:", "Em ...
    escreveu:", possibly wrapped over two lines), an "-----Original Message-----"
    separator or an Outlook header block ("From:" or "De:" followed by "Sent:" or
    "Enviado:"). A signature starts at the "-- " line of RFC 3676.
    """
    lines = text.split("\n")
    new_lines = []
    for index, line in enumerate(lines):
        following = lines[index + 1].strip() if index + 1 < len(lines) else ""
        if _starts_history(line, following):
            break
        if not line.lstrip().startswith(">"):
            new_lines.append(line.rstrip())
    return _BLANK_LINES.sub("\n\n", "\n".join(new_lines)).strip()


def html_to_text(html: str) -> str:
    """Return the visible text of an HTML body, one line per block, blockquotes prefixed "> "."""
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    return parser.text()


_ATTRIBUTION = re.compile(r"(on|el|em)\s.*\b(wrote|escribió|escreveu)\s*:", re.IGNORECASE)
_ATTRIBUTION_START = re.compile(r"(on|el|em)\s", re.IGNORECASE)
_ORIGINAL_MESSAGE = re.compile(
    r"-{2,}\s*(original message|mensaje original|mensagem original)\s*-{2,}", re.IGNORECASE
)
_HEADER_FROM = re.compile(r"(from|de):\s", re.IGNORECASE)
_HEADER_AFTER_FROM = re.compile(r"(sent|enviado|enviada|date|fecha|data):\s", re.IGNORECASE)
_BLANK_LINES = re.compile(r"\n{3,}")
_MESSAGE_ID = re.compile(r"<[^<>\s]+>")


def _starts_history(line: str, following: str) -> bool:
    stripped = line.strip()
    if line.rstrip() == "--":
        return True
    if _ORIGINAL_MESSAGE.fullmatch(stripped) or _ATTRIBUTION.fullmatch(stripped):
        return True
    if _ATTRIBUTION_START.match(stripped) and following:
        # Clients wrap long attributions, leaving "wrote:" alone on the next line.
        return _ATTRIBUTION.fullmatch(f"{stripped} {following}") is not None
    return bool(_HEADER_FROM.match(stripped) and _HEADER_AFTER_FROM.match(following))


class _HtmlText(HTMLParser):
    # Elements that start a new line of text.
    _BLOCK_NAMES = (
        "address article blockquote br div dl dt dd h1 h2 h3 h4 h5 h6 hr li ol p pre "
        "section table td th tr ul"
    )
    _BLOCKS = frozenset(_BLOCK_NAMES.split())
    _HIDDEN = frozenset({"head", "script", "style", "title"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self.current: list[str] = []
        self.quote_depth = 0
        self.line_depth = 0
        self.hidden_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in self._HIDDEN:
            self.hidden_depth += 1
        elif tag in self._BLOCKS:
            self._end_line()
        if tag == "blockquote":
            self.quote_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in self._HIDDEN:
            self.hidden_depth = max(0, self.hidden_depth - 1)
        elif tag in self._BLOCKS:
            self._end_line()
        if tag == "blockquote":
            self.quote_depth = max(0, self.quote_depth - 1)

    def handle_data(self, data: str) -> None:
        if self.hidden_depth:
            return
        if not self.current:
            self.line_depth = self.quote_depth
        self.current.append(re.sub(r"\s+", " ", data))

    def text(self) -> str:
        self._end_line()
        return "\n".join(self.lines)

    def _end_line(self) -> None:
        line = "".join(self.current).strip()
        if line:
            self.lines.append("> " * self.line_depth + line)
        self.current = []


def _raw_message(notification: NotificationPayload) -> bytes:
    content = notification.content
    if content is None:
        raise ValidationError(
            "content: is missing. Only a receipt rule's SNS action includes the message, and "
            "it accepts mail up to 150 KB. Larger mail needs an S3 action and its own handler",
            field="content",
        )
    # The notification says UTF8 or BASE64. The receipt rule's API spells them UTF-8 and Base64.
    encoding = (notification.receipt.action.encoding or UTF8).upper().replace("-", "")
    if encoding == BASE64:
        try:
            return base64.b64decode("".join(content.split()), validate=True)
        except binascii.Error as error:
            raise ValidationError("content: is not valid Base64", field="content") from error
    if encoding == UTF8:
        return content.encode("utf-8", errors="replace")
    raise ValidationError(
        f"receipt.action.encoding: expected {UTF8} or {BASE64}, got {encoding!r:.20}",
        field="receipt.action.encoding",
    )


def _sender(mime: EmailMessage, mail: MailPayload) -> tuple[str, str | None]:
    """Return the From address and display name, from the MIME header or SES's copy of it."""
    for raw in (_header_text(mime, "From"), *mail.commonHeaders.sender):
        address = _first_address(raw)
        if address is not None:
            return address.addr_spec.strip().lower(), address.display_name or None
    raise ValidationError(
        "mail.commonHeaders.from: expected an email address such as name@example.org",
        field="mail.commonHeaders.from",
    )


def _first_address(raw: str | None) -> Address | None:
    if not raw:
        return None
    try:
        addresses = email.policy.default.header_factory("From", raw).addresses
    except (HeaderParseError, IndexError, ValueError):
        return None
    if addresses and "@" in addresses[0].addr_spec:
        return addresses[0]
    return None


def _subject(mime: EmailMessage, headers: CommonHeadersPayload) -> str:
    subject = _header_text(mime, "Subject") or headers.subject or ""
    return " ".join(subject.split())


def _header_text(mime: EmailMessage, name: str) -> str | None:
    try:
        value = mime[name]
    except (HeaderParseError, IndexError, ValueError):
        return None
    text = _repair_8bit(str(value)).strip() if value is not None else ""
    return text or None


def _repair_8bit(text: str) -> str:
    """Decode raw UTF-8 bytes in a header, which the bytes parser keeps as surrogate escapes.

    RFC 6532 allows UTF-8 in headers, and many senders put it there unencoded.
    """
    if not any("\udc80" <= character <= "\udcff" for character in text):
        return text
    return text.encode("ascii", errors="surrogateescape").decode("utf-8", errors="replace")


def _first_message_id(value: str | None) -> str | None:
    ids = _message_ids(value)
    return ids[0] if ids else value


def _message_ids(value: str | None) -> list[str]:
    return _MESSAGE_ID.findall(value or "")


def _body_text(mime: EmailMessage) -> tuple[str, EmailMessage | None]:
    """Return the text body and the part it came from, preferring text/plain to text/html."""
    part = mime.get_body(preferencelist=("plain",))
    if part is not None:
        return _normalize_newlines(_part_text(part)), part
    part = mime.get_body(preferencelist=("html",))
    if part is not None:
        return html_to_text(_part_text(part)), part
    return "", None


def _part_text(part: EmailMessage) -> str:
    """Decode a text part with its charset, reading an undeclared or ASCII charset as UTF-8.

    ASCII is a subset of UTF-8, and 8-bit text labelled ASCII or not labelled at all is
    nearly always UTF-8. Text that its charset cannot decode is decoded as UTF-8 with
    replacement characters rather than dropped.
    """
    payload = part.get_payload(decode=True) or b""
    charset = part.get_content_charset()
    if charset in (None, "us-ascii", "ascii"):
        charset = "utf-8"
    try:
        return payload.decode(charset)
    except (LookupError, UnicodeDecodeError):
        return payload.decode("utf-8", errors="replace")


def _normalize_newlines(text: str) -> str:
    return text.replace("\r\n", "\n").replace("\r", "\n")


def _attachments(mime: EmailMessage, body_part: EmailMessage | None) -> list[EmailAttachment]:
    found = []
    for part in _leaf_parts(mime):
        if part is body_part or _is_alternative_body(part):
            continue
        found.append(
            EmailAttachment(
                filename=_repair_8bit(part.get_filename() or "") or None,
                content_type=part.get_content_type(),
                size=_decoded_size(part),
            )
        )
    return found


def _leaf_parts(part: EmailMessage):
    """Yield the non-multipart parts in order; an attached message counts as one part."""
    if part.get_content_maintype() == "multipart":
        for child in part.iter_parts():
            yield from _leaf_parts(child)
    else:
        yield part


def _is_alternative_body(part: EmailMessage) -> bool:
    """Whether the part is a text/plain or text/html rendering of the body, not an attachment."""
    if part.get_content_type() not in ("text/plain", "text/html"):
        return False
    return part.get_content_disposition() != "attachment" and part.get_filename() is None


def _decoded_size(part: EmailMessage) -> int:
    if part.get_content_maintype() == "message":
        return len(part.as_bytes())
    return len(part.get_payload(decode=True) or b"")


def _verdicts(receipt: ReceiptPayload) -> EmailVerdicts:
    def status(verdict: VerdictPayload | None) -> str | None:
        return verdict.status.upper() if verdict else None

    return EmailVerdicts(
        spam=status(receipt.spamVerdict),
        virus=status(receipt.virusVerdict),
        spf=status(receipt.spfVerdict),
        dkim=status(receipt.dkimVerdict),
        dmarc=status(receipt.dmarcVerdict),
        dmarc_policy=receipt.dmarcPolicy,
    )


def _received_at(timestamp: str) -> datetime:
    try:
        return parse_utc(timestamp)
    except ValueError as error:
        raise ValidationError(
            "mail.timestamp: expected an ISO 8601 UTC time", field="mail.timestamp"
        ) from error

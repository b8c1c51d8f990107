"""Reading and writing the e-mails of secure health messaging (MSSanté): MIME on the wire, plain data inside.

:func:`parse` turns the bytes an SMTP client sent into an :class:`InboundMail` (headers decoded from RFC 2047 /
RFC 2231, bodies decoded from base64 / quoted-printable to text, attachments as bytes), or refuses them with
:class:`RejectMail`, whose ``code`` is the SMTP reply the gateway gives. It never lets another exception out,
whatever the bytes: a mail gateway that crashes on a crafted message either loses mail or can be made to loop.

:func:`build` writes an outgoing message (UTF-8, ``multipart/alternative`` for text + HTML inside
``multipart/mixed`` for attachments, CRLF line ends, headers RFC 2047-encoded so any relay accepts it).

:func:`sanitize_html` reduces an HTML body from outside to an allow-list of tags and attributes (nh3, the
Rust ``ammonia`` sanitiser): no script, no styles that load anything, no images or other external references
(tracking pixels tell the sender when a patient reads a message), links limited to http(s)/mailto and opened
without referrer.

Addresses in :class:`InboundMail` are ``addr-spec`` strings (``local@domain``) in lower case: MSSanté
addresses, including ``<matricule INS>@patient.mssante.fr``, are case-insensitive, and comparing them
lowered avoids two mailboxes for one person.
"""

from __future__ import annotations

import codecs
import datetime as dt
import functools
import html as html_lib
import mimetypes
import re
import unicodedata
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from email import errors as email_errors
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage, Message, MIMEPart
from email.parser import BytesParser
from email.policy import EmailPolicy
from email.utils import format_datetime
from typing import Any

import nh3

from carnet.errors import ValidationError

__all__ = [
    "MAX_ATTACHMENTS",
    "MAX_MESSAGE_BYTES",
    "InboundMail",
    "MailAttachment",
    "RejectMail",
    "build",
    "html_to_text",
    "parse",
    "sanitize_html",
]

MAX_MESSAGE_BYTES = 25 * 1024 * 1024  # MSSanté operators commonly cap messages at 25 MB (encoded)
MAX_ATTACHMENTS = 100
MAX_PARTS = 500  # MIME parts in total, so a message of a million empty parts is refused early
MAX_DEPTH = 20  # nesting of multiparts / attached messages
MAX_HEADER_ADDRESSES = 500

_BAD_BASE64 = (
    email_errors.InvalidBase64LengthDefect,
    email_errors.InvalidBase64CharactersDefect,
    email_errors.InvalidBase64PaddingDefect,
)
_MSG_ID = re.compile(r"<[^<>\s@]+@[^<>\s@]+>")
_FILENAME_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


# --- model ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MailAttachment:
    """One attached (or inline) file: a safe file name (no path), its declared media type, its decoded bytes."""

    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class InboundMail:
    """A received message, decoded.

    ``envelope_from`` / ``envelope_to`` are the SMTP ``MAIL FROM`` / ``RCPT TO`` (where it is delivered);
    ``from_address``, ``to``, ``cc`` are the header addresses (what the reader sees). ``text`` is the
    ``text/plain`` body with ``\n`` line ends (derived from the HTML when the message has only HTML); ``html`` the raw
    ``text/html`` body, to be passed through :func:`sanitize_html` before it is shown. ``date`` is the
    ``Date`` header, time-zone aware (UTC when it says ``-0000``), or ``None`` if missing or unreadable.
    ``raw_size`` is the size of the message as received, in bytes.
    """

    envelope_from: str
    envelope_to: tuple[str, ...]
    from_address: str
    to: tuple[str, ...]
    cc: tuple[str, ...]
    subject: str
    text: str
    html: str | None
    attachments: tuple[MailAttachment, ...]
    message_id: str | None
    in_reply_to: str | None
    references: tuple[str, ...]
    date: dt.datetime | None
    raw_size: int


class RejectMail(Exception):
    """A message refused: ``code`` is the SMTP reply code (550, 552, 554 permanent; 451 temporary), ``text``
    the reason, in French, given to the sender (it ends up in their bounce)."""

    def __init__(self, code: int, text: str) -> None:
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text

    @property
    def temporary(self) -> bool:
        """True for a 4xx reply: the sender keeps the message and tries again later."""
        return 400 <= self.code < 500

    def smtp_reply(self) -> str:
        """The reply line for the SMTP client, with an RFC 3463 enhanced status code."""
        enhanced = {451: "4.3.0", 550: "5.7.1", 552: "5.3.4", 554: "5.6.0"}.get(self.code)
        text = " ".join(self.text.split())  # a reply is one line
        return f"{self.code} {enhanced} {text}" if enhanced else f"{self.code} {text}"


# --- parsing ----------------------------------------------------------------------------------------------------


def parse(
    raw: bytes,
    *,
    envelope_from: str,
    envelope_to: Sequence[str],
    max_bytes: int = MAX_MESSAGE_BYTES,
    max_attachments: int = MAX_ATTACHMENTS,
) -> InboundMail:
    """Decode ``raw`` (one RFC 5322 message) or raise :class:`RejectMail` saying why it is refused."""
    if len(raw) > max_bytes:
        raise RejectMail(552, f"message trop volumineux : {len(raw)} octets (maximum {max_bytes})")
    if not raw.strip():
        raise RejectMail(554, "message vide")
    try:
        return _parse(raw, envelope_from=envelope_from, envelope_to=envelope_to, max_attachments=max_attachments)
    except RejectMail:
        raise
    except Exception as exc:  # noqa: BLE001 - the stdlib parser has raised odd errors on crafted headers
        raise RejectMail(554, f"message illisible ({type(exc).__name__})") from None


def _parse(raw: bytes, *, envelope_from: str, envelope_to: Sequence[str], max_attachments: int) -> InboundMail:
    msg = BytesParser(policy=_READING).parsebytes(raw)
    if not isinstance(msg, EmailMessage):  # pragma: no cover - an EmailPolicy always builds EmailMessage
        raise RejectMail(554, "message illisible")
    if not any(name.lower() in ("from", "date", "subject", "to", "message-id") for name in msg.keys()):
        raise RejectMail(554, "en-têtes absents : ce n'est pas un message RFC 5322")
    senders = _addresses(msg, "From")
    if not senders:
        raise RejectMail(554, "en-tête From absent ou illisible")
    if len(senders) > 1:
        raise RejectMail(554, "plusieurs adresses dans l'en-tête From")
    parts = _Walk(msg)
    text_part = _body(msg, "plain")
    html_part = _body(msg, "html")
    chosen = {id(p) for p in (text_part, html_part) if p is not None}
    html = _text_of(html_part) if html_part is not None else None
    text = _text_of(text_part) if text_part is not None else (html_to_text(html) if html is not None else "")
    attachments: list[MailAttachment] = []
    for leaf, parent in parts.leaves():
        if id(leaf) in chosen:
            continue
        if parent is not None and parent.get_content_subtype() == "alternative" and leaf.get_filename() is None:
            continue  # another rendering of the body (text/enriched, a second HTML): not a file
        attachments.append(_attachment(leaf, len(attachments) + 1))
        if len(attachments) > max_attachments:
            raise RejectMail(554, f"trop de pièces jointes (maximum {max_attachments})")
    return InboundMail(
        envelope_from=envelope_from.strip().lower(),
        envelope_to=tuple(r.strip().lower() for r in envelope_to),
        from_address=senders[0],
        to=_addresses(msg, "To"),
        cc=_addresses(msg, "Cc"),
        subject=_header(msg, "Subject") or "",
        text=text,
        html=html,
        attachments=tuple(attachments),
        message_id=_msg_id(_header(msg, "Message-ID")),
        in_reply_to=_msg_id(_header(msg, "In-Reply-To")),
        references=tuple(_MSG_ID.findall(_header(msg, "References") or "")),
        date=_date(msg),
        raw_size=len(raw),
    )


@functools.lru_cache(maxsize=2048)
def _header_object(name: str, value: str) -> Any:
    return policy.default.header_fetch_parse(name, value)


class _CachedHeaders(EmailPolicy):
    """``policy.default``, with each header parsed once: the parser and the code below read a part's type,
    disposition and parameters a dozen times, and ``policy.default`` parses the header anew at each read (~60% of
    the time of a parse). Header objects are immutable, so one object per (name, raw value) is safe to share."""

    def header_fetch_parse(self, name: str, value: str) -> Any:
        if hasattr(value, "name"):
            return value
        return _header_object(name, value)


_READING = _CachedHeaders()


class _Walk:
    """The leaves of a message, with their parent, checked against the part-count and depth limits."""

    def __init__(self, msg: Message) -> None:
        self._leaves: list[tuple[Message, Message | None]] = []
        self._count = 0
        self._visit(msg, None, 0)

    def _visit(self, part: Message, parent: Message | None, depth: int) -> None:
        self._count += 1
        if self._count > MAX_PARTS:
            raise RejectMail(554, f"trop de parties MIME (maximum {MAX_PARTS})")
        if depth > MAX_DEPTH:
            raise RejectMail(554, f"imbrication MIME trop profonde (plus de {MAX_DEPTH} niveaux)")
        if part.get_content_maintype() == "multipart":
            children = part.get_payload()
            if not isinstance(children, list):  # a multipart without boundary: its body is not readable
                raise RejectMail(554, "partie multipart sans délimiteur (boundary) lisible")
            for child in children:
                if isinstance(child, Message):
                    self._visit(child, part, depth + 1)
            return
        self._leaves.append((part, parent))  # message/rfc822 stays a leaf: an attached e-mail is a file

    def leaves(self) -> Iterator[tuple[Message, Message | None]]:
        return iter(self._leaves)


def _body(msg: EmailMessage, subtype: str) -> MIMEPart | None:
    part = msg.get_body(preferencelist=(subtype,))
    if part is None or part.get_content_type() != f"text/{subtype}":
        return None
    if part.get_content_disposition() == "attachment" or part.get_filename() is not None:
        return None
    return part


def _payload(part: Message) -> bytes:
    data = part.get_payload(decode=True)
    if any(isinstance(defect, _BAD_BASE64) for defect in part.defects):
        raise RejectMail(554, "contenu base64 corrompu dans une partie du message")
    if data is None:  # only for multiparts, which are never leaves here
        return b""
    if isinstance(data, bytes):
        return data
    return bytes(data)  # pragma: no cover


def _text_of(part: Message) -> str:
    data = _payload(part)
    charset = part.get_content_charset() or "us-ascii"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"  # an unknown charset name ("unknown-8bit"): UTF-8 is the likeliest, errors replaced
    text = data.decode(charset, errors="replace")
    return text.replace("\r\n", "\n").replace("\r", "\n")  # line ends as in Python text, whatever the wire


def _attachment(part: Message, number: int) -> MailAttachment:
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload(0)
        data = inner.as_bytes(policy=policy.SMTP) if isinstance(inner, Message) else b""
        return MailAttachment(_safe_filename(part.get_filename(), number, content_type), content_type, data)
    data = _payload(part)
    return MailAttachment(_safe_filename(part.get_filename(), number, content_type), content_type, data)


def _safe_filename(name: str | None, number: int, content_type: str) -> str:
    """A file name that is only a name: no folders (``../``), no control or reserved characters, not empty."""
    cleaned = ""
    if name:
        name = unicodedata.normalize("NFC", str(name))
        base = re.split(r"[/\\]", name)[-1]
        cleaned = _FILENAME_UNSAFE.sub("_", base).strip(" .")
    if not cleaned:
        ext = mimetypes.guess_extension(content_type) or ".bin"
        cleaned = f"piece-jointe-{number}{ext}"
    if len(cleaned) > 200:
        stem, dot, ext = cleaned.rpartition(".")
        cleaned = (stem[:190] + dot + ext[:9]) if dot and len(ext) <= 9 else cleaned[:200]
    return cleaned


def _header(msg: EmailMessage, name: str) -> str | None:
    value = msg.get(name)
    if value is None:
        return None
    return " ".join(str(value).split())


def _addresses(msg: EmailMessage, name: str) -> tuple[str, ...]:
    found: list[str] = []
    for header in msg.get_all(name) or ():
        for address in getattr(header, "addresses", ()):
            spec = str(address.addr_spec).strip().lower()
            if spec and "@" in spec and spec not in found:
                found.append(spec)
            if len(found) > MAX_HEADER_ADDRESSES:
                raise RejectMail(554, f"trop d'adresses dans l'en-tête {name}")
    return tuple(found)


def _msg_id(value: str | None) -> str | None:
    if not value:
        return None
    found = _MSG_ID.search(value)
    return found.group(0) if found else None


def _date(msg: EmailMessage) -> dt.datetime | None:
    header = msg.get("Date")
    when = getattr(header, "datetime", None)
    if not isinstance(when, dt.datetime):
        return None
    return when if when.tzinfo is not None else when.replace(tzinfo=dt.UTC)


# --- building ---------------------------------------------------------------------------------------------------


def _checked_address(value: str, field: str) -> str:
    value = value.strip()
    try:
        address = Address(addr_spec=value)
    except (ValueError, IndexError, TypeError) as exc:
        raise ValidationError(f"adresse de messagerie invalide : {value!r} ({exc})", field=field) from None
    if not address.username or not address.domain or any(c in value for c in "\r\n <>,;"):
        raise ValidationError(f"adresse de messagerie invalide : {value!r}", field=field)
    return address.addr_spec


def _checked_msg_id(value: str, field: str) -> str:
    if not _MSG_ID.fullmatch(value.strip()):
        raise ValidationError(f"identifiant de message invalide (attendu <gauche@droite>) : {value!r}", field=field)
    return value.strip()


def build(
    *,
    from_address: str,
    to: Sequence[str],
    cc: Sequence[str] = (),
    subject: str,
    text: str,
    html: str | None = None,
    attachments: Sequence[MailAttachment] = (),
    message_id: str,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    date: dt.datetime,
) -> bytes:
    """The bytes of an outgoing message (CRLF line ends), ready for :class:`~carnet.messaging.transport.Transport`.

    Raises :class:`~carnet.errors.ValidationError` for an address, a message id or a date it cannot write.
    """
    if not to and not cc:
        raise ValidationError("un message a au moins un destinataire", field="to")
    if date.tzinfo is None:
        raise ValidationError("la date d'un message porte son fuseau horaire", field="date")
    if any(c in subject for c in "\r\n"):
        raise ValidationError("l'objet d'un message tient sur une ligne", field="subject")
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = _checked_address(from_address, "from_address")
    if to:
        msg["To"] = ", ".join(_checked_address(a, "to") for a in to)
    if cc:
        msg["Cc"] = ", ".join(_checked_address(a, "cc") for a in cc)
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = _checked_msg_id(message_id, "message_id")
    if in_reply_to is not None:
        msg["In-Reply-To"] = _checked_msg_id(in_reply_to, "in_reply_to")
    if references:
        msg["References"] = " ".join(_checked_msg_id(r, "references") for r in references)
    # quoted-printable keeps the message 7-bit: it crosses relays that do not offer 8BITMIME unchanged
    msg.set_content(text, charset="utf-8", cte="quoted-printable")
    if html is not None:
        msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    for attachment in attachments:
        maintype, _, subtype = attachment.content_type.partition("/")
        if not maintype or not subtype or any(c in attachment.content_type for c in " \r\n;"):
            raise ValidationError(f"type de pièce jointe invalide : {attachment.content_type!r}", field="attachments")
        name = _safe_filename(attachment.filename, 1, attachment.content_type)
        # bytes, never str: every file goes out base64-encoded, exactly as given, whatever its charset
        msg.add_attachment(bytes(attachment.data), maintype=maintype, subtype=subtype, filename=name)
    return msg.as_bytes()


# --- HTML -------------------------------------------------------------------------------------------------------

_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "caption", "cite", "code", "col", "colgroup", "dd", "del", "div",
    "dl", "dt", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i", "ins", "kbd", "li", "mark", "ol", "p",
    "pre", "q", "s", "small", "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
    "time", "tr", "u", "ul",
}  # fmt: skip
_ATTRIBUTES = {
    "*": {"title", "lang", "dir", "style"},
    "a": {"href"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align", "scope"},
    "col": {"span"},
    "colgroup": {"span"},
    "ol": {"start", "type"},
    "time": {"datetime"},
}
_STYLE_PROPERTIES = {
    "color", "background-color", "font-weight", "font-style", "text-decoration", "text-align", "font-size",
}  # fmt: skip
# Anything in a style that could fetch or run something: url(), image-set(), @import, IE expression(),
# and CSS escapes, which could spell those words so that a pattern check misses them.
_STYLE_DANGER = re.compile(r"url\s*\(|image-set|image\s*\(|@import|expression|\\|/\*", re.IGNORECASE)


def _filter_attribute(tag: str, attribute: str, value: str) -> str | None:
    if attribute == "style" and _STYLE_DANGER.search(value):
        return None
    return value


def sanitize_html(html: str) -> str:
    """``html`` reduced to the allow-list: safe to insert into a page (no script, no external fetch)."""
    return nh3.clean(
        html,
        tags=_TAGS,
        clean_content_tags={"script", "style", "title", "head", "iframe", "object", "noscript", "template"},
        attributes=_ATTRIBUTES,
        attribute_filter=_filter_attribute,
        strip_comments=True,
        link_rel="noopener noreferrer nofollow",
        url_schemes={"http", "https", "mailto"},
        filter_style_properties=_STYLE_PROPERTIES,
    )


_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr|blockquote|pre|table|ul|ol)\s*>|<br\s*/?>", re.IGNORECASE)


def html_to_text(html: str) -> str:
    """A plain-text reading of an HTML body (line breaks at block ends, every tag and script removed)."""
    marked = _BLOCK_END.sub("\n", html)
    stripped = nh3.clean(marked, tags=set(), clean_content_tags={"script", "style", "title", "head"})
    lines = (" ".join(line.split()) for line in html_lib.unescape(stripped).splitlines())
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip()

"""A one-page letter for post as a PDF, written with plain PDF objects (no rendering library).

PDF 1.4, A4, the standard Helvetica and Helvetica-Bold fonts with WinAnsiEncoding (Windows-1252: every French
letter, « », the euro sign), text only, an exact cross-reference table: readable by any PDF reader and by
``pypdf``'s text extraction. Lines too long for the page are wrapped; a letter that would not fit on one page is
refused (a programming error: the texts are ours).
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass

__all__ = ["Letter", "render_pdf"]

_WIDTH, _HEIGHT = 595, 842  # A4 in points
_MARGIN = 64
_SIZE, _LEADING = 10.5, 14
_WRAP = 92  # characters of Helvetica 10.5 pt between the margins, for French text


@dataclass(frozen=True, slots=True)
class Letter:
    """The parts of a letter: who sends it, to whom (the address block), where and when, the subject, the body
    (paragraphs), a highlighted line (a code, a date), and the closing."""

    sender: tuple[str, ...]
    recipient: tuple[str, ...]
    place_and_date: str
    subject: str
    paragraphs: tuple[str, ...]
    highlight: str = ""
    closing: tuple[str, ...] = ()


def _escape(text: str) -> bytes:
    """A PDF literal string in WinAnsi: backslash and parentheses escaped; a character outside Windows-1252 (there
    should be none in our texts) becomes « ? » rather than breaking the letter."""
    data = text.encode("cp1252", errors="replace")
    return data.replace(b"\\", b"\\\\").replace(b"(", b"\\(").replace(b")", b"\\)")


def _content(letter: Letter) -> bytes:
    lines: list[tuple[str, int, str]] = []  # (font, left edge, text); "" = blank line
    right = _WIDTH // 2 + 40  # the address block, where the window of a DL envelope shows it

    def add(font: str, text: str, x: int = _MARGIN) -> None:
        lines.append((font, x, text))

    for i, part in enumerate(letter.sender):
        add("F2" if i == 0 else "F1", part)
    add("F1", "")
    for part in letter.recipient:
        add("F1", part, right)
    add("F1", "")
    add("F1", letter.place_and_date, right)
    add("F1", "")
    add("F2", letter.subject)
    add("F1", "")
    for paragraph in letter.paragraphs:
        for line in textwrap.wrap(paragraph, _WRAP) or [""]:
            add("F1", line)
        add("F1", "")
    if letter.highlight:
        add("F2", letter.highlight)
        add("F1", "")
    for part in letter.closing:
        add("F1", part)
    if len(lines) * _LEADING > _HEIGHT - 2 * _MARGIN:
        raise ValueError(f"lettre trop longue pour une page : {len(lines)} lignes")
    out = []
    y = _HEIGHT - _MARGIN
    for font, x, text in lines:
        if text:
            out.append(b"BT /%s %.1f Tf %d %d Td (%s) Tj ET" % (font.encode(), _SIZE, x, y, _escape(text)))
        y -= _LEADING
    return b"\n".join(out)


def render_pdf(letter: Letter, *, title: str = "Courrier") -> bytes:
    """The letter as a one-page PDF (bytes)."""
    content = _content(letter)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %d %d] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R /F2 6 0 R >> >> >>" % (_WIDTH, _HEIGHT),
        b"<< /Length %d >>\nstream\n" % len(content) + content + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Title (" + _escape(title) + b") /Producer (Carnet) >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R /Info %d 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        len(objects),
        xref,
    )
    return bytes(out)

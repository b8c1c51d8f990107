"""Reading and writing MSSanté e-mails: decoded headers and bodies, attachments, limits, hostile input, HTML."""

from __future__ import annotations

import base64
import datetime as dt
from email import policy
from email.message import EmailMessage

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from carnet.errors import ValidationError
from carnet.messaging.mime import InboundMail, MailAttachment, RejectMail, build, html_to_text, parse, sanitize_html

DR_MARTIN = "dr.martin@ch-reims.mssante.fr"
PATIENT = "279035121518989@patient.mssante.fr"
WHEN = dt.datetime(2026, 3, 14, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=1)))
PDF = b"%PDF-1.4\n" + bytes(range(256)) * 8 + b"\n%%EOF\n"


def read(raw: bytes, **kwargs: object) -> InboundMail:
    return parse(raw, envelope_from=DR_MARTIN, envelope_to=[PATIENT], **kwargs)  # type: ignore[arg-type]


def crlf(text: str) -> bytes:
    return text.replace("\n", "\r\n").encode("utf-8")


def test_a_message_built_here_reads_back_the_same() -> None:
    raw = build(
        from_address=DR_MARTIN,
        to=[PATIENT],
        cc=["secretariat@ch-reims.mssante.fr"],
        subject="Résultats d'analyse — « bilan » du 14/03",
        text="Bonjour,\nvoici vos résultats. Cordialement, Dr Martin",
        html="<p>Bonjour,</p><p>voici vos <b>résultats</b>.</p>",
        attachments=[
            MailAttachment("compte-rendu é.pdf", "application/pdf", PDF),
            MailAttachment("notes.txt", "text/plain", "accentué, en latin-1".encode("latin-1")),
        ],
        message_id="<msg-1@carnet.example>",
        in_reply_to="<msg-0@ch-reims.mssante.fr>",
        references=["<msg-0@ch-reims.mssante.fr>"],
        date=WHEN,
    )
    assert b"\r\n" in raw and b"\n" not in raw.replace(b"\r\n", b"")
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    raw.decode("ascii")  # headers are RFC 2047-encoded, bodies transfer-encoded: any relay takes it
    mail = read(raw)
    assert mail.from_address == DR_MARTIN
    assert mail.to == (PATIENT,)
    assert mail.cc == ("secretariat@ch-reims.mssante.fr",)
    assert mail.subject == "Résultats d'analyse — « bilan » du 14/03"
    assert mail.text.strip() == "Bonjour,\nvoici vos résultats. Cordialement, Dr Martin"
    assert mail.html is not None and "<b>résultats</b>" in mail.html
    assert [(a.filename, a.content_type) for a in mail.attachments] == [
        ("compte-rendu é.pdf", "application/pdf"),
        ("notes.txt", "text/plain"),
    ]
    assert mail.attachments[0].data == PDF
    assert mail.attachments[1].data == "accentué, en latin-1".encode("latin-1"), "a file is bytes, untouched"
    assert mail.message_id == "<msg-1@carnet.example>"
    assert mail.in_reply_to == "<msg-0@ch-reims.mssante.fr>"
    assert mail.references == ("<msg-0@ch-reims.mssante.fr>",)
    assert mail.date == WHEN
    assert mail.raw_size == len(raw)
    assert mail.envelope_from == DR_MARTIN and mail.envelope_to == (PATIENT,)


def test_the_structure_is_mixed_around_alternative() -> None:
    raw = build(
        from_address=DR_MARTIN,
        to=[PATIENT],
        subject="s",
        text="t",
        html="<p>t</p>",
        attachments=[MailAttachment("a.pdf", "application/pdf", PDF)],
        message_id="<m@x>",
        date=WHEN,
    )
    from email import message_from_bytes

    msg = message_from_bytes(raw, policy=policy.default)
    assert msg.get_content_type() == "multipart/mixed"
    parts = msg.get_payload()
    assert isinstance(parts, list)
    assert [p.get_content_type() for p in parts] == ["multipart/alternative", "application/pdf"]
    assert [p.get_content_type() for p in parts[0].get_payload()] == ["text/plain", "text/html"]


def test_text_only_message_is_a_single_part() -> None:
    raw = build(from_address=DR_MARTIN, to=[PATIENT], subject="s", text="Bonjour", message_id="<m@x>", date=WHEN)
    mail = read(raw)
    assert mail.text.strip() == "Bonjour" and mail.html is None and mail.attachments == ()
    assert b"multipart" not in raw


FOREIGN = crlf(
    """From: =?ISO-8859-1?Q?Dr_Andr=E9_L=E9vy?= <Andre.Levy@CH-Lyon.MSSante.fr>
To: "Patient" <279035121518989@Patient.MSSante.fr>, autre@ch-lyon.mssante.fr
Subject: =?UTF-8?B?Q29tcHRlLXJlbmR1IGQnaW1hZ2VyaWUgw6ljaG9ncmFwaGll?=
Date: Fri, 13 Mar 2026 17:02:11 -0000
Message-ID: <abc.123@ch-lyon.mssante.fr>
References: <a@x> <b@y>
In-Reply-To: <b@y>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="OUTER"

--OUTER
Content-Type: multipart/related; boundary="REL"

--REL
Content-Type: multipart/alternative; boundary="ALT"

--ALT
Content-Type: text/plain; charset=iso-8859-1
Content-Transfer-Encoding: quoted-printable

Madame, ci-joint le compte-rendu de l'=E9chographie.
--ALT
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

"""
    + base64.encodebytes("<p>Madame, ci-joint le compte-rendu de l'échographie.<img src='cid:logo'></p>".encode())
    .decode()
    .replace("\n", "\r\n")
    + """
--ALT
Content-Type: text/enriched

<bold>autre rendu</bold>
--ALT--
--REL
Content-Type: image/png
Content-ID: <logo>
Content-Disposition: inline
Content-Transfer-Encoding: base64

"""
    + base64.b64encode(b"\x89PNG\r\n\x1a\nlogo").decode()
    + """
--REL--
--OUTER
Content-Type: application/pdf; name*=UTF-8''r%C3%A9sultat%20%C3%A9cho.pdf
Content-Disposition: attachment; filename*=UTF-8''r%C3%A9sultat%20%C3%A9cho.pdf
Content-Transfer-Encoding: base64

"""
    + base64.b64encode(PDF).decode()
    + """
--OUTER
Content-Type: message/rfc822
Content-Disposition: attachment; filename="original.eml"

From: someone@ch-lyon.mssante.fr
Subject: the forwarded one

inner body
--OUTER
Content-Type: application/octet-stream
Content-Disposition: attachment; filename="../../etc/passwd"
Content-Transfer-Encoding: base64

cm9vdA==
--OUTER--
"""
)


def test_a_foreign_message_is_decoded_part_by_part() -> None:
    mail = read(FOREIGN)
    assert mail.from_address == "andre.levy@ch-lyon.mssante.fr", "addresses are lower-cased"
    assert mail.to == (PATIENT, "autre@ch-lyon.mssante.fr")
    assert mail.subject == "Compte-rendu d'imagerie échographie"
    assert mail.text.strip() == "Madame, ci-joint le compte-rendu de l'échographie."
    assert mail.html is not None and "échographie" in mail.html
    assert mail.date == dt.datetime(2026, 3, 13, 17, 2, 11, tzinfo=dt.UTC)
    assert mail.message_id == "<abc.123@ch-lyon.mssante.fr>"
    assert mail.references == ("<a@x>", "<b@y>")
    names = [(a.filename, a.content_type) for a in mail.attachments]
    assert names == [
        ("piece-jointe-1.png", "image/png"),  # the inline logo, no name given
        ("résultat écho.pdf", "application/pdf"),  # RFC 2231 name
        ("original.eml", "message/rfc822"),
        ("passwd", "application/octet-stream"),  # the path is dropped
    ]
    assert mail.attachments[0].data == b"\x89PNG\r\n\x1a\nlogo"
    assert mail.attachments[1].data == PDF
    assert b"Subject: the forwarded one" in mail.attachments[2].data
    assert mail.attachments[3].data == b"root"


def test_html_only_message_gets_a_text_reading() -> None:
    raw = crlf(
        "From: a@b.fr\nTo: c@d.fr\nSubject: x\nContent-Type: text/html; charset=utf-8\n\n"
        "<html><head><style>p{}</style></head><body><p>Première&nbsp;ligne</p><p>Deuxième <b>ligne</b></p>"
        "<script>alert(1)</script></body></html>\n"
    )
    mail = read(raw)
    assert mail.html is not None
    assert mail.text == "Première ligne\nDeuxième ligne"


def test_unknown_charset_is_read_as_utf8_with_replacements() -> None:
    raw = crlf("From: a@b.fr\nSubject: x\nContent-Type: text/plain; charset=x-unknown-8bit\n\nd\u00e9j\u00e0\n")
    assert read(raw).text.strip() == "déjà"


@pytest.mark.parametrize(
    ("raw", "code", "reason"),
    [
        (b"", 554, "vide"),
        (b"\r\n\r\n", 554, "vide"),
        (b"just some bytes without headers", 554, "en-têtes"),
        (crlf("Subject: no sender\n\nbody\n"), 554, "From"),
        (crlf("From: a@b.fr, c@d.fr\nSubject: two\n\nbody\n"), 554, "plusieurs"),
        (crlf("From: not an address\nSubject: x\n\nbody\n"), 554, "From"),
        (
            crlf(
                "From: a@b.fr\nContent-Type: multipart/mixed; boundary=B\n\n--B\nContent-Type: application/pdf\n"
                "Content-Transfer-Encoding: base64\n\nJVBERi0xLj\n--B--\n"
            ),
            554,
            "base64",
        ),
    ],
)
def test_malformed_messages_are_refused_with_a_reason(raw: bytes, code: int, reason: str) -> None:
    with pytest.raises(RejectMail) as refused:
        read(raw)
    assert refused.value.code == code
    assert reason in refused.value.text


def test_size_limit_is_552() -> None:
    raw = build(from_address=DR_MARTIN, to=[PATIENT], subject="s", text="x" * 5000, message_id="<m@x>", date=WHEN)
    with pytest.raises(RejectMail) as refused:
        read(raw, max_bytes=1000)
    assert refused.value.code == 552
    assert refused.value.smtp_reply().startswith("552 5.3.4 ")


def test_too_many_attachments_and_too_deep_nesting_are_refused() -> None:
    many = build(
        from_address=DR_MARTIN,
        to=[PATIENT],
        subject="s",
        text="t",
        attachments=[MailAttachment(f"f{i}.bin", "application/octet-stream", b"x") for i in range(6)],
        message_id="<m@x>",
        date=WHEN,
    )
    with pytest.raises(RejectMail, match="pièces jointes"):
        read(many, max_attachments=5)
    deep = "From: a@b.fr\n" + "".join(f"Content-Type: multipart/mixed; boundary=B{i}\n\n--B{i}\n" for i in range(30))
    with pytest.raises(RejectMail, match="imbrication"):
        read(crlf(deep + "Content-Type: text/plain\n\nx\n"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=3000))
def test_arbitrary_bytes_never_escape_as_another_exception(raw: bytes) -> None:
    try:
        mail = read(raw)
    except RejectMail as refused:
        assert refused.code in (552, 554)
    else:
        assert "@" in mail.from_address


_HEADERISH = st.sampled_from(
    [
        b"From: a@b.fr\r\n",
        b"From: =?utf-8?q?=C3=A9?= <a@b.fr>\r\n",
        b"Subject: =?utf-8?b?w6k=?=\r\n",
        b"Subject: =?bogus?x?zz?=\r\n",
        b"Date: 32 Foo 99999 25:61:61 +9999\r\n",
        b"Content-Type: multipart/mixed; boundary=X\r\n",
        b'Content-Type: text/plain; charset="\xff"\r\n',
        b"Content-Transfer-Encoding: base64\r\n",
        b"Content-Transfer-Encoding: quoted-printable\r\n",
        b"Content-Disposition: attachment; filename*=utf-8''%FF%FE\r\n",
        b"Message-ID: <<<>>>\r\n",
        b"To: ,,,@,;:\r\n",
        b"\r\n",
        b"--X\r\n",
        b"--X--\r\n",
        b"=E9=\r\n",
        b"AAAA====\r\n",
    ]
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_HEADERISH, st.binary(max_size=40)), max_size=40))
def test_mail_shaped_garbage_never_escapes_as_another_exception(chunks: list[bytes]) -> None:
    try:
        read(b"".join(chunks))
    except RejectMail as refused:
        assert refused.code in (552, 554) and refused.text


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"from_address": "pas une adresse"}, "from_address"),
        ({"to": ["a@b.fr\r\nBcc: evil@x.fr"]}, "to"),
        ({"to": [], "cc": []}, "to"),
        ({"subject": "two\r\nBcc: evil@x.fr"}, "subject"),
        ({"message_id": "no-brackets"}, "message_id"),
        ({"date": dt.datetime(2026, 1, 1)}, "date"),
        ({"attachments": [MailAttachment("a", "nonsense", b"")]}, "attachments"),
    ],
)
def test_build_refuses_what_it_cannot_write_safely(kwargs: dict[str, object], field: str) -> None:
    base: dict[str, object] = {
        "from_address": DR_MARTIN,
        "to": [PATIENT],
        "subject": "s",
        "text": "t",
        "message_id": "<m@x>",
        "date": WHEN,
    }
    with pytest.raises(ValidationError) as refused:
        build(**{**base, **kwargs})  # type: ignore[arg-type]
    assert refused.value.field == field


def test_rejectmail_reply_is_one_line_with_enhanced_status() -> None:
    assert RejectMail(451, "réessayez\nplus tard").smtp_reply() == "451 4.3.0 réessayez plus tard"
    assert RejectMail(451, "x").temporary and not RejectMail(550, "x").temporary


# --- HTML sanitising -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("dirty", "forbidden"),
    [
        ("<p>hi<script>alert(1)</script></p>", "alert"),
        ('<img src="https://tracker.example/p.gif">', "tracker"),
        ('<a href="javascript:alert(1)">x</a>', "javascript"),
        ('<a href="data:text/html,<script>">x</a>', "data:"),
        ('<p onclick="steal()">x</p>', "onclick"),
        ('<p style="background:url(https://tracker.example/p.gif)">x</p>', "tracker"),
        ('<p style="color:red;background-image:url(x)">x</p>', "url("),
        ('<p style="color:\\75rl(x)">x</p>', "\\75"),
        ('<p style="width:expression(alert(1))">x</p>', "expression"),
        ('<link rel="stylesheet" href="https://evil.example/x.css">', "evil"),
        ("<style>@import 'https://evil.example/x.css';</style>", "evil"),
        ('<iframe src="https://evil.example/"></iframe>', "evil"),
        ('<form action="https://evil.example/"><input name="p"></form>', "evil"),
        ('<svg><use href="https://evil.example/#x"/></svg>', "evil"),
        ('<base href="https://evil.example/">', "evil"),
        ('<meta http-equiv="refresh" content="0;url=https://evil.example/">', "evil"),
        ("<!-- secret comment --><p>x</p>", "secret"),
    ],
)
def test_sanitize_html_removes_active_and_external_content(dirty: str, forbidden: str) -> None:
    assert forbidden not in sanitize_html(dirty)


def test_sanitize_html_keeps_formatting_and_makes_links_safe() -> None:
    clean = sanitize_html(
        '<h2>Résultats</h2><p style="color: red; font-weight: bold">Glycémie <b>élevée</b></p>'
        '<table><tr><td colspan="2">1,2 g/L</td></tr></table><a href="https://www.ameli.fr/">ameli</a>'
    )
    assert "<h2>Résultats</h2>" in clean
    assert 'style="color:red;font-weight:bold"' in clean
    assert '<td colspan="2">1,2 g/L</td>' in clean
    assert 'href="https://www.ameli.fr/"' in clean
    assert 'rel="noopener noreferrer nofollow"' in clean


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("<>/=\"' abcdefghijklmnopqrstuvwxyz:()\\;&#")), max_size=200))
def test_sanitized_html_never_contains_a_script_or_handler(text: str) -> None:
    clean = sanitize_html(text).lower()
    assert "<script" not in clean and "javascript:" not in clean
    assert " on" not in clean.split(">")[0] or "<" not in clean


def test_html_to_text() -> None:
    assert html_to_text("<p>a</p><p>b<br>c</p>") == "a\nb\nc"


def test_message_shapes_from_stdlib_roundtrip() -> None:
    msg = EmailMessage()
    msg["From"] = "Dr Zoé <zoe@cabinet.mssante.fr>"
    msg["Subject"] = "Ordonnance"
    msg.set_content("Voir pièce jointe")
    msg.add_attachment(b"<ClinicalDocument/>", maintype="text", subtype="xml", filename="ordo.xml")
    mail = read(msg.as_bytes())
    assert mail.from_address == "zoe@cabinet.mssante.fr"
    assert mail.attachments == (MailAttachment("ordo.xml", "text/xml", b"<ClinicalDocument/>"),)

"""Safe HTML rendering and text extraction of CDA documents: real ANS examples, injections, PDF/JPEG sniffing."""

from __future__ import annotations

import base64
import re
import struct
from pathlib import Path
from xml.sax.saxutils import escape

import lxml.html
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree

from carnet.record.render import (
    IMAGE_PLACEHOLDER,
    embedded_body,
    format_ts,
    is_jpeg,
    is_pdf,
    narrative_text,
    pdf_text,
    render_html,
)
from carnet.record.xml import parse_xml
from tests.builders import pdf_with_stream

EXAMPLES = Path(__file__).resolve().parents[3].parent / "shared" / "reference" / "cda-examples"
ALL_EXAMPLES = sorted(EXAMPLES.glob("*.xml"))
LEVEL1 = ["DOC_NON_STRUCTURE_CDA-R2-N1.xml", "IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml"]
VSM = "VSM_1.4_2022.01.xml"
HL7 = "{urn:hl7-org:v3}"
PDF_URL = "/dossier/documents/42/contenu?format=pdf&v=1"
MAX_BYTES = 5_000_000
URL_ATTRIBUTES = {"href", "src", "data", "srcset", "action", "formaction", "poster", "background", "cite", "longdesc"}


def _load(name: str) -> bytes:
    return (EXAMPLES / name).read_bytes()


def _tree(data: bytes) -> etree._ElementTree:
    return parse_xml(data, max_bytes=MAX_BYTES)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _assert_safe(output: str, *, pdf_url: str | None = None) -> lxml.html.HtmlElement:
    """The output parses as HTML with no script, no event handler, no style and no URL but ``pdf_url`` (the one
    frame shows the platform's own PDF address)."""
    assert output.startswith('<article class="cda">') and output.endswith("</article>")
    assert "<script" not in output.lower()
    fragment = lxml.html.fragment_fromstring(output)
    for el in fragment.iter():
        assert el.tag not in ("script", "style", "img", "embed", "object", "link", "meta", "base", "form")
        if el.tag == "iframe":
            assert pdf_url is not None and el.get("src") == pdf_url
        for name, value in el.attrib.items():
            assert not name.lower().startswith("on"), (el.tag, name)
            assert name.lower() != "style", el.tag
            if name.lower() in URL_ATTRIBUTES:
                assert pdf_url is not None and value == pdf_url, (el.tag, name, value)
    return fragment


def _with_narrative(snippet: str, name: str = VSM) -> bytes:
    """An example whose first narrative block starts with ``snippet`` (XML, in the HL7 default namespace)."""
    data = _load(name).decode("utf-8")
    index = data.index("<text>", data.index("<structuredBody")) + len("<text>")
    return (data[:index] + snippet + data[index:]).encode("utf-8")


def _with_body(body: str) -> bytes:
    """The level-1 example with its ``nonXMLBody`` replaced by ``body``."""
    data = _load("DOC_NON_STRUCTURE_CDA-R2-N1.xml").decode("utf-8")
    return re.sub(r"<nonXMLBody>.*</nonXMLBody>", f"<nonXMLBody>{body}</nonXMLBody>", data, flags=re.S).encode()


def _segment(marker: int, payload: bytes) -> bytes:
    return b"\xff" + bytes([marker]) + struct.pack(">H", len(payload) + 2) + payload


# A complete 1x1 grey baseline JPEG: JFIF header, quantisation table, frame, one-code DC and AC Huffman
# tables, scan (DC difference 0 then end-of-block: bits "00" padded with ones) and EOI.
MINIMAL_PDF = pdf_with_stream(rb"BT /F1 12 Tf 72 712 Td (Compte rendu op\351ratoire) Tj ET")
MINIMAL_JPEG = (
    b"\xff\xd8"
    + _segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00")
    + _segment(0xDB, b"\x00" + b"\x01" * 64)
    + _segment(0xC0, b"\x08\x00\x01\x00\x01\x01\x01\x11\x00")
    + _segment(0xC4, b"\x00\x01" + b"\x00" * 15 + b"\x00")
    + _segment(0xC4, b"\x10\x01" + b"\x00" * 15 + b"\x00")
    + _segment(0xDA, b"\x01\x01\x00\x00\x3f\x00")
    + b"\x3f"
    + b"\xff\xd9"
)


# --- every ANS example --------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ALL_EXAMPLES, ids=lambda p: p.name)
def test_examples_render_title_sections_and_nothing_unsafe(path: Path) -> None:
    tree = _tree(path.read_bytes())
    level1 = path.name in LEVEL1
    output = render_html(tree, pdf_url=PDF_URL if level1 else None)
    fragment = _assert_safe(output, pdf_url=PDF_URL if level1 else None)
    shown = _collapse(fragment.text_content())
    assert _collapse(tree.findtext(f"{HL7}title") or "") in shown
    sections = [_collapse(section.findtext(f"{HL7}title") or "") for section in tree.iter(f"{HL7}section")]
    sections = [title for title in sections if title]
    if level1:
        assert not sections
        assert fragment.xpath("//iframe/@src") == [PDF_URL]
        assert fragment.xpath("//a/@href") == [PDF_URL]
    else:
        assert sections and all(title in shown for title in sections)
        assert fragment.xpath("//section/h2")


def test_examples_cover_both_levels() -> None:
    names = {p.name for p in ALL_EXAMPLES}
    assert set(LEVEL1) <= names and VSM in names and len(names) >= 10


def test_header_shows_date_patient_author_and_custodian() -> None:
    output = render_html(_tree(_load("DOC_NON_STRUCTURE_CDA-R2-N1.xml")))
    text = _collapse(" ".join(lxml.html.fragment_fromstring(output).itertext()))
    assert "Compte rendu d'examens biologiques" in text
    assert "Date du document 01/04/2021 13:47" in text
    assert "Patient DOMINIQUE MARIE-LOUISE PAT-TROIS" in text
    assert "Date de naissance 28/03/1979" in text
    assert "Sexe Féminin" in text
    assert "Auteur Marcel CAMPARINI — Laboratoire des charmes" in text
    assert "Conservé par Laboratoire des charmes" in text


def test_nested_sections_become_nested_sections_with_lower_headings() -> None:
    fragment = lxml.html.fragment_fromstring(render_html(_tree(_load(VSM))))
    assert fragment.xpath("//section/h2[.='Traitement au long cours']")
    assert fragment.xpath("//section/section/h3[.='Traitements']")
    assert fragment.xpath("//section/section/section/h4[.='Pathologie en cours']")
    assert fragment.xpath("//table//td[.='11/08/2019']")


def test_narrative_elements_are_mapped_to_the_whitelist() -> None:
    snippet = (
        '<paragraph styleCode="Bold Italics">gras italique</paragraph>'
        '<paragraph><content styleCode="Underline">souligné</content> H<sub>2</sub>O'
        " x<sup>2</sup><br/>suite</paragraph>"
        '<list listType="ordered"><caption>Étapes</caption><item>un</item><item>deux</item></list>'
        "<list><item>puce</item></list>"
        '<table><caption>Légende</caption><colgroup><col span="2"/></colgroup><tbody>'
        '<tr><td colspan="2" rowspan="3">fusion</td><td colspan="99999">trop</td><td rowspan="2 x">mal</td></tr>'
        "</tbody></table>"
        '<paragraph>note<footnote ID="n1">pied de page</footnote><footnoteRef IDREF="n1"/></paragraph>'
        "<inconnu>texte gardé</inconnu>"
    )
    output = render_html(_tree(_with_narrative(snippet)))
    fragment = _assert_safe(output)
    assert "<p><strong><em>gras italique</em></strong></p>" in output
    assert "<span><u>souligné</u></span> H<sub>2</sub>O x<sup>2</sup><br>suite" in output
    assert "<p><strong>Étapes</strong></p><ol><li>un</li><li>deux</li></ol>" in output
    assert "<ul><li>puce</li></ul>" in output
    assert "<table><caption>Légende</caption><colgroup><col></colgroup>" in output
    assert '<td colspan="2" rowspan="3">fusion</td><td>trop</td><td>mal</td>' in output
    assert "notepied de page" in output
    assert "texte gardé" in output and "inconnu" not in output
    assert not fragment.xpath("//*[@span or @ID or @id or @IDREF or @styleCode]")


# --- injections -----------------------------------------------------------------------------------------------


INJECTION = (
    "<paragraph><content><![CDATA[<script>alert(1)</script>]]></content></paragraph>"
    '<paragraph><linkHtml href="javascript:alert(1)">lien piégé</linkHtml></paragraph>'
    '<paragraph><renderMultiMedia referencedObject="x"/></paragraph>'
    '<paragraph onclick="x" style="background:url(http://evil)">paragraphe piégé</paragraph>'
    '<script xmlns="http://www.w3.org/1999/xhtml">alert(2)</script>'
    '<img xmlns="http://www.w3.org/1999/xhtml" src="http://evil/pixel.png"/>'
    '<content onmouseover="alert(3)" styleCode="Bold&quot; onclick=&quot;x">styl\u00e9</content>'
    '<table><tbody><tr><td colspan="2&quot; onclick=&quot;x" style="x">cellule</td></tr></tbody></table>'
)


def test_injected_markup_is_neutralised() -> None:
    output = render_html(_tree(_with_narrative(INJECTION)))
    fragment = _assert_safe(output)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in output
    assert "alert(2)" in output and "<script" not in output.lower()
    for forbidden in ("javascript:", "http://", "evil", "onclick", "onmouseover", "style=", "<img", "<a ", "href"):
        assert forbidden not in output.lower(), forbidden
    shown = fragment.text_content()
    assert "lien piégé" in shown and "paragraphe piégé" in shown and "cellule" in shown
    assert IMAGE_PLACEHOLDER in shown
    assert "<td>cellule</td>" in output


def test_comments_and_processing_instructions_are_not_shown() -> None:
    output = render_html(_tree(_with_narrative("<paragraph>a<!-- <b>secret</b> -->b<?pi <i>x</i>?>c</paragraph>")))
    assert "<p>abc</p>" in output and "secret" not in output and "<i>" not in output


@settings(deadline=None)
@given(
    st.lists(
        st.text(st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"))
        | st.sampled_from(["<", ">", "&", '"', "'", "\n", "\t", "<script>alert(1)</script>", "javascript:", "]]>"])
    ).map("".join)
)
def test_random_narrative_text_never_breaks_out(text: str) -> None:
    output = render_html(_tree(_with_narrative(f"<paragraph>{escape(text)}</paragraph>")))
    assert "<script" not in output.lower()
    fragment = lxml.html.fragment_fromstring(output)
    assert not fragment.xpath("//script | //*[@onclick]")


# --- level 1 ----------------------------------------------------------------------------------------------------


def test_level1_pdf_without_url_is_announced_not_embedded() -> None:
    output = render_html(_tree(_load("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")))
    _assert_safe(output)
    assert "<iframe" not in output and "href" not in output
    assert "fichier PDF" in output


def test_level1_pdf_url_is_escaped() -> None:
    url = '/documents/1/pdf?a=1&b="><script>'
    output = render_html(_tree(_load("DOC_NON_STRUCTURE_CDA-R2-N1.xml")), pdf_url=url)
    fragment = _assert_safe(output, pdf_url=url)
    assert fragment.xpath("//iframe/@src") == [url]
    assert "Télécharger" in output


def test_level1_plain_text_jpeg_unknown_and_broken_bodies() -> None:
    plain = "Compte rendu : <b>tension</b> normale & stable"
    encoded = base64.b64encode(plain.encode()).decode()
    tree = _tree(_with_body(f'<text mediaType="text/plain" representation="B64">{encoded}</text>'))
    output = render_html(tree)
    _assert_safe(output)
    assert "<pre>Compte rendu : &lt;b&gt;tension&lt;/b&gt; normale &amp; stable</pre>" in output
    assert "tension</b> normale & stable" in narrative_text(tree)

    tree = _tree(_with_body("<text>texte brut &lt;i&gt;</text>"))
    assert "<pre>texte brut &lt;i&gt;</pre>" in render_html(tree)

    jpeg = base64.b64encode(MINIMAL_JPEG).decode()
    output = render_html(_tree(_with_body(f'<text mediaType="image/jpeg" representation="B64">{jpeg}</text>')))
    assert IMAGE_PLACEHOLDER in output and "<img" not in output

    output = render_html(_tree(_with_body('<text mediaType="text/html">&lt;script&gt;x&lt;/script&gt;</text>')))
    assert "non pris en charge : text/html" in output and "<script" not in output

    tree = _tree(_with_body('<text mediaType="application/pdf" representation="B64">pas du base64 !</text>'))
    assert "illisible" in render_html(tree, pdf_url=PDF_URL) and "<iframe" not in render_html(tree, pdf_url=PDF_URL)

    not_pdf = base64.b64encode(b"<html><script>x</script></html>").decode()
    tree = _tree(_with_body(f'<text mediaType="application/pdf" representation="B64">{not_pdf}</text>'))
    assert "PDF joint est illisible" in render_html(tree, pdf_url=PDF_URL)

    tree = _tree(_with_body('<text mediaType="application/pdf"><reference value="http://evil/doc.pdf"/></text>'))
    output = render_html(tree, pdf_url=PDF_URL)
    assert "référence externe" in output and "evil" not in output
    body = embedded_body(tree)
    assert body is not None and body.external and body.data is None


def test_embedded_body_decodes_level1_and_is_none_for_level3() -> None:
    body = embedded_body(_tree(_load("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")))
    assert body is not None and body.media_type == "application/pdf"
    assert body.data is not None and is_pdf(body.data)
    assert embedded_body(_tree(_load(VSM))) is None


# --- full text ----------------------------------------------------------------------------------------------------


def test_narrative_text_of_level3_has_titles_and_accented_narrative() -> None:
    text = narrative_text(_tree(_load(VSM)))
    assert text.startswith("Synthèse Médicale ")
    assert "Accident ischémique cérébral transitoire" in text
    assert "Pathologie en cours" in text
    assert "  " not in text and "\n" not in text
    assert "pb-actif-01" not in text  # identifiers and coded entries are not narrative


def test_narrative_text_of_level1_is_the_pdf_text() -> None:
    text = narrative_text(_tree(_load("IMG_CR_IMG_2024.01_CDA-R2-Niveau-1.xml")))
    assert text.startswith("CR d’imagerie médicale")
    assert "CENTRE D’IMAGERIE SÉGUR" in text and "Scanner de la tête et du cou" in text


def test_narrative_text_of_a_pdf_without_text_layer_is_the_title() -> None:
    # The PDF of DOC_NON_STRUCTURE has no extractable text (pypdf returns only whitespace): only the title remains.
    tree = _tree(_load("DOC_NON_STRUCTURE_CDA-R2-N1.xml"))
    body = embedded_body(tree)
    assert body is not None and body.data is not None and is_pdf(body.data) and pdf_text(body.data) == ""
    assert narrative_text(tree) == "Compte rendu d'examens biologiques"


# --- PDF and JPEG sniffing --------------------------------------------------------------------------------------


def test_pdf_text_of_a_generated_pdf() -> None:
    assert is_pdf(MINIMAL_PDF)
    assert pdf_text(MINIMAL_PDF) == "Compte rendu opératoire"
    assert pdf_text(MINIMAL_PDF, max_pages=0) == ""


@pytest.mark.parametrize(
    "data",
    [b"", b"%PDF-garbage", b"%PDF-1.4\n%%EOF", MINIMAL_PDF[: len(MINIMAL_PDF) // 2], MINIMAL_JPEG, b"\x00" * 100],
)
def test_unreadable_pdfs_give_no_text_and_are_not_pdfs(data: bytes) -> None:
    assert pdf_text(data) == ""
    assert not is_pdf(data)


def test_is_pdf_needs_the_magic() -> None:
    assert not is_pdf(b"  " + MINIMAL_PDF)


def test_is_jpeg() -> None:
    assert is_jpeg(MINIMAL_JPEG)
    assert not is_jpeg(MINIMAL_JPEG[:-1])
    assert not is_jpeg(MINIMAL_JPEG[:-2])
    assert not is_jpeg(MINIMAL_JPEG[1:])
    assert not is_jpeg(b"\xff\xd8\xff\xd9")
    assert not is_jpeg(MINIMAL_PDF)
    assert not is_jpeg(b"")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("20210401134745+0100", "01/04/2021 13:47"),
        ("202101040735+0100", "04/01/2021 07:35"),
        ("20201231", "31/12/2020"),
        ("202012", "12/2020"),
        ("2020", "2020"),
        ("2021023112", None),
        ("2021-04-01", None),
        ("", None),
        (None, None),
    ],
)
def test_format_ts(value: str | None, expected: str | None) -> None:
    assert format_ts(value) == expected


@pytest.mark.parametrize(
    "url", ["javascript:alert(1)", "//evil.example/doc.pdf", "/\\evil", "data:application/pdf,x", ""]
)
def test_pdf_url_must_be_a_path_or_http_url(url: str) -> None:
    with pytest.raises(ValueError, match="pdf_url"):
        render_html(_tree(_load("DOC_NON_STRUCTURE_CDA-R2-N1.xml")), pdf_url=url)

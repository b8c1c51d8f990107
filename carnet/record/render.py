"""Safe display and full-text extraction of CDA R2 documents (level 1 and level 3).

Threat model: a clinical document comes from outside (a producer's software, an MSSanté message, a patient
upload) and is shown in the reader's browser. Its narrative is XHTML-like markup, so copying it into the page
would allow stored XSS (``<script>``, ``on*`` handlers, ``javascript:`` links, CSS) and would let the document
load external resources (``linkHtml href``, ``renderMultiMedia``, ``style`` URLs), leaking the reader's IP
address and the fact and time of the reading to a third party.

Rule: the HTML is rebuilt by walking the parsed tree in Python. Only a fixed whitelist of HTML elements is
emitted, every text is escaped with :func:`html.escape`, and no attribute is ever copied from the input: only
``colspan``/``rowspan`` are re-emitted, validated as small integers. Unknown elements are dropped, their text
kept. The only URL in the output is the same-origin ``pdf_url`` given by the caller.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import html
import io
import re
from dataclasses import dataclass

from lxml import etree
from pypdf import PdfReader

HL7 = "urn:hl7-org:v3"
PDF = "application/pdf"
TEXT = "text/plain"
JPEG = "image/jpeg"
IMAGE_PLACEHOLDER = "[image non affichée]"

_MAX_DEPTH = 64  # nesting rendered as markup; deeper content is rendered as plain text
_MAX_SPAN = 999
_SPAN = re.compile(r"[0-9]{1,3}")
_TS = re.compile(r"(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2}(?:\.\d+)?)?([+-]\d{4})?")
_SAFE_URL = re.compile(r"(?:/(?![/\\])|https?://)[^\s\\]*\Z", re.IGNORECASE)
_SEX = {"M": "Masculin", "F": "Féminin", "U": "Inconnu", "UN": "Inconnu"}
# Elements whose own text is layout whitespace only (dropped when blank).
_STRUCTURAL = frozenset({"table", "thead", "tbody", "tfoot", "tr", "colgroup", "list"})
_SAME_NAME = frozenset({"thead", "tbody", "tfoot", "tr", "sub", "sup"})
_STYLED = frozenset({"content", "paragraph", "td", "th", "item", "caption"})


@dataclass(frozen=True, slots=True)
class EmbeddedBody:
    """The body of a level-1 document: media type and decoded bytes (``None`` if unreadable or external)."""

    media_type: str
    data: bytes | None
    external: bool = False


# --- small helpers --------------------------------------------------------------------------------------------


def _q(name: str) -> str:
    return f"{{{HL7}}}{name}"


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _collapse(text: str) -> str:
    return " ".join(text.split())


def _local(el: etree._Element) -> str | None:
    """Local name of a CDA element; ``""`` for a foreign namespace, ``None`` for comments and PIs."""
    if not isinstance(el.tag, str):
        return None
    qname = etree.QName(el)
    return qname.localname if qname.namespace in (HL7, None) else ""


def _text(el: etree._Element | None) -> str:
    """All the text under ``el`` (comments and processing instructions excluded)."""
    if el is None:
        return ""
    return "".join(str(t) for t in el.itertext())


def _find(el: etree._Element | None, *path: str) -> etree._Element | None:
    for name in path:
        if el is None:
            return None
        el = el.find(_q(name))
    return el


def format_ts(value: str | None) -> str | None:
    """An HL7 TS (``20210401134745+0100``) as ``01/04/2021 13:47`` (local time as written), else ``None``."""
    if not value:
        return None
    m = _TS.fullmatch(value.strip())
    if m is None:
        return None
    year = int(m[1])
    month, day, hour, minute = (int(g) if g else None for g in m.groups()[1:5])
    try:
        if month is None:
            return f"{year:04d}"
        if day is None:
            dt.date(year, month, 1)
            return f"{month:02d}/{year:04d}"
        dt.datetime(year, month, day, hour or 0, minute or 0)
    except ValueError:
        return None
    date = f"{day:02d}/{month:02d}/{year:04d}"
    return date if hour is None else f"{date} {hour:02d}:{minute or 0:02d}"


# --- header ---------------------------------------------------------------------------------------------------


def _document_title(root: etree._Element) -> str:
    title = _collapse(_text(root.find(_q("title"))))
    if not title:
        code = root.find(_q("code"))
        title = _collapse(code.get("displayName") or "") if code is not None else ""
    return title or "Document sans titre"


def _parts(name: etree._Element, part: str) -> list[tuple[str, str]]:
    """(qualifier, text) of each ``family`` or ``given`` of a name."""
    found = []
    for el in name.iterfind(_q(part)):
        text = _collapse(_text(el))
        if text:
            found.append(((el.get("qualifier") or "").upper(), text))
    return found


def _pick(parts: list[tuple[str, str]], *qualifiers: str) -> str | None:
    for wanted in qualifiers:
        for qualifier, text in parts:
            if wanted in qualifier.split() or (wanted == "" and not qualifier):
                return text
    return parts[0][1] if parts else None


def _person_name(name: etree._Element | None) -> str:
    """Given names and family name; for a patient, the birth name first and the used name if different."""
    if name is None:
        return ""
    families, givens = _parts(name, "family"), _parts(name, "given")
    if not families and not givens:
        return _collapse(_text(name))
    birth = _pick(families, "", "BR")
    used = _pick([f for f in families if "CL" in f[0].split()], "CL")
    given = _pick(givens, "", "BR")
    display = " ".join(p for p in (given, birth) if p)
    if used and used != birth:
        display += f" (nom utilisé : {used})"
    return display


def _author(author: etree._Element) -> str:
    assigned = author.find(_q("assignedAuthor"))
    if assigned is None:
        return ""
    who = _person_name(_find(assigned, "assignedPerson", "name"))
    device = assigned.find(_q("assignedAuthoringDevice"))
    if not who and device is not None:
        who = " ".join(
            t for t in (_collapse(_text(device.find(_q(n)))) for n in ("manufacturerModelName", "softwareName")) if t
        )
    organisation = _collapse(_text(_find(assigned, "representedOrganization", "name")))
    return " — ".join(p for p in (who, organisation) if p)


def _header(root: etree._Element, out: list[str]) -> None:
    rows: list[tuple[str, str]] = []
    date = _find(root, "effectiveTime")
    when = format_ts(date.get("value") if date is not None else None)
    if when:
        rows.append(("Date du document", when))
    patient = _find(root, "recordTarget", "patientRole", "patient")
    if patient is not None:
        name = _person_name(patient.find(_q("name")))
        if name:
            rows.append(("Patient", name))
        birth = patient.find(_q("birthTime"))
        born = format_ts(birth.get("value") if birth is not None else None)
        if born:
            rows.append(("Date de naissance", born))
        gender = patient.find(_q("administrativeGenderCode"))
        if gender is not None:
            code = (gender.get("code") or "").upper()
            sex = _SEX.get(code) or _collapse(gender.get("displayName") or "")
            if sex:
                rows.append(("Sexe", sex))
    authors = [a for a in (_author(el) for el in root.iterfind(_q("author"))) if a]
    for author in authors:
        rows.append(("Auteurs" if len(authors) > 1 else "Auteur", author))
    custodian = _collapse(
        _text(_find(root, "custodian", "assignedCustodian", "representedCustodianOrganization", "name"))
    )
    if custodian:
        rows.append(("Conservé par", custodian))
    out.append(f'<header><h1>{_esc(_document_title(root))}</h1><dl class="cda-entete">')
    previous = None
    for label, value in rows:
        if label != previous:
            out.append(f"<dt>{_esc(label)}</dt>")
        out.append(f"<dd>{_esc(value)}</dd>")
        previous = label
    out.append("</dl></header>")


# --- narrative block (level 3) --------------------------------------------------------------------------------


def _style_tags(el: etree._Element) -> list[str]:
    code = (el.get("styleCode") or "").lower()
    return [tag for word, tag in (("bold", "strong"), ("italic", "em"), ("underline", "u")) if word in code]


def _span_attrs(el: etree._Element) -> str:
    attrs = []
    for name in ("colspan", "rowspan"):
        value = (el.get(name) or "").strip()
        if _SPAN.fullmatch(value) and 1 <= int(value) <= _MAX_SPAN:
            attrs.append(f' {name}="{int(value)}"')
    return "".join(attrs)


def _emit_text(text: str | None, out: list[str], structural: bool) -> None:
    if text and not (structural and not text.strip()):
        out.append(_esc(text))


def _children(el: etree._Element, out: list[str], depth: int) -> None:
    """The text, child elements and tails inside ``el``."""
    structural = _local(el) in _STRUCTURAL
    _emit_text(el.text, out, structural)
    for child in el:
        if _local(child) is not None:
            _element(child, out, depth + 1)
        _emit_text(child.tail, out, structural)


def _wrapped(tag: str, el: etree._Element, out: list[str], depth: int, attrs: str = "") -> None:
    styles = _style_tags(el) if _local(el) in _STYLED else []
    out.append(f"<{tag}{attrs}>" + "".join(f"<{s}>" for s in styles))
    _children(el, out, depth)
    out.append("".join(f"</{s}>" for s in reversed(styles)) + f"</{tag}>")


def _list(el: etree._Element, out: list[str], depth: int) -> None:
    for caption in el.iterfind(_q("caption")):
        out.append("<p><strong>")
        _children(caption, out, depth + 1)
        out.append("</strong></p>")
    tag = "ol" if (el.get("listType") or "").lower() == "ordered" else "ul"
    out.append(f"<{tag}>")
    if el.text and el.text.strip():
        out.append(f"<li>{_esc(el.text)}</li>")
    for child in el:
        name = _local(child)
        if name == "item":
            _wrapped("li", child, out, depth + 1)
        elif name is not None and name != "caption":
            out.append("<li>")
            _element(child, out, depth + 1)
            out.append("</li>")
        if child.tail and child.tail.strip():
            out.append(f"<li>{_esc(child.tail)}</li>")
    out.append(f"</{tag}>")


def _element(el: etree._Element, out: list[str], depth: int) -> None:
    """One narrative element as whitelisted HTML (or as its text only)."""
    name = _local(el)
    if depth > _MAX_DEPTH:
        out.append(_esc(_text(el)))
    elif name == "paragraph":
        _wrapped("p", el, out, depth)
    elif name == "content":
        _wrapped("span", el, out, depth)
    elif name == "list":
        _list(el, out, depth)
    elif name in ("td", "th"):
        _wrapped(name, el, out, depth, _span_attrs(el))
    elif name == "table":
        out.append("<table>")
        for child in el:
            if _local(child) == "caption":
                _wrapped("caption", child, out, depth + 1)
        _children_except(el, out, depth, "caption")
        out.append("</table>")
    elif name == "colgroup":
        _wrapped("colgroup", el, out, depth)
    elif name is not None and name in _SAME_NAME:
        _wrapped(name, el, out, depth)
    elif name in ("br", "col"):
        out.append(f"<{name}>")
        _children(el, out, depth)
    elif name == "renderMultiMedia":
        out.append(f"<span>{_esc(IMAGE_PLACEHOLDER)}</span>")
    elif name in ("linkHtml", "footnote", "footnoteRef"):
        out.append(_esc(_text(el)))
    else:  # anything else (including foreign namespaces): dropped, its text kept
        _children(el, out, depth)


def _children_except(el: etree._Element, out: list[str], depth: int, skipped: str) -> None:
    structural = _local(el) in _STRUCTURAL
    _emit_text(el.text, out, structural)
    for child in el:
        name = _local(child)
        if name is not None and name != skipped:
            _element(child, out, depth + 1)
        _emit_text(child.tail, out, structural)


def _section_title(section: etree._Element) -> str:
    title = _collapse(_text(section.find(_q("title"))))
    if not title:
        code = section.find(_q("code"))
        title = _collapse(code.get("displayName") or "") if code is not None else ""
    return title


def _sections(parent: etree._Element, out: list[str], level: int) -> None:
    for component in parent.iterfind(_q("component")):
        section = component.find(_q("section"))
        if section is None:
            continue
        if level > _MAX_DEPTH:
            out.append(f"<p>{_esc(_collapse(_text(section)))}</p>")
            continue
        out.append("<section>")
        title = _section_title(section)
        if title:
            heading = f"h{min(level + 1, 6)}"
            out.append(f"<{heading}>{_esc(title)}</{heading}>")
        text = section.find(_q("text"))
        if text is not None:
            out.append('<div class="cda-texte">')
            _children(text, out, 0)
            out.append("</div>")
        _sections(section, out, level + 1)
        out.append("</section>")


# --- non-XML body (level 1) -----------------------------------------------------------------------------------


def embedded_body(tree: etree._ElementTree) -> EmbeddedBody | None:
    """The decoded body of a level-1 document (``None`` for a level-3 document)."""
    text = _find(tree.getroot(), "component", "nonXMLBody", "text")
    if text is None:
        return None if _find(tree.getroot(), "component", "nonXMLBody") is None else EmbeddedBody("", None)
    media_type = (text.get("mediaType") or TEXT).split(";")[0].strip().lower()
    if text.find(_q("reference")) is not None:
        return EmbeddedBody(media_type, None, external=True)
    if text.get("compression"):
        return EmbeddedBody(media_type, None)
    if (text.get("representation") or "TXT").upper() == "B64":
        try:
            return EmbeddedBody(media_type, base64.b64decode("".join(_text(text).split()), validate=True))
        except (binascii.Error, ValueError):
            return EmbeddedBody(media_type, None)
    return EmbeddedBody(media_type, _text(text).encode("utf-8"))


def _non_xml_body(body: EmbeddedBody, out: list[str], pdf_url: str | None) -> None:
    out.append('<section class="cda-corps"><h2>Contenu du document</h2>')
    if body.external:
        out.append("<p>Le contenu de ce document est une référence externe ; il n'est pas affiché.</p>")
    elif body.data is None:
        out.append("<p>Le contenu de ce document est illisible.</p>")
    elif body.media_type == PDF:
        if not is_pdf(body.data):
            out.append("<p>Le document PDF joint est illisible.</p>")
        elif pdf_url is not None:
            url = _esc(pdf_url)
            # A frame (the pages allow frames of this site only; <object> is not allowed by their policy).
            out.append(
                f'<iframe class="cda-pdf" src="{url}" title="Document PDF"></iframe>'
                f'<p><a href="{url}" download>Télécharger le document PDF</a></p>'
            )
        else:
            out.append("<p>Ce document est un fichier PDF ; téléchargez-le pour le consulter.</p>")
    elif body.media_type == TEXT:
        out.append(f"<pre>{_esc(body.data.decode('utf-8', errors='replace'))}</pre>")
    elif body.media_type == JPEG:
        out.append(f"<p>{_esc(IMAGE_PLACEHOLDER)} Ce document est une image JPEG.</p>")
    else:
        out.append(f"<p>Format de document non pris en charge : {_esc(body.media_type or 'inconnu')}.</p>")
    out.append("</section>")


# --- public API -----------------------------------------------------------------------------------------------


def render_html(tree: etree._ElementTree, *, pdf_url: str | None = None) -> str:
    """Safe HTML fragment (``<article class="cda">``) for a CDA document parsed by ``parse_xml``.

    ``pdf_url`` (level 1 PDF only) is the caller's URL serving the embedded PDF: a path (``/…``) or http(s) URL.
    """
    if pdf_url is not None and not _SAFE_URL.match(pdf_url):
        raise ValueError(f"pdf_url refusée (chemin /… ou URL http(s) attendu) : {pdf_url!r}")
    root = tree.getroot()
    out: list[str] = ['<article class="cda">']
    _header(root, out)
    structured = _find(root, "component", "structuredBody")
    body = embedded_body(tree)
    if structured is not None:
        _sections(structured, out, 1)
    elif body is not None:
        _non_xml_body(body, out, pdf_url)
    else:
        out.append("<p>Ce document n'a pas de contenu lisible.</p>")
    out.append("</article>")
    return "".join(out)


def narrative_text(tree: etree._ElementTree) -> str:
    """All the readable text of a document for full-text indexing, whitespace collapsed."""
    root = tree.getroot()
    parts = [_collapse(_text(root.find(_q("title"))))]
    structured = _find(root, "component", "structuredBody")
    if structured is not None:
        for section in structured.iter(_q("section")):
            parts.append(_section_title(section))
            parts.append(_text(section.find(_q("text"))))
    else:
        body = embedded_body(tree)
        if body is not None and body.data is not None:
            if body.media_type == PDF:
                parts.append(pdf_text(body.data))
            elif body.media_type == TEXT:
                parts.append(body.data.decode("utf-8", errors="replace"))
    return _collapse(" ".join(parts))


def pdf_text(data: bytes, *, max_pages: int = 200) -> str:
    """The text of the first ``max_pages`` pages of a PDF; ``""`` if it cannot be read (never raises)."""
    texts: list[str] = []
    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted:
            reader.decrypt("")
        for index, page in enumerate(reader.pages):
            if index >= max_pages:
                break
            try:
                texts.append(page.extract_text())
            except Exception:  # one broken page does not hide the others
                continue
    except Exception:  # pypdf raises many kinds of errors on hostile input
        return _collapse(" ".join(texts))
    return _collapse(" ".join(texts))


def is_pdf(data: bytes) -> bool:
    """True if ``data`` starts with ``%PDF-`` and pypdf can open it and find at least one page."""
    if not data.startswith(b"%PDF-"):
        return False
    try:
        return len(PdfReader(io.BytesIO(data)).pages) > 0
    except Exception:
        return False


def is_jpeg(data: bytes) -> bool:
    """True if ``data`` starts with a JPEG SOI followed by a marker (FFD8FF) and ends with EOI (FFD9)."""
    return len(data) >= 8 and data[:3] == b"\xff\xd8\xff" and 0xC0 <= data[3] <= 0xFE and data.endswith(b"\xff\xd9")

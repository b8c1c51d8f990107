"""A hardened XML parser for documents received from outside (CDA R2).

Threats: XML external entities (file or network reads), entity expansion ("billion laughs"), and
pathological nesting or size. A DTD is never legitimate in a CDA document, so any DOCTYPE is refused
outright; the parser also never resolves entities, never touches the network and keeps lxml's tree limits.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

MAX_DEPTH = 256
_DOCTYPE = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class XmlProblem:
    """Why an XML text was refused, with the line when the parser knows it."""

    code: str
    message: str
    line: int | None = None


class UnsafeXml(Exception):
    def __init__(self, problem: XmlProblem) -> None:
        super().__init__(problem.message)
        self.problem = problem


def _parser() -> etree.XMLParser:
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_blank_text=False,
    )


def parse_xml(data: bytes, *, max_bytes: int, max_depth: int = MAX_DEPTH) -> etree._ElementTree:
    """Parse ``data`` safely or raise :class:`UnsafeXml` saying why."""
    if len(data) > max_bytes:
        raise UnsafeXml(XmlProblem("too_large", f"document trop volumineux : {len(data)} octets (maximum {max_bytes})"))
    if not data.strip():
        raise UnsafeXml(XmlProblem("empty", "document vide"))
    found = _DOCTYPE.search(data)
    if found:
        raise UnsafeXml(
            XmlProblem(
                "doctype",
                "déclaration DOCTYPE/ENTITY refusée (risque XXE ou d'expansion d'entités)",
                data.count(b"\n", 0, found.start()) + 1,
            )
        )
    try:
        root = etree.fromstring(data, parser=_parser())
    except etree.XMLSyntaxError as exc:
        line = exc.lineno if isinstance(exc.lineno, int) else None
        raise UnsafeXml(XmlProblem("malformed", f"XML mal formé : {exc.msg}", line)) from None
    depth = 0
    for event, _element in etree.iterwalk(root, events=("start", "end")):
        depth += 1 if event == "start" else -1
        if depth > max_depth:
            raise UnsafeXml(XmlProblem("too_deep", f"imbrication XML trop profonde (plus de {max_depth} niveaux)"))
    return etree.ElementTree(root)

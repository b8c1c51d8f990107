"""No code path reads or writes patient documents without the access decision.

The documents table is reached only through ``uow.documents`` (the repository) or ``carnet.record.store``'s
row classes. This test walks the source tree and fails when a module outside the access-checked record
services touches either; the exceptions are listed with the reason they are safe.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "carnet"

# Modules allowed to touch the document store, and why.
ALLOWED = {
    "carnet/record/service.py": "the record services: every function calls policy.authorize / Filter first",
    "carnet/record/policy.py": "the access check itself (type hints only)",
    "carnet/storage/uow.py": "wires the repository into the unit of work",
    "carnet/storage/models.py": "imports every table for the migrations",
    "carnet/bench/record.py": "the benchmark builds its own throwaway database, never the platform's",
    "carnet/space/lifecycle_purge.py": "the retention purge, after record.purge (a system actor, decided and traced) "
    "deleted the documents: erases their title, comment and full-text rows",
}
# Names that may be imported from carnet.record.store elsewhere: query parameters, no data access.
HARMLESS_NAMES = {"DocumentFilters", "search_text"}


def _offences(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "carnet.record.store":
            names = {alias.name for alias in node.names}
            if names - HARMLESS_NAMES:
                found.append(f"line {node.lineno}: imports {sorted(names - HARMLESS_NAMES)} from carnet.record.store")
        if (
            isinstance(node, ast.ImportFrom)
            and node.module == "carnet.record"
            and any(alias.name == "store" for alias in node.names)
        ):
            found.append(f"line {node.lineno}: imports carnet.record.store")
        if isinstance(node, ast.Attribute) and node.attr == "documents" and isinstance(node.value, ast.Name):
            if node.value.id == "uow":
                found.append(f"line {node.lineno}: uses uow.documents")
    return found


def test_only_the_access_checked_record_services_reach_the_document_store() -> None:
    offences = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE.parent).as_posix()
        if relative in ALLOWED:
            continue
        if problems := _offences(path):
            offences[relative] = problems
    assert offences == {}


def test_every_public_record_service_asks_the_policy() -> None:
    source = (PACKAGE / "record" / "service.py").read_text("utf-8")
    tree = ast.parse(source)
    helpers = {"_checked_row", "_listing_filter", "_change", "authorize"}
    # patient_of gives only a document's patient id, to choose the caller's role before the decision is asked.
    # authored_documents gives the ids, types and dates (no title, no content) of the documents the caller wrote, or
    # their organisation's, for the sharing compliance report: it checks author / member / platform itself, traced.
    role_lookups = {"patient_of", "authored_documents"}
    unchecked = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef) or node.name.startswith("_") or node.name in role_lookups:
            continue
        touches = any(isinstance(n, ast.Attribute) and n.attr == "documents" for n in ast.walk(node)) or any(
            isinstance(n, ast.Name) and n.id == "DocumentRow" for n in ast.walk(node)
        )
        calls = {n.func.id for n in ast.walk(node) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        if (touches or calls & {"_document_or_raise"}) and not calls & helpers:
            unchecked.append(node.name)
    assert unchecked == []


def test_the_walker_catches_a_bypass(tmp_path: Path) -> None:
    rogue = tmp_path / "rogue.py"
    rogue.write_text(
        "from carnet.record.store import DocumentRow\n\ndef peek(uow):\n    return uow.documents.get('x')\n"
    )
    assert len(_offences(rogue)) == 2

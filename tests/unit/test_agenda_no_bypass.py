"""No code path reads or writes the agenda or the reimbursements without the access decision: the ``agenda_*`` and
``reimbursement_*`` tables are reached only through :mod:`carnet.space.agenda_store`, imported by the use cases
alone, and every public use case that touches a row asks the decision (directly or through a guard that does)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "carnet"
ALLOWED = {
    "carnet/space/agenda.py": "the agenda's use cases",
    "carnet/space/reimbursements.py": "the reimbursements' use cases",
    "carnet/space/agenda_store.py": "the tables themselves",
    "carnet/space/lifecycle_purge.py": "the retention purge of a closed space (a system job, traced space.purge)",
    "carnet/storage/models.py": "imports every table for the migrations",
}
GUARDS = {"enforce", "_holder_only", "_store", "get_content"}
PURE = {"check_event", "patient_of", "parse_feed", "parse_cda", "totals"}  # no row of a person, or only its patient


def _imports_store(path: Path) -> bool:
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module == "carnet.space.agenda_store":
            return True
        if isinstance(node, ast.ImportFrom) and node.module == "carnet.space" and any(
                a.name == "agenda_store" for a in node.names):  # fmt: skip
            return True
        if isinstance(node, ast.Import) and any(a.name == "carnet.space.agenda_store" for a in node.names):
            return True
    return False


def test_only_the_use_cases_reach_the_tables() -> None:
    offenders = [
        path.relative_to(PACKAGE.parent).as_posix()
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE.parent).as_posix() not in ALLOWED and _imports_store(path)
    ]
    assert offenders == []


def _calls(node: ast.AST) -> set[str]:
    names = set()
    for sub in ast.walk(node):
        if isinstance(sub, ast.Call):
            func = sub.func
            names.add(func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else "")
    return names


def test_every_public_use_case_asks_the_decision() -> None:
    unchecked = []
    for module in ("agenda.py", "reimbursements.py"):
        tree = ast.parse((PACKAGE / "space" / module).read_text("utf-8"))
        for node in tree.body:
            if not isinstance(node, ast.FunctionDef) or node.name.startswith("_") or node.name in PURE:
                continue
            if not _calls(node) & GUARDS:
                unchecked.append(f"{module}:{node.name}")
    assert unchecked == []

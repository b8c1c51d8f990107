"""Every action the services trace has a French label in the holder's access history (no raw code shown)."""

from __future__ import annotations

import re
from pathlib import Path

from carnet.audit.service import ACTION_LABELS, action_label

PACKAGE = Path(__file__).resolve().parents[3] / "carnet"
LITERAL = re.compile(r'action="([a-z_]+\.[a-z_]+)"')
# The services building a code from a prefix and a word: ``_manage(..., "opposition", ...)`` → consent.opposition.
BUILT = {
    "access/service.py": (
        "consent.",
        re.compile(r'_(?:manage|professional_records)\(\s*uow, actor, patient_id, "(\w+)"'),
    ),
    "messaging/service.py": ("message.", re.compile(r'_(?:refuse|trace_reading)\([^"\n]*"(\w+)"\)')),
}
# Actions of the access decision traced as "<document|record>.<action>" when refused (access.service.enforce).
DECIDED = ("read", "list", "search", "deposit", "replace", "hide", "show", "hold_back", "release", "delete")


def _traced_codes() -> set[str]:
    codes: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        codes |= set(LITERAL.findall(path.read_text("utf-8")))
    for relative, (prefix, pattern) in BUILT.items():
        found = pattern.findall((PACKAGE / relative).read_text("utf-8"))
        assert found, f"no built action code found in {relative}: the pattern is out of date"
        codes |= {prefix + word for word in found}
    codes |= {f"document.{action}" for action in DECIDED}
    codes |= {"record.list", "record.search", "record.manage_consent", "record.read_audit"}
    return codes


def test_every_traced_action_has_a_french_label() -> None:
    missing = sorted(code for code in _traced_codes() if code not in ACTION_LABELS)
    assert missing == []


def test_the_labels_of_the_access_basis_and_emergency_read_in_plain_french() -> None:
    assert action_label("consent.explicit") == "consentement du patient recueilli en consultation"
    assert action_label("consent.care_team_join") == "entrée dans l'équipe de soins, le patient informé"
    assert action_label("emergency.declare") == "déclaration d'un accès en urgence (bris de glace)"
    assert action_label("message.send") == "envoi d'un message"
    assert action_label("pas.une_action") == "pas.une_action"

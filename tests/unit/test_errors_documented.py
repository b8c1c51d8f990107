"""Every error code is documented: the codes equal the headings of docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import carnet.errors as errors_module
from carnet.errors import ALL_ERRORS, CarnetError

DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"


def test_every_error_code_has_a_heading_and_every_heading_a_code() -> None:
    headings = set(re.findall(r"^## (\S+)$", DOC.read_text("utf-8"), flags=re.MULTILINE))
    assert {e.code for e in ALL_ERRORS} == headings


def test_all_errors_lists_every_class_of_the_hierarchy() -> None:
    defined = {obj for obj in vars(errors_module).values() if isinstance(obj, type) and issubclass(obj, CarnetError)}
    assert defined == set(ALL_ERRORS)
    assert len({e.code for e in ALL_ERRORS}) == len(ALL_ERRORS), "codes are unique"

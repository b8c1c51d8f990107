"""Sharing: the legal sharing obligations of a document (who must receive it) and, later, its dispatch.

Public API: :func:`obligations` answers, for a document type, a :class:`Context` and a date, which
:class:`Duty` apply and the rule behind each (:class:`Answer`); the rules are the data table
``carnet/sharing/data/obligations.csv`` (docs/sharing.md).
"""

from carnet.sharing.model import Answer, Context, Duty, DutyAnswer, Effect, Exclusion, Outcome, Reason, Rule
from carnet.sharing.obligations import ObligationsTable, default_table, obligations

__all__ = [
    "Answer",
    "Context",
    "Duty",
    "DutyAnswer",
    "Effect",
    "Exclusion",
    "ObligationsTable",
    "Outcome",
    "Reason",
    "Rule",
    "default_table",
    "obligations",
]

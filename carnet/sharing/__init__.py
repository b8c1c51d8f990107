"""Sharing: the legal sharing obligations of a document (who must receive it) and its automatic sharing.

Public API: :func:`obligations` answers, for a document type, a :class:`Context` and a date, which
:class:`Duty` apply and the rule behind each (:class:`Answer`); the rules are the data table
``carnet/sharing/data/obligations.csv`` (docs/sharing.md). :func:`carnet.sharing.share.share` deposits a
validated document and sends it as those duties say; :func:`carnet.sharing.report.report` counts, for a
professional or an organisation and a period, the documents under each duty and those shared in time.

Importing the package subscribes the sharing to the record's releases (``record.on_release``): a document shared
held back for an announcement consultation is sent to the patient when it is released.
"""

from carnet.sharing import share  # the module (``share.share``); importing it subscribes to the record's releases
from carnet.sharing.model import Answer, Context, Duty, DutyAnswer, Effect, Exclusion, Outcome, Reason, Rule
from carnet.sharing.obligations import ObligationsTable, default_table, obligations
from carnet.sharing.share import ShareResult

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
    "ShareResult",
    "default_table",
    "obligations",
    "share",
]

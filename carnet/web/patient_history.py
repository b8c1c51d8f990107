"""The access history of the chosen space: who, when, what, how (emergency marked), in plain French; filterable by
person, mode, dates and action. Read through ``access.read_history`` (the READ_AUDIT decision; the reading is
itself traced)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from carnet.access.model import ActorKind
from carnet.api.deps import UowDep
from carnet.web.auth import PageCallerDep
from carnet.web.patient import MAX_QUERY, day_bounds
from carnet.web.patient_space import here
from carnet.web.templating import page

_OUTCOMES = {"success": "history.outcome.success", "denied": "history.outcome.denied"}


def history(request: Request, caller: PageCallerDep, uow: UowDep) -> Response:
    """The space's access history, newest first, with its filters (``qui``, ``mode``, ``du``, ``au``,
    ``action``); an unreadable filter is said and not applied."""
    if caller.kind != ActorKind.PATIENT:
        return RedirectResponse("/", status_code=303)
    from carnet.access import service as access
    from carnet.audit.service import to_access_entry

    at = here(request, uow, caller)
    rows = access.read_history(uow=uow, actor=at.actor, patient_id=at.patient_id)
    uow.commit()
    q = request.query_params
    chosen = {name: (q.get(name) or "").strip() for name in ("qui", "mode", "du", "au", "action")}
    chosen["qui"] = chosen["qui"][:MAX_QUERY]
    refused: list[str] = []
    if chosen["mode"] not in ("", "urgence", "normal"):
        refused.append("mode")
        chosen["mode"] = ""
    bounds = day_bounds(chosen, refused)
    entries = [to_access_entry(row) for row in reversed(rows)]
    actions = sorted({(e.action, e.action_label) for e in entries}, key=lambda a: a[1])
    if chosen["action"] and chosen["action"] not in {code for code, _ in actions}:
        chosen["action"] = ""  # none of this kind in the history: nothing to filter on
    who, start, end = chosen["qui"].casefold(), bounds["du"], bounds["au"]
    kept = [
        e
        for e in entries
        if (not who or who in e.who.casefold())
        and (chosen["mode"] != "urgence" or e.emergency)
        and (chosen["mode"] != "normal" or not e.emergency)
        and (start is None or e.at >= start)
        and (end is None or e.at <= end)
        and (not chosen["action"] or e.action == chosen["action"])
    ]
    lines: list[dict[str, Any]] = [
        {"at": e.at, "who": e.who, "what": e.action_label, "mode": e.mode.label_fr, "emergency": e.emergency,
         "outcome_key": _OUTCOMES.get(e.outcome, "history.outcome.other"), "document_id": e.document_id}
        for e in kept
    ]  # fmt: skip
    return page(request, "history.html", lines=lines, chosen=chosen, refused=refused, actions=actions,
                who=chosen["qui"], emergency_only=chosen["mode"] == "urgence", total=len(entries),
                filtered=any(chosen.values()), **at.context())  # fmt: skip

"""``carnet audit``: verify the hash chains, show (or export as FHIR) a holder's access history.

Registered by the main command as ``app.add_typer(audit_app, name="audit")``. The settings come from the
environment (``Settings()``), or from ``ctx.obj`` when a caller passes a :class:`~carnet.settings.Settings`
(tests: ``CliRunner().invoke(audit_app, [...], obj=settings)``).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Annotated, Any

import pydantic
import typer

from carnet.cli_support import fail as _fail
from carnet.errors import CarnetError

if TYPE_CHECKING:
    from carnet.bootstrap import Platform

audit_app = typer.Typer(help="Traces d'accès : vérification, historique", no_args_is_help=True)


@contextmanager
def _platform(ctx: typer.Context) -> Iterator[Platform]:
    from carnet.bootstrap import bootstrap
    from carnet.settings import Settings

    try:
        settings = ctx.obj if isinstance(ctx.obj, Settings) else Settings()
    except pydantic.ValidationError as exc:
        lines = [f"{'.'.join(str(p) for p in e['loc']) or 'settings'}: {e['msg']}" for e in exc.errors()]
        _fail("configuration invalide — " + "; ".join(lines), code=2)
    try:
        platform = bootstrap(settings)
    except CarnetError as exc:
        _fail(exc.message, code=2)
    try:
        yield platform
    finally:
        platform.close()


def _cli_actor() -> Any:
    from carnet.identity.status import ActorKind, QualificationActor

    return QualificationActor(kind=ActorKind.SYSTEM, profession_code=None, id="cli")


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


@audit_app.command("verify")
def verify_command(
    ctx: typer.Context,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False,
) -> None:
    """Recalculer les chaînes d'empreintes ; nommer la première entrée altérée, supprimée ou déplacée."""
    from carnet.audit.verify import verify

    with _platform(ctx) as platform, platform.session_factory() as session:
        report = verify(session)
    bad = report.first_bad
    if as_json:
        _echo_json(
            {
                "ok": report.ok,
                "checked": report.checked,
                "chains": report.chains,
                "first_bad": None
                if bad is None
                else {
                    "chain_key": bad.chain_key,
                    "chain_seq": bad.chain_seq,
                    "entry_id": bad.entry_id,
                    "reason": bad.reason,
                },
            }
        )
    elif bad is None:
        typer.echo(f"Chaîne intègre : {report.checked} entrées ({report.chains} chaînes)")
    else:
        typer.echo(f"Chaîne rompue : {bad.describe()}")
        typer.echo(f"({report.checked} entrées vérifiées avant celle-ci)")
    if bad is not None:
        raise typer.Exit(1)


@audit_app.command("history")
def history_command(
    ctx: typer.Context,
    ins: Annotated[str, typer.Argument(help="Matricule INS du titulaire")],
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False,
    fhir: Annotated[bool, typer.Option("--fhir", help="Bundle FHIR R4 d'AuditEvent")] = False,
) -> None:
    """Historique des accès au dossier : qui, quand, quoi, en urgence ou non, avec quel résultat."""
    from carnet.audit.fhir import history_bundle
    from carnet.audit.service import OUTCOME_LABELS, history_rows, to_access_entry
    from carnet.identity.service import find_by_ins

    actor = _cli_actor()
    with _platform(ctx) as platform:
        try:
            with platform.uow() as uow:
                patient = find_by_ins(uow=uow, actor=actor, matricule=ins)
                if patient is None:
                    _fail(f"aucun patient avec l'INS {ins}")
                rows = history_rows(uow=uow, actor=actor, patient_id=patient.id)
                uow.commit()
        except CarnetError as exc:
            where = f" [{exc.field}]" if exc.field else ""
            _fail(f"{exc.message}{where}")
        now = platform.clock.now()
    if fhir:
        _echo_json(history_bundle(rows, timestamp=now))
        return
    entries = [to_access_entry(row) for row in rows]
    if as_json:
        _echo_json([e.as_json() for e in entries])
        return
    emergencies = sum(1 for e in entries if e.emergency)
    typer.echo(f"Historique des accès au dossier {ins} : {len(entries)} entrées, dont {emergencies} en urgence")
    for e in entries:
        flag = f"[URGENCE — {e.mode.label_fr}] " if e.emergency else ""
        outcome = OUTCOME_LABELS.get(e.outcome, e.outcome)
        line = f"{e.at:%Y-%m-%d %H:%M:%S} UTC  {flag}{e.who} — {e.action_label} — {outcome}"
        if e.reasons:
            line += f" ({' ; '.join(e.reasons)})"
        typer.echo(line)

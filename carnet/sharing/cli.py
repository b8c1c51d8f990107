"""``carnet sharing``: the legal sharing obligations of a document type, and the table of rules.

Registered by the main command as ``app.add_typer(sharing_app, name="sharing")``. Nothing here touches the
database: the answers come from the shipped table (``carnet/sharing/data/obligations.csv``). Bad input (an
unreadable date, a code in no value set) is said on stderr with exit code 2, like the other commands' usage
errors.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Annotated, Any

import typer

from carnet.cli_support import fail as _fail
from carnet.errors import CarnetError
from carnet.sharing.model import (
    DUTY_LABELS,
    EXCLUSION_LABELS,
    Answer,
    Context,
    Duty,
    Effect,
    Exclusion,
    Rule,
    french_date,
)
from carnet.sharing.obligations import ObligationsTable, default_table, type_label

sharing_app = typer.Typer(
    help="Partage des documents : obligations légales (arrêté du 26 avril 2022 modifié).", no_args_is_help=True
)

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2))


def _table() -> ObligationsTable:
    try:
        return default_table()
    except ValueError as exc:  # a broken data file is a packaging fault: said plainly, never a traceback
        _fail(f"table des obligations illisible — {exc}")


def _parse_date(text: str) -> dt.date:
    if not _ISO_DATE.fullmatch(text.strip()):
        _fail(f"date illisible {text!r} : attendu AAAA-MM-JJ", code=2)
    try:
        return dt.date.fromisoformat(text.strip())
    except ValueError:
        _fail(f"date impossible {text!r}", code=2)


def _period(rule: Rule) -> str:
    if rule.effect is Effect.OTHER_TEXT or rule.in_force_from is None:
        return "autre texte"
    start = f"à compter du {french_date(rule.in_force_from)}"
    return f"{start} jusqu'au {french_date(rule.in_force_until)}" if rule.in_force_until else start


_CONTEXT_WORDS = {
    Exclusion.HOSPITAL_STAY: ("séjour hospitalier", "hors séjour hospitalier"),
    Exclusion.CONSTITUTIONAL_GENETICS: ("génétique constitutionnelle", "pas de génétique constitutionnelle"),
    Exclusion.PRIOR_AGREEMENT: ("soumis à entente préalable", "sans entente préalable"),
}


def _context_line(context: Context) -> str:
    return " ; ".join(yes if context.has(e) else no for e, (yes, no) in _CONTEXT_WORDS.items())


def _print_answer(answer: Answer, table: ObligationsTable) -> None:
    typer.echo(f"Type {answer.type_code} — {answer.type_label}, au {french_date(answer.on_date)}")
    typer.echo(f"Contexte : {_context_line(answer.context)}")
    shared = len({(item.applies, item.rule_id, item.reason) for item in answer.per_duty}) == 1
    for item in answer.per_duty:
        verdict = "OUI" if item.applies else "non"
        typer.echo(f"  {item.duty.value:18} {verdict:3}  {DUTY_LABELS[item.duty][0]}")
        if not shared:
            typer.echo(f"  {'':18}      {item.reason.fr}")
    if shared:
        typer.echo(f"Motif : {answer.per_duty[0].reason.fr}")
    if answer.duties:
        typer.echo(f"À faire : {', '.join(d.value for d in Duty if d in answer.duties)}.")
    else:
        typer.echo("Aucune obligation de partage au titre de cet arrêté.")
    for rule_id in dict.fromkeys(item.rule_id for item in answer.per_duty if item.rule_id):
        typer.echo(f"Source ({rule_id}) : {table.rule(rule_id).source}")


@sharing_app.command("obligations")
def obligations_command(
    type_code: Annotated[str, typer.Option("--type", help="Code du type de document (JDV_J07 / JDV_J66)")],
    on_date: Annotated[str, typer.Option("--date", help="Date du document AAAA-MM-JJ")],
    hospital_stay: Annotated[
        bool, typer.Option("--hospital-stay", help="Produit dans le cadre d'un séjour hospitalier")
    ] = False,
    constitutional_genetics: Annotated[
        bool, typer.Option("--constitutional-genetics", help="Compte rendu de génétique constitutionnelle")
    ] = False,
    prior_agreement: Annotated[
        bool, typer.Option("--prior-agreement", help="Prescription soumise à entente préalable")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False,
) -> None:
    """Dire quels partages sont obligatoires pour un type de document, et la règle qui le prévoit."""
    day = _parse_date(on_date)
    table = _table()
    context = Context(
        hospital_stay=hospital_stay, constitutional_genetics=constitutional_genetics, prior_agreement=prior_agreement
    )
    try:
        answer = table.answer(type_code=type_code, context=context, on_date=day)
    except CarnetError as exc:
        _fail(exc.message, code=2)
    if as_json:
        _echo_json(answer.to_dict())
        return
    _print_answer(answer, table)


def _rule_dict(rule: Rule) -> dict[str, Any]:
    return {
        "rule_id": rule.id,
        "label_fr": rule.label_fr,
        "type_codes": list(rule.type_codes),
        "in_force_from": rule.in_force_from.isoformat() if rule.in_force_from else None,
        "in_force_until": rule.in_force_until.isoformat() if rule.in_force_until else None,
        "exclusions": sorted(e.value for e in rule.exclusions),
        "effect": rule.effect.value,
        "duties": sorted(d.value for d in rule.duties),
        "source": rule.source,
        "to_check": rule.to_check,
        "note": rule.note,
    }


@sharing_app.command("rules")
def rules_command(as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False) -> None:
    """Lister la table des règles : documents, codes, dates, exclusions et sources."""
    table = _table()
    if as_json:
        _echo_json([_rule_dict(rule) for rule in table])
        return
    for rule in table:
        mark = "  [à vérifier]" if rule.to_check else ""
        typer.echo(f"{rule.id}{mark}")
        typer.echo(f"  {rule.label_fr}")
        typer.echo(f"  Période : {_period(rule)}")
        codes = ", ".join(f"{code} ({type_label(code)})" for code in rule.type_codes)
        typer.echo(f"  Types : {codes}")
        if rule.exclusions:
            exclusions = ", ".join(label for e, (label, _) in EXCLUSION_LABELS.items() if e in rule.exclusions)
            typer.echo(f"  Exclusions : {exclusions}")
        if rule.effect is Effect.DUTIES:
            typer.echo(f"  Devoirs : {', '.join(d.value for d in Duty if d in rule.duties)}")
        else:
            typer.echo("  Devoirs : aucun au titre de cet arrêté (obligation prévue par un autre texte)")
        typer.echo(f"  Source : {rule.source}")
        if rule.note:
            typer.echo(f"  Note : {rule.note}")


# --- the compliance report (reads the database) -----------------------------------------------------------------

_REPORT_LABELS = {
    Duty.DMP: "versement au DMP",
    Duty.MSS_PROFESSIONALS: "envoi aux professionnels",
    Duty.MSS_PATIENT: "envoi au patient",
}


def _print_report(data: Any) -> None:
    from carnet.sharing.report import ComplianceReport

    assert isinstance(data, ComplianceReport)
    who = "professionnel" if data.scope == "professional" else "structure"
    typer.echo(f"Rapport de partage — {who} {data.scope_id}, du {french_date(data.start)} au {french_date(data.end)}")
    typer.echo(f"Documents : {data.documents} ({data.via_share} partagé(s) à la validation, {data.other_deposits} "
               f"versé(s) autrement) ; soumis à au moins un devoir : {data.under_duty}")  # fmt: skip
    header = f"  {'devoir':26} {'dus':>5} {'partagés':>9} {'à temps':>8} {'en attente':>11} {'sans dest.':>11} "
    typer.echo(header + f"{'manquants':>10} {'taux':>6}")
    for count in data.duties:
        rate = "—" if count.rate is None else f"{round(count.rate * 100)} %"
        typer.echo(f"  {_REPORT_LABELS[count.duty]:26} {count.due:>5} {count.shared:>9} {count.in_time:>8} "
                   f"{count.held:>11} {count.no_recipient:>11} {count.missing:>10} {rate:>6}")  # fmt: skip
    if data.by_rule:
        typer.echo("Règles : " + ", ".join(f"{rule} ({n})" for rule, n in sorted(data.by_rule.items())))
    typer.echo("À temps : partagé au plus tard le jour du document ; taux = à temps / (dus − en attente − sans "
               "destinataire).")  # fmt: skip


@sharing_app.command("report")
def report_command(
    start: Annotated[str, typer.Option("--from", help="Premier jour de la période AAAA-MM-JJ")],
    end: Annotated[str, typer.Option("--to", help="Dernier jour de la période AAAA-MM-JJ")],
    professional: Annotated[
        str | None, typer.Option("--professional", help="Identifiant national du professionnel (idNatPs)")
    ] = None,
    organisation: Annotated[
        str | None, typer.Option("--organisation", help="Identifiant national de la structure (idNatSt)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False,
) -> None:
    """Rapport de conformité : documents soumis à chaque devoir et partagés à temps, sur une période."""
    import pydantic

    from carnet.access.model import Actor, ActorKind, AuthMethod
    from carnet.bootstrap import bootstrap
    from carnet.settings import Settings
    from carnet.sharing.report import Scope, parse_period, report

    if (professional is None) == (organisation is None):
        _fail("indiquer --professional ID ou --organisation ID (l'un des deux)", code=2)
    try:
        day_from, day_to = parse_period(start, end)
    except CarnetError as exc:
        _fail(f"--{exc.field} : {exc.message}", code=2)
    try:
        settings = Settings()
    except pydantic.ValidationError as exc:
        _fail("configuration invalide — " + "; ".join(str(e["msg"]) for e in exc.errors()), code=2)
    actor = Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI, name="carnet sharing report")
    scope, scope_id = (Scope.PROFESSIONAL, professional) if professional is not None else (Scope.ORGANISATION,
                                                                                           organisation)  # fmt: skip
    assert scope_id is not None
    try:
        platform = bootstrap(settings)
        try:
            with platform.uow() as uow:
                data = report(uow=uow, actor=actor, scope=scope, scope_id=scope_id, start=day_from, end=day_to)
                uow.commit()
        finally:
            platform.close()
    except CarnetError as exc:
        where = f" [{exc.field}]" if exc.field else ""
        _fail(f"{exc.message}{where}", code=2 if exc.http_status in (400, 422) else 1)
    if as_json:
        _echo_json(data.to_dict())
        return
    _print_report(data)

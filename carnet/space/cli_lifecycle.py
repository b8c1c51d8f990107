"""``carnet space`` commands of the space's life (docs/space.md): campaigns, the daily jobs (``open-due``,
``purge-due``, ``majority-due``), the front desk's opposition with the letter's code, the letters for post, and the
platform's records of representatives and protection measures.

The commands run on the platform host and act as the platform (every change traced in each person's trail); bad
input is said on stderr with its reasons (exit code 1, 2 for an unreadable file or a bad configuration), never a
traceback.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from carnet.cli_support import fail as _fail
from carnet.cli_support import platform as _platform
from carnet.errors import CarnetError
from carnet.space.cli import space_app

if TYPE_CHECKING:
    pass

campaign_app = typer.Typer(help="Campagnes d'ouverture des espaces santé : créer, informer, suivre.",
                           no_args_is_help=True)  # fmt: skip
representative_app = typer.Typer(help="Représentants légaux (données de l'assurance maladie ou du tribunal).",
                                 no_args_is_help=True)  # fmt: skip
protection_app = typer.Typer(help="Mesures de protection des majeurs protégés.", no_args_is_help=True)
space_app.add_typer(campaign_app, name="campaign")
space_app.add_typer(representative_app, name="representative")
space_app.add_typer(protection_app, name="protection")

AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON")]
Ins = Annotated[str, typer.Argument(help="Matricule INS du titulaire")]


def _system(name: str) -> Any:
    from carnet.access.model import Actor, ActorKind, AuthMethod

    return Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI, name=name)


def _patient_id(uow: Any, ins: str) -> str:
    from carnet.identity.matricule import parse_matricule

    row = uow.patients.by_ins(parse_matricule(ins).value)
    if row is None or row.merged_into_id:
        _fail(f"aucun patient avec l'INS {ins}")
    return str(row.id)


def _json(value: Any) -> str:
    def default(item: Any) -> Any:
        if isinstance(item, dt.date | dt.datetime):
            return item.isoformat()
        return str(item)

    return json.dumps(value, ensure_ascii=False, indent=2, default=default)


# --- campaigns ----------------------------------------------------------------------------------------------------


@campaign_app.command("create")
def campaign_create(
    name: Annotated[str, typer.Option("--name", help="Nom de la campagne")],
    population: Annotated[
        Path | None, typer.Option("--population", help="Fichier CSV de la population (docs/space.md)")
    ] = None,  # fmt: skip
    all_qualified: Annotated[
        bool, typer.Option("--all-qualified", help="Toutes les identités qualifiées pas encore incluses")
    ] = False,  # fmt: skip
) -> None:
    """Créer une campagne : chaque personne incluse a un espace en cours de création (à informer)."""
    from carnet.space import campaign

    if (population is None) == (not all_qualified):
        _fail("indiquer --population FICHIER ou --all-qualified (l'un des deux)")
    people = None
    if population is not None:
        try:
            text = population.read_text(encoding="utf-8")
        except OSError as exc:
            _fail(f"fichier illisible {population} : {exc.strerror}", code=2)
        except UnicodeDecodeError:
            _fail(f"{population} n'est pas un fichier texte UTF-8", code=2)
        try:
            people = campaign.read_population(text)
        except CarnetError as exc:
            _fail(exc.message)
    with _platform() as platform, platform.uow() as uow:
        created = campaign.create_campaign(uow=uow, actor=_system("campagne (ligne de commande)"), name=name,
                                           population=people, all_qualified=all_qualified,
                                           source=population.name if population else None)  # fmt: skip
        uow.commit()
    typer.echo(f"Campagne {created.id} « {created.name} » créée : {created.included} personne(s) incluse(s), "
               f"{len(created.skipped)} ignorée(s).")  # fmt: skip
    for who, why in created.skipped:
        typer.echo(f"  ignorée : {who} — {why}")


@campaign_app.command("run")
def campaign_run(
    campaign_id: Annotated[str, typer.Argument(help="Identifiant de la campagne")],
    letters: Annotated[
        Path | None, typer.Option("--courriers", help="Dossier où écrire les courriers PDF à imprimer")
    ] = None,  # fmt: skip
    send: Annotated[
        bool, typer.Option("--envoi/--sans-envoi", help="Envoyer les courriels en attente (relais SMTP configuré)")
    ] = True,  # fmt: skip
) -> None:
    """Informer chaque personne pas encore informée (courriel, sinon courrier) ; personne ne l'est deux fois."""
    from carnet.notify.mailer import deliver_pending
    from carnet.space import campaign

    with _platform() as platform:
        report = campaign.run_campaign(platform=platform, campaign_id=campaign_id)
        delivery = deliver_pending(session_factory=platform.session_factory, clock=platform.clock,
                                   settings=platform.settings) if send and report.emails else None  # fmt: skip
        written = campaign.export_letters(platform=platform, output_dir=letters, campaign_id=campaign_id) if letters \
            else []  # fmt: skip
    typer.echo(f"{report.informed} personne(s) informée(s) : {report.emails} courriel(s), {report.letters} "
               "courrier(s).")  # fmt: skip
    if report.already_informed:
        typer.echo(f"{report.already_informed} personne(s) déjà informée(s) par une exécution précédente : "
                   "personne n'est informé deux fois.")  # fmt: skip
    if report.unreachable:
        typer.echo(f"{report.unreachable} personne(s) sans courriel ni adresse postale : à informer quand leurs "
                   "coordonnées seront connues (nouvelle exécution).")  # fmt: skip
    if delivery is not None:
        typer.echo(f"Courriels : {delivery.sent} envoyé(s), {delivery.retried} à réessayer, {delivery.failed} en "
                   "échec définitif.")  # fmt: skip
    elif report.emails:
        typer.echo("Courriels en attente d'envoi : carnet notify deliver.")
    if written:
        typer.echo(f"{len(written)} courrier(s) PDF écrit(s) dans {letters}.")
    elif report.letters and not letters:
        typer.echo("Courriers à imprimer : carnet space letters --output DOSSIER.")


def _status_json(status: Any) -> dict[str, Any]:
    return dataclasses.asdict(status)


@campaign_app.command("status")
def campaign_status(campaign_id: Annotated[str, typer.Argument(help="Identifiant de la campagne")],
                    as_json: AsJson = False) -> None:  # fmt: skip
    """Où en est la campagne : à informer, informées (délai d'opposition en cours), ouvertes, opposées."""
    from carnet.space import campaign

    with _platform() as platform, platform.uow() as uow:
        status = campaign.campaign_status(uow=uow, campaign_id=campaign_id)
    if as_json:
        typer.echo(_json(_status_json(status)))
        return
    typer.echo(f"Campagne {status.id} « {status.name} » — {status.members} personne(s)")
    typer.echo(f"  à informer : {status.to_inform} (dont {status.unreachable} sans coordonnées)")
    typer.echo(f"  informées, délai d'opposition en cours : {status.informed}")
    typer.echo(f"  espaces ouverts : {status.opened}")
    typer.echo(f"  oppositions : {status.opposed}")
    typer.echo(f"  informations envoyées : {status.emails} courriel(s), {status.letters} courrier(s)")
    if status.next_opening:
        typer.echo(f"  prochaine ouverture : {status.next_opening.strftime('%d/%m/%Y')}")


@campaign_app.command("list")
def campaign_list(as_json: AsJson = False) -> None:
    """Les campagnes, avec leurs compteurs."""
    from carnet.space import campaign

    with _platform() as platform, platform.uow() as uow:
        found = campaign.list_campaigns(uow=uow)
    if as_json:
        typer.echo(_json([_status_json(s) for s in found]))
        return
    if not found:
        typer.echo("aucune campagne")
    for s in found:
        typer.echo(f"{s.id}\t{s.name}\t{s.members} personne(s)\t{s.opened} ouvert(s)\t{s.opposed} opposition(s)")


# --- the daily jobs -----------------------------------------------------------------------------------------------


@space_app.command("open-due")
def open_due() -> None:
    """Tâche quotidienne : ouvrir chaque espace dont les six semaines se sont écoulées sans opposition."""
    from carnet.space import campaign

    with _platform() as platform:
        report = campaign.open_due(platform=platform)
    typer.echo(f"{report.opened} espace(s) ouvert(s)." if report.opened else "Aucun espace à ouvrir aujourd'hui.")


@space_app.command("purge-due")
def purge_due() -> None:
    """Tâche quotidienne : supprimer les documents et les données des espaces fermés dont la durée de conservation
    est écoulée."""
    from carnet.space import lifecycle

    with _platform() as platform:
        report = lifecycle.purge_due(platform=platform)
        years = platform.settings.space_retention_years
    typer.echo(f"{report.spaces} espace(s) fermé(s) depuis plus de {years} an(s) purgé(s) : {report.documents} "
               f"document(s) supprimé(s), {report.data_rows} autre(s) donnée(s) de l'espace supprimée(s) (profil, "
               f"agenda, remboursements, autorisations, notifications) ; {report.blobs_removed} contenu(s) "
               f"effacé(s), {report.blobs_kept} conservé(s) car utilisé(s) ailleurs.")  # fmt: skip


@space_app.command("majority-due")
def majority_due() -> None:
    """Tâche quotidienne : à 18 ans (ou à la fin d'une mesure de protection), l'espace passe à son titulaire."""
    from carnet.space import lifecycle_admin

    with _platform() as platform:
        report = lifecycle_admin.majority_due(platform=platform)
    typer.echo(f"{report.majorities} espace(s) confié(s) à leur titulaire devenu majeur, {report.protections_ended} "
               f"fin(s) de mesure de protection ; {report.representatives} représentant(s) légal(aux) sans accès "
               "désormais.")  # fmt: skip


# --- the front desk, the letters -------------------------------------------------------------------------------


@space_app.command("oppose")
def oppose(
    code: Annotated[str, typer.Argument(help="Code d'opposition imprimé sur le courrier (ou le courriel)")],
    account: Annotated[str, typer.Option("--guichet", help="Agent du guichet (identifiant)")],
    name: Annotated[str | None, typer.Option("--nom", help="Nom de l'agent")] = None,
) -> None:
    """Au guichet : enregistrer l'opposition d'une personne à la création de son espace, avec le code du courrier."""
    from carnet.space import lifecycle

    account = account.strip()
    if not account:
        _fail("--guichet : identifiant de l'agent obligatoire")
    with _platform() as platform, platform.uow() as uow:
        state = lifecycle.oppose_with_code(uow=uow, desk=lifecycle.front_desk(account, name), code=code)
        uow.commit()
    typer.echo(f"Opposition enregistrée : l'espace santé ne sera pas ouvert ({state.status.value}).")


@space_app.command("letters")
def letters(
    output: Annotated[Path, typer.Option("--output", help="Dossier où écrire les courriers PDF")],
    campaign_id: Annotated[str | None, typer.Option("--campagne", help="Seulement cette campagne")] = None,
) -> None:
    """Écrire les courriers PDF pas encore remis à l'impression (chacun une fois)."""
    from carnet.space import campaign

    with _platform() as platform:
        try:
            written = campaign.export_letters(platform=platform, output_dir=output, campaign_id=campaign_id)
        except OSError as exc:
            _fail(f"écriture impossible dans {output} : {exc.strerror}", code=2)
    typer.echo(f"{len(written)} courrier(s) écrit(s) dans {output}." if written else "Aucun courrier à imprimer.")


# --- representatives and protection measures ----------------------------------------------------------------------


@representative_app.command("add")
def representative_add(
    ins: Ins,
    representative_id: Annotated[
        str, typer.Option("--id", help="Identifiant du représentant (son dossier, ou fc:<sujet FranceConnect>)")
    ],  # fmt: skip
    role: Annotated[
        str, typer.Option("--role", help="parent, tuteur, curateur, habilitation_familiale, mandataire")
    ],  # fmt: skip
    name: Annotated[str | None, typer.Option("--nom", help="Nom du représentant")] = None,
    email: Annotated[str | None, typer.Option("--email")] = None,
    phone: Annotated[str | None, typer.Option("--telephone")] = None,
    address: Annotated[str | None, typer.Option("--adresse")] = None,
    postal_code: Annotated[str | None, typer.Option("--code-postal")] = None,
    city: Annotated[str | None, typer.Option("--ville")] = None,
) -> None:
    """Enregistrer un représentant légal et ses coordonnées (pour l'informer)."""
    from carnet.space import lifecycle_admin

    contact = lifecycle_admin.ContactIn(email=email, phone=phone, address_line=address, postal_code=postal_code,
                                        city=city)  # fmt: skip
    with _platform() as platform, platform.uow() as uow:
        patient_id = _patient_id(uow, ins)
        lifecycle_admin.add_representative(uow=uow, actor=_system("représentants légaux (ligne de commande)"),
                                           patient_id=patient_id, representative_id=representative_id, role=role,
                                           name=name, contact=contact)  # fmt: skip
        uow.commit()
    typer.echo(f"Représentant légal {representative_id} ({role}) enregistré.")


def _date(value: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        _fail(f"{option} : date AAAA-MM-JJ attendue, « {value} » reçu")


@protection_app.command("set")
def protection_set(
    ins: Ins,
    measure: Annotated[str, typer.Option("--mesure", help="tutelle, curatelle, habilitation familiale…")],
    until: Annotated[str | None, typer.Option("--jusqu-au", help="Fin de la mesure (AAAA-MM-JJ)")] = None,
) -> None:
    """Enregistrer une mesure de protection : les représentants continuent d'agir pour le titulaire majeur."""
    from carnet.space import lifecycle_admin

    ends_on = _date(until, "--jusqu-au") if until else None
    with _platform() as platform, platform.uow() as uow:
        patient_id = _patient_id(uow, ins)
        lifecycle_admin.set_protection(uow=uow, actor=_system("mesures de protection (ligne de commande)"),
                                       patient_id=patient_id, measure=measure, ends_on=ends_on)  # fmt: skip
        uow.commit()
    typer.echo(f"Mesure « {measure} » enregistrée" + (f" jusqu'au {ends_on.strftime('%d/%m/%Y')}." if ends_on
                                                       else " (sans date de fin)."))  # fmt: skip


@protection_app.command("end")
def protection_end(ins: Ins) -> None:
    """Fin de la mesure de protection : l'espace passe au titulaire, ses représentants perdent l'accès."""
    from carnet.space import lifecycle_admin

    with _platform() as platform, platform.uow() as uow:
        patient_id = _patient_id(uow, ins)
        ended = lifecycle_admin.end_protection(uow=uow, actor=_system("mesures de protection (ligne de commande)"),
                                               patient_id=patient_id)  # fmt: skip
        uow.commit()
    typer.echo(f"Mesure de protection terminée : {len(ended)} représentant(s) légal(aux) sans accès désormais.")

"""``carnet catalogue``: the referencing workflow at the operator's desk (docs/catalogue.md).

Registered by the main command as ``app.add_typer(catalogue_app, name="catalogue")``. The command runs on the
platform host: whoever may run it is authenticated by the host. Each act names the person's account and role
(``--compte``: the publisher's account for ``apply``, a commission member's for ``review``, the operator's for
``sign``, ``refuse``, ``withdraw``), recorded in the audit trail. Bad input is said on stderr with the reasons
(exit code 1; 2 for an unreadable file), never a traceback.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from carnet.catalogue import service
from carnet.catalogue.model import STATUS_LABELS, Assessment, Opinion, Role, Status, category_label, criteria
from carnet.cli_support import fail as _fail
from carnet.cli_support import platform as _platform

catalogue_app = typer.Typer(help="Catalogue des applications référencées : candidatures, examen, conventions.",
                            no_args_is_help=True)  # fmt: skip

Account = Annotated[str, typer.Option("--compte", help="Compte (adresse e-mail) de la personne qui agit")]
Name = Annotated[str | None, typer.Option("--nom", help="Nom de la personne qui agit")]
AppId = Annotated[str, typer.Argument(help="Identifiant de l'application (son client_id)")]
AsJson = Annotated[bool, typer.Option("--json", help="Sortie JSON")]


@contextmanager
def _uow() -> Iterator[Any]:
    """A unit of work on the configured platform; domain errors become a clear message (exit code 1)."""
    with _platform() as platform, platform.uow() as uow:
        yield uow


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        _fail(f"fichier illisible {path} : {exc.strerror}", code=2)
    except (ValueError, UnicodeDecodeError) as exc:
        _fail(f"{path} n'est pas du JSON valide : {exc}", code=2)
    if not isinstance(data, dict):
        _fail(f"{path} : un objet JSON est attendu", code=2)
    return data


def _strings(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        _fail(f"champ « {key} » : une liste de textes est attendue")
    return value


def _string(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        _fail(f"champ « {key} » : un texte est attendu")
    return value


@catalogue_app.command("apply")
def apply(file: Annotated[Path, typer.Argument(help="Candidature (JSON, docs/catalogue.md)")], account: Account,
          name: Name = None) -> None:  # fmt: skip
    """L'éditeur dépose la candidature de son application ; imprime son identifiant (client_id)."""
    data = _read_json(file)
    known = {"name", "publisher", "description", "website", "categories", "feeds", "redirect_uris",
             "security_statement", "interoperability_statement", "ethics_commitments"}  # fmt: skip
    unknown = sorted(set(data) - known)
    if unknown:
        _fail("champs inconnus : " + ", ".join(unknown) + " (champs : " + ", ".join(sorted(known)) + ")")
    website = data.get("website")
    application = service.ApplicationIn(
        name=_string(data, "name"), publisher=_string(data, "publisher"), description=_string(data, "description"),
        website=website if isinstance(website, str) else None, categories=_strings(data, "categories"),
        feeds=_strings(data, "feeds"),
        redirect_uris=_strings(data, "redirect_uris"), security_statement=_string(data, "security_statement"),
        interoperability_statement=_string(data, "interoperability_statement"),
        ethics_commitments=_strings(data, "ethics_commitments"),
    )  # fmt: skip
    with _uow() as uow:
        app_id = service.apply(uow=uow, member=service.Member(role=Role.APPLICANT, id=account, name=name),
                               application=application)  # fmt: skip
        uow.commit()
    typer.echo(app_id)


@catalogue_app.command("criteria")
def show_criteria(as_json: AsJson = False) -> None:
    """La grille de critères de la commission de référencement."""
    rows = criteria()
    if as_json:
        typer.echo(json.dumps([{"id": c.id, "domain": c.domain, "mandatory": c.mandatory, "fr": c.fr,
                                "source": c.source} for c in rows], ensure_ascii=False, indent=2))  # fmt: skip
        return
    for c in rows:
        typer.echo(f"{c.id}\t{c.domain}\t{'obligatoire' if c.mandatory else 'facultatif'}\t{c.fr}")


class OpinionOpt(StrEnum):
    favourable = "favourable"
    unfavourable = "unfavourable"


@catalogue_app.command("review")
def review(app_id: AppId, account: Account,
           file: Annotated[Path, typer.Option("--grille", help="Grille remplie (JSON : critère → met, comment)")],
           opinion: Annotated[OpinionOpt, typer.Option("--avis", help="Avis de la commission")],
           comment: Annotated[str, typer.Option("--commentaire", help="Motif de l'avis")],
           name: Name = None) -> None:  # fmt: skip
    """Un membre de la commission examine la candidature, critère par critère, et donne l'avis."""
    data = _read_json(file)
    assessments = []
    for criterion, finding in data.items():
        if not isinstance(finding, dict) or not isinstance(finding.get("met"), bool):
            _fail(f'critère {criterion} : {{"met": true|false, "comment": "..."}} attendu')
        text = finding.get("comment", "")
        assessments.append(Assessment(criterion=criterion, met=finding["met"], comment=text if isinstance(
            text, str) else ""))  # fmt: skip
    with _uow() as uow:
        service.review(uow=uow, member=service.Member(role=Role.COMMISSION, id=account, name=name), app_id=app_id,
                       assessments=assessments, opinion=Opinion(opinion.value), comment=comment)  # fmt: skip
        uow.commit()
    typer.echo(f"avis {opinion.value} enregistré pour {app_id}")


@catalogue_app.command("sign")
def sign(app_id: AppId, account: Account,
         months: Annotated[int, typer.Option("--mois", help="Durée de la convention en mois (1 à 60)")],
         categories: Annotated[list[str] | None, typer.Option("--categorie",
                                                              help="Catégorie accordée en lecture (répéter)")] = None,
         feeds: Annotated[list[str] | None, typer.Option("--alimente", "--feed",
                                                         help="Catégorie que l'application peut alimenter "
                                                         "(vitals, vaccinations, allergies, agenda ; répéter)")] = None,
         comment: Annotated[str | None, typer.Option("--commentaire")] = None, name: Name = None) -> None:  # fmt: skip
    """L'opérateur signe la convention : catégories accordées en lecture et à alimenter (parmi celles demandées) et
    durée."""
    with _uow() as uow:
        ends = service.sign(uow=uow, member=service.Member(role=Role.OPERATOR, id=account, name=name), app_id=app_id,
                            categories=categories or [], feeds=feeds or [], months=months,
                            comment=comment)  # fmt: skip
        uow.commit()
    typer.echo(f"{app_id} référencée jusqu'au {ends.date().isoformat()}")


@catalogue_app.command("refuse")
def refuse(app_id: AppId, account: Account, reason: Annotated[str, typer.Option("--motif")],
           name: Name = None) -> None:  # fmt: skip
    """L'opérateur refuse le référencement."""
    with _uow() as uow:
        service.refuse(uow=uow, member=service.Member(role=Role.OPERATOR, id=account, name=name), app_id=app_id,
                       reason=reason)  # fmt: skip
        uow.commit()
    typer.echo(f"référencement de {app_id} refusé")


@catalogue_app.command("withdraw")
def withdraw(app_id: AppId, account: Account, reason: Annotated[str, typer.Option("--motif")],
             name: Name = None) -> None:  # fmt: skip
    """L'opérateur retire le référencement : l'application perd à l'instant tout accès."""
    with _uow() as uow:
        ended = service.withdraw(uow=uow, member=service.Member(role=Role.OPERATOR, id=account, name=name),
                                 app_id=app_id, reason=reason)  # fmt: skip
        uow.commit()
    typer.echo(f"référencement de {app_id} retiré ; {ended} connexion(s) terminée(s)")


class StatusOpt(StrEnum):
    applied = "applied"
    reviewed = "reviewed"
    referenced = "referenced"
    refused = "refused"
    withdrawn = "withdrawn"


def _when(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value else None


@catalogue_app.command("list")
def list_apps(status: Annotated[StatusOpt | None, typer.Option("--statut")] = None, as_json: AsJson = False) -> None:
    """Les applications du catalogue, avec leur état."""
    with _uow() as uow:
        rows = service.list_apps(uow=uow, status=Status(status.value) if status else None)
        out: list[dict[str, Any]] = []
        for a in rows:
            found = service.reviews(uow=uow, app_id=a.id)
            out.append({"id": a.id, "name": a.name, "publisher": a.publisher, "status": a.status,
                        "categories_asked": a.categories_asked, "categories_granted": a.categories_granted,
                        "feeds_asked": a.feed_asked, "feeds_granted": a.feed_granted,
                        "convention_ends_at": _when(a.convention_ends_at), "withdrawn_at": _when(a.withdrawn_at),
                        "opinion": found[-1].opinion if found else None})  # fmt: skip
    if as_json:
        typer.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    if not out:
        typer.echo("aucune application")
    for item in out:
        granted = ", ".join(category_label(str(c)) for c in item["categories_granted"] or []) or "—"
        fed = ", ".join(category_label(str(c)) for c in item["feeds_granted"] or []) or "—"
        state = STATUS_LABELS[Status(str(item["status"]))][0]
        typer.echo(f"{item['id']}\t{item['name']}\t{state}\tlit : {granted}\talimente : {fed}")

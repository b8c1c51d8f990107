"""``carnet space agenda-reminders`` and ``carnet space reimbursements import``: the agenda's and the reimbursements'
jobs at the platform host (docs/agenda.md, docs/reimbursements.md).

Bad input is said on stderr with every reason (exit code 1; 2 for an unreadable file or a bad configuration), never
a traceback. Both commands act as the platform (a system actor), recorded in the audit trail.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from carnet.cli_support import fail as _fail
from carnet.cli_support import platform as _platform
from carnet.errors import CarnetError
from carnet.space.cli import space_app

reimbursements_app = typer.Typer(help="Données de remboursement de l'Assurance Maladie : import du flux.",
                                 no_args_is_help=True)  # fmt: skip
space_app.add_typer(reimbursements_app, name="reimbursements")


class FeedFormat(StrEnum):
    CSV = "csv"
    JSON = "json"


@space_app.command("agenda-reminders")
def agenda_reminders() -> None:
    """Rappels de la veille : écrit le rappel de chaque événement de demain (une fois) et envoie les courriels."""
    from carnet.notify.mailer import deliver_pending
    from carnet.space import agenda

    with _platform() as platform:
        try:
            with platform.uow() as uow:
                report = agenda.send_reminders(uow=uow)
                uow.commit()
        except CarnetError as exc:
            _fail(exc.message)
        sent = deliver_pending(session_factory=platform.session_factory, clock=platform.clock,
                               settings=platform.settings)  # fmt: skip
    typer.echo(
        f"rappels écrits : {report.reminded} ; déjà envoyés : {report.already} ; "
        f"courriels envoyés : {sent.sent} ; à réessayer : {sent.retried} ; en échec : {sent.failed}"
    )


@reimbursements_app.command("import")
def import_feed(
    file: Annotated[Path, typer.Argument(help="Fichier du flux (CSV ou JSON, docs/reimbursements.md)")],
    fmt: Annotated[FeedFormat | None, typer.Option("--format", help="csv ou json (par défaut : l'extension)")] = None,
) -> None:
    """Importe un fichier du flux des remboursements : tout ou rien, chaque ligne une seule fois."""
    from carnet.space import reimbursements

    try:
        data = file.read_bytes()
    except OSError as exc:
        _fail(f"lecture de {file} impossible : {exc.strerror or exc}", code=2)
    chosen = fmt.value if fmt is not None else file.suffix.lower().lstrip(".")
    if chosen not in ("csv", "json"):
        _fail(f"format de {file.name} inconnu : précisez --format csv ou --format json", code=2)
    with _platform() as platform:
        try:
            with platform.uow() as uow:
                report = reimbursements.import_feed(uow=uow, data=data, fmt=chosen)
                uow.commit()
        except reimbursements.ImportRejected as exc:
            for problem in exc.problems:
                typer.echo(f"ligne {problem.line} : {problem.field} : {problem.reason}", err=True)
            _fail(f"{len(exc.problems)} erreur(s) dans {file.name} ; rien n'a été importé")
        except CarnetError as exc:
            _fail(exc.message)
    typer.echo(f"lignes importées : {report.imported} ; déjà importées : {report.already} ; "
               f"espaces concernés : {report.patients}")  # fmt: skip


@reimbursements_app.command("import-cda")
def import_cda(
    document_id: Annotated[str, typer.Argument(help="Identifiant du document CNAM-HR dans le dossier")],
) -> None:
    """Lit un document « Données de remboursement » (CNAM-HR) du dossier dans les remboursements du titulaire."""
    from carnet.space import reimbursements

    with _platform() as platform:
        try:
            with platform.uow() as uow:
                report = reimbursements.import_from_document(uow=uow, actor=reimbursements.IMPORTER,
                                                             entry_id=document_id)  # fmt: skip
                uow.commit()
        except CarnetError as exc:
            _fail(exc.message)
    typer.echo(f"lignes importées : {report.imported} ; déjà importées : {report.already}")

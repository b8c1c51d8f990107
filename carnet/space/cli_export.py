"""``carnet space export INS [--output FILE]``: the export archive of a holder's space, written at the platform host
(docs/export.md).

The command acts as the platform at the holder's request (an actor ``system`` / ``cli``, traced as such in the
holder's access history) and exports what the holder sees: documents held back until the announcement consultation
stay out. The archive is written next to the output file and renamed at the end, so a failed export leaves
nothing; an existing file is not overwritten. Bad input (a malformed INS, an unknown one, an output that exists or
whose folder does not) is said on stderr, exit code 1, never a traceback; a bad configuration exits with 2.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from carnet.cli_support import fail as _fail
from carnet.cli_support import platform as _platform
from carnet.space.cli import space_app

if TYPE_CHECKING:
    pass


def _output(given: Path | None, ins: str, day: str) -> Path:
    target = (given or Path(f"export-{ins}-{day}.zip")).expanduser()
    if target.exists():
        _fail(f"le fichier {target} existe déjà : choisir un autre nom (--output)")
    if not target.parent.is_dir():
        _fail(f"le dossier {target.parent} n'existe pas")
    return target


@space_app.command("export")
def export_command(
    ins: Annotated[str, typer.Argument(help="Matricule INS du titulaire")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Fichier ZIP à écrire (défaut : export-<INS>-<date>.zip)")
    ] = None,  # fmt: skip
    as_json: Annotated[bool, typer.Option("--json", help="Sortie JSON")] = False,
) -> None:
    """Exporter l'espace santé d'un titulaire : documents d'origine, FHIR, historique des accès, index.html."""
    from carnet.access.model import Actor, ActorKind, AuthMethod
    from carnet.identity import service as identities
    from carnet.space import export

    actor = Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI, name="export à la demande du titulaire")
    with _platform(start_code=2) as platform, platform.uow() as uow:
        found = identities.find_by_ins(uow=uow, actor=actor, matricule=ins)
        if found is None:
            _fail(f"aucun patient avec l'INS {ins}")
        target = _output(output, ins, uow.clock.now().date().isoformat())
        handle, partial = tempfile.mkstemp(prefix=".export-", suffix=".zip.part", dir=target.parent)
        try:
            with os.fdopen(handle, "wb") as out:
                archive = export.export(uow=uow, actor=actor, patient_id=found.id, destination=out,
                                        fhir_base=f"{platform.settings.public_url.rstrip('/')}/fhir")  # fmt: skip
                out.flush()
                os.fsync(out.fileno())
            uow.commit()
            os.replace(partial, target)
        finally:
            Path(partial).unlink(missing_ok=True)
    summary = {"output": str(target), "patient": found.id, "documents": archive.documents,
               "resources": archive.resources, "bytes": target.stat().st_size,
               "manifest_sha256": archive.manifest_sha256}  # fmt: skip
    if as_json:
        typer.echo(json.dumps(summary, ensure_ascii=False, indent=2))
        return
    total = sum(archive.resources.values())
    typer.echo(f"Archive écrite : {target} ({archive.documents} document(s), {total} ressource(s) FHIR, "
               f"{summary['bytes']} octets)")  # fmt: skip

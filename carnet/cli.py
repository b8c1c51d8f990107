"""The ``carnet`` command: one more entry point over the same services."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import os
import sys
from contextlib import AbstractContextManager
from enum import StrEnum
from typing import Annotated, Any

import typer

from carnet import cli_support
from carnet.audit.cli import audit_app
from carnet.catalogue.cli import catalogue_app
from carnet.cli_support import errors as _errors
from carnet.cli_support import fail
from carnet.cli_support import settings as _settings
from carnet.errors import DocumentRejected
from carnet.messaging.cli import messaging_app
from carnet.sharing.cli import sharing_app
from carnet.space.cli import space_app

app = typer.Typer(
    help="Carnet : espace de santé du patient et dossier médical partagé.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
db_app = typer.Typer(help="Base de données : migrations.", no_args_is_help=True)
ins_app = typer.Typer(help="Identité nationale de santé (INS).", no_args_is_help=True)
patient_app = typer.Typer(help="Index des patients : créer, rechercher, qualifier.", no_args_is_help=True)
bench_app = typer.Typer(help="Mesures de performance (chiffres imprimés).", no_args_is_help=True)
doc_app = typer.Typer(help="Documents du dossier partagé : vérifier, déposer, lister.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(ins_app, name="ins")
app.add_typer(patient_app, name="patient")
app.add_typer(bench_app, name="bench")
app.add_typer(doc_app, name="doc")
app.add_typer(audit_app, name="audit")
directory_app = typer.Typer(help="Annuaire des professionnels : importer un extrait.", no_args_is_help=True)
app.add_typer(directory_app, name="directory")
app.add_typer(sharing_app, name="sharing")
app.add_typer(messaging_app, name="messaging")
app.add_typer(catalogue_app, name="catalogue")
app.add_typer(space_app, name="space")


def _platform(migrate: bool = True) -> AbstractContextManager[Any]:
    return cli_support.platform(migrate=migrate)


def _json_default(value: Any) -> str:
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    return str(value)


def _echo_json(data: Any) -> None:
    typer.echo(json.dumps(data, ensure_ascii=False, indent=2, default=_json_default))


class ActorKindOpt(StrEnum):
    professional = "professional"
    secretariat = "secretariat"


def _actor(kind: ActorKindOpt | None, actor_id: str | None, profession: str | None) -> Any:
    """Who acts in this command. The CLI runs on the platform host: by default it acts as the platform itself;
    with --actor-kind it stands in for the professional's software (the card authentication is the operator's
    responsibility), and every action is traced under that identity."""
    from carnet.access.model import Actor, ActorKind, AuthMethod

    if kind is None:
        return Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI)
    if not actor_id:
        fail("--actor-id est obligatoire avec --actor-kind (RPPS/ADELI, ou numéro de carte CPE)")
    if kind is ActorKindOpt.professional:
        return Actor(kind=ActorKind.PROFESSIONAL, id=actor_id, auth_method=AuthMethod.CPS, profession=profession)
    return Actor(kind=ActorKind.SECRETARIAT, id=actor_id, auth_method=AuthMethod.CPE, acting_for=None)


ActorKindArg = Annotated[
    ActorKindOpt | None, typer.Option("--actor-kind", help="Qui agit : professional (CPS) ou secretariat (CPE)")
]
ActorIdArg = Annotated[str | None, typer.Option("--actor-id", help="Identifiant de l'acteur (RPPS, ADELI, CPE)")]
ProfessionArg = Annotated[str | None, typer.Option("--profession", help="Code profession TRE_G15 (10 = médecin)")]
JsonArg = Annotated[bool, typer.Option("--json", help="Sortie JSON")]


# --- config, serve, db, demo -------------------------------------------------------------------------------


@app.command()
def config(as_json: JsonArg = False) -> None:
    """Afficher la configuration effective (secrets masqués)."""
    view = _settings().public_view()
    if as_json:
        _echo_json(view)
        return
    for key, value in view.items():
        typer.echo(f"{key:20} {value}")


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Adresse d'écoute")] = None,
    port: Annotated[int | None, typer.Option(help="Port")] = None,
) -> None:
    """Démarrer la plateforme (migrations appliquées, données de démonstration au premier démarrage)."""
    import uvicorn

    from carnet.api.app import create_app
    from carnet.demo import load_demo, load_demo_documents

    settings = _settings()
    if (url := served_url(settings, host, port)) is not None:
        os.environ["CARNET_PUBLIC_URL"] = url  # read again below and by the platform
        settings = _settings()
    with _platform() as platform:
        if settings.demo_data:
            with _errors():
                report = load_demo(platform)
                documents = load_demo_documents(platform)
            if report.created or documents:
                typer.echo(f"Données de démonstration chargées : {report.created} identités, {documents} documents.")
        bind_host, bind_port = host or settings.host, port or settings.port
        typer.echo(_banner(settings, f"http://{bind_host}:{bind_port}"))
        uvicorn.run(create_app(settings, platform=platform), host=bind_host, port=bind_port, log_level="info")


def served_url(settings: Any, host: str | None, port: int | None) -> str | None:
    """The public URL of a platform started on ``host:port`` when none is configured: the development identity
    provider's issuer and redirect addresses and the API's token audience derive from it, so they must name the
    address it listens on (``carnet serve --port 8123``). None when ``CARNET_PUBLIC_URL`` is set."""
    if "public_url" in settings.model_fields_set:
        return None
    bind_host, bind_port = host or settings.host, port or settings.port
    shown = "127.0.0.1" if bind_host in ("", "0.0.0.0", "::") else bind_host
    return f"http://{f'[{shown}]' if ':' in shown else shown}:{bind_port}"


def _banner(settings: Any, bound: str) -> str:
    """Where the portals and the API are, and how to sign in as each demo user (development only)."""
    base = str(settings.public_url or bound).rstrip("/")
    lines = [
        f"Carnet — {base}",
        f"  Espace patient (Mon espace santé) : {base}/",
        f"  Accès professionnel               : {base}/pro",
        f"  API FHIR R4                       : {base}/fhir/metadata   (santé : {base}/health)",
    ]
    if settings.dev_idp:
        from carnet.auth import devusers

        lines.append(
            "  Connexion : ouvrez le portail, choisissez une personne sur la page du fournisseur d'identité de"
        )
        lines.append("  démonstration (aucun mot de passe : environnement de développement).")
        lines.append("    Patients (type FranceConnect) :")
        lines += [f"      {p.display_name:<28} INS {p.ins}" for p in devusers.PATIENTS]
        lines += [f"      {r.display_name:<28} INS {r.ins}, représentant de "
                  + ", ".join(devusers.REPRESENTED.get(ins, ins) for ins in r.represents)
                  for r in devusers.REPRESENTATIVES]  # fmt: skip
        lines.append("    Professionnels (type Pro Santé Connect) :")
        lines += [f"      {p.display_name:<28} {p.national_id}  {p.organisation_name or ''}"
                  for p in (*devusers.PROFESSIONALS, *devusers.SECRETARIAT)]  # fmt: skip
    return "\n".join(lines)


@db_app.command("upgrade")
def db_upgrade() -> None:
    """Appliquer les migrations jusqu'à la dernière version du schéma."""
    from carnet.storage.migrate import current_revision

    with _platform(migrate=True) as platform:
        typer.echo(f"Schéma à jour : révision {current_revision(platform.engine)} ({platform.engine.dialect.name})")


@db_app.command("current")
def db_current() -> None:
    """Afficher la révision du schéma de la base."""
    from carnet.storage.migrate import current_revision, head_revision

    with _platform(migrate=False) as platform:
        current, head = current_revision(platform.engine), head_revision()
        typer.echo(f"révision actuelle : {current or 'aucune'} ; dernière : {head}")
        if current != head:
            raise typer.Exit(1)


@app.command()
def demo() -> None:
    """Charger la population synthétique de démonstration (INS de test)."""
    from carnet.demo import load_demo, load_demo_documents

    with _platform() as platform, _errors():
        report = load_demo(platform)
        documents = load_demo_documents(platform)
    typer.echo(
        f"{report.created} identités créées ({report.qualified} qualifiées), {report.skipped} déjà présentes, "
        f"{report.collisions} alerte(s) de collision d'identité ; {documents} documents de démonstration déposés."
    )


# --- ins -----------------------------------------------------------------------------------------------------


@ins_app.command("check")
def ins_check(
    matricule: Annotated[str, typer.Argument(help="Matricule INS (NIR ou NIA), 15 caractères")],
    oid: Annotated[str | None, typer.Option(help="OID de l'INS (NIR, NIA, test, démo)")] = None,
    as_json: JsonArg = False,
) -> None:
    """Vérifier un matricule INS : code 0 et ses parties s'il est valide, code 1 et la raison sinon."""
    from carnet.errors import InvalidMatricule
    from carnet.identity.matricule import Ins, parse_matricule

    try:
        parsed = Ins.parse(matricule, oid).matricule if oid else parse_matricule(matricule)
    except InvalidMatricule as exc:
        if as_json:
            _echo_json({"valid": False, "part": exc.part, "reason": exc.message})
            raise typer.Exit(1) from None
        fail(f"matricule invalide ({exc.part}) : {exc.message}")
    parts = {
        "valid": True,
        "matricule": parsed.value,
        "sex": parsed.sex,
        "year": parsed.year,
        "month": parsed.month,
        "department": parsed.department,
        "commune": parsed.commune,
        "order": parsed.order,
        "key": parsed.key,
        "born_abroad": parsed.born_abroad,
    }
    if oid:
        parts["oid"] = oid
    if as_json:
        _echo_json(parts)
        return
    typer.echo(f"Matricule valide : {parsed.value}")
    for key, value in parts.items():
        if key not in ("valid", "matricule"):
            typer.echo(f"  {key:12} {value}")


# --- patient -------------------------------------------------------------------------------------------------


def _identity_json(p: Any) -> dict[str, Any]:
    t = p.traits
    return {
        "id": p.id,
        "status": p.status.value,
        "status_label": p.status.label_fr,
        "ins": {"matricule": p.ins.value, "oid": p.ins.oid.value} if p.ins else None,
        "birth_name": t.birth_name,
        "first_name": t.first_name,
        "birth_first_names": t.birth_first_names,
        "sex": t.sex,
        "birth_date": t.birth_date.isoformat(),
        "birth_place": t.birth_place,
        "used_name": t.used_name,
        "used_first_name": t.used_first_name,
        "merged_into": p.merged_into_id,
    }


def _print_identity(p: Any) -> None:
    t = p.traits
    ins = f"{p.ins.value} ({p.ins.oid.value})" if p.ins else "—"
    used = f" (nom d'usage {t.used_name})" if t.used_name else ""
    typer.echo(
        f"{p.id}  {t.birth_name} {t.birth_first_names}{used}  {t.sex}  {t.birth_date.isoformat()}  "
        f"né(e) à {t.birth_place}  INS {ins}  [{p.status.value} — {p.status.label_fr}]"
    )


@patient_app.command("add")
def patient_add(
    birth_name: Annotated[str, typer.Option("--birth-name", help="Nom de naissance")],
    first_names: Annotated[str, typer.Option("--first-names", help="Liste des prénoms de naissance")],
    sex: Annotated[str, typer.Option(help="Sexe : M ou F")],
    birth_date: Annotated[str, typer.Option("--birth-date", help="Date de naissance AAAA-MM-JJ")],
    birth_place: Annotated[str, typer.Option("--birth-place", help="Code INSEE (COG) du lieu de naissance")],
    used_name: Annotated[str | None, typer.Option("--used-name", help="Nom utilisé")] = None,
    used_first_name: Annotated[str | None, typer.Option("--used-first-name", help="Prénom utilisé")] = None,
    insi: Annotated[bool, typer.Option("--insi", help="Appeler l'INSi aussitôt (recherche par traits)")] = False,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Créer une identité (provisoire) et signaler les collisions possibles."""
    from carnet.identity import service
    from carnet.identity.traits import make_traits

    actor = _actor(actor_kind, actor_id, profession)
    with _platform() as platform, _errors():
        traits = make_traits(
            birth_name=birth_name,
            birth_first_names=first_names,
            sex=sex,
            birth_date=birth_date,
            birth_place=birth_place,
            used_name=used_name,
            used_first_name=used_first_name,
            today=platform.clock.now().date(),
        )
        with platform.uow() as uow:
            reg = service.register(uow=uow, actor=actor, traits=traits)
            patient, outcome = reg.patient, None
            if insi:
                result = service.retrieve_ins(uow=uow, actor=actor, insi=platform.insi, patient_id=patient.id)
                patient, outcome = result.patient, result.outcome
            uow.commit()
    if as_json:
        out = _identity_json(patient)
        out["collisions"] = [dataclasses.asdict(c) for c in reg.collisions]
        out["insi_outcome"] = outcome.value if outcome else None
        _echo_json(out)
        return
    _print_identity(patient)
    if outcome is not None:
        typer.echo(f"INSi : {outcome.value} — {outcome.label_fr}")
    for c in reg.collisions:
        typer.echo(f"ATTENTION collision possible avec {c.patient_id} : {', '.join(c.reasons)}")


@patient_app.command("find")
def patient_find(
    ins: Annotated[str | None, typer.Option("--ins", help="Matricule INS")] = None,
    name: Annotated[str | None, typer.Option("--name", help="Nom de naissance (début)")] = None,
    first_name: Annotated[str | None, typer.Option("--first-name", help="Premier prénom (début)")] = None,
    birth_date: Annotated[str | None, typer.Option("--birth-date", help="Date de naissance AAAA-MM-JJ")] = None,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Rechercher un patient par INS ou par traits (code 1 si aucun résultat)."""
    from carnet.identity import service

    actor = _actor(actor_kind, actor_id, profession)
    date = _parse_date(birth_date) if birth_date else None
    with _platform() as platform, _errors(), platform.uow() as uow:
        if ins:
            found = service.find_by_ins(uow=uow, actor=actor, matricule=ins)
            results = [found] if found else []
        else:
            results = service.search(uow=uow, actor=actor, birth_name=name, first_name=first_name, birth_date=date)
        uow.commit()
    if as_json:
        _echo_json([_identity_json(p) for p in results])
    else:
        for p in results:
            _print_identity(p)
    if not results:
        if not as_json:
            typer.echo("Aucun patient trouvé.", err=True)
        raise typer.Exit(1)


def _parse_date(value: str) -> dt.date:
    try:
        return dt.date.fromisoformat(value)
    except ValueError:
        fail(f"date invalide : {value!r} (format attendu AAAA-MM-JJ)")


@patient_app.command("show")
def patient_show(
    patient_id: Annotated[str, typer.Argument(help="Identifiant du patient")],
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Afficher une identité, son historique et les collisions possibles."""
    from carnet.identity import service

    actor = _actor(actor_kind, actor_id, profession)
    with _platform() as platform, _errors(), platform.uow() as uow:
        patient = service.get_or_raise(uow=uow, actor=actor, patient_id=patient_id)
        events = service.history(uow=uow, actor=actor, patient_id=patient.id)
        alerts = service.collisions(uow=uow, actor=actor, patient_id=patient.id)
        uow.commit()
    if as_json:
        out = _identity_json(patient)
        out["history"] = [dataclasses.asdict(e) for e in events]
        out["collisions"] = [dataclasses.asdict(c) for c in alerts]
        _echo_json(out)
        return
    _print_identity(patient)
    for e in events:
        change = f"{e.from_status or '∅'} → {e.to_status}" if e.kind in ("status", "traits", "created") else ""
        how = " ".join(x for x in (e.evidence, e.document_type) if x)
        typer.echo(
            f"  {e.at.isoformat(timespec='seconds')}  {e.kind:11} {change:13} {how:28} par {e.actor_kind}:{e.actor_id}"
        )
    for c in alerts:
        typer.echo(f"  ATTENTION collision possible avec {c.patient_id} : {', '.join(c.reasons)}")


@patient_app.command("qualify")
def patient_qualify(
    patient_id: Annotated[str, typer.Argument(help="Identifiant du patient")],
    insi: Annotated[bool, typer.Option("--insi", help="Récupérer l'INS par les traits auprès de l'INSi")] = False,
    carte_vitale: Annotated[
        str | None, typer.Option("--carte-vitale", help="NIR lu sur la carte Vitale (récupération par carte)")
    ] = None,
    document: Annotated[
        str | None, typer.Option("--document", help="Pièce d'identité contrôlée : PA, CN, TS (AN, LE pour un mineur)")
    ] = None,
    exception: Annotated[
        bool, typer.Option("--exception", help="Procédure d'exception : le médecin atteste connaître le patient")
    ] = False,
    note: Annotated[str | None, typer.Option(help="Commentaire tracé")] = None,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Faire progresser le statut : INSi (récupérée), pièce d'identité (validée), les deux (qualifiée)."""
    from carnet.identity import service
    from carnet.identity.insi import CarteVitaleRead, InsiOutcome
    from carnet.identity.status import IdDocumentType

    if not (insi or carte_vitale or document or exception):
        fail("indiquer au moins --insi, --carte-vitale, --document ou --exception")
    if actor_kind is None:
        fail("la qualification est tracée : indiquer --actor-kind et --actor-id")
    actor = _actor(actor_kind, actor_id, profession)
    doc_type = None
    if document:
        try:
            doc_type = IdDocumentType(document.upper())
        except ValueError:
            fail(f"type de pièce inconnu : {document!r} (PA, CN, TS, AN, LE)")
    messages: list[str] = []
    with _platform() as platform, _errors(), platform.uow() as uow:
        patient = service.get_or_raise(uow=uow, actor=actor, patient_id=patient_id)
        if insi or carte_vitale:
            card = (
                CarteVitaleRead(
                    card_nir=carte_vitale,
                    beneficiary_birth_date=patient.traits.birth_date,
                    beneficiary_first_name=patient.traits.first_name,
                )
                if carte_vitale
                else None
            )
            result = service.retrieve_ins(
                uow=uow, actor=actor, insi=platform.insi, patient_id=patient.id, carte_vitale=card
            )
            messages.append(f"INSi : {result.outcome.value} — {result.outcome.label_fr}")
            if result.differences:
                messages.append("traits mis à jour depuis l'INSi : " + ", ".join(result.differences))
            if result.outcome is not InsiOutcome.FOUND:
                uow.commit()  # the INSi call itself is traced
                for m in messages:
                    typer.echo(m, err=True)
                raise typer.Exit(1)
            patient = result.patient
        if doc_type:
            patient = service.record_document_check(
                uow=uow, actor=actor, patient_id=patient.id, document_type=doc_type, note=note
            )
        if exception:
            patient = service.attest_exception(uow=uow, actor=actor, patient_id=patient.id, note=note)
        uow.commit()
    if as_json:
        _echo_json(_identity_json(patient))
        return
    for m in messages:
        typer.echo(m)
    _print_identity(patient)


@patient_app.command("merge")
def patient_merge(
    survivor: Annotated[str, typer.Argument(help="Dossier conservé")],
    absorbed: Annotated[str, typer.Argument(help="Doublon à fusionner dans le dossier conservé")],
    note: Annotated[str | None, typer.Option(help="Commentaire tracé")] = None,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
) -> None:
    """Fusionner deux dossiers d'un même patient ; les deux historiques sont conservés."""
    from carnet.identity import service

    actor = _actor(actor_kind, actor_id, profession)
    with _platform() as platform, _errors(), platform.uow() as uow:
        patient = service.merge(uow=uow, actor=actor, survivor_id=survivor, absorbed_id=absorbed, note=note)
        uow.commit()
    _print_identity(patient)


# --- doc -----------------------------------------------------------------------------------------------------


def _read_file(path: str) -> bytes:
    from pathlib import Path

    try:
        return Path(path).read_bytes()
    except OSError as exc:
        fail(f"lecture impossible de {path} : {exc.strerror}")


def _mime_for(path: str) -> str:
    lower = path.lower()
    if lower.endswith(".pdf"):
        return "application/pdf"
    if lower.endswith((".jpg", ".jpeg")):
        return "image/jpeg"
    return "text/xml"


def _meta_json(m: Any) -> dict[str, Any]:
    return dataclasses.asdict(m) if m is not None else {}


@doc_app.command("check")
def doc_check(
    path: Annotated[str, typer.Argument(help="Fichier CDA R2 à vérifier")],
    as_json: JsonArg = False,
) -> None:
    """Vérifier un document CDA pour le partage : chaque problème et sa position (XPath) ; code 0 si déposable."""
    from carnet.record import service as record

    content = _read_file(path)
    checked = record.check_document(content, mime_type=_mime_for(path), max_bytes=_settings().max_document_bytes)
    ok = not checked.errors
    if as_json:
        _echo_json(
            {
                "depositable": ok,
                "problems": [dataclasses.asdict(p) for p in checked.problems],
                "metadata": _meta_json(checked.metadata),
                "patient_ins": (
                    {"matricule": checked.header.patient_ins.value, "oid": checked.header.patient_ins.oid.value}
                    if checked.header and checked.header.patient_ins
                    else None
                ),
            }
        )
    else:
        for p in checked.problems:
            label = "ERREUR" if p.severity == "error" else "avertissement"
            typer.echo(f"{label:13} {p.location}\n              {p.message} [{p.code}]")
        if checked.metadata:
            m = checked.metadata
            typer.echo(
                f"Métadonnées : type {m.type_code}, classe {m.class_code}, format {m.format_code}, "
                f"confidentialité {m.confidentiality_code}, auteur {m.author.id}, date {m.creation_time.isoformat()}"
            )
        typer.echo("Déposable." if ok else f"Non déposable : {len(checked.errors)} erreur(s).")
    if not ok:
        raise typer.Exit(1)


def _patient_by_ins(uow: Any, actor: Any, ins: str) -> Any:
    from carnet.identity import service

    found = service.find_by_ins(uow=uow, actor=actor, matricule=ins)
    if found is None:
        fail(f"aucun patient avec l'INS {ins}")
    return found


@doc_app.command("add")
def doc_add(
    path: Annotated[str, typer.Argument(help="Document CDA R2")],
    patient: Annotated[str, typer.Option("--patient", help="Matricule INS du patient")],
    replaces: Annotated[str | None, typer.Option(help="Identifiant unique du document remplacé")] = None,
    hold_back: Annotated[
        bool, typer.Option("--invisible-patient", help="Invisible au patient jusqu'à la consultation d'annonce")
    ] = False,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Déposer un document dans le dossier du patient désigné par son INS."""
    from carnet.record import service as record

    actor = _actor(actor_kind, actor_id, profession)
    content = _read_file(path)
    with _platform() as platform, _errors(), platform.uow() as uow:
        target = _patient_by_ins(uow, actor, patient)
        try:
            result = record.deposit(
                uow=uow,
                actor=actor,
                patient_id=target.id,
                content=content,
                mime_type=_mime_for(path),
                replaces=replaces,
                invisible_to_patient=hold_back,
                max_bytes=platform.settings.max_document_bytes,
            )
        except DocumentRejected as exc:
            for p in exc.problems:
                typer.echo(f"ERREUR {p.location} : {p.message} [{p.code}]", err=True)
            raise
        uow.commit()
    entry = result.entry
    if as_json:
        _echo_json(
            {
                "id": entry.id,
                "created": result.created,
                "same_content_as": list(result.same_content_as),
                "metadata": _meta_json(entry.metadata),
            }
        )
        return
    verb = "Déposé" if result.created else "Déjà présent (renvoi identique)"
    typer.echo(f"{verb} : {entry.id}  {entry.metadata.type_code}  {entry.metadata.title}")
    if result.same_content_as:
        typer.echo(f"Même contenu que : {', '.join(result.same_content_as)} (stocké une seule fois)")


@doc_app.command("list")
def doc_list(
    patient: Annotated[str, typer.Argument(help="Matricule INS du patient")],
    type_code: Annotated[list[str] | None, typer.Option("--type", help="Type de document (JDV_J07)")] = None,
    class_code: Annotated[list[str] | None, typer.Option("--class", help="Classe (JDV_J06)")] = None,
    author: Annotated[str | None, typer.Option(help="Identifiant ou nom de l'auteur")] = None,
    author_kind: Annotated[str | None, typer.Option("--author-kind", help="professional, patient ou app")] = None,
    query: Annotated[str | None, typer.Option("--query", "-q", help="Recherche plein texte")] = None,
    all_versions: Annotated[bool, typer.Option("--all", help="Inclure versions remplacées et supprimées")] = False,
    actor_kind: ActorKindArg = None,
    actor_id: ActorIdArg = None,
    profession: ProfessionArg = None,
    as_json: JsonArg = False,
) -> None:
    """Lister les documents d'un patient (filtres, recherche plein texte)."""
    from carnet.record import service as record
    from carnet.record.store import DocumentFilters

    actor = _actor(actor_kind, actor_id, profession)
    filters = DocumentFilters(
        type_codes=tuple(type_code or ()),
        class_codes=tuple(class_code or ()),
        author=author,
        author_kind=author_kind,
        statuses=("current", "superseded", "deleted") if all_versions else ("current",),
    )
    with _platform() as platform, _errors(), platform.uow() as uow:
        target = _patient_by_ins(uow, actor, patient)
        if query:
            page = record.search_documents(uow=uow, actor=actor, patient_id=target.id, query=query, filters=filters)
        else:
            page = record.list_documents(uow=uow, actor=actor, patient_id=target.id, filters=filters, limit=1000)
        uow.commit()
    if as_json:
        _echo_json({"total": page.total, "items": [dataclasses.asdict(e) for e in page.items]})
        return
    for e in page.items:
        m = e.metadata
        flags = " ".join(
            f
            for f, on in (
                ("[doublon probable]", e.probable_duplicate),
                (f"[{e.status.value}]", e.status.value != "current"),
            )
            if on
        )
        typer.echo(
            f"{m.creation_time.date().isoformat()}  {m.type_code:10} {m.title}  — {m.author.display_name}  "
            f"{e.id} {flags}"
        )
    typer.echo(f"{page.total} document(s).")


# --- notifications -------------------------------------------------------------------------------------------

notify_app = typer.Typer(help="Notifications des titulaires : envoi des e-mails en attente.", no_args_is_help=True)
app.add_typer(notify_app, name="notify")


@notify_app.command("deliver")
def notify_deliver(
    limit: Annotated[int, typer.Option(help="Nombre maximal de messages envoyés")] = 100,
) -> None:
    """Envoyer les e-mails en attente par le relais SMTP configuré (nouvelles tentatives espacées si échec)."""
    from carnet.notify.mailer import deliver_pending

    with _platform() as platform, _errors():
        report = deliver_pending(
            session_factory=platform.session_factory, clock=platform.clock, settings=platform.settings, limit=limit
        )
    typer.echo(f"{report.sent} envoyé(s), {report.retried} à réessayer, {report.failed} en échec définitif.")


# --- bench ---------------------------------------------------------------------------------------------------


@bench_app.command("identity")
def bench_identity(
    patients: Annotated[int, typer.Option(help="Taille de l'index de patients")] = 1_000_000,
    lookups: Annotated[int, typer.Option(help="Nombre de recherches par INS mesurées")] = 20_000,
    validations: Annotated[int, typer.Option(help="Nombre de matricules validés")] = 1_000_000,
    postgres_url: Annotated[
        str | None, typer.Option("--postgres-url", help="PostgreSQL à mesurer (sinon un cluster jetable)")
    ] = None,
    backend: Annotated[str, typer.Option(help="sqlite, postgresql ou both")] = "both",
) -> None:
    """Validations de matricules par seconde ; latence p50/p95 des recherches par INS."""
    import carnet.bench.identity as bench

    with _errors():
        bench.run(
            patients=patients,
            lookups=lookups,
            validations=validations,
            backend=backend,
            postgres_url=postgres_url,
            echo=typer.echo,
        )


@bench_app.command("record")
def bench_record(
    documents: Annotated[int, typer.Option(help="Taille du magasin de documents")] = 1_000_000,
    patient_documents: Annotated[int, typer.Option("--patient-documents", help="Documents du patient mesuré")] = 500,
    deposits: Annotated[int, typer.Option(help="Dépôts mesurés (débit)")] = 2_000,
    queries: Annotated[int, typer.Option(help="Listes et recherches mesurées")] = 500,
    postgres_url: Annotated[
        str | None, typer.Option("--postgres-url", help="PostgreSQL à mesurer (sinon un cluster jetable)")
    ] = None,
    backend: Annotated[str, typer.Option(help="sqlite, postgresql ou both")] = "both",
) -> None:
    """Débit de dépôt de documents CDA ; latence p50/p95 des listes et recherches plein texte."""
    import carnet.bench.record as bench

    with _errors():
        bench.run(
            documents=documents,
            patient_documents=patient_documents,
            deposits=deposits,
            queries=queries,
            backend=backend,
            postgres_url=postgres_url,
            echo=typer.echo,
        )


@bench_app.command("access")
def bench_access(
    decisions: Annotated[int, typer.Option(help="Nombre de décisions mesurées")] = 1_000_000,
) -> None:
    """Décisions d'accès par seconde (faits en mémoire, un cœur)."""
    import carnet.access.bench as bench

    with _errors():
        bench.run(decisions=decisions, echo=typer.echo)


@bench_app.command("audit")
def bench_audit(
    appends: Annotated[int, typer.Option(help="Nombre d'entrées ajoutées")] = 20_000,
) -> None:
    """Ajouts à la trace d'audit chaînée par seconde (SQLite), par transactions de 1 et de 100 entrées."""
    import carnet.audit.bench as bench

    with _errors():
        bench.run(appends=appends, echo=typer.echo)


@bench_app.command("api")
def bench_api(
    documents: Annotated[int, typer.Option(help="Taille du magasin de documents")] = 1_000_000,
    patient_documents: Annotated[int, typer.Option("--patient-documents", help="Documents du patient mesuré")] = 500,
    submissions: Annotated[int, typer.Option(help="Lots ITI-65 soumis (un document chacun)")] = 2_000,
    searches: Annotated[int, typer.Option(help="Recherches ITI-67 mesurées")] = 500,
    reads: Annotated[int, typer.Option(help="Lectures de Patient mesurées")] = 20_000,
    clients: Annotated[int, typer.Option(help="Clients concurrents")] = 8,
    workers: Annotated[int, typer.Option(help="Processus uvicorn (défaut : un par cœur)")] = os.cpu_count() or 1,
    backend: Annotated[str, typer.Option(help="sqlite, postgresql ou both")] = "both",
    http: Annotated[
        str, typer.Option(help="httptools (httptools + uvloop) ou h11 (h11 + asyncio, pour comparer)")
    ] = "httptools",
) -> None:
    """L'API FHIR sous uvicorn : soumissions ITI-65/s, latence ITI-67, lectures de Patient/s."""
    import carnet.bench.api as bench

    with _errors():
        bench.run(documents=documents, patient_documents=patient_documents, submissions=submissions,
                  searches=searches, reads=reads, clients=clients, workers=workers, backend=backend, http=http,
                  echo=typer.echo)  # fmt: skip


@bench_app.command("messaging")
def bench_messaging(
    messages: Annotated[int, typer.Option(help="Messages envoyés à la passerelle SMTP")] = 2_000,
    clients: Annotated[int, typer.Option(help="Clients smtplib concurrents (une connexion chacun)")] = 8,
    attachment_kb: Annotated[int, typer.Option("--attachment-kb", help="Taille de la pièce jointe (Kio)")] = 50,
    shares: Annotated[int, typer.Option(help="Appels de share mesurés")] = 1_000,
    postgres_url: Annotated[
        str | None, typer.Option("--postgres-url", help="PostgreSQL à mesurer (sinon un cluster jetable)")
    ] = None,
    backend: Annotated[str, typer.Option(help="sqlite, postgresql ou both")] = "both",
    quick: Annotated[bool, typer.Option("--quick", help="Essai court (40 messages, 10 partages, SQLite)")] = False,
    gateway_processes: Annotated[
        int | None, typer.Option("--gateway-processes", help="Processus de la passerelle SMTP (défaut : un par cœur)")
    ] = None,
) -> None:
    """Messagerie : messages acceptés/s par la passerelle SMTP et distribués ; partages (share) par seconde."""
    import carnet.bench.messaging as bench

    values: dict[str, Any] = dict(
        messages=messages, clients=clients, attachment_kb=attachment_kb, shares=shares, backend=backend,
        processes=gateway_processes,
    )  # fmt: skip
    with _errors():
        bench.run(**{**values, **(bench.QUICK if quick else {})}, postgres_url=postgres_url, echo=typer.echo)


@directory_app.command("import")
def directory_import(
    path: Annotated[str, typer.Argument(help="Extrait CSV (colonnes : docs/api.md, « Annuaire »)")],
    as_json: JsonArg = False,
) -> None:
    """Importer (créer ou mettre à jour) des professionnels, structures et exercices depuis un extrait CSV."""
    from carnet.access.model import Actor, ActorKind, AuthMethod
    from carnet.directory import service as directory

    try:
        text = _read_file(path).decode("utf-8-sig")
    except UnicodeDecodeError:
        fail(f"{path} : l'extrait doit être encodé en UTF-8")
    with _platform() as platform, _errors():
        extract = directory.parse_csv(text)
        with platform.uow() as uow:
            report = directory.upsert(uow=uow, actor=Actor(kind=ActorKind.SYSTEM, id="cli", auth_method=AuthMethod.CLI),
                                      extract=extract)  # fmt: skip
            uow.commit()
    if as_json:
        _echo_json(dataclasses.asdict(report))
        return
    typer.echo(
        f"professionnels : {report.professionals_created} créés, {report.professionals_updated} mis à jour ; "
        f"structures : {report.organisations_created} créées, {report.organisations_updated} mises à jour ; "
        f"exercices : {report.roles_created} créés, {report.roles_updated} mis à jour."
    )


# --- dev -------------------------------------------------------------------------------------------------------

dev_app = typer.Typer(help="Développement : jetons du fournisseur d'identité de démonstration.", no_args_is_help=True)
app.add_typer(dev_app, name="dev")


@dev_app.command("token")
def dev_token(
    professional: Annotated[
        str | None, typer.Option("--professional", help="Identifiant national d'un professionnel de démonstration")
    ] = None,
    patient: Annotated[str | None, typer.Option("--patient", help="INS du patient (avec --app : le titulaire)")] = None,
    client_id: Annotated[str | None, typer.Option("--app", help="Application (client) : demo-app, demo-lgc")] = None,
    scope: Annotated[list[str] | None, typer.Option("--scope", help="Portée SMART (répétable)")] = None,
    lifetime: Annotated[int, typer.Option("--lifetime", min=60, max=86400, help="Validité en secondes")] = 3600,
) -> None:
    """Imprimer un jeton d'accès (Bearer) du fournisseur d'identité de développement pour un utilisateur de démo."""
    from carnet.auth import devusers
    from carnet.auth.devidp import DevIdentityProvider, patient_claims
    from carnet.errors import InvalidMatricule
    from carnet.identity.matricule import parse_matricule

    settings = _settings()
    if not settings.dev_idp_enabled:
        fail("le fournisseur d'identité de développement est désactivé (CARNET_DEV_IDP=false ou production) : "
             "aucun jeton de démonstration", code=2)  # fmt: skip
    if sum(x is not None for x in (professional, client_id)) + (patient is not None and client_id is None) != 1:
        fail("indiquez exactement un de --professional, --patient ou --app", code=2)
    if scope and client_id is None:
        fail("--scope ne s'applique qu'à une application (--app)", code=2)
    if professional is not None:
        pro = devusers.professional(professional)
        if pro is None:
            known = ", ".join(p.national_id for p in (*devusers.PROFESSIONALS, *devusers.SECRETARIAT))
            fail(f"professionnel de démonstration inconnu : {professional} (connus : {known})")
        claims, subject = pro.claims(), pro.national_id
    elif client_id is not None:
        app_client = devusers.client(client_id)
        if app_client is None or "client_credentials" not in app_client.grant_types:
            known = ", ".join(c.client_id for c in devusers.CLIENTS if "client_credentials" in c.grant_types)
            fail(f"application inconnue : {client_id} (connues : {known})")
        try:
            scopes = devusers.credentials_scopes(app_client, [s for item in scope or [] for s in item.split()])
        except ValueError as exc:
            fail(str(exc))
        claims, subject = devusers.app_token_claims(app_client, scopes, patient_ins=patient), app_client.client_id
    else:
        assert patient is not None
        person = devusers.patient(patient)
        if person is not None:
            claims = person.claims()
        else:
            try:
                parse_matricule(patient)
            except InvalidMatricule as exc:
                fail(f"INS invalide ({exc.part}) : {exc.message}")
            claims = patient_claims(patient, ins_oid=devusers.INS_OID_TEST)
        subject = f"fc-{patient}"
    typer.echo(DevIdentityProvider.from_settings(settings).mint(claims, subject=subject, lifetime=lifetime))


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``carnet`` script."""
    try:
        app(args=argv, prog_name="carnet")
    except KeyboardInterrupt:
        sys.exit(130)

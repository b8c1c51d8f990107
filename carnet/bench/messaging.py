"""``carnet bench messaging``: messages accepted per second through the real SMTP gateway and delivered to
mailboxes, and ``share`` calls per second end to end.

Measured on SQLite (a file in a temporary folder) and/or PostgreSQL (``--postgres-url`` or a throwaway cluster),
schema from the real Alembic migrations, on a :class:`carnet.bootstrap.Platform` with its blobs on disk, printed as
it runs and returned as a dict (``docs/benchmarks.md``, "carnet bench messaging"):

1. **The SMTP gateway.** The real inbound gateway (:class:`carnet.messaging.smtp_server.InboundGateway`, aiosmtpd
   on loopback) wired to :func:`carnet.messaging.service.make_handler` (one unit of work and one commit per mail,
   *before* the gateway answers 250). ``--clients`` threads of real :mod:`smtplib` clients of a trusted operator
   each keep one connection and send their share of ``--messages`` mails, each to one local professional mailbox
   with a ``--attachment-kb`` attachment (random bytes: incompressible, as a PDF or a ZIP is), the messages built
   before the clock starts. Reported: messages accepted per second over the wall time, per-message latency
   (p50/p95) as a client sees it; then checked: every message is in its mailbox (one inbound message, its
   recipient row delivered, its attachment stored).
2. **``share`` end to end.** Qualified patients (the sandbox INSi identities, qualified by the real path), each
   with the author in the care team and a médecin traitant declared; documents made as practice software makes them
   (a PDF in a CDA R2 level 1, :func:`carnet.record.level1.pdf_document`), built before the clock starts; then
   ``--shares`` calls of :func:`carnet.sharing.share.share` (one unit of work and one commit each): the deposit
   with its checks and access decision, the obligations, one message to the médecin traitant, the prescriber and a
   chosen nurse and one to the patient, each with its IHE XDM package, the sharing log and the audit entries.
   Reported: shares per second, p50/p95; checked: every duty done, two messages per share.

Everything is synthetic: the sandbox's test identities (INS-NIR test OID), the demo directory's fictitious
professionals. The machine may be shared (other processes running): the figures say what this machine gave then.
This module is imported only by the ``bench`` command.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import smtplib
import socket
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bench.identity import _cpu_model, _header, _n, _percentile
from carnet.errors import ValidationError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from carnet.bootstrap import Platform

Echo = Callable[[str], None]

BACKENDS = ("sqlite", "postgresql", "both")

# Targets (docs/benchmarks.md).
TARGET_GATEWAY_PER_S = 200.0
TARGET_SHARES_PER_S = 100.0

OUTSIDE_DOMAIN = "bench-operateur.mssante.fr"
OUTSIDE = f"passerelle@{OUTSIDE_DOMAIN}"
PLATFORM_ACTOR = Actor(kind=ActorKind.SYSTEM, id="bench-messaging", auth_method=AuthMethod.SYSTEM,
                       name="carnet bench messaging")  # fmt: skip
AUTHOR = Actor(kind=ActorKind.PROFESSIONAL, id="899700000001", auth_method=AuthMethod.CPS, profession="10",
               name="Dr Paul MARTIN", organisation_id="1519990044")  # fmt: skip
TRAITANT = "810000000001"  # Dr MOREAU
PRESCRIBER = "899700000002"  # Dr LEROY
NURSE = "810000000060"  # Julie PETIT
QUICK: dict[str, Any] = {"messages": 40, "clients": 2, "attachment_kb": 50, "shares": 10, "backend": "sqlite",
                         "processes": 1}  # fmt: skip


def _ms(ns: float) -> float:
    return ns / 1e6


def _latency(durations: list[int], wall_s: float) -> dict[str, float]:
    ordered = sorted(durations)
    return {
        "count": len(ordered),
        "per_s": len(ordered) / wall_s if wall_s > 0 else 0.0,
        "p50_ms": _ms(_percentile(ordered, 50)),
        "p95_ms": _ms(_percentile(ordered, 95)),
        "max_ms": _ms(ordered[-1]),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- setup ------------------------------------------------------------------------------------------------------


def _cpu(pids: list[int]) -> float | None:
    """CPU seconds used so far by these processes (None where /proc is not there)."""
    from carnet.bench.api import _cpu_seconds

    found = [_cpu_seconds(pid) for pid in pids]
    return None if not found or None in found else sum(f for f in found if f is not None)


def _pooled_gateway(url: str, data_dir: str, port: int) -> tuple[Any, Callable[[], None]]:
    """In each gateway process: the platform on the bench's database and blob store, and its gateway."""
    from carnet.bootstrap import bootstrap
    from carnet.messaging import service as mss
    from carnet.messaging.smtp_server import InboundGateway
    from carnet.settings import Environment, Settings
    from carnet.storage.db import make_engine

    engine = make_engine(url)
    settings = cast(Any, Settings)(env=Environment.TEST, data_dir=Path(data_dir), demo_data=False, _env_file=None)
    platform = bootstrap(settings, engine=engine, migrate=False)
    config = mss.MessagingConfig(trusted_domains=frozenset({OUTSIDE_DOMAIN}))
    gateway = InboundGateway(handler=mss.make_handler(platform, config), trusted_domains=[OUTSIDE_DOMAIN],
                             local_domains=sorted(config.hosted_domains), port=port, require_starttls=False,
                             max_message_bytes=config.max_message_bytes, reuse_port=True)  # fmt: skip

    def close() -> None:
        platform.close()
        engine.dispose()

    return gateway, close


def _mailboxes(platform: Platform, config: Any) -> list[str]:
    """The demo directory and the personal mailboxes of its active professionals; their addresses."""
    from carnet.directory.demo import load_demo_directory
    from carnet.directory.store import ProfessionalQuery
    from carnet.messaging import service as mss

    with platform.uow() as uow:
        load_demo_directory(uow)
        pros, _total = uow.directory.professionals(ProfessionalQuery(active=True), limit=100)
        addresses = [mss.provision_professional(uow=uow, actor=PLATFORM_ACTOR, config=config,
                                                professional_id=p.id).address for p in pros]  # fmt: skip
        uow.commit()
    return addresses


def _mail(number: int, to: str, attachment: bytes, when: dt.datetime) -> tuple[str, bytes]:
    message = EmailMessage()
    message["From"] = OUTSIDE
    message["To"] = to
    message["Subject"] = f"Compte rendu {number}"
    message["Message-ID"] = f"<bench-{number}@{OUTSIDE_DOMAIN}>"
    message["Date"] = format_datetime(when)
    message.set_content(f"Bonjour,\n\nCi-joint le compte rendu {number}.\n")
    message.add_attachment(attachment, maintype="application", subtype="pdf", filename=f"cr-{number}.pdf")
    return to, message.as_bytes(policy=SMTP)  # CRLF line ends, as on the wire


def bench_gateway(platform: Platform, messages: int, clients: int, attachment_kb: int, echo: Echo, *,
                  url: str, processes: int) -> dict[str, Any]:  # fmt: skip
    """Section 1: real smtplib clients → the real inbound gateway (``processes`` processes on one port) →
    mailboxes (see the module docstring)."""
    import functools

    from sqlalchemy import func, select

    from carnet.messaging import service as mss
    from carnet.messaging.gateway_pool import GatewayPool
    from carnet.messaging.store import AttachmentRow, MessageRow, RecipientRow

    config = mss.MessagingConfig(trusted_domains=frozenset({OUTSIDE_DOMAIN}))
    addresses = _mailboxes(platform, config)
    attachment = os.urandom(attachment_kb * 1024)
    now = dt.datetime.now(dt.UTC)
    mails = [_mail(n, addresses[n % len(addresses)], attachment, now) for n in range(messages)]
    size = sum(len(m) for _to, m in mails) / messages
    echo(f"{_n(messages)} messages de {size / 1024:.0f} Kio (pièce jointe {attachment_kb} Kio) vers "
         f"{len(addresses)} boîtes professionnelles, {clients} client(s) smtplib, une connexion chacun ; "
         f"passerelle : {processes} processus sur le même port")  # fmt: skip
    port = _free_port()
    gateway = GatewayPool(functools.partial(_pooled_gateway, url, str(platform.settings.data_dir), port), processes)
    durations: list[int] = []
    failures: list[str] = []
    lock = threading.Lock()
    start = threading.Barrier(clients + 1)

    def client(index: int) -> None:
        mine = mails[index::clients]
        local: list[int] = []
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=60) as smtp:
                smtp.ehlo(OUTSIDE_DOMAIN)
                start.wait()
                for to, data in mine:
                    t0 = time.perf_counter_ns()
                    smtp.sendmail(OUTSIDE, [to], data)
                    local.append(time.perf_counter_ns() - t0)
        except (smtplib.SMTPException, OSError, threading.BrokenBarrierError) as exc:
            with lock:
                failures.append(f"{type(exc).__name__}: {exc}")
            start.abort()
        with lock:
            durations.extend(local)

    with gateway:
        threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
        for thread in threads:
            thread.start()
        cpu_before = _cpu(gateway.pids)
        try:
            start.wait()
        except threading.BrokenBarrierError:
            pass
        began = time.perf_counter()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        cpu_after = _cpu(gateway.pids)
    if failures or len(durations) != messages:
        raise ValidationError(f"banc faussé : {messages - len(durations)} message(s) refusé(s) par la passerelle "
                              f"({'; '.join(failures[:3])})")  # fmt: skip
    with platform.session_factory() as session:
        stored = session.scalar(select(func.count()).select_from(MessageRow).where(MessageRow.inbound.is_(True)))
        delivered = session.scalar(select(func.count()).select_from(RecipientRow)
                                   .where(RecipientRow.status == "delivered"))  # fmt: skip
        files = session.scalar(select(func.count()).select_from(AttachmentRow))
    if (stored, delivered, files) != (messages, messages, messages):
        raise ValidationError(f"banc faussé : {stored} message(s) en boîte, {delivered} distribué(s), {files} pièce(s) "
                              f"jointe(s) pour {messages} envoyé(s)")  # fmt: skip
    result = _latency(durations, wall)
    result.update(messages=messages, clients=clients, attachment_kb=attachment_kb, message_bytes=size, wall_s=wall,
                  processes=processes)  # fmt: skip
    if cpu_before is not None and cpu_after is not None:
        result["gateway_cpu_ms"] = (cpu_after - cpu_before) * 1000 / messages
    echo(f"{_n(messages)} messages acceptés en {wall:.1f} s : {_n(result['per_s'])} messages/s — par message (vu "
         f"du client) : p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
         f"max {result['max_ms']:.0f} ms")  # fmt: skip
    if "gateway_cpu_ms" in result:
        echo(f"CPU des processus de la passerelle : {result['gateway_cpu_ms']:.2f} ms par message (hors base de "
             "données)")  # fmt: skip
    echo(f"Vérifié : {stored} messages en boîte, {delivered} distributions, {files} pièces jointes stockées")
    return result


def _patients(platform: Platform, echo: Echo) -> list[Any]:
    """Qualified patients (sandbox INSi, real path), the author in their care team, a médecin traitant each."""
    from carnet.access import service as access
    from carnet.bench.record import _qualify_sandbox
    from carnet.identity import service as identities

    refs = _qualify_sandbox(platform, echo)
    out = []
    with platform.uow() as uow:
        for ref in refs:
            access.join_care_team(uow=uow, actor=AUTHOR, patient_id=ref.id)
            holder = Actor(kind=ActorKind.PATIENT, id=ref.id, auth_method=AuthMethod.FRANCE_CONNECT)
            access.set_medecin_traitant(uow=uow, actor=holder, patient_id=ref.id, professional_id=TRAITANT)
            identity = identities.get(uow=uow, actor=PLATFORM_ACTOR, patient_id=ref.id)
            if identity is not None and identity.ins is not None:
                out.append(identity)
        uow.commit()
    return out


def _pdf(text: str) -> bytes:
    stream = f"BT /F1 12 Tf 72 712 Td ({text}) Tj ET".encode()
    objects = [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
               b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R"
               b" /Resources << /Font << /F1 5 0 R >> >> >>",
               b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
               b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"]  # fmt: skip
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def bench_shares(platform: Platform, shares: int, echo: Echo) -> dict[str, Any]:
    """Section 2: ``share`` calls end to end (see the module docstring)."""
    from sqlalchemy import func, select

    from carnet.messaging import service as mss
    from carnet.messaging.store import MessageRow
    from carnet.record import level1
    from carnet.record.model import Author
    from carnet.sharing import share as sharing
    from carnet.sharing.store import ShareRow

    config = mss.MessagingConfig()
    patients = _patients(platform, echo)
    if not patients:
        raise ValidationError("banc faussé : aucune identité qualifiée")
    author = Author(id=AUTHOR.id, family="MARTIN", given="Paul", specialty="G15_10/SM54", organisation_id="1519990044",
                    organisation_name="Maison de santé des Trois Fontaines")  # fmt: skip
    form = level1.Level1Form(type_code="11502-2", title="CR de biologie", practice_setting="AMBULATOIRE",
                             facility_type="SA52")  # fmt: skip
    created = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=30)
    documents = [(p.id, level1.pdf_document(pdf=_pdf(f"Bilan {n}"), patient=p, author=author, form=form,
                                            created=created)) for n, p in
                 ((n, patients[n % len(patients)]) for n in range(shares))]  # fmt: skip
    average = sum(len(d) for _p, d in documents) / shares / 1024
    echo(f"{_n(shares)} documents (CR de biologie, CDA niveau 1, {average:.1f} Kio en moyenne) pour "
         f"{len(patients)} patients ; destinataires : médecin traitant, prescripteur, une infirmière, "
         "le patient")  # fmt: skip
    durations: list[int] = []
    incomplete = 0
    began = time.perf_counter()
    for patient_id, content in documents:
        t0 = time.perf_counter_ns()
        with platform.uow() as uow:
            result = sharing.share(uow=uow, actor=AUTHOR, config=config, patient_id=patient_id, content=content,
                                   prescriber=PRESCRIBER, recipients=[NURSE])  # fmt: skip
            uow.commit()
        durations.append(time.perf_counter_ns() - t0)
        incomplete += any(d.status is not sharing.DutyStatus.DONE for d in result.duties)
    wall = time.perf_counter() - began
    with platform.session_factory() as session:
        logged = session.scalar(select(func.count()).select_from(ShareRow))
        messages = session.scalar(select(func.count()).select_from(MessageRow).where(MessageRow.inbound.is_(False)))
    if incomplete or logged != shares or messages != 2 * shares:
        raise ValidationError(f"banc faussé : {incomplete} partage(s) incomplet(s), {logged} journalisé(s), "
                              f"{messages} message(s) pour {shares} partage(s)")  # fmt: skip
    result_ = _latency(durations, wall)
    result_.update(shares=shares, patients=len(patients), wall_s=wall)
    echo(f"{_n(shares)} partages en {wall:.1f} s : {_n(result_['per_s'])} partages/s — par appel : p50 "
         f"{result_['p50_ms']:.1f} ms, p95 {result_['p95_ms']:.1f} ms, max {result_['max_ms']:.0f} ms")  # fmt: skip
    echo(f"Vérifié : {logged} partages journalisés, trois devoirs faits chacun, {messages} messages envoyés")
    return result_


# --- backends ---------------------------------------------------------------------------------------------------


def _bench_backend(name: str, url: str, *, folder: Path, params: dict[str, Any], echo: Echo) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from carnet.bootstrap import bootstrap
    from carnet.settings import Environment, Settings
    from carnet.storage.db import make_engine
    from carnet.storage.migrate import upgrade

    engine: Engine = make_engine(url)
    try:
        upgrade(engine)
        with engine.connect() as conn:
            from carnet.messaging.store import MessageRow

            if conn.execute(select(func.count()).select_from(MessageRow)).scalar_one():
                raise ValidationError(f"{engine.url.render_as_string(hide_password=True)} contient déjà des messages "
                                      ": le banc a besoin d'une base vide", field="postgres_url")  # fmt: skip
            version = (conn.execute(text("SHOW server_version")).scalar_one() if engine.dialect.name == "postgresql"
                       else sqlite3.sqlite_version)  # fmt: skip
        settings = cast(Any, Settings)(env=Environment.TEST, data_dir=folder / "data", demo_data=False, _env_file=None)
        platform = bootstrap(settings, engine=engine, migrate=False)
        echo(f"{name} {version} — schéma créé par les migrations Alembic ; contenus dans {settings.effective_blob_dir}")
        echo("")
        echo("-- 1. Passerelle SMTP entrante (aiosmtpd sur la boucle locale, un commit par message avant « 250 »)")
        gateway = bench_gateway(platform, params["messages"], params["clients"], params["attachment_kb"], echo,
                                url=url, processes=params["processes"])  # fmt: skip
        echo("")
        echo("-- 2. share de bout en bout (dépôt, obligations, messages MSSanté avec IHE XDM, journal ; un commit "
             "par appel)")  # fmt: skip
        shares = bench_shares(platform, params["shares"], echo)
        return {"version": str(version), "gateway": gateway, "shares": shares}
    finally:
        engine.dispose()


def bench_sqlite(params: dict[str, Any], echo: Echo) -> dict[str, Any]:
    _header(echo, "SQLite — passerelle SMTP et partages")
    folder = Path(tempfile.mkdtemp(prefix="carnet-bench-messaging-"))
    try:
        return _bench_backend("SQLite", f"sqlite:///{folder / 'carnet.sqlite3'}", folder=folder, params=params,
                              echo=echo)  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_postgresql(params: dict[str, Any], postgres_url: str | None, echo: Echo) -> dict[str, Any]:
    from carnet.storage.pgcluster import TemporaryPostgres

    _header(echo, "PostgreSQL — passerelle SMTP et partages")
    folder = Path(tempfile.mkdtemp(prefix="carnet-bench-messaging-"))
    try:
        if postgres_url:
            echo("Base fournie par --postgres-url (vide de messages ; le banc y écrit des données synthétiques)")
            return _bench_backend("PostgreSQL", postgres_url, folder=folder, params=params, echo=echo)
        cluster = TemporaryPostgres()
        echo(f"Cluster jetable (initdb + pg_ctl, 127.0.0.1:{cluster.port}, fsync=off, réglages par défaut sinon)")
        cluster.start()
        try:
            return _bench_backend("PostgreSQL", cluster.url, folder=folder, params=params, echo=echo)
        finally:
            cluster.stop()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


# --- entry point ------------------------------------------------------------------------------------------------


def run(
    *,
    messages: int,
    clients: int,
    attachment_kb: int,
    shares: int,
    backend: str,
    postgres_url: str | None,
    echo: Echo,
    processes: int | None = None,
) -> dict[str, Any]:
    """Run the measurements, print them through ``echo`` and return them (see the module docstring)."""
    if backend not in BACKENDS:
        raise ValidationError(f"backend inconnu « {backend} » : sqlite, postgresql ou both attendu", field="backend")
    for value, name in ((messages, "messages"), (clients, "clients"), (shares, "shares")):
        if value < 1:
            raise ValidationError(f"--{name} : au moins 1 attendu, {value} reçu", field=name)
    if not 1 <= attachment_kb <= 10_240:
        raise ValidationError(f"--attachment-kb : entre 1 et 10 240, {attachment_kb} reçu", field="attachment_kb")
    processes = processes or os.cpu_count() or 1
    if not 1 <= processes <= 64:
        raise ValidationError(f"--gateway-processes : entre 1 et 64, {processes} reçu", field="processes")
    if clients > messages:
        raise ValidationError(f"--clients : au plus --messages ({messages}), {clients} reçu", field="clients")
    started = time.perf_counter()
    machine = {"cpu": _cpu_model(), "cpus": os.cpu_count(), "python": platform.python_version(),
               "system": f"{platform.system()} {platform.release()}"}  # fmt: skip
    params = {"messages": messages, "clients": clients, "attachment_kb": attachment_kb, "shares": shares,
              "backend": backend, "processes": processes}  # fmt: skip
    echo(f"carnet bench messaging — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    echo(f"Machine : {machine['cpu']}, {machine['cpus']} cœurs, Python {machine['python']}, {machine['system']} "
         f"(charge {os.getloadavg()[0]:.1f} au départ : la machine peut être partagée)")  # fmt: skip
    echo(f"Paramètres : --messages {messages} --clients {clients} --attachment-kb {attachment_kb} --shares {shares} "
         f"--backend {backend} --gateway-processes {processes}")  # fmt: skip
    per_backend: dict[str, Any] = {}
    if backend in ("sqlite", "both"):
        per_backend["sqlite"] = bench_sqlite(params, echo)
    if backend in ("postgresql", "both"):
        per_backend["postgresql"] = bench_postgresql(params, postgres_url, echo)
    checks = []
    for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if key not in per_backend:
            continue
        g, s = per_backend[key]["gateway"], per_backend[key]["shares"]
        checks.append({"measure": f"passerelle SMTP, {label}, pièce jointe {attachment_kb} Kio",
                       "target": f"≥ {TARGET_GATEWAY_PER_S:.0f} messages/s",
                       "measured": f"{_n(g['per_s'])} /s (p95 {g['p95_ms']:.1f} ms, {clients} clients, "
                                     f"{processes} processus)",
                       "passed": g["per_s"] >= TARGET_GATEWAY_PER_S})  # fmt: skip
        checks.append({"measure": f"share de bout en bout, {label}", "target": f"≥ {TARGET_SHARES_PER_S:.0f} /s",
                       "measured": f"{_n(s['per_s'])} /s (p95 {s['p95_ms']:.1f} ms)",
                       "passed": s["per_s"] >= TARGET_SHARES_PER_S})  # fmt: skip
    results: dict[str, Any] = {"machine": machine, "parameters": params, "backends": per_backend, "checks": checks,
                               "passed": all(c["passed"] for c in checks),
                               "duration_s": time.perf_counter() - started}  # fmt: skip
    _header(echo, "Résumé")
    widths = [max(len(str(c[k])) for c in checks) for k in ("measure", "target", "measured")]
    echo("  ".join(h.ljust(w) for h, w in zip(("mesure", "cible", "mesuré"), widths, strict=True)) + "  résultat")
    echo("  ".join("-" * w for w in widths) + "  --------")
    for c in checks:
        echo("  ".join(str(c[k]).ljust(w) for k, w in zip(("measure", "target", "measured"), widths, strict=True))
             + f"  {'PASS' if c['passed'] else 'MISS'}")  # fmt: skip
    verdict = "toutes les cibles atteintes" if results["passed"] else "cible(s) manquée(s)"
    echo(f"Durée totale : {results['duration_s']:.0f} s (charge {os.getloadavg()[0]:.1f} à la fin) — {verdict}")
    return results

"""``carnet bench api``: the FHIR API under uvicorn, measured from outside over loopback HTTP.

Per backend: a store of ``--documents`` synthetic documents (the record benchmark's generator and loader) with
``--patient-documents`` for one measured patient, the sandbox INSi identities qualified through the real path,
and a professional (médecin, CPS) in their care team. Then uvicorn starts with ``--workers`` processes (default:
one per core) and three measurements run against it, every answer checked:

1. ITI-65 Provide Document Bundle: ``--clients`` concurrent clients each POST transaction Bundles of one
   ~30 KB CDA document (SubmissionSet List + DocumentReference + Binary) → submissions/s and latency;
2. ITI-67 Find Document References for the measured patient (``_count=50``, the first page, newest first),
   sequentially → p50/p95;
3. Patient reads (``GET /fhir/Patient/{id}``) by ``--clients`` concurrent clients → reads/s.

Targets on a 2-core machine: ≥ 200 submissions/s, search p95 ≤ 30 ms, ≥ 2 000 reads/s.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import httpx

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.bench.identity import _cpu_model, _header, _n
from carnet.bench.record import (
    DEPOSIT_BRANCH,
    SEED,
    DocumentFactory,
    PatientRef,
    _analyze,
    _fmt_latency,
    _latency,
    _load_stage,
    _qualify_sandbox,
    _sqlite_loader,
    _Store,
)
from carnet.errors import ValidationError

Echo = Callable[[str], None]
BACKENDS = ("sqlite", "postgresql", "both")
TARGETS = {"submissions_per_s": 200.0, "search_p95_ms": 30.0, "reads_per_s": 2000.0}
DOCTOR = Actor(kind=ActorKind.PROFESSIONAL, id="899700000001", auth_method=AuthMethod.CPS, profession="10",
               name="Dr Bench MESURE")  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _bundle(content: bytes, patient: PatientRef) -> dict[str, Any]:
    """An ITI-65 transaction Bundle for one CDA document (metadata read from the header by the server)."""
    from carnet.api.mhd import provide_bundle_for

    return provide_bundle_for(content, patient_id=patient.id, source="urn:oid:1.2.250.1.213.1.1.9.999")


class _Server:
    """uvicorn in a child process with the platform's settings in its environment."""

    def __init__(self, env: dict[str, str], port: int, workers: int) -> None:
        self.url = f"http://127.0.0.1:{port}"
        command = [sys.executable, "-m", "uvicorn", "carnet.api.app:app_from_environment", "--factory",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                   # TCP_NODELAY on every connection: without it, uvicorn's workers wait ~40 ms per keep-alive
                   # request for the client's delayed ACK (see carnet.api.server).
                   "--http", "carnet.api.server:H11NoDelayProtocol",
                   "--log-level", "warning", "--no-access-log"]  # fmt: skip
        self.process = subprocess.Popen(command, env={**os.environ, **env})  # noqa: S603 - our own command
        deadline = time.monotonic() + 60
        while True:
            if self.process.poll() is not None:
                raise ValidationError(f"uvicorn s'est arrêté au démarrage (code {self.process.returncode})")
            try:
                if httpx.get(f"{self.url}/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise ValidationError("uvicorn n'a pas répondu sur /health en 60 s")
            time.sleep(0.2)

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


Request = tuple[str, str, Any, dict[str, str] | None]  # method, path, JSON body, extra headers


async def _concurrent(
    url: str, headers: dict[str, str], requests: list[Request], clients: int, check: Callable[..., None]
) -> tuple[list[int], float]:
    """Send ``requests`` through ``clients`` concurrent connections; durations in ns."""
    queue: asyncio.Queue[Request] = asyncio.Queue()
    for item in requests:
        queue.put_nowait(item)
    durations: list[int] = []

    async def worker(client: httpx.AsyncClient) -> None:
        while True:
            try:
                method, path, body, extra = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter_ns()
            response = await client.request(method, path, json=body, headers=extra)
            durations.append(time.perf_counter_ns() - t0)
            check(response)

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=60, limits=limits) as client:
        started = time.perf_counter()
        await asyncio.gather(*(worker(client) for _ in range(clients)))
        return durations, time.perf_counter() - started


def _expect(status: int) -> Callable[[httpx.Response], None]:
    def check(response: httpx.Response) -> None:
        if response.status_code != status:
            raise ValidationError(f"banc faussé : {response.request.method} {response.request.url.path} → "
                                  f"{response.status_code} {response.text[:400]}")  # fmt: skip

    return check


def _bench_backend(
    name: str, url: str, *, folder: Path, documents: int, patient_documents: int, submissions: int, searches: int,
    reads: int, clients: int, workers: int, echo: Echo,
) -> dict[str, Any]:  # fmt: skip
    from carnet.access import service as access
    from carnet.auth.devidp import DevIdentityProvider, professional_claims
    from carnet.bootstrap import bootstrap
    from carnet.record.service import _profession_from_specialty
    from carnet.settings import Environment, Settings
    from carnet.storage.db import make_engine
    from carnet.storage.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    port = _free_port()
    settings = cast(Any, Settings)(
        env=Environment.DEVELOPMENT, data_dir=folder / "data", database_url=url, demo_data=False,
        rate_limit_per_minute=0, public_url=f"http://127.0.0.1:{port}", _env_file=None,
    )  # fmt: skip
    platform = bootstrap(settings, engine=engine, migrate=False)
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    qualified = _qualify_sandbox(platform, echo)
    sandbox = {ins.value for ins, _ in cast(Any, platform.insi).people}
    store = _Store(documents, patient_documents, documents, stamp, sandbox)
    echo(f"Magasin de {_n(documents)} documents, dont {_n(patient_documents)} pour le patient mesuré …")
    loader = _sqlite_loader(url) if engine.dialect.name == "sqlite" else engine
    loaded = _load_stage(loader, store, documents, documents, echo)
    _analyze(loader)
    echo(f"  chargé en {loaded['load_s']:.0f} s")
    with platform.uow() as uow:
        for patient_id in [p.id for p in qualified] + [store.measured.id]:
            access.join_care_team(uow=uow, actor=DOCTOR, patient_id=patient_id)
        uow.commit()

    env = {
        "CARNET_ENV": "development",
        "CARNET_DATA_DIR": str(settings.data_dir),
        "CARNET_DATABASE_URL": url,
        "CARNET_DEMO_DATA": "false",
        "CARNET_RATE_LIMIT_PER_MINUTE": "0",
        "CARNET_PUBLIC_URL": settings.public_url,
    }
    idp = DevIdentityProvider.from_settings(settings)
    token = idp.mint(professional_claims(DOCTOR.id, profession="10", given_name="Bench", family_name="MESURE"),
                     subject=DOCTOR.id, lifetime=4 * 3600)  # fmt: skip
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/fhir+json"}
    factory = DocumentFactory(SEED + 7)
    # Each document is deposited by its author (a professional deposits only their own documents).
    author_headers: dict[str, dict[str, str]] = {}
    bodies: list[Request] = []
    care_teams: set[tuple[str, str, str]] = set()
    for i in range(submissions):
        patient = qualified[i % len(qualified)]
        doc = factory.document(10_000_000 + i, patient, branch=DEPOSIT_BRANCH)
        author = doc.author
        if author.id not in author_headers:
            claims = professional_claims(author.id, profession=_profession_from_specialty(author.specialty) or "10",
                                         specialty=author.specialty, given_name=author.given,
                                         family_name=author.family)  # fmt: skip
            author_headers[author.id] = {
                "Authorization": f"Bearer {idp.mint(claims, subject=author.id, lifetime=14400)}"
            }
        bodies.append(("POST", "/fhir", _bundle(doc.content, patient), author_headers[author.id]))
        care_teams.add((author.id, author.specialty, patient.id))
    with platform.uow() as uow:
        for author_id, specialty, patient_id in sorted(care_teams):
            member = Actor(kind=ActorKind.PROFESSIONAL, id=author_id, auth_method=AuthMethod.CPS, specialty=specialty,
                           profession=_profession_from_specialty(specialty) or "10")  # fmt: skip
            access.join_care_team(uow=uow, actor=member, patient_id=patient_id)
        uow.commit()
    volume = sum(len(base64.b64decode(_binary_data(b[2]))) for b in bodies[:50]) / min(50, len(bodies))
    server = _Server(env, port, workers)
    try:
        echo(f"uvicorn : {workers} processus sur {server.url}")
        durations, wall = asyncio.run(_concurrent(server.url, headers, bodies, clients, _expect(200)))
        submitted = _latency(durations, wall)
        echo(f"ITI-65 : {_n(submissions)} lots d'un document (~{volume / 1024:.0f} Kio), {clients} clients : "
             f"{_n(submitted['per_s'])} soumissions/s — {_fmt_latency(submitted)}")  # fmt: skip

        search_path = f"/fhir/DocumentReference?patient={store.measured.id}&_count=50"
        expected = min(50, patient_documents)

        def check_page(response: httpx.Response) -> None:
            _expect(200)(response)
            page = response.json()
            if len(page.get("entry", [])) != expected:
                raise ValidationError(f"banc faussé : {len(page.get('entry', []))} résultats, {expected} attendus")

        durations = []
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as client:
            for _ in range(20):
                check_page(client.get(search_path))
            started = time.perf_counter()
            for _ in range(searches):
                t0 = time.perf_counter_ns()
                response = client.get(search_path)
                durations.append(time.perf_counter_ns() - t0)
                check_page(response)
            searched = _latency(durations, time.perf_counter() - started)
        echo(f"ITI-67 : {_n(searches)} recherches (page de 50 sur {_n(patient_documents)}) — {_fmt_latency(searched)}")

        ids = [p.id for p in qualified]
        requests: list[Request] = [("GET", f"/fhir/Patient/{ids[i % len(ids)]}", None, None) for i in range(reads)]
        durations, wall = asyncio.run(_concurrent(server.url, headers, requests, clients, _expect(200)))
        read = _latency(durations, wall)
        echo(f"Patient : {_n(reads)} lectures, {clients} clients : {_n(read['per_s'])} lectures/s — "
             f"{_fmt_latency(read)}")  # fmt: skip
    finally:
        server.stop()
        platform.close()
    return {"backend": name, "submissions": submitted, "search": searched, "patient_reads": read,
            "document_kib": volume / 1024}  # fmt: skip


def _binary_data(bundle: dict[str, Any]) -> str:
    for entry in bundle["entry"]:
        resource = entry["resource"]
        if resource["resourceType"] == "Binary":
            return str(resource["data"])
        if resource["resourceType"] == "DocumentReference" and resource["content"][0]["attachment"].get("data"):
            return str(resource["content"][0]["attachment"]["data"])
    return ""


def run(
    *, documents: int, patient_documents: int, submissions: int, searches: int, reads: int, clients: int,
    workers: int, backend: str, echo: Echo,
) -> dict[str, Any]:  # fmt: skip
    """Run the measurements on each backend, print them and return them."""
    if backend not in BACKENDS:
        raise ValidationError(f"backend inconnu « {backend} » : sqlite, postgresql ou both attendu", field="backend")
    for label, value in (("documents", documents), ("patient-documents", patient_documents),
                         ("submissions", submissions), ("searches", searches), ("reads", reads),
                         ("clients", clients), ("workers", workers)):  # fmt: skip
        if value < 1:
            raise ValidationError(f"--{label} : au moins 1 attendu, {value} reçu", field=label)
    if documents < patient_documents:
        raise ValidationError("--documents doit être au moins --patient-documents", field="documents")
    echo(f"carnet bench api — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {_cpu_model()}, {os.cpu_count()} cœurs")
    common: dict[str, Any] = dict(documents=documents, patient_documents=patient_documents, submissions=submissions,
                  searches=searches, reads=reads, clients=clients, workers=workers, echo=echo)  # fmt: skip
    results: dict[str, Any] = {}
    if backend in ("sqlite", "both"):
        _header(echo, "SQLite")
        folder = Path(tempfile.mkdtemp(prefix="carnet-bench-api-"))
        try:
            results["sqlite"] = _bench_backend("SQLite", f"sqlite:///{folder / 'bench.db'}", folder=folder, **common)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    if backend in ("postgresql", "both"):
        from carnet.storage.pgcluster import TemporaryPostgres

        _header(echo, "PostgreSQL")
        folder = Path(tempfile.mkdtemp(prefix="carnet-bench-api-"))
        cluster = TemporaryPostgres()
        try:
            cluster.start()
            results["postgresql"] = _bench_backend("PostgreSQL", cluster.url, folder=folder, **common)
        finally:
            cluster.stop()
            shutil.rmtree(folder, ignore_errors=True)
    _header(echo, "Résumé")
    for name, figures in results.items():
        rows = [
            ("ITI-65 soumissions/s", figures["submissions"]["per_s"], TARGETS["submissions_per_s"], True),
            ("ITI-67 p95 (ms)", figures["search"]["p95_ms"], TARGETS["search_p95_ms"], False),
            ("Patient lectures/s", figures["patient_reads"]["per_s"], TARGETS["reads_per_s"], True),
        ]
        for label, measured, target, higher in rows:
            ok = measured >= target if higher else measured <= target
            echo(f"{name:<11} {label:<22} {measured:>10.1f}   cible {'≥' if higher else '≤'} {target:<8g} "
                 f"{'PASS' if ok else 'MISS'}")  # fmt: skip
    return {"run_id": uuid.uuid4().hex, "backends": results, "targets": TARGETS}

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
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import httpx

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.api.server import HTTP_PROTOCOL, LOOP
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
# ``--http``: uvicorn's protocol and loop. httptools + uvloop is what ``carnet serve`` runs; h11 + asyncio is what
# ran before they were dependencies (kept to compare).
SERVERS = {
    "httptools": (HTTP_PROTOCOL, LOOP),
    "h11": ("carnet.api.server:H11NoDelayProtocol", "asyncio"),
}
TARGETS = {"submissions_per_s": 200.0, "search_p95_ms": 30.0, "reads_per_s": 2000.0}
# Untimed requests first, so that the figures are those of running workers (each worker verifies each token once,
# builds the FHIR models' validators, compiles its statements ...), not of their start.
WARMUP_SUBMISSIONS = 40
WARMUP_READS = 200
WARMUP_SEARCHES = 20
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

    def __init__(self, env: dict[str, str], port: int, workers: int, http: str = "httptools") -> None:
        self.url = f"http://127.0.0.1:{port}"
        protocol, loop = SERVERS[http]
        command = [sys.executable, "-m", "uvicorn", "carnet.api.app:app_from_environment", "--factory",
                   "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
                   # TCP_NODELAY on every connection: without it, uvicorn's workers wait ~40 ms per keep-alive
                   # request for the client's delayed ACK (see carnet.api.server).
                   "--http", protocol, "--loop", loop,
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


@dataclass(frozen=True, slots=True)
class Answer:
    """One HTTP response as the load generator read it."""

    method: str
    path: str
    status: int
    body: bytes

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _Connection:
    """One keep-alive HTTP/1.1 connection of the load generator.

    A bare client over asyncio streams, with the requests encoded before the clock starts: httpx spent about a
    millisecond of CPU per request, as much as the server itself, on the same two cores, so the benchmark measured
    its own client as much as the API. Answers are read whole (Content-Length or chunked) and checked.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, url: str) -> _Connection:
        parsed = httpx.URL(url)
        reader, writer = await asyncio.open_connection(parsed.host, parsed.port or 80, limit=2**22)
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return cls(reader, writer)

    async def send(self, method: str, path: str, raw: bytes) -> Answer:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        fields = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines if line)}
        if "content-length" in fields:
            body = await self.reader.readexactly(int(fields["content-length"]))
        elif fields.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while size := int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16):
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
            await self.reader.readuntil(b"\r\n")
            body = b"".join(parts)
        else:
            raise ValidationError(f"banc faussé : réponse sans longueur à {method} {path}")
        return Answer(method, path, int(status_line.split(" ", 2)[1]), body)

    async def close(self) -> None:
        self.writer.close()
        await self.writer.wait_closed()


def _encode(url: str, headers: dict[str, str], request: Request) -> bytes:
    """The bytes of one request (JSON body encoded once, before the measure)."""
    method, path, body, extra = request
    fields = {"host": httpx.URL(url).netloc.decode(), **{k.lower(): v for k, v in {**headers, **(extra or {})}.items()}}
    payload = b""
    if body is not None:
        payload = json.dumps(body, separators=(",", ":")).encode()
        fields["content-type"] = "application/fhir+json"
    fields["content-length"] = str(len(payload))
    head = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in fields.items()) + "\r\n"
    return head.encode("latin-1") + payload


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a process and its children (the uvicorn workers), from /proc; None elsewhere."""
    tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
    total, found = 0.0, False
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(pid) or fields[1] == str(pid):
            total += (int(fields[11]) + int(fields[12])) / tick
            found = True
    return total if found else None


async def _concurrent(
    url: str, headers: dict[str, str], requests: list[Request], clients: int, check: Callable[[Answer], None]
) -> tuple[list[int], float]:
    """Send ``requests`` through ``clients`` concurrent connections; durations in ns."""
    queue: asyncio.Queue[tuple[str, str, bytes]] = asyncio.Queue()
    for item in requests:
        queue.put_nowait((item[0], item[1], _encode(url, headers, item)))
    durations: list[int] = []

    async def worker(connection: _Connection) -> None:
        while True:
            try:
                method, path, raw = queue.get_nowait()
            except asyncio.QueueEmpty:
                return
            t0 = time.perf_counter_ns()
            answer = await connection.send(method, path, raw)
            durations.append(time.perf_counter_ns() - t0)
            check(answer)

    connections = [await _Connection.open(url) for _ in range(clients)]
    try:
        started = time.perf_counter()
        await asyncio.gather(*(worker(c) for c in connections))
        return durations, time.perf_counter() - started
    finally:
        for connection in connections:
            await connection.close()


def _measured(server: _Server, run: Callable[[], tuple[list[int], float]], count: int) -> dict[str, float]:
    """Latency and rate of ``run``, with the CPU the server's processes and this client spent per request."""
    server_cpu, own = _cpu_seconds(server.process.pid), os.times()
    durations, wall = run()
    after, own_after = _cpu_seconds(server.process.pid), os.times()
    figures = _latency(durations, wall)
    if server_cpu is not None and after is not None:
        figures["server_cpu_ms"] = (after - server_cpu) * 1000 / count
    figures["client_cpu_ms"] = (own_after.user - own.user + own_after.system - own.system) * 1000 / count
    return figures


def _fmt_cpu(figures: dict[str, float]) -> str:
    server = f"serveur {figures['server_cpu_ms']:.2f}" if "server_cpu_ms" in figures else "serveur ?"
    return f" — CPU par requête : {server} ms, client {figures['client_cpu_ms']:.2f} ms"


def _expect(status: int) -> Callable[[Answer], None]:
    def check(response: Answer) -> None:
        if response.status != status:
            raise ValidationError(f"banc faussé : {response.method} {response.path} → {response.status} "
                                  f"{response.text[:400]}")  # fmt: skip

    return check


def _bench_backend(
    name: str, url: str, *, folder: Path, documents: int, patient_documents: int, submissions: int, searches: int,
    reads: int, clients: int, workers: int, http: str, echo: Echo,
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
    for i in range(WARMUP_SUBMISSIONS + submissions):
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
    server = _Server(env, port, workers, http)
    try:
        echo(f"uvicorn ({http}) : {workers} processus sur {server.url}")
        warm, timed = bodies[:WARMUP_SUBMISSIONS], bodies[WARMUP_SUBMISSIONS:]
        asyncio.run(_concurrent(server.url, headers, warm, clients, _expect(200)))
        submitted = _measured(
            server, lambda: asyncio.run(_concurrent(server.url, headers, timed, clients, _expect(200))), len(timed)
        )
        echo(f"ITI-65 : {_n(submissions)} lots d'un document (~{volume / 1024:.0f} Kio), {clients} clients : "
             f"{_n(submitted['per_s'])} soumissions/s — {_fmt_latency(submitted)}{_fmt_cpu(submitted)}")  # fmt: skip

        search_path = f"/fhir/DocumentReference?patient={store.measured.id}&_count=50"
        expected = min(50, patient_documents)

        def check_page(response: Answer) -> None:
            _expect(200)(response)
            page = response.json()
            if len(page.get("entry", [])) != expected:
                raise ValidationError(f"banc faussé : {len(page.get('entry', []))} résultats, {expected} attendus")

        searches_: list[Request] = [("GET", search_path, None, None)] * searches
        asyncio.run(_concurrent(server.url, headers, searches_[:1] * WARMUP_SEARCHES, 1, check_page))
        searched = _measured(server, lambda: asyncio.run(_concurrent(server.url, headers, searches_, 1, check_page)),
                             searches)  # fmt: skip
        echo(f"ITI-67 : {_n(searches)} recherches (page de 50 sur {_n(patient_documents)}) — "
             f"{_fmt_latency(searched)}{_fmt_cpu(searched)}")  # fmt: skip

        ids = [p.id for p in qualified]
        requests: list[Request] = [("GET", f"/fhir/Patient/{ids[i % len(ids)]}", None, None) for i in range(reads)]
        asyncio.run(_concurrent(server.url, headers, requests[:WARMUP_READS], clients, _expect(200)))
        read = _measured(
            server, lambda: asyncio.run(_concurrent(server.url, headers, requests, clients, _expect(200))), reads
        )
        echo(f"Patient : {_n(reads)} lectures, {clients} clients : {_n(read['per_s'])} lectures/s — "
             f"{_fmt_latency(read)}{_fmt_cpu(read)}")  # fmt: skip
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
    workers: int, backend: str, echo: Echo, http: str = "httptools",
) -> dict[str, Any]:  # fmt: skip
    """Run the measurements on each backend, print them and return them."""
    if backend not in BACKENDS:
        raise ValidationError(f"backend inconnu « {backend} » : sqlite, postgresql ou both attendu", field="backend")
    if http not in SERVERS:
        raise ValidationError(f"--http : « {http} » inconnu, httptools ou h11 attendu", field="http")
    for label, value in (("documents", documents), ("patient-documents", patient_documents),
                         ("submissions", submissions), ("searches", searches), ("reads", reads),
                         ("clients", clients), ("workers", workers)):  # fmt: skip
        if value < 1:
            raise ValidationError(f"--{label} : au moins 1 attendu, {value} reçu", field=label)
    if documents < patient_documents:
        raise ValidationError("--documents doit être au moins --patient-documents", field="documents")
    echo(f"carnet bench api — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC — {_cpu_model()}, {os.cpu_count()} cœurs")
    common: dict[str, Any] = dict(documents=documents, patient_documents=patient_documents, submissions=submissions,
                  searches=searches, reads=reads, clients=clients, workers=workers, http=http, echo=echo)  # fmt: skip
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

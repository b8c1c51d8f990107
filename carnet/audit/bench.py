"""Audit appends per second with the hash chain (target ≥ 5,000/s on SQLite), and verification speed.

Each append goes through :func:`carnet.audit.service.record` in a real unit of work on a fresh database made by
the real migrations (a SQLite file in a temporary folder, WAL, ``synchronous=FULL``; optionally a PostgreSQL
database given by URL, which should be a throwaway one): the chain head is locked and moved, the entry hashed
and inserted. Each transaction is one unit of work about one patient (as a request is), the patients taken in
turn among a number of synthetic ones (one chain each): transactions of 1 entry (one commit, so one fsync, per
append: the cost of tracing a single read) and of 100 entries (a listing traced document by document). Returns
the figures as a dict.
"""

from __future__ import annotations

import math
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from carnet.audit import service as audit
from carnet.audit.model import AccessMode
from carnet.clock import SystemClock
from carnet.storage.blobs import FileBlobStore
from carnet.storage.db import make_engine, make_session_factory
from carnet.storage.migrate import upgrade
from carnet.storage.uow import UnitOfWork

Echo = Callable[[str], None]

TARGET_APPENDS_PER_S = 5_000
BATCHES = (1, 100)


@dataclass(frozen=True)
class _Kind:
    value: str


@dataclass(frozen=True)
class BenchActor:
    """A professional as the access layer will present one (name, profession, organisation, authentication)."""

    kind: _Kind
    id: str
    name: str
    profession: str
    organisation_name: str
    auth_method: str


DR_BENCH = BenchActor(
    kind=_Kind("professional"),
    id="810000000999",
    name="Dr Camille Mesure",
    profession="10",
    organisation_name="CH de Banc-d'Essai",
    auth_method="pro_sante_connect",
)


def _measure(url: str, *, appends: int, batch: int, patients: Sequence[str], mixed: bool = False) -> dict[str, Any]:
    engine = make_engine(url)
    try:
        upgrade(engine)
        factory = make_session_factory(engine)
        with tempfile.TemporaryDirectory(prefix="carnet-bench-audit-blobs-") as blobs:
            uow = UnitOfWork(factory, clock=SystemClock(), blobs=FileBlobStore(Path(blobs)))
            transactions = math.ceil(appends / batch)
            written = 0
            started = time.perf_counter()
            for t in range(transactions):
                with uow:
                    for i in range(min(batch, appends - written)):
                        n = written + i
                        audit.record(
                            uow=uow,
                            actor=DR_BENCH,
                            action="document.read",
                            patient_id=patients[(n if mixed else t) % len(patients)],
                            detail={"document": f"doc-{n}"},
                            mode=AccessMode.EMERGENCY if n % 50 == 0 else AccessMode.NORMAL,
                            decision={"allowed": True, "reasons": ["care_team"]},
                            request_id=f"bench-{t}",
                        )
                    written += min(batch, appends - written)
                    uow.commit()
            seconds = time.perf_counter() - started
        from carnet.audit.verify import verify

        with factory() as session:
            started = time.perf_counter()
            report = verify(session)
            verify_seconds = time.perf_counter() - started
        return {
            "batch": batch,
            "patients_per_transaction": min(batch, len(patients)) if mixed else 1,
            "appends": written,
            "transactions": transactions,
            "seconds": round(seconds, 3),
            "per_second": round(written / seconds),
            "verify_ok": report.ok,
            "verified": report.checked,
            "verify_per_second": round(report.checked / verify_seconds) if verify_seconds else None,
        }
    finally:
        engine.dispose()


def run(
    *,
    appends: int = 20_000,
    echo: Echo | None = None,
    batches: Sequence[int] = BATCHES,
    patients: int = 100,
    postgres_url: str | None = None,
) -> dict[str, Any]:
    """Measure appends per second for each transaction size on SQLite (and PostgreSQL if ``postgres_url``)."""
    say = echo or (lambda _line: None)
    chains = [str(uuid.uuid4()) for _ in range(patients)]
    results: dict[str, Any] = {"appends": appends, "patients": patients, "target_per_second": TARGET_APPENDS_PER_S}
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if postgres_url:
        backends.append(("postgresql", postgres_url))
    for name, url in backends:
        figures_by_run: dict[str, dict[str, Any]] = {}
        runs = [(batch, False) for batch in batches] + [(batch, True) for batch in batches if batch > 1]
        for batch, mixed in runs:
            with tempfile.TemporaryDirectory(prefix="carnet-bench-audit-") as folder:
                target = url or f"sqlite:///{Path(folder) / 'audit.sqlite3'}"
                figures = _measure(target, appends=appends, batch=batch, patients=chains, mixed=mixed)
            figures_by_run[f"{batch}-mixed" if mixed else str(batch)] = figures
            about = f"{figures['patients_per_transaction']} patient{'s' if mixed else ''}"
            say(
                f"{name} — transactions de {batch} entrée{'s' if batch > 1 else ''} ({about}) : "
                f"{figures['per_second']:,} ajouts/s ({figures['appends']:,} en {figures['seconds']} s) ; "
                f"vérification {figures['verify_per_second']:,} entrées/s".replace(",", " ")
            )
        results[name] = figures_by_run
    best = max(r["per_second"] for r in results["sqlite"].values())
    results["meets_target"] = best >= TARGET_APPENDS_PER_S
    verdict = "atteint" if results["meets_target"] else "NON atteint"
    say(f"objectif ≥ {TARGET_APPENDS_PER_S:,} ajouts/s sur SQLite : {verdict}".replace(",", " "))
    return results


if __name__ == "__main__":  # pragma: no cover - manual run: python -m carnet.audit.bench
    import json
    import sys

    count = int(sys.argv[1]) if len(sys.argv) > 1 else 20_000
    print(json.dumps(run(appends=count, echo=print), indent=2))

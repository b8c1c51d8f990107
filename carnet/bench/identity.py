"""``carnet bench identity``: matricule validations per second and INS look-up latency in the patient index.

Two measurements, printed as they run and returned as a dict (see ``docs/benchmarks.md``):

1. **Matricule validation** on one core: ``is_valid_matricule`` over a prepared list of matricules (NIR with
   ordinary departments, Corsica 2A/2B, overseas 97x, born abroad 99, and about 10 % with a wrong key), best of
   three runs; ``parse_matricule`` over the valid ones, best of three.
2. **INS look-up** in a patient index of N synthetic qualified identities, on SQLite (a file in a temporary
   folder) and/or PostgreSQL (``--postgres-url`` or a throwaway cluster), schema from the real Alembic
   migrations, rows loaded with SQLAlchemy Core bulk inserts, then ANALYZE; each look-up goes through
   ``PatientRepository.by_ins`` on an ORM session and is timed on its own (p50/p95/p99).

Everything is synthetic: INS-NIR **test** OID, deterministic matricules with correct keys, no real person.
This module is imported only by the ``bench`` command.
"""

from __future__ import annotations

import datetime as dt
import gc
import math
import os
import platform
import random
import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

from carnet.errors import ValidationError
from carnet.identity.matricule import OID_INS_NIR_TEST, compute_key, is_valid_matricule, parse_matricule

if TYPE_CHECKING:
    from sqlalchemy import Table

Echo = Callable[[str], None]

BACKENDS = ("sqlite", "postgresql", "both")

# Targets (docs/benchmarks.md).
TARGET_VALIDATIONS_PER_S = 300_000
TARGET_LOOKUP_P95_MS = 2.0

BATCH_ROWS = 10_000  # rows per executemany when loading the index
MISS_SHARE = 0.10  # share of look-ups for an INS that is not in the index
INVALID_SHARE = 0.10  # share of matricules with a wrong key in the validation set
EXPUNGE_EVERY = 1_000  # look-ups between two session.expunge_all()
WARMUP_LOOKUPS = 500  # untimed look-ups before the measure (statement cache, connection, first pages)
RUNS = 3  # validation runs; the best one is kept
SEED = 20261122

# --- synthetic identities -----------------------------------------------------------------------------------

# Birth places (5 characters, the same in the matricule and in the birth_place trait). No duplicates: the
# position in this list is one digit of the mixed-radix number that makes every generated matricule unique.
_PLACES_FRANCE = (
    "75056", "69123", "13055", "31555", "06088", "44109", "67482", "34172", "33063", "59350",
    "35238", "76540", "38185", "21231", "63113", "87085", "29019", "57463", "25056", "54395",
)  # fmt: skip
_PLACES_CORSICA = ("2A004", "2B033")
_PLACES_OVERSEAS = ("97105", "97209", "97302", "97411", "97608")
_PLACES_ABROAD = ("99109", "99127", "99131", "99134", "99139", "99350", "99351", "99352")  # DE IT BE ES PT MA TN DZ
PLACES = _PLACES_FRANCE + _PLACES_CORSICA + _PLACES_OVERSEAS + _PLACES_ABROAD

# Matricule n ↔ (sex, year, month, place, order): a mixed-radix number, so distinct n give distinct matricules.
CAPACITY = 2 * 100 * 12 * len(PLACES) * 999
# n is first scrambled by a multiplication modulo CAPACITY (a bijection: the multiplier is a prime that does
# not divide CAPACITY), so insertion order is not index order, as in real life.
_SCRAMBLE = 2_654_435_761

_BIRTH_NAMES = (
    "MARTIN", "BERNARD", "THOMAS", "PETIT", "ROBERT", "RICHARD", "DURAND", "DUBOIS", "MOREAU", "LAURENT",
    "SIMON", "MICHEL", "LEFEBVRE", "LEROY", "ROUX", "DAVID", "BERTRAND", "MOREL", "FOURNIER", "GIRARD",
    "BONNET", "DUPONT", "LAMBERT", "FONTAINE", "ROUSSEAU", "VINCENT", "MULLER", "LEFEVRE", "FAURE", "ANDRE",
    "MERCIER", "BLANC", "GUERIN", "BOYER", "GARNIER", "CHEVALIER", "FRANCOIS", "LEGRAND", "GAUTHIER", "GARCIA",
    "PERRIN", "ROBIN", "CLEMENT", "MORIN", "NICOLAS", "HENRY", "ROUSSEL", "MATHIEU", "GAUTIER", "MASSON",
    "LE GALL", "N'DIAYE", "DA SILVA", "SAINT-MARTIN", "D'ALMEIDA", "ALBERTINI", "PAOLI", "NAGUIB", "TRAORE",
)  # fmt: skip
_FIRST_NAMES = {
    "M": ("JEAN", "PIERRE", "MICHEL", "ANDRE", "PHILIPPE", "LOUIS", "NICOLAS", "LUCAS", "HUGO", "GABRIEL",
          "JEAN-PIERRE", "MOHAMED", "THEO", "ARTHUR", "JULES", "PAUL", "ANTOINE", "YANN", "MARC", "ETIENNE"),
    "F": ("MARIE", "JEANNE", "FRANCOISE", "MONIQUE", "CATHERINE", "NATHALIE", "ISABELLE", "EMMA", "JADE",
          "LOUISE", "ANNE-SOPHIE", "CHLOE", "LEA", "ZOE", "INES", "CAMILLE", "SARAH", "MANON", "JULIE", "AICHA"),
}  # fmt: skip


def _first13(n: int) -> str:
    """The first 13 characters of the synthetic NIR number ``n`` (0 ≤ n < CAPACITY), all distinct."""
    m = (n * _SCRAMBLE) % CAPACITY
    m, order = divmod(m, 999)
    m, place = divmod(m, len(PLACES))
    m, month = divmod(m, 12)
    m, year = divmod(m, 100)
    return f"{m + 1}{year:02d}{month + 1:02d}{PLACES[place]}{order + 1:03d}"


def synthetic_matricule(n: int) -> str:
    """The synthetic, valid matricule number ``n`` (unique for 0 ≤ n < CAPACITY)."""
    first13 = _first13(n)
    return first13 + compute_key(first13)


class _RowFactory:
    """Builds the ``patients`` rows of the synthetic index, batch by batch (never the whole index in memory)."""

    def __init__(self, stamp: dt.datetime) -> None:
        self.stamp = stamp
        self._keys: dict[str, str] = {}
        from carnet.identity.model import phonetic_key

        self._phonetic_key = phonetic_key

    def _key(self, name: str) -> str:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = self._phonetic_key(name)
        return key

    def row(self, n: int) -> dict[str, Any]:
        first13 = _first13(n)
        sex = "M" if first13[0] == "1" else "F"
        yy, month = int(first13[1:3]), int(first13[3:5])
        year = 1900 + yy if yy >= 26 else 2000 + yy
        names = _FIRST_NAMES[sex]
        first_name = names[n % len(names)]
        second = names[(n // len(names) + 3) % len(names)]
        birth_name = _BIRTH_NAMES[(n * 7 + 3) % len(_BIRTH_NAMES)]
        return {
            "id": str(uuid.uuid4()),
            "ins_matricule": first13 + compute_key(first13),
            "ins_oid": OID_INS_NIR_TEST,
            "status": "QUAL",
            "birth_name": birth_name,
            "first_name": first_name,
            "birth_first_names": first_name if second == first_name else f"{first_name} {second}",
            "sex": sex,
            "birth_date": dt.date(year, month, n % 28 + 1),
            "birth_place": first13[5:10],
            "used_name": None,
            "used_first_name": None,
            "name_key": self._key(birth_name),
            "first_name_key": self._key(first_name),
            "merged_into_id": None,
            "version": 1,
            "created_at": self.stamp,
            "updated_at": self.stamp,
        }

    def batches(self, count: int, size: int = BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
        for start in range(0, count, size):
            yield [self.row(n) for n in range(start, min(start + size, count))]


# --- the validation set -------------------------------------------------------------------------------------

_MIX = (("département", 0.70), ("Corse 2A/2B", 0.05), ("outre-mer 97x", 0.10), ("né à l'étranger 99", 0.15))


def _random_first13(rng: random.Random, kind: str) -> str:
    sex = rng.choice("1111111112222222223478")
    year = rng.randrange(100)
    r = rng.random()
    # Mostly real months; a few "unknown month" codes (20, 30–42, 50–99) that the NIR allows.
    month = rng.randrange(1, 13) if r < 0.97 else rng.choice((20, rng.randrange(30, 43), rng.randrange(50, 100)))
    if kind == "département":
        department = rng.choice([d for d in range(1, 96) if d != 20])
        place = f"{department:02d}{rng.randrange(1, 1000):03d}"
    elif kind == "Corse 2A/2B":
        place = f"2{rng.choice('AB')}{rng.randrange(1, 400):03d}"
    elif kind == "outre-mer 97x":
        place = f"97{rng.randrange(1, 9)}{rng.randrange(1, 100):02d}"
    else:
        place = f"99{rng.randrange(100, 1000):03d}"
    return f"{sex}{year:02d}{month:02d}{place}{rng.randrange(1, 1000):03d}"


def validation_set(count: int, *, seed: int = SEED) -> tuple[list[str], list[str], dict[str, int]]:
    """``count`` matricules (about 10 % with a wrong key), the valid ones, and how many of each kind."""
    rng = random.Random(seed)
    kinds = [k for k, _ in _MIX]
    weights = [w for _, w in _MIX]
    everything: list[str] = []
    valid: list[str] = []
    counts = dict.fromkeys([*kinds, "clé erronée"], 0)
    for kind in rng.choices(kinds, weights, k=count):
        first13 = _random_first13(rng, kind)
        key = int(compute_key(first13))
        if rng.random() < INVALID_SHARE:
            # A wrong but well-formed key (01–97): only the key check can catch it.
            everything.append(f"{first13}{key % 97 + 1:02d}")
            counts["clé erronée"] += 1
        else:
            matricule = f"{first13}{key:02d}"
            everything.append(matricule)
            valid.append(matricule)
            counts[kind] += 1
    return everything, valid, counts


# --- helpers ------------------------------------------------------------------------------------------------


def _n(value: float) -> str:
    """12 345 678 (French thousands separator)."""
    return f"{value:,.0f}".replace(",", " ")


def _percentile(sorted_values: Sequence[int], p: float) -> int:
    """Nearest-rank percentile of an ascending sequence."""
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


def _ms(ns: float) -> float:
    return ns / 1e6


def _header(echo: Echo, title: str) -> None:
    echo("")
    echo(f"== {title} " + "=" * max(0, 100 - len(title)))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@contextmanager
def _one_core() -> Iterator[int | None]:
    """Pin the process to one CPU while measuring (Linux); yields the CPU number, or None when not possible."""
    getter = getattr(os, "sched_getaffinity", None)
    setter = getattr(os, "sched_setaffinity", None)
    if getter is None or setter is None:
        yield None
        return
    before = getter(0)
    cpu = min(before)
    try:
        setter(0, {cpu})
    except OSError:
        yield None
        return
    try:
        yield cpu
    finally:
        setter(0, before)


# --- 1. validations -----------------------------------------------------------------------------------------


def _time_is_valid(data: list[str]) -> tuple[float, int]:
    check = is_valid_matricule
    accepted = 0
    start = time.perf_counter()
    for matricule in data:
        if check(matricule):
            accepted += 1
    return time.perf_counter() - start, accepted


def _time_parse(data: list[str]) -> float:
    parse = parse_matricule
    start = time.perf_counter()
    for matricule in data:
        parse(matricule)
    return time.perf_counter() - start


def bench_validations(count: int, echo: Echo) -> dict[str, Any]:
    _header(echo, f"1. Validation de matricules INS ({_n(count)} matricules, un cœur, meilleur de {RUNS})")
    started = time.perf_counter()
    data, valid, counts = validation_set(count)
    echo(
        f"Jeu préparé en {time.perf_counter() - started:.1f} s : "
        + ", ".join(f"{kind} {_n(c)}" for kind, c in counts.items())
    )
    with _one_core() as cpu:
        echo(f"Processus épinglé sur le cœur {cpu}." if cpu is not None else "Épinglage sur un cœur indisponible.")
        gc_was_enabled = gc.isenabled()
        gc.disable()  # as timeit does
        try:
            runs_valid: list[float] = []
            for _ in range(RUNS):
                elapsed, accepted = _time_is_valid(data)
                if accepted != len(valid):
                    raise ValidationError(
                        f"banc faussé : is_valid_matricule accepte {accepted} matricules, {len(valid)} attendus"
                    )
                runs_valid.append(elapsed)
            runs_parse = [_time_parse(valid) for _ in range(RUNS)]
        finally:
            if gc_was_enabled:
                gc.enable()
    best_valid, best_parse = min(runs_valid), min(runs_parse)
    result: dict[str, Any] = {
        "count": len(data),
        "valid": len(valid),
        "invalid": len(data) - len(valid),
        "mix": counts,
        "cpu": cpu,
        "is_valid_runs_s": runs_valid,
        "is_valid_per_s": len(data) / best_valid,
        "is_valid_ns_per_call": best_valid / len(data) * 1e9,
        "parse_runs_s": runs_parse,
        "parse_per_s": len(valid) / best_parse,
        "parse_ns_per_call": best_parse / len(valid) * 1e9,
    }
    echo(
        f"is_valid_matricule : {_n(result['is_valid_per_s'])} validations/s "
        f"({result['is_valid_ns_per_call']:.0f} ns/appel ; essais : "
        + ", ".join(f"{t:.3f} s" for t in runs_valid)
        + ")"
    )
    echo(
        f"parse_matricule    : {_n(result['parse_per_s'])} analyses/s "
        f"({result['parse_ns_per_call']:.0f} ns/appel, {_n(len(valid))} matricules valides ; essais : "
        + ", ".join(f"{t:.3f} s" for t in runs_parse)
        + ")"
    )
    return result


# --- 2. look-ups --------------------------------------------------------------------------------------------


def _patients_table() -> Table:
    from carnet.identity.store import PatientRow

    return cast("Table", PatientRow.__table__)


def _load(engine: Any, patients: int, stamp: dt.datetime, echo: Echo) -> tuple[float, float]:
    """Fill ``patients``; return (load seconds, ANALYZE seconds)."""
    from sqlalchemy import text

    table = _patients_table()
    factory = _RowFactory(stamp)
    step = max(BATCH_ROWS, (patients // 10) // BATCH_ROWS * BATCH_ROWS)
    done = 0
    started = time.perf_counter()
    for rows in factory.batches(patients):
        with engine.begin() as conn:
            conn.execute(table.insert(), rows)
        done += len(rows)
        if done % step == 0 and done < patients:
            elapsed = time.perf_counter() - started
            echo(f"  … {_n(done)} / {_n(patients)} lignes ({elapsed:.0f} s, {_n(done / elapsed)} lignes/s)")
    load_s = time.perf_counter() - started
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("ANALYZE patients" if engine.dialect.name == "postgresql" else "ANALYZE"))
    return load_s, time.perf_counter() - started


def _lookup_keys(patients: int, count: int, seed: int) -> list[tuple[str, bool]]:
    """``count`` (matricule, expected to be found) pairs: random existing INS and about 10 % absent ones."""
    rng = random.Random(seed)
    keys = []
    for _ in range(count):
        if rng.random() < MISS_SHARE:
            keys.append((synthetic_matricule(rng.randrange(patients, CAPACITY)), False))
        else:
            keys.append((synthetic_matricule(rng.randrange(patients)), True))
    return keys


def _measure_lookups(engine: Any, patients: int, lookups: int, echo: Echo) -> dict[str, Any]:
    from carnet.identity.store import PatientRepository
    from carnet.storage.db import make_session_factory

    warmup = _lookup_keys(patients, min(WARMUP_LOOKUPS, lookups), SEED + 1)
    keys = _lookup_keys(patients, lookups, SEED + 2)
    session = make_session_factory(engine)()
    try:
        repo = PatientRepository(session)
        for matricule, _ in warmup:
            repo.by_ins(matricule)
        session.expunge_all()
        durations: list[int] = []
        wrong = 0
        clock = time.perf_counter_ns
        started = time.perf_counter()
        for i, (matricule, expected) in enumerate(keys, 1):
            t0 = clock()
            row = repo.by_ins(matricule)
            t1 = clock()
            durations.append(t1 - t0)
            if (row is not None) != expected or (row is not None and row.ins_matricule != matricule):
                wrong += 1
            if i % EXPUNGE_EVERY == 0:
                session.expunge_all()
        wall = time.perf_counter() - started
    finally:
        session.close()
    if wrong:
        raise ValidationError(f"banc faussé : {wrong} recherches par INS ont rendu un résultat inattendu")
    durations.sort()
    hits = sum(1 for _, expected in keys if expected)
    return {
        "lookups": len(keys),
        "hits": hits,
        "misses": len(keys) - hits,
        "warmup": len(warmup),
        "p50_ms": _ms(_percentile(durations, 50)),
        "p95_ms": _ms(_percentile(durations, 95)),
        "p99_ms": _ms(_percentile(durations, 99)),
        "max_ms": _ms(durations[-1]),
        "mean_ms": _ms(sum(durations) / len(durations)),
        "lookups_per_s": len(keys) / wall,
    }


def _bench_backend(
    name: str, url: str, *, patients: int, lookups: int, external: bool, echo: Echo, size: Callable[[Any], int]
) -> dict[str, Any]:
    from sqlalchemy import func, select, text

    from carnet.identity.store import PatientRow
    from carnet.storage.db import make_engine
    from carnet.storage.migrate import upgrade

    engine = make_engine(url)
    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    loaded = False
    try:
        upgrade(engine)
        with engine.connect() as conn:
            existing = conn.execute(select(func.count()).select_from(_patients_table())).scalar_one()
            version = (
                conn.execute(text("SHOW server_version")).scalar_one()
                if engine.dialect.name == "postgresql"
                else sqlite3.sqlite_version
            )
        if existing:
            raise ValidationError(
                f"la table patients de {engine.url.render_as_string(hide_password=True)} contient déjà {existing} "
                "lignes : le banc a besoin d'une base vide (il y écrit des identités synthétiques)",
                field="postgres_url",
            )
        echo(
            f"{name} {version} — schéma créé par les migrations Alembic ; chargement de {_n(patients)} identités "
            f"(INSERT par lots de {_n(BATCH_ROWS)})"
        )
        loaded = True
        load_s, analyze_s = _load(engine, patients, stamp, echo)
        bytes_used = size(engine)
        echo(
            f"Chargement : {load_s:.1f} s, {_n(patients / load_s)} lignes/s ; ANALYZE : {analyze_s:.1f} s ; "
            f"taille : {bytes_used / 2**20:.0f} Mio"
        )
        echo(
            f"Recherches par INS : {_n(min(WARMUP_LOOKUPS, lookups))} d'échauffement non chronométrées, puis "
            f"{_n(lookups)} chronométrées une à une (≈ {MISS_SHARE:.0%} d'INS absents) via "
            "PatientRepository.by_ins"
        )
        result = _measure_lookups(engine, patients, lookups, echo)
        echo(
            f"p50 {result['p50_ms']:.3f} ms · p95 {result['p95_ms']:.3f} ms · p99 {result['p99_ms']:.3f} ms · "
            f"max {result['max_ms']:.2f} ms · {_n(result['lookups_per_s'])} recherches/s "
            f"({_n(result['hits'])} trouvées, {_n(result['misses'])} absentes, toutes conformes)"
        )
        result.update(
            backend=name,
            version=version,
            patients=patients,
            load_s=load_s,
            load_rows_per_s=patients / load_s,
            analyze_s=analyze_s,
            size_bytes=bytes_used,
        )
        return result
    finally:
        if external and loaded:
            # A database we did not create: remove what we wrote (it was empty before).
            echo("Suppression des identités synthétiques écrites par le banc…")
            with engine.begin() as conn:
                conn.execute(
                    _patients_table()
                    .delete()
                    .where(PatientRow.created_at == stamp, PatientRow.ins_oid == OID_INS_NIR_TEST)
                )
        engine.dispose()


def bench_sqlite(patients: int, lookups: int, echo: Echo) -> dict[str, Any]:
    _header(echo, f"2a. Recherche par INS — SQLite, {_n(patients)} patients")
    folder = Path(tempfile.mkdtemp(prefix="carnet-bench-"))
    path = folder / "bench.db"

    def size(_engine: Any) -> int:
        return sum(p.stat().st_size for p in folder.glob("bench.db*"))

    echo(f"Fichier : {path} (WAL, synchronous=FULL, comme en production embarquée)")
    try:
        return _bench_backend(
            "SQLite", f"sqlite:///{path}", patients=patients, lookups=lookups, external=False, echo=echo, size=size
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def bench_postgresql(patients: int, lookups: int, postgres_url: str | None, echo: Echo) -> dict[str, Any]:
    from sqlalchemy import text

    from carnet.storage.pgcluster import TemporaryPostgres

    _header(echo, f"2b. Recherche par INS — PostgreSQL, {_n(patients)} patients")

    def size(engine: Any) -> int:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT pg_total_relation_size('patients')")).scalar_one())

    if postgres_url:
        echo("Base fournie par --postgres-url (elle doit être vide ; les lignes écrites sont supprimées à la fin)")
        return _bench_backend(
            "PostgreSQL", postgres_url, patients=patients, lookups=lookups, external=True, echo=echo, size=size
        )
    cluster = TemporaryPostgres()
    echo(f"Cluster jetable (initdb + pg_ctl, 127.0.0.1:{cluster.port}, fsync=off, réglages par défaut sinon)")
    cluster.start()
    try:
        return _bench_backend(
            "PostgreSQL", cluster.url, patients=patients, lookups=lookups, external=False, echo=echo, size=size
        )
    finally:
        cluster.stop()


# --- entry point --------------------------------------------------------------------------------------------


def run(
    *,
    patients: int,
    lookups: int,
    validations: int,
    backend: str,
    postgres_url: str | None,
    echo: Callable[[str], None],
) -> dict[str, Any]:
    """Run both measurements, print them through ``echo`` and return them (see the module docstring)."""
    if backend not in BACKENDS:
        raise ValidationError(f"backend inconnu « {backend} » : sqlite, postgresql ou both attendu", field="backend")
    if not 1 <= patients < CAPACITY:
        raise ValidationError(f"--patients : entre 1 et {_n(CAPACITY - 1)} attendu, {patients} reçu", field="patients")
    if lookups < 1:
        raise ValidationError(f"--lookups : au moins 1 attendu, {lookups} reçu", field="lookups")
    if validations < 1:
        raise ValidationError(f"--validations : au moins 1 attendu, {validations} reçu", field="validations")

    started = time.perf_counter()
    machine = {
        "cpu": _cpu_model(),
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "system": f"{platform.system()} {platform.release()}",
    }
    echo(f"carnet bench identity — {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC")
    echo(f"Machine : {machine['cpu']}, {machine['cpus']} cœurs, Python {machine['python']}, {machine['system']}")
    echo(f"Paramètres : --patients {patients} --lookups {lookups} --validations {validations} --backend {backend}")

    results: dict[str, Any] = {
        "machine": machine,
        "parameters": {
            "patients": patients,
            "lookups": lookups,
            "validations": validations,
            "backend": backend,
        },
    }
    results["validation"] = bench_validations(validations, echo)
    lookup: dict[str, Any] = {}
    if backend in ("sqlite", "both"):
        lookup["sqlite"] = bench_sqlite(patients, lookups, echo)
    if backend in ("postgresql", "both"):
        lookup["postgresql"] = bench_postgresql(patients, lookups, postgres_url, echo)
    results["lookup"] = lookup

    checks = [
        {
            "measure": "is_valid_matricule (un cœur)",
            "target": f"≥ {_n(TARGET_VALIDATIONS_PER_S)} /s",
            "measured": f"{_n(results['validation']['is_valid_per_s'])} /s",
            "passed": results["validation"]["is_valid_per_s"] >= TARGET_VALIDATIONS_PER_S,
        },
        {
            "measure": "parse_matricule (un cœur)",
            "target": "—",
            "measured": f"{_n(results['validation']['parse_per_s'])} /s",
            "passed": None,
        },
    ]
    for key, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if key in lookup:
            r = lookup[key]
            checks.append(
                {
                    "measure": f"recherche par INS p95, {label}, {_n(patients)} patients",
                    "target": f"≤ {TARGET_LOOKUP_P95_MS:g} ms",
                    "measured": f"{r['p95_ms']:.3f} ms (p50 {r['p50_ms']:.3f}, p99 {r['p99_ms']:.3f})",
                    "passed": r["p95_ms"] <= TARGET_LOOKUP_P95_MS,
                }
            )
    results["checks"] = checks
    results["passed"] = all(c["passed"] for c in checks if c["passed"] is not None)
    results["duration_s"] = time.perf_counter() - started

    _header(echo, "Résumé")
    widths = [max(len(str(c[k])) for c in checks) for k in ("measure", "target", "measured")]
    head = ("mesure", "cible", "mesuré")
    echo("  ".join(h.ljust(w) for h, w in zip(head, widths, strict=True)) + "  résultat")
    echo("  ".join("-" * w for w in widths) + "  --------")
    for c in checks:
        verdict = "—" if c["passed"] is None else ("PASS" if c["passed"] else "MISS")
        echo(
            "  ".join(str(c[k]).ljust(w) for k, w in zip(("measure", "target", "measured"), widths, strict=True))
            + f"  {verdict}"
        )
    verdict = "toutes les cibles atteintes" if results["passed"] else "cible(s) manquée(s)"
    echo(f"Durée totale : {results['duration_s']:.0f} s — {verdict}")
    return results

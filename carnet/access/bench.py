"""Access decisions per second on one core, with in-memory facts (target ≥ 200,000/s, docs/benchmarks.md).

A synthetic population (patients with care teams, consents, grants, oppositions and hidden documents; médecins,
infirmiers, pharmaciens, kinés and others; holders, secretariat, apps) is turned into a list of decision cases
that mixes every path: allowed reads through the care team, consent and grants, matrix refusals, blocked
professionals, hidden documents, listings, deposits, emergency accesses. The cases are prepared first; only
the ``decide`` calls are timed, best of three runs. Imported by the ``bench`` command only.
"""

from __future__ import annotations

import datetime as dt
import gc
import platform
import random
import time
from collections.abc import Callable
from typing import Any

from carnet.access.decide import decide
from carnet.access.matrix import default_matrix
from carnet.access.model import (
    Action,
    Actor,
    ActorKind,
    AuthMethod,
    CareTeamMember,
    Consent,
    Context,
    DocumentFacts,
    Grant,
    Mode,
    PatientFacts,
)
from carnet.identity.status import IdentityStatus
from carnet.record.valuesets import CLASS_FOR_TYPE

Echo = Callable[[str], None]
Case = tuple[Actor, Action, PatientFacts, DocumentFacts | None, Context]

TARGET_DECISIONS_PER_S = 200_000
RUNS = 3
SEED = 20261122
PATIENTS = 200
DOCUMENTS_PER_PATIENT = 20
CASES = 20_000
NOW = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
PROFESSIONS = ("10", "10", "10", "60", "60", "21", "70", "40", "50", "93", "41")
TYPES = ("11488-4", "34874-8", "18748-4", "57833-6", "60593-1", "11502-2", "68599-0", "ATTEST-RESID", "REMB", "60591-5")


def _population(rng: random.Random) -> list[Case]:
    professionals = [
        Actor(
            kind=ActorKind.PROFESSIONAL,
            id=f"8100000{n:05d}",
            auth_method=AuthMethod.CPS,
            profession=rng.choice(PROFESSIONS),
            organisation_id=f"org-{n % 40}",
        )
        for n in range(300)
    ]
    apps = [Actor(kind=ActorKind.APP, id=f"app-{n}", auth_method=AuthMethod.APP_TOKEN) for n in range(5)]
    secretariat = [
        Actor(kind=ActorKind.SECRETARIAT, id=f"CPE-{n}", auth_method=AuthMethod.CPE, acting_for=professionals[n].id)
        for n in range(20)
    ]
    cases: list[Case] = []
    for p in range(PATIENTS):
        patient_id = f"patient-{p}"
        team = rng.sample(professionals, 8)
        facts = PatientFacts(
            patient_id=patient_id,
            identity_status=IdentityStatus.QUAL if rng.random() < 0.9 else IdentityStatus.RECUP,
            care_team=tuple(
                CareTeamMember(
                    professional_id=pro.id,
                    informed_at=NOW - dt.timedelta(days=30),
                    refused_at=NOW - dt.timedelta(days=1) if rng.random() < 0.05 else None,
                    is_medecin_traitant=i == 0,
                )
                for i, pro in enumerate(team)
            ),
            consents=tuple(
                Consent(
                    professional_id=pro.id,
                    given_at=NOW - dt.timedelta(hours=2),
                    expires_at=NOW + dt.timedelta(hours=rng.choice((-1, 4))),
                )
                for pro in rng.sample(professionals, 2)
            ),
            blocked_professionals=frozenset(pro.id for pro in rng.sample(professionals, 1)),
            blocked_organisations=frozenset({f"org-{rng.randrange(40)}"}) if rng.random() < 0.2 else frozenset(),
            grants=(
                Grant(
                    grantee_kind="app",
                    grantee_id=rng.choice(apps).id,
                    can_read=True,
                    can_write=True,
                    class_codes=frozenset({"10", "11"}),
                    valid_from=NOW - dt.timedelta(days=10),
                ),
                Grant(
                    grantee_kind="professional",
                    grantee_id=rng.choice(professionals).id,
                    can_read=True,
                    can_write=False,
                    valid_from=NOW - dt.timedelta(days=10),
                    valid_until=NOW + dt.timedelta(days=rng.choice((-1, 10))),
                ),
            ),
            emergency_refused=rng.random() < 0.1,
        )
        documents = []
        for d in range(DOCUMENTS_PER_PATIENT):
            type_code = rng.choice(TYPES)
            documents.append(
                DocumentFacts(
                    id=f"{patient_id}-doc-{d}",
                    type_code=type_code,
                    class_code=CLASS_FOR_TYPE[type_code],
                    author_id=rng.choice(team).id,
                    hidden_from_professionals=rng.random() < 0.1,
                    invisible_to_patient=rng.random() < 0.05,
                )
            )
        holder = Actor(kind=ActorKind.PATIENT, id=patient_id, auth_method=AuthMethod.FRANCE_CONNECT)
        for _ in range(CASES // PATIENTS):
            roll = rng.random()
            document = rng.choice(documents)
            context = Context(now=NOW)
            if roll < 0.55:
                actor = rng.choice(team) if rng.random() < 0.8 else rng.choice(professionals)
                action = Action.READ
            elif roll < 0.65:
                actor, action = rng.choice(team), Action.LIST
            elif roll < 0.72:
                actor, action = rng.choice(professionals), Action.READ
                context = Context(now=NOW, mode=Mode.EMERGENCY, justification=rng.choice((None, "arrêt cardiaque")))
            elif roll < 0.8:
                actor, action = holder, rng.choice((Action.READ, Action.LIST, Action.HIDE))
            elif roll < 0.87:
                actor, action = rng.choice(team), Action.DEPOSIT
                document = DocumentFacts(
                    id="new", type_code="11488-4", class_code="10", author_id=actor.id if rng.random() < 0.9 else "x"
                )
            elif roll < 0.93:
                actor, action = rng.choice(apps), rng.choice((Action.READ, Action.LIST))
            else:
                actor, action = rng.choice(secretariat), rng.choice((Action.READ, Action.QUALIFY_IDENTITY))
            cases.append((actor, action, facts, document, context))
    rng.shuffle(cases)
    return cases


def run(*, decisions: int = 1_000_000, echo: Echo = print) -> dict[str, Any]:
    """Time ``decisions`` calls of ``decide`` over prepared cases; return the figures (best of three runs)."""
    default_matrix()  # compile the matrix outside the measure
    cases = _population(random.Random(SEED))
    echo(f"Décisions d'accès : {len(cases)} cas préparés, {decisions} décisions par passe, {RUNS} passes")
    for actor, action, facts, resource, context in cases[:2_000]:  # warm-up
        decide(actor, action, facts, resource, context)
    allowed = sum(decide(*case).allowed for case in cases)
    loops, rest = divmod(decisions, len(cases))
    work = cases * loops + cases[:rest]
    best = float("inf")
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for number in range(1, RUNS + 1):
            start = time.perf_counter()
            for actor, action, facts, resource, context in work:
                decide(actor, action, facts, resource, context)
            elapsed = time.perf_counter() - start
            best = min(best, elapsed)
            echo(f"  passe {number} : {decisions / elapsed:,.0f} décisions/s".replace(",", " "))
    finally:
        if gc_was_enabled:
            gc.enable()
    per_second = decisions / best
    result: dict[str, Any] = {
        "decisions": decisions,
        "seconds": round(best, 4),
        "decisions_per_s": round(per_second),
        "microseconds_per_decision": round(best / decisions * 1e6, 3),
        "allowed_share": round(allowed / len(cases), 3),
        "target_decisions_per_s": TARGET_DECISIONS_PER_S,
        "meets_target": per_second >= TARGET_DECISIONS_PER_S,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    result.update(_listing_filter_cost(echo))
    verdict = "objectif atteint" if result["meets_target"] else "objectif NON atteint"
    echo(
        f"Décisions d'accès : {result['decisions_per_s']:,} décisions/s sur un cœur "
        f"({result['microseconds_per_decision']} µs par décision ; objectif ≥ {TARGET_DECISIONS_PER_S:,}/s : "
        f"{verdict})".replace(",", " ")
    )
    return result


TARGET_FILTER_MS = 2.0


def _listing_filter_cost(echo: Echo, documents: int = 500, repeats: int = 200) -> dict[str, Any]:
    """Extra cost of filtering a 500-document listing through ``decide`` (one decision per entry), as the
    record's listing does it: p50/p95 over ``repeats`` listings of a care-team doctor."""
    from carnet.access.model import (
        Action,
        Actor,
        ActorKind,
        AuthMethod,
        CareTeamMember,
        Context,
        DocumentFacts,
        PatientFacts,
    )
    from carnet.identity.status import IdentityStatus

    rng = random.Random(SEED)
    now = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)
    doctor = Actor(kind=ActorKind.PROFESSIONAL, id="810000000001", auth_method=AuthMethod.CPS, profession="10")
    facts = PatientFacts(
        patient_id="p", identity_status=IdentityStatus.QUAL,
        care_team=(CareTeamMember(professional_id=doctor.id, informed_at=now),),
    )  # fmt: skip
    types = [("11502-2", "10"), ("18748-4", "31"), ("SYNTH", "11"), ("57833-6", "42"), ("11490-0", "10")]
    docs = [
        DocumentFacts(
            id=str(i),
            type_code=t,
            class_code=c,
            author_id=f"8{rng.randint(0, 99):011d}",
            hidden_from_professionals=rng.random() < 0.05,
        )  # fmt: skip
        for i, (t, c) in enumerate(rng.choice(types) for _ in range(documents))
    ]
    context = Context(now=now)
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        kept = [d for d in docs if decide(doctor, Action.READ, facts, d, context).allowed]
        timings.append((time.perf_counter() - start) * 1000)
    timings.sort()
    p50, p95 = timings[len(timings) // 2], timings[int(len(timings) * 0.95)]
    echo(
        f"Filtrage d'une liste de {documents} documents : p50 {p50:.2f} ms, p95 {p95:.2f} ms "
        f"({len(kept)} gardés ; objectif p95 ≤ {TARGET_FILTER_MS} ms : "
        f"{'objectif atteint' if p95 <= TARGET_FILTER_MS else 'objectif NON atteint'})"
    )
    return {"filter_500_p50_ms": round(p50, 3), "filter_500_p95_ms": round(p95, 3),
            "filter_meets_target": p95 <= TARGET_FILTER_MS}  # fmt: skip

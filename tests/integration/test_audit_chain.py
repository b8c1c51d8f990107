"""The audit hash chain on SQLite and PostgreSQL: appended by the real services, verified, tampered with.

Tampering needs the append-only triggers out of the way (they refuse UPDATE and DELETE on ``audit_events``):
on SQLite the test drops them and creates them again in the same transaction; on PostgreSQL it disables them
with ``ALTER TABLE ... DISABLE TRIGGER USER`` (the test role owns the table), inside a transaction that enables
them again before it commits.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from sqlalchemy import Connection, Engine, func, select, text
from sqlalchemy.exc import DBAPIError

from carnet.audit import service as audit
from carnet.audit.model import GENESIS_HASH, AccessMode, VerifyReport
from carnet.audit.store import AuditChainHead, AuditRepository, AuditRow
from carnet.audit.verify import verify
from carnet.bootstrap import Platform
from carnet.identity import service as identity
from carnet.identity.status import ActorKind
from carnet.storage.db import make_engine, make_session_factory
from tests.builders import DR_HOUSE, FRONT_DESK, make_person
from tests.conftest import NOW

SQLITE_TRIGGERS = {
    "audit_events_no_update": "BEFORE UPDATE ON audit_events",
    "audit_events_no_delete": "BEFORE DELETE ON audit_events",
}


@contextmanager
def triggers_bypassed(engine: Engine) -> Iterator[Connection]:
    """A connection on which UPDATE and DELETE of audit entries are possible, for this transaction only."""
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.execute(text("ALTER TABLE audit_events DISABLE TRIGGER USER"))
            yield conn
            conn.execute(text("ALTER TABLE audit_events ENABLE TRIGGER USER"))
        else:
            for name in SQLITE_TRIGGERS:
                conn.execute(text(f"DROP TRIGGER {name}"))
            yield conn
            for name, when in SQLITE_TRIGGERS.items():
                verb = "UPDATE" if "update" in name else "DELETE"
                conn.execute(
                    text(
                        f"CREATE TRIGGER {name} {when} "
                        f"BEGIN SELECT RAISE(ABORT, 'append-only table audit_events: {verb} refused'); END"
                    )
                )


def check(platform: Platform) -> VerifyReport:
    with platform.session_factory() as session:
        return verify(session)


def chain_of(platform: Platform, patient_id: str) -> list[AuditRow]:
    with platform.uow() as uow:
        return uow.audit.chain(patient_id)


def heads(platform: Platform) -> dict[str, tuple[int, str]]:
    with platform.uow() as uow:
        return uow.audit.heads()


def register(platform: Platform, **traits: str) -> str:
    with platform.uow() as uow:
        patient_id = identity.register(uow=uow, actor=FRONT_DESK, traits=make_person(**traits)).patient.id
        uow.commit()
    return patient_id


@dataclass
class Population:
    hélène: str  # five entries in her chain
    others: list[str]


@pytest.fixture
def population(platform: Platform) -> Population:
    """Three patients registered and read through the real identity service, and a platform-chain entry."""
    hélène = register(platform)
    others = [register(platform, birth_name="Marchand"), register(platform, birth_name="Nguyen")]
    for _ in range(4):
        with platform.uow() as uow:
            identity.get(uow=uow, actor=DR_HOUSE, patient_id=hélène)
            uow.commit()
    with platform.uow() as uow:
        audit.record(uow=uow, actor=identity.SYSTEM, action="platform.start", patient_id=None)
        uow.commit()
    return Population(hélène, others)


# --- a sound chain ----------------------------------------------------------------------------------------------


def test_entries_appended_by_the_services_form_one_intact_chain_per_patient(
    platform: Platform, population: Population
) -> None:
    report = check(platform)
    assert (report.ok, report.checked, report.first_bad, report.chains) == (True, 8, None, 4)

    chain = chain_of(platform, population.hélène)
    assert [e.chain_seq for e in chain] == [1, 2, 3, 4, 5]
    assert [e.action for e in chain] == ["identity.create"] + ["identity.read"] * 4
    assert chain[0].prev_hash == GENESIS_HASH
    assert all(later.prev_hash == earlier.hash for earlier, later in zip(chain, chain[1:], strict=False))
    assert heads(platform)[population.hélène] == (5, chain[-1].hash)
    assert heads(platform)[""][0] == 1  # the platform chain


def test_the_actor_details_mode_decision_and_request_are_recorded_and_protected(platform: Platform) -> None:
    patient = register(platform)

    @dataclass(frozen=True)
    class Professional:
        kind: ActorKind
        id: str
        name: str
        profession: str
        organisation_name: str
        auth_method: str

    urgentist = Professional(
        ActorKind.PROFESSIONAL, "810000000777", "Dr Salomé Urgence", "10", "CHU de Reims", "pro_sante_connect"
    )
    with platform.uow() as uow, audit.request_context("req-4242"):
        audit.record(
            uow=uow,
            actor=urgentist,
            action="document.read",
            patient_id=patient,
            detail={"document": "doc-1", "query": "cancer du sein"},
            mode=AccessMode.EMERGENCY,
            decision={"allowed": True, "reasons": ["emergency_access"]},
        )
        uow.commit()
    entry = chain_of(platform, patient)[-1]
    assert (entry.actor_name, entry.actor_profession, entry.actor_organisation, entry.auth_method) == (
        "Dr Salomé Urgence",
        "10",
        "CHU de Reims",
        "pro_sante_connect",
    )
    assert (entry.mode, entry.request_id) == ("emergency", "req-4242")
    assert entry.decision == {"allowed": True, "reasons": ["emergency_access"]}
    # Free text that may be clinical is not written; which key was erased is.
    assert entry.detail == {"document": "doc-1", "erased": ["query"]}
    assert check(platform).ok


# --- tampering -------------------------------------------------------------------------------------------------


Tamper = Callable[[Connection, list[AuditRow]], None]


def alter_detail(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("UPDATE audit_events SET detail = '{\"forged\": true}' WHERE id = :id"), {"id": chain[2].id})


def alter_actor(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("UPDATE audit_events SET actor_id = '810000000060' WHERE id = :id"), {"id": chain[2].id})


def alter_mode(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("UPDATE audit_events SET mode = 'emergency' WHERE id = :id"), {"id": chain[2].id})


def delete_middle(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[2].id})


def swap_positions(conn: Connection, chain: list[AuditRow]) -> None:
    # Through a free position: (chain_key, chain_seq) is unique, and checked row by row on PostgreSQL.
    second, third = chain[1], chain[2]
    move = text("UPDATE audit_events SET chain_seq = :seq WHERE id = :id")
    conn.execute(move, {"seq": -1, "id": second.id})
    conn.execute(move, {"seq": 2, "id": third.id})
    conn.execute(move, {"seq": 3, "id": second.id})


def delete_last(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("DELETE FROM audit_events WHERE id = :id"), {"id": chain[-1].id})


def delete_last_two(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("DELETE FROM audit_events WHERE id IN (:a, :b)"), {"a": chain[-1].id, "b": chain[-2].id})


def delete_whole_chain(conn: Connection, chain: list[AuditRow]) -> None:
    conn.execute(text("DELETE FROM audit_events WHERE chain_key = :k"), {"k": chain[0].chain_key})


def rewrite_middle_with_its_hash(conn: Connection, chain: list[AuditRow]) -> None:
    # A forger who also recomputes the entry's hash still breaks the link to the next entry.
    from carnet.audit.model import entry_hash, hash_fields

    third = chain[2]
    third.outcome = "denied"
    conn.execute(
        text("UPDATE audit_events SET outcome = 'denied', hash = :h WHERE id = :id"),
        {"h": entry_hash(third.prev_hash, hash_fields(third)), "id": third.id},
    )


# (tamper, expected position (1-based), is the row still there, words of the reason)
CASES = {
    "altered detail": (alter_detail, 3, True, "modifiée"),
    "altered actor": (alter_actor, 3, True, "modifiée"),
    "altered mode": (alter_mode, 3, True, "modifiée"),
    "removed middle entry": (delete_middle, 3, False, "supprimée"),
    "swapped entries": (swap_positions, 2, True, "chaînage rompu"),
    "removed last entry": (delete_last, 5, False, "tronquée"),
    "removed two last entries": (delete_last_two, 4, False, "tronquée"),
    "rewritten entry and hash": (rewrite_middle_with_its_hash, 4, True, "chaînage rompu"),
    "removed whole chain": (delete_whole_chain, 1, False, "entièrement supprimée"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_verify_names_the_first_entry_that_was_tampered_with(
    platform: Platform, population: Population, case: str
) -> None:
    tamper, position, present, words = CASES[case]
    chain = chain_of(platform, population.hélène)
    assert check(platform).ok

    with triggers_bypassed(platform.engine) as conn:
        tamper(conn, chain)

    report = check(platform)
    assert not report.ok
    bad = report.first_bad
    assert bad is not None
    expected_id = None
    if present:
        # After a swap the entry found at a position is the one moved there.
        expected_id = chain[2].id if case == "swapped entries" else chain[position - 1].id
    assert (bad.chain_key, bad.chain_seq, bad.entry_id) == (population.hélène, position, expected_id)
    assert words in bad.reason
    # The triggers are back: the trail is append-only again.
    with pytest.raises(DBAPIError, match="append-only"), platform.engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_events"))


def test_a_chain_head_only_moves_forward(platform: Platform, population: Population) -> None:
    for statement in (
        "UPDATE audit_chain_heads SET last_seq = last_seq - 1",
        "UPDATE audit_chain_heads SET last_seq = last_seq + 2",
        "DELETE FROM audit_chain_heads",
    ):
        with pytest.raises(DBAPIError, match="audit chain head"), platform.engine.begin() as conn:
            conn.execute(text(statement))
    assert check(platform).ok


# --- transactions ----------------------------------------------------------------------------------------------


def test_a_rolled_back_unit_of_work_leaves_neither_entries_nor_head_changes(
    platform: Platform, population: Population
) -> None:
    before_heads = heads(platform)
    before = check(platform)
    with pytest.raises(RuntimeError), platform.uow() as uow:
        identity.get(uow=uow, actor=DR_HOUSE, patient_id=population.hélène)
        identity.register(uow=uow, actor=FRONT_DESK, traits=make_person(birth_name="Fantôme"))
        audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id="patient-of-a-new-chain")
        uow.flush()
        raise RuntimeError("power cut before commit")
    with platform.uow() as uow:  # and without an exception, simply not committed
        identity.get(uow=uow, actor=DR_HOUSE, patient_id=population.hélène)

    assert heads(platform) == before_heads
    after = check(platform)
    assert (after.ok, after.checked) == (True, before.checked)
    # The next append continues the chain where it was.
    with platform.uow() as uow:
        identity.get(uow=uow, actor=DR_HOUSE, patient_id=population.hélène)
        uow.commit()
    assert [e.chain_seq for e in chain_of(platform, population.hélène)] == [1, 2, 3, 4, 5, 6]
    assert check(platform).ok


def test_many_entries_in_one_transaction_and_a_rolled_back_savepoint(platform: Platform) -> None:
    patient = register(platform)
    with platform.uow() as uow:
        for _ in range(3):
            audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id=patient)
        savepoint = uow.session.begin_nested()
        audit.record(uow=uow, actor=DR_HOUSE, action="document.hide", patient_id=patient)
        savepoint.rollback()
        for _ in range(2):
            audit.record(uow=uow, actor=DR_HOUSE, action="document.list", patient_id=patient)
        uow.commit()
    chain = chain_of(platform, patient)
    assert [(e.chain_seq, e.action) for e in chain] == [
        (1, "identity.create"),
        (2, "document.read"),
        (3, "document.read"),
        (4, "document.read"),
        (5, "document.list"),
        (6, "document.list"),
    ]
    assert check(platform).ok


def test_a_head_moved_by_another_process_is_appended_to_after_it_not_over_it(platform: Platform) -> None:
    """This process's memory of a chain's head is only a hint: another process (here, an engine of its own,
    with its own memory) appends in between, and the next entry of this process follows that one."""
    patient = register(platform)
    with platform.uow() as uow:
        audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id=patient)
        uow.commit()  # this process now remembers the head at entry 2
    other_engine = make_engine(platform.engine.url.render_as_string(hide_password=False))
    try:
        with make_session_factory(other_engine)() as session:
            for _ in range(2):
                AuditRepository(session).append(
                    AuditRow(
                        at=NOW,
                        actor_kind="professional",
                        actor_id=DR_HOUSE.id,
                        action="document.list",
                        patient_id=patient,
                        outcome="allowed",
                    )  # fmt: skip
                )
            session.commit()
    finally:
        other_engine.dispose()
    with platform.uow() as uow:
        audit.record(uow=uow, actor=DR_HOUSE, action="document.hide", patient_id=patient)
        uow.commit()
    chain = chain_of(platform, patient)
    assert [(e.chain_seq, e.action) for e in chain] == [
        (1, "identity.create"),
        (2, "document.read"),
        (3, "document.list"),
        (4, "document.list"),
        (5, "document.hide"),
    ]
    assert heads(platform)[patient][0] == 5
    assert check(platform).ok


def test_concurrent_appends_on_one_patient_give_one_chain_without_gaps(platform: Platform) -> None:
    patient = register(platform)
    threads, appends = 6, 12
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def clinician(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            for i in range(appends):
                with platform.uow() as uow:
                    audit.record(
                        uow=uow,
                        actor=DR_HOUSE,
                        action="document.read",
                        patient_id=patient,
                        detail={"thread": n, "i": i},
                    )
                    uow.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=clinician, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    chain = chain_of(platform, patient)
    assert [e.chain_seq for e in chain] == list(range(1, threads * appends + 2))
    assert heads(platform)[patient] == (threads * appends + 1, chain[-1].hash)
    assert check(platform).ok


def test_concurrent_first_appends_create_the_chain_head_once(platform: Platform) -> None:
    patients = ["patient-born-in-a-rush", "patient-next-door"]
    threads = 8
    barrier = threading.Barrier(threads)
    errors: list[BaseException] = []

    def first(n: int) -> None:
        try:
            barrier.wait(timeout=30)
            with platform.uow() as uow:
                audit.record(uow=uow, actor=DR_HOUSE, action="document.read", patient_id=patients[n % 2])
                uow.commit()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    workers = [threading.Thread(target=first, args=(n,)) for n in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=120)
    assert errors == []
    for patient in patients:
        assert [e.chain_seq for e in chain_of(platform, patient)] == [1, 2, 3, 4]
    with platform.uow() as uow:
        assert uow.session.scalar(select(func.count()).select_from(AuditChainHead)) == 2
    assert check(platform).ok


# --- refusals traced in their own transaction -------------------------------------------------------------------


def refusal(patient_id: str) -> AuditRow:
    return AuditRow(
        at=NOW,
        actor_kind="professional",
        actor_id=DR_HOUSE.id,
        action="document.read",
        patient_id=patient_id,
        outcome="denied",
        detail={"reason": "hors de l'équipe de soins"},
    )


def outcomes(platform: Platform, patient_id: str) -> list[tuple[str, str]]:
    return [(e.action, e.outcome) for e in chain_of(platform, patient_id)]


def test_a_refusal_is_committed_at_once_while_the_unit_of_work_holds_no_lock(platform: Platform) -> None:
    patient = register(platform)
    with platform.uow() as uow:
        uow.patients.get(patient)
        uow.append_audit_now(refusal(patient))
        assert outcomes(platform, patient)[-1] == ("document.read", "denied")  # visible from elsewhere already
    assert check(platform).ok


def test_a_refusal_after_an_append_to_the_same_chain_waits_for_the_unit_of_work_instead_of_itself(
    platform: Platform,
) -> None:
    patient = register(platform)
    done = threading.Event()

    def request() -> None:
        with platform.uow() as uow:
            identity.get(uow=uow, actor=DR_HOUSE, patient_id=patient)  # appends: holds the chain's lock
            uow.append_audit_now(refusal(patient))
            # rolled back: the read is not traced, the refusal is
        done.set()

    worker = threading.Thread(target=request, daemon=True)
    worker.start()
    worker.join(timeout=60)
    assert done.is_set(), "the refusal waited for its own transaction"
    assert outcomes(platform, patient) == [("identity.create", "success"), ("document.read", "denied")]
    assert check(platform).ok


def test_a_refusal_traced_during_a_committed_unit_of_work_follows_its_entries(platform: Platform) -> None:
    patient = register(platform)
    with platform.uow() as uow:
        identity.get(uow=uow, actor=DR_HOUSE, patient_id=patient)
        uow.append_audit_now(refusal(patient))
        uow.commit()
    assert outcomes(platform, patient) == [
        ("identity.create", "success"),
        ("identity.read", "success"),
        ("document.read", "denied"),
    ]
    assert check(platform).ok


def test_verify_on_an_empty_trail_is_ok(engine: Engine, platform: Platform) -> None:
    report = check(platform)
    assert (report.ok, report.checked, report.chains) == (True, 0, 0)

"""Properties over random populations: listings and reads never return what the decision refuses, and every
refused read leaves exactly one audit entry. Runs on SQLite (a fresh database per example)."""

from __future__ import annotations

import datetime as dt
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from carnet.access import service as access
from carnet.access.decide import decide
from carnet.access.model import Action, Actor, ActorKind, AuthMethod
from carnet.audit.store import AuditRow
from carnet.bootstrap import bootstrap
from carnet.clock import FrozenClock
from carnet.errors import Forbidden, NotFound
from carnet.identity.insi import SandboxInsi
from carnet.record import service as record
from carnet.settings import Settings
from tests.builders import PLATFORM, example, patient_as, qualified_patient

EXAMPLES = ["VSM_1.4_2022.01.xml", "BIO-CR-BIO_2024.01_TSH_1.xml", "LDL-SES_2022.01.xml", "IMG_CR_IMG_2024.01.xml",
            "CNAM-HR_2021.01_sans-info.xml"]  # fmt: skip
PROFESSIONS = ["10", "21", "60", "70", "40"]
INSI = SandboxInsi.from_package()

documents = st.lists(
    st.tuples(st.sampled_from(EXAMPLES), st.booleans(), st.booleans()), min_size=1, max_size=4, unique_by=lambda d: d[0]
)
professionals = st.lists(
    st.tuples(st.sampled_from(PROFESSIONS), st.sampled_from(["care_team", "consent", "none", "blocked"])),
    min_size=1,
    max_size=3,
)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(docs=documents, pros=professionals)
def test_no_listing_or_read_returns_a_document_the_decision_refuses(
    docs: list[tuple[str, bool, bool]], pros: list[tuple[str, str]]
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        platform = bootstrap(
            Settings(env="test", data_dir=Path(tmp), demo_data=False, _env_file=None),
            clock=FrozenClock(dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.UTC)),
            insi=INSI,
        )
        try:
            check(platform, docs, pros)
        finally:
            platform.close()


def check(platform, docs, pros) -> None:  # type: ignore[no-untyped-def]
    patient_id = qualified_patient(platform)
    holder = patient_as(patient_id)
    entry_ids = []
    with platform.uow() as uow:
        for name, hidden, held_back in docs:
            result = record.deposit(uow=uow, actor=PLATFORM, patient_id=patient_id, content=example(name),
                                    invisible_to_patient=held_back)  # fmt: skip
            if hidden:
                record.hide_from_professionals(uow=uow, actor=PLATFORM, entry_id=result.entry.id)
            entry_ids.append(result.entry.id)
        uow.commit()
    actors = []
    for number, (profession, basis) in enumerate(pros):
        pro = Actor(kind=ActorKind.PROFESSIONAL, id=f"81000000{number:04d}", auth_method=AuthMethod.CPS,
                    profession=profession)  # fmt: skip
        with platform.uow() as uow:
            if basis == "care_team":
                access.join_care_team(uow=uow, actor=pro, patient_id=patient_id)
            elif basis == "consent":
                access.record_consent(uow=uow, actor=pro, patient_id=patient_id)
            elif basis == "blocked":
                access.join_care_team(uow=uow, actor=pro, patient_id=patient_id)
                access.block(uow=uow, actor=holder, patient_id=patient_id, target_kind="professional",
                             target_id=pro.id)  # fmt: skip
            uow.commit()
        actors.append(pro)
    for actor in [*actors, holder]:
        with platform.uow() as uow:
            patient = uow.patients.get(patient_id)
            assert patient is not None
            facts = access.facts_for(uow, patient)
            ctx = access.context(uow)
            allowed = {
                r.id
                for r in (uow.documents.get(i) for i in entry_ids)
                if r is not None and decide(actor, Action.READ, facts, access.document_facts(r), ctx).allowed
            }
        try:
            with platform.uow() as uow:
                listed = {e.id for e in record.list_documents(uow=uow, actor=actor, patient_id=patient_id).items}
                uow.commit()
        except Forbidden:
            listed = set()
        assert listed <= allowed
        for entry_id in entry_ids:
            with platform.uow() as uow:
                before = len(uow.session.scalars(select(AuditRow).where(AuditRow.outcome == "denied")).all())
            try:
                with platform.uow() as uow:
                    record.get_content(uow=uow, actor=actor, entry_id=entry_id)
                    uow.commit()
                assert entry_id in allowed
            except (Forbidden, NotFound):
                assert entry_id not in allowed
                with platform.uow() as uow:
                    after = len(uow.session.scalars(select(AuditRow).where(AuditRow.outcome == "denied")).all())
                assert after == before + 1, "every refused read leaves exactly one audit entry"

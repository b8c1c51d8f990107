"""The world of the sharing tests: Dominique (qualified INS) with Dr MOREAU in her care team, Dr MARTIN her médecin
traitant, the demo directory with its mailboxes, one professional of another operator (Dr VOISIN), and documents
made as practice software makes them on validation (a PDF in a CDA R2 level 1 document)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select

from carnet.access import service as access
from carnet.bootstrap import Platform
from carnet.directory import service as directory
from carnet.directory.demo import load_demo_directory
from carnet.identity import service as identities
from carnet.messaging import service as mss
from carnet.messaging.store import MessageOutboxRow, MessageRow
from carnet.record import level1
from carnet.record.model import Author
from carnet.record.store import DocumentRow
from carnet.sharing import share as sharing
from carnet.sharing.store import ShareRow
from tests.builders import DR_HOUSE, PLATFORM, in_care_team, minimal_pdf, patient_as, qualified_patient

CONFIG = mss.MessagingConfig()
MOREAU = "claire.moreau@demo.mssante.fr"  # the author, DR_HOUSE
MARTIN_ID, MARTIN = "899700000001", "paul.martin@demo.mssante.fr"  # the médecin traitant
LEROY_ID, LEROY = "899700000002", "sophie.leroy@demo.mssante.fr"  # a prescriber
PETIT_ID, PETIT = "810000000060", "julie.petit@demo.mssante.fr"  # a nurse the author chooses
VOISIN_ID, VOISIN = "899700000077", "dr.voisin@hopital-voisin.mssante.fr"  # another operator's mailbox
RETIRED_ID = "899700000099"  # in the directory, no longer practising, no address
AUTHOR = Author(id=DR_HOUSE.id, family="MOREAU", given="Claire", specialty="G15_10/SM54", organisation_id="1519990010",
                organisation_name="Cabinet médical des Lilas")  # fmt: skip
VOISIN_EXTRACT = (
    "professional_id,id_type,civility,family_name,given_name,profession_code,specialty_code,professional_mssante,"
    "active,organisation_id,organisation_id_type,organisation_name,facility_type_code,practice_setting_code,"
    "address_line,postal_code,city,organisation_mssante,role_code,role_mssante\n"
    f"{VOISIN_ID},RPPS,DR,VOISIN,Louise,10,SM54,{VOISIN},1,,,,,,,,,,,\n"
)


@dataclass
class World:
    platform: Platform
    patient_id: str
    patient_address: str

    def document(
        self, type_code: str = "11502-2", *, created: dt.datetime | None = None, title: str = "CR de biologie",
        author: Author = AUTHOR,
    ) -> bytes:  # fmt: skip
        """A document validated now (or at ``created``) by Dr MOREAU for Dominique."""
        with self.platform.uow() as uow:
            identity = identities.get(uow=uow, actor=PLATFORM, patient_id=self.patient_id)
        assert identity is not None
        form = level1.Level1Form(type_code=type_code, title=title, practice_setting="AMBULATOIRE", facility_type="SA08")
        when = created or self.platform.clock.now() - dt.timedelta(hours=1)
        return level1.pdf_document(pdf=minimal_pdf(f"{title} {when.isoformat()}"), patient=identity, author=author,
                                   form=form, created=when)  # fmt: skip

    def share(self, content: bytes | None = None, **kwargs: Any) -> sharing.ShareResult:
        """``share`` by Dr MOREAU in one committed unit of work."""
        with self.platform.uow() as uow:
            result = sharing.share(uow=uow, actor=kwargs.pop("actor", DR_HOUSE), config=kwargs.pop("config", CONFIG),
                                   patient_id=kwargs.pop("patient_id", self.patient_id),
                                   content=content if content is not None else self.document(), **kwargs)  # fmt: skip
            uow.commit()
        return result

    def count(self, model: type) -> int:
        with self.platform.session_factory() as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

    def written(self) -> dict[str, int]:
        """What a share writes: entries, messages, outbox rows, sharing log rows."""
        return {"documents": self.count(DocumentRow), "messages": self.count(MessageRow),
                "outbox": self.count(MessageOutboxRow), "shares": self.count(ShareRow)}  # fmt: skip

    def inbox(self, actor: Any) -> list[mss.MessageView]:
        with self.platform.uow() as uow:
            views = mss.list_inbox(uow=uow, actor=actor)
            uow.commit()
        return views


def make_world(platform: Platform, *, traitant: str | None = MARTIN_ID) -> World:
    patient_id = qualified_patient(platform)
    in_care_team(platform, patient_id, DR_HOUSE)
    with platform.uow() as uow:
        load_demo_directory(uow)
        directory.upsert(uow=uow, actor=PLATFORM, extract=directory.parse_csv(VOISIN_EXTRACT))
        for pro in (DR_HOUSE.id, MARTIN_ID, LEROY_ID, PETIT_ID):
            mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=pro)
        box = mss.provision_patient(uow=uow, actor=PLATFORM, config=CONFIG, patient_id=patient_id)
        if traitant is not None:
            access.set_medecin_traitant(uow=uow, actor=patient_as(patient_id), patient_id=patient_id,
                                        professional_id=traitant)  # fmt: skip
        uow.commit()
    return World(platform, patient_id, box.address)

"""The demo professional directory: fictitious professionals ("8" + RPPS-like ids of the test range) and
organisations (FINESS-like ids), shipped as an extract in ``data/demo_directory.csv``.

It holds the test suite's Dr MOREAU (810000000001) and Julie PETIT (810000000060), and the demo doctor
(899700000001) of :mod:`carnet.demo`, with a médecin généraliste (10, SM54), nurses (60), a pharmacist (21), a
midwife (50), a physiotherapist (70), a retired (inactive) doctor and four organisations.
"""

from __future__ import annotations

from importlib import resources

from carnet.access.model import Actor, ActorKind, AuthMethod
from carnet.directory import service as directory
from carnet.storage.uow import UnitOfWork

DEMO_IMPORTER = Actor(kind=ActorKind.SYSTEM, id="demo-directory", auth_method=AuthMethod.SYSTEM)


def demo_extract_text() -> str:
    """The demo extract (CSV)."""
    return resources.files("carnet.directory").joinpath("data/demo_directory.csv").read_text("utf-8")


def load_demo_directory(uow: UnitOfWork) -> directory.ImportReport:
    """Upsert the demo directory in this unit of work (idempotent; the caller commits)."""
    return directory.upsert(uow=uow, actor=DEMO_IMPORTER, extract=directory.parse_csv(demo_extract_text()))

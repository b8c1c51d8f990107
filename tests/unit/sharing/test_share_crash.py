"""Durability of the automatic sharing, on both backends, with real processes killed:

- the process sharing a document is killed (SIGKILL) after ``share`` and before the commit: nothing of it is left
  (no entry, no message, no outbox row, no log), and sharing again does everything once;
- the outbox worker is killed mid-send against a real SMTP relay (aiosmtpd on loopback, through ``SmtpRelay``):
  after a restart every shared document has reached the other operator, the one in flight twice with the same
  Message-ID (exactly once for a receiver that deduplicates by Message-ID), none lost.
"""

from __future__ import annotations

import asyncio
import email
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from carnet.bootstrap import Platform
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.store import MessageOutboxRow, MessageRow
from carnet.messaging.transport import SmtpRelay
from carnet.sharing.share import DutyStatus
from tests.builders import patient_as
from tests.unit.sharing.share_support import VOISIN, VOISIN_ID, World, make_world


class Relay:
    """The other operator: records each Message-ID; the ``hang_on``-th message is received and never answered."""

    def __init__(self, hang_on: int | None = None) -> None:
        self.ids: list[str] = []
        self.hang_on = hang_on
        self.hanging = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.ids.append(str(email.message_from_bytes(envelope.content)["Message-ID"]))
        if self.hang_on is not None and len(self.ids) == self.hang_on:
            self.hanging.set()
            await asyncio.sleep(120)  # the worker is killed while it waits for "250"
        return "250 OK"


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def relay() -> Iterator[tuple[Relay, int]]:
    handler, port = Relay(hang_on=2), _port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield handler, port
    finally:
        controller.stop()


PLATFORM_OF = """
import sys
from carnet.bootstrap import bootstrap
from carnet.settings import Settings
from carnet.storage.blobs import FileBlobStore
url, data = sys.argv[1], sys.argv[2]
settings = Settings(env="test", data_dir=data, database_url=url, demo_data=False, _env_file=None)
platform = bootstrap(settings, migrate=False, blobs=FileBlobStore(settings.data_dir / "blobs"))
"""

SHARER = (
    PLATFORM_OF
    + """
import time
from pathlib import Path
from carnet.sharing import share as sharing
from tests.builders import DR_HOUSE
from tests.unit.sharing.share_support import CONFIG
with platform.uow() as uow:
    sharing.share(uow=uow, actor=DR_HOUSE, config=CONFIG, patient_id=sys.argv[3],
                  content=Path(sys.argv[4]).read_bytes(), recipients=[sys.argv[5]])
    uow.flush()
    print("shared, not committed", flush=True)
    time.sleep(120)  # killed here, before the commit
    uow.commit()
"""
)

WORKER = (
    PLATFORM_OF
    + """
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.transport import SmtpRelay
deliver_outbox(platform=platform, transport=SmtpRelay(host="127.0.0.1", port=int(sys.argv[3]), starttls=False,
               timeout=300))
"""
)


def _spawn(platform: Platform, script: str, *args: str, stdout: Any = None) -> subprocess.Popen[str]:
    url = platform.engine.url.render_as_string(hide_password=False)
    return subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script, url, str(platform.settings.data_dir), *args],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
        stdout=stdout,
        text=True,
    )


@pytest.fixture
def world(platform: Platform) -> World:
    return make_world(platform, traitant=VOISIN_ID)  # the médecin traitant is at another operator


def test_a_sharer_killed_before_its_commit_leaves_nothing_and_sharing_again_does_everything_once(
    world: World, tmp_path: Path
) -> None:
    document = tmp_path / "cr.xml"
    document.write_bytes(world.document())
    before = world.written()
    sharer = _spawn(world.platform, SHARER, world.patient_id, str(document), VOISIN, stdout=subprocess.PIPE)
    try:
        assert sharer.stdout is not None
        assert sharer.stdout.readline().strip() == "shared, not committed"
    finally:
        sharer.send_signal(signal.SIGKILL)
        sharer.wait(30)
        if sharer.stdout is not None:
            sharer.stdout.close()
    assert world.written() == before  # the kill lost the transaction, and only it

    result = world.share(document.read_bytes(), recipients=[VOISIN])
    after = world.written()
    assert {k: after[k] - before[k] for k in after} == {"documents": 1, "messages": 2, "outbox": 1, "shares": 1}
    assert result.created and {d.status for d in result.duties} == {DutyStatus.DONE}


def test_an_outbox_worker_killed_mid_send_loses_no_shared_document(world: World, relay: tuple[Relay, int]) -> None:
    handler, port = relay
    results = [world.share(world.document(title=f"Bilan {n}")) for n in range(3)]
    with world.platform.session_factory() as session:
        sent_ids = [session.get(MessageRow, r.professional_message_id).message_id for r in results]  # type: ignore[union-attr]
        assert [r.to_address for r in session.scalars(select(MessageOutboxRow))] == [VOISIN] * 3
    worker = _spawn(world.platform, WORKER, str(port))
    try:
        assert handler.hanging.wait(60), "the worker never reached the second message"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    with world.platform.session_factory() as session:
        assert sorted(r.status for r in session.scalars(select(MessageOutboxRow))) == ["pending", "pending", "sent"]

    handler.hang_on = None
    report = deliver_outbox(platform=world.platform, transport=SmtpRelay(host="127.0.0.1", port=port, starttls=False))
    assert report.sent == 2
    with world.platform.session_factory() as session:
        assert [r.status for r in session.scalars(select(MessageOutboxRow))] == ["sent"] * 3
    assert set(handler.ids) == set(sent_ids) and len(handler.ids) == 4  # at least once on the wire
    assert len(dict.fromkeys(handler.ids)) == 3  # exactly once after deduplication by Message-ID
    assert len(world.inbox(patient_as(world.patient_id))) == 3  # the local mailbox had them at the commit

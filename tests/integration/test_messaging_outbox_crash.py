"""The outbox against a real SMTP relay (aiosmtpd on loopback, through SmtpRelay), and a worker killed mid-send:
after a restart every message is delivered, the one in flight twice with the same Message-ID (at least once),
none lost; a receiver that deduplicates by Message-ID sees each exactly once."""

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
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import select

from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.store import MessageOutboxRow
from carnet.messaging.transport import SmtpRelay
from tests.builders import DR_HOUSE, PLATFORM

CONFIG = mss.MessagingConfig()


class Relay:
    """The outside world: records each Message-ID; the ``hang_on``-th message is received and never answered."""

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


def _three_messages(platform: Platform) -> list[str]:
    with platform.uow() as uow:
        load_demo_directory(uow)
        mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id=DR_HOUSE.id)
        ids = [
            mss.send(uow=uow, actor=DR_HOUSE, config=CONFIG, to=[f"dr{i}@ailleurs.mssante.fr"], subject=f"Avis {i}",
                     text="Votre avis ?").message_id
            for i in range(3)
        ]  # fmt: skip
        uow.commit()
    return ids


WORKER = """
import sys
from carnet.bootstrap import bootstrap
from carnet.messaging.outbox import deliver_outbox
from carnet.messaging.transport import SmtpRelay
from carnet.settings import Settings
from carnet.storage.blobs import FileBlobStore
url, data, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
settings = Settings(env="test", data_dir=data, database_url=url, demo_data=False, _env_file=None)
platform = bootstrap(settings, migrate=False, blobs=FileBlobStore(settings.data_dir / "blobs"))
deliver_outbox(platform=platform, transport=SmtpRelay(host="127.0.0.1", port=port, starttls=False, timeout=300))
"""


def test_a_worker_killed_mid_send_loses_nothing_and_resends_only_the_message_in_flight(
    platform: Platform, relay: tuple[Relay, int]
) -> None:
    handler, port = relay
    sent_ids = _three_messages(platform)
    url = platform.engine.url.render_as_string(hide_password=False)
    worker = subprocess.Popen(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", WORKER, url, str(platform.settings.data_dir), str(port)],
        env={**os.environ, "PYTHONPATH": os.getcwd()},
    )
    try:
        assert handler.hanging.wait(60), "the worker never reached the second message"
    finally:
        worker.send_signal(signal.SIGKILL)
        worker.wait(30)
    with platform.session_factory() as session:
        statuses = sorted(r.status for r in session.scalars(select(MessageOutboxRow)))
    assert statuses == ["pending", "pending", "sent"]  # the one in flight was never marked sent

    handler.hang_on = None
    report = deliver_outbox(platform=platform, transport=SmtpRelay(host="127.0.0.1", port=port, starttls=False))
    assert report.sent == 2
    with platform.session_factory() as session:
        assert [r.status for r in session.scalars(select(MessageOutboxRow))] == ["sent"] * 3
    # At least once: each Message-ID arrived; only the one in flight at the kill arrived twice, identical.
    assert set(handler.ids) == set(sent_ids)
    assert len(handler.ids) == 4
    assert sorted(handler.ids.count(i) for i in sent_ids) == [1, 1, 2]
    # Exactly once for a receiver deduplicating by Message-ID (Carnet's own receive does).
    assert len(dict.fromkeys(handler.ids)) == 3

"""Several inbound gateway processes on one port (``carnet messaging serve-smtp --processes N``), on both backends:
real ``smtplib`` connections spread by the kernel among the processes, every mail stored exactly once; a process
that dies is replaced by the supervision and the port keeps accepting mail."""

from __future__ import annotations

import datetime as dt
import functools
import os
import signal
import smtplib
import socket
import time

from sqlalchemy import func, select

from carnet.bench.messaging import OUTSIDE, OUTSIDE_DOMAIN, _mail, _pooled_gateway
from carnet.bootstrap import Platform
from carnet.directory.demo import load_demo_directory
from carnet.messaging import service as mss
from carnet.messaging.gateway_pool import GatewayPool
from carnet.messaging.store import MessageRow
from tests.builders import PLATFORM

CONFIG = mss.MessagingConfig(trusted_domains=frozenset({OUTSIDE_DOMAIN}))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _inbound(platform: Platform) -> int:
    with platform.session_factory() as session:
        query = select(func.count()).select_from(MessageRow).where(MessageRow.inbound.is_(True))
        return int(session.scalar(query) or 0)


def _send(port: int, mails: list[tuple[str, bytes]]) -> None:
    for to, data in mails:  # one connection per mail: the kernel chooses a process for each
        with smtplib.SMTP("127.0.0.1", port, timeout=30) as smtp:
            smtp.sendmail(OUTSIDE, [to], data)


def test_gateway_processes_share_one_port_and_a_dead_one_is_replaced(platform: Platform) -> None:
    with platform.uow() as uow:
        load_demo_directory(uow)
        box = mss.provision_professional(uow=uow, actor=PLATFORM, config=CONFIG, professional_id="810000000001")
        uow.commit()
    port = _free_port()
    url = platform.engine.url.render_as_string(hide_password=False)
    now = dt.datetime.now(dt.UTC)
    mails = [_mail(n, box.address, os.urandom(2048), now) for n in range(24)]
    with GatewayPool(functools.partial(_pooled_gateway, url, str(platform.settings.data_dir), port), 2) as pool:
        first, second = pool.pids
        assert first != second
        _send(port, mails[:16])
        assert _inbound(platform) == 16

        os.kill(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        replaced = 0
        while not replaced and time.monotonic() < deadline:
            replaced = pool.supervise(interval=0.05)
        assert replaced == 1
        assert first not in pool.pids and second in pool.pids and len(pool.pids) == 2
        _send(port, mails[16:])
        _send(port, mails[:4])  # a replay of the same Message-IDs is stored once
    assert _inbound(platform) == 24

"""Several inbound gateway processes on one port: one per core.

One gateway process parses and stores mail on one core (Python's GIL); MSSanté operators run several MX for the
same reason. :class:`GatewayPool` starts ``processes`` children (``spawn``: a fresh interpreter each, no state
shared with the parent but the database), each running an :class:`~carnet.messaging.smtp_server.InboundGateway`
with ``reuse_port=True`` on the same address; the kernel spreads the connections among them. A child that dies is
reported by :meth:`GatewayPool.supervise`, which starts another in its place.

``build`` is a picklable callable (a module-level function, or a ``functools.partial`` of one) run in each child:
it opens the platform and returns the gateway (built with ``reuse_port=True``) and what closes the platform.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.context import SpawnProcess
from multiprocessing.synchronize import Event
from types import TracebackType

from carnet.messaging.smtp_server import InboundGateway

__all__ = ["GatewayBuilder", "GatewayPool"]

GatewayBuilder = Callable[[], tuple[InboundGateway, Callable[[], None]]]
_CONTEXT = multiprocessing.get_context("spawn")


def _child(build: GatewayBuilder, ready: Event, parent: int) -> None:
    # Stopped by SIGTERM from the parent, or when the parent is gone. Not by an Event shared among the children: a
    # child killed while waiting on it leaves its lock held, and setting it then hangs.
    stopping = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops its children
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stopping.set())
    gateway, close = build()
    if not gateway.reuse_port:
        raise ValueError("a pooled gateway shares its port: build it with reuse_port=True")
    try:
        gateway.start()
        ready.set()
        while not stopping.wait(1.0) and os.getppid() == parent:
            pass
    finally:
        gateway.stop()
        close()


class GatewayPool:
    """``processes`` gateway processes on one port (see the module docstring)."""

    def __init__(self, build: GatewayBuilder, processes: int, *, start_timeout: float = 120.0) -> None:
        if processes < 1:
            raise ValueError("a gateway pool needs at least one process")
        self.build = build
        self.processes = processes
        self.start_timeout = start_timeout
        self._stopping = False
        self._children: list[SpawnProcess] = []

    def _spawn(self) -> SpawnProcess:
        ready = _CONTEXT.Event()
        child = _CONTEXT.Process(target=_child, args=(self.build, ready, os.getpid()), daemon=True)
        child.start()
        deadline = time.monotonic() + self.start_timeout
        while not ready.wait(0.1):
            if not child.is_alive():
                why = f"code {child.exitcode}"
                raise RuntimeError(f"un processus de la passerelle SMTP s'est arrêté au démarrage ({why})")
            if time.monotonic() > deadline:
                child.terminate()
                raise RuntimeError("un processus de la passerelle SMTP n'a pas démarré à temps")
        return child

    def start(self) -> None:
        """Start every process; returns once each accepts connections (or stops them all and raises)."""
        try:
            for _ in range(self.processes):
                self._children.append(self._spawn())
        except BaseException:
            self.stop()
            raise

    def supervise(self, interval: float = 1.0) -> int:
        """One round of supervision: a child that died is replaced. Returns how many were replaced."""
        replaced = 0
        for index, child in enumerate(self._children):
            if not child.is_alive() and not self._stopping:
                child.join()
                self._children[index] = self._spawn()
                replaced += 1
        time.sleep(interval)
        return replaced

    @property
    def pids(self) -> list[int]:
        return [c.pid for c in self._children if c.pid is not None]

    def stop(self, timeout: float = 30.0) -> None:
        """Ask every process to stop (connections in progress are closed) and wait for them."""
        self._stopping = True
        for child in self._children:
            if child.is_alive():
                child.terminate()  # SIGTERM: the child stops its gateway and closes its platform
        deadline = time.monotonic() + timeout
        for child in self._children:
            child.join(max(0.0, deadline - time.monotonic()))
            if child.is_alive():
                child.kill()
                child.join(5)
        self._children.clear()

    def __enter__(self) -> GatewayPool:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

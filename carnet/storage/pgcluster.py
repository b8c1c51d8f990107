"""A throwaway PostgreSQL cluster (initdb + pg_ctl on a free loopback port) for tests and benchmarks."""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from carnet.errors import PostgresNotInstalled, StorageError


def _find_bin(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    if candidates:
        return candidates[0]
    raise PostgresNotInstalled(
        f"{name} introuvable : installer le serveur PostgreSQL (Debian : apt-get install postgresql) "
        "ou fournir CARNET_TEST_POSTGRES_URL"
    )


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class TemporaryPostgres:
    """Start with ``start()``, use ``url``, stop with ``stop()`` (the folder is removed)."""

    def __init__(self, *, database: str = "carnet", user: str = "carnet") -> None:
        self.database = database
        self.user = user
        self.port = _free_port()
        self.root = Path(tempfile.mkdtemp(prefix="carnet-pg-"))
        self.datadir = self.root / "data"
        self._as_user: list[str] = []
        # PostgreSQL refuses to run as root: run its programs as the 'postgres' system user then.
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if runuser is None:
                raise PostgresNotInstalled("runuser introuvable : impossible de lancer PostgreSQL en tant que root")
            self._as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.root, user="postgres")

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as_user, *args], capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise StorageError(f"{Path(args[0]).name} a échoué : {proc.stderr.strip() or proc.stdout.strip()}")

    def start(self) -> TemporaryPostgres:
        initdb, pg_ctl = _find_bin("initdb"), _find_bin("pg_ctl")
        self._run(
            initdb,
            "-D",
            str(self.datadir),
            "-U",
            self.user,
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        # Throwaway cluster: durability is traded for speed (fsync off); production clusters keep it on.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=200"
        self._run(pg_ctl, "-D", str(self.datadir), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        self._create_database()
        return self

    def _create_database(self) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(
                    f"host=127.0.0.1 port={self.port} user={self.user} dbname=postgres", autocommit=True
                ) as conn:
                    conn.execute(f'CREATE DATABASE "{self.database}"')
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def stop(self) -> None:
        try:
            if self.datadir.exists():
                self._run(_find_bin("pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> TemporaryPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

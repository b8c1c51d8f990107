"""Content-addressed blob store: a document's bytes are kept once, under their SHA-256."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path
from typing import Protocol

from carnet.errors import NotFound, StorageError, ValidationError

_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class BlobStore(Protocol):
    def put(self, data: bytes) -> str:
        """Store ``data`` and return its SHA-256 (hex); storing the same bytes again is a no-op."""
        ...

    def get(self, digest: str) -> bytes: ...

    def exists(self, digest: str) -> bool: ...


def _check_digest(digest: str) -> str:
    if not _SHA256.match(digest):
        raise ValidationError(f"empreinte SHA-256 invalide : {digest!r}", field="sha256")
    return digest


def _fsync_dir(directory: Path) -> None:
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class FileBlobStore:
    """Blobs on local disk as ``root/ab/cd/<sha256>``; each write is temp file + fsync + atomic rename."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)

    def _path(self, digest: str) -> Path:
        return self.root / digest[:2] / digest[2:4] / digest

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        target = self._path(digest)
        if target.exists() and target.stat().st_size == len(data):
            return digest
        try:
            self._make_dirs(target.parent)
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                os.replace(tmp_name, target)
            except BaseException:
                Path(tmp_name).unlink(missing_ok=True)
                raise
            # The rename is only durable once the directory entry is on disk.
            _fsync_dir(target.parent)
        except OSError as exc:
            raise StorageError(f"écriture impossible dans le stockage de documents : {exc}") from exc
        return digest

    def _make_dirs(self, directory: Path) -> None:
        """``ab/cd/`` under the root; a directory created here is made durable in its parent (else a power cut
        could lose the directory, and with it content whose own fsync succeeded)."""
        created = []
        for folder in (directory.parent, directory):
            try:
                folder.mkdir()
                created.append(folder)
            except FileExistsError:
                pass
        for folder in created:
            _fsync_dir(folder.parent)

    def get(self, digest: str) -> bytes:
        path = self._path(_check_digest(digest))
        try:
            data = path.read_bytes()
        except FileNotFoundError as exc:
            raise NotFound(f"contenu {digest} introuvable") from exc
        if hashlib.sha256(data).hexdigest() != digest:
            raise StorageError(f"contenu {digest} corrompu sur disque (empreinte différente)")
        return data

    def exists(self, digest: str) -> bool:
        return self._path(_check_digest(digest)).exists()

    def delete(self, digest: str) -> bool:
        """Remove the content (the retention purge, carnet/space/lifecycle.py); False if it was not there."""
        try:
            self._path(_check_digest(digest)).unlink()
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise StorageError(f"suppression impossible dans le stockage de documents : {exc}") from exc
        return True


class InMemoryBlobStore:
    """The fake: same contract, kept in a dict."""

    def __init__(self) -> None:
        self._blobs: dict[str, bytes] = {}

    def put(self, data: bytes) -> str:
        digest = hashlib.sha256(data).hexdigest()
        self._blobs.setdefault(digest, bytes(data))
        return digest

    def get(self, digest: str) -> bytes:
        try:
            return self._blobs[_check_digest(digest)]
        except KeyError as exc:
            raise NotFound(f"contenu {digest} introuvable") from exc

    def exists(self, digest: str) -> bool:
        return _check_digest(digest) in self._blobs

    def delete(self, digest: str) -> bool:
        return self._blobs.pop(_check_digest(digest), None) is not None

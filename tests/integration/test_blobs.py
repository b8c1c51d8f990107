"""The content-addressed blob store: real files and the in-memory fake share one contract."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from carnet.errors import NotFound, StorageError, ValidationError
from carnet.storage.blobs import BlobStore, FileBlobStore, InMemoryBlobStore

REPORT = b"%PDF-1.4 compte rendu de biologie: TSH 2.1 mUI/L"


@pytest.fixture(params=["file", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    return FileBlobStore(tmp_path / "blobs") if request.param == "file" else InMemoryBlobStore()


def test_bytes_are_stored_under_their_sha256(store: BlobStore) -> None:
    digest = store.put(REPORT)
    assert digest == hashlib.sha256(REPORT).hexdigest()
    assert store.get(digest) == REPORT
    assert store.exists(digest)


def test_storing_the_same_bytes_twice_keeps_one_copy(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    assert store.put(REPORT) == store.put(REPORT)
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) == 1
    assert not [p for p in tmp_path.rglob(".tmp-*")], "no temporary file is left behind"


def test_unknown_and_malformed_digests(store: BlobStore) -> None:
    with pytest.raises(NotFound):
        store.get("0" * 64)
    with pytest.raises(ValidationError):
        store.get("../../etc/passwd")


def test_a_blob_corrupted_on_disk_is_detected(tmp_path: Path) -> None:
    store = FileBlobStore(tmp_path)
    digest = store.put(REPORT)
    path = next(p for p in tmp_path.rglob(digest))
    path.write_bytes(REPORT.replace(b"2.1", b"9.9"))
    with pytest.raises(StorageError, match="corrompu"):
        store.get(digest)


def test_new_folders_are_made_durable_in_their_parents(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import carnet.storage.blobs as blobs

    synced: list[Path] = []
    real = blobs._fsync_dir
    monkeypatch.setattr(blobs, "_fsync_dir", lambda folder: (synced.append(folder), real(folder)))
    store = FileBlobStore(tmp_path / "blobs")
    digest = store.put(b"first content in a new prefix")
    root = tmp_path / "blobs"
    # ab/ made durable in the root, ab/cd/ in ab/, and the file's entry in ab/cd/.
    assert synced == [root, root / digest[:2], root / digest[:2] / digest[2:4]]
    synced.clear()
    store.put(b"first content in a new prefix")  # already there: nothing written
    assert synced == []

"""Atomic writing: a target is always whole (old or new), never half-written, under any
number of concurrent writers; a failed write leaves nothing behind and names the target."""

from __future__ import annotations

import errno
import os
import threading
from pathlib import Path

import pytest

from styletransfer.core.files import atomic_path, temporary_path_beside, write_atomic


def test_write_atomic_writes_the_bytes_and_creates_folders(tmp_path: Path) -> None:
    target = tmp_path / "deep" / "er" / "out.bin"
    assert write_atomic(target, b"payload") == target
    assert target.read_bytes() == b"payload"
    assert os.listdir(target.parent) == ["out.bin"]  # no temporary left behind


def test_temporary_names_are_hidden_beside_the_target_and_unique_per_call(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    names = {temporary_path_beside(target) for _ in range(1000)}
    assert len(names) == 1000
    for name in names:
        assert name.parent == tmp_path and name.name.startswith(".out.png.") and name.suffix == ".partial"


def test_temporary_name_of_a_very_long_target_fits_the_file_name_limit(tmp_path: Path) -> None:
    target = tmp_path / ("é" * 120 + ".png")  # 244 bytes in UTF-8
    write_atomic(target, b"x")
    assert target.read_bytes() == b"x"
    assert len(temporary_path_beside(target).name.encode()) <= 255


def test_concurrent_writers_of_one_file_never_collide(tmp_path: Path) -> None:
    # A fixed temporary name made one writer rename (or delete) another's temporary:
    # FileNotFoundError, or a target holding a mix of two payloads.
    target = tmp_path / "status.json"
    payloads = [bytes([65 + thread]) * (1000 + 100 * thread) for thread in range(8)]
    errors: list[BaseException] = []
    torn: list[bytes] = []
    start = threading.Barrier(len(payloads))

    def writer(payload: bytes) -> None:
        start.wait()
        for _ in range(200):
            try:
                write_atomic(target, payload)
                seen = target.read_bytes()
            except BaseException as error:  # noqa: BLE001 - any failure is the test's finding
                errors.append(error)
                return
            if seen not in payloads:
                torn.append(seen)

    threads = [threading.Thread(target=writer, args=(payload,)) for payload in payloads]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert torn == []
    assert target.read_bytes() in payloads
    assert os.listdir(tmp_path) == ["status.json"]


def test_a_failing_write_leaves_neither_temporary_nor_target(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    with pytest.raises(RuntimeError, match="encoder crashed"):
        with atomic_path(target) as partial:
            partial.write_bytes(b"half a mod")
            raise RuntimeError("encoder crashed")
    assert os.listdir(tmp_path) == []


def test_a_failing_write_keeps_the_old_file(tmp_path: Path) -> None:
    target = write_atomic(tmp_path / "out.csv", b"old")
    with pytest.raises(OSError):
        with atomic_path(target) as partial:
            partial.write_bytes(b"ne")
            raise OSError(errno.ENOSPC, "No space left on device")
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.csv"]


def test_errors_name_the_target_not_the_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.csv"
    with pytest.raises(OSError) as caught:
        with atomic_path(target) as partial:
            open(partial / "inside-a-file-that-is-not-there", "wb")  # ENOENT naming the temporary's child
    # An error about another path than the temporary keeps its own name.
    assert Path(caught.value.filename).name == "inside-a-file-that-is-not-there"

    with pytest.raises(OSError) as caught:
        with atomic_path(target):
            raise OSError(errno.ENOSPC, "No space left on device")  # a write error names no file
    assert caught.value.filename == str(target) and caught.value.errno == errno.ENOSPC


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc (a folder nobody can write)")
def test_an_unwritable_folder_is_reported_with_the_target_name() -> None:
    with pytest.raises(OSError) as caught:
        write_atomic(Path("/proc/out.csv"), b"x")
    assert caught.value.filename == "/proc/out.csv"
    assert ".partial" not in str(caught.value)


@pytest.mark.skipif(os.name != "posix", reason="POSIX permissions")
def test_written_files_get_normal_permissions(tmp_path: Path) -> None:
    old_umask = os.umask(0o022)
    try:
        written = write_atomic(tmp_path / "shared.bin", b"x")
    finally:
        os.umask(old_umask)
    assert written.stat().st_mode & 0o777 == 0o644

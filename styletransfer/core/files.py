"""Atomic file writing: a file is whole or absent, never half-written.

Every output (model files, images, ONNX graphs, CSV and JSON) is written to a hidden temporary
file beside its target, flushed to disk, then renamed over the target in one step (``os.replace``
is atomic on one file system). The temporary name is unique per call (process id and a random
hex string), so threads or processes writing the same target at once never touch each other's
temporary: the last rename wins and the target always holds one complete payload.

Errors name the target the caller asked for, never the hidden temporary.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "temporary_path_beside", "write_atomic"]

_MAX_NAME_BYTES = 255  # the file-name limit of ext4, APFS, NTFS


def temporary_path_beside(path: str | os.PathLike[str]) -> Path:
    """A hidden, unique name in ``path``'s folder: ``.{name}.{pid}.{random hex}.partial``.

    Unique per call, so concurrent writers of one target never share a temporary. Long names
    are shortened so that the temporary's name stays within the 255-byte file-name limit.
    """
    path = Path(path)
    suffix = f".{os.getpid()}.{uuid.uuid4().hex[:16]}.partial"
    name = path.name
    room = _MAX_NAME_BYTES - len(suffix.encode()) - 1
    if len(name.encode()) > room:
        name = name.encode()[:room].decode(errors="ignore")
    return path.with_name(f".{name}{suffix}")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is synced and renamed over ``path``.

    The body writes the whole file to the yielded path (it does not exist yet). If the body
    raises, or the rename fails, the temporary is removed and an existing ``path`` is left
    untouched. Parent folders are created.

    Raises:
        OSError: the file cannot be written; the error's ``filename`` is ``path``, not the
            temporary (errors about other files pass through unchanged).
    """
    path = Path(path)
    partial = temporary_path_beside(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield partial
        _sync(partial)
        os.replace(partial, path)
    except OSError as error:
        if _names_temporary(error, partial):
            raise OSError(error.errno, error.strerror or str(error), str(path)) from error
        raise
    finally:
        partial.unlink(missing_ok=True)


def write_atomic(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (see :func:`atomic_path`). Returns ``path``."""
    path = Path(path)
    with atomic_path(path) as partial:
        with open(partial, "xb") as handle:
            handle.write(data)
    return path


def _sync(path: Path) -> None:
    """Flush ``path``'s contents to disk, so the rename never exposes an unwritten file."""
    with open(path, "rb+") as handle:
        os.fsync(handle.fileno())


def _names_temporary(error: OSError, partial: Path) -> bool:
    """Whether ``error`` is about the temporary ``partial`` (or names no file at all)."""
    named = [name for name in (error.filename, error.filename2) if isinstance(name, (str, os.PathLike))]
    return not named or any(Path(name) == partial for name in named)

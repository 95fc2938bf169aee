"""Inter-process locks: an exclusive ``flock`` that the kernel drops when its holder dies."""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from ..errors import LockTimeout
from .settings import LOCK_TIMEOUT


@contextlib.contextmanager
def file_lock(path: Path, timeout: float = LOCK_TIMEOUT, what: str = "") -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed), waiting up to ``timeout`` s.

    The kernel drops the lock when its holder dies, so a killed run never leaves a stale lock.
    """
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = _lock_holder(path)
                    raise LockTimeout(
                        f"{what or path}: another sshconv process{holder} has been using it for over {timeout:g} s "
                        f"(lock {path}); wait for it to finish, or pass another folder"
                    ) from None
                time.sleep(0.05)
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        yield
    finally:
        os.close(fd)


def _lock_holder(path: Path) -> str:
    with contextlib.suppress(OSError, ValueError):
        return f" (pid {int(path.read_text().strip())})"
    return ""

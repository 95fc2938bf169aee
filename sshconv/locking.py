"""Inter-process locks: an exclusive ``flock`` that the kernel drops when its holder dies.

One lock for every folder two sshconv processes might share: a download's output folder, a
cache entry, an evaluation run's folder. A killed holder never leaves a stale lock behind.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from .errors import LockTimeout


@contextlib.contextmanager
def file_lock(
    path: Path, timeout: float, what: str = "", advice: str = "wait for it to finish, or pass another folder"
) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created if needed), waiting up to ``timeout`` s (0: not at all).

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
                        f"{what or path}: another sshconv process{holder} is using it"
                        + (f" (for over {timeout:g} s)" if timeout > 0 else "")
                        + f" (lock {path}); {advice}"
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

"""The content-addressed cache of verified files, and placing a verified file where it belongs."""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from pathlib import Path

from ..fsutil import ensure_dir, hash_file, no_space_left, remove_stale_temps, signals_deferred, temp_path_for
from ..locking import file_lock
from ..model.spec import FileSpec
from .settings import LOCK_TIMEOUT

log = logging.getLogger(__name__)


def file_matches(path: Path, fspec: FileSpec) -> bool:
    """True if ``path`` is a regular file with ``fspec``'s size and sha256."""
    try:
        if not path.is_file() or path.stat().st_size != fspec.size:
            return False
        h, _ = hash_file(path)
    except OSError:
        return False
    return h.hexdigest() == fspec.sha256


def link_or_copy(src: Path, target: Path) -> None:
    """Place ``src`` at ``target`` atomically: a hard link when possible, else a copy."""
    remove_stale_temps(target)
    tmp = None
    try:
        with signals_deferred():
            tmp = temp_path_for(target)
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def mismatch_reason(fspec: FileSpec, size: int, sha256: str | None) -> str:
    if size != fspec.size:
        return f"size mismatch: expected {fspec.size:,} bytes, got {size:,}"
    return f"sha256 mismatch: expected {fspec.sha256}, got {sha256}"


class Cache:
    """Verified files stored by content: ``ROOT/sha256/<hex>``. Entries are only ever added whole."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def entry(self, sha256: str) -> Path:
        return self.root / "sha256" / sha256

    def lock(self, sha256: str, timeout: float = LOCK_TIMEOUT) -> contextlib.AbstractContextManager:
        """An inter-process lock for one entry, so two processes never fetch the same file at once."""
        ensure_dir(self.root / "sha256", "cache folder")
        return file_lock(self.root / "sha256" / f".{sha256}.lock", timeout, what=f"cache entry {sha256[:12]}…")

    def lookup(self, fspec: FileSpec) -> Path | None:
        """The verified cache entry for ``fspec``, or None. A corrupt entry is deleted."""
        path = self.entry(fspec.sha256)
        if not path.exists():
            return None
        if file_matches(path, fspec):
            return path
        log.warning("cache entry %s is corrupt (size or sha256 differ); deleting it", path)
        with contextlib.suppress(OSError):
            path.unlink()
        return None

    def store(self, path: Path, fspec: FileSpec) -> None:
        """Add the verified file ``path`` to the cache (no-op if present)."""
        entry = self.entry(fspec.sha256)
        if entry.exists():
            return
        ensure_dir(entry.parent, "cache folder")
        with no_space_left(self.root, "cache folder"):
            link_or_copy(path, entry)

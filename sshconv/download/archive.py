"""Postprocessing of downloaded files: hardened archive extraction and ``regex_replace``.

An archive is never trusted because its checksum matched: a correct checksum only
proves it is the file model.yml names, not that the file is safe to unpack. So
:func:`safe_extract` checks every member on its own:

* names must be relative, without ``..``, backslashes, drive letters or NUL bytes,
  and appear once;
* only regular files and folders: symlinks, hard links, devices and FIFOs are refused;
* the member count, the total uncompressed size and the ratio of uncompressed bytes to
  archive bytes are capped (zip bombs); the bytes actually written are counted, so a
  member that lies about its size in the header is caught too.

:func:`unpack_archive` extracts into a staging folder beside the destination and only
then moves the files into place; a rejected archive leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import lzma
import os
import re
import shutil
import stat
import tarfile
import tempfile
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from ..errors import IntegrityError, OutputError, SpecError
from ..fsutil import NO_SPACE_ERRNOS, atomic_write_text
from ..model.spec import ARCHIVE_FORMATS

log = logging.getLogger(__name__)

_TAR_MODES = {"tar": "r|", "gztar": "r|gz", "bztar": "r|bz2", "xztar": "r|xz"}
_COPY_CHUNK = 1 << 20


@dataclass(frozen=True)
class ExtractLimits:
    """Caps that make extraction safe against archive bombs.

    ``max_ratio`` applies to the whole archive: at most ``max_ratio`` uncompressed bytes
    per archive byte, except that the first ``ratio_free_bytes`` are always allowed
    (a tiny archive of text legitimately compresses well).
    """

    max_total_bytes: int = 4 << 30
    max_members: int = 10_000
    max_ratio: float = 100.0
    ratio_free_bytes: int = 1 << 20

    def byte_budget(self, archive_size: int) -> int:
        by_ratio = max(int(self.max_ratio * archive_size), self.ratio_free_bytes)
        return min(self.max_total_bytes, by_ratio)


#: The limits ``sshconv download`` uses (the real SSH archive is ~1.1x compressed).
DEFAULT_LIMITS = ExtractLimits()


# --------------------------------------------------------------------------- member checks


def _reject(archive: Path, why: str) -> IntegrityError:
    return IntegrityError(f"{archive.name}: unsafe archive, refused to unpack: {why}; nothing was extracted")


def check_member_name(name: str, archive: Path) -> PurePosixPath:
    """The member's path if it stays inside the destination, else :class:`IntegrityError`."""
    if not name or "\x00" in name:
        raise _reject(archive, f"member with an empty or NUL-containing name {name!r}")
    if "\\" in name:
        raise _reject(archive, f"member {name!r} has a backslash in its name")
    if name.startswith("/") or re.match(r"^[A-Za-z]:", name):
        raise _reject(archive, f"member {name!r} has an absolute path")
    pure = PurePosixPath(name)
    if ".." in pure.parts:
        raise _reject(archive, f"member {name!r} points outside the destination ('..')")
    parts = [p for p in pure.parts if p not in ("", ".")]
    if not parts:
        raise _reject(archive, f"member {name!r} names the destination itself")
    return PurePosixPath(*parts)


@dataclass(frozen=True)
class _Member:
    path: PurePosixPath
    is_dir: bool
    declared_size: int


def _zip_member(info: zipfile.ZipInfo, archive: Path) -> _Member:
    path = check_member_name(info.filename, archive)
    mode = info.external_attr >> 16
    kind = stat.S_IFMT(mode)
    if info.create_system == 3 and kind not in (0, stat.S_IFREG, stat.S_IFDIR):
        what = "a symlink" if stat.S_ISLNK(mode) else "not a regular file or folder"
        raise _reject(archive, f"member {info.filename!r} is {what}")
    return _Member(path, info.is_dir(), info.file_size)


def _tar_member(info: tarfile.TarInfo, archive: Path) -> _Member:
    path = check_member_name(info.name, archive)
    if info.issym() or info.islnk():
        kind = "a symlink" if info.issym() else "a hard link"
        raise _reject(archive, f"member {info.name!r} is {kind} (to {info.linkname!r})")
    if not (info.isreg() or info.isdir()):
        raise _reject(archive, f"member {info.name!r} is a device, FIFO or other special file")
    return _Member(path, info.isdir(), info.size)


# --------------------------------------------------------------------------- extraction


class _Budget:
    """Counts members and bytes actually written; raises as soon as a cap is passed."""

    def __init__(self, archive: Path, limits: ExtractLimits):
        self.archive, self.limits = archive, limits
        self.budget = limits.byte_budget(archive.stat().st_size)
        self.written = 0
        self.members = 0
        self.seen: set[PurePosixPath] = set()

    def add_member(self, m: _Member) -> None:
        self.members += 1
        if self.members > self.limits.max_members:
            raise _reject(self.archive, f"more than {self.limits.max_members} members")
        if m.path in self.seen:
            raise _reject(self.archive, f"member {str(m.path)!r} appears twice")
        self.seen.add(m.path)

    def add_bytes(self, n: int) -> None:
        self.written += n
        if self.written > self.budget:
            size = self.archive.stat().st_size
            raise _reject(
                self.archive,
                f"it expands to more than {self.budget:,} bytes (archive is {size:,} bytes; limits: "
                f"{self.limits.max_ratio:g}x compression ratio, {self.limits.max_total_bytes:,} bytes in total) - a zip bomb?",
            )


def _write_member(src: BinaryIO, dest: Path, m: _Member, budget: _Budget) -> None:
    if m.is_dir:
        _mkdirs(dest, m.path, budget.archive)
        return
    _mkdirs(dest, m.path.parent, budget.archive)
    target = dest.joinpath(*m.path.parts)
    written = 0
    with open(target, "xb") as out:
        while block := src.read(_COPY_CHUNK):
            written += len(block)
            if written > m.declared_size:
                raise _reject(
                    budget.archive, f"member {str(m.path)!r} is larger than its header says ({m.declared_size:,} bytes)"
                )
            budget.add_bytes(len(block))
            out.write(block)


def _mkdirs(dest: Path, rel: PurePosixPath, archive: Path) -> None:
    current = dest
    for part in rel.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise _reject(archive, f"{str(rel)!r} is a folder and a file at once")
        current.mkdir(exist_ok=True)


def safe_extract(archive: str | Path, fmt: str, dest: str | Path, limits: ExtractLimits = DEFAULT_LIMITS) -> list[str]:
    """Extract ``archive`` (format ``fmt``) into the existing, empty folder ``dest``.

    Returns the relative paths of the regular files written, in archive order.
    Raises :class:`IntegrityError` for an unsafe or unreadable archive; ``dest`` may then
    hold partial output, which the caller discards (see :func:`unpack_archive`).
    """
    archive, dest = Path(archive), Path(dest)
    if fmt not in ARCHIVE_FORMATS:
        raise SpecError(f"{archive.name}: unknown archive format {fmt!r}; use one of {', '.join(ARCHIVE_FORMATS)}")
    budget = _Budget(archive, limits)
    files: list[str] = []
    try:
        for member, open_member in _members(archive, fmt):
            budget.add_member(member)
            with open_member() as src:
                _write_member(src, dest, member, budget)
            if not member.is_dir:
                files.append(str(member.path))
    except IntegrityError:
        raise
    except (FileExistsError, NotADirectoryError, IsADirectoryError) as exc:
        raise _reject(archive, f"conflicting member paths ({exc.strerror}: {Path(exc.filename or '?').name})") from None
    except OSError as exc:
        if exc.errno in NO_SPACE_ERRNOS:
            raise  # a full disk, named by the caller's no_space_left()
        if exc.errno in (errno.EACCES, errno.EROFS, errno.EPERM):
            raise OutputError(
                f"{dest}: cannot extract {archive.name} ({exc.strerror}); check free space and permissions"
            ) from None
        raise _unreadable(archive, fmt, exc) from None
    except (zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, ValueError, NotImplementedError) as exc:
        raise _unreadable(archive, fmt, exc) from None
    return files


def _unreadable(archive: Path, fmt: str, exc: BaseException) -> IntegrityError:
    return IntegrityError(
        f"{archive.name}: not a readable {fmt} archive ({exc.__class__.__name__}: {exc}); check the file and its format in model.yml"
    )


def _members(archive: Path, fmt: str) -> Iterator[tuple[_Member, object]]:
    """Yield each checked member with a function that opens its bytes (a context manager)."""
    if fmt == "zip":
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                member = _zip_member(info, archive)
                yield member, (lambda info=info: zf.open(info) if not info.is_dir() else _empty())
        return
    with tarfile.open(archive, _TAR_MODES[fmt]) as tf:
        for info in tf:
            member = _tar_member(info, archive)
            yield member, (lambda info=info: tf.extractfile(info) if info.isreg() else _empty())


@contextlib.contextmanager
def _empty():
    import io

    yield io.BytesIO(b"")


# --------------------------------------------------------------------------- unpack into place


def unpack_archive(archive: str | Path, fmt: str, dest: str | Path, limits: ExtractLimits = DEFAULT_LIMITS) -> list[Path]:
    """Safely extract ``archive`` into ``dest`` through a staging folder; return the files placed.

    Members are first extracted into ``dest/.NAME.unpack-*``; only when the whole archive
    passed every check are they renamed into ``dest`` (replacing older copies, which makes
    a re-run idempotent). On any error the staging folder is removed and ``dest`` is untouched.
    """
    archive, dest = Path(archive), Path(dest)
    staging = Path(tempfile.mkdtemp(prefix=f".{archive.name}.unpack-", dir=dest))
    try:
        names = safe_extract(archive, fmt, staging, limits)
        placed = []
        for name in names:
            rel = PurePosixPath(name)
            target = dest.joinpath(*rel.parts)
            _prepare_parent(dest, rel)
            if target.is_dir() and not target.is_symlink():
                raise OutputError(f"{target}: is a folder, but {archive.name} holds a file there; move it away and run again")
            os.replace(staging.joinpath(*rel.parts), target)
            placed.append(target)
        log.debug("unpacked %d files from %s into %s", len(placed), archive, dest)
        return placed
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _prepare_parent(dest: Path, rel: PurePosixPath) -> None:
    current = dest
    for part in rel.parent.parts:
        current = current / part
        if current.is_symlink() or (current.exists() and not current.is_dir()):
            raise OutputError(f"{current}: is not a folder, but the archive puts files under it; move it away and run again")
        current.mkdir(exist_ok=True)


# --------------------------------------------------------------------------- regex_replace


def regex_replace(path: str | Path, pattern: str, replacement: str, count: int = 0, where: str = "regex_replace") -> int:
    """Open Model Zoo's ``regex_replace``: substitute in a UTF-8 text file, atomically.

    As in the zoo, ``count`` 0 means "replace every match; there must be at least one".
    A non-zero ``count`` is the exact number of matches required (the zoo only checks
    "at least", which lets a pattern silently match more than its author meant).
    A wrong number of matches raises :class:`SpecError` and leaves the file unchanged.
    Returns the number of substitutions.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SpecError(f"{where}: {path.name} does not exist after the earlier steps; fix `file` in model.yml") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SpecError(f"{where}: cannot read {path.name} as UTF-8 text ({exc}); regex_replace only edits text files") from None
    regex = re.compile(pattern)
    found = sum(1 for _ in regex.finditer(text))
    if found == 0:
        raise SpecError(f"{where}: pattern {pattern!r} matched nothing in {path.name}; fix the pattern in model.yml")
    if count and found != count:
        raise SpecError(
            f"{where}: pattern {pattern!r} matched {found} times in {path.name}, expected {count}; fix the pattern or count"
        )
    new_text, n = regex.subn(replacement, text, count=count)
    atomic_write_text(path, new_text)
    return n

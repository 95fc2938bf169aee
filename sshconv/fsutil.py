"""Small file-system helpers shared by every stage: hashing and atomic writes.

Nothing sshconv produces appears at its final path until it is complete: it is
written under a temporary name in the same folder and renamed into place.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from .errors import OutputError

CHUNK = 1 << 20  # bytes read, hashed and written at a time
#: What a full disk looks like to a writer: no space, a file-size limit (RLIMIT_FSIZE), a quota.
NO_SPACE_ERRNOS = frozenset({errno.ENOSPC, errno.EFBIG, errno.EDQUOT})


@contextlib.contextmanager
def no_space_left(folder: str | Path, what: str = "output folder") -> Iterator[None]:
    """Turn a full disk while writing into ``folder`` into one :class:`OutputError` (exit 2) that names it.

    Whatever was being written under a temporary name is removed by its own cleanup; this
    only says where the space ran out. The one place that knows what a full disk looks like
    (:func:`space_problem`): an ``OSError`` of :data:`NO_SPACE_ERRNOS`, or SQLite's own errors
    for it. Other errors pass through unchanged.
    """
    try:
        yield
    except Exception as exc:
        reason = space_problem(exc)
        if reason is None:
            raise
        raise OutputError(
            f"{what} {folder}: no space left to write ({reason}); free some space there or pass another folder"
        ) from None


#: What libraries that are not Python's own file API say when the disk is full or a file-size limit is hit
#: (SQLite's OperationalError; converters that wrap the OSError in their own error).
NO_SPACE_TEXTS = (
    "database or disk is full",
    "disk I/O error",
    "No space left on device",
    "File too large",
    "Disk quota exceeded",
)
#: OpenVINO's IR writer, when a write falls short (Model Optimizer serializes a temporary IR): "N requested and M written".
SHORT_WRITE = re.compile(r"\b(\d+) requested and (\d+) written\b")


def space_problem(exc: BaseException) -> str | None:
    """What in ``exc`` (or the errors it was raised from) says the disk is full, else ``None``."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in NO_SPACE_ERRNOS:
            return exc.strerror or os.strerror(exc.errno)
        text = str(exc)
        hit = next((t for t in NO_SPACE_TEXTS if t in text), None)
        short = SHORT_WRITE.search(text)
        if hit is None and short is not None and int(short.group(2)) < int(short.group(1)):
            hit = f"a write fell short: {short.group(0)}"
        if hit is not None and (not isinstance(exc, OSError) or exc.errno is None):
            return hit
        exc = exc.__cause__ or exc.__context__
    return None


def hash_file(path: str | Path, limit: int | None = None) -> tuple[hashlib._Hash, int]:
    """A sha256 object fed with the first ``limit`` bytes of ``path`` (all if None), and the byte count."""
    h, n = hashlib.sha256(), 0
    with open(path, "rb") as f:
        while (want := CHUNK if limit is None else min(CHUNK, limit - n)) > 0:
            block = f.read(want)
            if not block:
                break
            h.update(block)
            n += len(block)
    return h, n


def sha256_file(path: str | Path) -> str:
    return hash_file(path)[0].hexdigest()


def copy_hashing(src: BinaryIO, dst: BinaryIO, on_bytes: Callable[[int], None] | None = None) -> tuple[hashlib._Hash, int]:
    """Copy ``src`` to ``dst`` while hashing (sha256) and counting, in one pass; ``on_bytes(total)`` after each block."""
    h, n = hashlib.sha256(), 0
    while block := src.read(CHUNK):
        h.update(block)
        dst.write(block)
        n += len(block)
        if on_bytes is not None:
            on_bytes(n)
    return h, n


def ensure_dir(path: str | Path, what: str = "output folder") -> Path:
    """Create ``path`` (and parents) and check it is writable, or raise :class:`OutputError`."""
    path = Path(path)
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise OutputError(f"{what} {path}: exists and is not a folder; pass another path") from None
    except OSError as exc:
        raise OutputError(f"{what} {path}: cannot create it ({exc.strerror}); pass a writable path") from None
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputError(f"{what} {path}: not writable; fix its permissions or pass another path")
    return path


def _read_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _read_umask()  # read once: os.umask is process-wide and not thread-safe


TEMP_SUFFIX = ".tmp"


def temp_path_for(target: Path) -> Path:
    """A fresh, unique temporary name beside ``target`` (same file system, so rename is atomic).

    The name carries the writer's process id (``.NAME.PID-RANDOM.tmp``), so that a later writer of the
    same file can tell the leftovers of a process that died (``kill -9``) from another's work in progress.
    """
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=target.parent)
    os.close(fd)
    return Path(name)


def remove_stale_temps(target: Path) -> list[Path]:
    """Remove the temporary files of ``target`` left by writers that are no longer running; return them.

    Whatever a writing library added to the temporary name (OpenVINO writes ``NAME.tmp.xml`` and ``NAME.tmp.bin`` when
    given ``NAME.tmp.xml``) is theirs too.
    """
    removed = []
    for path in target.parent.glob(f".{glob_escape(target.name)}.*{TEMP_SUFFIX}*"):
        pid = path.name[len(target.name) + 2 :].split("-", 1)[0]
        if pid.isdigit() and not _running(int(pid)):
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
                removed.append(path)
    return removed


def glob_escape(name: str) -> str:
    return "".join(f"[{c}]" if c in "*?[" else c for c in name)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


@contextlib.contextmanager
def signals_deferred() -> Iterator[None]:
    """SIGINT and SIGTERM held back for the few steps that must not be cut between them (creating a file and
    remembering its name), then handled as they would have been, right after.

    Python runs signal handlers in the main thread between two steps of its code: while these
    steps run, the handlers only note the signal; the original handler (the CLI's raises) runs
    when they are done. Other threads never receive Python's signals: nothing to hold there.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    noted: list[int] = []
    # A handler a native library installed is not Python's to put back (getsignal says None): such a signal is left be.
    held = [s for s in (signal.SIGINT, signal.SIGTERM) if signal.getsignal(s) is not None]
    previous = {s: signal.signal(s, lambda signum, frame: noted.append(signum)) for s in held}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
        for s in noted:
            handler = previous[s]
            if callable(handler):
                handler(s, None)
            elif handler == signal.SIG_DFL:
                signal.raise_signal(s)


@contextlib.contextmanager
def atomic_path(target: str | Path, replace: bool = True) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success rename it to ``target``. With ``replace=False`` a
    ``target`` that appeared meanwhile (another process's) is left as it is: :class:`OutputError` instead.

    On any exception (including KeyboardInterrupt, and SIGTERM as the CLI delivers it) the
    temporary file is removed and ``target`` is left as it was; temporary files of ``target``
    that a killed writer (``kill -9``) left behind are removed first.
    """
    target = Path(target)
    ensure_dir(target.parent)
    remove_stale_temps(target)
    tmp: Path | None = None
    try:
        with signals_deferred():  # a signal between creating the file and knowing its name would leave it behind
            tmp = temp_path_for(target)
        with no_space_left(target.parent, "folder"):
            yield tmp
            with open(tmp, "rb+") as f:
                os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp made it 0600; results are ordinary files
        if replace:
            os.replace(tmp, target)
        else:
            appeared = OutputError(f"{target}: appeared while it was being written; remove it or choose another name")
            try:
                os.link(tmp, target)  # fails if target exists, where a rename would replace it
            except FileExistsError:
                raise appeared from None
            except OSError as exc:  # a file system without hard links: the check and the rename, a moment apart
                if target.exists():
                    raise appeared from None
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP):
                    raise
                os.replace(tmp, target)
            tmp.unlink(missing_ok=True)
    except BaseException:
        if tmp is not None:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


@contextlib.contextmanager
def atomic_folder(target: str | Path, what: str = "folder") -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; on success rename it to ``target``, which must not exist.

    On any exception the temporary folder and everything in it are removed and nothing is left at
    ``target``; temporary folders of ``target`` left by a writer that was killed (``kill -9``) go first.
    """
    import shutil

    target = Path(target)
    ensure_dir(target.parent, f"{what}'s parent folder")
    for stale in target.parent.glob(f".{glob_escape(target.name)}.*{TEMP_SUFFIX}"):
        pid = stale.name[len(target.name) + 2 :].split("-", 1)[0]
        if stale.is_dir() and pid.isdigit() and not _running(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    tmp: Path | None = None
    try:
        with signals_deferred():
            tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.{os.getpid()}-", suffix=TEMP_SUFFIX, dir=target.parent))
        os.chmod(tmp, 0o777 & ~_UMASK)
        with no_space_left(target.parent, what):
            yield tmp
        appeared = OutputError(f"{target}: appeared while the {what} was being written; remove it or choose another name")
        if target.exists() or target.is_symlink():
            raise appeared
        try:
            os.replace(tmp, target)
        except OSError as exc:  # another writer's folder, placed between the check and here
            if exc.errno in (errno.ENOTEMPTY, errno.EEXIST, errno.ENOTDIR):
                raise appeared from None
            raise
    except BaseException:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        raise


def atomic_write_bytes(target: str | Path, data: bytes) -> Path:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
    return Path(target)


def atomic_write_text(target: str | Path, text: str) -> Path:
    return atomic_write_bytes(target, text.encode("utf-8"))


def resolve_inside(path: str, folder: Path) -> Path | None:
    """``path`` resolved (symbolic links followed) if it stays inside ``folder``, else ``None``."""
    resolved, root = Path(path).resolve(), Path(folder).resolve()
    return resolved if resolved == root or root in resolved.parents else None


def file_kind(path: str | Path) -> str:
    """What is at ``path``: ``"file"`` (a regular file, links followed), ``"missing"``, or what else it is.

    Inputs are read only when they are regular files: a FIFO or a device named like a photo would
    block a read forever, or never end.
    """
    import stat

    try:
        mode = os.stat(path).st_mode
    except FileNotFoundError:
        return "missing"
    except OSError:
        return "unreadable entry"
    if stat.S_ISREG(mode):
        return "file"
    kinds = ((stat.S_ISDIR, "folder"), (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket"),
             (stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"))  # fmt: skip
    return next((name for test, name in kinds if test(mode)), "special file")


#: The largest JSON file sshconv reads back (a manifest, a listing, a report, a symbol, an index): real ones are a few
#: MiB at most; a larger one is refused before it is read, so a hand-made file cannot take the memory.
JSON_LIMIT = 64 << 20


def parse_json(text: str | bytes):
    """``json.loads``; a document nested deeper than Python's recursion allows is a ``ValueError`` like any other bad
    JSON (``json`` raises ``RecursionError`` for ``[[[[...]]]]``), so every caller's one ``except ValueError`` holds."""
    import json

    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("nested too deeply to be one of ours") from None


def read_json_file(path: str | Path, limit: int = JSON_LIMIT):
    """The JSON document in ``path``: ``OSError`` if it cannot be read, ``ValueError`` if it is not a regular file
    (a pipe or a device is never read), larger than ``limit`` bytes, not UTF-8, not JSON or nested too deeply."""
    kind = file_kind(path)
    if kind == "missing":
        raise FileNotFoundError(errno.ENOENT, "no such file", str(path))
    if kind != "file":
        raise ValueError(f"a {kind}, not a regular file")
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than the {limit >> 20} MiB a file of ours can be")
    return parse_json(data.decode("utf-8"))

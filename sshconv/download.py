"""Fetch the files of model.yml by checksum, from many sources, surviving bad networks.

The entry point is :func:`download_model`. For each file of the model it takes the
first of these that works:

1. a ``--from-file`` copy whose size and sha256 match (always imported when given);
2. the file already in the output folder, verified by size and sha256;
3. the content-addressed cache (``CACHE/sha256/<hex>``), verified, hard-linked or copied;
4. the network: the file's ``source``, then its ``sources``, then each mirror prefix
   + ``/NAME``, in that order (``--offline`` stops before this step).

A network download is written to ``NAME.part`` beside the target, with a sidecar
``NAME.part.json`` holding the URL, the offset and the server's validators (ETag,
Last-Modified). Bytes are hashed and counted in the same pass as they are written; a
later attempt or a later run resumes the ``.part`` with ``Range`` + ``If-Range``
(hashing the part already on disk first, so the result is proven from byte 0). Only a
file whose size and sha256 match is renamed to its final name.

Failures are typed: if every source failed and at least one of them served wrong bytes
(a size or sha256 mismatch) the error is :class:`IntegrityError` (exit 4), because a
source serving wrong content must not be mistaken for a network hiccup; if every failure
was a network failure (connection, timeout, HTTP status) it is
:class:`SourceUnreachableError` (exit 3). The message lists every source tried.

The library never prints: progress is reported through ``on_event`` as dicts with an
``event`` key: ``start``, ``progress``, ``retry``, ``error``, ``done``.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import logging
import os
import random
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from .errors import (
    InputError,
    IntegrityError,
    LockTimeout,
    SourceUnreachableError,
    UsageError,
)
from .fsutil import CHUNK, atomic_write_text, copy_hashing, ensure_dir, hash_file, temp_path_for
from .spec import FileSpec, ModelSpec, RegexReplace, UnpackArchive

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------- the numbers a user sees

#: Extra attempts per source after a transient failure (5xx, 429, timeout, broken connection).
DEFAULT_RETRIES = 3
#: Connect timeout and read timeout (seconds without a byte), each.
DEFAULT_TIMEOUT = 30.0
#: Backoff before retry k (1-based): min(BACKOFF_MAX, BACKOFF_BASE * 2**(k-1)), times a jitter in [0.5, 1].
BACKOFF_BASE = 0.5
BACKOFF_MAX = 30.0
#: A server's Retry-After is honoured up to this many seconds.
RETRY_AFTER_MAX = 120.0
#: How long to wait for another sshconv process holding the output folder's or the cache's lock.
LOCK_TIMEOUT = 900.0
#: An attempt that advanced the download does not use up a retry (unless retries is 0, which never
#: retries); this caps the attempts per source anyway.
MAX_ATTEMPTS_PER_SOURCE = 50
#: The least time, in seconds, between two ``progress`` events.
PROGRESS_INTERVAL = 0.2
#: HTTP statuses worth retrying; every other 4xx (403, 404, 410, ...) is final for that source.
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
MODEL_NAME = "ssh-mxnet"
USER_AGENT = "sshconv (+https://github.com/deepinsight/mxnet-SSH model downloader)"
MANIFEST = ".sshconv-download.json"
LOCK_NAME = ".sshconv-download.lock"

Event = dict[str, Any]
EventHandler = Callable[[Event], None]


def default_output_dir() -> Path:
    """``$SSHCONV_HOME/ssh-mxnet``, else ``${XDG_DATA_HOME:-~/.local/share}/sshconv/ssh-mxnet``."""
    if os.environ.get("SSHCONV_HOME"):
        return Path(os.environ["SSHCONV_HOME"]).expanduser() / MODEL_NAME
    data = os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share"
    return Path(data).expanduser() / "sshconv" / MODEL_NAME


def default_cache_dir() -> Path:
    """``$SSHCONV_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/sshconv``."""
    if os.environ.get("SSHCONV_CACHE_DIR"):
        return Path(os.environ["SSHCONV_CACHE_DIR"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "sshconv"


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class Attempt:
    """One source that failed: its URL, why, and whether the bytes were wrong (integrity)."""

    url: str
    reason: str
    integrity: bool = False


@dataclass(frozen=True)
class FileResult:
    name: str
    path: Path
    size: int
    sha256: str
    #: ``existing`` (already in the output folder), ``cache``, ``from-file:PATH`` or the URL used.
    source: str
    bytes_transferred: int = 0
    from_cache: bool = False
    failed_attempts: tuple[Attempt, ...] = ()


@dataclass(frozen=True)
class PostprocResult:
    kind: str
    file: str
    outputs: tuple[str, ...] = ()
    replacements: int = 0


@dataclass(frozen=True)
class DownloadResult:
    output_dir: Path
    cache_dir: Path | None
    files: tuple[FileResult, ...]
    postprocessing: tuple[PostprocResult, ...] = ()
    #: True when everything was already in place and verified (nothing fetched or unpacked).
    up_to_date: bool = False

    @property
    def bytes_transferred(self) -> int:
        return sum(f.bytes_transferred for f in self.files)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["bytes_transferred"] = self.bytes_transferred
        return json.loads(json.dumps(d, default=str))


# --------------------------------------------------------------------------- events


class _Emitter:
    def __init__(self, handler: EventHandler | None):
        self.handler = handler
        self._last_progress = 0.0

    def __call__(self, event: str, **fields: Any) -> None:
        if self.handler is not None:
            self.handler({"event": event, **fields})

    def progress(self, name: str, done: int, total: int, force: bool = False) -> None:
        now = time.monotonic()
        if force or now - self._last_progress >= PROGRESS_INTERVAL:
            self._last_progress = now
            self("progress", file=name, bytes=done, total=total)


# --------------------------------------------------------------------------- locking


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


# --------------------------------------------------------------------------- hashing and placing


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
    tmp = temp_path_for(target)
    try:
        tmp.unlink()
        try:
            os.link(src, tmp)
        except OSError:
            shutil.copyfile(src, tmp)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def mismatch_reason(fspec: FileSpec, size: int, sha256: str | None) -> str:
    if size != fspec.size:
        return f"size mismatch: expected {fspec.size:,} bytes, got {size:,}"
    return f"sha256 mismatch: expected {fspec.sha256}, got {sha256}"


# --------------------------------------------------------------------------- the cache


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
        link_or_copy(path, entry)


# --------------------------------------------------------------------------- one attempt


class _AttemptFailed(Exception):
    def __init__(self, reason: str, *, retry: bool = False, integrity: bool = False, retry_after: float | None = None):
        super().__init__(reason)
        self.reason, self.retry, self.integrity, self.retry_after = reason, retry, integrity, retry_after


@dataclass
class _Part:
    """``NAME.part`` and its sidecar ``NAME.part.json`` beside the target."""

    target: Path
    path: Path = field(init=False)
    sidecar: Path = field(init=False)

    def __post_init__(self):
        self.path = self.target.with_name(self.target.name + ".part")
        self.sidecar = self.target.with_name(self.target.name + ".part.json")

    def size(self) -> int:
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def read_sidecar(self) -> dict:
        try:
            return json.loads(self.sidecar.read_text())
        except (OSError, ValueError):
            return {}

    def write_sidecar(self, **info: Any) -> None:
        atomic_write_text(self.sidecar, json.dumps(info))

    def discard(self) -> None:
        for p in (self.path, self.sidecar):
            with contextlib.suppress(FileNotFoundError):
                p.unlink()

    def finish(self) -> None:
        os.replace(self.path, self.target)
        with contextlib.suppress(FileNotFoundError):
            self.sidecar.unlink()


@dataclass
class _Transfer:
    """Settings shared by every attempt of one :func:`download_model` call."""

    session: Any
    timeout: float
    emit: _Emitter
    transferred: int = 0


def _resume_offset(part: _Part, url: str, fspec: FileSpec) -> tuple[int, str | None]:
    """How much of ``part`` can be reused for ``url``, and the If-Range validator to send."""
    size = part.size()
    meta = part.read_sidecar()
    if size == 0 or meta.get("url") != url or meta.get("sha256") != fspec.sha256 or size > fspec.size:
        if size:
            log.info("%s: discarding a .part that does not belong to %s", part.path, url)
        part.discard()
        return 0, None
    etag = meta.get("etag")
    validator = etag if etag and not etag.startswith("W/") else meta.get("last_modified")
    return size, validator


def _verify_and_finish(part: _Part, fspec: FileSpec, h: Any, n: int, resumed: bool) -> None:
    got = h.hexdigest()
    if n != fspec.size or got != fspec.sha256:
        part.discard()
        reason = mismatch_reason(fspec, n, got)
        # A resumed file may mix two versions of the file: one clean retry from byte 0.
        raise _AttemptFailed(reason + "; deleted the download", integrity=True, retry=resumed)
    part.finish()


def _attempt_file_url(url: str, fspec: FileSpec, part: _Part, tx: _Transfer) -> None:
    """Copy a ``file://`` source with hashing in the same pass (no resume: it is local)."""
    src = Path(unquote(urlsplit(url).path))
    try:
        size = src.stat().st_size
        f = open(src, "rb")
    except OSError as exc:
        raise _AttemptFailed(f"cannot read {src} ({exc.strerror})") from None
    if size != fspec.size:
        f.close()
        raise _AttemptFailed(mismatch_reason(fspec, size, None), integrity=True)
    part.discard()
    tx.emit("start", file=fspec.name, url=url, size=fspec.size, offset=0)
    with f, open(part.path, "wb") as out:
        h, n = copy_hashing(f, out, lambda total: tx.emit.progress(fspec.name, total, fspec.size))
    _verify_and_finish(part, fspec, h, n, resumed=False)


def _attempt_http(url: str, fspec: FileSpec, part: _Part, tx: _Transfer) -> None:
    """One GET of ``url`` into ``part``, resuming it when possible; raises :class:`_AttemptFailed`."""
    import requests

    offset, validator = _resume_offset(part, url, fspec)
    if offset == fspec.size:
        h, n = hash_file(part.path)
        _verify_and_finish(part, fspec, h, n, resumed=True)
        return
    headers = {"Range": f"bytes={offset}-"} if offset else {}
    if offset and validator:
        headers["If-Range"] = validator
    try:
        resp = tx.session.get(url, headers=headers, stream=True, timeout=(tx.timeout, tx.timeout), allow_redirects=True)
    except requests.RequestException as exc:
        raise _AttemptFailed(_network_reason(exc, tx.timeout), retry=True) from None
    with resp:
        if resp.status_code == 416 and offset:
            part.discard()
            raise _AttemptFailed("server refused the resume range (416); restarting from byte 0", retry=True)
        if resp.status_code not in (200, 206):
            raise _status_failure(resp)
        if resp.status_code == 206:
            start, total = _content_range(resp)
            if start != offset:
                part.discard()
                raise _AttemptFailed(f"server sent bytes from {start} instead of {offset}; restarting from byte 0", retry=True)
        else:
            if offset:
                log.info("%s: server ignored Range or the file changed (200, not 206); restarting from byte 0", url)
            offset, total = 0, _int_or_none(resp.headers.get("Content-Length"))
        if total is not None and total != fspec.size:
            part.discard()
            raise _AttemptFailed(f"size mismatch: expected {fspec.size:,} bytes, server announces {total:,}", integrity=True)
        part.write_sidecar(
            url=url, sha256=fspec.sha256, size=fspec.size, offset=offset,
            etag=resp.headers.get("ETag"), last_modified=resp.headers.get("Last-Modified"),
        )  # fmt: skip
        h, n = hash_file(part.path, offset) if offset else (hashlib.sha256(), 0)
        tx.emit("start", file=fspec.name, url=url, size=fspec.size, offset=n)
        n = _stream_body(resp, part, fspec, h, n, offset, tx)
    if n < fspec.size:
        raise _AttemptFailed(f"connection closed after {n:,} of {fspec.size:,} bytes", retry=True)
    _verify_and_finish(part, fspec, h, n, resumed=offset > 0)


def _stream_body(resp: Any, part: _Part, fspec: FileSpec, h: Any, n: int, offset: int, tx: _Transfer) -> int:
    """Append the body to ``part``, hashing and counting each block as it is written.

    ``read1`` returns what has arrived (up to CHUNK) without waiting to fill a block, so a
    cut connection loses no byte that reached us: the next attempt resumes exactly there.
    """
    import requests
    import urllib3

    network_errors = (urllib3.exceptions.HTTPError, requests.RequestException, OSError)
    raw = resp.raw
    with open(part.path, "r+b" if offset else "wb") as out:
        out.seek(offset)
        out.truncate()
        try:
            while True:
                try:
                    block = raw.read1(CHUNK, decode_content=False)
                except network_errors as exc:
                    reason = f"{_network_reason(exc, tx.timeout)} after {n:,} of {fspec.size:,} bytes"
                    raise _AttemptFailed(reason, retry=True) from None
                if not block:
                    break
                n += len(block)
                tx.transferred += len(block)
                if n > fspec.size:
                    break
                h.update(block)
                out.write(block)
                tx.emit.progress(fspec.name, n, fspec.size)
        finally:
            out.flush()
            meta = part.read_sidecar()
            if meta:
                part.write_sidecar(**{**meta, "offset": out.tell()})
    if n > fspec.size:
        part.discard()
        raise _AttemptFailed(
            f"size mismatch: server sent more than the expected {fspec.size:,} bytes; deleted the download", integrity=True
        )
    tx.emit.progress(fspec.name, n, fspec.size, force=True)
    return n


def _content_range(resp: Any) -> tuple[int, int | None]:
    value = resp.headers.get("Content-Range", "")
    try:
        unit, _, rest = value.partition(" ")
        span, _, total = rest.partition("/")
        start = int(span.split("-")[0])
        return start, (None if total == "*" else int(total))
    except ValueError:
        raise _AttemptFailed(f"206 with an unreadable Content-Range {value!r}", retry=True) from None


def _int_or_none(value: str | None) -> int | None:
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def _status_failure(resp: Any) -> _AttemptFailed:
    code = resp.status_code
    reason = f"HTTP {code} {resp.reason or ''}".strip()
    retry = code in RETRY_STATUSES or (code >= 500 and code not in (501, 505))
    return _AttemptFailed(reason, retry=retry, retry_after=_retry_after(resp.headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP-date), or None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _network_reason(exc: BaseException, timeout: float) -> str:
    import re

    import requests

    text = str(exc)
    if isinstance(exc, requests.Timeout) or "timed out" in text.lower():
        return f"timed out after {timeout:g} s"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError) or "connection broken" in text.lower():
        return "connection broken"
    m = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    if m:
        return f"connection failed ({m.group(1).strip()})"
    return f"{exc.__class__.__name__}"


# --------------------------------------------------------------------------- one source, with retries


def backoff_delay(failures: int, base: float, cap: float) -> float:
    """Exponential backoff with jitter: a random delay in [d/2, d] with d = min(cap, base * 2**(failures-1))."""
    d = min(cap, base * 2 ** max(failures - 1, 0))
    return d * random.uniform(0.5, 1.0)


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = DEFAULT_RETRIES
    backoff_base: float = BACKOFF_BASE
    backoff_max: float = BACKOFF_MAX
    retry_after_max: float = RETRY_AFTER_MAX


def _try_source(url: str, fspec: FileSpec, part: _Part, tx: _Transfer, policy: RetryPolicy) -> None:
    """Fetch ``fspec`` from ``url``, retrying transient failures; raise the last :class:`_AttemptFailed`."""
    attempt_once = _attempt_file_url if url.lower().startswith("file:") else _attempt_http
    failures = 0
    for attempt in range(1, MAX_ATTEMPTS_PER_SOURCE + 1):
        before = part.size()
        try:
            attempt_once(url, fspec, part, tx)
            return
        except _AttemptFailed as exc:
            progressed = part.size() > before
            failures = 0 if progressed and not exc.integrity else failures + 1
            if not exc.retry or not policy.retries or failures > policy.retries or attempt == MAX_ATTEMPTS_PER_SOURCE:
                if failures > 1:
                    exc.reason += f" (after {attempt} attempts)"
                raise
            if exc.retry_after is not None:
                delay = min(exc.retry_after, policy.retry_after_max)
            else:
                delay = backoff_delay(max(failures, 1), policy.backoff_base, policy.backoff_max)
            log.info("%s: %s; retrying in %.2f s", url, exc.reason, delay)
            tx.emit("retry", file=fspec.name, url=url, attempt=attempt, delay=round(delay, 3), reason=exc.reason)
            time.sleep(delay)
    raise AssertionError("unreachable")


def fetch_from_sources(
    urls: Sequence[str], fspec: FileSpec, target: Path, tx: _Transfer, policy: RetryPolicy
) -> tuple[str, list[Attempt]]:
    """Download ``fspec`` to ``target`` from the first URL that works; return it and the failures before it."""
    part = _Part(target)
    failed: list[Attempt] = []
    for url in urls:
        try:
            _try_source(url, fspec, part, tx, policy)
            return url, failed
        except _AttemptFailed as exc:
            failed.append(Attempt(url, exc.reason, exc.integrity))
            tx.emit("error", file=fspec.name, url=url, reason=exc.reason)
            log.info("%s: %s", url, exc.reason)
    raise _all_failed(fspec, failed)


def _all_failed(fspec: FileSpec, failed: list[Attempt]) -> IntegrityError | SourceUnreachableError:
    n = len(failed)
    listing = "; ".join(f"{a.url}: {a.reason}" for a in failed)
    msg = f"{fspec.name}: tried {n} source{'s' if n != 1 else ''}: {listing}"
    if any(a.integrity for a in failed):
        return IntegrityError(msg + "; a source served wrong bytes: fix or drop it, or pass --from-file PATH")
    return SourceUnreachableError(msg + "; pass --mirror URL_PREFIX or --from-file PATH with a copy of the file")


# --------------------------------------------------------------------------- sources and --from-file


def normalize_mirror(prefix: str) -> str:
    """A mirror prefix as a URL: http(s):// and file:// as given, an existing folder as file://."""
    scheme = urlsplit(prefix).scheme.lower()
    if scheme in ("http", "https") and urlsplit(prefix).netloc:
        return prefix.rstrip("/")
    if scheme == "file":
        return prefix.rstrip("/")
    if not scheme and Path(prefix).is_dir():
        return Path(prefix).resolve().as_uri()
    raise UsageError(f"--mirror {prefix!r}: expected an http(s):// or file:// URL prefix, or an existing folder")


def source_urls(fspec: FileSpec, mirrors: Sequence[str]) -> list[str]:
    """The file's own URLs, then each mirror prefix + ``/NAME``, without duplicates."""
    urls = list(fspec.urls)
    for m in mirrors:
        url = f"{normalize_mirror(m)}/{fspec.name}"
        if url not in urls:
            urls.append(url)
    return urls


def match_local_copies(spec: ModelSpec, paths: Sequence[str | Path]) -> dict[str, Path]:
    """Map each ``--from-file`` path to the model file it is, by size and sha256.

    A copy that matches no file raises :class:`IntegrityError` saying what was expected and
    what was found; a missing path raises :class:`InputError`.
    """
    found: dict[str, Path] = {}
    for raw in paths:
        path = Path(raw)
        try:
            size = path.stat().st_size
            if not path.is_file():
                raise IsADirectoryError(errno.EISDIR, "is not a file")
        except OSError as exc:
            raise InputError(f"--from-file {path}: {exc.strerror or exc}; pass the path of a copy of the file") from None
        by_name = [f for f in spec.files if f.name == path.name]
        candidates = by_name or (list(spec.files) if len(spec.files) == 1 else [f for f in spec.files if f.size == size])
        h, _ = hash_file(path)
        got = h.hexdigest()
        for f in spec.files:
            if f.size == size and f.sha256 == got:
                found[f.name] = path
                break
        else:
            if len(candidates) == 1:
                why = mismatch_reason(candidates[0], size, got)
                raise IntegrityError(
                    f"--from-file {path}: not the {candidates[0].name} of {spec.path.name}: {why}; nothing was imported"
                )
            raise IntegrityError(
                f"--from-file {path}: matches no file of {spec.path.name} ({size:,} bytes, sha256 {got}); nothing was imported"
            )
    return found


def import_local_copy(src: Path, fspec: FileSpec, target: Path) -> None:
    """Copy ``src`` to ``target`` through a ``.part``, hashing in the same pass; verify before the rename."""
    part = _Part(target)
    part.discard()
    with open(src, "rb") as f, open(part.path, "wb") as out:
        h, n = copy_hashing(f, out)
    try:
        _verify_and_finish(part, fspec, h, n, resumed=False)
    except _AttemptFailed as exc:
        raise IntegrityError(f"--from-file {src}: {exc.reason} (it changed while being copied?)") from None


# --------------------------------------------------------------------------- postprocessing and the manifest


def _spec_key(spec: ModelSpec) -> str:
    doc = {
        "files": [(f.name, f.size, f.sha256) for f in spec.files],
        "postprocessing": [asdict(p) | {"$type": type(p).__name__} for p in spec.postprocessing],
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def _read_manifest(output_dir: Path) -> dict:
    try:
        return json.loads((output_dir / MANIFEST).read_text())
    except (OSError, ValueError):
        return {}


def _manifest_ok(output_dir: Path, spec: ModelSpec, manifest: dict) -> bool:
    """True if a previous run finished this exact spec and every file it produced is unchanged."""
    if manifest.get("spec_key") != _spec_key(spec) or not isinstance(manifest.get("outputs"), dict):
        return False
    for rel, info in manifest["outputs"].items():
        path = output_dir / rel
        fake = FileSpec(name=rel, size=int(info.get("size", -1)), sha256=str(info.get("sha256", "")))
        if not file_matches(path, fake):
            return False
    return True


def _write_manifest(output_dir: Path, spec: ModelSpec, outputs: Sequence[str]) -> None:
    entries = {}
    for rel in sorted(set(outputs)):
        path = output_dir / rel
        if path.is_file():
            h, n = hash_file(path)
            entries[rel] = {"size": n, "sha256": h.hexdigest()}
    doc = {"spec_key": _spec_key(spec), "model_yml": str(spec.path), "outputs": entries}
    atomic_write_text(output_dir / MANIFEST, json.dumps(doc, indent=2))


def run_postprocessing(spec: ModelSpec, output_dir: Path, emit: EventHandler | None = None) -> list[PostprocResult]:
    """Apply model.yml's ``postprocessing`` steps in order, inside ``output_dir``.

    A rejected archive is deleted from ``output_dir`` (the cache keeps its verified copy) and
    raises :class:`IntegrityError`; nothing extracted from it is left behind.
    """
    from .archive import regex_replace, unpack_archive

    results = []
    for i, step in enumerate(spec.postprocessing):
        where = f"{spec.path.name}: postprocessing[{i}]"
        if isinstance(step, UnpackArchive):
            archive = output_dir / step.file
            try:
                placed = unpack_archive(archive, step.format, output_dir)
            except IntegrityError:
                with contextlib.suppress(FileNotFoundError):
                    archive.unlink()
                raise
            outputs = tuple(str(p.relative_to(output_dir)) for p in placed)
            results.append(PostprocResult("unpack_archive", step.file, outputs))
        elif isinstance(step, RegexReplace):
            n = regex_replace(output_dir / step.file, step.pattern, step.replacement, step.count, where=where)
            results.append(PostprocResult("regex_replace", step.file, (step.file,), n))
        if emit:
            emit({"event": "postprocess", **asdict(results[-1])})
    return results


# --------------------------------------------------------------------------- the whole model


def download_model(
    spec: ModelSpec,
    output_dir: str | Path | None = None,
    *,
    cache_dir: str | Path | None = None,
    mirrors: Sequence[str] = (),
    from_file: Sequence[str | Path] | str | Path | None = None,
    retries: int = DEFAULT_RETRIES,
    timeout: float = DEFAULT_TIMEOUT,
    offline: bool = False,
    on_event: EventHandler | None = None,
    backoff_base: float = BACKOFF_BASE,
    backoff_max: float = BACKOFF_MAX,
    retry_after_max: float = RETRY_AFTER_MAX,
    lock_timeout: float = LOCK_TIMEOUT,
) -> DownloadResult:
    """Make ``output_dir`` hold every file of ``spec``, verified, and the results of its postprocessing.

    ``output_dir`` defaults to :func:`default_output_dir`, ``cache_dir`` to :func:`default_cache_dir`.
    ``mirrors`` are URL prefixes (or folders) tried after the file's own sources as ``PREFIX/NAME``.
    ``from_file`` is one or more local copies, imported after checking size and sha256.
    ``offline`` never touches the network (a cache miss raises :class:`SourceUnreachableError`).
    Re-running is idempotent: a finished folder is verified and left as it is.
    """
    if retries < 0 or timeout <= 0:
        raise UsageError(f"retries must be >= 0 and timeout > 0, got retries={retries}, timeout={timeout}")
    output_dir = ensure_dir(Path(output_dir) if output_dir is not None else default_output_dir())
    cache = Cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    ensure_dir(cache.root, "cache folder")
    mirrors = [normalize_mirror(m) for m in mirrors]
    paths = [from_file] if isinstance(from_file, (str, Path)) else list(from_file or ())
    local = match_local_copies(spec, paths)
    emit = _Emitter(on_event)
    policy = RetryPolicy(retries, backoff_base, backoff_max, retry_after_max)

    with file_lock(output_dir / LOCK_NAME, lock_timeout, what=f"output folder {output_dir}"):
        manifest = _read_manifest(output_dir)
        if not local and _manifest_ok(output_dir, spec, manifest):
            files = tuple(_existing(output_dir, f, emit) for f in spec.files)
            return DownloadResult(output_dir, cache.root, files, up_to_date=True)
        with contextlib.suppress(FileNotFoundError):
            (output_dir / MANIFEST).unlink()
        tx = _Transfer(session=None, timeout=timeout, emit=emit)
        try:
            files = tuple(
                _obtain(f, output_dir, cache, local.get(f.name), mirrors, offline, tx, policy, lock_timeout) for f in spec.files
            )
        finally:
            if tx.session is not None:
                tx.session.close()
        post = run_postprocessing(spec, output_dir, on_event)
        outputs = [f.name for f in spec.files] + [o for p in post for o in p.outputs]
        _write_manifest(output_dir, spec, outputs)
    return DownloadResult(output_dir, cache.root, files, tuple(post))


def _existing(output_dir: Path, fspec: FileSpec, emit: _Emitter) -> FileResult:
    path = output_dir / fspec.name
    emit("done", file=fspec.name, source="existing", path=str(path), bytes_transferred=0, from_cache=False)
    return FileResult(fspec.name, path, fspec.size, fspec.sha256, "existing")


def _obtain(
    fspec: FileSpec, output_dir: Path, cache: Cache, local: Path | None, mirrors: Sequence[str],
    offline: bool, tx: _Transfer, policy: RetryPolicy, lock_timeout: float,
) -> FileResult:  # fmt: skip
    """Get one file into ``output_dir``: --from-file, already there, cache, then the network."""
    target = output_dir / fspec.name
    ensure_dir(target.parent)

    def done(source: str, transferred: int = 0, from_cache: bool = False, failed: Sequence[Attempt] = ()) -> FileResult:
        tx.emit("done", file=fspec.name, source=source, path=str(target), bytes_transferred=transferred, from_cache=from_cache)
        return FileResult(fspec.name, target, fspec.size, fspec.sha256, source, transferred, from_cache, tuple(failed))

    with cache.lock(fspec.sha256, lock_timeout):
        if local is None and file_matches(target, fspec):
            cache.store(target, fspec)
            return done("existing")
        if local is not None:
            import_local_copy(local, fspec, target)
            cache.store(target, fspec)
            return done(f"from-file:{local}")
        hit = cache.lookup(fspec)
        if hit is not None:
            link_or_copy(hit, target)
            return done("cache", from_cache=True)
        if offline:
            raise SourceUnreachableError(
                f"{fspec.name}: not in the cache ({cache.root}) and --offline forbids the network; "
                "run once without --offline, or pass --from-file PATH"
            )
        urls = source_urls(fspec, mirrors)
        if not urls:
            raise SourceUnreachableError(
                f"{fspec.name}: not in the cache and model.yml lists no source; pass --mirror URL_PREFIX or --from-file PATH"
            )
        if tx.session is None:
            tx.session = _new_session()
        before = tx.transferred
        url, failed = fetch_from_sources(urls, fspec, target, tx, policy)
        cache.store(target, fspec)
        return done(url, tx.transferred - before, failed=failed)


def _new_session() -> Any:
    import requests

    s = requests.Session()
    # identity: byte counts and ranges must refer to the file itself, not a compressed body.
    s.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "identity"})
    return s

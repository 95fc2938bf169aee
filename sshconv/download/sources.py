"""Where a file can come from: its URLs and mirrors (with retries and backoff), or a local copy."""

from __future__ import annotations

import errno
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ..errors import InputError, IntegrityError, SourceUnreachableError, UsageError, param
from ..fsutil import copy_hashing, hash_file
from ..model.spec import FileSpec, ModelSpec
from .cache import mismatch_reason
from .settings import BACKOFF_BASE, BACKOFF_MAX, DEFAULT_RETRIES, MAX_ATTEMPTS_PER_SOURCE, RETRY_AFTER_MAX
from .transfer import AttemptFailed, Part, Transfer, attempt_file_url, attempt_http, verify_and_finish

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Attempt:
    """One source that failed: its URL, why, and whether the bytes were wrong (integrity)."""

    url: str
    reason: str
    integrity: bool = False


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


def _try_source(url: str, fspec: FileSpec, part: Part, tx: Transfer, policy: RetryPolicy) -> None:
    """Fetch ``fspec`` from ``url``, retrying transient failures; raise the last :class:`AttemptFailed`."""
    attempt_once = attempt_file_url if url.lower().startswith("file:") else attempt_http
    failures = 0
    for attempt in range(1, MAX_ATTEMPTS_PER_SOURCE + 1):
        before = part.size()
        try:
            attempt_once(url, fspec, part, tx)
            return
        except AttemptFailed as exc:
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
            tx.emit("retry", item=fspec.name, url=url, attempt=attempt, delay=round(delay, 3), reason=exc.reason)
            time.sleep(delay)
    raise AssertionError("unreachable")


def fetch_from_sources(
    urls: Sequence[str], fspec: FileSpec, target: Path, tx: Transfer, policy: RetryPolicy
) -> tuple[str, list[Attempt]]:
    """Download ``fspec`` to ``target`` from the first URL that works; return it and the failures before it."""
    part = Part(target)
    failed: list[Attempt] = []
    for url in urls:
        try:
            _try_source(url, fspec, part, tx, policy)
            return url, failed
        except AttemptFailed as exc:
            failed.append(Attempt(url, exc.reason, exc.integrity))
            tx.emit("error", item=fspec.name, url=url, reason=exc.reason)
            log.info("%s: %s", url, exc.reason)
    raise _all_failed(fspec, failed)


def _all_failed(fspec: FileSpec, failed: list[Attempt]) -> IntegrityError | SourceUnreachableError:
    n = len(failed)
    listing = "; ".join(f"{a.url}: {a.reason}" for a in failed)
    msg = f"{fspec.name}: tried {n} source{'s' if n != 1 else ''}: {listing}"
    if any(a.integrity for a in failed):
        return IntegrityError(
            msg + f"; a source served wrong bytes: fix or drop it, or pass a local copy with {param('from_file')}"
        )
    return SourceUnreachableError(msg + f"; pass {param('mirrors')} or a copy of the file with {param('from_file')}")


def normalize_mirror(prefix: str) -> str:
    """A mirror prefix as a URL: http(s):// and file:// as given, an existing folder as file://."""
    scheme = urlsplit(prefix).scheme.lower()
    if scheme in ("http", "https") and urlsplit(prefix).netloc:
        return prefix.rstrip("/")
    if scheme == "file":
        return prefix.rstrip("/")
    if not scheme and Path(prefix).is_dir():
        return Path(prefix).resolve().as_uri()
    raise UsageError(f"{param('mirrors')} {prefix!r}: expected an http(s):// or file:// URL prefix, or an existing folder")


def source_urls(fspec: FileSpec, mirrors: Sequence[str]) -> list[str]:
    """The file's own URLs, then each mirror prefix + ``/NAME``, without duplicates."""
    urls = list(fspec.urls)
    for m in mirrors:
        url = f"{normalize_mirror(m)}/{fspec.name}"
        if url not in urls:
            urls.append(url)
    return urls


def match_local_copies(spec: ModelSpec, paths: Sequence[str | Path]) -> dict[str, Path]:
    """Map each local copy to the model file it is, by size and sha256.

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
            raise InputError(f"{param('from_file')} {path}: {exc.strerror or exc}; pass the path of a copy of the file") from None
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
                    f"{param('from_file')} {path}: not the {candidates[0].name} of {spec.path.name}: {why}; nothing was imported"
                )
            raise IntegrityError(
                f"{param('from_file')} {path}: matches no file of {spec.path.name} ({size:,} bytes, sha256 {got}); nothing was imported"
            )
    return found


def import_local_copy(src: Path, fspec: FileSpec, target: Path) -> None:
    """Copy ``src`` to ``target`` through a ``.part``, hashing in the same pass; verify before the rename."""
    part = Part(target)
    part.discard()
    with open(src, "rb") as f, open(part.path, "wb") as out:
        h, n = copy_hashing(f, out)
    try:
        verify_and_finish(part, fspec, h, n, resumed=False)
    except AttemptFailed as exc:
        raise IntegrityError(f"{param('from_file')} {src}: {exc.reason} (it changed while being copied?)") from None

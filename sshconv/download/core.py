"""Fetch the files of model.yml by checksum, from many sources, surviving bad networks.

The entry point is :func:`download_model`. For each file of the model it takes the
first of these that works:

1. a local copy (``from_file``) whose size and sha256 match (always imported when given);
2. the file already in the output folder, verified by size and sha256;
3. the content-addressed cache (``CACHE/sha256/<hex>``), verified, hard-linked or copied;
4. the network: the file's ``source``, then its ``sources``, then each mirror prefix
   + ``/NAME``, in that order (``offline`` stops before this step).

The pieces: :mod:`.transfer` (one attempt, resumable), :mod:`.sources` (retries, mirrors,
local copies), :mod:`.cache` and :mod:`sshconv.locking`, :mod:`.postprocess` (unpacking with
:mod:`.archive`, ``regex_replace``, the record of a finished run).

Failures are typed: if every source failed and at least one of them served wrong bytes
(a size or sha256 mismatch) the error is :class:`IntegrityError` (exit 4), because a
source serving wrong content must not be mistaken for a network hiccup; if every failure
was a network failure (connection, timeout, HTTP status) it is
:class:`SourceUnreachableError` (exit 3). The message lists every source tried.

The library never prints: progress goes to ``on_event`` in the shape of
:mod:`sshconv.events` (``stage`` ``download``; ``start``, ``progress`` in bytes, ``retry``,
``error``, ``done`` per file; ``postprocess`` per step).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import SourceUnreachableError, UsageError, param
from ..events import Emitter, EventHandler
from ..fsutil import ensure_dir, no_space_left
from ..locking import file_lock
from ..model.spec import FileSpec, ModelSpec
from ..places import default_cache_dir, default_output_dir
from .cache import Cache, file_matches, link_or_copy
from .postprocess import PostprocResult, download_record_ok, read_download_record, run_postprocessing, write_download_record
from .settings import (
    BACKOFF_BASE,
    BACKOFF_MAX,
    DEFAULT_RETRIES,
    DEFAULT_TIMEOUT,
    LOCK_NAME,
    LOCK_TIMEOUT,
    MANIFEST,
    RETRY_AFTER_MAX,
)
from .sources import (
    Attempt,
    RetryPolicy,
    fetch_from_sources,
    import_local_copy,
    match_local_copies,
    normalize_mirror,
    source_urls,
)
from .transfer import Transfer, new_session


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
        raise UsageError(f"{param('retries')} must be >= 0 and {param('timeout')} > 0, got retries={retries}, timeout={timeout}")
    output_dir = ensure_dir(Path(output_dir) if output_dir is not None else default_output_dir())
    cache = Cache(Path(cache_dir) if cache_dir is not None else default_cache_dir())
    ensure_dir(cache.root, "cache folder")
    mirrors = [normalize_mirror(m) for m in mirrors]
    paths = [from_file] if isinstance(from_file, (str, Path)) else list(from_file or ())
    local = match_local_copies(spec, paths)
    emit = Emitter("download", on_event)
    policy = RetryPolicy(retries, backoff_base, backoff_max, retry_after_max)

    with file_lock(output_dir / LOCK_NAME, lock_timeout, what=f"output folder {output_dir}"):
        manifest = read_download_record(output_dir)
        if not local and download_record_ok(output_dir, spec, manifest):
            files = tuple(_existing(output_dir, f, emit) for f in spec.files)
            return DownloadResult(output_dir, cache.root, files, up_to_date=True)
        with contextlib.suppress(FileNotFoundError):
            (output_dir / MANIFEST).unlink()
        tx = Transfer(session=None, timeout=timeout, emit=emit)
        try:
            files = tuple(
                _obtain(f, output_dir, cache, local.get(f.name), mirrors, offline, tx, policy, lock_timeout) for f in spec.files
            )
        finally:
            if tx.session is not None:
                tx.session.close()
        post = run_postprocessing(spec, output_dir, emit)
        outputs = [f.name for f in spec.files] + [o for p in post for o in p.outputs]
        write_download_record(output_dir, spec, outputs)
    return DownloadResult(output_dir, cache.root, files, tuple(post))


def _existing(output_dir: Path, fspec: FileSpec, emit: Emitter) -> FileResult:
    path = output_dir / fspec.name
    emit("done", item=fspec.name, source="existing", path=str(path), bytes_transferred=0, from_cache=False)
    return FileResult(fspec.name, path, fspec.size, fspec.sha256, "existing")


def _obtain(
    fspec: FileSpec, output_dir: Path, cache: Cache, local: Path | None, mirrors: Sequence[str],
    offline: bool, tx: Transfer, policy: RetryPolicy, lock_timeout: float,
) -> FileResult:  # fmt: skip
    """Get one file into ``output_dir``: a local copy, already there, cache, then the network."""
    target = output_dir / fspec.name
    ensure_dir(target.parent)

    def done(source: str, transferred: int = 0, from_cache: bool = False, failed: Sequence[Attempt] = ()) -> FileResult:
        tx.emit("done", item=fspec.name, source=source, path=str(target), bytes_transferred=transferred, from_cache=from_cache)
        return FileResult(fspec.name, target, fspec.size, fspec.sha256, source, transferred, from_cache, tuple(failed))

    with cache.lock(fspec.sha256, lock_timeout), no_space_left(output_dir):
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
                f"{fspec.name}: not in the cache ({cache.root}) and {param('offline')} forbids the network; "
                f"run once without {param('offline')}, or pass a local copy with {param('from_file')}"
            )
        urls = source_urls(fspec, mirrors)
        if not urls:
            raise SourceUnreachableError(
                f"{fspec.name}: not in the cache and model.yml lists no source; pass {param('mirrors')} or {param('from_file')}"
            )
        if tx.session is None:
            tx.session = new_session()
        before = tx.transferred
        url, failed = fetch_from_sources(urls, fspec, target, tx, policy)
        cache.store(target, fspec)
        return done(url, tx.transferred - before, failed=failed)
